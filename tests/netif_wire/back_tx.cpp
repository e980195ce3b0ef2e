// SPDX-License-Identifier: MIT
// tx_backend: every rule of Linux netback's TX request validation, fed the exact slots that
// break it, with the verdict, the reason and the responses checked.

#include <doctest/doctest.h>

#include "support.hpp"

#include <set>
#include <string_view>

namespace {

using namespace wire_test;
using xnv::layout::padded;
using xnv::layout::xen_abi;

constexpr std::uint16_t more = txf::more_data;
constexpr std::uint16_t extra = txf::extra_info;

// Publish a packet of `n` slots: first slot 100 bytes (total 100 + 10 * (n - 1)), later ones
// 10 bytes each, ids base, base + 1, ...
template <class Rig> void put_chain(Rig& rig, unsigned n, std::uint16_t base = 0)
{
    for (unsigned i = 0; i < n; ++i) {
        const bool last = i + 1 == n;
        const auto size = static_cast<std::uint16_t>(i == 0 ? 100 + 10 * (n - 1) : 10);
        rig.put(req(1000 + i, 0, last ? 0 : more, static_cast<std::uint16_t>(base + i), size));
    }
    rig.publish();
}

TEST_CASE_TEMPLATE("a one-slot packet parses into one fragment and is answered with its id", L, WIRE_LAYOUTS)
{
    tx_back_rig<L> rig;
    rig.put_all({req(7, 64, txf::csum_blank | txf::data_validated, 42, 60)});
    tx_packet p;
    const auto r = rig.parse(p);
    CHECK(r == tx_parse_result{tx_verdict::ok, tx_error::none, 1});
    CHECK(p.nr_frags == 1);
    CHECK(p.frags[0] == tx_fragment{7, 64, 60});
    CHECK(p.total == 60);
    CHECK(p.flags == (txf::csum_blank | txf::data_validated));
    CHECK_FALSE(p.gso.present());
    CHECK(p.nr_ids == 1);
    CHECK(p.ids[0] == 42);
    CHECK(rig.back.owed() == 1);
    CHECK(rig.back.respond(p, status::okay));
    CHECK(rig.back.owed() == 0);
    (void)rig.back.push();
    const auto rsp = rig.responses();
    REQUIRE(rsp.size() == 1);
    CHECK(rsp[0].id == 42);
    CHECK(rsp[0].status == status::okay);
    CHECK(rig.parse(p).verdict == tx_verdict::empty);
}

TEST_CASE("a multi-slot packet: the first fragment keeps the total minus the later slots")
{
    tx_back_rig<> rig;
    rig.put_all({req(1, 10, more, 5, 3000), req(2, 0, more, 6, 1000), req(3, 100, 0, 7, 500)});
    tx_packet p;
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::ok, tx_error::none, 3});
    REQUIRE(p.nr_frags == 3);
    CHECK(p.frags[0] == tx_fragment{1, 10, 1500});
    CHECK(p.frags[1] == tx_fragment{2, 0, 1000});
    CHECK(p.frags[2] == tx_fragment{3, 100, 500});
    CHECK(p.total == 3000);
    CHECK(p.nr_ids == 3);
    CHECK(p.ids[0] == 5);
    CHECK(p.ids[2] == 7);
}

TEST_CASE("only the checksum flags of the first slot are reported")
{
    tx_back_rig<> rig;
    rig.put_all({req(1, 0, more | txf::csum_blank, 1, 100), req(2, 0, txf::data_validated, 2, 50)});
    tx_packet p;
    REQUIRE(rig.parse(p).verdict == tx_verdict::ok);
    CHECK(p.flags == txf::csum_blank);
}

TEST_CASE("consecutive packets parse one after another from one batch")
{
    tx_back_rig<> rig;
    put_chain(rig, 2, 10);
    put_chain(rig, 1, 20);
    put_chain(rig, 3, 30);
    tx_packet p;
    CHECK(rig.parse(p).slots == 2);
    CHECK(p.ids[0] == 10);
    CHECK(rig.back.staged() == 4); // the rest of the batch is held privately
    CHECK(rig.parse(p).slots == 1);
    CHECK(p.ids[0] == 20);
    CHECK(rig.parse(p).slots == 3);
    CHECK(p.ids[0] == 30);
    CHECK(rig.parse(p).verdict == tx_verdict::empty);
}

