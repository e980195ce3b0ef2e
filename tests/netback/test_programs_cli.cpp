// SPDX-License-Identifier: MIT
// xnv-netback and xnv-netfront on the command line: --help, and one clear error (exit status 2
// for a bad argument, 1 for a failure at run time) for every mistake the programs catch.

#include "e2e_util.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace xnv::test;

namespace {

struct bad_case {
    std::vector<std::string> args;
    std::string message;
};

void check_rejected(const std::string& bin, const bad_case& c)
{
    temp_dir dir;
    std::vector<std::string> argv{bin};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    const run_result r = run_program(dir, argv);
    std::string joined;
    for (const auto& a : c.args)
        joined += a + " ";
    CAPTURE(joined);
    CAPTURE(r.err);
    CHECK(r.status == 2);
    CHECK(r.err.find(c.message) != std::string::npos);
    CHECK(r.out.empty());
}

} // namespace

TEST_CASE("xnv-netback --help lists every option and exits 0")
{
    temp_dir dir;
    const run_result r = run_program(dir, {netback_bin, "--help"});
    CHECK(r.status == 0);
    CHECK(r.out.find("usage: xnv-netback") != std::string::npos);
    for (const char* opt : {"--socket", "--workers", "--cpus", "--dispatch", "--coalesce", "--max-queues", "--mtu",
                            "--coalesce-frames", "--coalesce-usecs", "--no-sg", "--no-gso", "--no-split-event-channels",
                            "--rx-queue-bytes", "--rx-expire-ms", "--max-vifs", "--budget", "--event-busy-poll-us",
                            "--worker-spin-us", "--kick-backoff-cap-us", "--mac-ageing-s", "--seconds", "--handshake-ms",
                            "--exit-when-idle", "--json", "--quiet", "--any-user", "--uplink-tap", "--uplink-netns",
                            "--uplink-mtu", "--uplink-mac"})
        CHECK_MESSAGE(r.out.find(opt) != std::string::npos, opt);
    CHECK(r.out.find("hysteresis") != std::string::npos); // choices and defaults are shown
}

TEST_CASE("xnv-netfront --help lists every option and exits 0")
{
    temp_dir dir;
    const run_result r = run_program(dir, {netfront_bin, "--help"});
    CHECK(r.status == 0);
    CHECK(r.out.find("usage: xnv-netfront") != std::string::npos);
    for (const char* opt : {"--socket", "--mac", "--peer-mac", "--queues", "--mtu", "--no-sg", "--no-gso", "--mode",
                            "--proto", "--size", "--size-min", "--size-max", "--size-dist", "--rate", "--count",
                            "--seconds", "--seed", "--coalesce", "--coalesce-frames", "--coalesce-usecs", "--no-lro",
                            "--no-split-event-channels", "--tap-name", "--tap-netns", "--tap-mtu", "--busy-poll-us",
                            "--no-wait-peer", "--linger-ms", "--expect", "--handshake-ms", "--reconnect", "--json",
                            "--quiet", "--verify"})
        CHECK_MESSAGE(r.out.find(opt) != std::string::npos, opt);
}

TEST_CASE("xnv-netback: every bad argument is refused with a message naming it")
{
    const std::vector<bad_case> cases{
        {{"--bogus"}, "unknown option '--bogus'"},
        {{"--workers", "0"}, "--workers expects an integer in 1..64, got '0'"},
        {{"--workers", "two"}, "--workers expects an integer in 1..64, got 'two'"},
        {{"--workers"}, "--workers needs a value"},
        {{"--dispatch", "fastest"}, "--dispatch must be one of all_on_first, least_loaded, round_robin, hysteresis"},
        {{"--coalesce", "sometimes"}, "--coalesce must be one of always, event_idx, adaptive, frames_usecs"},
        {{"--cpus", "0,x"}, "a CPU list is numbers separated by commas"},
        {{"--workers", "2", "--cpus", "0"}, "--cpus lists 1 CPUs for 2 workers"},
        {{"--rx-queue-bytes", "4096"}, "--rx-queue-bytes expects an integer in 262144.."},
        {{"--rx-expire-ms", "0"}, "--rx-expire-ms expects an integer in 1.."},
        {{"--mtu", "40"}, "--mtu expects an integer in 68..65521"},
        {{"--max-queues", "17"}, "--max-queues expects an integer in 1..16"},
        {{"--max-vifs", "0"}, "--max-vifs expects an integer in 1..1024"},
        {{"--budget", "0"}, "--budget expects an integer in 1..4096"},
        {{"--socket", ""}, "--socket expects a non-empty value"},
        {{"--quiet=yes"}, "--quiet takes no value"},
        {{"--workers", "1", "--cpus", "1023"}, "names CPU 1023, which this process may not run on"},
    };
    for (const auto& c : cases)
        check_rejected(netback_bin, c);
}

