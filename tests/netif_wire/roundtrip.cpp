// SPDX-License-Identifier: MIT
// The two halves against each other: chains built by tx_frontend parse in tx_backend into the
// same fragments, RX chains written by rx_backend reassemble in rx_frontend into the same
// packets, and after many random cycles no id or buffer is lost. One test runs the TX pair on
// two threads so ThreadSanitizer sees the real hand-off.

#include <doctest/doctest.h>

#include "support.hpp"

#include <atomic>
#include <deque>
#include <map>
#include <thread>

namespace {

using namespace wire_test;

struct sent_packet {
    std::vector<tx_buffer> bufs;
    std::uint32_t total = 0;
    gso_info gso{};
    std::uint16_t flags = 0;
};

TEST_CASE_TEMPLATE("TX chains from the frontend parse into the same fragments; every id comes back", L, WIRE_LAYOUTS)
{
    ring_memory<tx_request, tx_response, L> mem(256);
    xnv::front_ring<tx_request, tx_response, L> fr(xnv::ring_init, mem.span, 0xFFFFFF00u);
    xnv::back_ring<tx_request, tx_response, L> br(mem.span, 0xFFFFFF00u);
    tx_frontend<L> front(fr);
    tx_backend<L> back(br);
    rng g(11);
    std::deque<sent_packet> in_flight;
    std::map<std::uint32_t, int> completed; // cookie -> completions
    std::uint32_t next_cookie = 0;
    std::uint32_t packets_ok = 0;
    std::uint32_t packets_done = 0;
    std::uint32_t errors_seen = 0;

    for (int round = 0; round < 300; ++round) {
        // Submit random packets until the ring is full (or a few per round).
        for (int k = 0; k < 8; ++k) {
            const std::uint32_t len = 14 + g.below(65535 - 14 + 1);
            const auto first_offset = static_cast<std::uint16_t>(g.below(4096 - 14));
            sent_packet sp;
            sp.total = len;
            sp.flags = static_cast<std::uint16_t>(g.below(4));
            if (g.below(4) == 0)
                sp.gso = gso_info{g.below(2) ? gso_type::tcpv4 : gso_type::tcpv6,
                                  static_cast<std::uint16_t>(536 + g.below(9000))};
            const auto r = front.try_submit_chunks(
                len, first_offset, tx_meta{sp.flags, sp.gso}, [&](std::uint32_t i, std::uint32_t, std::uint16_t n) {
                    const tx_buffer b{0x10000 + next_cookie + i, i == 0 ? first_offset : std::uint16_t{0}, n,
                                      next_cookie + i};
                    sp.bufs.push_back(b);
                    return b;
                });
            if (r.error == tx_submit_error::no_room)
                break;
            REQUIRE(r.ok());
            next_cookie += static_cast<std::uint32_t>(sp.bufs.size());
            in_flight.push_back(std::move(sp));
        }
        (void)front.push();

        // The backend parses everything published and answers, one packet in seven with an error.
        tx_packet p;
        for (;;) {
            const auto r = back.parse(p);
            if (r.verdict == tx_verdict::empty)
                break;
            REQUIRE(r.verdict == tx_verdict::ok);
            REQUIRE(!in_flight.empty());
            const sent_packet sp = in_flight.front();
            in_flight.pop_front();
            CHECK(p.total == sp.total);
            CHECK(p.gso == sp.gso);
            CHECK(p.flags == sp.flags);
            REQUIRE(p.nr_frags == sp.bufs.size());
            for (std::uint32_t i = 0; i < p.nr_frags; ++i) {
                CHECK(p.frags[i].gref == sp.bufs[i].gref);
                CHECK(p.frags[i].offset == sp.bufs[i].offset);
                CHECK(p.frags[i].size == sp.bufs[i].size);
            }
            ++packets_ok;
            CHECK(back.respond(p, g.below(7) == 0 ? status::error : status::okay));
        }
        (void)back.push();

        const auto rr = front.reclaim([&](const tx_completion& c) {
            ++completed[c.cookie];
            packets_done += c.packet_done ? 1u : 0u;
            errors_seen += c.packet_done && c.packet_status == status::error ? 1u : 0u;
        });
        REQUIRE(rr.ok());
        REQUIRE(front.check_invariants());
    }
    CHECK(in_flight.empty());
    CHECK(packets_ok > 300);
    CHECK(packets_done == packets_ok);
    CHECK(errors_seen > 0);
    CHECK(completed.size() == next_cookie);
    for (const auto& [cookie, n] : completed)
        CHECK(n == 1);
    CHECK(front.ids_free() == front.ids_total());
    CHECK(front.in_flight() == 0);
    CHECK(back.owed() == 0);
}

TEST_CASE_TEMPLATE("RX packets delivered by the backend reassemble in the frontend; every buffer recycled once", L,
                   WIRE_LAYOUTS)
{
    ring_memory<rx_request, rx_response, L> mem(64);
    xnv::front_ring<rx_request, rx_response, L> fr(xnv::ring_init, mem.span, 0xFFFFFFF0u);
    xnv::back_ring<rx_request, rx_response, L> br(mem.span, 0xFFFFFFF0u);
    rx_frontend<L> front(fr);
    rx_backend<L> back(br);
    rng g(5);

    std::map<grant_ref, std::uint32_t> cookie_of_gref;
    std::map<std::uint32_t, int> returned;
    std::uint32_t next_cookie = 0;
    std::deque<rx_packet_info> expected;
    std::uint32_t delivered = 0;
    std::uint32_t waits = 0;
    std::vector<std::uint32_t> to_repost;

    auto post_some = [&](std::uint32_t n) {
        for (std::uint32_t i = 0; i < n; ++i) {
            const rx_buffer b{0x9000 + next_cookie, next_cookie};
            if (!front.try_post(b))
                break;
            cookie_of_gref[b.gref] = b.cookie;
            ++next_cookie;
        }
        (void)front.push();
    };
    auto on_packet = [&](const rx_packet& p) {
        REQUIRE(!expected.empty());
        const rx_packet_info want = expected.front();
        expected.pop_front();
        CHECK(p.total == want.size);
        CHECK(p.flags == want.flags);
        CHECK(p.gso == want.gso);
        CHECK(p.nr_frags == (want.size + page_size - 1) / page_size);
        for (std::uint32_t i = 0; i < p.nr_frags; ++i) {
            CHECK(p.frags[i].offset == 0);
            CHECK(p.frags[i].size == std::min(page_size, want.size - i * page_size));
            CHECK(cookie_of_gref[p.frags[i].gref] == p.frags[i].cookie);
            ++returned[p.frags[i].cookie];
        }
        ++delivered;
    };
    auto on_recycle = [&](const rx_buffer& b) { ++returned[b.cookie]; };

    post_some(64);
    for (int round = 0; round < 400; ++round) {
        rx_packet_info info{1 + g.below(65535), static_cast<std::uint16_t>(g.below(4)), {}};
        if (g.below(3) == 0)
            info.gso = gso_info{gso_type::tcpv4, static_cast<std::uint16_t>(1 + g.below(9000))};
        const auto r = back.deliver(info, [&](const rx_slot& s) { return s.size != 0; });
        if (r.error == rx_back_error::need_buffers) {
            ++waits;
        } else {
            REQUIRE(r.ok());
            expected.push_back(info);
        }
        (void)back.push();
        const auto pr = front.poll(on_packet, on_recycle);
        REQUIRE(pr.ok());
        CHECK(pr.drops == 0);
        REQUIRE(front.check_invariants());
        post_some(g.below(16));
    }
    CHECK(expected.empty());
    CHECK(delivered > 100);
    CHECK(waits > 0);
    front.drain(on_recycle);
    // Every buffer the backend stashed but never used is still owed by the ring, not lost: the
    // frontend's drain returns it with the rest.
    CHECK(returned.size() == next_cookie);
    for (const auto& [cookie, n] : returned)
        CHECK(n == 1);
}

TEST_CASE("TX frontend and backend on two threads: every packet parsed intact and answered")
{
    constexpr std::uint32_t packets = 3000;
    ring_memory<tx_request, tx_response, xnv::layout::xen_abi> mem(256);
    xnv::front_ring<tx_request, tx_response> fr(xnv::ring_init, mem.span);
    xnv::back_ring<tx_request, tx_response> br(mem.span);

    // Packet k: 1 + k % 18 slots; slot i holds 14 + (7k + 13i) % 3000 bytes in gref 32k + i.
    auto slot_size = [](std::uint32_t k, std::uint32_t i) {
        return static_cast<std::uint16_t>(14 + (7 * k + 13 * i) % 3000);
    };
    std::uint32_t bad = 0;
    std::uint32_t parsed = 0;

    std::thread backend([&] {
        tx_backend<> back(br);
        tx_packet p;
        while (parsed < packets) {
            const auto r = back.parse(p);
            if (r.verdict == tx_verdict::empty || r.verdict == tx_verdict::incomplete) {
                (void)back.push();
                std::this_thread::yield();
                continue;
            }
            if (r.verdict != tx_verdict::ok) {
                ++bad;
                break;
            }
            const std::uint32_t k = p.frags[0].gref / 32;
            bad += p.nr_frags == 1 + k % 18 ? 0u : 1u;
            bad += p.gso.present() == (k % 5 == 0) ? 0u : 1u;
            for (std::uint32_t i = 1; i < p.nr_frags; ++i)
                bad += p.frags[i].gref == 32 * k + i && p.frags[i].size == slot_size(k, i) ? 0u : 1u;
            bad += back.respond(p, status::okay) ? 0u : 1u;
            ++parsed;
        }
        (void)back.push();
    });

    tx_frontend<> front(fr);
    std::uint32_t sent = 0;
    std::uint32_t done = 0;
    std::uint32_t front_errors = 0;
    while (done < packets && front_errors == 0) {
        if (sent < packets) {
            const std::uint32_t n = 1 + sent % 18;
            std::array<tx_buffer, nr_slots_min> bufs{};
            for (std::uint32_t i = 0; i < n; ++i)
                bufs[i] = tx_buffer{32 * sent + i, 0, slot_size(sent, i), sent};
            const tx_meta meta{0, sent % 5 == 0 ? gso_info{gso_type::tcpv4, 1448} : gso_info{}};
            const auto r = front.try_submit(std::span<const tx_buffer>(bufs.data(), n), meta);
            if (r.ok()) {
                ++sent;
                (void)front.push();
                continue;
            }
            front_errors += r.error == tx_submit_error::no_room ? 0u : 1u;
        }
        const auto rr = front.reclaim([&](const tx_completion& c) { done += c.packet_done ? 1u : 0u; });
        front_errors += rr.ok() ? 0u : 1u;
        std::this_thread::yield();
    }
    backend.join();
    CHECK(bad == 0);
    CHECK(front_errors == 0);
    CHECK(parsed == packets);
    CHECK(done == packets);
    CHECK(front.ids_free() == front.ids_total());
}

} // namespace