TEST_CASE("a GSO extra-info slot is parsed and answered with NULL after the first slot")
{
    tx_back_rig<> rig;
    rig.put(req(1, 0, more | extra | txf::csum_blank, 11, 9000));
    rig.put(gso_extra(gso_type::tcpv4, 1448));
    rig.put(req(2, 0, more, 12, 4096));
    rig.put(req(3, 0, 0, 13, 4000));
    rig.publish();
    tx_packet p;
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::ok, tx_error::none, 4});
    CHECK(p.gso == gso_info{gso_type::tcpv4, 1448});
    CHECK(p.nr_extras == 1);
    CHECK(p.nr_frags == 3);
    CHECK(p.frags[0].size == 904);
    CHECK(rig.back.respond(p, status::okay));
    (void)rig.back.push();
    const auto rsp = rig.responses();
    REQUIRE(rsp.size() == 4);
    CHECK(rsp[0].id == 11);
    CHECK(rsp[0].status == status::okay);
    CHECK(rsp[1].status == status::null);
    CHECK(rsp[2].id == 12);
    CHECK(rsp[3].id == 13);
}

TEST_CASE("chained extra-info segments (EXTRA_FLAG_MORE) are all consumed")
{
    tx_back_rig<> rig;
    rig.put(req(1, 0, extra, 1, 100));
    rig.put(gso_extra(gso_type::tcpv6, 1400, extra_flag_more));
    extra_info h = typed_extra(extra_type::hash);
    h.u.hash.type = 3;
    h.u.hash.value[0] = 0xAB;
    rig.put(h);
    rig.publish();
    tx_packet p;
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::ok, tx_error::none, 3});
    CHECK(p.gso == gso_info{gso_type::tcpv6, 1400});
    CHECK(p.hash.type == extra_type::hash);
    CHECK(p.hash.u.hash.value[0] == 0xAB);
    CHECK(p.nr_extras == 2);
}

TEST_CASE("a multicast add or delete is a control request answered like a packet")
{
    tx_back_rig<> rig;
    extra_info add = typed_extra(extra_type::mcast_add);
    const std::array<std::uint8_t, 6> mac{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
    std::copy(mac.begin(), mac.end(), add.u.mcast.addr);
    rig.put(req(1, 0, extra, 9, 0));
    rig.put(add);
    rig.publish();
    tx_packet p;
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::control, tx_error::none, 2});
    CHECK(p.mcast_op == extra_type::mcast_add);
    CHECK(p.mcast_addr == mac);
    CHECK(rig.back.respond(p, status::okay));
    (void)rig.back.push();
    const auto rsp = rig.responses();
    REQUIRE(rsp.size() == 2);
    CHECK(rsp[0].id == 9);
    CHECK(rsp[1].status == status::null);

    SUBCASE("with both, the add wins as in Linux")
    {
        extra_info del = typed_extra(extra_type::mcast_del, extra_flag_more);
        rig.put(req(1, 0, extra, 10, 0));
        rig.put(del);
        rig.put(add);
        rig.publish();
        CHECK(rig.parse(p).verdict == tx_verdict::control);
        CHECK(p.mcast_op == extra_type::mcast_add);
        CHECK(p.mcast_addr == mac);
    }
}