TEST_CASE("xnv-netfront: every bad argument is refused with a message naming it")
{
    const std::vector<bad_case> cases{
        {{"--bogus"}, "unknown option '--bogus'"},
        {{"--mac", "02:00:00:00:01"}, "--mac: a MAC address is six hex pairs"},
        {{"--mac", "03:00:00:00:00:01"}, "--mac must be a unicast address"},
        {{"--mac", "00:00:00:00:00:00"}, "--mac must be a unicast address"},
        {{"--peer-mac", "zz:00:00:00:00:01"}, "--peer-mac: a MAC address is six hex pairs"},
        {{"--size", "37"}, "frames of 37 bytes are too small: a raw test frame needs at least 38 bytes"},
        {{"--proto", "tcp", "--size", "77"}, "a tcp test frame needs at least 78 bytes"},
        {{"--size", "65536"}, "--size expects an integer in 1..65535"},
        {{"--size-min", "100"}, "--size-min and --size-max go together"},
        {{"--size-min", "200", "--size-max", "100"}, "--size-min (200) is above --size-max (100)"},
        {{"--size-min", "1", "--size-max", "100"}, "frames of 1 bytes are too small"},
        {{"--size-dist", "normal"}, "--size-dist must be one of uniform, log"},
        {{"--queues", "0"}, "--queues expects an integer in 1..16"},
        {{"--queues", "17"}, "--queues expects an integer in 1..16"},
        {{"--mtu", "50"}, "--mtu must be 0 (automatic) or 68..65521"},
        {{"--mode", "bridge"}, "--mode must be one of gen, sink, tap"},
        {{"--mode", "sink", "--count", "5"}, "--mode sink generates nothing"},
        {{"--tap-name", "xnv0"}, "--tap-name and --tap-netns apply only to --mode tap"},
        {{"--proto", "udp"}, "--proto must be one of raw, tcp"},
        {{"--coalesce", "never"}, "--coalesce must be one of always, event_idx, adaptive, frames_usecs"},
        {{"--rate", "-1"}, "--rate expects an integer"},
        {{"--count", "1e6"}, "--count expects an integer"},
    };
    for (const auto& c : cases)
        check_rejected(netfront_bin, c);
}

TEST_CASE("xnv-netfront: no netback listening is a run-time error naming the socket")
{
    temp_dir dir;
    const std::string sock = unique_socket();
    const run_result r = run_program(dir, {netfront_bin, "--socket", sock, "--count", "1"});
    CHECK(r.status == 1);
    CHECK(r.err.find(sock) != std::string::npos);
}

TEST_CASE("xnv-netback: a socket path it cannot create is a run-time error naming it")
{
    temp_dir dir;
    const std::string path = dir.file("missing-dir/netback.sock");
    const run_result r = run_program(dir, {netback_bin, "--socket", path, "--seconds", "1"});
    CHECK(r.status == 1);
    CHECK(r.err.find(path) != std::string::npos);
}

TEST_CASE("xnv-netfront: frames that do not fit what was negotiated are refused before any is sent")
{
    temp_dir dir;
    SUBCASE("raw frames above the MTU")
    {
        netback_process nb(dir, "nb");
        const run_result r = run_program(dir, {netfront_bin, "--socket", nb.socket(), "--mtu", "1500", "--size",
                                               "9000", "--count", "1"});
        CHECK(r.status == 2);
        CHECK(r.err.find("exceed the MTU (1500)") != std::string::npos);
    }
    SUBCASE("frames above a page without feature-sg")
    {
        netback_process nb(dir, "nb", {"--no-sg"});
        const run_result r = run_program(dir, {netfront_bin, "--socket", nb.socket(), "--size", "5000", "--count", "1"});
        CHECK(r.status == 2);
        CHECK(r.err.find("need feature-sg") != std::string::npos);
    }
    SUBCASE("TCP frames above the MTU without GSO")
    {
        netback_process nb(dir, "nb", {"--no-gso"});
        const run_result r = run_program(dir, {netfront_bin, "--socket", nb.socket(), "--proto", "tcp", "--mtu",
                                               "1500", "--size", "9000", "--count", "1"});
        CHECK(r.status == 2);
        CHECK(r.err.find("need GSO") != std::string::npos);
    }
}
