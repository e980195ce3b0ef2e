// SPDX-License-Identifier: MIT
// rx_frontend: posting, reassembly of multi-slot and GSO packets, every hostile response
// dropped with its reason and its buffers recycled, and each buffer handed back exactly once.

#include <doctest/doctest.h>

#include "support.hpp"

#include <map>
#include <set>
#include <string_view>

namespace {

using namespace wire_test;

constexpr std::uint16_t more = rxf::more_data;

rx_response rsp(std::uint16_t id, std::uint16_t offset, std::uint16_t flags, std::int16_t status)
{
    return rx_response{id, offset, flags, status};
}

TEST_CASE_TEMPLATE("posting writes id = ring index and the grant", L, WIRE_LAYOUTS)
{
    rx_front_rig<L> rig(8, 6);
    rig.post(4);
    const auto q = rig.take();
    REQUIRE(q.size() == 4);
    CHECK(q[0].id == 6);
    CHECK(q[1].id == 7);
    CHECK(q[2].id == 0);
    CHECK(q[3].id == 1);
    CHECK(q[2].gref == 0x502);
    CHECK(rig.front.posted() == 4);
    CHECK(rig.front.check_invariants());
}

TEST_CASE("posting stops when the ring is full")
{
    rx_front_rig<> rig(4);
    rig.post(4);
    CHECK_FALSE(rig.front.try_post(rx_buffer{1, 99}));
    CHECK(rig.front.posted() == 4);
}

TEST_CASE_TEMPLATE("a one-slot packet is delivered with its buffer, offset, size and flags", L, WIRE_LAYOUTS)
{
    rx_front_rig<L> rig;
    rig.post(2);
    rig.take();
    rig.answer({rsp(0, 2, rxf::data_validated, 60)});
    const auto r = rig.poll();
    CHECK(r.ok());
    CHECK(r.packets == 1);
    REQUIRE(rig.packets.size() == 1);
    const rx_packet& p = rig.packets[0];
    CHECK(p.nr_frags == 1);
    CHECK(p.frags[0].cookie == 0);
    CHECK(p.frags[0].gref == 0x500);
    CHECK(p.frags[0].offset == 2);
    CHECK(p.frags[0].size == 60);
    CHECK(p.total == 60);
    CHECK(p.flags == rxf::data_validated);
    CHECK(rig.front.posted() == 1);
    CHECK(rig.front.stats().bytes == 60);
}

TEST_CASE("a multi-slot chain is reassembled in order")
{
    rx_front_rig<> rig;
    rig.post(4);
    rig.take();
    rig.answer({rsp(0, 0, more | rxf::csum_blank, 4096), rsp(1, 0, more, 4096), rsp(2, 0, 0, 100)});
    CHECK(rig.poll().packets == 1);
    REQUIRE(rig.packets.size() == 1);
    const rx_packet& p = rig.packets[0];
    CHECK(p.nr_frags == 3);
    CHECK(p.total == 8292);
    CHECK(p.frags[2].cookie == 2);
    CHECK(p.flags == rxf::csum_blank);
    CHECK(rig.recycled.empty());
}

TEST_CASE("a GSO extra-info slot sets the packet's GSO and recycles its buffer")
{
    rx_front_rig<> rig;
    rig.post(3);
    rig.take();
    rig.answer({rsp(0, 0, more | rxf::extra_info, 4096)});
    rig.answer(gso_extra(gso_type::tcpv4, 1448));
    rig.answer({rsp(2, 0, 0, 500)});
    CHECK(rig.poll().packets == 1);
    REQUIRE(rig.packets.size() == 1);
    CHECK(rig.packets[0].gso == gso_info{gso_type::tcpv4, 1448});
    CHECK(rig.packets[0].nr_frags == 2);
    CHECK(rig.packets[0].frags[1].cookie == 2);
    REQUIRE(rig.recycled.size() == 1);
    CHECK(rig.recycled[0].cookie == 1);
    CHECK(rig.front.stats().extra_slots == 1);
}

TEST_CASE("a GSO extra on a one-slot packet ends the packet")
{
    rx_front_rig<> rig;
    rig.post(3);
    rig.take();
    rig.answer({rsp(0, 0, rxf::extra_info, 1000)});
    rig.answer(gso_extra(gso_type::tcpv6, 1400));
    rig.answer({rsp(2, 0, 0, 70)});
    CHECK(rig.poll().packets == 2);
    REQUIRE(rig.packets.size() == 2);
    CHECK(rig.packets[0].gso.type == gso_type::tcpv6);
    CHECK(rig.packets[1].total == 70);
}

TEST_CASE_TEMPLATE("a chain continuing past rsp_prod waits, holding its buffers", L, WIRE_LAYOUTS)
{
    rx_front_rig<L> rig;
    rig.post(4);
    rig.take();
    rig.answer({rsp(0, 0, more, 4096)});
    CHECK(rig.poll().packets == 0);
    CHECK(rig.front.assembling() == 1);
    CHECK(rig.recycled.empty());
    rig.answer({rsp(1, 0, 0, 10)});
    CHECK(rig.poll().packets == 1);
    CHECK(rig.packets.at(0).total == 4106);
    CHECK(rig.front.assembling() == 0);
}

TEST_CASE("a negative status drops the packet, counts it and recycles every buffer")
{
    rx_front_rig<> rig;
    rig.post(3);
    rig.take();
    rig.answer({rsp(0, 0, more, 4096), rsp(1, 0, more, status::error), rsp(2, 0, 0, 100)});
    const auto r = rig.poll();
    CHECK(r.drops == 1);
    CHECK(r.last_drop == rx_front_error::slot_error);
    CHECK(r.violations == 0);
    CHECK(rig.packets.empty());
    CHECK(rig.recycled.size() == 3);
    CHECK(rig.front.stats().dropped(rx_front_error::slot_error) == 1);
}

TEST_CASE("hostile data responses drop the packet with their reason; the next packet still arrives")
{
    struct hostile {
        const char* what;
        rx_response bad;
        rx_front_error expected;
    };
    for (const hostile& h : {
             hostile{"offset + size beyond the page", rsp(1, 4000, 0, 97), rx_front_error::bad_offset},
             hostile{"size beyond the page", rsp(1, 0, 0, 4097), rx_front_error::bad_offset},
             hostile{"id out of range", rsp(256, 0, 0, 10), rx_front_error::id_out_of_range},
             hostile{"id of a buffer already answered (duplicate)", rsp(0, 0, 0, 10), rx_front_error::id_not_posted},
             hostile{"id never posted", rsp(200, 0, 0, 10), rx_front_error::id_not_posted},
             hostile{"id of a buffer posted at another position", rsp(2, 0, 0, 10), rx_front_error::id_out_of_order},
             hostile{"an empty packet", rsp(1, 0, 0, 0), rx_front_error::empty_packet},
         }) {
        CAPTURE(h.what);
        rx_front_rig<> rig;
        rig.post(3);
        rig.take();
        rig.answer({rsp(0, 0, 0, 60), h.bad, rsp(2, 0, 0, 70)});
        const auto r = rig.poll();
        CHECK(r.ok());
        CHECK(r.packets == 2);
        CHECK(r.drops == 1);
        CHECK(r.last_drop == h.expected);
        CHECK(r.violations == (is_violation(h.expected) ? 1u : 0u));
        REQUIRE(rig.recycled.size() == 1);
        CHECK(rig.recycled[0].cookie == 1);
        CHECK(rig.front.stats().dropped(h.expected) == 1);
        CHECK(rig.front.check_invariants());
    }
}

TEST_CASE("a chain longer than the slot limit is dropped, every buffer recycled")
{
    rx_front_rig<> rig(256, 0, rx_front_config{4});
    rig.post(6);
    rig.take();
    rig.answer({rsp(0, 0, more, 4096), rsp(1, 0, more, 4096), rsp(2, 0, more, 4096), rsp(3, 0, more, 4096),
                rsp(4, 0, 0, 4096)});
    const auto r = rig.poll();
    CHECK(r.drops == 1);
    CHECK(r.last_drop == rx_front_error::too_many_slots);
    CHECK(rig.recycled.size() == 5);
    CHECK(rig.packets.empty());
    CHECK(rig.front.posted() == 1);
}

TEST_CASE("hostile extra-info slots drop the packet")
{
    struct hostile {
        const char* what;
        std::vector<extra_info> extras;
        rx_front_error expected;
    };
    const std::vector<hostile> cases{
        {"type 0", {typed_extra(extra_type::none)}, rx_front_error::extra_type_unknown},
        {"type max", {typed_extra(extra_type::max)}, rx_front_error::extra_type_unknown},
        {"GSO size 0", {gso_extra(gso_type::tcpv4, 0)}, rx_front_error::gso_size_zero},
        {"GSO type 7", {gso_extra(7, 1448)}, rx_front_error::gso_type_unknown},
        {"five chained", std::vector<extra_info>(4, typed_extra(extra_type::hash, extra_flag_more)),
         rx_front_error::too_many_extras},
    };
    for (const hostile& h : cases) {
        CAPTURE(h.what);
        rx_front_rig<> rig;
        rig.post(8);
        rig.take();
        rig.answer({rsp(0, 0, more | rxf::extra_info, 4096)});
        for (const auto& e : h.extras)
            rig.answer(e);
        if (h.expected == rx_front_error::too_many_extras)
            rig.answer(typed_extra(extra_type::hash));
        const auto nextras =
            static_cast<std::uint16_t>(h.extras.size() + (h.expected == rx_front_error::too_many_extras));
        rig.answer({rsp(static_cast<std::uint16_t>(1 + nextras), 0, 0, 100)});
        const auto r = rig.poll();
        CHECK(r.drops == 1);
        CHECK(r.last_drop == h.expected);
        CHECK(rig.packets.empty());
        CHECK(rig.recycled.size() == 2u + nextras);
        CHECK(rig.front.check_invariants());
    }
}

TEST_CASE("a chain still open when every posted buffer is answered is dropped as truncated")
{
    rx_front_rig<> rig;
    rig.post(2);
    rig.take();
    rig.answer({rsp(0, 0, more, 4096), rsp(1, 0, more, 4096)});
    const auto r = rig.poll();
    CHECK(r.drops == 1);
    CHECK(r.last_drop == rx_front_error::chain_truncated);
    CHECK(rig.recycled.size() == 2);
    CHECK(rig.front.assembling() == 0);
    // Reposting and a fresh packet work.
    rig.post(1, 10);
    rig.take();
    rig.answer({rsp(2, 0, 0, 64)}); // posted at ring index 2
    CHECK(rig.poll().packets == 1);
    CHECK(rig.packets.at(0).frags[0].cookie == 10);
}

TEST_CASE_TEMPLATE("an impossible rsp_prod is fatal and sticky; drain returns every buffer", L, WIRE_LAYOUTS)
{
    rx_front_rig<L> rig;
    rig.post(3);
    rig.take();
    rig.answer({rsp(0, 0, more, 4096)});
    CHECK(rig.poll().ok());
    rig.mem.word(L::rsp_prod_offset).store(4); // three posted, four answered
    const auto r = rig.poll();
    CHECK(r.fatal == rx_front_error::ring_index_overrun);
    CHECK(is_fatal(r.fatal));
    CHECK(rig.front.error() == rx_front_error::ring_index_overrun);
    CHECK(rig.poll().fatal == rx_front_error::ring_index_overrun);
    CHECK_FALSE(rig.front.try_post(rx_buffer{1, 1}));
    rig.front.drain([&](const rx_buffer& b) { rig.recycled.push_back(b); });
    std::set<std::uint32_t> cookies;
    for (const auto& b : rig.recycled)
        cookies.insert(b.cookie);
    CHECK(cookies == std::set<std::uint32_t>{0, 1, 2});
    CHECK(rig.recycled.size() == 3);
    CHECK(rig.front.posted() == 0);
}

TEST_CASE("the budget bounds the responses consumed per poll")
{
    rx_front_rig<> rig;
    rig.post(10);
    rig.take();
    for (std::uint16_t i = 0; i < 10; ++i)
        rig.answer({rsp(i, 0, 0, 60)});
    const auto r = rig.front.poll([](const rx_packet&) {}, [](const rx_buffer&) {}, 4);
    CHECK(r.responses == 4);
    CHECK(r.packets == 4);
    CHECK(rig.front.posted() == 6);
}

TEST_CASE("a configuration out of range, or a ring larger than the slot table, is refused")
{
    rx_front_rig<> rig;
    CHECK_THROWS_WITH_AS(rx_frontend<>(rig.ring, rx_front_config{0}), doctest::Contains("max_slots"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(rx_frontend<>(rig.ring, rx_front_config{19}), doctest::Contains("max_slots"),
                         std::invalid_argument);
    using small = rx_frontend<xnv::layout::xen_abi, 64>;
    CHECK_THROWS_WITH_AS(small(rig.ring), doctest::Contains("cannot serve a ring of 256"), std::invalid_argument);
}

TEST_CASE("random hostile responses never lose or duplicate a buffer")
{
    rng g(7);
    for (int round = 0; round < 200; ++round) {
        rx_front_rig<> rig(32, static_cast<std::uint32_t>(g.next()));
        std::map<std::uint32_t, int> returned;
        auto count = [&](std::uint32_t c) { ++returned[c]; };
        std::uint32_t next_cookie = 0;
        std::uint32_t outstanding = 0;
        for (int step = 0; step < 20 && rig.front.error() == rx_front_error::none; ++step) {
            const std::uint32_t n = g.below(8);
            for (std::uint32_t i = 0; i < n; ++i)
                if (rig.front.try_post(rx_buffer{0x500 + next_cookie, next_cookie})) {
                    ++next_cookie;
                    ++outstanding;
                }
            (void)rig.front.push();
            const auto q = rig.take();
            for (std::size_t i = 0; i < q.size(); ++i) {
                rx_response r{};
                switch (g.below(4)) {
                case 0:
                    r = rsp(q[i].id, 0, static_cast<std::uint16_t>(g.below(2) != 0 ? more : 0),
                            static_cast<std::int16_t>(g.below(4096)));
                    break;
                case 1:
                    r = rsp(q[i].id, static_cast<std::uint16_t>(g.below(5000)), static_cast<std::uint16_t>(g.below(32)),
                            static_cast<std::int16_t>(static_cast<int>(g.below(6000)) - 100));
                    break;
                case 2:
                    r = rsp(static_cast<std::uint16_t>(g.below(64)), 0, static_cast<std::uint16_t>(g.below(32)), 64);
                    break;
                default: {
                    extra_info e =
                        typed_extra(static_cast<std::uint8_t>(g.below(6)), static_cast<std::uint8_t>(g.below(2)));
                    e.u.gso.type = static_cast<std::uint8_t>(g.below(3));
                    e.u.gso.size = static_cast<std::uint16_t>(g.below(2000));
                    r = detail::slot_from_extra<rx_response>(e);
                }
                }
                REQUIRE(rig.back.try_produce(r));
            }
            rig.back.publish();
            (void)rig.front.poll(
                [&](const rx_packet& p) {
                    for (std::uint32_t i = 0; i < p.nr_frags; ++i)
                        count(p.frags[i].cookie);
                },
                [&](const rx_buffer& b) { count(b.cookie); });
            CHECK(rig.front.check_invariants());
        }
        rig.front.drain([&](const rx_buffer& b) { count(b.cookie); });
        CHECK(returned.size() == next_cookie);
        for (const auto& [cookie, times] : returned)
            CHECK(times == 1);
    }
}

TEST_CASE("every frontend RX error has a distinct name and a class")
{
    std::set<std::string_view> names;
    for (std::size_t e = 0; e < rx_front_error_count; ++e)
        names.insert(to_string(static_cast<rx_front_error>(e)));
    CHECK(names.size() == rx_front_error_count);
    CHECK_FALSE(is_violation(rx_front_error::slot_error));
    CHECK(is_violation(rx_front_error::bad_offset));
    CHECK_FALSE(is_fatal(rx_front_error::bad_offset));
    CHECK(is_fatal(rx_front_error::unposted_slot));
}

} // namespace
