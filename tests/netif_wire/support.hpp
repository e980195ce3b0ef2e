// SPDX-License-Identifier: MIT
// Rigs for the netif protocol tests: one ring page in memory with both endpoints attached, so a
// test plays the peer by writing raw slots (well-formed or hostile) and publishing them.
#pragma once

#include <xnv/ring/ring.hpp>
#include <xnv/wire/netif_back.hpp>
#include <xnv/wire/netif_front.hpp>

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace wire_test {

using namespace xnv::netif;

#define WIRE_LAYOUTS xnv::layout::xen_abi, xnv::layout::padded

// One page of ring memory, initialised at `start`, with `entries` slots (a power of two up to
// what fits in a page).
template <class Req, class Rsp, class L> struct ring_memory {
    alignas(64) std::array<std::byte, page_size> page{};
    std::span<std::byte> span;

    explicit ring_memory(std::uint32_t entries)
        : span(page.data(), std::min<std::size_t>(page.size(), xnv::ring_bytes_for<Req, Rsp, L>(entries)))
    {}

    // The raw shared index a hostile peer rewrites.
    std::atomic_ref<std::uint32_t> word(std::size_t off)
    {
        return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(page.data() + off));
    }

    // Overwrite slot `idx` in place, as a peer rewriting it after publication.
    template <class T> void rewrite(std::uint32_t idx, std::uint32_t size, const T& v)
    {
        std::memcpy(page.data() + L::header_bytes + (idx & (size - 1)) * sizeof(xnv::ring_slot<Req, Rsp>), &v,
                    sizeof v);
    }
};

[[nodiscard]] inline tx_request req(grant_ref gref, std::uint16_t offset, std::uint16_t flags, std::uint16_t id,
                                    std::uint16_t size)
{
    return tx_request{gref, offset, flags, id, size};
}

[[nodiscard]] inline extra_info gso_extra(std::uint8_t type, std::uint16_t size, std::uint8_t flags = 0)
{
    extra_info e{};
    e.type = extra_type::gso;
    e.flags = flags;
    e.u.gso.type = type;
    e.u.gso.size = size;
    return e;
}

[[nodiscard]] inline extra_info typed_extra(std::uint8_t type, std::uint8_t flags = 0)
{
    extra_info e{};
    e.type = type;
    e.flags = flags;
    return e;
}

// A TX ring with a raw frontend (the test writes requests) and a tx_backend under test.
template <class L = xnv::layout::xen_abi> struct tx_back_rig {
    ring_memory<tx_request, tx_response, L> mem;
    xnv::front_ring<tx_request, tx_response, L> front;
    xnv::back_ring<tx_request, tx_response, L> ring;
    tx_backend<L> back;

    explicit tx_back_rig(std::uint32_t entries = 256, std::uint32_t start = 0, const tx_limits& limits = {})
        : mem(entries), front(xnv::ring_init, mem.span, start), ring(mem.span, start), back(ring, limits)
    {}

    void put(const tx_request& r) { REQUIRE(front.try_produce(r)); }
    void put(const extra_info& e) { put(xnv::netif::detail::slot_from_extra<tx_request>(e)); }
    void publish() { front.publish(); }
    void put_all(std::initializer_list<tx_request> rs)
    {
        for (const auto& r : rs)
            put(r);
        publish();
    }

    tx_parse_result parse(tx_packet& p) { return back.parse(p); }

    std::vector<tx_response> responses()
    {
        std::vector<tx_response> out(front.size());
        const auto c = front.consume(out);
        REQUIRE(c.ok());
        out.resize(c.count);
        return out;
    }
};

