// SPDX-License-Identifier: MIT
// netback's and netfront's data paths in one process (no control socket: the test hands the
// engine what the control channel would): traffic between vifs, a frontend that breaks the
// ring protocol (disconnected with a reason while the others carry on), a guest that stops
// taking frames (its backlog expires them; its senders are not stalled and it pins no more
// than its cap), and a vif removed while frames flow to it.

#include "counts.hpp"
#include "engine_harness.hpp"
#include "ref_layout.hpp"

#include <xnv/mem/region.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include <unistd.h>

using namespace xnv::example;
using namespace xnv::test;
namespace mem = xnv::mem;

namespace {

constexpr mac_bytes mac_a{0x02, 0, 0, 0, 0, 0x0a};
constexpr mac_bytes mac_b{0x02, 0, 0, 0, 0, 0x0b};
constexpr mac_bytes mac_c{0x02, 0, 0, 0, 0, 0x0c};

} // namespace

TEST_CASE("engine: two vifs exchange frames in both directions, counted alike on both sides")
{
    const std::uint64_t n = xnv::test::scaled_count("XNV_TEST_ENGINE_FRAMES", 20000, 2000);
    netback_engine nb(small_config());
    test_front a(mac_a, mac_b, n, {.queues = 2});
    test_front b(mac_b, mac_a, n);
    const auto ida = nb.add_vif(connection_of(*a.vif), "a");
    const auto idb = nb.add_vif(connection_of(*b.vif), "b");
    a.vif->start();
    b.vif->start();
    REQUIRE(eventually(nb, [&] { return a.received() >= n && b.received() >= n && a.vif->tx_idle() && b.vif->tx_idle(); }));
    a.vif->stop();
    b.vif->stop();
    check_sink_clean(a, n);
    check_sink_clean(b, n);
    const nb_vif_stats sa = nb.remove_vif(ida, "test over");
    const nb_vif_stats sb = nb.remove_vif(idb, "test over");
    CHECK_FALSE(sa.live);
    CHECK(sa.close_reason == "test over");
    CHECK(sa.queues.size() == 2);
    // netback took every frame the netfronts sent off their TX rings and delivered the
    // other side's into their RX rings (announcements included).
    std::uint64_t a_tx = 0;
    for (const auto& s : a.vif->stats())
        a_tx += s.tx_packets;
    CHECK(sa.total().tx_packets == a_tx);
    CHECK(sb.total().rx_packets >= n);
    CHECK(sa.total().drops[static_cast<std::size_t>(nb_drop::rx_expired)] == 0);
    CHECK(nb.vif_ids().empty());
    CHECK(nb.snapshot().vifs_removed == 2);
}

TEST_CASE("engine: a frontend whose req_prod runs past its ring is disconnected with a reason; the others carry on")
{
    const std::uint64_t n = xnv::test::scaled_count("XNV_TEST_ENGINE_FRAMES", 20000, 2000);
    netback_engine nb(small_config());
    test_front a(mac_a, mac_b, n);
    test_front b(mac_b, mac_a, n);
    test_front bad(mac_c, mac_a, 0, {.wait_peer = false}); // never started: the test writes its ring by hand
    const auto ida = nb.add_vif(connection_of(*a.vif), "a");
    const auto idb = nb.add_vif(connection_of(*b.vif), "b");
    control::back_connection bc = connection_of(*bad.vif);
    const control::front_layout plan = bad.vif->plan();
    const auto idbad = nb.add_vif(std::move(bc), "bad");
    a.vif->start();
    b.vif->start();

    // req_prod = 1000 while nothing was produced: beyond what a 256-slot ring can hold (XSA-39),
    // written through a mapping of its own, as the hostile frontend would.
    mem::shared_region peer = mem::shared_region::try_map(dup_fd(plan.memory_fd), mem::map_options{}).region;
    REQUIRE_FALSE(peer.empty());
    std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(peer.data() + plan.queues[0].tx_ring_offset))
        .store(1000, std::memory_order_release);
    const std::uint64_t kick = 1;
    REQUIRE(::write(plan.queues[0].event_fds[0], &kick, sizeof kick) == sizeof kick);

    std::vector<netback_engine::failure> failures;
    REQUIRE(eventually(nb, [&] {
        for (auto& f : nb.take_failures())
            failures.push_back(f);
        return !failures.empty();
    }));
    REQUIRE(failures.size() == 1);
    CHECK(failures[0].id == idbad);
    CHECK(failures[0].reason.find("req_prod beyond what the ring can hold") != std::string::npos);
    const nb_vif_stats gone = nb.remove_vif(idbad, failures[0].reason);
    CHECK(gone.close_reason == failures[0].reason);

    REQUIRE(eventually(nb, [&] { return a.received() >= n && b.received() >= n && a.vif->tx_idle() && b.vif->tx_idle(); }));
    a.vif->stop();
    b.vif->stop();
    check_sink_clean(a, n);
    check_sink_clean(b, n);
    (void)nb.remove_vif(ida, "done");
    (void)nb.remove_vif(idb, "done");
}

