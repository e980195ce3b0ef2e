// SPDX-License-Identifier: MIT
// xnv-netback with xnv-netfronts, as separate processes: switching between three vifs,
// flooding, multi-queue placement by the dispatcher, and connect/disconnect/reconnect cycles.
// Every run checks the sinks' verdicts: nothing lost, duplicated, reordered or corrupted.

#include "pair_util.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

using namespace xnv::test;

TEST_CASE("three vifs: the switch learns each MAC and delivers each stream to its destination only")
{
    temp_dir dir;
    const std::uint64_t count = scaled_count("XNV_TEST_E2E_FRAMES", 20000, 2000);
    netback_process nb(dir, "nb", {"--exit-when-idle"});
    const std::vector<std::string> common{"--count", n(count), "--expect", n(count), "--linger-ms", "20000",
                                          "--size-min", "60", "--size-max", "9000"};
    netfront_process a(dir, nb, "a", cat({"--mac", mac1, "--peer-mac", mac2}, common));
    netfront_process b(dir, nb, "b", cat({"--mac", mac2, "--peer-mac", mac3}, common));
    netfront_process c(dir, nb, "c", cat({"--mac", mac3, "--peer-mac", mac1}, common));
    const json ja = a.finish(wait_long), jb = b.finish(wait_long), jc = c.finish(wait_long);
    const json jn = nb.finish(wait_long);
    for (const json* j : {&ja, &jb, &jc}) {
        check_clean(*j);
        CHECK((*j)["received"].u() == count);
        REQUIRE((*j)["flows"].size() == 1);
    }
    CHECK(jb["flows"][0]["src"].s() == mac1);
    CHECK(jc["flows"][0]["src"].s() == mac2);
    CHECK(ja["flows"][0]["src"].s() == mac3);
    CHECK(jn["vifs"].size() == 3);
    CHECK(jn["switch"]["learned"].u() == 3);
    CHECK(jn["switch"]["unicast"].u() > 0);
}

TEST_CASE("broadcast: a frame to ff:ff:ff:ff:ff:ff reaches every other vif")
{
    temp_dir dir;
    const std::uint64_t count = scaled_count("XNV_TEST_E2E_FRAMES", 10000, 1000);
    netback_process nb(dir, "nb", {"--exit-when-idle"});
    netfront_process b(dir, nb, "b", {"--mac", mac2, "--mode", "sink", "--expect", n(count), "--linger-ms", "20000"});
    netfront_process c(dir, nb, "c", {"--mac", mac3, "--mode", "sink", "--expect", n(count), "--linger-ms", "20000"});
    // The sender starts once both sinks are connected: it has nothing to wait for otherwise.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while ((b.proc().err().find("connected") == std::string::npos ||
            c.proc().err().find("connected") == std::string::npos) &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    netfront_process a(dir, nb, "a", {"--mac", mac1, "--count", n(count), "--size", "256"});
    const json ja = a.finish(wait_long), jb = b.finish(wait_long), jc = c.finish(wait_long);
    (void)nb.finish(wait_long);
    CHECK(ja["sent"].u() == count);
    for (const json* j : {&jb, &jc}) {
        check_clean(*j);
        CHECK((*j)["received"].u() == count);
    }
}

TEST_CASE("dispatch: round_robin spreads a vif's queues over the workers, all_on_first keeps them on worker 0")
{
    temp_dir dir;
    const std::uint64_t count = scaled_count("XNV_TEST_E2E_FRAMES", 10000, 1000);
    SUBCASE("round_robin")
    {
        const pair_run r = run_pair(dir, {"--workers", "2", "--dispatch", "round_robin"}, {"--queues", "2"},
                                    {"--queues", "2"}, count);
        std::set<std::uint64_t> used;
        for (const char* m : {"02:00:00:00:00:01", "02:00:00:00:00:02"})
            for (std::size_t q = 0; q < 2; ++q)
                used.insert(vif_by_mac(r.nb, m)["per_queue"][q]["worker"].u());
        CHECK(used == std::set<std::uint64_t>{0, 1});
        CHECK(r.nb["config"]["dispatch"].s() == "round_robin");
    }
    SUBCASE("all_on_first")
    {
        const pair_run r = run_pair(dir, {"--workers", "2", "--dispatch", "all_on_first"}, {"--queues", "2"},
                                    {"--queues", "2"}, count);
        for (const char* m : {"02:00:00:00:00:01", "02:00:00:00:00:02"})
            for (std::size_t q = 0; q < 2; ++q)
                CHECK(vif_by_mac(r.nb, m)["per_queue"][q]["worker"].u() == 0);
        CHECK(r.nb["workers"][1]["items"].u() == 0);
    }
}

