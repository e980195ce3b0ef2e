// SPDX-License-Identifier: MIT
// Deterministic coalescing-policy tests: synthetic traces on a virtual clock through a real
// ring, a coalescer and a NAPI poller; each asserts when notifications were sent and when
// every item reached the consumer. The expected values are worked out in the comments.

#include "trace_driver.hpp"

#include <xnv/notify/adaptive.hpp>
#include <xnv/notify/policy.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <vector>

using namespace std::chrono_literals;
using namespace xnv::notify;
using xnv_test::burst;
using xnv_test::trace_driver;
using xnv_test::trace_options;
using xnv::nanos;

namespace {

constexpr nanos us(long v) { return std::chrono::microseconds(v); }

std::vector<nanos> times(std::initializer_list<long> micros)
{
    std::vector<nanos> v;
    for (long m : micros)
        v.push_back(us(m));
    return v;
}

// Items at 0, 100 and 200 us, then one every microsecond from 300 to 319 us.
std::vector<burst> step_trace()
{
    return xnv_test::concat(xnv_test::periodic(us(0), us(100), 3), xnv_test::periodic(us(300), us(1), 20));
}

// Delivery times of the step trace's 23 items for a consumer woken `latency` after a
// notification and re-armed one ahead (always / event_idx): the lone items wait only for the
// wake-up; in the fast phase each wake-up at 305, 311, 317 and 323 takes everything published
// up to then, and the next item crosses the new event index.
std::vector<nanos> step_deliveries_immediate()
{
    std::vector<nanos> d = times({5, 105, 205});
    for (long t = 300; t < 320; ++t)
        d.push_back(us(t <= 305 ? 305 : t <= 311 ? 311 : t <= 317 ? 317 : 323));
    return d;
}

constexpr trace_options latency5{.wake_latency = std::chrono::microseconds(5)};

} // namespace

TEST_CASE("always: one notification per publication; deliveries after the wake-up latency")
{
    trace_driver d(always{}, latency5);
    d.run(step_trace(), us(1000));
    std::vector<nanos> expected = times({0, 100, 200});
    for (long t = 300; t < 320; ++t)
        expected.push_back(us(t));
    CHECK(d.notifications() == expected);
    CHECK(d.delivered() == step_deliveries_immediate());
    const auto c = d.counters();
    CHECK(c.sent == 23);
    CHECK(c.suppressed == 0);
    CHECK(c.wakeups == 7);
    CHECK(c.spurious == 0);
}

TEST_CASE("event_idx: only publications that cross the consumer's event index notify")
{
    trace_driver d(event_idx{}, latency5);
    d.run(step_trace(), us(1000));
    CHECK(d.notifications() == times({0, 100, 200, 300, 306, 312, 318}));
    CHECK(d.delivered() == step_deliveries_immediate());
    const auto c = d.counters();
    CHECK(c.sent == 7);
    CHECK(c.suppressed == 16);
    CHECK(c.average_batch() == doctest::Approx(23.0 / 7.0));
}

TEST_CASE("frames_usecs: notify after N items or T after the first, whichever first")
{
    // Lone items wait the 3 us timer. In the fast phase: 300 crosses, 303 is the 4th item
    // (frames fire at the publication, before the timer due at the same instant); the consumer
    // wakes at 308 and takes 300..308; 309 crosses, 312 is the 4th; 318 crosses and only 319
    // follows, so the timer fires at 321.
    trace_driver d(frames_usecs({.frames = 4, .usecs = 3us}), latency5);
    d.run(step_trace(), us(1000));
    CHECK(d.notifications() == times({3, 103, 203, 303, 312, 321}));
    std::vector<nanos> expected = times({8, 108, 208});
    for (long t = 300; t < 320; ++t)
        expected.push_back(us(t <= 308 ? 308 : t <= 317 ? 317 : 326));
    CHECK(d.delivered() == expected);
}

TEST_CASE("frames_usecs with frames = 1, usecs = 0 is exactly event_idx")
{
    trace_driver a(frames_usecs({.frames = 1, .usecs = 0us}), latency5);
    trace_driver b(event_idx{}, latency5);
    a.run(step_trace(), us(1000));
    b.run(step_trace(), us(1000));
    CHECK(a.notifications() == b.notifications());
    CHECK(a.delivered() == b.delivered());
}

