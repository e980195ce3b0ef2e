// SPDX-License-Identifier: MIT
#pragma once

// Pieces shared by the hostile-peer tests: well-behaved netfronts driven by the generator and
// sink, a scripted frontend that writes its TX and RX rings and grant tables slot by slot
// (anything a guest could write), and the wait loop that drives netback's periodic work.

#include "counts.hpp"
#include "engine_harness.hpp"
#include "ref_layout.hpp"

#include <xnv/mem/grant_table.hpp>
#include <xnv/mem/region.hpp>
#include <xnv/ring/layout.hpp>
#include <xnv/wire/netif.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace hostile {

using namespace xnv::example;
namespace mem = xnv::mem;
namespace netif = xnv::netif;
using L = xnv::layout::xen_abi;

inline constexpr mac_bytes mac_a{0x02, 0, 0, 0, 0, 0x0a};
inline constexpr mac_bytes mac_b{0x02, 0, 0, 0, 0, 0x0b};
inline constexpr mac_bytes mac_c{0x02, 0, 0, 0, 0, 0x0c};
inline constexpr mac_bytes mac_h{0x02, 0, 0, 0, 0, 0x66};

using xnv::test::connection_of;
using xnv::test::dup_fd;
using xnv::test::eventually;
using xnv::test::params_for;
using xnv::test::small_config;
/// A well-behaved netfront: the generator sends test frames to a peer, the sink checks them.
using good_front = xnv::test::test_front;
using xnv::test::front_options;

inline constexpr std::size_t tx_slot_bytes = std::max(sizeof(netif::tx_request), sizeof(netif::tx_response));
inline constexpr std::size_t rx_slot_bytes = std::max(sizeof(netif::rx_request), sizeof(netif::rx_response));
/// Slots of each one-page ring (the largest power of two whose entries fit after the header).
inline constexpr std::uint32_t ring_slots = 256;
static_assert((ring_bytes - L::header_bytes) / tx_slot_bytes >= ring_slots && (ring_bytes - L::header_bytes) / tx_slot_bytes < 2 * ring_slots);

/// A frontend that writes its rings and grant tables by hand: it may publish any index, any
/// slot, any grant. Its memory is its own mapping of the memfd (netback maps it separately, as
/// a different process would), one queue, split event channels.
struct scripted_front {
    control::negotiated params;
    vif_layout lay;
    mem::shared_region region;
    std::unique_ptr<mem::grant_table> txg;
    std::unique_ptr<mem::grant_table> rxg;
    std::array<mem::unique_fd, 4> efd; // [0] TX kick to netback, [1] from netback, [2] RX kick, [3] from netback

    explicit scripted_front(const mac_bytes& mac) : params(params_for(mac)), lay(make_vif_layout(1))
    {
        region = mem::shared_region::create(lay.bytes);
        const queue_layout& q = lay.queues[0];
        xnv::front_ring<netif::tx_request, netif::tx_response> tx(xnv::ring_init, ring_span(q.tx_ring_offset));
        xnv::front_ring<netif::rx_request, netif::rx_response> rx(xnv::ring_init, ring_span(q.rx_ring_offset));
        txg = std::make_unique<mem::grant_table>(area(q.tx_grants), geometry_of(q.tx_grants));
        rxg = std::make_unique<mem::grant_table>(area(q.rx_grants), geometry_of(q.rx_grants));
        for (auto& f : efd) {
            f = mem::unique_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
            REQUIRE(f.get() >= 0);
        }
    }

    [[nodiscard]] std::span<std::byte> ring_span(std::uint64_t off) const
    {
        return {region.data() + off, ring_bytes};
    }
    [[nodiscard]] std::span<std::byte> area(const control::grant_area& a) const
    {
        return {region.data() + a.offset, a.bytes()};
    }

    [[nodiscard]] control::back_connection connection() const
    {
        control::back_connection c;
        c.params = params;
        mem::map_options mo;
        mo.expected_bytes = lay.bytes;
        mem::map_result m = mem::shared_region::try_map(region.duplicate_fd(), mo);
        REQUIRE(m.ok());
        c.region = std::move(m.region);
        control::queue_setup s;
        const queue_layout& q = lay.queues[0];
        s.tx_ring_offset = q.tx_ring_offset;
        s.rx_ring_offset = q.rx_ring_offset;
        s.tx_grants = q.tx_grants;
        s.rx_grants = q.rx_grants;
        s.event_channels = 2;
        for (std::size_t i = 0; i < 4; ++i)
            s.event_fds[i] = dup_fd(efd[i].get());
        c.queues.push_back(std::move(s));
        return c;
    }

