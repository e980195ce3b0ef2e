// SPDX-License-Identifier: MIT
#pragma once

#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace xnv {

/// A type that may live in a shared ring slot: copied bytewise across processes, so it must
/// be trivially copyable and carry no vtable or owning pointer semantics.
template <class T>
concept ring_entry = std::is_trivially_copyable_v<T> && std::is_standard_layout_v<T> && (sizeof(T) > 0);

/// Where the four shared indices and the entry array live in the shared page, and whether an
/// endpoint may keep a private copy of the peer's producer index.
///
/// Requirements: the four offsets are distinct, 4-byte aligned and inside the header;
/// `header_bytes` is a multiple of 64 so the entry array starts on a cache line.
template <class L>
concept ring_layout = requires {
    { L::header_bytes } -> std::convertible_to<std::size_t>;
    { L::req_prod_offset } -> std::convertible_to<std::size_t>;
    { L::req_event_offset } -> std::convertible_to<std::size_t>;
    { L::rsp_prod_offset } -> std::convertible_to<std::size_t>;
    { L::rsp_event_offset } -> std::convertible_to<std::size_t>;
    { L::required_alignment } -> std::convertible_to<std::size_t>;
    { L::cache_peer_index } -> std::convertible_to<bool>;
} && (L::header_bytes % 64 == 0) && (L::req_prod_offset % 4 == 0) && (L::req_event_offset % 4 == 0) &&
    (L::rsp_prod_offset % 4 == 0) && (L::rsp_event_offset % 4 == 0) && (L::req_prod_offset + 4 <= L::header_bytes) &&
    (L::req_event_offset + 4 <= L::header_bytes) && (L::rsp_prod_offset + 4 <= L::header_bytes) &&
    (L::rsp_event_offset + 4 <= L::header_bytes);

namespace layout {

/// Byte-compatible with Xen's `public/io/ring.h`: a 64-byte header holding
/// `req_prod, req_event, rsp_prod, rsp_event` (4 bytes each), a 4-byte private union and
/// 44 bytes of padding, then the entry array. Every consumer re-reads the peer's producer
/// index on each check, exactly as Xen's `RING_HAS_UNCONSUMED_*` macros do.
struct xen_abi {
    static constexpr std::size_t header_bytes = 64;
    static constexpr std::size_t req_prod_offset = 0;
    static constexpr std::size_t req_event_offset = 4;
    static constexpr std::size_t rsp_prod_offset = 8;
    static constexpr std::size_t rsp_event_offset = 12;
    static constexpr std::size_t required_alignment = 8;
    static constexpr bool cache_peer_index = false;
};

/// xnv's fast layout: each of the four indices on a cache line of its own (so the producer's
/// index stores never invalidate the line holding the index the other side polls), and
/// consumers keep a private copy of the peer's producer index, re-reading the shared one only
/// when the copy says the ring is empty. Not readable by Xen's macros.
struct padded {
    static constexpr std::size_t header_bytes = 256;
    static constexpr std::size_t req_prod_offset = 0;
    static constexpr std::size_t req_event_offset = 64;
    static constexpr std::size_t rsp_prod_offset = 128;
    static constexpr std::size_t rsp_event_offset = 192;
    static constexpr std::size_t required_alignment = 64;
    static constexpr bool cache_peer_index = true;
};

} // namespace layout

static_assert(ring_layout<layout::xen_abi>);
static_assert(ring_layout<layout::padded>);
static_assert(layout::xen_abi::header_bytes == 64, "Xen's sring header is exactly 64 bytes");
static_assert(layout::padded::req_prod_offset / 64 != layout::padded::rsp_prod_offset / 64,
              "the two producer indices must be on different cache lines");

/// The union of a request and a response: one ring slot, as Xen's `*_sring_entry`.
template <ring_entry Req, ring_entry Rsp>
union ring_slot {
    Req req;
    Rsp rsp;
};

/// Xen's `__RING_SIZE`: the largest power of two number of slots that fits in `bytes`
/// after the header; 0 when not even one slot fits.
template <ring_entry Req, ring_entry Rsp, ring_layout Layout = layout::xen_abi>
[[nodiscard]] constexpr std::uint32_t ring_entries_for(std::size_t bytes) noexcept
{
    if (bytes < Layout::header_bytes + sizeof(ring_slot<Req, Rsp>))
        return 0;
    const std::size_t fit = (bytes - Layout::header_bytes) / sizeof(ring_slot<Req, Rsp>);
    const std::size_t capped = fit > (std::size_t{1} << 31) ? (std::size_t{1} << 31) : fit;
    return static_cast<std::uint32_t>(std::bit_floor(capped));
}

/// Bytes of shared memory needed for a ring of `entries` slots (a power of two).
template <ring_entry Req, ring_entry Rsp, ring_layout Layout = layout::xen_abi>
[[nodiscard]] constexpr std::size_t ring_bytes_for(std::uint32_t entries) noexcept
{
    return Layout::header_bytes + std::size_t{entries} * sizeof(ring_slot<Req, Rsp>);
}

} // namespace xnv
