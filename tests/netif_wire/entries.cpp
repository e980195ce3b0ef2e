// SPDX-License-Identifier: MIT
// The fuzzing entry points: crafted inputs give the expected counts, bad images are refused
// without being read, and a few hundred random inputs find no broken invariant.

#include <doctest/doctest.h>

#include "support.hpp"

#include <vector>

namespace {

using namespace wire_test;

// Lay requests into an image as a frontend would (slots from `start`, req_prod after them).
template <class L>
void lay_requests(std::span<std::byte> image, std::uint32_t start, const std::vector<tx_request>& reqs)
{
    const std::uint32_t size = xnv::ring_entries_for<tx_request, tx_response, L>(image.size());
    for (std::size_t k = 0; k < reqs.size(); ++k) {
        const std::size_t slot = (start + k) & (size - 1);
        std::memcpy(image.data() + L::header_bytes + slot * sizeof(xnv::ring_slot<tx_request, tx_response>), &reqs[k],
                    sizeof(tx_request));
    }
    const std::uint32_t prod = start + static_cast<std::uint32_t>(reqs.size());
    std::memcpy(image.data() + L::req_prod_offset, &prod, sizeof prod);
}

TEST_CASE_TEMPLATE("the TX backend image runner: ok, drop and fatal packets counted", L, WIRE_LAYOUTS)
{
    alignas(64) std::array<std::byte, page_size> image{};
    const std::uint32_t start = 0xFFFFFFFDu;
    lay_requests<L>(image, start,
                    {req(1, 0, txf::more_data, 1, 200), req(2, 0, 0, 2, 100), // ok
                     req(3, 0, 0, 3, 5),                                      // drop: too short
                     req(4, 0, 0, 4, 60),                                     // ok
                     req(5, 4000, 0, 5, 200)});                               // fatal: crosses the page
    const auto rep = run_tx_backend_on_image<L>(image, start);
    CHECK(rep.attached);
    CHECK(rep.packets == 2);
    CHECK(rep.drops == 1);
    CHECK(rep.responses == 4);
    CHECK(rep.last == tx_verdict::fatal);
    CHECK(rep.error == tx_error::slot_crosses_page);
    CHECK(rep.defects == 0);
    // The responses were written where the frontend would read them.
    const std::uint32_t rsp_prod = [&] {
        std::uint32_t v;
        std::memcpy(&v, image.data() + L::rsp_prod_offset, sizeof v);
        return v;
    }();
    CHECK(rsp_prod == start + 4);
}

TEST_CASE("the TX backend image runner refuses memory it cannot attach to")
{
    alignas(64) std::array<std::byte, page_size + 8> image{};
    CHECK_FALSE(run_tx_backend_on_image(std::span<std::byte>(image.data() + 4, page_size)).attached);
    CHECK_FALSE(run_tx_backend_on_image(std::span<std::byte>(image.data(), 64)).attached);
    CHECK_FALSE(run_tx_backend_on_image(std::span<std::byte>(image.data(), page_size), 0, tx_limits{0, 0, 0}).attached);
    CHECK(run_tx_backend_on_image(std::span<std::byte>(image.data(), 64 + 12)).attached);
}

TEST_CASE_TEMPLATE("random TX ring images never break the parser's invariants", L, WIRE_LAYOUTS)
{
    rng g(99);
    alignas(64) std::array<std::byte, page_size> image{};
    for (int round = 0; round < 300; ++round) {
        const std::uint32_t start = static_cast<std::uint32_t>(g.next());
        // Mostly well-formed-looking slots with random damage, so the chains get long.
        for (std::size_t off = 0; off + 4 <= image.size(); off += 4) {
            const std::uint32_t w = static_cast<std::uint32_t>(g.next());
            std::memcpy(image.data() + off, &w, 4);
        }
        const std::uint32_t n = g.below(300);
        const std::uint32_t size = xnv::ring_entries_for<tx_request, tx_response, L>(image.size());
        for (std::uint32_t k = 0; k < n && k < size; ++k) {
            tx_request r{};
            std::memcpy(&r, image.data() + L::header_bytes + ((start + k) & (size - 1)) * 12, sizeof r);
            if (g.below(4) != 0) {
                r.offset = static_cast<std::uint16_t>(r.offset % 4096);
                r.size = static_cast<std::uint16_t>(r.size % 4096);
                r.flags = static_cast<std::uint16_t>(r.flags & 0xF);
            }
            std::memcpy(image.data() + L::header_bytes + ((start + k) & (size - 1)) * 12, &r, sizeof r);
        }
        const std::uint32_t prod = start + n;
        std::memcpy(image.data() + L::req_prod_offset, &prod, sizeof prod);
        const tx_limits limits{1 + g.below(nr_slots_min), nr_slots_min + g.below(10), 1 + g.below(100)};
        const auto rep = run_tx_backend_on_image<L>(image, start, limits);
        REQUIRE(rep.attached);
        CHECK(rep.defects == 0);
        CHECK(rep.last != tx_verdict::ok);
    }
}

TEST_CASE_TEMPLATE("the RX frontend runner: a valid chain is delivered, every buffer returned", L, WIRE_LAYOUTS)
{
    const std::vector<rx_response> rs{rx_response{5, 0, rxf::more_data | rxf::extra_info, 4096},
                                      detail::slot_from_extra<rx_response>(gso_extra(gso_type::tcpv4, 1448)),
                                      rx_response{7, 0, 0, 100}, rx_response{8, 0, 0, 60}};
    const auto rep = run_rx_frontend_on_responses<L>(5, 6, 4, rs);
    CHECK(rep.attached);
    CHECK(rep.posted == 6);
    CHECK(rep.packets == 2);
    CHECK(rep.drops == 0);
    CHECK(rep.delivered_buffers == 3);
    CHECK(rep.recycled_buffers == 3); // the extra-info slot's buffer and two drained
    CHECK(rep.fatal == rx_front_error::none);
    CHECK(rep.defects == 0);
}

TEST_CASE("the RX frontend runner: more responses than buffers is fatal, buffers still returned")
{
    const std::vector<rx_response> rs{rx_response{0, 0, 0, 100}};
    const auto rep = run_rx_frontend_on_responses(0, 2, 3, rs);
    CHECK(rep.fatal == rx_front_error::ring_index_overrun);
    CHECK(rep.recycled_buffers == 2);
    CHECK(rep.defects == 0);
    CHECK_FALSE(run_rx_frontend_on_responses(0, 2, 1, rs, rx_front_config{0}).attached);
}

TEST_CASE_TEMPLATE("random RX responses never lose or duplicate a buffer", L, WIRE_LAYOUTS)
{
    rng g(3);
    std::vector<rx_response> rs(256);
    for (int round = 0; round < 300; ++round) {
        for (auto& r : rs) {
            r.id = static_cast<std::uint16_t>(g.below(4) == 0 ? g.below(300) : 0);
            r.offset = static_cast<std::uint16_t>(g.below(3) == 0 ? g.below(5000) : 0);
            r.flags = static_cast<std::uint16_t>(g.below(32));
            r.status = static_cast<std::int16_t>(static_cast<int>(g.below(5000)) - 300);
        }
        const std::uint32_t start = static_cast<std::uint32_t>(g.next());
        const std::uint32_t posted = g.below(257);
        // Ids mostly right for their position, so long chains form.
        for (std::uint32_t k = 0; k < rs.size(); ++k)
            if (g.below(4) != 0)
                rs[k].id = static_cast<std::uint16_t>((start + k) & 255);
        const std::uint32_t count = g.below(8) == 0 ? posted + 1 + g.below(3) : g.below(posted + 1);
        const auto rep =
            run_rx_frontend_on_responses<L>(start, posted, count, rs, rx_front_config{1 + g.below(nr_slots_min)});
        CHECK(rep.defects == 0);
        CHECK(rep.posted == posted);
    }
}

TEST_CASE("the TX frontend runner: answered packets complete, the rest drain")
{
    const std::vector<std::uint8_t> packets{0, 2, 0x80};
    // Packet 0: id 0. Packet 1: ids 1..3. Packet 2: id 4 plus an extra-info slot.
    const std::vector<tx_response> rs{tx_response{0, status::okay}, tx_response{4, status::okay},
                                      tx_response{0, status::null}, tx_response{2, status::error}};
    const auto rep = run_tx_frontend_on_responses(0, packets, 4, rs);
    CHECK(rep.packets == 3);
    CHECK(rep.slots == 6);
    CHECK(rep.completed == 3);
    CHECK(rep.packets_done == 2);
    CHECK(rep.error == tx_front_error::none);
    CHECK(rep.defects == 0);
}

TEST_CASE_TEMPLATE("random TX responses never lose an id or complete a buffer twice", L, WIRE_LAYOUTS)
{
    rng g(17);
    std::vector<std::uint8_t> packets(64);
    std::vector<tx_response> rs(256);
    for (int round = 0; round < 300; ++round) {
        for (auto& b : packets)
            b = static_cast<std::uint8_t>(g.next());
        const std::uint32_t npk = g.below(65);
        for (auto& r : rs) {
            r.id = static_cast<std::uint16_t>(g.below(6) == 0 ? g.below(400) : g.below(64));
            const std::int16_t st[] = {status::okay, status::okay, status::error, status::dropped, status::null, 3};
            r.status = st[g.below(6)];
        }
        const auto rep = run_tx_frontend_on_responses<L>(
            static_cast<std::uint32_t>(g.next()), std::span<const std::uint8_t>(packets.data(), npk), g.below(300), rs);
        CHECK(rep.defects == 0);
    }
}

} // namespace