TEST_CASE("18 slots are accepted, 19 and 20 are dropped with every slot answered, 21 is fatal")
{
    SUBCASE("18")
    {
        tx_back_rig<> rig;
        put_chain(rig, 18);
        tx_packet p;
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::ok, tx_error::none, 18});
        CHECK(p.nr_frags == 18);
    }
    for (unsigned n : {19u, 20u}) {
        CAPTURE(n);
        tx_back_rig<> rig;
        put_chain(rig, n, 100);
        put_chain(rig, 1, 7); // the packet after it must still parse
        tx_packet p;
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::drop, tx_error::too_many_slots, n});
        CHECK(p.nr_ids == n);
        CHECK(p.nr_frags == 0);
        CHECK(rig.back.respond(p, status::error));
        (void)rig.back.push();
        const auto rsp = rig.responses();
        REQUIRE(rsp.size() == n);
        std::set<std::uint16_t> ids;
        for (const auto& r : rsp) {
            CHECK(r.status == status::error);
            ids.insert(r.id);
        }
        CHECK(ids.size() == n);
        CHECK(*ids.begin() == 100);
        CHECK(rig.parse(p).verdict == tx_verdict::ok);
        CHECK(p.ids[0] == 7);
    }
    SUBCASE("21")
    {
        tx_back_rig<> rig;
        put_chain(rig, 21);
        tx_packet p;
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::fatal, tx_error::slot_limit_exceeded, 0});
        CHECK(rig.back.error() == tx_error::slot_limit_exceeded);
        CHECK(rig.back.owed() == 0);
    }
}

TEST_CASE("a fatal verdict is sticky")
{
    tx_back_rig<> rig;
    put_chain(rig, 21);
    put_chain(rig, 1);
    tx_packet p;
    CHECK(rig.parse(p).verdict == tx_verdict::fatal);
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::fatal, tx_error::slot_limit_exceeded, 0});
    CHECK(rig.parse(p).verdict == tx_verdict::fatal);
}

TEST_CASE("the drop and fatal thresholds are configurable")
{
    tx_back_rig<> rig(256, 0, tx_limits{4, 6, eth_hlen});
    tx_packet p;
    put_chain(rig, 4);
    CHECK(rig.parse(p).verdict == tx_verdict::ok);
    put_chain(rig, 5);
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::drop, tx_error::too_many_slots, 5});
    CHECK(rig.back.respond(p, status::dropped));
    put_chain(rig, 6);
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::drop, tx_error::too_many_slots, 6});
    CHECK(rig.back.respond(p, status::error));
    put_chain(rig, 7);
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::fatal, tx_error::slot_limit_exceeded, 0});
}

TEST_CASE("limits out of range are refused with a clear error")
{
    tx_back_rig<> rig;
    for (const tx_limits& bad :
         {tx_limits{0, 20, 14}, tx_limits{19, 20, 14}, tx_limits{10, 9, 14}, tx_limits{18, max_fatal_slots + 1, 14},
          tx_limits{18, 20, 0}, tx_limits{18, 20, page_size + 1}}) {
        CHECK_FALSE(valid(bad));
        CHECK_THROWS_WITH_AS(tx_backend<>(rig.ring, bad), doctest::Contains("tx_limits"), std::invalid_argument);
    }
    CHECK(valid(tx_limits{}));
    CHECK(valid(tx_limits{1, 1, 1}));
}

TEST_CASE_TEMPLATE("a chain running past req_prod is incomplete: nothing answered, resumed later", L, WIRE_LAYOUTS)
{
    tx_back_rig<L> rig;
    rig.put(req(1, 0, more, 1, 300));
    rig.put(req(2, 0, more, 2, 100));
    rig.publish();
    tx_packet p;
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::incomplete, tx_error::chain_incomplete, 0});
    CHECK(rig.back.owed() == 0);
    CHECK(rig.back.staged() == 2);
    // The ring has nothing pending, so the backend can arm the event index and sleep.
    CHECK(rig.ring.final_check(1).count == 0);
    rig.put(req(3, 0, 0, 3, 100));
    rig.publish();
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::ok, tx_error::none, 3});
    CHECK(p.frags[0].size == 100);
    CHECK(p.frags[2] == tx_fragment{3, 0, 100});
}

TEST_CASE("slots rewritten after an incomplete parse are not read again (double fetch)")
{
    tx_back_rig<> rig;
    rig.put(req(1, 0, more, 1, 300));
    rig.put(req(2, 0, more, 2, 100));
    rig.publish();
    tx_packet p;
    REQUIRE(rig.parse(p).verdict == tx_verdict::incomplete);
    // A hostile frontend rewrites the published slots into something fatal...
    rig.mem.rewrite(0, 256, req(9, 4000, 0, 9, 0xFFFF));
    rig.mem.rewrite(1, 256, req(9, 4000, 0, 9, 0xFFFF));
    rig.put(req(3, 0, 0, 3, 100));
    rig.publish();
    // ...but the parser judges the copies it took the first time.
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::ok, tx_error::none, 3});
    CHECK(p.frags[0] == tx_fragment{1, 0, 100});
    CHECK(p.frags[1] == tx_fragment{2, 0, 100});
}