TEST_CASE("engine: a guest that stops taking frames pins at most its backlog cap and does not stall its senders")
{
    const std::uint64_t n = xnv::test::scaled_count("XNV_TEST_ENGINE_FRAMES", 20000, 2000);
    netback_config cfg = small_config();
    cfg.rx_expire = std::chrono::milliseconds(20);
    netback_engine nb(cfg);
    // The sender does not wait for the silent guest (which never sends a frame to be seen).
    test_front a(mac_a, mac_c, n, {.wait_peer = false});
    test_front silent(mac_c, mac_a, 0, {.wait_peer = false}); // posts its RX buffers, then never consumes anything
    const auto ida = nb.add_vif(connection_of(*a.vif), "a");
    const auto ids = nb.add_vif(connection_of(*silent.vif), "silent");
    a.vif->start();
    bool over_cap = false;
    REQUIRE(eventually(nb, [&] {
        for (const auto& v : nb.snapshot().vifs)
            for (const auto& q : v.queues)
                over_cap = over_cap || q.backlog_bytes > cfg.rx_queue_bytes;
        return a.vif->tx_idle();
    }));
    a.vif->stop();
    CHECK_FALSE(over_cap);
    const nb_vif_stats s = nb.remove_vif(ids, "done");
    const nb_queue_stats t = s.total();
    // The silent guest got what fitted its 256 posted buffers; the rest waited in its backlog
    // (holding the sender back) until it expired.
    CHECK(t.rx_packets <= 256);
    CHECK(t.drops[static_cast<std::size_t>(nb_drop::rx_expired)] > 0);
    const nb_vif_stats sa = nb.remove_vif(ida, "done");
    CHECK(sa.total().tx_packets >= n); // every frame was taken off A's ring: it finished
}

TEST_CASE("engine: removing a vif while frames flow to it leaves the sender running")
{
    netback_engine nb(small_config());
    // A sends at a fixed rate for as long as the test runs, to B.
    test_front a(mac_a, mac_b, 0, {.rate = 20000});
    test_front b(mac_b, mac_a, 0, {.rate = 20000});
    const auto ida = nb.add_vif(connection_of(*a.vif), "a");
    const auto idb = nb.add_vif(connection_of(*b.vif), "b");
    a.vif->start();
    b.vif->start();
    REQUIRE(eventually(nb, [&] { return b.received() > 500; }));
    const nb_vif_stats sb = nb.remove_vif(idb, "gone");
    b.vif->stop();
    CHECK(sb.total().rx_packets > 500);
    // A keeps transmitting: its frames now find no destination and are counted as such.
    std::uint64_t a_tx0 = 0;
    for (const auto& s : a.vif->stats())
        a_tx0 += s.tx_packets;
    REQUIRE(eventually(nb, [&] {
        std::uint64_t t = 0;
        for (const auto& s : a.vif->stats())
            t += s.tx_packets;
        return t > a_tx0 + 500;
    }));
    a.vif->stop();
    CHECK_FALSE(a.vif->failed());
    const nb_vif_stats sa = nb.remove_vif(ida, "done");
    CHECK(sa.total().drops[static_cast<std::size_t>(nb_drop::tx_no_destination)] > 0);
}
