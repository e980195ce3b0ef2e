// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Types and constants shared by the netif protocol rules of `xnv/wire/netif_back.hpp` and
/// `xnv/wire/netif_front.hpp`. Include one of those; this header has no API of its own beyond
/// what they document.

#include <cstdint>
#include <cstring>
#include <type_traits>

#include <xnv/wire/netif.hpp>

namespace xnv::netif {

/// Bytes of an Ethernet header: a packet, and the first slot of a TX chain, must hold at least
/// this much (Linux netback drops shorter first slots: "Bad packet size").
inline constexpr std::uint32_t eth_hlen = 14;

/// Extra-info segments one packet may carry: one per defined type (GSO, multicast add,
/// multicast delete, hash). Linux bounds the chain only by the ring; xnv bounds it here so every
/// per-packet structure has a fixed size, and no legitimate peer sends more.
inline constexpr unsigned max_extras = extra_type::max - 1;

/// GSO parameters of a packet: `type` is one of `gso_type::tcpv4`/`tcpv6`, `size` the MSS.
/// `type == gso_type::none` means the packet carries no GSO extra-info segment.
struct gso_info {
    std::uint8_t type = gso_type::none;
    std::uint16_t size = 0;

    [[nodiscard]] constexpr bool present() const noexcept { return type != gso_type::none; }
    friend constexpr bool operator==(const gso_info&, const gso_info&) = default;
};

/// The GSO types this protocol defines (Linux's `xenvif_set_skb_gso` / `xennet_set_skb_gso`
/// accept exactly these).
[[nodiscard]] constexpr bool gso_type_known(std::uint8_t t) noexcept
{
    return t == gso_type::tcpv4 || t == gso_type::tcpv6;
}

/// The extra-info types this protocol defines (1 .. `extra_type::max - 1`).
[[nodiscard]] constexpr bool extra_type_known(std::uint8_t t) noexcept
{
    return t != extra_type::none && t < extra_type::max;
}

namespace detail {

// An extra-info segment travels in a request or response slot of its own; these reinterpret a
// private copy of such a slot (never shared memory) bytewise, as Xen's C code does with a cast.
template <class Slot> [[nodiscard]] inline extra_info extra_from_slot(const Slot& s) noexcept
{
    static_assert(std::is_trivially_copyable_v<Slot> && sizeof(Slot) >= sizeof(extra_info));
    extra_info e;
    std::memcpy(&e, &s, sizeof e);
    return e;
}

template <class Slot> [[nodiscard]] inline Slot slot_from_extra(const extra_info& e) noexcept
{
    static_assert(std::is_trivially_copyable_v<Slot> && sizeof(Slot) >= sizeof(extra_info));
    Slot s{};
    std::memcpy(&s, &e, sizeof e);
    return s;
}

[[nodiscard]] inline extra_info make_gso_extra(const gso_info& g, std::uint8_t flags = 0) noexcept
{
    extra_info e{};
    e.type = extra_type::gso;
    e.flags = flags;
    e.u.gso.size = g.size;
    e.u.gso.type = g.type;
    e.u.gso.pad = 0;
    e.u.gso.features = 0;
    return e;
}

} // namespace detail

} // namespace xnv::netif