TEST_CASE("an extra-info chain running past req_prod is incomplete")
{
    tx_back_rig<> rig;
    rig.put(req(1, 0, extra, 1, 100));
    rig.publish();
    tx_packet p;
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::incomplete, tx_error::extra_incomplete, 0});
    rig.put(gso_extra(gso_type::tcpv4, 1000, extra_flag_more));
    rig.publish();
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::incomplete, tx_error::extra_incomplete, 0});
    rig.put(typed_extra(extra_type::hash));
    rig.publish();
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::ok, tx_error::none, 3});
}

TEST_CASE("an unfinished chain that fills the whole ring is fatal")
{
    tx_back_rig<> rig(8);
    for (std::uint16_t i = 0; i < 8; ++i)
        rig.put(req(1, 0, more, i, 100));
    rig.publish();
    tx_packet p;
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::fatal, tx_error::chain_exceeds_ring, 0});
}

TEST_CASE("a later slot crossing its page is fatal")
{
    tx_back_rig<> rig;
    rig.put_all({req(1, 0, more, 1, 500), req(2, 4000, 0, 2, 97)});
    tx_packet p;
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::fatal, tx_error::slot_crosses_page, 0});
}

TEST_CASE("a first slot crossing its page is fatal; ending exactly at the page end is fine")
{
    SUBCASE("crossing")
    {
        tx_back_rig<> rig;
        rig.put_all({req(1, 4000, 0, 1, 97)});
        tx_packet p;
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::fatal, tx_error::slot_crosses_page, 0});
    }
    SUBCASE("crossing with its own share of a multi-slot packet")
    {
        tx_back_rig<> rig;
        rig.put_all({req(1, 4000, more, 1, 197), req(2, 0, 0, 2, 100)});
        tx_packet p;
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::fatal, tx_error::slot_crosses_page, 0});
    }
    SUBCASE("exactly at the end")
    {
        tx_back_rig<> rig;
        rig.put_all({req(1, 4000, more, 1, 192), req(2, 4000, 0, 2, 96)});
        tx_packet p;
        CHECK(rig.parse(p).verdict == tx_verdict::ok);
        CHECK(p.frags[0] == tx_fragment{1, 4000, 96});
        CHECK(p.frags[1] == tx_fragment{2, 4000, 96});
    }
}

TEST_CASE("a slot crossing its page is fatal even in a packet already being dropped")
{
    tx_back_rig<> rig;
    rig.put_all({req(1, 0, more, 1, 100), req(2, 0, more, 2, 0), req(3, 4095, 0, 3, 2)});
    tx_packet p;
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::fatal, tx_error::slot_crosses_page, 0});
}

TEST_CASE("a first slot shorter than an Ethernet header is dropped")
{
    for (std::uint16_t total : {std::uint16_t{0}, std::uint16_t{1}, std::uint16_t{13}}) {
        CAPTURE(total);
        tx_back_rig<> rig;
        rig.put_all({req(1, 0, 0, 4, total)});
        tx_packet p;
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::drop, tx_error::first_slot_too_short, 1});
        CHECK(rig.back.respond(p, status::error));
        (void)rig.back.push();
        const auto rsp = rig.responses();
        REQUIRE(rsp.size() == 1);
        CHECK(rsp[0].id == 4);
        CHECK(rsp[0].status == status::error);
    }
    SUBCASE("in a multi-slot packet whose later slots leave it 10 bytes")
    {
        tx_back_rig<> rig;
        rig.put_all({req(1, 0, more, 1, 1010), req(2, 0, 0, 2, 1000)});
        tx_packet p;
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::drop, tx_error::first_slot_too_short, 2});
    }
    SUBCASE("14 bytes is enough, even with the rest in 1-byte slots")
    {
        tx_back_rig<> rig;
        rig.put(req(1, 0, more, 0, 14 + 17));
        for (std::uint16_t i = 1; i < 18; ++i)
            rig.put(req(1, static_cast<std::uint16_t>(100 + i), i == 17 ? 0 : more, i, 1));
        rig.publish();
        tx_packet p;
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::ok, tx_error::none, 18});
        CHECK(p.frags[0].size == 14);
        CHECK(p.frags[17].size == 1);
    }
    SUBCASE("the threshold is configurable")
    {
        tx_back_rig<> rig(256, 0, tx_limits{18, 20, 60});
        rig.put_all({req(1, 0, 0, 1, 59)});
        tx_packet p;
        CHECK(rig.parse(p).error == tx_error::first_slot_too_short);
    }
}