TEST_CASE("connect, disconnect, reconnect: netback serves pair after pair, also after one is killed")
{
    temp_dir dir;
    const std::uint64_t count = scaled_count("XNV_TEST_E2E_FRAMES", 5000, 500);
    const int cycles = sanitized ? 2 : 4;
    netback_process nb(dir, "nb");
    for (int i = 0; i < cycles; ++i) {
        CAPTURE(i);
        const std::string t = n(static_cast<std::uint64_t>(i));
        netfront_process a(dir, nb, "a" + t,
                           {"--mac", mac1, "--peer-mac", mac2, "--count", n(count), "--expect", n(count), "--queues",
                            n(static_cast<std::uint64_t>(1 + i % 2)), "--linger-ms", "20000"});
        netfront_process b(dir, nb, "b" + t,
                           {"--mac", mac2, "--peer-mac", mac1, "--count", n(count), "--expect", n(count),
                            "--linger-ms", "20000"});
        const json ja = a.finish(wait_long), jb = b.finish(wait_long);
        check_clean(ja);
        check_clean(jb);
        CHECK(ja["received"].u() == count);
        CHECK(jb["received"].u() == count);
    }
    {
        // One netfront dies mid-stream (SIGKILL): netback sees the hang-up and frees its vif.
        netfront_process a(dir, nb, "ak", {"--mac", mac1, "--peer-mac", mac2, "--rate", "20000"});
        netfront_process b(dir, nb, "bk", {"--mac", mac2, "--peer-mac", mac1, "--rate", "20000", "--seconds", "2"});
        std::this_thread::sleep_for(std::chrono::milliseconds(sanitized ? 1500 : 700));
        a.proc().kill_now();
        const json jb = b.finish(wait_long);
        CHECK(jb["failed"].b() == false);
        CHECK(jb["corrupted"].u() == 0);
    }
    {
        // And the next pair is served as before.
        netfront_process a(dir, nb, "a-after",
                           {"--mac", mac1, "--peer-mac", mac2, "--count", n(count), "--expect", n(count),
                            "--linger-ms", "20000"});
        netfront_process b(dir, nb, "b-after",
                           {"--mac", mac2, "--peer-mac", mac1, "--count", n(count), "--expect", n(count),
                            "--linger-ms", "20000"});
        const json ja = a.finish(wait_long), jb = b.finish(wait_long);
        check_clean(ja);
        check_clean(jb);
    }
    const json jn = nb.stop();
    const auto pairs = static_cast<std::uint64_t>(cycles + 2);
    CHECK(jn["totals"]["vifs_connected"].u() == 2 * pairs);
    CHECK(jn["vifs"].size() == 2 * pairs);
    std::size_t hung_up = 0, closed = 0;
    std::string reasons;
    for (std::size_t i = 0; i < jn["vifs"].size(); ++i)
        reasons += jn["vifs"][i]["close_reason"].s() + "; ";
    CAPTURE(reasons);
    for (std::size_t i = 0; i < jn["vifs"].size(); ++i) {
        const std::string why = jn["vifs"][i]["close_reason"].s();
        hung_up += why.find("hung up") != std::string::npos ? 1 : 0;
        closed += why == "netfront closed the connection" ? 1 : 0;
    }
    CHECK(hung_up == 1);
    CHECK(closed == 2 * pairs - 1);
}