TEST_CASE("delayed_rearm: re-armed a batch ahead, the consumer's timeout picks up lone items")
{
    // The consumer arms at 0 with the event index 4 ahead and a 50 us deadline, so the lone
    // items are picked up by its timer polls (at 50, then at 100 and 200 where the item is
    // published just before the poll). From 300: the item at 300 is taken by the poll at 300,
    // 304 is the 4th item after it and crosses; the consumer wakes at 309, re-arms 4 ahead;
    // 313 crosses, wake at 318; 319 alone waits for the deadline 318 + 50.
    trace_driver d(delayed_rearm(fixed_batch{4}, 50us), latency5);
    d.run(step_trace(), us(400));
    CHECK(d.notifications() == times({304, 313}));
    std::vector<nanos> expected = times({50, 100, 200});
    for (long t = 300; t < 320; ++t)
        expected.push_back(us(t == 300 ? 300 : t <= 309 ? 309 : t <= 318 ? 318 : 368));
    CHECK(d.delivered() == expected);
    CHECK(d.counters().spurious == 0);
}

TEST_CASE("adaptive starts at its first profile: without a full sample it behaves as event_idx")
{
    trace_driver a(adaptive{}, latency5);
    trace_driver b(event_idx{}, latency5);
    a.run(step_trace(), us(1000));
    b.run(step_trace(), us(1000));
    CHECK(a.notifications() == b.notifications());
    CHECK(a.delivered() == b.delivered());
    CHECK(a.producer_policy().samples() == 0);
}

TEST_CASE("a lone item is delivered within each policy's timeout")
{
    const std::vector<burst> lone{{us(10), 1}};
    SUBCASE("always")
    {
        trace_driver d(always{}, latency5);
        d.run(lone, us(1000));
        CHECK(d.notifications() == times({10}));
        CHECK(d.delivered() == times({15}));
    }
    SUBCASE("event_idx")
    {
        trace_driver d(event_idx{}, latency5);
        d.run(lone, us(1000));
        CHECK(d.notifications() == times({10}));
        CHECK(d.delivered() == times({15}));
    }
    SUBCASE("frames_usecs: held for usecs")
    {
        trace_driver d(frames_usecs({.frames = 32, .usecs = 50us}), latency5);
        d.run(lone, us(1000));
        CHECK(d.notifications() == times({60}));
        CHECK(d.delivered() == times({65}));
    }
    SUBCASE("delayed_rearm with a fixed batch: no notification, the 100 us timer poll takes it")
    {
        trace_driver d(delayed_rearm(fixed_batch{32}, 100us), latency5);
        d.run(lone, us(1000));
        CHECK(d.notifications().empty());
        CHECK(d.delivered() == times({100}));
    }
    SUBCASE("delayed_rearm by outstanding fraction: nothing outstanding on a back end, so one ahead")
    {
        trace_driver d(delayed_rearm(outstanding_fraction{3, 4}, 100us), latency5);
        d.run(lone, us(1000));
        CHECK(d.notifications() == times({10}));
        CHECK(d.delivered() == times({15}));
    }
    SUBCASE("adaptive")
    {
        trace_driver d(adaptive{}, latency5);
        d.run(lone, us(1000));
        CHECK(d.notifications() == times({10}));
        CHECK(d.delivered() == times({15}));
    }
}

TEST_CASE("bursts larger than the budget: one notification each, NAPI polls them in two rounds")
{
    const auto trace = xnv_test::periodic(us(0), us(1000), 3, 100);
    auto check = [&](auto policy, const std::vector<nanos>& expected) {
        trace_driver d(policy, latency5);
        d.run(trace, us(3000));
        CHECK(d.notifications() == expected);
        std::vector<nanos> delivered;
        for (long b = 0; b < 3; ++b)
            delivered.insert(delivered.end(), 100, us(b * 1000 + 5));
        CHECK(d.delivered() == delivered);
        const auto c = d.counters();
        CHECK(c.items == 300);
        CHECK(c.delivered == 300);
        CHECK(c.spurious == 0);
    };
    check(always{}, times({0, 1000, 2000}));
    check(event_idx{}, times({0, 1000, 2000}));
    check(frames_usecs({.frames = 32, .usecs = 50us}), times({0, 1000, 2000}));
    check(delayed_rearm(fixed_batch{32}, 500us), times({0, 1000, 2000}));
    check(adaptive{}, times({0, 1000, 2000}));
}

