// SPDX-License-Identifier: MIT
// Every configuration value the notify layer rejects, with the error it gives.

#include <xnv/notify/adaptive.hpp>
#include <xnv/notify/backoff.hpp>
#include <xnv/notify/poller.hpp>
#include <xnv/notify/policy.hpp>
#include <xnv/ring/ring.hpp>

#include <doctest/doctest.h>

#include <array>
#include <chrono>

using namespace std::chrono_literals;
using namespace xnv::notify;
using doctest::Contains;

TEST_CASE("frames_usecs: both zero is rejected")
{
    CHECK_THROWS_WITH_AS(frames_usecs({.frames = 0, .usecs = 0us}), Contains("frames and usecs are both zero"),
                         std::invalid_argument);
}

TEST_CASE("frames_usecs: frames > 1 without usecs would strand items and is rejected")
{
    CHECK_THROWS_WITH_AS(frames_usecs({.frames = 16, .usecs = 0us}),
                         Contains("frames = 16 with usecs = 0 could strand up to 15 items"), std::invalid_argument);
}

TEST_CASE("frames_usecs: negative usecs are rejected")
{
    CHECK_THROWS_WITH_AS(frames_usecs({.frames = 1, .usecs = -5us}), Contains("usecs must not be negative, got -5"),
                         std::invalid_argument);
}

TEST_CASE("frames_usecs: the valid corners are accepted")
{
    CHECK_NOTHROW(frames_usecs({.frames = 1, .usecs = 0us}));
    CHECK_NOTHROW(frames_usecs({.frames = 0, .usecs = 10us}));
    CHECK_NOTHROW(frames_usecs({.frames = 64, .usecs = 10us}));
}

TEST_CASE("delayed_rearm: bad fractions, an empty batch and a non-positive timeout are rejected")
{
    CHECK_THROWS_WITH_AS(delayed_rearm(outstanding_fraction{3, 0}, 1ms), Contains("must be in (0, 1], got 3/0"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(delayed_rearm(outstanding_fraction{0, 4}, 1ms), Contains("got 0/4"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(delayed_rearm(outstanding_fraction{5, 4}, 1ms), Contains("got 5/4"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(delayed_rearm(fixed_batch{0}, 1ms), Contains("fixed batch must be at least 1"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(delayed_rearm(fixed_batch{8}, 0ms), Contains("timeout must be positive"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(delayed_rearm(outstanding_fraction{}, -1ms), Contains("timeout must be positive"),
                         std::invalid_argument);
}

TEST_CASE("adaptive: bad profile tables and settings are rejected")
{
    const std::array<dim_profile, 0> none{};
    CHECK_THROWS_WITH_AS(adaptive(adaptive_config{.profiles = none}), Contains("needs 1..8 profiles, got 0"),
                         std::invalid_argument);
    const std::array<dim_profile, 9> too_many{};
    CHECK_THROWS_WITH_AS(adaptive(adaptive_config{.profiles = too_many}), Contains("got 9"), std::invalid_argument);
    const std::array<dim_profile, 2> bad_profile{{{0us, 1}, {0us, 0}}};
    CHECK_THROWS_WITH_AS(adaptive(adaptive_config{.profiles = bad_profile}),
                         Contains("profile 1: frames and usecs are both zero"), std::invalid_argument);
    const std::array<dim_profile, 3> unordered{{{0us, 1}, {20us, 8}, {10us, 16}}};
    CHECK_THROWS_WITH_AS(adaptive(adaptive_config{.profiles = unordered}),
                         Contains("profile 2 has fewer usecs than profile 1"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(adaptive(adaptive_config{.start_profile = 5}),
                         Contains("start_profile 5 is outside the table of 5"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(adaptive(adaptive_config{.sample_events = 0}), Contains("sample_events must be at least 1"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(adaptive(adaptive_config{.dead_band_percent = 101}),
                         Contains("dead_band_percent must be 0..100, got 101"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(adaptive(adaptive_config{.max_steps = 0}), Contains("max_steps must be at least 1"),
                         std::invalid_argument);
}

TEST_CASE("spurious_backoff: a non-positive initial delay or a cap below it is rejected")
{
    CHECK_THROWS_WITH_AS(spurious_backoff({.initial = 0us}), Contains("initial delay must be positive"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(spurious_backoff({.initial = 100us, .cap = 50us}),
                         Contains("cap (50000 ns) is below the initial delay (100000 ns)"), std::invalid_argument);
}

TEST_CASE("napi_poller: a zero budget or bad back-off settings are rejected")
{
    struct e {
        std::uint32_t v;
    };
    alignas(64) std::array<std::byte, 256> mem{};
    xnv::back_ring<e, e> ring(xnv::ring_init, mem);
    channel_counters counters;
    using poller = napi_poller<xnv::back_ring<e, e>, event_idx>;
    CHECK_THROWS_WITH_AS(poller(ring, event_idx{}, counters, poller_config{.budget = 0}),
                         Contains("budget must be at least 1"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(poller(ring, event_idx{}, counters, poller_config{.backoff = {.initial = -1us}}),
                         Contains("initial delay must be positive"), std::invalid_argument);
}