    // ------------------------------------------------------------------ TX ring

    [[nodiscard]] std::byte* tx_base() const { return region.data() + lay.queues[0].tx_ring_offset; }
    [[nodiscard]] std::byte* rx_base() const { return region.data() + lay.queues[0].rx_ring_offset; }

    void put_tx(std::uint32_t idx, const netif::tx_request& r) const
    {
        std::memcpy(tx_base() + L::header_bytes + (idx % ring_slots) * tx_slot_bytes, &r, sizeof r);
    }
    void put_extra(std::uint32_t idx, const netif::extra_info& e) const
    {
        std::memcpy(tx_base() + L::header_bytes + (idx % ring_slots) * tx_slot_bytes, &e, sizeof e);
    }
    // The release store pairs with netback's acquire load of req_prod: the slots written above
    // are visible once the index is.
    void publish_tx(std::uint32_t prod) const
    {
        std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(tx_base() + L::req_prod_offset))
            .store(prod, std::memory_order_release);
    }
    // Acquire pairs with netback's release of rsp_prod: the responses below it are readable.
    [[nodiscard]] std::uint32_t tx_rsp_prod() const
    {
        return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(tx_base() + L::rsp_prod_offset))
            .load(std::memory_order_acquire);
    }
    [[nodiscard]] netif::tx_response tx_rsp(std::uint32_t idx) const
    {
        netif::tx_response r{};
        std::memcpy(&r, tx_base() + L::header_bytes + (idx % ring_slots) * tx_slot_bytes, sizeof r);
        return r;
    }

    // ------------------------------------------------------------------ RX ring

    void put_rx(std::uint32_t idx, const netif::rx_request& r) const
    {
        std::memcpy(rx_base() + L::header_bytes + (idx % ring_slots) * rx_slot_bytes, &r, sizeof r);
    }
    void publish_rx(std::uint32_t prod) const
    {
        std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(rx_base() + L::req_prod_offset))
            .store(prod, std::memory_order_release);
    }
    [[nodiscard]] std::uint32_t rx_rsp_prod() const
    {
        return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(rx_base() + L::rsp_prod_offset))
            .load(std::memory_order_acquire);
    }

    // ------------------------------------------------------------------ grants

    /// A TX page holding `bytes` at `offset`, granted to netback with `access`.
    [[nodiscard]] netif::grant_ref grant_tx(std::span<const std::byte> bytes, std::uint16_t offset = 0,
                                            mem::grant_access access = mem::grant_access::read_only) const
    {
        return grant_in(*txg, bytes, offset, access);
    }
    [[nodiscard]] netif::grant_ref grant_rx(mem::grant_access access) const
    {
        return grant_in(*rxg, {}, 0, access);
    }
    static netif::grant_ref grant_in(mem::grant_table& t, std::span<const std::byte> bytes, std::uint16_t offset,
                                     mem::grant_access access)
    {
        const auto page = t.try_allocate_page();
        REQUIRE(page.has_value());
        if (!bytes.empty())
            std::memcpy(t.page(*page).data() + offset, bytes.data(), bytes.size());
        const auto g = t.try_grant(backend_domain, *page, access);
        REQUIRE(g.ok());
        return g.ref;
    }

    void kick(std::size_t channel) const
    {
        const std::uint64_t one = 1;
        REQUIRE(::write(efd[channel * 2].get(), &one, sizeof one) == sizeof one);
    }
};

/// An Ethernet broadcast frame from `src` of `len` bytes (EtherType 0x88B7, not a test frame).
inline std::vector<std::byte> broadcast_frame(const mac_bytes& src, std::size_t len)
{
    std::vector<std::byte> f(len);
    for (std::size_t i = 0; i < 6 && i < len; ++i)
        f[i] = std::byte{0xff};
    for (std::size_t i = 0; i < 6 && 6 + i < len; ++i)
        f[6 + i] = std::byte{src[i]};
    if (len >= 14) {
        f[12] = std::byte{0x88};
        f[13] = std::byte{0xB7};
    }
    for (std::size_t i = 14; i < len; ++i)
        f[i] = static_cast<std::byte>(i * 7);
    return f;
}

} // namespace hostile
