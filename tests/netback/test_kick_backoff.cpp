// SPDX-License-Identifier: MIT
// netback's spurious-kick back-off (docs/netback.md, "Event path"): a frontend that kicks its
// event channel in a loop without publishing anything gets that channel ignored for growing
// delays (counted as spurious_kicks and backoff_engaged), while the other vifs keep their
// service; once it publishes real work it is served again. Bad back-off settings are refused.

#include "counts.hpp"
#include "engine_harness.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>

#include <unistd.h>

using namespace xnv::example;
using namespace xnv::test;

namespace {

constexpr mac_bytes mac_a{0x02, 0, 0, 0, 0, 0x1a};
constexpr mac_bytes mac_b{0x02, 0, 0, 0, 0, 0x1b};
constexpr mac_bytes mac_s{0x02, 0, 0, 0, 0, 0x1c};

nb_queue_stats stats_of(netback_engine& nb, std::uint32_t id)
{
    for (const nb_vif_stats& v : nb.snapshot().vifs)
        if (v.id == id)
            return v.total();
    return {};
}

// Kick `fd` (an eventfd) `n` times as fast as possible, publishing nothing.
void storm(int fd, std::uint64_t n)
{
    const std::uint64_t one = 1;
    for (std::uint64_t i = 0; i < n; ++i)
        REQUIRE(::write(fd, &one, sizeof one) == static_cast<ssize_t>(sizeof one));
}

// Frames of 60 to 1514 bytes, uniformly.
constexpr front_options frames_to_1514{.size_max = 1514, .dist = size_dist::uniform};

} // namespace

TEST_CASE("kick back-off: a frontend kicking with nothing published is backed off; the other vifs keep service")
{
    const std::uint64_t n = xnv::test::scaled_count("XNV_TEST_BACKOFF_FRAMES", 20000, 2000, 1000);
    netback_engine nb(small_config());
    test_front a(mac_a, mac_b, n, frames_to_1514);
    test_front b(mac_b, mac_a, n, frames_to_1514);
    // The stormer's queue thread never runs: nothing it kicks for is ever published.
    test_front s(mac_s, mac_a, 1, frames_to_1514);
    const auto ida = nb.add_vif(connection_of(*a.vif), "a");
    const auto idb = nb.add_vif(connection_of(*b.vif), "b");
    const auto ids = nb.add_vif(connection_of(*s.vif), "storm");
    const int tx_kick = s.vif->plan().queues[0].event_fds[0];
    const int rx_kick = s.vif->plan().queues[0].event_fds[2];
    a.vif->start();
    b.vif->start();
    std::atomic<bool> stop{false};
    std::uint64_t kicks_sent = 0;
    std::thread stormer([&] {
        while (!stop.load(std::memory_order_relaxed)) {
            storm(tx_kick, 64);
            storm(rx_kick, 64);
            kicks_sent += 128;
            std::this_thread::yield();
        }
    });
    const bool served = eventually(nb, [&] { return a.received() >= n && b.received() >= n; });
    stop.store(true, std::memory_order_relaxed);
    stormer.join();
    REQUIRE(served);
    a.vif->stop();
    b.vif->stop();
    CHECK(a.sink().lost == 0);
    CHECK(b.sink().lost == 0);
    CHECK(a.sink().corrupted == 0);

    const nb_queue_stats st = stats_of(nb, ids);
    MESSAGE("storm: " << kicks_sent << " kicks written, " << st.kicks << " taken, " << st.spurious_kicks
                      << " spurious, back-off engaged " << st.backoff_engaged << " times");
    CHECK(st.spurious_kicks > 0);
    CHECK(st.backoff_engaged > 0);
    CHECK(st.tx_packets == 0);
    // Honest vifs' kicks all announced real work (at most a stray race each way).
    const nb_queue_stats sa = stats_of(nb, ida);
    const nb_queue_stats sb = stats_of(nb, idb);
    CHECK(sa.backoff_engaged == 0);
    CHECK(sb.backoff_engaged == 0);
    CHECK(sa.rx_packets >= n);
    CHECK(sb.rx_packets >= n);
}

TEST_CASE("kick back-off: a backed-off frontend that publishes real work is served again")
{
    netback_engine nb(small_config());
    test_front a(mac_a, mac_s, 1, frames_to_1514);
    test_front s(mac_s, mac_a, 200, frames_to_1514);
    const auto ida = nb.add_vif(connection_of(*a.vif), "a");
    const auto ids = nb.add_vif(connection_of(*s.vif), "storm");
    const int tx_kick = s.vif->plan().queues[0].event_fds[0];
    a.vif->start();
    // Kick until the back-off has engaged a few times (each engagement parks the channel for
    // a delay of at most the cap, 10 ms by default).
    REQUIRE(eventually(nb, [&] {
        storm(tx_kick, 16);
        return stats_of(nb, ids).backoff_engaged >= 3;
    }));
    s.vif->start(); // publishes its 200 frames and kicks: real work
    REQUIRE(eventually(nb, [&] { return a.received() >= 200; }));
    s.vif->stop();
    a.vif->stop();
    CHECK(a.sink().lost == 0);
    CHECK(stats_of(nb, ids).tx_packets >= 200);
    CHECK(stats_of(nb, ida).backoff_engaged == 0);
}

TEST_CASE("kick back-off: bad settings are refused with a clear message")
{
    SUBCASE("a zero initial delay")
    {
        netback_config c = small_config();
        c.kick_backoff.initial = std::chrono::nanoseconds(0);
        CHECK_THROWS_WITH_AS(netback_engine{c}, doctest::Contains("initial delay must be positive"),
                             std::invalid_argument);
    }
    SUBCASE("a cap below the initial delay")
    {
        netback_config c = small_config();
        c.kick_backoff.initial = std::chrono::milliseconds(2);
        c.kick_backoff.cap = std::chrono::milliseconds(1);
        CHECK_THROWS_WITH_AS(netback_engine{c}, doctest::Contains("is below the initial delay"),
                             std::invalid_argument);
    }
    SUBCASE("a negative event busy-poll time")
    {
        netback_config c = small_config();
        c.event_busy_poll = std::chrono::microseconds(-1);
        CHECK_THROWS_WITH_AS(netback_engine{c}, doctest::Contains("busy-poll time must not be negative"),
                             std::invalid_argument);
    }
}
