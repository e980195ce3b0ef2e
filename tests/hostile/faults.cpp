// SPDX-License-Identifier: MIT
// Faults of the real programs (docs/security.md): a netfront killed with SIGKILL mid-stream
// (netback frees its vif: descriptors and shared-memory mappings counted in /proc; the others
// carry on; the same netfront is served again), and netback killed under its netfronts (they
// notice, report it and exit with status 1).

#include "counts.hpp"
#include "e2e_util.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

using namespace xnv::test;

namespace {

const std::string mac1 = "02:00:00:00:01:01";
const std::string mac2 = "02:00:00:00:01:02";
const std::string mac3 = "02:00:00:00:01:03";
const std::string nobody = "02:00:00:00:01:99"; // no vif has it: flooded, counted not_mine

std::size_t open_fds(pid_t pid)
{
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
        ++n;
    return n;
}

// Mappings of memfds (a netfront's shared region shows as "/memfd:...").
std::size_t memfd_mappings(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);)
        n += line.find("/memfd:") != std::string::npos ? 1 : 0;
    return n;
}

template <class Pred>
bool within(std::chrono::seconds limit, Pred p)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!p()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

constexpr auto wait_long = std::chrono::seconds(60);

} // namespace

TEST_CASE("kill -9 of a netfront: netback frees its vif, serves the others, and serves it again")
{
    temp_dir dir;
    netback_process nb(dir, "nb");
    const pid_t nbp = nb.proc().pid();
    const std::string secs = sanitized ? "4" : "2";
    netfront_process a(dir, nb, "a", {"--mac", mac1, "--peer-mac", mac2, "--rate", "5000", "--seconds", secs});
    netfront_process b(dir, nb, "b", {"--mac", mac2, "--peer-mac", mac1, "--rate", "5000", "--seconds", secs});
    REQUIRE(within(std::chrono::seconds(20), [&] { return memfd_mappings(nbp) == 2; }));
    const std::size_t fds_two = open_fds(nbp);
    {
        netfront_process h(dir, nb, "h", {"--mac", mac3, "--peer-mac", nobody, "--rate", "5000", "--no-wait-peer"});
        REQUIRE(within(std::chrono::seconds(20), [&] { return memfd_mappings(nbp) == 3; }));
        CHECK(open_fds(nbp) > fds_two);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        h.proc().kill_now();
    }
    // Its mapping and every descriptor it brought (socket, memfd, eventfds) are gone.
    CHECK(within(std::chrono::seconds(20), [&] { return memfd_mappings(nbp) == 2 && open_fds(nbp) == fds_two; }));
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

TEST_CASE("kill -9 of netback: its netfronts notice, report it and exit with status 1")
{
    temp_dir dir;
    netback_process nb(dir, "nb");
    netfront_process a(dir, nb, "a", {"--mac", mac1, "--peer-mac", mac2, "--rate", "5000"});
    netfront_process b(dir, nb, "b", {"--mac", mac2, "--peer-mac", mac1, "--rate", "5000"});
    REQUIRE(within(std::chrono::seconds(20), [&] { return memfd_mappings(nb.proc().pid()) == 2; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    nb.proc().kill_now();
    for (netfront_process* f : {&a, &b}) {
        const json j = f->finish(std::chrono::seconds(20), 1);
        CHECK(j["failed"].b() == true);
        CHECK_FALSE(j["stop_reason"].s().empty());
        CHECK_FALSE(f->proc().err().empty());
    }
}
