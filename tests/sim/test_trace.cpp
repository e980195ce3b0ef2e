// SPDX-License-Identifier: MIT
#include <xnv/sim/trace.hpp>

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace xnv::sim;

namespace {
trace_error rejected(std::string_view text)
{
    const auto r = parse_trace(text);
    REQUIRE_FALSE(r.ok());
    return r.error();
}
} // namespace

TEST_CASE("trace: a well-formed file with header, comments, blank lines and CRLF endings")
{
    const auto r = parse_trace("# recorded on a test bench\n"
                               "time_ns,source,bytes,packets\r\n"
                               "\n"
                               "0,0,1500\n"
                               "1200,2,9000,6\r\n"
                               "1200,0,64,1\n"
                               "# trailing comment");
    REQUIRE(r.ok());
    const auto& t = r.value();
    REQUIRE(t.arrivals().size() == 3);
    CHECK(t.sources() == 3);
    CHECK(t.arrivals()[0] == arrival{0ns, 0, 1500, 1});
    CHECK(t.arrivals()[1] == arrival{1200ns, 2, 9000, 6});
    CHECK(t.arrivals()[2] == arrival{1200ns, 0, 64, 1});
}

TEST_CASE("trace: an empty text is an empty trace")
{
    const auto r = parse_trace("");
    REQUIRE(r.ok());
    CHECK(r.value().empty());
    CHECK(r.value().sources() == 0);
}

TEST_CASE("trace: each malformed line is rejected with its number and the reason")
{
    struct bad_case {
        const char* text;
        std::size_t line;
        const char* reason;
    };
    const bad_case cases[] = {
        {"0,0\n", 1, "expected 3 or 4 comma-separated fields (time_ns,source,bytes[,packets]), found 2"},
        {"0\n", 1, "expected 3 or 4 comma-separated fields (time_ns,source,bytes[,packets]), found 1"},
        {"0,0,1,1,1\n", 1, "expected 3 or 4 comma-separated fields (time_ns,source,bytes[,packets]), found more"},
        {"# c\n0,0,100\n5,1,\n", 3, "field 'bytes' is empty"},
        {"0,0,100,\n", 1, "field 'packets' is empty"},
        {",0,100\n", 1, "field 'time_ns' is empty"},
        {"12a,0,100\n", 1, "field 'time_ns' is not an unsigned decimal integer: '12a'"},
        {"-5,0,100\n", 1, "field 'time_ns' is not an unsigned decimal integer: '-5'"},
        {"+5,0,100\n", 1, "field 'time_ns' is not an unsigned decimal integer: '+5'"},
        {"5, 0,100\n", 1, "field 'source' is not an unsigned decimal integer: ' 0'"},
        {"5,0,100 \n", 1, "field 'bytes' is not an unsigned decimal integer: '100 '"},
        {"5,0,1.5\n", 1, "field 'bytes' is not an unsigned decimal integer: '1.5'"},
        {"5,65536,100\n", 1, "field 'source' is out of range (at most 65535): '65536'"},
        {"5,0,4294967296\n", 1, "field 'bytes' is out of range (at most 4294967295): '4294967296'"},
        {"5,0,100,65536\n", 1, "field 'packets' is out of range (at most 65535): '65536'"},
        {"99999999999999999999,0,1\n", 1,
         "field 'time_ns' is out of range (at most 4611686018427387904): '99999999999999999999'"},
        {"5,0,0\n", 1, "bytes must be at least 1"},
        {"5,0,10,0\n", 1, "packets must be at least 1"},
        {"5,0,3,5\n", 1, "packets (5) exceed bytes (3): every packet carries at least one byte"},
        {"10,0,1\n\n9,0,1\n", 3, "time_ns goes backwards: 9 after 10"},
        {"0,0,1\ntime_ns,source,bytes\n", 2, "a header line is only allowed once, before the first record"},
        {"time_ns,source,bytes\ntime_ns,source,bytes\n", 2,
         "a header line is only allowed once, before the first record"},
        {"time,source,bytes\n", 1, "field 'time_ns' is not an unsigned decimal integer: 'time'"},
        {"0,0,1\r\r\n", 1, "field 'bytes' is not an unsigned decimal integer: '1\r'"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        const auto e = rejected(c.text);
        CHECK(e.line == c.line);
        CHECK(e.reason == c.reason);
        CHECK(e.message() == "line " + std::to_string(c.line) + ": " + c.reason);
    }
}

TEST_CASE("trace: a long bad field is quoted shortened")
{
    const std::string text = "0,0," + std::string(60, 'x') + "\n";
    CHECK(rejected(text).reason == "field 'bytes' is not an unsigned decimal integer: '" + std::string(40, 'x') + "...'");
}

TEST_CASE("trace: load_trace reads a file and reports one it cannot open")
{
    const auto dir = std::filesystem::temp_directory_path();
    const auto path = dir / ("xnv-sim-trace-" + std::to_string(::getpid()) + ".csv");
    {
        std::ofstream out(path);
        out << "time_ns,source,bytes\n100,1,1500\n";
    }
    const auto r = load_trace(path);
    std::filesystem::remove(path);
    REQUIRE(r.ok());
    CHECK(r.value().arrivals().size() == 1);
    CHECK(r.value().sources() == 2);

    const auto missing = load_trace(dir / "xnv-sim-no-such-trace.csv");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().line == 0);
    CHECK(missing.error().message().find("cannot open trace file") == 0);
}