TEST_CASE("a zero-length later fragment is dropped")
{
    tx_back_rig<> rig;
    rig.put_all({req(1, 0, more, 1, 100), req(2, 0, more, 2, 0), req(3, 0, 0, 3, 20)});
    tx_packet p;
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::drop, tx_error::zero_length_fragment, 3});
    CHECK(p.nr_ids == 3);
}

TEST_CASE("later fragments adding up to more than the total are dropped")
{
    SUBCASE("one fragment larger than the packet")
    {
        tx_back_rig<> rig;
        rig.put_all({req(1, 0, more, 1, 100), req(2, 0, 0, 2, 200)});
        tx_packet p;
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::drop, tx_error::fragment_exceeds_total, 2});
    }
    SUBCASE("a packet over 65535 bytes whose 16-bit total wrapped")
    {
        tx_back_rig<> rig;
        // 70000 bytes: the first slot says 70000 mod 65536 = 4464; the rest claim 17 full pages.
        rig.put(req(1, 0, more, 0, static_cast<std::uint16_t>(70000 & 0xFFFF)));
        for (std::uint16_t i = 1; i < 18; ++i)
            rig.put(req(1, 0, i == 17 ? 0 : more, i, 4096));
        rig.publish();
        tx_packet p;
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::drop, tx_error::fragment_exceeds_total, 18});
    }
    SUBCASE("later slots taking the whole total leave an empty first slot")
    {
        tx_back_rig<> rig;
        rig.put_all({req(1, 0, more, 1, 100), req(2, 0, 0, 2, 100)});
        tx_packet p;
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::drop, tx_error::first_slot_too_short, 2});
    }
}

TEST_CASE("extra-info of an unknown type is fatal")
{
    for (std::uint8_t t : {extra_type::none, extra_type::max, std::uint8_t{200}}) {
        CAPTURE(int{t});
        tx_back_rig<> rig;
        rig.put(req(1, 0, extra, 1, 100));
        rig.put(typed_extra(t));
        rig.publish();
        tx_packet p;
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::fatal, tx_error::extra_type_unknown, 0});
    }
}

TEST_CASE("more than four chained extra-info segments are fatal")
{
    tx_back_rig<> rig;
    rig.put(req(1, 0, extra, 1, 100));
    for (int i = 0; i < 5; ++i)
        rig.put(typed_extra(extra_type::hash, extra_flag_more));
    rig.publish();
    tx_packet p;
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::fatal, tx_error::too_many_extras, 0});
}

TEST_CASE("GSO extra-info with size 0 or an unknown type is fatal")
{
    SUBCASE("size 0")
    {
        tx_back_rig<> rig;
        rig.put(req(1, 0, extra, 1, 100));
        rig.put(gso_extra(gso_type::tcpv4, 0));
        rig.publish();
        tx_packet p;
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::fatal, tx_error::gso_size_zero, 0});
    }
    for (std::uint8_t t : {gso_type::none, std::uint8_t{3}, std::uint8_t{255}}) {
        CAPTURE(int{t});
        tx_back_rig<> rig;
        rig.put(req(1, 0, extra, 1, 100));
        rig.put(gso_extra(t, 1448));
        rig.publish();
        tx_packet p;
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::fatal, tx_error::gso_type_unknown, 0});
    }
}

