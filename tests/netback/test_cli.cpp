// SPDX-License-Identifier: MIT
#include "cli.hpp"
#include "json.hpp"

#include <doctest/doctest.h>

#include <limits>

using xnv::example::cli;
using xnv::example::cli_error;

namespace {
struct opts {
    std::uint64_t workers = 2;
    std::string policy = "hysteresis";
    bool verbose = false;
};
cli make(opts& o)
{
    cli c("prog", "does things");
    c.integer("--workers", o.workers, 1, 64, "worker threads")
        .text("--policy", o.policy, {"all_on_first", "hysteresis"}, "dispatch policy")
        .flag("--verbose", o.verbose, "say more");
    return c;
}
bool run(cli& c, std::initializer_list<const char*> args)
{
    std::vector<const char*> v{"prog"};
    v.insert(v.end(), args);
    return c.parse(static_cast<int>(v.size()), v.data());
}
} // namespace

TEST_CASE("cli: values, inline values, flags and defaults")
{
    opts o;
    cli c = make(o);
    CHECK(run(c, {"--workers", "8", "--policy=all_on_first", "--verbose"}));
    CHECK(o.workers == 8);
    CHECK(o.policy == "all_on_first");
    CHECK(o.verbose);
    opts d;
    cli c2 = make(d);
    CHECK(run(c2, {}));
    CHECK(d.workers == 2);
}

TEST_CASE("cli: --help stops parsing and the text lists every option with its range and default")
{
    opts o;
    cli c = make(o);
    CHECK_FALSE(run(c, {"--help"}));
    const auto h = c.help();
    CHECK(h.find("--workers N") != std::string::npos);
    CHECK(h.find("1..64, default 2") != std::string::npos);
    CHECK(h.find("all_on_first hysteresis") != std::string::npos);
}

TEST_CASE("cli: every kind of mistake gets its own clear error")
{
    opts o;
    cli c = make(o);
    CHECK_THROWS_WITH_AS(run(c, {"--workers", "0"}), "--workers expects an integer in 1..64, got '0'", cli_error);
    CHECK_THROWS_WITH_AS(run(c, {"--workers", "65"}), doctest::Contains("1..64"), cli_error);
    CHECK_THROWS_WITH_AS(run(c, {"--workers", "2x"}), doctest::Contains("got '2x'"), cli_error);
    CHECK_THROWS_WITH_AS(run(c, {"--workers", "-1"}), doctest::Contains("got '-1'"), cli_error);
    CHECK_THROWS_WITH_AS(run(c, {"--workers"}), "--workers needs a value", cli_error);
    CHECK_THROWS_WITH_AS(run(c, {"--policy", "fastest"}),
                         "--policy must be one of all_on_first, hysteresis, got 'fastest'", cli_error);
    CHECK_THROWS_WITH_AS(run(c, {"--bogus"}), "unknown option '--bogus' (see --help)", cli_error);
    CHECK_THROWS_WITH_AS(run(c, {"--verbose=yes"}), "--verbose takes no value", cli_error);
    CHECK_THROWS_WITH_AS(run(c, {"--policy="}), "--policy expects a non-empty value", cli_error);
    CHECK(o.workers == 2); // nothing half-applied from a failed value
}

TEST_CASE("json: nested objects and arrays, escaping, non-finite numbers")
{
    xnv::example::json_writer w;
    w.begin_object()
        .field("name", "vif\"1\"\n")
        .field("pkts", std::uint64_t{12})
        .field("rate", 1.5)
        .field("bad", std::numeric_limits<double>::quiet_NaN())
        .field("ok", true)
        .key("workers")
        .begin_array()
        .value(1)
        .value(2)
        .begin_object()
        .field("busy", 0.25)
        .end_object()
        .end_array()
        .end_object();
    CHECK(w.str() ==
          R"({"name":"vif\"1\"\u000a","pkts":12,"rate":1.5,"bad":null,"ok":true,"workers":[1,2,{"busy":0.25}]})");
}
