// SPDX-License-Identifier: MIT
#include "l2switch.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using xnv::example::mac_addr;
using xnv::example::mac_table;

namespace {
mac_addr station(std::uint8_t n) { return mac_addr{{0x02, 0, 0, 0, 0, n}}; }
} // namespace

TEST_CASE("switch: unknown unicast floods, then learned destination is forwarded")
{
    mac_table t(64, 10s);
    auto d = t.forward(station(1), station(2), 0, 0s);
    CHECK(d.flooded());
    d = t.forward(station(2), station(1), 1, 1s);
    CHECK(d.port == 0u);
    d = t.forward(station(1), station(2), 0, 2s);
    CHECK(d.port == 1u);
    CHECK(t.counters().unicast == 2);
    CHECK(t.counters().flooded == 1);
}

TEST_CASE("switch: broadcast and multicast always flood and group sources are never learned")
{
    mac_table t(64, 10s);
    CHECK(t.forward(station(1), xnv::example::broadcast_mac, 0, 0s).flooded());
    const mac_addr mcast{{0x01, 0x00, 0x5e, 0, 0, 1}};
    CHECK(t.forward(station(1), mcast, 0, 0s).flooded());
    t.forward(mcast, station(1), 3, 0s);
    CHECK_FALSE(t.lookup(mcast, 0s).has_value());
}

TEST_CASE("switch: entries age out after the ageing time and their slot is reused")
{
    mac_table t(16, 5s);
    t.learn(station(1), 4, 0s);
    CHECK(t.lookup(station(1), 5s) == 4u);
    CHECK_FALSE(t.lookup(station(1), 5s + 1ns).has_value());
    CHECK(t.forward(station(9), station(1), 0, 6s).flooded());
    CHECK(t.size(6s) == 1);
}

TEST_CASE("switch: a station moving to another port is followed")
{
    mac_table t(64, 10s);
    t.learn(station(1), 0, 0s);
    t.learn(station(1), 2, 1s);
    CHECK(t.lookup(station(1), 1s) == 2u);
    CHECK(t.counters().moved == 1);
}

TEST_CASE("switch: a torn-down port is forgotten")
{
    mac_table t(64, 10s);
    t.learn(station(1), 0, 0s);
    t.learn(station(2), 1, 0s);
    t.forget_port(0);
    CHECK_FALSE(t.lookup(station(1), 0s).has_value());
    CHECK(t.lookup(station(2), 0s) == 1u);
}

TEST_CASE("switch: a flood of random source MACs is bounded: learning is refused, not slow")
{
    mac_table t(16, 100s);
    for (unsigned i = 0; i < 1000; ++i)
        t.learn(mac_addr{{0x02, 1, 2, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i), 7}}, 0, 0s);
    CHECK(t.size(0s) <= t.capacity());
    CHECK(t.counters().table_full > 0);
    CHECK(t.counters().learned + t.counters().table_full == 1000);
}

TEST_CASE("switch: hairpin frames (destination on the ingress port) are reported as such")
{
    mac_table t(64, 10s);
    t.learn(station(2), 0, 0s);
    const auto d = t.forward(station(1), station(2), 0, 0s);
    CHECK(d.port == 0u);
    CHECK(t.counters().hairpin == 1);
}

TEST_CASE("switch: a zero ageing time is rejected with a clear error")
{
    CHECK_THROWS_WITH_AS(mac_table(16, 0s), doctest::Contains("ageing time"), std::invalid_argument);
}
