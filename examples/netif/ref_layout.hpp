// SPDX-License-Identifier: MIT
#pragma once

// The shared memory of one vif, as the reference netfront lays it out in its memfd and
// describes it to netback (docs/netback.md, "Shared memory"). Per queue, in order, each part
// page-aligned:
//
//   TX ring page | RX ring page | TX grant area (entries, then pages) | RX grant area
//
// Both rings use Xen's layout (`layout::xen_abi`) and one 4 KiB page, so 256 slots each. TX
// buffer pages are granted read-only, RX buffer pages read-write, to netback's domain id.

#include "control_message.hpp"

#include <xnv/mem/grant_table.hpp>
#include <xnv/wire/netif.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace xnv::example {

/// The domain id netback copies as (Xen's dom0). netfront grants every page to it.
inline constexpr mem::domain_id backend_domain = 0;

/// One page per ring: 256 slots for TX and for RX.
inline constexpr std::uint64_t ring_bytes = netif::page_size;

/// Grant area sizes per queue. TX: a page per ring slot (a slot in flight holds one), and
/// twice as many references so a grant whose end is refused for a while (XSA-396) never
/// starves the ring. RX: a page per posted buffer, references likewise.
struct grant_sizes {
    std::uint32_t tx_refs = 512;
    std::uint32_t tx_pages = 256;
    std::uint32_t rx_refs = 512;
    std::uint32_t rx_pages = 256;
};

struct queue_layout {
    std::uint64_t tx_ring_offset = 0;
    std::uint64_t rx_ring_offset = 0;
    control::grant_area tx_grants;
    control::grant_area rx_grants;
};

struct vif_layout {
    std::vector<queue_layout> queues;
    std::uint64_t bytes = 0;
};

[[nodiscard]] inline mem::grant_geometry geometry_of(const control::grant_area& a) noexcept
{
    return mem::grant_geometry{a.refs, a.pages};
}

/// The layout for `queues` queues.
/// @throws std::invalid_argument on zero queues or more than the control channel allows
[[nodiscard]] inline vif_layout make_vif_layout(std::uint32_t queues, const grant_sizes& g = {})
{
    if (queues == 0 || queues > control::max_queues)
        throw std::invalid_argument("vif layout: queue count must be 1.." + std::to_string(control::max_queues) +
                                    ", got " + std::to_string(queues));
    vif_layout l;
    std::uint64_t at = 0;
    for (std::uint32_t q = 0; q < queues; ++q) {
        queue_layout ql;
        ql.tx_ring_offset = at;
        at += ring_bytes;
        ql.rx_ring_offset = at;
        at += ring_bytes;
        ql.tx_grants = control::grant_area{at, g.tx_refs, g.tx_pages};
        at += ql.tx_grants.bytes();
        ql.rx_grants = control::grant_area{at, g.rx_refs, g.rx_pages};
        at += ql.rx_grants.bytes();
        l.queues.push_back(ql);
    }
    l.bytes = at;
    return l;
}

} // namespace xnv::example
