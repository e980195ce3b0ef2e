// SPDX-License-Identifier: MIT
// The command line of xnv-sim (examples/sim): every bad argument gets a clear error.
#include "sim_cli.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <unistd.h>
#include <vector>

using namespace xnv::example::sim;
using xnv::example::cli_error;

namespace {
// Parses `args` (after the program name); returns the error message, or "ok".
std::string parse_error(std::initializer_list<const char*> args, options* out = nullptr)
{
    std::vector<const char*> argv{"xnv-sim"};
    argv.insert(argv.end(), args.begin(), args.end());
    options o;
    try {
        parse(static_cast<int>(argv.size()), argv.data(), o);
    } catch (const cli_error& e) {
        return e.what();
    }
    if (out)
        *out = o;
    return "ok";
}

struct temp_file {
    std::filesystem::path path;
    explicit temp_file(const std::string& text)
        : path(std::filesystem::temp_directory_path() / ("xnv-sim-cli-" + std::to_string(::getpid()) + ".csv"))
    {
        std::ofstream(path) << text;
    }
    ~temp_file() { std::filesystem::remove(path); }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;
};
} // namespace

TEST_CASE("xnv-sim cli: good arguments are parsed")
{
    options o;
    REQUIRE(parse_error({"--experiment", "paper", "--cpu-list", "2,4,32", "--coalescer=adaptive", "--load-mbps", "500",
                         "--seed", "9", "--min-improvement-pct", "5"},
                        &o) == "ok");
    CHECK(o.experiment == "paper");
    CHECK(o.cpu_list == std::vector<std::uint32_t>{2, 4, 32});
    CHECK(o.coalescer == "adaptive");
    CHECK(o.load_mbps == 500);
    CHECK(o.seed == 9);
    CHECK(o.min_improvement_pct == 5);
}

TEST_CASE("xnv-sim cli: --help returns the help text")
{
    const char* argv[] = {"xnv-sim", "--help"};
    options o;
    std::string help;
    CHECK_FALSE(parse(2, argv, o, &help));
    CHECK(help.find("--experiment VALUE") != std::string::npos);
    CHECK(help.find("--cpu-list LIST") != std::string::npos);
}

TEST_CASE("xnv-sim cli: each bad argument is named in its error")
{
    CHECK(parse_error({"--bogus"}) == "unknown option '--bogus' (see --help)");
    CHECK(parse_error({"--cpus"}) == "--cpus needs a value");
    CHECK(parse_error({"--cpus", "0"}) == "--cpus expects an integer in 1..4096, got '0'");
    CHECK(parse_error({"--cpus", "four"}) == "--cpus expects an integer in 1..4096, got 'four'");
    CHECK(parse_error({"--load-mbps", "-5"}) == "--load-mbps expects an integer in 1..1000000, got '-5'");
    CHECK(parse_error({"--packet-bytes", "70000"}) == "--packet-bytes expects an integer in 1..65535, got '70000'");
    CHECK(parse_error({"--policy", "fastest"}) ==
          "--policy must be one of all_on_first, least_loaded_at_connect, round_robin, hysteresis, "
          "hysteresis_two_level, got 'fastest'");
    CHECK(parse_error({"--coalescer", "sometimes"}) ==
          "--coalescer must be one of always, event_idx, delayed_rearm, frames_usecs, adaptive, got 'sometimes'");
    CHECK(parse_error({"--experiment", ""}) == "--experiment expects a non-empty value");
    CHECK(parse_error({"--cpu-list", ""}) == "--cpu-list expects a comma-separated list of CPU counts, got ''");
    CHECK(parse_error({"--cpu-list", "4,,8"}) == "--cpu-list expects CPU counts in 1..4096, got ''");
    CHECK(parse_error({"--cpu-list", "4,0"}) == "--cpu-list expects CPU counts in 1..4096, got '0'");
    CHECK(parse_error({"--cpu-list", "4,x"}) == "--cpu-list expects CPU counts in 1..4096, got 'x'");
    CHECK(parse_error({"--min-improvement-pct", "100"}) == "--min-improvement-pct expects an integer in 0..99, got '100'");
}

TEST_CASE("xnv-sim cli: inconsistent combinations are rejected")
{
    CHECK(parse_error({"--duration-ms", "500", "--warmup-ms", "500"}) ==
          "--warmup-ms (500) must be less than --duration-ms (500)");
    CHECK(parse_error({"--trace", "t.csv", "--experiment", "sweep"}) ==
          "--trace replays one recorded run: it needs --experiment single");
    CHECK(parse_error({"--trace", "t.csv", "--sources", "3"}) ==
          "--sources does not apply to --trace (the trace names its sources)");
    CHECK(parse_error({"--shape", "bursts", "--arrivals", "poisson", "--experiment", "paper"}) ==
          "--shape bursts with --arrivals poisson is only offered for --experiment single");
}

TEST_CASE("xnv-sim cli: a malformed trace is reported with its line and reason")
{
    temp_file f("time_ns,source,bytes\n0,0,1500\n10,0,abc\n");
    options o;
    o.trace_file = f.path.string();
    CHECK_THROWS_WITH_AS(make_scenario(o, 4, 940),
                         ("trace " + o.trace_file + ": line 3: field 'bytes' is not an unsigned decimal integer: 'abc'")
                             .c_str(),
                         cli_error);
    temp_file empty("# nothing\n");
    o.trace_file = empty.path.string();
    CHECK_THROWS_WITH_AS(make_scenario(o, 4, 940), ("trace " + o.trace_file + ": no records").c_str(), cli_error);
    o.trace_file = "/nonexistent/xnv-sim.csv";
    CHECK_THROWS_WITH_AS(make_scenario(o, 4, 940),
                         "trace /nonexistent/xnv-sim.csv: cannot open trace file '/nonexistent/xnv-sim.csv'", cli_error);
}

TEST_CASE("xnv-sim cli: every shape builds valid sources at the requested peak")
{
    for (const char* shape : {"constant", "step", "ramp", "square", "bursts", "mice"}) {
        CAPTURE(shape);
        options o;
        o.shape = shape;
        const auto sc = make_scenario(o, 4, 940);
        CHECK(sc.sources.size() == 4);
        for (const auto& s : sc.sources)
            CHECK_NOTHROW(xnv::sim::validate(s));
    }
}

TEST_CASE("xnv-sim cli: a short run of each policy and coalescer delivers the offered load")
{
    for (const auto& policy : policy_names) {
        for (const auto& coalescer : coalescer_names) {
            CAPTURE(policy);
            CAPTURE(coalescer);
            options o;
            o.coalescer = coalescer;
            o.duration_ms = 20;
            o.warmup_ms = 5;
            o.load_mbps = 200;
            xnv::sim::simulator sim(make_scenario(o, 2, o.load_mbps));
            const auto r = run_policy(sim, o, policy);
            CHECK(r.throughput_bps() == doctest::Approx(r.offered_bps()).epsilon(0.05));
        }
    }
}
