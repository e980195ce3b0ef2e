// SPDX-License-Identifier: MIT
#include <xnv/sim/traffic.hpp>

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace xnv::sim;
using xnv::nanos;

namespace {
std::vector<arrival> all_until(synthetic_source& src, nanos until)
{
    std::vector<arrival> out;
    arrival a;
    while (src.next(a) && a.time < until)
        out.push_back(a);
    return out;
}

std::string rejection(const source_spec& s)
{
    try {
        synthetic_source src(s, 0, 1);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "accepted";
}
} // namespace

TEST_CASE("traffic: a paced constant rate spaces packets exactly (1500 B at 1 Gb/s: 12 us)")
{
    synthetic_source src({"c", shapes::constant{rate::gbps(1)}, packet_sizes::fixed(1500)}, 3, 1);
    const auto got = all_until(src, 1ms);
    REQUIRE(got.size() == 83);
    for (std::size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].time == nanos(12'000 * static_cast<std::int64_t>(i + 1)));
        CHECK(got[i].bytes == 1500);
        CHECK(got[i].packets == 1);
        CHECK(got[i].source == 3);
    }
}

TEST_CASE("traffic: a source is silent outside its [start, stop) window")
{
    source_spec s{"w", shapes::constant{rate::gbps(1)}, packet_sizes::fixed(1500)};
    s.start = 100us;
    s.stop = 200us;
    synthetic_source src(s, 0, 1);
    const auto got = all_until(src, 1s);
    REQUIRE(!got.empty());
    CHECK(got.front().time == 112us);
    CHECK(got.back().time < 200us);
    CHECK(got.size() == 8); // 112, 124, ..., 196
    arrival a;
    CHECK_FALSE(src.next(a));
}

TEST_CASE("traffic: a step integrates across the change (the straddling packet gets both rates)")
{
    synthetic_source src({"s", shapes::step{rate::mbps(100), rate::gbps(1), 1ms}, packet_sizes::fixed(1500)}, 0, 1);
    const auto got = all_until(src, 1040us);
    REQUIRE(got.size() == 8 + 3);
    CHECK(got[7].time == 960us); // 100 Mb/s: every 120 us
    // 4000 of its 12000 bits arrive at 100 Mb/s by 1 ms, the other 8000 at 1 Gb/s.
    CHECK(got[8].time == 1008us);
    CHECK(got[9].time == 1020us);
    CHECK(got[10].time == 1032us);
}

TEST_CASE("traffic: a ramp climbs in equal stairs, then holds")
{
    synthetic_source src({"r", shapes::ramp{rate::mbps(100), rate::gbps(1), 1ms, 2ms, 4}, packet_sizes::fixed(1500)},
                         0, 1);
    const auto got = all_until(src, 3ms);
    // Stairs at 325, 550, 775, 1000 Mb/s: gaps never grow while climbing, and 12 us at the top.
    for (std::size_t i = 2; i < got.size(); ++i)
        if (got[i].time > 1ms)
            CHECK(got[i].time - got[i - 1].time <= got[i - 1].time - got[i - 2].time + 1ns);
    CHECK(got.back().time - got[got.size() - 2].time == 12us);
    std::size_t in_first_stair = 0;
    for (const auto& a : got)
        in_first_stair += (a.time > 1ms && a.time <= 1250us) ? 1 : 0;
    // 325 Mb/s for 250 us: 81250 bits, six or seven 1500-byte packets.
    CHECK(in_first_stair >= 6);
    CHECK(in_first_stair <= 7);
}

TEST_CASE("traffic: a square wave with a silent low level sends only in its high phases")
{
    const shapes::square_wave w{rate::bps(0), rate::gbps(1), 100us, 30us, 0ns};
    synthetic_source src({"q", w, packet_sizes::fixed(1500)}, 0, 1);
    const auto got = all_until(src, 1ms);
    for (const auto& a : got) {
        const auto phase = a.time % 100us;
        CHECK(phase <= 30us);
    }
    // 30 us at 1 Gb/s carries two whole 12 us packets per period (the remainder carries over).
    CHECK(got.size() >= 20);
    CHECK(got.size() <= 25);
}

TEST_CASE("traffic: bursts are back-to-back packets at line rate, one burst per interval")
{
    synthetic_source src({"b", shapes::bursts{4, 100us, rate::gbps(10), 0ns}, packet_sizes::fixed(1500)}, 0, 1);
    const auto got = all_until(src, 300us);
    REQUIRE(got.size() == 12);
    for (std::size_t burst = 0; burst < 3; ++burst)
        for (std::size_t i = 0; i < 4; ++i)
            CHECK(got[burst * 4 + i].time ==
                  nanos(static_cast<std::int64_t>(burst * 100'000 + (i + 1) * 1200)));
}

TEST_CASE("traffic: Poisson arrivals keep the mean rate")
{
    synthetic_source src({"p", shapes::constant{rate::gbps(1)}, packet_sizes::fixed(1500), arrivals::poisson}, 0, 7);
    const auto got = all_until(src, 1s);
    CHECK(static_cast<double>(got.size()) == doctest::Approx(1e9 / 12000).epsilon(0.015));
    bool uneven = false;
    for (std::size_t i = 2; i < got.size() && !uneven; ++i)
        uneven = got[i].time - got[i - 1].time != got[i - 1].time - got[i - 2].time;
    CHECK(uneven);
}

TEST_CASE("traffic: uniform packet sizes stay in range and average to the middle")
{
    synthetic_source src({"u", shapes::constant{rate::gbps(1)}, packet_sizes::uniform(64, 1500)}, 0, 3);
    const auto got = all_until(src, 100ms);
    double sum = 0;
    for (const auto& a : got) {
        CHECK(a.bytes >= 64);
        CHECK(a.bytes <= 1500);
        sum += static_cast<double>(a.bytes);
    }
    CHECK(sum / static_cast<double>(got.size()) == doctest::Approx(782).epsilon(0.02));
}

TEST_CASE("traffic: the same seed and index give the same arrivals; each source has its own stream")
{
    const source_spec s{"p", shapes::constant{rate::mbps(300)}, packet_sizes::uniform(64, 9000), arrivals::poisson};
    synthetic_source a(s, 2, 99), b(s, 2, 99), other(s, 3, 99);
    const auto x = all_until(a, 10ms), y = all_until(b, 10ms), z = all_until(other, 10ms);
    CHECK(x == y);
    REQUIRE(!x.empty());
    CHECK(x.front().time != z.front().time);
}

TEST_CASE("traffic: mice and an elephant")
{
    const auto srcs = make_sources(mice_and_elephant{.mice = 5});
    REQUIRE(srcs.size() == 6);
    CHECK(srcs[0].name == "elephant");
    CHECK(srcs[5].name == "mouse-4");
    CHECK(srcs[1].process == arrivals::poisson);
    CHECK(std::get<shapes::constant>(srcs[0].shape).level == rate::gbps(1));
}

TEST_CASE("traffic: bad source specs are rejected with the source's name and the reason")
{
    const auto base = [] { return source_spec{"bad", shapes::constant{rate::gbps(1)}}; };
    auto s = base();
    s.size = {0, 10};
    CHECK(rejection(s) == "xnv::sim: source 'bad': packet size must be at least 1 byte");
    s = base();
    s.size = {10, 70000};
    CHECK(rejection(s) == "xnv::sim: source 'bad': packet size must be at most 65535 bytes");
    s = base();
    s.size = {100, 10};
    CHECK(rejection(s) == "xnv::sim: source 'bad': packet size minimum exceeds its maximum");
    s = base();
    s.start = -1ns;
    CHECK(rejection(s) == "xnv::sim: source 'bad': start must not be negative");
    s = base();
    s.start = 5ms;
    s.stop = 5ms;
    CHECK(rejection(s) == "xnv::sim: source 'bad': stop must be after start");
    s = base();
    s.shape = shapes::ramp{rate::gbps(1), rate::gbps(2), 2ms, 1ms};
    CHECK(rejection(s) == "xnv::sim: source 'bad': ramp end must be after its start");
    s.shape = shapes::ramp{rate::gbps(1), rate::gbps(2), 1ms, 2ms, 0};
    CHECK(rejection(s) == "xnv::sim: source 'bad': ramp needs at least one step");
    s.shape = shapes::square_wave{rate::gbps(1), rate::gbps(2), 0ns, 0ns};
    CHECK(rejection(s) == "xnv::sim: source 'bad': square wave period must be positive");
    s.shape = shapes::square_wave{rate::gbps(1), rate::gbps(2), 10us, 11us};
    CHECK(rejection(s) == "xnv::sim: source 'bad': square wave high time must be within its period");
    s.shape = shapes::square_wave{rate::gbps(1), rate::gbps(2), 10us, 5us, -1ns};
    CHECK(rejection(s) == "xnv::sim: source 'bad': square wave phase must not be negative");
    s.shape = shapes::bursts{0, 10us, rate::gbps(10)};
    CHECK(rejection(s) == "xnv::sim: source 'bad': bursts need at least one packet each");
    s.shape = shapes::bursts{4, 0ns, rate::gbps(10)};
    CHECK(rejection(s) == "xnv::sim: source 'bad': burst interval must be positive");
    s.shape = shapes::bursts{4, 10us, rate::bps(0)};
    CHECK(rejection(s) == "xnv::sim: source 'bad': burst line rate must be positive");
    s.shape = shapes::bursts{4, 10us, rate::gbps(1), -5ns};
    CHECK(rejection(s) == "xnv::sim: source 'bad': burst phase must not be negative");
}

TEST_CASE("traffic: a source whose rate is zero for good sends nothing")
{
    synthetic_source silent({"z", shapes::constant{rate::bps(0)}}, 0, 1);
    arrival a;
    CHECK_FALSE(silent.next(a));
    synthetic_source stops({"s", shapes::step{rate::gbps(1), rate::bps(0), 50us}, packet_sizes::fixed(1500)}, 0, 1);
    const auto got = all_until(stops, 1s);
    CHECK(got.size() == 4); // 12, 24, 36, 48 us
}