TEST_CASE("square wave at the frames threshold: 3-item bursts wait for the timer, 4-item bursts do not")
{
    std::vector<burst> wave;
    for (long i = 0; i < 6; ++i)
        wave.push_back({us(50 * i), i % 2 == 0 ? 3u : 4u});
    trace_driver d(frames_usecs({.frames = 4, .usecs = 10us}), latency5);
    d.run(wave, us(1000));
    CHECK(d.notifications() == times({10, 50, 110, 150, 210, 250}));
    std::vector<nanos> expected;
    for (long i = 0; i < 6; ++i)
        expected.insert(expected.end(), i % 2 == 0 ? 3 : 4, us(i % 2 == 0 ? 50 * i + 15 : 50 * i + 5));
    CHECK(d.delivered() == expected);

    trace_driver e(event_idx{}, latency5);
    e.run(wave, us(1000));
    CHECK(e.notifications() == times({0, 50, 100, 150, 200, 250}));
}

TEST_CASE("ramp of burst sizes 1..10, 20 us apart")
{
    std::vector<burst> ramp;
    for (std::uint32_t k = 1; k <= 10; ++k)
        ramp.push_back({us(20 * (k - 1)), k});
    auto deliveries = [](std::initializer_list<long> per_burst) {
        std::vector<nanos> v;
        std::uint32_t k = 1;
        for (long t : per_burst)
            v.insert(v.end(), k++, us(t));
        return v;
    };
    SUBCASE("event_idx: every burst finds the consumer asleep")
    {
        trace_driver d(event_idx{}, latency5);
        d.run(ramp, us(1000));
        CHECK(d.notifications() == times({0, 20, 40, 60, 80, 100, 120, 140, 160, 180}));
        CHECK(d.delivered() == deliveries({5, 25, 45, 65, 85, 105, 125, 145, 165, 185}));
    }
    SUBCASE("frames_usecs 4/10us: bursts below 4 items wait 10 us")
    {
        trace_driver d(frames_usecs({.frames = 4, .usecs = 10us}), latency5);
        d.run(ramp, us(1000));
        CHECK(d.notifications() == times({10, 30, 50, 60, 80, 100, 120, 140, 160, 180}));
        CHECK(d.delivered() == deliveries({15, 35, 55, 65, 85, 105, 125, 145, 165, 185}));
    }
    SUBCASE("delayed_rearm 4/15us: small bursts ride the consumer's timer, big ones notify")
    {
        // Deadlines every 15 us after each poll. Bursts of >= 4 items cross the event index;
        // when the crossing coincides with the deadline (60, 100, 140, 180) the consumer wakes
        // at once and finds the notification pending.
        trace_driver d(delayed_rearm(fixed_batch{4}, 15us), latency5);
        d.run(ramp, us(200));
        CHECK(d.notifications() == times({60, 80, 100, 120, 140, 160, 180}));
        CHECK(d.delivered() == deliveries({15, 30, 45, 60, 85, 100, 125, 140, 165, 180}));
        CHECK(d.counters().spurious == 0);
    }
}

namespace {
struct make_always {
    static always make() { return {}; }
};
struct make_event_idx {
    static event_idx make() { return {}; }
};
struct make_frames_usecs {
    static frames_usecs make() { return frames_usecs({.frames = 4, .usecs = 3us}); }
};
struct make_delayed_rearm {
    static delayed_rearm make() { return delayed_rearm(fixed_batch{4}, 50us); }
};
struct make_adaptive {
    static adaptive make() { return adaptive{}; }
};
} // namespace

TEST_CASE_TEMPLATE("indices wrapping across 2^32 change nothing", M, make_always, make_event_idx, make_frames_usecs,
                   make_delayed_rearm, make_adaptive)
{
    trace_options wrapped = latency5;
    wrapped.start_index = 0xFFFF'FFF8u; // wraps after the 8th item, in the middle of the fast phase
    trace_driver a(M::make(), latency5);
    trace_driver b(M::make(), wrapped);
    a.run(step_trace(), us(400));
    b.run(step_trace(), us(400));
    CHECK(a.notifications() == b.notifications());
    CHECK(a.delivered() == b.delivered());
    CHECK(b.counters().delivered == 23);
    // The consumer's event index really went past the wrap.
    CHECK(b.consumer_event_index() < 0x100u);
}
