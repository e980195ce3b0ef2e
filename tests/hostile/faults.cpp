// SPDX-License-Identifier: MIT
// Faults of the real programs (docs/security.md): a netfront killed with SIGKILL mid-stream
// (netback frees its vif: descriptors and shared-memory mappings counted in /proc; the others
// carry on; the same netfront is served again); netback killed under its netfronts (without
// --reconnect they notice, report it and exit with status 1; with it they tear their vifs
// down, reconnect to the netback that takes over the socket and carry traffic again, or give
// up with a clear error when none comes back in time).

#include "counts.hpp"
#include "e2e_util.hpp"
#include "program_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>

using namespace xnv::test;

namespace {

const std::string mac1 = "02:00:00:00:01:01";
const std::string mac2 = "02:00:00:00:01:02";
const std::string mac3 = "02:00:00:00:01:03";
const std::string mac4 = "02:00:00:00:01:04";
const std::string nobody = "02:00:00:00:01:99"; // no vif has it: flooded, counted not_mine

const json& vif_with_mac(const json& nb, const std::string& mac)
{
    for (std::size_t i = 0; i < nb["vifs"].size(); ++i)
        if (nb["vifs"][i]["mac"].s() == mac)
            return nb["vifs"][i];
    FAIL("no vif with MAC " << mac);
    return nb;
}

// netback's own memory: VmRSS less the netfronts' shared regions it maps (RssShmem).
long own_kib(pid_t pid) { return vm_rss_kib(pid) - proc_status_kib(pid, "RssShmem"); }

constexpr auto wait_long = std::chrono::seconds(60);
constexpr auto wait_20 = std::chrono::seconds(20);

} // namespace

TEST_CASE("kill -9 of a netfront: netback frees its vif, serves the others, and serves it again")
{
    temp_dir dir;
    netback_process nb(dir, "nb");
    const pid_t nbp = nb.proc().pid();
    const std::string secs = sanitized ? "4" : "2";
    netfront_process a(dir, nb, "a", {"--mac", mac1, "--peer-mac", mac2, "--rate", "5000", "--seconds", secs});
    netfront_process b(dir, nb, "b", {"--mac", mac2, "--peer-mac", mac1, "--rate", "5000", "--seconds", secs});
    REQUIRE(within(wait_20, [&] { return memfd_mappings(nbp) == 2; }));
    const std::size_t fds_two = open_fds(nbp);
    {
        netfront_process h(dir, nb, "h", {"--mac", mac3, "--peer-mac", nobody, "--rate", "5000", "--no-wait-peer"});
        REQUIRE(within(wait_20, [&] { return memfd_mappings(nbp) == 3; }));
        CHECK(open_fds(nbp) > fds_two);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        h.proc().kill_now();
    }
    // Its mapping and every descriptor it brought (socket, memfd, eventfds) are gone.
    CHECK(within(wait_20, [&] { return memfd_mappings(nbp) == 2 && open_fds(nbp) == fds_two; }));
    CHECK(memfd_mappings(nbp) == 2);
    CHECK(open_fds(nbp) == fds_two);
    // The same netfront (same MAC) connects again and is served.
    netfront_process h2(dir, nb, "h2", {"--mac", mac3, "--peer-mac", nobody, "--count", "200", "--no-wait-peer"});
    const json jh = h2.finish(wait_long);
    CHECK(jh["failed"].b() == false);
    CHECK(jh["tx_frames"].u() >= 200);
    CHECK(jh["tx_errors"].u() == 0);
    const json ja = a.finish(wait_long), jb = b.finish(wait_long);
    for (const json* j : {&ja, &jb}) {
        CHECK((*j)["failed"].b() == false);
        check_clean(*j);
        CHECK((*j)["received"].u() > 0);
    }
    const json jn = nb.stop();
    std::size_t hung_up = 0;
    for (std::size_t i = 0; i < jn["vifs"].size(); ++i)
        hung_up += jn["vifs"][i]["close_reason"].s().find("hung up") != std::string::npos ? 1 : 0;
    CHECK(hung_up == 1);
    CHECK(jn["totals"]["vifs_connected"].u() == 4);
}

