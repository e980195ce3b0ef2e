// SPDX-License-Identifier: MIT
// Writes the seed corpora of the fuzz targets: for each target, inputs in its format (described
// at the top of its source) that reach its interesting states directly — valid rings and
// messages, the wrap of the 32-bit indices, full and empty rings, and one input per kind of
// hostile peer the target judges — so that a short fuzzing run starts deep instead of at the
// first byte.
//
//   xnv_fuzz_make_corpus <corpus-dir>           write corpus/<target>/<seed> (overwriting)
//   xnv_fuzz_make_corpus --check <corpus-dir>   exit 1 if any seed is missing or differs
//
// The output is a pure function of this file: no randomness, no clock.

#include "control_message.hpp"
#include "fuzz_formats.hpp"

#include <xnv/mem/grant_table.hpp>
#include <xnv/ring/layout.hpp>
#include <xnv/wire/netif.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace xnv::netif;

// ------------------------------------------------------------------ byte building

class bytes {
public:
    bytes& u8(std::uint32_t v)
    {
        b_.push_back(static_cast<std::uint8_t>(v));
        return *this;
    }
    bytes& u16(std::uint32_t v) { return le(v, 2); }
    bytes& u32(std::uint32_t v) { return le(v, 4); }
    bytes& u64(std::uint64_t v) { return le(v, 8); }
    template <class T> bytes& raw(const T& v)
    {
        const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
        b_.insert(b_.end(), p, p + sizeof v);
        return *this;
    }
    bytes& append(std::span<const std::uint8_t> s)
    {
        b_.insert(b_.end(), s.begin(), s.end());
        return *this;
    }
    bytes& append(const bytes& o) { return append(o.view()); }
    bytes& zeros(std::size_t n)
    {
        b_.insert(b_.end(), n, 0);
        return *this;
    }
    [[nodiscard]] std::size_t size() const { return b_.size(); }
    [[nodiscard]] std::span<const std::uint8_t> view() const { return b_; }
    [[nodiscard]] std::vector<std::uint8_t>& vec() { return b_; }
    void put_u32_at(std::size_t off, std::uint32_t v)
    {
        for (int i = 0; i < 4; ++i)
            b_[off + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
    }
    template <class T> void put_at(std::size_t off, const T& v) { std::memcpy(b_.data() + off, &v, sizeof v); }

private:
    bytes& le(std::uint64_t v, int n)
    {
        for (int i = 0; i < n; ++i)
            b_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
        return *this;
    }
    std::vector<std::uint8_t> b_;
};

struct seed {
    std::string target;
    std::string name;
    std::vector<std::uint8_t> data;
};

std::vector<seed> seeds;

void add(std::string_view target, std::string_view name, bytes b)
{
    seeds.push_back({std::string(target), std::string(name), std::move(b.vec())});
}

// ------------------------------------------------------------------ ring_consumer

namespace ring_seeds {

using namespace xnv::fuzz::ring_format;
using xnv::fuzz::step;

struct shape {
    bool padded;
    bool back;
    bool rx;
};

// A page image of `slots` slots whose header words are offsets from start (config bit 3):
// the peer's producer index `peer_prod` entries ahead, our own at 0, events at 1, and every slot
// filled with a recognisable pattern.
bytes image(const shape& s, std::uint32_t slots, std::uint32_t peer_prod, std::uint32_t own_prod = 0)
{
    const std::size_t header = s.padded ? xnv::layout::padded::header_bytes : xnv::layout::xen_abi::header_bytes;
    const std::size_t slot = s.rx ? 8 : 12;
    bytes b;
    b.zeros(header);
    for (std::size_t i = 0; i < slots * slot; ++i)
        b.u8(static_cast<std::uint32_t>(i * 7 + 1));
    const std::size_t req_prod = 0, req_event = s.padded ? 64 : 4, rsp_prod = s.padded ? 128 : 8,
                      rsp_event = s.padded ? 192 : 12;
    b.put_u32_at(s.back ? req_prod : rsp_prod, peer_prod);
    b.put_u32_at(s.back ? rsp_prod : req_prod, own_prod);
    b.put_u32_at(req_event, 1);
    b.put_u32_at(rsp_event, 1);
    return b;
}

void add_ring(std::string_view name, const shape& s, std::uint32_t start, std::span<const std::uint8_t> script,
              const bytes& img, bool relative = true)
{
    bytes b;
    b.u8((s.padded ? 1u : 0u) | (s.back ? 2u : 0u) | (s.rx ? 4u : 0u) | (relative ? 8u : 0u));
    b.u32(start);
    b.u16(static_cast<std::uint32_t>(script.size()));
    b.append(script);
    b.append(img);
    add("ring_consumer", name, std::move(b));
}

std::string shape_name(const shape& s)
{
    return std::string(s.back ? "back" : "front") + (s.padded ? "_padded" : "_xen") + (s.rx ? "_rx" : "_tx");
}

void make()
{
    for (int k = 0; k < 8; ++k) {
        const shape s{(k & 1) != 0, (k & 2) != 0, (k & 4) != 0};
        const std::string n = shape_name(s);
        if (s.back) {
            // A frontend published 40 requests: consume them in batches, answer, re-arm.
            const std::vector<std::uint8_t> serve = {
                step(op_pending),        step(op_consume, 3),        step(op_produce, 8 | 4),
                step(op_try_consume),    step(op_peek_release, 2),   step(op_drain, 7),
                step(op_produce, 8 | 7), step(op_reserve_commit, 5), step(op_publish_unpublished, 1),
                step(op_final_check),    step(op_wait_futex, 1),     step(op_pending),
                step(op_discard, 15),    step(op_final_check, 3),    step(op_wait_spin),
            };
            add_ring(n + "_serve", s, 0, serve, image(s, 256, 40));
            add_ring(n + "_wrap", s, 0xFFFFFFF0u, serve, image(s, 256, 40));
            // A full ring (every slot published), then one more than a ring: overrun.
            add_ring(n + "_full", s, 0x7FFFFFF0u, serve, image(s, 256, 256));
            add_ring(n + "_overrun", s, 5, serve, image(s, 256, 257));
            // The index moves backwards after being seen.
            const std::vector<std::uint8_t> back = {
                step(op_pending), step(op_consume, 1), step(op_peer_index_delta), 0xFF, 0xFF, 0xFF, 0xFF,
                step(op_pending), step(op_consume),    step(op_peer_index_delta), 4,    0,    0,    0,
                step(op_pending)};
            add_ring(n + "_backwards", s, 100, back, image(s, 256, 8));
            // A small ring of 4 slots that wraps many times while it is served.
            std::vector<std::uint8_t> small;
            for (int r = 0; r < 12; ++r) {
                small.push_back(step(op_peer_index_delta));
                small.insert(small.end(), {4, 0, 0, 0});
                small.push_back(step(op_drain, 2));
                small.push_back(step(op_produce, 8 | 4));
            }
            add_ring(n + "_small_wrapping", s, 0xFFFFFFFAu, small, image(s, 4, 0));
            // Slots rewritten after publication: each copy must be what the slot held then.
            const std::size_t slot = s.rx ? 8 : 12;
            std::vector<std::uint8_t> rewrite = {step(op_pending), step(op_peer_rewrite_slot), 1, 0};
            rewrite.insert(rewrite.end(), slot, 0xAB);
            rewrite.insert(rewrite.end(), {step(op_consume, 3), step(op_peer_rewrite_slot), 2, 0});
            rewrite.insert(rewrite.end(), slot, 0x09);
            rewrite.push_back(step(op_drain, 15));
            add_ring(n + "_rewrite", s, 0, rewrite, image(s, 256, 6));
        } else {
            // Requests go out, responses come back, some of them beyond what was asked.
            const std::vector<std::uint8_t> cycle = {
                step(op_produce, 8 | 7),
                step(op_produce, 8 | 7),
                step(op_reserve_commit, 6),
                step(op_publish_unpublished, 1),
                step(op_pending),
                step(op_consume, 3),
                step(op_try_consume),
                step(op_peek_release, 1),
                step(op_drain, 4),
                step(op_final_check),
                step(op_peer_event),
                0x30,
                0,
                0,
                0,
                step(op_produce, 8 | 3),
                step(op_wait_futex, 2),
                step(op_discard, 15),
                step(op_pending),
            };
            add_ring(n + "_cycle", s, 0, cycle, image(s, 256, 12));
            add_ring(n + "_wrap", s, 0xFFFFFFFCu, cycle, image(s, 256, 12));
            add_ring(n + "_overrun", s, 77, cycle, image(s, 256, 30));
            // Responses published before any request: overrun at once.
            const std::vector<std::uint8_t> early = {step(op_pending), step(op_consume, 15), step(op_produce, 8 | 2),
                                                     step(op_pending)};
            add_ring(n + "_unasked", s, 3, early, image(s, 256, 1));
            // A full ring of requests answered in full, across the wrap, on an 8-slot ring.
            std::vector<std::uint8_t> full = {
                step(op_produce, 8 | 7), step(op_produce, 8 | 1), step(op_peer_index_delta), 8, 0, 0, 0,
                step(op_drain, 15),      step(op_final_check)};
            add_ring(n + "_full_small", s, 0xFFFFFFFDu, full, image(s, 8, 0));
        }
        // Memory too small for one slot, and an image with absolute (random-looking) indices.
        add_ring(n + "_no_slot", s, 0, std::vector<std::uint8_t>{step(op_pending)}, image(s, 0, 0));
        bytes abs = image(s, 64, 0);
        abs.put_u32_at(0, 0x12345678u);
        abs.put_u32_at(8, 0x9ABCDEF0u);
        add_ring(n + "_absolute", s, 0x12345670u,
                 std::vector<std::uint8_t>{step(op_pending), step(op_drain, 15), step(op_produce, 8 | 7),
                                           step(op_final_check)},
                 abs, false);
    }
}

} // namespace ring_seeds

// ------------------------------------------------------------------ netback_tx_parser

namespace netback_seeds {

constexpr std::string_view target = "netback_tx_parser";

tx_request extra_slot(std::uint8_t type, bool more, std::uint16_t gso_size = 1448,
                      std::uint8_t gso_kind = gso_type::tcpv4)
{
    extra_info e{};
    e.type = type;
    e.flags = more ? extra_flag_more : 0;
    if (type == extra_type::gso) {
        e.u.gso.size = gso_size;
        e.u.gso.type = gso_kind;
    } else if (type == extra_type::mcast_add || type == extra_type::mcast_del) {
        e.u.mcast.addr[0] = 0x01;
        e.u.mcast.addr[5] = 0x42;
    }
    tx_request r{};
    std::memcpy(&r, &e, sizeof e);
    return r;
}

// A packet of `n` data slots: the first carries the total, later ones `later` bytes each.
std::vector<tx_request> packet(std::uint16_t id, std::uint32_t n, std::uint16_t later, std::uint16_t first_own = 1000,
                               std::uint16_t flags = 0)
{
    std::vector<tx_request> v;
    const auto total = static_cast<std::uint16_t>(first_own + later * (n - 1));
    v.push_back(tx_request{0x10, 0, static_cast<std::uint16_t>(flags | (n > 1 ? txf::more_data : 0)), id, total});
    for (std::uint32_t i = 1; i < n; ++i)
        v.push_back(tx_request{0x10 + i, 128, static_cast<std::uint16_t>(i + 1 < n ? txf::more_data : 0),
                               static_cast<std::uint16_t>(id + i), later});
    return v;
}

// A TX ring image of 256 slots with header words relative to `start`: `reqs` from the slot of
// index `start` on, req_prod = `prod` (default: all of them).
bytes image(bool padded, const std::vector<tx_request>& reqs, std::int64_t prod = -1, std::uint32_t start = 0)
{
    const std::size_t header = padded ? 256 : 64;
    bytes b;
    b.zeros(header + 256 * sizeof(tx_request));
    for (std::size_t i = 0; i < reqs.size() && i < 256; ++i)
        b.put_at(header + ((start + i) & 255) * sizeof(tx_request), reqs[i]);
    b.put_u32_at(0, prod < 0 ? static_cast<std::uint32_t>(reqs.size()) : static_cast<std::uint32_t>(prod));
    b.put_u32_at(padded ? 64 : 4, 1);
    b.put_u32_at(padded ? 192 : 12, 1);
    return b;
}

void add_image(std::string_view name, bool padded, std::uint32_t start, const bytes& img, const bytes* limits = nullptr)
{
    bytes b;
    b.u8(0u | 8u | (padded ? 4u : 0u) | (limits != nullptr ? 0x10u : 0u));
    b.u32(start);
    if (limits != nullptr)
        b.append(*limits);
    b.append(img);
    add(target, std::string(name) + (padded ? "_padded" : "_xen"), std::move(b));
}

template <class... V> std::vector<tx_request> cat(const V&... parts)
{
    std::vector<tx_request> v;
    (v.insert(v.end(), parts.begin(), parts.end()), ...);
    return v;
}

void images()
{
    for (bool padded : {false, true}) {
        const auto one = packet(1, 1, 0);
        const auto three = packet(2, 3, 500);
        auto gso = packet(5, 2, 1448, 1500, txf::csum_blank | txf::extra_info);
        gso.insert(gso.begin() + 1, extra_slot(extra_type::gso, false));
        auto mcast = packet(9, 1, 0);
        mcast[0].flags |= txf::extra_info;
        mcast.push_back(extra_slot(extra_type::mcast_add, false));
        add_image("mixed", padded, 0, image(padded, cat(one, three, gso, mcast, packet(20, 18, 64))));
        add_image("wrap", padded, 0xFFFFFFF8u, image(padded, cat(one, three, gso, packet(30, 4, 8)), -1, 0xFFFFFFF8u));
        add_image("empty", padded, 12345, image(padded, {}));
        add_image("slots_19_drop", padded, 0, image(padded, cat(packet(1, 19, 64), one)));
        add_image("slots_21_fatal", padded, 0, image(padded, packet(1, 21, 64)));
        add_image("zero_fragment", padded, 0, image(padded, cat(packet(1, 3, 0), one)));
        add_image("first_too_short", padded, 0, image(padded, cat(packet(1, 2, 100, 10), one)));
        add_image("fragment_exceeds_total", padded, 0, [&] {
            auto v = packet(1, 3, 100);
            v[0].size = 150;
            return image(padded, cat(v, one));
        }());
        add_image("crosses_page", padded, 0, [&] {
            auto v = packet(1, 2, 100);
            v[1].offset = 4000;
            return image(padded, v);
        }());
        add_image("headers_in_1_byte_slots", padded, 0, image(padded, packet(1, 18, 1, 14)));
        auto bad_extra = packet(1, 1, 0, 100, txf::extra_info);
        bad_extra.push_back(extra_slot(7, false));
        add_image("extra_unknown", padded, 0, image(padded, bad_extra));
        auto gso0 = packet(1, 1, 0, 100, txf::extra_info);
        gso0.push_back(extra_slot(extra_type::gso, false, 0));
        add_image("gso_size_zero", padded, 0, image(padded, gso0));
        auto gso_bad = packet(1, 1, 0, 100, txf::extra_info);
        gso_bad.push_back(extra_slot(extra_type::gso, false, 1448, 9));
        add_image("gso_type_bad", padded, 0, image(padded, gso_bad));
        auto many = packet(1, 1, 0, 100, txf::extra_info);
        for (int i = 0; i < 5; ++i)
            many.push_back(extra_slot(extra_type::gso, true));
        add_image("too_many_extras", padded, 0, image(padded, many));
        add_image("chain_incomplete", padded, 0, image(padded, packet(1, 6, 100), 3));
        add_image("req_prod_overrun", padded, 0, image(padded, one, 257));
        add_image("req_prod_backwards", padded, 0, image(padded, one, 0xFFFFFFF0u));
        bytes limits;
        limits.u8(4).u8(6).u16(60);
        add_image("limits_4_6", padded, 0, image(padded, cat(packet(1, 4, 64), packet(7, 5, 64), packet(20, 7, 64))),
                  &limits);
        bytes bad_limits;
        bad_limits.u8(30).u8(10).u16(0);
        add_image("limits_invalid", padded, 0, image(padded, one), &bad_limits);
    }
}

// Scripts for modes 1 (TX) and 2 (RX).
using namespace xnv::fuzz::netback_format;
constexpr std::uint8_t st(std::uint32_t o, std::uint32_t arg = 0)
{
    return xnv::fuzz::step(o, arg);
}

void add_script(std::string_view name, unsigned mode, bool padded, std::uint32_t start, std::uint32_t log2_slots,
                const bytes& script)
{
    bytes b;
    b.u8(mode | (padded ? 4u : 0u));
    b.u32(start);
    b.u8(log2_slots - 1);
    b.append(script);
    add(target, std::string(name) + (padded ? "_padded" : "_xen"), std::move(b));
}

// tx_write_packet operands: data slots, feature bits, later-slot size, first id.
void pkt(bytes& s, std::uint32_t n, std::uint32_t f, std::uint32_t later, std::uint32_t id)
{
    s.u8(st(tx_write_packet)).u8(n - 1).u8(f).u16(later).u16(id);
}

void scripts()
{
    for (bool padded : {false, true}) {
        {
            // Packets published one at a time and answered, then a batch held and answered out
            // of order, across the index wrap.
            bytes s;
            for (std::uint32_t i = 0; i < 6; ++i) {
                pkt(s, 1 + i * 3, i & 7, 200 + i * 100, i * 32);
                s.u8(st(tx_publish)).u8(st(tx_parse_all, i & 1));
            }
            for (std::uint32_t i = 0; i < 4; ++i)
                pkt(s, 2, 0, 100, 500 + i * 4);
            s.u8(st(tx_publish));
            for (int i = 0; i < 4; ++i)
                s.u8(st(tx_parse_hold));
            s.u8(st(tx_answer_badspan)).u8(st(tx_answer_held, 2)).u8(st(tx_answer_held, 0)).u8(st(tx_answer_held, 1));
            s.u8(st(tx_answer_held)).u8(st(tx_answer_twice)).u8(st(tx_final_check)).u8(st(tx_parse_all));
            add_script("tx_serve", 1, padded, 0xFFFFFF00u, 8, s);
        }
        {
            // A chain published in two halves, its staged first half rewritten in between
            // (XSA-155: the parser must use what it copied).
            bytes s;
            pkt(s, 8, 1, 300, 40);
            s.u8(st(tx_req_prod)).u32(4).u8(st(tx_parse_all)).u8(st(tx_final_check));
            s.u8(st(tx_rewrite, 1)).u32(0xDEAD).u16(4000).u16(7).u16(0xFFFF).u16(0);
            s.u8(st(tx_rewrite, 3)).u32(0xBEEF).u16(0).u16(0).u16(0).u16(0);
            s.u8(st(tx_publish)).u8(st(tx_parse_all));
            add_script("tx_double_fetch", 1, padded, 7, 8, s);
        }
        {
            // A 4-slot ring: a chain longer than the ring can never end.
            bytes s;
            s.u8(st(tx_write_raw, 3));
            for (std::uint16_t i = 0; i < 4; ++i)
                s.raw(tx_request{i, 0, txf::more_data, i, static_cast<std::uint16_t>(i == 0 ? 1000 : 100)});
            s.u8(st(tx_publish)).u8(st(tx_parse_all)).u8(st(tx_parse_one));
            add_script("tx_chain_exceeds_ring", 1, padded, 0xFFFFFFFEu, 2, s);
        }
        {
            // Hostile req_prod after good traffic: backwards, then beyond the ring.
            bytes s;
            pkt(s, 2, 0, 100, 1);
            s.u8(st(tx_publish)).u8(st(tx_parse_all)).u8(st(tx_req_prod)).u32(0xFFFFFFFFu).u8(st(tx_parse_all));
            add_script("tx_req_prod_backwards", 1, padded, 0x80000000u, 8, s);
            bytes o;
            pkt(o, 2, 0, 100, 1);
            o.u8(st(tx_publish)).u8(st(tx_parse_all)).u8(st(tx_req_prod)).u32(257).u8(st(tx_parse_all));
            add_script("tx_req_prod_overrun", 1, padded, 0x7FFFFFFFu, 8, o);
        }
        {
            // Raw slots: a multicast control, a GSO packet, an unknown extra.
            bytes s;
            s.u8(st(tx_write_raw, 1))
                .raw(tx_request{1, 0, txf::extra_info, 3, 60})
                .raw(extra_slot(extra_type::mcast_del, false));
            s.u8(st(tx_write_raw, 2))
                .raw(tx_request{2, 0, txf::extra_info | txf::more_data, 4, 3000})
                .raw(extra_slot(extra_type::gso, false, 1448, gso_type::tcpv6))
                .raw(tx_request{3, 0, 0, 5, 1000});
            s.u8(st(tx_publish)).u8(st(tx_parse_all, 1));
            s.u8(st(tx_write_raw, 1)).raw(tx_request{1, 0, txf::extra_info, 6, 60}).raw(extra_slot(0, false));
            s.u8(st(tx_publish)).u8(st(tx_parse_all));
            add_script("tx_extras", 1, padded, 0, 5, s);
        }
        {
            // Buffers posted, packets of one, three and 18 pages and a GSO one reserved and
            // answered in order; a wrong-order answer refused.
            bytes s;
            s.u8(st(rx_post_good, 15)).u8(st(rx_post_good, 15)).u8(st(rx_publish));
            s.u8(st(rx_reserve)).u32(1500).u8(rxf::csum_blank).u8(0).u16(0);
            s.u8(st(rx_reserve)).u32(3 * 4096 - 5).u8(rxf::data_validated).u8(gso_type::tcpv4).u16(1448);
            s.u8(st(rx_respond_wrong)).u8(st(rx_respond)).u8(st(rx_respond, 2));
            s.u8(st(rx_deliver, 5)).u32(18 * 4096).u8(0).u8(0).u16(0);
            s.u8(st(rx_available, 4)).u8(st(rx_post_good, 15)).u8(st(rx_post_good, 3)).u8(st(rx_publish));
            s.u8(st(rx_deliver)).u32(18 * 4096).u8(0).u8(0).u16(0);
            s.u8(st(rx_deliver)).u32(64).u8(0).u8(gso_type::tcpv6).u16(1000);
            add_script("rx_serve", 2, padded, 0xFFFFFFF0u, 6, s);
        }
        {
            // The caller's mistakes, a shortfall, then hostile indices and rewritten buffers.
            bytes s;
            s.u8(st(rx_post_good, 2)).u8(st(rx_publish));
            s.u8(st(rx_reserve)).u32(0).u8(0).u8(0).u16(0);
            s.u8(st(rx_reserve)).u32(18 * 4096 + 1).u8(0).u8(0).u16(0);
            s.u8(st(rx_reserve)).u32(100).u8(0x84).u8(0).u16(0);
            s.u8(st(rx_reserve)).u32(100).u8(0).u8(7).u16(10);
            s.u8(st(rx_reserve)).u32(100).u8(0).u8(gso_type::tcpv4).u16(0);
            s.u8(st(rx_reserve)).u32(5 * 4096).u8(0).u8(0).u16(0);
            s.u8(st(rx_available, 5)).u8(st(rx_rewrite, 0)).u16(9).u16(9).u32(9);
            s.u8(st(rx_post_raw, 1)).u16(77).u16(0).u32(5).u16(3).u16(0).u32(6).u8(st(rx_publish));
            s.u8(st(rx_reserve)).u32(5 * 4096).u8(0).u8(0).u16(0).u8(st(rx_respond, 3));
            s.u8(st(rx_req_prod)).u32(0xFFFFFFF0u).u8(st(rx_reserve)).u32(100).u8(0).u8(0).u16(0);
            add_script("rx_hostile", 2, padded, 3, 4, s);
        }
    }
}

} // namespace netback_seeds

// ------------------------------------------------------------------ netfront_rx

namespace netfront_seeds {

constexpr std::string_view target = "netfront_rx";
using namespace xnv::fuzz::netfront_format;

constexpr std::uint8_t st(std::uint32_t o, std::uint32_t arg = 0)
{
    return xnv::fuzz::step(o, arg);
}

bytes head(unsigned mode, bool padded, std::uint32_t start)
{
    bytes b;
    b.u8(mode | (padded ? 4u : 0u));
    b.u32(start);
    return b;
}

std::string suffix(bool padded)
{
    return padded ? "_padded" : "_xen";
}

rx_response gso_response(std::uint16_t mss, std::uint8_t type = gso_type::tcpv4, std::uint8_t ext = extra_type::gso)
{
    extra_info e{};
    e.type = ext;
    e.u.gso.size = mss;
    e.u.gso.type = type;
    rx_response r{};
    std::memcpy(&r, &e, sizeof e);
    return r;
}

// Mode 0: `posted` buffers from ring index `start`, the responses, rsp_count = their number
// unless given.
void rx_entry(std::string_view name, bool padded, std::uint32_t start, std::uint32_t posted,
              const std::vector<rx_response>& rsp, std::int64_t count = -1, std::uint8_t max_slots = 18)
{
    bytes b = head(0, padded, start);
    b.u16(posted).u32(count < 0 ? static_cast<std::uint32_t>(rsp.size()) : static_cast<std::uint32_t>(count));
    b.u8(max_slots);
    for (const rx_response& r : rsp)
        b.raw(r);
    add(target, "rx_entry_" + std::string(name) + suffix(padded), std::move(b));
}

void tx_entry(std::string_view name, bool padded, std::uint32_t start, const std::vector<std::uint8_t>& packets,
              const std::vector<tx_response>& rsp, std::int64_t count = -1)
{
    bytes b = head(1, padded, start);
    b.u32(count < 0 ? static_cast<std::uint32_t>(rsp.size()) : static_cast<std::uint32_t>(count));
    b.u8(static_cast<std::uint32_t>(packets.size())).append(packets);
    for (const tx_response& r : rsp)
        b.raw(r);
    add(target, "tx_entry_" + std::string(name) + suffix(padded), std::move(b));
}

void entries()
{
    constexpr std::uint16_t more = rxf::more_data;
    for (bool padded : {false, true}) {
        const std::uint32_t s = 0xFFFFFFFCu; // ids are ring index & 255: 252, 253, ...
        auto id = [&](std::uint32_t k) { return static_cast<std::uint16_t>((s + k) & 255); };
        const std::vector<rx_response> good = {
            {id(0), 0, rxf::data_validated, 1500},
            {id(1), 0, more | rxf::extra_info | rxf::csum_blank, 4096},
            gso_response(1448),
            {id(3), 0, more, 4096},
            {id(4), 0, 0, 700},
            {id(5), 64, 0, 60},
        };
        rx_entry("good", padded, s, 16, good);
        rx_entry("good_one_slot_config", padded, s, 16, good, -1, 1);
        rx_entry("hostile", padded, 0, 32,
                 {{9, 0, 0, 100},    // id of another position
                  {300, 0, 0, 100},  // id out of range
                  {2, 4000, 0, 200}, // beyond the page
                  {3, 0, 0, -1},     // slot error
                  {4, 0, 0, 0},      // empty packet
                  {5, 0, rxf::extra_info, 100},
                  gso_response(0), // GSO size 0
                  {7, 0, rxf::extra_info, 100},
                  gso_response(1448, 9), // unknown GSO type
                  {9, 0, rxf::extra_info, 100},
                  gso_response(1448, 1, 7), // unknown extra type
                  {11, 0, more, 100},
                  {12, 0, more, 100}}); // chain left open
        rx_entry("chain_truncated", padded, 0, 3, {{0, 0, more, 100}, {1, 0, more, 100}, {2, 0, more, 100}});
        rx_entry("overrun", padded, 0, 4, {{0, 0, 0, 100}}, 5);
        rx_entry("backwards", padded, 0, 4, {{0, 0, 0, 100}}, 0xFFFFFFFFu);
        std::vector<rx_response> long_chain;
        for (std::uint16_t i = 0; i < 20; ++i)
            long_chain.push_back({i, 0, static_cast<std::uint16_t>(i + 1 < 20 ? more : 0), 4096});
        rx_entry("too_many_slots", padded, 0, 64, long_chain);

        // TX: packet bytes (1 + (b & 0x1f) % 18 data slots, GSO extra when b & 0x80); ids are
        // handed out 0, 1, 2, ... on a fresh ring.
        const std::vector<std::uint8_t> pk = {0x00, 0x02, 0x80, 0x11};
        std::vector<tx_response> ok;
        std::uint16_t next = 0;
        for (std::uint8_t b : pk) {
            const std::uint32_t n = 1 + (b & 0x1fu) % 18;
            for (std::uint32_t i = 0; i < n; ++i) {
                ok.push_back({next++, status::okay});
                if (i == 0 && (b & 0x80) != 0)
                    ok.push_back({0, status::null});
            }
        }
        tx_entry("good", padded, 0x7FFFFFF0u, pk, ok);
        std::vector<tx_response> reversed(ok.rbegin(), ok.rend());
        tx_entry("reversed", padded, 0, pk, reversed);
        tx_entry("duplicate", padded, 0, pk, {{0, status::okay}, {0, status::okay}});
        tx_entry("id_out_of_range", padded, 0, pk, {{256, status::okay}});
        tx_entry("never_submitted", padded, 0, pk, {{200, status::error}});
        tx_entry("bad_status", padded, 0, pk, {{1, 5}});
        tx_entry("unexpected_null", padded, 0, {0x00}, {{0, status::null}});
        tx_entry("overrun", padded, 0, {0x00}, {{0, status::okay}, {1, status::okay}});
        tx_entry("backwards", padded, 0, {0x00}, {}, 0xFFFFFFFEu);
    }
}

void scripts()
{
    for (bool padded : {false, true}) {
        {
            // RX: buffers posted and reposted, well-formed packets of every shape, polled with
            // small budgets across the index wrap.
            bytes b = head(2, padded, 0xFFFFFFF0u);
            b.u8(5).u8(17); // 64 slots, max_slots 18
            b.u8(st(rx_post, 15)).u8(st(rx_post, 15)).u8(st(rx_post, 15));
            const std::uint32_t sizes[] = {60, 1514, 4096, 4097, 9000, 65535, 18 * 4096 - 1};
            for (std::uint32_t i = 0; i < 7; ++i) {
                b.u8(st(rx_write_packet)).u32(sizes[i] - 1).u8(i);
                b.u8(st(rx_publish)).u8(st(rx_poll, i % 3 == 0 ? 0 : 3)).u8(st(rx_post, 7));
            }
            b.u8(st(rx_poll_all, 1)).u8(st(rx_post, 15)).u8(st(rx_write_packet)).u32(100).u8(3);
            b.u8(st(rx_publish)).u8(st(rx_poll_all));
            add(target, "rx_script_serve" + suffix(padded), std::move(b));
        }
        {
            // RX: a backend that writes garbage among good packets, then lies about rsp_prod.
            bytes b = head(2, padded, 5);
            b.u8(3).u8(3); // 16 slots, max_slots 4
            b.u8(st(rx_post, 15)).u8(st(rx_write_packet)).u32(5000).u8(1);
            b.u8(st(rx_write_raw, 1)).raw(rx_response{2, 0, rxf::more_data, 100}).raw(rx_response{2, 0, 0, 100});
            b.u8(st(rx_write_raw)).raw(rx_response{999, 0, 0, 10});
            b.u8(st(rx_publish)).u8(st(rx_poll)).u8(st(rx_post, 3)).u8(st(rx_rsp_prod)).u32(40).u8(st(rx_poll));
            b.u8(st(rx_post)).u8(st(rx_poll));
            add(target, "rx_script_hostile" + suffix(padded), std::move(b));
        }
        {
            // TX: packets submitted as buffers and as chunks, answered in order, swapped and
            // with errors, reclaimed with budgets; ids reused many times on an 8-slot ring.
            bytes b = head(3, padded, 0xFFFFFFFAu);
            b.u8(2).u8(0x60 | 17); // 8 slots, max_slots 18, GSO v4 and v6
            for (int round = 0; round < 6; ++round) {
                b.u8(st(tx_submit)).u8(2).u8(round % 2 == 0 ? 1 : 8).u16(1000).u16(500).u16(0);
                b.u8(st(tx_submit_chunks)).u32(5000).u16(4000).u8(0).u8(0xFF);
                b.u8(st(tx_push)).u8(st(tx_answer_swapped, static_cast<std::uint32_t>(round)));
                b.u8(st(tx_answer, 7)).u8(st(tx_publish)).u8(st(tx_reclaim, static_cast<std::uint32_t>(round % 3)));
                b.u8(st(tx_reclaim));
            }
            add(target, "tx_script_serve" + suffix(padded), std::move(b));
        }
        {
            // TX: the caller's mistakes, a grant callback that gets a chunk wrong, then a
            // backend answering an id twice.
            bytes b = head(3, padded, 0);
            b.u8(4).u8(0x20 | 17);                                       // 32 slots, GSO v4 only
            b.u8(st(tx_submit)).u8(0).u8(0).u16(100).u16(100).u16(0);    // no buffers
            b.u8(st(tx_submit)).u8(19).u8(0).u16(100).u16(100).u16(0);   // too many slots
            b.u8(st(tx_submit)).u8(2).u8(0).u16(100).u16(0).u16(0);      // empty buffer
            b.u8(st(tx_submit)).u8(1).u8(0).u16(100).u16(0).u16(4000);   // crosses the page
            b.u8(st(tx_submit)).u8(1).u8(0).u16(10).u16(0).u16(0);       // too short
            b.u8(st(tx_submit)).u8(2).u8(0).u16(10).u16(100).u16(0);     // first slot short
            b.u8(st(tx_submit)).u8(1).u8(16).u16(100).u16(0).u16(0);     // bad flags
            b.u8(st(tx_submit)).u8(1).u8(3).u16(100).u16(0).u16(0);      // GSO v6 not offered
            b.u8(st(tx_submit)).u8(1).u8(5).u16(100).u16(0).u16(0);      // MSS 0
            b.u8(st(tx_submit_chunks)).u32(66000).u16(0).u8(0).u8(0xFF); // too large
            b.u8(st(tx_submit_chunks)).u32(9000).u16(100).u8(0).u8(1);   // bad chunk
            b.u8(st(tx_submit)).u8(3).u8(1).u16(3000).u16(1000).u16(0);
            b.u8(st(tx_push)).u8(st(tx_answer, 1)).u8(st(tx_publish)).u8(st(tx_reclaim));
            b.u8(st(tx_write_raw)).raw(tx_response{0, status::okay}).u8(st(tx_publish)).u8(st(tx_reclaim));
            b.u8(st(tx_submit)).u8(1).u8(0).u16(100).u16(0).u16(0);
            add(target, "tx_script_hostile" + suffix(padded), std::move(b));
        }
    }
}

} // namespace netfront_seeds

// ------------------------------------------------------------------ control_message

namespace control_seeds {

namespace control = xnv::example::control;
constexpr std::string_view target = "control_message";

// Byte 0: descriptor count (bits 0-3) and kind (bits 4-5: eventfd, /dev/null, memfd, mix).
void add_frame(std::string_view name, std::uint32_t fds, std::uint32_t kind, std::span<const std::uint8_t> frame)
{
    bytes b;
    b.u8(fds | (kind << 4));
    b.append(frame);
    add(target, name, std::move(b));
}

void add_message(std::string_view name, const control::message& m, std::uint32_t fds, std::uint32_t kind = 0)
{
    std::array<std::byte, control::max_frame_bytes> out{};
    const std::size_t n = control::encode(m, out);
    add_frame(name, fds, kind, std::span(reinterpret_cast<const std::uint8_t*>(out.data()), n));
}

// A raw frame: header with the body's true length unless given.
bytes frame(std::uint32_t type, const bytes& body, std::int64_t length = -1, std::uint32_t reserved = 0)
{
    bytes b;
    b.u32(length < 0 ? static_cast<std::uint32_t>(body.size()) : static_cast<std::uint32_t>(length));
    b.u16(type).u16(reserved).append(body);
    return b;
}

bytes feature(std::string_view key, std::span<const std::uint8_t> value)
{
    bytes b;
    b.u8(static_cast<std::uint32_t>(key.size()));
    for (char c : key)
        b.u8(static_cast<std::uint8_t>(c));
    b.u8(static_cast<std::uint32_t>(value.size())).append(value);
    return b;
}

bytes features(const std::vector<bytes>& entries, std::int64_t count = -1)
{
    bytes b;
    b.u16(count < 0 ? static_cast<std::uint32_t>(entries.size()) : static_cast<std::uint32_t>(count));
    for (const bytes& e : entries)
        b.append(e);
    return b;
}

control::queue_msg queue(std::uint8_t channels)
{
    control::queue_msg q;
    q.index = 1;
    q.event_channels = channels;
    q.tx_ring_offset = 0;
    q.rx_ring_offset = 4096;
    q.tx_grants = {8192, 256, 256};
    q.rx_grants = {8192 + 4096 + 256 * 4096, 256, 256};
    return q;
}

void make()
{
    using control::message_type;
    add_message("hello", control::hello_msg{1, 1}, 0);
    add_message("hello_range", control::hello_msg{1, 7}, 0);
    control::features_msg back;
    back.features.sg = true;
    back.features.gso_tcpv4 = true;
    back.features.gso_tcpv6 = false;
    back.features.rx_copy = true;
    back.features.split_event_channels = true;
    back.features.max_queues = 4;
    back.features.mtu = 9000;
    add_message("features_netback", back, 0);
    control::features_msg front;
    front.features.sg = true;
    front.features.rx_copy = true;
    front.features.num_queues = 2;
    front.features.mac = control::mac_address{0x00, 0x16, 0x3e, 0x01, 0x02, 0x03};
    front.features.mtu = 1500;
    add_message("features_netfront", front, 0);
    add_message("memory", control::memory_msg{1u << 20, {}}, 1, 2);
    add_message("queue_one_channel", queue(1), 2, 0);
    add_message("queue_split_channels", queue(2), 4, 0);
    for (std::uint8_t st = 1; st <= 6; ++st)
        add_message("state_" + std::to_string(st), control::state_msg{static_cast<control::xenbus_state>(st)}, 0);
    add_message("error",
                control::error_msg::make(control::control_error::queues_above_max, "8 queues asked, 4 offered"), 0);

    // Framing.
    const bytes hello_body = bytes().u16(1).u16(1);
    add_frame("bad_header_short", 0, 0, bytes().u32(4).u16(1).view());
    add_frame("bad_oversize", 0, 0, frame(1, hello_body, 1025).view());
    add_frame("bad_body_truncated", 0, 0, frame(1, hello_body, 6).view());
    add_frame("bad_trailing", 0, 0, frame(1, hello_body, 2).view());
    add_frame("bad_reserved", 0, 0, frame(1, hello_body, -1, 1).view());
    add_frame("bad_unknown_type", 0, 0, frame(9, hello_body).view());
    add_frame("bad_unexpected_fds", 2, 1, frame(1, hello_body).view());
    add_frame("bad_fds_beyond_list", 12, 3, frame(1, hello_body).view());
    // Descriptor counts.
    add_frame("bad_memory_no_fd", 0, 0, frame(3, bytes().u64(4096)).view());
    add_frame("bad_memory_two_fds", 2, 2, frame(3, bytes().u64(4096)).view());
    {
        std::array<std::byte, control::max_frame_bytes> out{};
        const std::size_t n = control::encode(queue(2), out);
        const auto q = std::span(reinterpret_cast<const std::uint8_t*>(out.data()), n);
        add_frame("bad_queue_three_fds", 3, 0, q);
        add_frame("bad_queue_eight_fds", 8, 3, q);
    }
    // Field values.
    add_frame("bad_version_zero", 0, 0, frame(1, bytes().u16(0).u16(1)).view());
    add_frame("bad_version_empty", 0, 0, frame(1, bytes().u16(3).u16(2)).view());
    const std::uint8_t one[] = {1}, two[] = {2};
    const std::uint8_t q0[] = {0, 0, 0, 0}, q17[] = {17, 0, 0, 0};
    const std::uint8_t zero_mac[] = {0, 0, 0, 0, 0, 0}, mcast_mac[] = {1, 0, 0, 0, 0, 1};
    const std::uint8_t mtu_small[] = {10, 0, 0, 0};
    add_frame("bad_unknown_feature", 0, 0, frame(2, features({feature("feature-teleport", one)})).view());
    add_frame("bad_duplicate_feature", 0, 0,
              frame(2, features({feature("feature-sg", one), feature("feature-sg", one)})).view());
    add_frame("bad_bool_value", 0, 0, frame(2, features({feature("feature-sg", two)})).view());
    add_frame("bad_value_length", 0, 0, frame(2, features({feature("multi-queue-max-queues", one)})).view());
    add_frame("bad_zero_queues", 0, 0, frame(2, features({feature("multi-queue-num-queues", q0)})).view());
    add_frame("bad_too_many_queues", 0, 0, frame(2, features({feature("multi-queue-max-queues", q17)})).view());
    add_frame("bad_mac_zero", 0, 0, frame(2, features({feature("mac", zero_mac)})).view());
    add_frame("bad_mac_multicast", 0, 0, frame(2, features({feature("mac", mcast_mac)})).view());
    add_frame("bad_mtu", 0, 0, frame(2, features({feature("mtu", mtu_small)})).view());
    add_frame("bad_too_many_entries", 0, 0, frame(2, features({}, 17)).view());
    add_frame("bad_entries_truncated", 0, 0, frame(2, features({feature("feature-sg", one)}, 2)).view());
    add_frame("bad_region_size", 1, 2, frame(3, bytes().u64(4097)).view());
    {
        control::message q = queue(1);
        std::get<control::queue_msg>(q).index = 16;
        add_message("bad_queue_index", q, 2);
        add_message("bad_event_channels", queue(3), 6);
        q = queue(1);
        std::get<control::queue_msg>(q).tx_ring_offset = 100;
        add_message("bad_ring_offset", q, 2);
        q = queue(1);
        std::get<control::queue_msg>(q).rx_grants.refs = 0;
        add_message("bad_grant_area", q, 2);
    }
    add_frame("bad_state", 0, 0, frame(5, bytes().u8(9).u8(0).u8(0).u8(0)).view());
    add_frame("bad_state_reserved", 0, 0, frame(5, bytes().u8(4).u8(0).u8(1).u8(0)).view());
    add_frame("bad_error_text", 0, 0, frame(6, bytes().u16(40).u16(3).u8('a').u8(0x07).u8('b')).view());
    add_frame("bad_error_text_long", 0, 0, frame(6, bytes().u16(40).u16(300).zeros(300)).view());
}

} // namespace control_seeds

// ------------------------------------------------------------------ grant_copy

namespace grant_seeds {

constexpr std::string_view target = "grant_copy";
namespace gf = xnv::fuzz::grant_format;
using xnv::mem::grant_entry;
namespace gtf = xnv::mem::gtf;

constexpr std::uint8_t st(std::uint32_t o, std::uint32_t arg = 0)
{
    return xnv::fuzz::step(o, arg);
}
constexpr std::uint16_t self = 7;

// Copy operands: bits (0 to_grant, 1 no local buffer, 2 u32 reference), reference, offset, length.
void copy(bytes& s, std::uint32_t ref, std::uint32_t offset, std::uint32_t length, bool to_grant = false,
          bool null_local = false)
{
    const bool wide = ref > 0xFF;
    s.u8(st(gf::op_copy)).u8((to_grant ? 1u : 0u) | (null_local ? 2u : 0u) | (wide ? 4u : 0u));
    wide ? s.u32(ref) : s.u8(ref);
    s.u16(offset).u16(length);
}

bytes head(bool table, std::uint32_t refs, std::uint32_t pages)
{
    bytes b;
    b.u8(table ? 1 : 0).u8(refs - 1).u8(pages - 1).u16(self);
    return b;
}

grant_entry entry(std::uint16_t flags, std::uint16_t dom, std::uint32_t frame, std::uint16_t off = 0,
                  std::uint16_t len = 0)
{
    return grant_entry{xnv::mem::grant_header(flags, dom), frame, off, len, 0};
}

void make()
{
    constexpr std::uint16_t rw = gtf::permit_access;
    constexpr std::uint16_t ro = gtf::permit_access | gtf::readonly;
    constexpr std::uint16_t sub = gtf::sub_page;
    // Mode 0: twelve entries of every kind over four pages.
    const grant_entry entries[] = {
        entry(rw, self, 0),                  // 0 whole page, read-write
        entry(ro, self, 1),                  // 1 whole page, read-only
        entry(rw | sub, self, 2, 100, 200),  // 2 window [100, 300)
        entry(rw, self + 1, 3),              // 3 another domain's
        entry(0, self, 0),                   // 4 not granted
        entry(rw, self, 4),                  // 5 frame beyond the pool
        entry(rw | sub, self, 1, 0, 0),      // 6 empty window
        entry(rw | sub, self, 1, 4000, 200), // 7 window beyond the page
        entry(3, self, 1),                   // 8 an unsupported entry type
        entry(rw | gtf::reading, self, 3),   // 9 already marked in use (by someone)
        entry(ro | sub, self, 3, 4095, 1),   // 10 the page's last byte, read-only
        entry(rw, self, 0xFFFFFFFFu),        // 11 a frame index that overflows
    };
    {
        bytes b = head(false, 12, 4);
        for (const grant_entry& e : entries)
            b.raw(e);
        for (std::uint32_t r = 0; r < 13; ++r) {
            copy(b, r, 100, 64);
            copy(b, r, 150, 100, true);
        }
        copy(b, 0, 0, 4096);
        copy(b, 0, 4000, 97);
        copy(b, 0, 4097, 0);
        copy(b, 2, 99, 10);
        copy(b, 2, 290, 10, true);
        copy(b, 10, 4095, 1);
        copy(b, 0, 10, 10, false, true);
        copy(b, 0, 10, 0, false, true);
        copy(b, 70000, 0, 1);
        add(target, "copier_each_entry_kind", std::move(b));
    }
    {
        // Mappings held across copies, a read pin upgraded to write, the entry rewritten while
        // pinned (the pin keeps its private copy), mappings moved onto each other.
        bytes b = head(false, 12, 4);
        for (const grant_entry& e : entries)
            b.raw(e);
        b.u8(st(gf::op_map)).u8(0).u8(st(gf::op_map, 1)).u8(0).u8(st(gf::op_map)).u8(2).u8(st(gf::op_map, 1)).u8(1);
        copy(b, 0, 0, 512, true);
        b.u8(st(gf::op_scribble)).u8(2).u8(1).u32(3);          // frame of entry 2 -> 3
        b.u8(st(gf::op_scribble)).u8(2).u8(2).u32(0x0010FFF0); // window of entry 2
        copy(b, 2, 100, 200, true);
        b.u8(st(gf::op_map, 1)).u8(2).u8(st(gf::op_unmap, 4)).u8(st(gf::op_unmap, 1));
        b.u8(st(gf::op_set_header)).u8(0).u16(rw).u8(self + 2); // entry 0 given to another domain
        copy(b, 0, 0, 16, true);
        b.u8(st(gf::op_unmap)).u8(st(gf::op_unmap)).u8(st(gf::op_unmap));
        copy(b, 0, 0, 16, true);
        b.u8(st(gf::op_copy_batch, 5));
        for (std::uint32_t r = 0; r < 6; ++r)
            b.u8(r & 1).u8(r).u16(r * 16).u16(32);
        add(target, "copier_mappings", std::move(b));
    }
    {
        // A peer that set GTF_writing itself: the copier's last write unpin clears it, and the
        // next copy of the same batch sees the header without it.
        bytes b = head(false, 1, 1);
        b.raw(entry(rw | gtf::writing, self, 0));
        b.u8(st(gf::op_copy_batch, 1)).u8(1).u8(0).u16(0).u16(8).u8(0).u8(0).u16(0).u16(8);
        add(target, "copier_batch_peer_bits", std::move(b));
    }
    {
        // Mode 1: the granting side grants, the copier copies and maps, ends are refused while
        // mapped, pages refused while granted and zeroed when freed, then reused.
        bytes b = head(true, 8, 3);
        b.u8(st(gf::op_alloc_page)).u8(st(gf::op_alloc_page)).u8(st(gf::op_alloc_page)).u8(st(gf::op_alloc_page));
        b.u8(st(gf::op_grant)).u8(0).u16(0).u16(0).u8(0);      // ref 0: page 0, read-write
        b.u8(st(gf::op_grant, 1)).u8(1).u16(0).u16(0).u8(0);   // ref 1: page 1, read-only
        b.u8(st(gf::op_grant)).u8(2).u16(512).u16(1024).u8(0); // ref 2: page 2 window
        b.u8(st(gf::op_grant)).u8(2).u16(0).u16(0).u8(3);      // ref 3: page 2 for domain 2
        b.u8(st(gf::op_grant)).u8(2).u16(4000).u16(200).u8(0); // bad window
        b.u8(st(gf::op_grant)).u8(3).u16(0).u16(0).u8(0);      // no such page
        copy(b, 0, 0, 4096, true);
        copy(b, 1, 0, 100, true);
        copy(b, 1, 0, 100);
        copy(b, 2, 512, 1024, true);
        copy(b, 2, 500, 100);
        copy(b, 3, 0, 10);
        b.u8(st(gf::op_map, 1)).u8(0).u8(st(gf::op_end)).u8(0).u8(st(gf::op_free_page)).u8(0);
        b.u8(st(gf::op_unmap)).u8(st(gf::op_end)).u8(0).u8(st(gf::op_end)).u8(0).u8(st(gf::op_free_page)).u8(0);
        b.u8(st(gf::op_alloc_page)).u8(st(gf::op_grant)).u8(0).u16(0).u16(0).u8(0);
        copy(b, 0, 0, 64);
        b.u8(st(gf::op_end)).u8(1).u8(st(gf::op_end)).u8(2).u8(st(gf::op_end)).u8(3).u8(st(gf::op_end)).u8(9);
        b.u8(st(gf::op_free_page)).u8(1).u8(st(gf::op_free_page)).u8(2).u8(st(gf::op_free_page)).u8(3);
        add(target, "table_grant_copy_end", std::move(b));
    }
    {
        // Mode 1 with a hostile peer: it marks a granted entry in use so the end is refused,
        // points one beyond the pool, and runs out the references.
        bytes b = head(true, 4, 2);
        b.u8(st(gf::op_alloc_page)).u8(st(gf::op_alloc_page));
        for (int i = 0; i < 5; ++i)
            b.u8(st(gf::op_grant)).u8(static_cast<std::uint32_t>(i & 1)).u16(0).u16(0).u8(0);
        b.u8(st(gf::op_set_header)).u8(0).u16(rw | gtf::reading).u8(0);
        b.u8(st(gf::op_end)).u8(0).u8(st(gf::op_scribble)).u8(1).u8(1).u32(2);
        copy(b, 1, 0, 8);
        b.u8(st(gf::op_set_header)).u8(0).u16(rw).u8(0).u8(st(gf::op_end)).u8(0);
        b.u8(st(gf::op_end)).u8(1).u8(st(gf::op_end)).u8(2).u8(st(gf::op_end)).u8(3);
        b.u8(st(gf::op_free_page)).u8(0).u8(st(gf::op_free_page)).u8(1).u8(st(gf::op_alloc_page));
        add(target, "table_hostile_peer", std::move(b));
    }
}

} // namespace grant_seeds

// ------------------------------------------------------------------ output

bool write_or_check(const std::filesystem::path& root, bool check)
{
    namespace fs = std::filesystem;
    bool ok = true;
    for (const seed& s : seeds) {
        const fs::path p = root / s.target / s.name;
        if (check) {
            std::ifstream in(p, std::ios::binary);
            const std::vector<char> got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            if (!in.is_open() || got.size() != s.data.size() ||
                !std::equal(got.begin(), got.end(), s.data.begin(),
                            [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; })) {
                std::fprintf(stderr, "corpus: %s/%s is %s: run xnv_fuzz_make_corpus tests/fuzz/corpus\n",
                             s.target.c_str(), s.name.c_str(), in.is_open() ? "out of date" : "missing");
                ok = false;
            }
        } else {
            fs::create_directories(p.parent_path());
            std::ofstream out(p, std::ios::binary | std::ios::trunc);
            out.write(reinterpret_cast<const char*>(s.data.data()), static_cast<std::streamsize>(s.data.size()));
            if (!out) {
                std::fprintf(stderr, "corpus: cannot write %s\n", p.c_str());
                ok = false;
            }
        }
    }
    return ok;
}

} // namespace

int main(int argc, char** argv)
{
    const bool check = argc == 3 && std::string_view(argv[1]) == "--check";
    if (argc != 2 && !check) {
        std::fprintf(stderr, "usage: xnv_fuzz_make_corpus [--check] <corpus-dir>\n");
        return 2;
    }
    ring_seeds::make();
    netback_seeds::images();
    netback_seeds::scripts();
    netfront_seeds::entries();
    netfront_seeds::scripts();
    control_seeds::make();
    grant_seeds::make();
    const bool ok = write_or_check(argv[argc - 1], check);
    std::printf("corpus: %zu seeds %s\n", seeds.size(), check ? (ok ? "current" : "NOT current") : "written");
    return ok ? 0 : 1;
}
