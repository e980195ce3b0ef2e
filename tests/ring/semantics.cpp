// SPDX-License-Identifier: MIT
// Single-threaded semantics of front_ring/back_ring for both layouts: producing and consuming,
// batch edges, zero-copy slots, discard, full and empty edges, and wrap-around across 2^32.

#include <doctest/doctest.h>

#include "support.hpp"

#include <array>
#include <vector>

namespace {

using xnv::ring_error;
using xnv_test::stamped;
using xnv_test::stamped_request;
using xnv_test::stamped_response;

using xnv_test::ring_pair;

template <class Ring> std::uint32_t produce_requests(Ring& front, std::uint64_t first, std::uint32_t n)
{
    std::uint32_t done = 0;
    while (done < n && front.try_produce(stamped_request(first + done)))
        ++done;
    return done;
}

#define LAYOUTS xnv::layout::xen_abi, xnv::layout::padded

TEST_CASE_TEMPLATE("a fresh ring is empty on both sides", L, LAYOUTS)
{
    ring_pair<L> p(17);
    CHECK(p.front.size() == 8);
    CHECK(p.back.size() == 8);
    CHECK(p.front.free_slots() == 8);
    CHECK(p.back.free_slots() == 0);
    CHECK_FALSE(p.front.full());
    CHECK(p.back.full());
    CHECK(p.front.pending() == xnv::ring_count{0, ring_error::none});
    CHECK(p.back.pending() == xnv::ring_count{0, ring_error::none});
    CHECK(p.front.produced() == 17);
    CHECK(p.front.published() == 17);
    CHECK(p.front.consumed() == 17);
    CHECK(p.back.consumed() == 17);
    CHECK(p.front.error() == ring_error::none);
}

TEST_CASE_TEMPLATE("requests reach the back end in order and unchanged", L, LAYOUTS)
{
    ring_pair<L> p;
    REQUIRE(produce_requests(p.front, 100, 3) == 3);
    (void)p.front.push();
    REQUIRE(p.back.pending().count == 3);
    for (std::uint64_t i = 0; i < 3; ++i) {
        stamped got{};
        REQUIRE(p.back.try_consume(got) == xnv::ring_count{1, ring_error::none});
        CHECK(got.seq == 100 + i);
        CHECK(got.stamp == xnv_test::stamp_of(100 + i));
    }
    stamped none{};
    CHECK(p.back.try_consume(none) == xnv::ring_count{0, ring_error::none});
    CHECK(p.back.consumed() == 3);
}

TEST_CASE_TEMPLATE("produced entries stay invisible until published", L, LAYOUTS)
{
    ring_pair<L> p;
    REQUIRE(produce_requests(p.front, 0, 4) == 4);
    CHECK(p.front.unpublished() == 4);
    CHECK(p.front.produced() == 4);
    CHECK(p.front.published() == 0);
    CHECK(p.back.pending().count == 0);
    CHECK(xnv_test::header_word(p.mem.span(), L::req_prod_offset).load() == 0);
    p.front.publish();
    CHECK(p.front.unpublished() == 0);
    CHECK(p.front.published() == 4);
    CHECK(xnv_test::header_word(p.mem.span(), L::req_prod_offset).load() == 4);
    CHECK(p.back.pending().count == 4);
}

TEST_CASE_TEMPLATE("responses travel back to the front end", L, LAYOUTS)
{
    ring_pair<L> p;
    REQUIRE(produce_requests(p.front, 7, 5) == 5);
    (void)p.front.push();
    std::array<stamped, 5> reqs{};
    REQUIRE(p.back.consume(reqs).count == 5);
    CHECK(p.back.free_slots() == 5);
    for (const stamped& r : reqs)
        REQUIRE(p.back.try_produce(stamped_response(r.seq)));
    CHECK(p.back.free_slots() == 0);
    (void)p.back.push();
    std::array<stamped, 8> rsps{};
    REQUIRE(p.front.consume(rsps).count == 5);
    for (std::uint64_t i = 0; i < 5; ++i) {
        CHECK(rsps[i].seq == 7 + i);
        CHECK(rsps[i].stamp == ~xnv_test::stamp_of(7 + i));
    }
    CHECK(p.front.free_slots() == 8);
}

TEST_CASE_TEMPLATE("batch produce: 0, 1, exactly full and more than fits", L, LAYOUTS)
{
    ring_pair<L> p;
    std::vector<stamped> batch;
    for (std::uint64_t i = 0; i < 11; ++i)
        batch.push_back(stamped_request(i));
    const std::span<const stamped> all(batch);

    SUBCASE("an empty batch produces nothing")
    {
        CHECK(p.front.produce(all.first(0)) == 0);
        CHECK(p.front.produced() == 0);
        CHECK(p.front.free_slots() == 8);
    }
    SUBCASE("a batch of one")
    {
        CHECK(p.front.produce(all.first(1)) == 1);
        CHECK(p.front.unpublished() == 1);
    }
    SUBCASE("a batch that exactly fills the ring")
    {
        CHECK(p.front.produce(all.first(8)) == 8);
        CHECK(p.front.full());
        CHECK(p.front.produce(all.subspan(8, 1)) == 0);
    }
    SUBCASE("a batch larger than the free space is cut, in order, at the free space")
    {
        REQUIRE(p.front.produce(all.first(5)) == 5);
        CHECK(p.front.produce(all.subspan(5, 6)) == 3);
        CHECK(p.front.full());
        (void)p.front.push();
        std::array<stamped, 16> got{};
        REQUIRE(p.back.consume(got).count == 8);
        for (std::uint64_t i = 0; i < 8; ++i)
            CHECK(got[i].seq == i);
    }
}

TEST_CASE_TEMPLATE("batch consume: 0, 1, exactly what is pending and more", L, LAYOUTS)
{
    ring_pair<L> p;
    REQUIRE(produce_requests(p.front, 0, 6) == 6);
    (void)p.front.push();
    std::array<stamped, 10> out{};

    SUBCASE("an empty span consumes nothing")
    {
        CHECK(p.back.consume(std::span(out).first(0)) == xnv::ring_count{0, ring_error::none});
        CHECK(p.back.consumed() == 0);
        CHECK(p.back.pending().count == 6);
    }
    SUBCASE("a span of one consumes the oldest")
    {
        CHECK(p.back.consume(std::span(out).first(1)).count == 1);
        CHECK(out[0].seq == 0);
        CHECK(p.back.pending().count == 5);
    }
    SUBCASE("a span of exactly the pending count")
    {
        CHECK(p.back.consume(std::span(out).first(6)).count == 6);
        CHECK(out[5].seq == 5);
        CHECK(p.back.pending().count == 0);
    }
    SUBCASE("a larger span gets what is pending and the rest is untouched")
    {
        out[6] = stamped{999, 999};
        CHECK(p.back.consume(out).count == 6);
        CHECK(out[6].seq == 999);
        CHECK(p.back.consumed() == 6);
    }
    SUBCASE("one batch sees entries published after an earlier partial consume")
    {
        REQUIRE(p.back.consume(std::span(out).first(2)).count == 2);
        std::array<stamped, 4> rsp{};
        REQUIRE(p.back.produce(std::span<const stamped>(rsp).first(2)) == 2);
        (void)p.back.push();
        REQUIRE(p.front.discard().count == 2);
        REQUIRE(produce_requests(p.front, 6, 2) == 2);
        (void)p.front.push();
        CHECK(p.back.consume(out).count == 6);
        CHECK(out[0].seq == 2);
        CHECK(out[5].seq == 7);
    }
}

TEST_CASE_TEMPLATE("reserve_slot and commit fill slots in place", L, LAYOUTS)
{
    ring_pair<L> p(0xFFFFFFFEu);
    for (std::uint32_t k = 0; k < 4; ++k)
        *p.front.reserve_slot(k) = stamped_request(40 + k);
    CHECK(p.front.produced() == 0xFFFFFFFEu);
    p.front.commit(4);
    CHECK(p.front.unpublished() == 4);
    (void)p.front.push();
    std::array<stamped, 4> got{};
    REQUIRE(p.back.consume(got).count == 4);
    for (std::uint64_t k = 0; k < 4; ++k)
        CHECK(got[k].seq == 40 + k);

    SUBCASE("the back end answers in place")
    {
        for (std::uint32_t k = 0; k < 4; ++k)
            *p.back.reserve_slot(k) = stamped_response(got[k].seq);
        p.back.commit(4);
        (void)p.back.push();
        std::array<stamped, 4> rsp{};
        REQUIRE(p.front.consume(rsp).count == 4);
        CHECK(rsp[3].stamp == ~xnv_test::stamp_of(43));
    }
    SUBCASE("commit clamps to the free slots")
    {
        p.front.commit(100);
        CHECK(p.front.produced() == 0xFFFFFFFEu + 8u);
        CHECK(p.front.full());
        p.back.commit(100);
        CHECK(p.back.produced() == 0xFFFFFFFEu + 4u);
        CHECK(p.back.free_slots() == 0);
    }
}

TEST_CASE_TEMPLATE("discard consumes without reading", L, LAYOUTS)
{
    ring_pair<L> p;
    CHECK(p.back.discard() == xnv::ring_count{0, ring_error::none});
    REQUIRE(produce_requests(p.front, 0, 5) == 5);
    (void)p.front.push();
    CHECK(p.back.discard(2) == xnv::ring_count{2, ring_error::none});
    CHECK(p.back.consumed() == 2);
    stamped next{};
    REQUIRE(p.back.try_consume(next).count == 1);
    CHECK(next.seq == 2);
    CHECK(p.back.discard() == xnv::ring_count{2, ring_error::none});
    CHECK(p.back.consumed() == 5);
    CHECK(p.back.discard() == xnv::ring_count{0, ring_error::none});
}

TEST_CASE_TEMPLATE("peek_shared reads in place and release_consumed advances", L, LAYOUTS)
{
    ring_pair<L> p(0xFFFFFFFCu);
    REQUIRE(produce_requests(p.front, 10, 6) == 6);
    (void)p.front.push();
    REQUIRE(p.back.pending().count == 6);
    for (std::uint32_t k = 0; k < 6; ++k)
        CHECK(p.back.peek_shared(k)->seq == 10 + k);
    p.back.release_consumed(4);
    CHECK(p.back.consumed() == 0xFFFFFFFCu + 4u);
    CHECK(p.back.peek_shared(0)->seq == 14);

    SUBCASE("release_consumed clamps to what was validated")
    {
        p.back.release_consumed(50);
        CHECK(p.back.consumed() == 0xFFFFFFFCu + 6u);
        CHECK(p.back.pending().count == 0);
    }
}

TEST_CASE_TEMPLATE("the front end is full when every slot is owed", L, LAYOUTS)
{
    ring_pair<L> p;
    REQUIRE(produce_requests(p.front, 0, 8) == 8);
    CHECK(p.front.full());
    CHECK_FALSE(p.front.try_produce(stamped_request(8)));
    (void)p.front.push();
    CHECK(p.back.pending().count == 8);

    SUBCASE("consuming requests does not free the front's slots: responses do")
    {
        REQUIRE(p.back.discard().count == 8);
        CHECK(p.front.full());
        REQUIRE(p.back.try_produce(stamped_response(0)));
        (void)p.back.push();
        CHECK(p.front.full());
        stamped r{};
        REQUIRE(p.front.try_consume(r).count == 1);
        CHECK(p.front.free_slots() == 1);
        CHECK(p.front.try_produce(stamped_request(8)));
        CHECK(p.front.full());
    }
    SUBCASE("all responses at once empty the ring")
    {
        std::array<stamped, 8> got{};
        REQUIRE(p.back.consume(got).count == 8);
        for (const stamped& g : got)
            REQUIRE(p.back.try_produce(stamped_response(g.seq)));
        (void)p.back.push();
        CHECK(p.front.pending().count == 8);
        REQUIRE(p.front.consume(got).count == 8);
        CHECK(p.front.free_slots() == 8);
        CHECK(p.front.pending().count == 0);
        CHECK(p.back.pending().count == 0);
    }
}

TEST_CASE_TEMPLATE("the back end cannot respond to more requests than it consumed", L, LAYOUTS)
{
    ring_pair<L> p;
    CHECK_FALSE(p.back.try_produce(stamped_response(0)));
    const std::array<stamped, 3> rsp{stamped_response(0), stamped_response(1), stamped_response(2)};
    CHECK(p.back.produce(rsp) == 0);
    REQUIRE(produce_requests(p.front, 0, 4) == 4);
    (void)p.front.push();
    CHECK(p.back.free_slots() == 0);
    REQUIRE(p.back.discard(2).count == 2);
    CHECK(p.back.free_slots() == 2);
    CHECK(p.back.produce(rsp) == 2);
    CHECK_FALSE(p.back.try_produce(stamped_response(3)));
    p.back.commit(5);
    CHECK(p.back.produced() == 2);
}

TEST_CASE_TEMPLATE("attaching at a start index leaves both sides agreeing", L, LAYOUTS)
{
    for (std::uint32_t start : {0u, 1u, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFF9u, 0xFFFFFFFFu}) {
        CAPTURE(start);
        ring_pair<L> p(start);
        REQUIRE(produce_requests(p.front, 0, 8) == 8);
        (void)p.front.push();
        CHECK(xnv_test::header_word(p.mem.span(), L::req_prod_offset).load() == start + 8u);
        std::array<stamped, 8> got{};
        REQUIRE(p.back.consume(got).count == 8);
        CHECK(got[7].seq == 7);
        CHECK(p.back.consumed() == start + 8u);
    }
}

TEST_CASE_TEMPLATE("init_shared_ring writes the header as Xen's SHARED_RING_INIT, at any start", L, LAYOUTS)
{
    xnv_test::aligned_region mem(xnv::ring_bytes_for<stamped, stamped, L>(4));
    std::memset(mem.data(), 0xAB, mem.span().size());
    xnv::init_shared_ring<stamped, stamped, L>(mem.span(), 0xFFFFFFFFu);
    CHECK(xnv_test::header_word(mem.span(), L::req_prod_offset).load() == 0xFFFFFFFFu);
    CHECK(xnv_test::header_word(mem.span(), L::rsp_prod_offset).load() == 0xFFFFFFFFu);
    CHECK(xnv_test::header_word(mem.span(), L::req_event_offset).load() == 0u);
    CHECK(xnv_test::header_word(mem.span(), L::rsp_event_offset).load() == 0u);
    // Padding (and Xen's private union) zeroed; slots untouched.
    for (std::size_t off = 0; off < L::header_bytes; off += 4) {
        if (off == L::req_prod_offset || off == L::rsp_prod_offset || off == L::req_event_offset ||
            off == L::rsp_event_offset)
            continue;
        CAPTURE(off);
        CHECK(xnv_test::header_word(mem.span(), off).load() == 0u);
    }
    CHECK(mem.data()[L::header_bytes] == std::byte{0xAB});
}

// Runs several thousand requests and responses in uneven batches through a ring attached just
// below 2^32, so every index wraps; checks order, stamps and the final indices.
template <class L> void run_across_wrap(std::uint32_t start, std::uint32_t total)
{
    ring_pair<L, 16> p(start);
    xnv_test::splitmix rng(start);
    std::uint64_t sent = 0, served = 0, answered = 0;
    std::uint32_t bad = 0;
    std::array<stamped, 16> buf{};
    while (answered < total) {
        const std::uint32_t want = std::min<std::uint32_t>(1 + rng.below(16), static_cast<std::uint32_t>(total - sent));
        sent += produce_requests(p.front, sent, want);
        (void)p.front.push();
        const auto take = p.back.consume(std::span(buf).first(1 + rng.below(16)));
        REQUIRE(take.ok());
        for (std::uint32_t i = 0; i < take.count; ++i) {
            if (buf[i].seq != served || buf[i].stamp != xnv_test::stamp_of(served))
                ++bad;
            REQUIRE(p.back.try_produce(stamped_response(served)));
            ++served;
        }
        (void)p.back.push();
        const auto got = p.front.consume(buf);
        REQUIRE(got.ok());
        for (std::uint32_t i = 0; i < got.count; ++i, ++answered)
            if (buf[i].seq != answered || buf[i].stamp != ~xnv_test::stamp_of(answered))
                ++bad;
    }
    CHECK(bad == 0);
    CHECK(answered == total);
    CHECK(p.front.produced() == start + total);
    CHECK(p.front.consumed() == start + total);
    CHECK(p.back.consumed() == start + total);
    CHECK(p.back.produced() == start + total);
    CHECK(xnv_test::header_word(p.mem.span(), L::req_prod_offset).load() == start + total);
    CHECK(xnv_test::header_word(p.mem.span(), L::rsp_prod_offset).load() == start + total);
}

TEST_CASE_TEMPLATE("free-running indices wrap across 2^32", L, LAYOUTS)
{
    SUBCASE("initialised just below 2^32")
    {
        run_across_wrap<L>(0xFFFFFF00u, 5000);
    }
    SUBCASE("initialised one below 2^32")
    {
        run_across_wrap<L>(0xFFFFFFFFu, 3000);
    }
    SUBCASE("attached to a ring initialised by the other side just below 2^32")
    {
        xnv_test::aligned_region mem(xnv::ring_bytes_for<stamped, stamped, L>(32));
        xnv::back_ring<stamped, stamped, L> back(xnv::ring_init, mem.span(), 0xFFFFFF00u);
        xnv::front_ring<stamped, stamped, L> front(mem.span(), 0xFFFFFF00u);
        std::uint64_t seq = 0, served = 0, answered = 0;
        std::uint32_t bad = 0;
        std::array<stamped, 32> buf{};
        while (answered < 4000) {
            seq += produce_requests(front, seq, 32);
            (void)front.push();
            const auto c = back.consume(buf);
            for (std::uint32_t i = 0; i < c.count; ++i, ++served)
                bad += (buf[i].seq != served) + !back.try_produce(stamped_response(served));
            (void)back.push();
            const auto r = front.consume(buf);
            for (std::uint32_t i = 0; i < r.count; ++i, ++answered)
                bad += buf[i].seq != answered;
            REQUIRE((c.ok() && r.ok()));
        }
        CHECK(bad == 0);
        CHECK(front.consumed() == 0xFFFFFF00u + static_cast<std::uint32_t>(answered));
    }
}

TEST_CASE_TEMPLATE("an endpoint never touches memory beyond the derived ring", L, LAYOUTS)
{
    // 3 slots' worth of extra room: the ring rounds down to 4 slots and must leave it alone.
    constexpr std::size_t ring_bytes = xnv::ring_bytes_for<stamped, stamped, L>(4);
    constexpr std::size_t given = ring_bytes + 3 * sizeof(xnv::ring_slot<stamped, stamped>);
    xnv_test::aligned_region mem(given);
    std::memset(mem.data() + ring_bytes, 0x5A, given - ring_bytes);
    xnv::front_ring<stamped, stamped, L> front(xnv::ring_init, mem.span());
    xnv::back_ring<stamped, stamped, L> back(mem.span());
    REQUIRE(front.size() == 4);
    std::array<stamped, 4> buf{};
    for (std::uint64_t round = 0; round < 10; ++round) {
        REQUIRE(produce_requests(front, round * 4, 4) == 4);
        (void)front.push();
        REQUIRE(back.consume(buf).count == 4);
        REQUIRE(back.produce(buf) == 4);
        (void)back.push();
        REQUIRE(front.consume(buf).count == 4);
    }
    bool intact = true;
    for (std::size_t i = ring_bytes; i < given; ++i)
        intact = intact && mem.data()[i] == std::byte{0x5A};
    CHECK(intact);
}

} // namespace
