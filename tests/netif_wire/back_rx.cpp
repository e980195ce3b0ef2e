// SPDX-License-Identifier: MIT
// rx_backend: buffers taken per page-sized chunk (plus one for GSO), the response chain Linux's
// netback writes, "not enough buffers" without taking any, and the caller's own mistakes.

#include <doctest/doctest.h>

#include "support.hpp"

#include <set>
#include <string_view>

namespace {

using namespace wire_test;

TEST_CASE("buffers needed: one per started page, at least one, plus one for GSO")
{
    CHECK(rx_slots_needed(1, {}) == 1);
    CHECK(rx_slots_needed(4096, {}) == 1);
    CHECK(rx_slots_needed(4097, {}) == 2);
    CHECK(rx_slots_needed(65535, {}) == 16);
    CHECK(rx_slots_needed(60, gso_info{gso_type::tcpv4, 1448}) == 2);
    CHECK(rx_slots_needed(max_rx_size, gso_info{gso_type::tcpv6, 1440}) == nr_slots_min + 1);
}

TEST_CASE_TEMPLATE("a one-page packet: one response with offset 0, size as status, checksum flags", L, WIRE_LAYOUTS)
{
    rx_back_rig<L> rig;
    rig.post(4, 10);
    rx_plan plan;
    const auto r = rig.back.reserve(rx_packet_info{1500, rxf::csum_blank | rxf::data_validated, {}}, plan);
    CHECK(r.ok());
    CHECK(r.needed == 1);
    CHECK(r.available == 4);
    REQUIRE(plan.nr_data == 1);
    CHECK(plan.data[0].id == 10);
    CHECK(plan.data[0].gref == 0x100 + 10);
    CHECK(plan.data[0].packet_offset == 0);
    CHECK(plan.data[0].size == 1500);
    CHECK(rig.back.stashed() == 3);
    CHECK(rig.back.respond(plan) == rx_back_error::none);
    CHECK(rig.back.push());
    const auto rsp = rig.responses();
    REQUIRE(rsp.size() == 1);
    CHECK(rsp[0].id == 10);
    CHECK(rsp[0].offset == 0);
    CHECK(rsp[0].status == 1500);
    CHECK(rsp[0].flags == (rxf::csum_blank | rxf::data_validated));
}

TEST_CASE("a multi-page packet: page-sized chunks, more_data on all but the last")
{
    rx_back_rig<> rig;
    rig.post(3);
    rx_plan plan;
    REQUIRE(rig.back.reserve(rx_packet_info{10000, rxf::data_validated, {}}, plan).ok());
    REQUIRE(plan.nr_data == 3);
    CHECK(plan.nr_extras == 0);
    CHECK((plan.data[0].packet_offset == 0 && plan.data[0].size == 4096));
    CHECK((plan.data[1].packet_offset == 4096 && plan.data[1].size == 4096));
    CHECK((plan.data[2].packet_offset == 8192 && plan.data[2].size == 1808));
    CHECK(rig.back.respond(plan) == rx_back_error::none);
    (void)rig.back.push();
    const auto rsp = rig.responses();
    REQUIRE(rsp.size() == 3);
    CHECK(rsp[0].flags == (rxf::more_data | rxf::data_validated));
    CHECK(rsp[1].flags == rxf::more_data);
    CHECK(rsp[2].flags == 0);
    CHECK(rsp[0].id == 0);
    CHECK(rsp[1].id == 1);
    CHECK(rsp[2].id == 2);
    CHECK(rsp[2].status == 1808);
}

TEST_CASE("GSO: the extra-info segment takes the response slot after the first")
{
    rx_back_rig<> rig;
    rig.post(3);
    rx_plan plan;
    REQUIRE(rig.back.reserve(rx_packet_info{5000, 0, gso_info{gso_type::tcpv4, 1448}}, plan).ok());
    REQUIRE(plan.nr_data == 2);
    CHECK(plan.nr_extras == 1);
    CHECK(plan.data[0].id == 0);
    CHECK(plan.data[1].id == 2); // request 1's buffer is used up by the extra-info slot
    CHECK(rig.back.respond(plan) == rx_back_error::none);
    (void)rig.back.push();
    const auto rsp = rig.responses();
    REQUIRE(rsp.size() == 3);
    CHECK(rsp[0].flags == (rxf::more_data | rxf::extra_info));
    CHECK(rsp[0].status == 4096);
    const extra_info e = detail::extra_from_slot(rsp[1]);
    CHECK(e.type == extra_type::gso);
    CHECK(e.flags == 0);
    CHECK(e.u.gso.type == gso_type::tcpv4);
    CHECK(e.u.gso.size == 1448);
    CHECK(rsp[2].id == 2);
    CHECK(rsp[2].status == 904);
    CHECK(rsp[2].flags == 0);
}

TEST_CASE("GSO on a one-page packet: two buffers, the extra follows the only data slot")
{
    rx_back_rig<> rig;
    rig.post(2);
    rx_plan plan;
    REQUIRE(rig.back.reserve(rx_packet_info{100, 0, gso_info{gso_type::tcpv6, 1400}}, plan).ok());
    CHECK(plan.slots() == 2);
    CHECK(rig.back.stashed() == 0);
    CHECK(rig.back.respond(plan) == rx_back_error::none);
    (void)rig.back.push();
    const auto rsp = rig.responses();
    REQUIRE(rsp.size() == 2);
    CHECK(rsp[0].flags == rxf::extra_info);
    CHECK(detail::extra_from_slot(rsp[1]).u.gso.type == gso_type::tcpv6);
}

TEST_CASE_TEMPLATE("too few buffers: reported, none taken, and the event can be armed for the rest", L, WIRE_LAYOUTS)
{
    rx_back_rig<L> rig;
    rig.post(2);
    rx_plan plan;
    const auto r = rig.back.reserve(rx_packet_info{9000, 0, {}}, plan);
    CHECK(r.error == rx_back_error::need_buffers);
    CHECK(r.needed == 3);
    CHECK(r.available == 2);
    CHECK(plan.slots() == 0);
    CHECK(rig.back.available() == 2);
    // Everything posted is in the stash, so the ring can be armed for the shortfall.
    CHECK(rig.ring.final_check(r.needed - r.available).count == 0);
    CHECK(rig.mem.word(L::req_event_offset).load() == 3);
    rig.post(1, 2);
    CHECK(rig.back.reserve(rx_packet_info{9000, 0, {}}, plan).ok());
    CHECK(plan.data[0].id == 0);
    CHECK(plan.data[2].id == 2);
    CHECK(rig.responses().empty());
}

TEST_CASE("the caller's own bad packets are refused")
{
    rx_back_rig<> rig;
    rig.post(20);
    rx_plan plan;
    CHECK(rig.back.reserve(rx_packet_info{0, 0, {}}, plan).error == rx_back_error::empty_packet);
    CHECK(rig.back.reserve(rx_packet_info{max_rx_size + 1, 0, {}}, plan).error == rx_back_error::packet_too_large);
    CHECK(rig.back.reserve(rx_packet_info{100, rxf::more_data, {}}, plan).error == rx_back_error::bad_flags);
    CHECK(rig.back.reserve(rx_packet_info{100, 0, gso_info{3, 100}}, plan).error == rx_back_error::gso_type_unknown);
    CHECK(rig.back.reserve(rx_packet_info{100, 0, gso_info{gso_type::tcpv4, 0}}, plan).error ==
          rx_back_error::gso_size_zero);
    CHECK(rig.back.available() == 20);
    CHECK(rig.back.reserve(rx_packet_info{max_rx_size, 0, {}}, plan).ok());
    CHECK(plan.nr_data == nr_slots_min);
}

TEST_CASE("plans are answered in the order they were reserved")
{
    rx_back_rig<> rig;
    rig.post(4);
    rx_plan a;
    rx_plan b;
    REQUIRE(rig.back.reserve(rx_packet_info{100, 0, {}}, a).ok());
    REQUIRE(rig.back.reserve(rx_packet_info{5000, 0, {}}, b).ok());
    CHECK(b.first_index == a.first_index + 1);
    CHECK(rig.back.respond(b) == rx_back_error::out_of_order);
    CHECK(rig.back.respond(a) == rx_back_error::none);
    CHECK(rig.back.respond(a) == rx_back_error::out_of_order); // twice
    CHECK(rig.back.respond(b) == rx_back_error::none);
    CHECK(rig.back.respond(rx_plan{}) == rx_back_error::out_of_order);
    (void)rig.back.push();
    const auto rsp = rig.responses();
    REQUIRE(rsp.size() == 3);
    CHECK(rsp[0].status == 100);
    CHECK(rsp[1].status == 4096);
    CHECK(rsp[2].status == 904);
}

TEST_CASE("deliver copies every slot and answers a failed copy with an error status")
{
    rx_back_rig<> rig;
    rig.post(3);
    std::vector<rx_slot> seen;
    const auto r = rig.back.deliver(rx_packet_info{9000, 0, {}}, [&](const rx_slot& s) {
        seen.push_back(s);
        return s.packet_offset != 4096; // the second chunk's grant is bad
    });
    CHECK(r.ok());
    REQUIRE(seen.size() == 3);
    CHECK(seen[2].size == 808);
    (void)rig.back.push();
    const auto rsp = rig.responses();
    REQUIRE(rsp.size() == 3);
    CHECK(rsp[0].status == 4096);
    CHECK(rsp[1].status == status::error);
    CHECK(rsp[2].status == 808);
}

TEST_CASE("deliver with too few buffers calls nothing and takes nothing")
{
    rx_back_rig<> rig;
    rig.post(1);
    int calls = 0;
    const auto r = rig.back.deliver(rx_packet_info{100, 0, gso_info{gso_type::tcpv4, 1448}}, [&](const rx_slot&) {
        ++calls;
        return true;
    });
    CHECK(r.error == rx_back_error::need_buffers);
    CHECK(calls == 0);
    CHECK(rig.back.available() == 1);
}

TEST_CASE_TEMPLATE("an impossible req_prod on the RX ring is reported", L, WIRE_LAYOUTS)
{
    rx_back_rig<L> rig;
    rig.mem.word(L::req_prod_offset).store(257);
    rx_plan plan;
    CHECK(rig.back.reserve(rx_packet_info{100, 0, {}}, plan).error == rx_back_error::ring_index_overrun);
    CHECK(rig.back.error() == rx_back_error::ring_index_overrun);
    CHECK(rig.back.available() == 0);
}

TEST_CASE("RX responses across the 2^32 index wrap keep their positions")
{
    rx_back_rig<> rig(16, 0xFFFFFFF0u);
    for (int round = 0; round < 10; ++round) {
        rig.post(3, static_cast<std::uint16_t>(round * 3));
        rx_plan plan;
        REQUIRE(rig.back.reserve(rx_packet_info{9000, 0, {}}, plan).ok());
        CHECK(plan.first_index == 0xFFFFFFF0u + static_cast<std::uint32_t>(round * 3));
        CHECK(rig.back.respond(plan) == rx_back_error::none);
        (void)rig.back.push();
        const auto rsp = rig.responses();
        REQUIRE(rsp.size() == 3);
        CHECK(rsp[0].id == round * 3);
    }
}

TEST_CASE("every RX backend error has a distinct name")
{
    std::set<std::string_view> names;
    const int last = static_cast<int>(rx_back_error::ring_index_overrun);
    for (int e = 0; e <= last; ++e)
        names.insert(to_string(static_cast<rx_back_error>(e)));
    CHECK(names.size() == static_cast<std::size_t>(last + 1));
}

} // namespace
