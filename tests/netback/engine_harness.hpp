// SPDX-License-Identifier: MIT
#pragma once

// What the in-process engine tests share (tests/netback/test_engine.cpp,
// test_kick_backoff.cpp, tests/hostile/): netback's engine fed by netfront engines in the same
// process, without the control socket: the test hands netback what the control channel would.

#include "netback_engine.hpp"
#include "netfront_engine.hpp"

#include <xnv/mem/region.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include <fcntl.h>

namespace xnv::test {

namespace ex = xnv::example;

inline mem::unique_fd dup_fd(int fd) { return mem::unique_fd(::fcntl(fd, F_DUPFD_CLOEXEC, 0)); }

/// Every feature on, split event channels, the largest MTU.
inline ex::control::negotiated params_for(const ex::mac_bytes& mac, std::uint32_t queues = 1)
{
    ex::control::negotiated p;
    p.sg = true;
    p.gso_tcpv4 = p.gso_tcpv6 = true;
    p.split_event_channels = true;
    p.queues = queues;
    p.mac = mac;
    p.mtu = ex::control::max_mtu;
    return p;
}

/// What netback's control session would hold for `v` once described: the region mapped after
/// the same checks, and duplicates of the event channel descriptors.
inline ex::control::back_connection connection_of(const ex::netfront_vif& v)
{
    ex::control::back_connection c;
    c.params = v.params();
    const ex::control::front_layout plan = v.plan();
    mem::map_options mo;
    mo.expected_bytes = plan.memory_bytes;
    mem::map_result m = mem::shared_region::try_map(dup_fd(plan.memory_fd), mo);
    REQUIRE(m.ok());
    c.region = std::move(m.region);
    for (const auto& qp : plan.queues) {
        ex::control::queue_setup s;
        s.tx_ring_offset = qp.tx_ring_offset;
        s.rx_ring_offset = qp.rx_ring_offset;
        s.tx_grants = qp.tx_grants;
        s.rx_grants = qp.rx_grants;
        s.event_channels = v.params().split_event_channels ? 2 : 1;
        for (std::size_t i = 0; i < std::size_t{s.event_channels} * 2; ++i)
            s.event_fds[i] = dup_fd(qp.event_fds[i]);
        c.queues.push_back(std::move(s));
    }
    return c;
}

struct front_options {
    /// Send only once a frame from the peer arrived (both sides connected).
    bool wait_peer = true;
    std::uint32_t queues = 1;
    /// Frames per second; 0: as fast as the ring takes them.
    std::uint64_t rate = 0;
    std::uint32_t size_min = 60;
    std::uint32_t size_max = 9000;
    /// Used when size_min < size_max.
    ex::size_dist dist = ex::size_dist::log_uniform;
};

/// A well-behaved netfront: the generator sends `count` test frames to `peer`, the sink checks
/// what arrives.
struct test_front {
    std::unique_ptr<ex::netfront_vif> vif;
    std::vector<ex::traffic_port*> ports;

    test_front(const ex::mac_bytes& mac, const ex::mac_bytes& peer, std::uint64_t count, front_options o = {})
    {
        ex::generator_config g;
        g.mac = mac;
        g.peer = peer;
        g.count = count;
        g.rate = o.rate;
        g.size_min = o.size_min;
        g.size_max = o.size_max;
        g.dist = o.size_min == o.size_max ? ex::size_dist::fixed : o.dist;
        if (o.wait_peer)
            g.peer_seen = std::make_shared<std::atomic<bool>>(false);
        std::vector<std::unique_ptr<ex::frame_port>> p;
        for (std::uint32_t q = 0; q < o.queues; ++q) {
            auto tp = std::make_unique<ex::traffic_port>(g, q, o.queues);
            ports.push_back(tp.get());
            p.push_back(std::move(tp));
        }
        vif = std::make_unique<ex::netfront_vif>(params_for(mac, o.queues), ex::netfront_config{}, std::move(p));
    }
    [[nodiscard]] std::uint64_t received() const
    {
        std::uint64_t n = 0;
        for (auto* p : ports)
            n += p->records_approx();
        return n;
    }
    /// The sinks' verdicts, summed over the queues.
    [[nodiscard]] ex::sink_stats sink() const
    {
        ex::sink_stats s;
        for (auto* p : ports) {
            const ex::sink_stats x = p->stats();
            s.frames += x.frames;
            s.records += x.records;
            s.bytes += x.bytes;
            s.corrupted += x.corrupted;
            s.truncated += x.truncated;
            s.not_mine += x.not_mine;
            s.other += x.other;
            s.untracked += x.untracked;
            s.lost += x.lost;
            s.duplicated += x.duplicated;
            s.reordered += x.reordered;
            s.stale += x.stale;
            s.lro_frames += x.lro_frames;
        }
        return s;
    }
};

/// The sinks' verdict of a clean run: exactly `expected` records, nothing lost, duplicated,
/// reordered, corrupted or truncated.
inline void check_sink_clean(const test_front& f, std::uint64_t expected)
{
    const ex::sink_stats s = f.sink();
    CHECK(s.records == expected);
    CHECK(s.lost == 0);
    CHECK(s.duplicated == 0);
    CHECK(s.reordered == 0);
    CHECK(s.corrupted == 0);
    CHECK(s.truncated == 0);
}

/// Wait for `p`, driving the engine's periodic work meanwhile as netback's main loop does.
template <class Pred>
bool eventually(ex::netback_engine& nb, Pred p, std::chrono::seconds limit = std::chrono::seconds(60))
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!p()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        nb.tick();
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

/// Two workers, the smallest RX backlog cap netback accepts.
inline ex::netback_config small_config()
{
    ex::netback_config c;
    c.workers = 2;
    c.rx_queue_bytes = 262144;
    return c;
}

} // namespace xnv::test