TEST_CASE("a dropped packet is not judged on its GSO extra-info (Linux checks GSO last)")
{
    tx_back_rig<> rig;
    rig.put(req(1, 0, extra, 1, 5));
    rig.put(gso_extra(gso_type::tcpv4, 0));
    rig.publish();
    tx_packet p;
    CHECK(rig.parse(p) == tx_parse_result{tx_verdict::drop, tx_error::first_slot_too_short, 2});
    CHECK(rig.back.respond(p, status::error));
    (void)rig.back.push();
    const auto rsp = rig.responses();
    REQUIRE(rsp.size() == 2);
    CHECK(rsp[0].status == status::error);
    CHECK(rsp[1].status == status::null);
}

TEST_CASE_TEMPLATE("an impossible req_prod is fatal", L, WIRE_LAYOUTS)
{
    SUBCASE("beyond the ring")
    {
        tx_back_rig<L> rig;
        rig.mem.word(L::req_prod_offset).store(300);
        tx_packet p;
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::fatal, tx_error::ring_index_overrun, 0});
    }
    SUBCASE("moving backwards")
    {
        tx_back_rig<L> rig(256, 1000);
        put_chain(rig, 1);
        tx_packet p;
        REQUIRE(rig.parse(p).verdict == tx_verdict::ok);
        rig.mem.word(L::req_prod_offset).store(990);
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::fatal, tx_error::ring_index_backwards, 0});
    }
}

TEST_CASE("responses: a packet is answered once; per-slot statuses; NULL for extra slots")
{
    tx_back_rig<> rig;
    rig.put(req(1, 0, more | extra, 1, 300));
    rig.put(gso_extra(gso_type::tcpv4, 100));
    rig.put(req(2, 0, more, 2, 100));
    rig.put(req(3, 0, 0, 3, 100));
    rig.publish();
    tx_packet p;
    REQUIRE(rig.parse(p).verdict == tx_verdict::ok);
    const std::array<std::int16_t, 2> too_few{status::okay, status::okay};
    CHECK_FALSE(rig.back.respond(p, too_few));
    const std::array<std::int16_t, 3> st{status::okay, status::error, status::okay};
    CHECK(rig.back.respond(p, st));
    CHECK_FALSE(rig.back.respond(p, status::okay)); // already answered
    CHECK_FALSE(rig.back.respond(tx_packet{}, status::okay));
    CHECK(rig.back.push());
    const auto rsp = rig.responses();
    REQUIRE(rsp.size() == 4);
    CHECK((rsp[0].id == 1 && rsp[0].status == status::okay));
    CHECK(rsp[1].status == status::null);
    CHECK((rsp[2].id == 2 && rsp[2].status == status::error));
    CHECK((rsp[3].id == 3 && rsp[3].status == status::okay));
}

TEST_CASE("packets across the 2^32 index wrap")
{
    tx_back_rig<> rig(256, 0xFFFFFFFEu);
    tx_packet p;
    for (int round = 0; round < 4; ++round) {
        put_chain(rig, 3, static_cast<std::uint16_t>(round * 3));
        CHECK(rig.parse(p) == tx_parse_result{tx_verdict::ok, tx_error::none, 3});
        CHECK(p.ids[0] == round * 3);
        CHECK(rig.back.respond(p, status::okay));
        (void)rig.back.push();
        CHECK(rig.responses().size() == 3);
    }
}

TEST_CASE("every verdict and reason has a name, and each reason its verdict")
{
    std::set<std::string_view> names;
    for (int v = 0; v <= static_cast<int>(tx_verdict::empty); ++v)
        names.insert(to_string(static_cast<tx_verdict>(v)));
    CHECK(names.size() == 6);
    names.clear();
    const int last = static_cast<int>(tx_error::extra_incomplete);
    for (int e = 0; e <= last; ++e)
        names.insert(to_string(static_cast<tx_error>(e)));
    CHECK(names.size() == static_cast<std::size_t>(last + 1));
    CHECK(to_string(static_cast<tx_error>(last + 1)) == "unknown tx error");
    CHECK(verdict_of(tx_error::zero_length_fragment) == tx_verdict::drop);
    CHECK(verdict_of(tx_error::gso_size_zero) == tx_verdict::fatal);
    CHECK(verdict_of(tx_error::chain_incomplete) == tx_verdict::incomplete);
    CHECK(verdict_of(tx_error::none) == tx_verdict::ok);
}

} // namespace
