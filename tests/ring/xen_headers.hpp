// SPDX-License-Identifier: MIT
#pragma once

// Xen's own public headers (Debian libxen-dev): the independent implementation of the ring ABI
// that the interoperability tests use as the peer.
//
// ring.h leaves the memory barriers to its includer. For interface versions older than
// 0x00030208 (the default when none is declared) it maps xen_mb/xen_rmb/xen_wmb to mb/rmb/wmb,
// names far too generic to define in C++; declaring the current interface version makes it use
// xen_mb/xen_rmb/xen_wmb instead. All three are a full hardware and compiler barrier here:
// stronger than rmb/wmb need, which is harmless in tests, and the one fence GCC accepts under
// ThreadSanitizer (the Xen-macro peer runs in its own process, where TSan has nothing to check).

#include <cstddef>
#include <cstdint>
#include <string.h> // SHARED_RING_INIT calls memset unqualified

#define __XEN_INTERFACE_VERSION__ 0x00040e00
#define xen_mb() __sync_synchronize()
#define xen_rmb() __sync_synchronize()
#define xen_wmb() __sync_synchronize()

#if defined(__clang__)
// XEN_RING_NR_UNCONSUMED_REQUESTS is a GNU statement expression; its expansions land in the
// including file, so the warning cannot be confined to the header.
#pragma clang diagnostic ignored "-Wgnu-statement-expression"
#endif

#include <xen/io/netif.h>
#include <xen/io/ring.h>

// FRONT_RING_ATTACH and BACK_RING_ATTACH store __RING_SIZE (an unsigned long) into the
// unsigned int nr_ents; the warning that draws is about Xen's macro, not about the test.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
inline void xen_attach(netif_tx_front_ring_t* r, netif_tx_sring_t* s, RING_IDX start, std::size_t bytes)
{
    FRONT_RING_ATTACH(r, s, start, bytes);
}
inline void xen_attach(netif_rx_front_ring_t* r, netif_rx_sring_t* s, RING_IDX start, std::size_t bytes)
{
    FRONT_RING_ATTACH(r, s, start, bytes);
}
inline void xen_attach(netif_tx_back_ring_t* r, netif_tx_sring_t* s, RING_IDX start, std::size_t bytes)
{
    BACK_RING_ATTACH(r, s, start, bytes);
}
inline void xen_attach(netif_rx_back_ring_t* r, netif_rx_sring_t* s, RING_IDX start, std::size_t bytes)
{
    BACK_RING_ATTACH(r, s, start, bytes);
}
// The same at index 0: Xen's FRONT_RING_INIT and BACK_RING_INIT.
inline void xen_attach_at_zero(netif_tx_front_ring_t* r, netif_tx_sring_t* s, std::size_t bytes)
{
    FRONT_RING_INIT(r, s, bytes);
}
inline void xen_attach_at_zero(netif_rx_front_ring_t* r, netif_rx_sring_t* s, std::size_t bytes)
{
    FRONT_RING_INIT(r, s, bytes);
}
inline void xen_attach_at_zero(netif_tx_back_ring_t* r, netif_tx_sring_t* s, std::size_t bytes)
{
    BACK_RING_INIT(r, s, bytes);
}
inline void xen_attach_at_zero(netif_rx_back_ring_t* r, netif_rx_sring_t* s, std::size_t bytes)
{
    BACK_RING_INIT(r, s, bytes);
}
#pragma GCC diagnostic pop