TEST_CASE("kill -9 of netback without --reconnect: its netfronts notice, report it and exit with status 1")
{
    temp_dir dir;
    netback_process nb(dir, "nb");
    netfront_process a(dir, nb, "a", {"--mac", mac1, "--peer-mac", mac2, "--rate", "5000"});
    netfront_process b(dir, nb, "b", {"--mac", mac2, "--peer-mac", mac1, "--rate", "5000"});
    REQUIRE(within(wait_20, [&] { return memfd_mappings(nb.proc().pid()) == 2; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    nb.proc().kill_now();
    for (netfront_process* f : {&a, &b}) {
        const json j = f->finish(std::chrono::seconds(20), 1);
        CHECK(j["failed"].b() == true);
        CHECK(j["stop_reason"].s().find("netback") != std::string::npos);
        CHECK(j["reconnects"].u() == 0);
        CHECK_FALSE(f->proc().err().empty());
    }
}

TEST_CASE("kill -9 of netback with --reconnect: netfronts tear down, reconnect to its successor and carry traffic again")
{
    temp_dir dir;
    const std::string sock = unique_socket();
    auto nb1 = start_netback_at(dir, "nb1", sock);
    auto a = start_netfront_at(dir, "a", sock, {"--mac", mac1, "--peer-mac", mac2, "--rate", "2000", "--reconnect", "30"});
    auto b = start_netfront_at(dir, "b", sock, {"--mac", mac2, "--peer-mac", mac1, "--rate", "2000", "--reconnect", "30"});
    REQUIRE(within(wait_20, [&] { return status_received(a->out()) > 0 && status_received(b->out()) > 0; }));
    // Connected: one shared region mapped, and the socket, memfd and four eventfds open.
    const std::size_t fds_a = open_fds(a->pid()), fds_b = open_fds(b->pid());
    CHECK(memfd_mappings(a->pid()) == 1);
    CHECK(memfd_mappings(b->pid()) == 1);

    nb1->kill_now();
    // Both notice and report it; their vifs are gone: no mapping, fewer descriptors.
    REQUIRE(within(wait_20, [&] {
        return a->err().find("lost netback") != std::string::npos && b->err().find("lost netback") != std::string::npos;
    }));
    CHECK(memfd_mappings(a->pid()) == 0);
    CHECK(memfd_mappings(b->pid()) == 0);
    CHECK(open_fds(a->pid()) < fds_a);
    CHECK(open_fds(b->pid()) < fds_b);
    CHECK(a->running());
    std::this_thread::sleep_for(std::chrono::milliseconds(300)); // a few failed attempts meanwhile
    const std::uint64_t before_a = status_received(a->out()), before_b = status_received(b->out());

    // A new netback on the same socket: both reconnect and their sinks count new frames.
    auto nb2 = start_netback_at(dir, "nb2", sock);
    REQUIRE(within(wait_20, [&] {
        return a->err().find("reconnected to") != std::string::npos && b->err().find("reconnected to") != std::string::npos;
    }));
    CHECK(within(wait_20, [&] {
        return status_received(a->out()) > before_a + 200 && status_received(b->out()) > before_b + 200;
    }));
    // One region again and exactly the descriptors the first vif had: nothing leaked.
    CHECK(within(wait_20, [&] { return open_fds(a->pid()) == fds_a && open_fds(b->pid()) == fds_b; }));
    CHECK(memfd_mappings(a->pid()) == 1);
    CHECK(memfd_mappings(b->pid()) == 1);

    for (auto* f : {&a, &b}) {
        (*f)->signal(SIGTERM);
        INFO("xnv-netfront stderr: " << (*f)->err());
        REQUIRE((*f)->wait(wait_20) == 0);
        CHECK(count_of((*f)->err(), "lost netback") == 1);
    }
    for (const char* name : {"a", "b"}) {
        const json j = read_json(dir.file(std::string(name) + ".json"));
        CHECK(j["failed"].b() == false);
        CHECK(j["netback_losses"].u() == 1);
        CHECK(j["reconnects"].u() == 1);
        CHECK(j["tx_errors"].u() == 0);
        CHECK(j["corrupted"].u() == 0);
        CHECK(j["truncated"].u() == 0);
        CHECK(j["duplicated"].u() == 0);
        CHECK(j["received"].u() > 200);
    }
    nb2->signal(SIGTERM);
    REQUIRE(nb2->wait(wait_20) == 0);
    const json jn = read_json(dir.file("nb2.json"));
    CHECK(jn["totals"]["vifs_connected"].u() == 2);
    REQUIRE(jn["vifs"].size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
        CHECK(jn["vifs"][i]["total"]["tx_packets"].u() > 0);
        CHECK(jn["vifs"][i]["total"]["drops"]["tx_malformed"].u() == 0);
    }
}

TEST_CASE("--reconnect: netback not back in time is a clear error and status 1")
{
    temp_dir dir;
    const std::string sock = unique_socket();
    auto nb = start_netback_at(dir, "nb", sock);
    auto a = start_netfront_at(dir, "a", sock,
                               {"--quiet", "--mac", mac1, "--peer-mac", nobody, "--no-wait-peer", "--rate", "1000",
                                "--reconnect", "1"});
    REQUIRE(within(wait_20, [&] { return memfd_mappings(nb->pid()) == 1; }));
    nb->kill_now();
    const int st = a->wait(wait_20);
    INFO("xnv-netfront stderr: " << a->err());
    CHECK(st == 1);
    CHECK(a->err().find("error: netback did not come back within 1 s") != std::string::npos);
    const json j = read_json(dir.file("a.json"));
    CHECK(j["failed"].b() == true);
    CHECK(j["stop_reason"].s().find("did not come back within 1 s") != std::string::npos);
    CHECK(j["netback_losses"].u() == 1);
    CHECK(j["reconnects"].u() == 0);
}

TEST_CASE("--reconnect: a netback that comes back with fewer queues cannot resume the vif")
{
    temp_dir dir;
    const std::string sock = unique_socket();
    auto nb1 = start_netback_at(dir, "nb1", sock, {"--max-queues", "2"});
    auto a = start_netfront_at(dir, "a", sock,
                               {"--quiet", "--mac", mac1, "--peer-mac", nobody, "--no-wait-peer", "--rate", "1000",
                                "--queues", "2", "--reconnect", "20"});
    REQUIRE(within(wait_20, [&] { return memfd_mappings(nb1->pid()) == 1; }));
    nb1->kill_now();
    REQUIRE(within(wait_20, [&] { return a->err().find("lost netback") != std::string::npos; }));
    auto nb2 = start_netback_at(dir, "nb2", sock, {"--max-queues", "1"});
    const int st = a->wait(wait_20);
    INFO("xnv-netfront stderr: " << a->err());
    CHECK(st == 1);
    const json j = read_json(dir.file("a.json"));
    CHECK(j["failed"].b() == true);
    CHECK(j["stop_reason"].s().find("netback came back with different parameters (1 queue(s)") != std::string::npos);
    CHECK(j["reconnects"].u() == 0);
    nb2->signal(SIGTERM);
    CHECK(nb2->wait(wait_20) == 0);
}

TEST_CASE("SIGSTOP of a netfront under load: bounded memory, drops counted as expired for it alone, the others keep full service")
{
    temp_dir dir;
    const std::string sock = unique_socket();
    // The smallest backlog allowed and a short expiry, so both act within the test's time.
    auto nb = start_netback_at(dir, "nb", sock, {"--rx-queue-bytes", "262144", "--rx-expire-ms", "200"});
    const pid_t nbp = nb->pid();
    auto a = start_netfront_at(dir, "a", sock, {"--mac", mac1, "--peer-mac", mac2, "--rate", "2000"});
    auto b = start_netfront_at(dir, "b", sock, {"--mac", mac2, "--peer-mac", mac1, "--rate", "2000"});
    // s will stop reading; g keeps sending it full-size frames.
    auto s = start_netfront_at(dir, "s", sock, {"--mac", mac3, "--peer-mac", mac4, "--rate", "100", "--no-wait-peer"});
    auto g = start_netfront_at(dir, "g", sock, {"--mac", mac4, "--peer-mac", mac3, "--rate", "5000", "--no-wait-peer"});
    REQUIRE(within(wait_20, [&] {
        return status_received(a->out()) > 0 && status_received(b->out()) > 0 && status_received(s->out()) > 0 &&
               status_received(g->out()) > 0;
    }));
    std::this_thread::sleep_for(std::chrono::milliseconds(500)); // warm-up: every vif's memory touched
    const long own_before = own_kib(nbp);

    s->signal(SIGSTOP);
    // Stopped long enough for its RX ring to fill, its backlog to reach the cap and expire.
    long own_peak = own_before;
    for (int i = 0; i < 15; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        own_peak = std::max(own_peak, own_kib(nbp));
    }
    const std::uint64_t ra = status_received(a->out()), rb = status_received(b->out());
    // The pair keeps flowing while s stays stopped.
    CHECK(within(wait_20, [&] {
        own_peak = std::max(own_peak, own_kib(nbp));
        return status_received(a->out()) > ra + 1000 && status_received(b->out()) > rb + 1000;
    }));
    // netback allocates nothing per frame: a stopped consumer costs it at most its capped
    // backlog (allocated when the vif connected). ThreadSanitizer's shadow of the shared pages
    // touched meanwhile is allowed for, as in tests/netback/test_memory.cpp.
    const long regions_kib = 4 * 2121728 / 1024;
    MESSAGE("netback own memory: before SIGSTOP " << own_before << " KiB, peak while stopped " << own_peak << " KiB");
    CHECK(own_peak - own_before <= 1024 + (thread_sanitized ? 4 * regions_kib : 0));

    // Resumed, s is served again.
    const std::uint64_t rs = status_received(s->out());
    s->signal(SIGCONT);
    CHECK(within(wait_20, [&] { return status_received(s->out()) > rs + 100; }));

    for (auto* f : {&a, &b, &s, &g}) {
        (*f)->signal(SIGTERM);
        INFO("xnv-netfront stderr: " << (*f)->err());
        REQUIRE((*f)->wait(wait_20) == 0);
    }
    for (const char* name : {"a", "b"}) {
        const json j = read_json(dir.file(std::string(name) + ".json"));
        CHECK(j["lost"].u() == 0);
        CHECK(j["corrupted"].u() == 0);
        CHECK(j["rx_drops"].u() == 0);
        CHECK(j["tx_errors"].u() == 0);
    }
    nb->signal(SIGTERM);
    REQUIRE(nb->wait(wait_20) == 0);
    const json jn = read_json(dir.file("nb.json"));
    auto drop = [](const json& v, const char* why) { return v["total"]["drops"][why].u(); };
    const json& vs = vif_with_mac(jn, mac3);
    CHECK(drop(vs, "rx_expired") > 0); // what waited too long for s's RX buffers
    CHECK(drop(vs, "rx_too_large") == 0);
    CHECK(drop(vs, "tx_malformed") == 0);
    CHECK(vs["close_reason"].s() == "netfront closed the connection"); // stopped is not a violation
    for (const std::string& m : {mac1, mac2, mac4}) {
        const json& v = vif_with_mac(jn, m);
        CHECK(drop(v, "rx_expired") == 0);
        CHECK(drop(v, "rx_too_large") == 0);
        CHECK(drop(v, "tx_malformed") == 0);
        CHECK(v["close_reason"].s() == "netfront closed the connection");
    }
}

TEST_CASE("--reconnect: a value out of range is refused naming it, and --help describes it")
{
    temp_dir dir;
    for (const char* bad : {"86401", "-1", "soon"}) {
        const run_result r = run_program(dir, {netfront_bin, "--reconnect", bad});
        INFO("--reconnect " << bad << ": " << r.err);
        CHECK(r.status == 2);
        CHECK(r.err.find("--reconnect expects an integer in 0..86400") != std::string::npos);
    }
    const run_result h = run_program(dir, {netfront_bin, "--help"});
    CHECK(h.status == 0);
    CHECK(h.out.find("--reconnect") != std::string::npos);
}