// An RX ring with a raw frontend (the test posts requests) and an rx_backend under test.
template <class L = xnv::layout::xen_abi> struct rx_back_rig {
    ring_memory<rx_request, rx_response, L> mem;
    xnv::front_ring<rx_request, rx_response, L> front;
    xnv::back_ring<rx_request, rx_response, L> ring;
    rx_backend<L> back;

    explicit rx_back_rig(std::uint32_t entries = 256, std::uint32_t start = 0)
        : mem(entries), front(xnv::ring_init, mem.span, start), ring(mem.span, start), back(ring)
    {}

    void post(std::uint32_t n, std::uint16_t first_id = 0)
    {
        for (std::uint32_t i = 0; i < n; ++i)
            REQUIRE(front.try_produce(rx_request{static_cast<std::uint16_t>(first_id + i), 0, 0x100u + first_id + i}));
        front.publish();
    }

    std::vector<rx_response> responses()
    {
        std::vector<rx_response> out(front.size());
        const auto c = front.consume(out);
        REQUIRE(c.ok());
        out.resize(c.count);
        return out;
    }
};

// A TX ring with a tx_frontend under test and a raw backend (the test writes responses).
template <class L = xnv::layout::xen_abi> struct tx_front_rig {
    ring_memory<tx_request, tx_response, L> mem;
    xnv::front_ring<tx_request, tx_response, L> ring;
    xnv::back_ring<tx_request, tx_response, L> back;
    tx_frontend<L> front;

    explicit tx_front_rig(std::uint32_t entries = 256, std::uint32_t start = 0, const tx_front_config& cfg = {})
        : mem(entries), ring(xnv::ring_init, mem.span, start), back(mem.span, start), front(ring, cfg)
    {}

    // What the frontend published, as the backend reads it.
    std::vector<tx_request> requests()
    {
        std::vector<tx_request> out(back.size());
        const auto c = back.consume(out);
        REQUIRE(c.ok());
        out.resize(c.count);
        return out;
    }
    void answer(std::initializer_list<tx_response> rs)
    {
        for (const auto& r : rs)
            REQUIRE(back.try_produce(r));
        back.publish();
    }
};

// An RX ring with an rx_frontend under test and a raw backend (the test writes responses).
template <class L = xnv::layout::xen_abi> struct rx_front_rig {
    ring_memory<rx_request, rx_response, L> mem;
    xnv::front_ring<rx_request, rx_response, L> ring;
    xnv::back_ring<rx_request, rx_response, L> back;
    rx_frontend<L> front;
    std::vector<rx_packet> packets;
    std::vector<rx_buffer> recycled;

    explicit rx_front_rig(std::uint32_t entries = 256, std::uint32_t start = 0, const rx_front_config& cfg = {})
        : mem(entries), ring(xnv::ring_init, mem.span, start), back(mem.span, start), front(ring, cfg)
    {}

    // Post `n` buffers with cookies first_cookie.. and grant refs 0x500 + cookie.
    void post(std::uint32_t n, std::uint32_t first_cookie = 0)
    {
        for (std::uint32_t i = 0; i < n; ++i)
            REQUIRE(front.try_post(rx_buffer{0x500 + first_cookie + i, first_cookie + i}));
        (void)front.push();
    }
    // The backend takes every posted request (to be allowed to answer them).
    std::vector<rx_request> take()
    {
        std::vector<rx_request> out(back.size());
        const auto c = back.consume(out);
        REQUIRE(c.ok());
        out.resize(c.count);
        return out;
    }
    void answer(std::initializer_list<rx_response> rs)
    {
        for (const auto& r : rs)
            REQUIRE(back.try_produce(r));
        back.publish();
    }
    void answer(const extra_info& e)
    {
        REQUIRE(back.try_produce(xnv::netif::detail::slot_from_extra<rx_response>(e)));
        back.publish();
    }
    rx_poll_result poll()
    {
        return front.poll([this](const rx_packet& p) { packets.push_back(p); },
                          [this](const rx_buffer& b) { recycled.push_back(b); });
    }
};

// A small deterministic generator (xorshift64*), so failures reproduce.
struct rng {
    std::uint64_t s;
    explicit rng(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
    std::uint64_t next()
    {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545F4914F6CDD1Dull;
    }
    std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }
};

} // namespace wire_test
