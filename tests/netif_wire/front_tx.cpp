// SPDX-License-Identifier: MIT
// tx_frontend: slot chains built from buffers or a grant callback, ids from the free list, the
// caller's mistakes refused, and every response a hostile backend can write checked before it
// changes anything.

#include <doctest/doctest.h>

#include "support.hpp"

#include <set>
#include <string_view>

namespace {

using namespace wire_test;

std::vector<tx_completion> reclaim_all(tx_frontend<>& f, tx_reclaim_result* out = nullptr)
{
    std::vector<tx_completion> done;
    const auto r = f.reclaim([&](const tx_completion& c) { done.push_back(c); });
    if (out)
        *out = r;
    return done;
}

TEST_CASE("a one-buffer packet becomes one request with a fresh id and the metadata")
{
    tx_front_rig<> rig;
    const std::array<tx_buffer, 1> b{tx_buffer{77, 128, 60, 5}};
    const auto r = rig.front.try_submit(b, tx_meta{txf::csum_blank, {}});
    CHECK(r.ok());
    CHECK(r.slots == 1);
    CHECK(rig.front.push());
    const auto q = rig.requests();
    REQUIRE(q.size() == 1);
    CHECK(q[0].gref == 77);
    CHECK(q[0].offset == 128);
    CHECK(q[0].size == 60);
    CHECK(q[0].flags == txf::csum_blank);
    CHECK(q[0].id == r.first_id);
    CHECK(rig.front.ids_free() == 255);
    CHECK(rig.front.in_flight() == 1);
}

TEST_CASE("a multi-buffer packet: total in the first slot, more_data on all but the last, distinct ids")
{
    tx_front_rig<> rig;
    const std::array<tx_buffer, 3> b{tx_buffer{1, 0, 1000, 0}, tx_buffer{2, 10, 4086, 1}, tx_buffer{3, 0, 7, 2}};
    const auto r = rig.front.try_submit(b);
    REQUIRE(r.ok());
    CHECK(r.slots == 3);
    (void)rig.front.push();
    const auto q = rig.requests();
    REQUIRE(q.size() == 3);
    CHECK(q[0].size == 5093);
    CHECK(q[0].flags == txf::more_data);
    CHECK(q[1].size == 4086);
    CHECK(q[1].offset == 10);
    CHECK(q[1].flags == txf::more_data);
    CHECK(q[2].size == 7);
    CHECK(q[2].flags == 0);
    const std::set<std::uint16_t> ids{q[0].id, q[1].id, q[2].id};
    CHECK(ids.size() == 3);
    CHECK(q[0].id == r.first_id);
}

TEST_CASE("GSO adds an extra-info slot right after the first, which needs no id")
{
    tx_front_rig<> rig;
    const std::array<tx_buffer, 2> b{tx_buffer{1, 0, 4096, 0}, tx_buffer{2, 0, 2000, 1}};
    const auto r = rig.front.try_submit(b, tx_meta{txf::csum_blank, gso_info{gso_type::tcpv6, 1440}});
    REQUIRE(r.ok());
    CHECK(r.slots == 3);
    CHECK(rig.front.ids_free() == 254);
    (void)rig.front.push();
    const auto q = rig.requests();
    REQUIRE(q.size() == 3);
    CHECK(q[0].flags == (txf::csum_blank | txf::more_data | txf::extra_info));
    const extra_info e = detail::extra_from_slot(q[1]);
    CHECK(e.type == extra_type::gso);
    CHECK(e.flags == 0);
    CHECK(e.u.gso.type == gso_type::tcpv6);
    CHECK(e.u.gso.size == 1440);
    CHECK(q[2].gref == 2);
}

TEST_CASE("the caller's bad packets are refused and nothing is written")
{
    tx_front_rig<> rig;
    auto submit = [&](std::vector<tx_buffer> b, tx_meta m = {}) { return rig.front.try_submit(b, m).error; };
    CHECK(submit({}) == tx_submit_error::no_buffers);
    CHECK(submit(std::vector<tx_buffer>(19, tx_buffer{1, 0, 100, 0})) == tx_submit_error::too_many_slots);
    CHECK(submit({tx_buffer{1, 0, 100, 0}, tx_buffer{1, 0, 0, 0}}) == tx_submit_error::bad_buffer);
    CHECK(submit({tx_buffer{1, 4000, 100, 0}}) == tx_submit_error::bad_buffer);
    CHECK(submit(std::vector<tx_buffer>(17, tx_buffer{1, 0, 4096, 0})) == tx_submit_error::packet_too_large);
    CHECK(submit({tx_buffer{1, 0, 13, 0}}) == tx_submit_error::packet_too_short);
    CHECK(submit({tx_buffer{1, 0, 10, 0}, tx_buffer{1, 0, 100, 0}}) == tx_submit_error::first_slot_too_short);
    CHECK(submit({tx_buffer{1, 0, 100, 0}}, tx_meta{txf::more_data, {}}) == tx_submit_error::bad_flags);
    CHECK(submit({tx_buffer{1, 0, 100, 0}}, tx_meta{0, gso_info{3, 100}}) == tx_submit_error::gso_not_negotiated);
    CHECK(submit({tx_buffer{1, 0, 100, 0}}, tx_meta{0, gso_info{gso_type::tcpv4, 0}}) ==
          tx_submit_error::gso_size_zero);
    CHECK(rig.front.ids_free() == 256);
    CHECK(rig.ring.produced() == 0);
    CHECK(rig.front.check_invariants());
}

TEST_CASE("without feature-sg a packet is one slot; GSO only of the negotiated types")
{
    tx_front_rig<> rig(256, 0, tx_front_config{1, true, false});
    const std::array<tx_buffer, 2> two{tx_buffer{1, 0, 100, 0}, tx_buffer{2, 0, 100, 1}};
    CHECK(rig.front.try_submit(two).error == tx_submit_error::too_many_slots);
    const std::array<tx_buffer, 1> one{tx_buffer{1, 0, 100, 0}};
    CHECK(rig.front.try_submit(one, tx_meta{0, gso_info{gso_type::tcpv6, 1400}}).error ==
          tx_submit_error::gso_not_negotiated);
    CHECK(rig.front.try_submit(one, tx_meta{0, gso_info{gso_type::tcpv4, 1400}}).ok());
}

TEST_CASE("a configuration out of range, or a ring larger than the id table, is refused")
{
    tx_front_rig<> rig;
    CHECK_THROWS_WITH_AS(tx_frontend<>(rig.ring, tx_front_config{0, true, true}), doctest::Contains("max_slots"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(tx_frontend<>(rig.ring, tx_front_config{19, true, true}), doctest::Contains("max_slots"),
                         std::invalid_argument);
    using small = tx_frontend<xnv::layout::xen_abi, 16>;
    CHECK_THROWS_WITH_AS(small(rig.ring), doctest::Contains("cannot serve a ring of 256"), std::invalid_argument);
}

TEST_CASE("a full ring or id table says no_room until responses come back")
{
    tx_front_rig<> rig(8);
    const std::array<tx_buffer, 3> b{tx_buffer{1, 0, 100, 0}, tx_buffer{2, 0, 100, 1}, tx_buffer{3, 0, 100, 2}};
    CHECK(rig.front.try_submit(b).ok());
    CHECK(rig.front.try_submit(b).ok());
    CHECK(rig.front.try_submit(b).error == tx_submit_error::no_room);
    const std::array<tx_buffer, 2> two{tx_buffer{1, 0, 100, 0}, tx_buffer{2, 0, 100, 1}};
    CHECK(rig.front.try_submit(two).ok());
    (void)rig.front.push();
    const auto q = rig.requests();
    REQUIRE(q.size() == 8);
    rig.answer(
        {tx_response{q[0].id, status::okay}, tx_response{q[1].id, status::okay}, tx_response{q[2].id, status::okay}});
    const auto done = reclaim_all(rig.front);
    CHECK(done.size() == 3);
    CHECK(rig.front.try_submit(b).ok());
}

TEST_CASE("reclaim: one completion per slot, packet_done on the last, the worst status of the packet")
{
    tx_front_rig<> rig;
    const std::array<tx_buffer, 3> b{tx_buffer{1, 0, 100, 10}, tx_buffer{2, 0, 100, 11}, tx_buffer{3, 0, 100, 12}};
    REQUIRE(rig.front.try_submit(b, tx_meta{0, gso_info{gso_type::tcpv4, 1000}}).ok());
    (void)rig.front.push();
    const auto q = rig.requests();
    REQUIRE(q.size() == 4);
    // Out of order, with the NULL for the extra slot and an error in the middle.
    rig.answer({tx_response{q[3].id, status::okay}, tx_response{0, status::null}, tx_response{q[0].id, status::okay},
                tx_response{q[2].id, status::error}});
    tx_reclaim_result r;
    const auto done = reclaim_all(rig.front, &r);
    CHECK(r.ok());
    CHECK(r.responses == 4);
    CHECK(r.completed == 3);
    CHECK(r.packets == 1);
    REQUIRE(done.size() == 3);
    CHECK(done[0].cookie == 12);
    CHECK_FALSE(done[0].packet_done);
    CHECK(done[1].cookie == 10);
    CHECK(done[1].gref == 1);
    CHECK(done[2].cookie == 11);
    CHECK(done[2].status == status::error);
    CHECK(done[2].packet_done);
    CHECK(done[2].packet_status == status::error);
    CHECK(rig.front.ids_free() == 256);
    CHECK(rig.front.check_invariants());
}

TEST_CASE("a packet's first id is not reused until the whole packet is answered")
{
    tx_front_rig<> rig;
    const std::array<tx_buffer, 2> b{tx_buffer{1, 0, 100, 0}, tx_buffer{2, 0, 100, 1}};
    const auto r = rig.front.try_submit(b);
    REQUIRE(r.ok());
    (void)rig.front.push();
    const auto q = rig.requests();
    rig.answer({tx_response{r.first_id, status::okay}});
    CHECK(reclaim_all(rig.front).size() == 1);
    CHECK(rig.front.ids_free() == 254);
    CHECK(rig.front.check_invariants());
    // A response repeating the first id is a duplicate, not a new completion.
    rig.answer({tx_response{r.first_id, status::okay}});
    tx_reclaim_result rr;
    CHECK(reclaim_all(rig.front, &rr).empty());
    CHECK(rr.error == tx_front_error::duplicate_response);
}

TEST_CASE("hostile responses are refused before they change anything, and the frontend stays broken")
{
    struct hostile {
        const char* what;
        tx_response rsp;
        tx_front_error expected;
    };
    for (const hostile& h :
         {hostile{"id out of range", tx_response{256, status::okay}, tx_front_error::id_out_of_range},
          hostile{"id never submitted", tx_response{200, status::okay}, tx_front_error::id_not_in_flight},
          hostile{"NULL with no extra slot", tx_response{0, status::null}, tx_front_error::unexpected_null},
          hostile{"unknown status", tx_response{0, 5}, tx_front_error::bad_status},
          hostile{"unknown negative status", tx_response{0, -7}, tx_front_error::bad_status}}) {
        CAPTURE(h.what);
        tx_front_rig<> rig;
        const std::array<tx_buffer, 2> b{tx_buffer{1, 0, 100, 0}, tx_buffer{2, 0, 100, 1}};
        REQUIRE(rig.front.try_submit(b).ok());
        (void)rig.front.push();
        const auto q = rig.requests();
        REQUIRE(q[0].id == 0);
        rig.answer({h.rsp});
        tx_reclaim_result r;
        CHECK(reclaim_all(rig.front, &r).empty());
        CHECK(r.error == h.expected);
        CHECK(rig.front.error() == h.expected);
        CHECK(rig.front.in_flight() == 2);
        CHECK(rig.front.ids_free() == 254);
        CHECK(rig.front.check_invariants());
        CHECK(rig.front.try_submit(b).error == tx_submit_error::broken);
        rig.answer({tx_response{q[1].id, status::okay}});
        CHECK(reclaim_all(rig.front, &r).empty()); // nothing more is read
        CHECK(r.error == h.expected);
    }
}

TEST_CASE("a duplicated response is refused")
{
    tx_front_rig<> rig;
    const std::array<tx_buffer, 1> b{tx_buffer{1, 0, 100, 0}};
    REQUIRE(rig.front.try_submit(b).ok());
    REQUIRE(rig.front.try_submit(b).ok());
    (void)rig.front.push();
    const auto q = rig.requests();
    rig.answer({tx_response{q[0].id, status::okay}, tx_response{q[0].id, status::okay}});
    tx_reclaim_result r;
    CHECK(reclaim_all(rig.front, &r).size() == 1);
    CHECK(r.error == tx_front_error::duplicate_response);
    CHECK(rig.front.in_flight() == 1);
    CHECK(rig.front.check_invariants());
}

TEST_CASE_TEMPLATE("an impossible rsp_prod breaks the frontend", L, WIRE_LAYOUTS)
{
    tx_front_rig<L> rig;
    const std::array<tx_buffer, 1> b{tx_buffer{1, 0, 100, 0}};
    REQUIRE(rig.front.try_submit(b).ok());
    (void)rig.front.push();
    rig.mem.word(L::rsp_prod_offset).store(2); // one request published, two responses claimed
    const auto r = rig.front.reclaim([](const tx_completion&) {});
    CHECK(r.error == tx_front_error::ring_index_overrun);
    CHECK(rig.front.in_flight() == 1);
}

TEST_CASE("drain hands back every buffer still in flight and frees every id")
{
    tx_front_rig<> rig;
    const std::array<tx_buffer, 2> b{tx_buffer{1, 0, 100, 7}, tx_buffer{2, 0, 100, 8}};
    const auto r = rig.front.try_submit(b);
    REQUIRE(rig.front.try_submit(b).ok());
    (void)rig.front.push();
    rig.requests();
    rig.answer({tx_response{r.first_id, status::okay}});
    CHECK(reclaim_all(rig.front).size() == 1);
    std::vector<std::uint32_t> cookies;
    rig.front.drain([&](std::uint32_t cookie, grant_ref) { cookies.push_back(cookie); });
    CHECK(cookies.size() == 3);
    CHECK(rig.front.ids_free() == 256);
    CHECK(rig.front.in_flight() == 0);
    CHECK(rig.front.check_invariants());
}

TEST_CASE("chunks: a packet split at page boundaries, one grant per chunk")
{
    CHECK(tx_chunks(0, 0) == 0);
    CHECK(tx_chunks(100, 0) == 1);
    CHECK(tx_chunks(4096, 0) == 1);
    CHECK(tx_chunks(4096, 1) == 2);
    CHECK(tx_chunks(65535, 4095) == 17);

    tx_front_rig<> rig;
    struct call {
        std::uint32_t chunk, offset;
        std::uint16_t len;
    };
    std::vector<call> calls;
    const auto r =
        rig.front.try_submit_chunks(10000, 100, tx_meta{}, [&](std::uint32_t i, std::uint32_t off, std::uint16_t len) {
            calls.push_back({i, off, len});
            return tx_buffer{50 + i, static_cast<std::uint16_t>(i == 0 ? 100 : 0), len, 900 + i};
        });
    CHECK(r.ok());
    CHECK(r.granted == 3);
    REQUIRE(calls.size() == 3);
    CHECK((calls[0].offset == 0 && calls[0].len == 3996));
    CHECK((calls[1].offset == 3996 && calls[1].len == 4096));
    CHECK((calls[2].offset == 8092 && calls[2].len == 1908));
    (void)rig.front.push();
    const auto q = rig.requests();
    REQUIRE(q.size() == 3);
    CHECK(q[0].size == 10000);
    CHECK(q[0].offset == 100);
    CHECK(q[2].gref == 52);
}

TEST_CASE("chunks: refused before granting when the first chunk is too short or it does not fit")
{
    tx_front_rig<> rig(4);
    int calls = 0;
    auto grant = [&](std::uint32_t, std::uint32_t, std::uint16_t len) {
        ++calls;
        return tx_buffer{1, 0, len, 0};
    };
    CHECK(rig.front.try_submit_chunks(1000, 4090, tx_meta{}, grant).error == tx_submit_error::first_slot_too_short);
    CHECK(rig.front.try_submit_chunks(0, 0, tx_meta{}, grant).error == tx_submit_error::no_buffers);
    CHECK(rig.front.try_submit_chunks(70000, 0, tx_meta{}, grant).error == tx_submit_error::packet_too_large);
    CHECK(rig.front.try_submit_chunks(5 * 4096, 0, tx_meta{}, grant).error == tx_submit_error::no_room);
    CHECK(calls == 0);
}

TEST_CASE("chunks: a bad chunk from the grant callback is refused and its count reported")
{
    tx_front_rig<> rig;
    const auto r =
        rig.front.try_submit_chunks(9000, 0, tx_meta{}, [](std::uint32_t i, std::uint32_t, std::uint16_t len) {
            return tx_buffer{1, static_cast<std::uint16_t>(i == 1 ? 100 : 0), len, 0}; // chunk 1 crosses its page
        });
    CHECK(r.error == tx_submit_error::bad_buffer);
    CHECK(r.granted == 2);
    CHECK(rig.ring.produced() == 0);
    CHECK(rig.front.ids_free() == 256);
}

TEST_CASE("every frontend TX error has a distinct name")
{
    std::set<std::string_view> names;
    for (int e = 0; e <= static_cast<int>(tx_submit_error::gso_size_zero); ++e)
        names.insert(to_string(static_cast<tx_submit_error>(e)));
    CHECK(names.size() == static_cast<std::size_t>(tx_submit_error::gso_size_zero) + 1);
    names.clear();
    for (int e = 0; e <= static_cast<int>(tx_front_error::bad_status); ++e)
        names.insert(to_string(static_cast<tx_front_error>(e)));
    CHECK(names.size() == static_cast<std::size_t>(tx_front_error::bad_status) + 1);
}

} // namespace
