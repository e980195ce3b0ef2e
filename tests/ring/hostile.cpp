// SPDX-License-Identifier: MIT
// A hostile peer writing impossible producer indices (XSA-39) and garbage event indices: every
// violation is an error value, sticky, and nothing is read from the ring afterwards.

#include <doctest/doctest.h>

#include "support.hpp"

#include <array>

#include <sys/mman.h>

namespace {

using xnv::ring_count;
using xnv::ring_error;
using xnv_test::header_word;
using xnv_test::ring_pair;
using xnv_test::stamped;
using xnv_test::stamped_request;
using xnv_test::stamped_response;

#define LAYOUTS xnv::layout::xen_abi, xnv::layout::padded

void write_word(std::span<std::byte> ring, std::size_t offset, std::uint32_t v)
{
    header_word(ring, offset).store(v, std::memory_order_release);
}

template <class L> void write_req_prod(ring_pair<L>& p, std::uint32_t v)
{
    header_word(p.mem.span(), L::req_prod_offset).store(v, std::memory_order_release);
}
template <class L> void write_rsp_prod(ring_pair<L>& p, std::uint32_t v)
{
    header_word(p.mem.span(), L::rsp_prod_offset).store(v, std::memory_order_release);
}

// Everything an endpoint that has seen a violation must keep doing: report the same error, read
// nothing, consume nothing, arm nothing.
template <class Endpoint>
void check_sticky(Endpoint& e, ring_error err, std::span<std::byte> ring, std::size_t event_offset)
{
    const std::uint32_t consumed = e.consumed();
    const std::uint32_t event = header_word(ring, event_offset).load();
    CHECK(e.error() == err);
    CHECK(e.pending() == ring_count{0, err});
    std::array<stamped, 4> out{};
    out.fill(stamped{0xDEAD, 0xBEEF});
    CHECK(e.consume(out) == ring_count{0, err});
    CHECK(out[0].seq == 0xDEAD);
    CHECK(e.try_consume(out[1]) == ring_count{0, err});
    CHECK(out[1].seq == 0xDEAD);
    CHECK(e.discard() == ring_count{0, err});
    CHECK(e.final_check(1) == ring_count{0, err});
    CHECK(header_word(ring, event_offset).load() == event);
    xnv::wait::spin w;
    CHECK(e.wait_pending(w, std::chrono::milliseconds(1)) == ring_count{0, err});
    CHECK(e.consumed() == consumed);
}

TEST_CASE_TEMPLATE("a back end fed an impossible req_prod reports it", L, LAYOUTS)
{
    SUBCASE("beyond the ring")
    {
        ring_pair<L> p(100);
        write_req_prod(p, 100 + 9);
        CHECK(p.back.pending() == ring_count{0, ring_error::index_overrun});
        check_sticky(p.back, ring_error::index_overrun, p.mem.span(), L::req_event_offset);
    }
    SUBCASE("far beyond the ring")
    {
        ring_pair<L> p(100);
        write_req_prod(p, 100 + 0x40000000u);
        CHECK(p.back.pending() == ring_count{0, ring_error::index_overrun});
    }
    SUBCASE("exactly a full ring is legitimate")
    {
        ring_pair<L> p(100);
        write_req_prod(p, 100 + 8);
        CHECK(p.back.pending() == ring_count{8, ring_error::none});
    }
    SUBCASE("more requests than the slots not owed a response")
    {
        ring_pair<L> p(100);
        p.front.commit(8);
        (void)p.front.push();
        REQUIRE(p.back.discard(8).count == 8);
        p.back.commit(3); // three answered, five slots still owed a response
        (void)p.back.push();
        write_req_prod(p, 100 + 8 + 4);
        CHECK(p.back.pending() == ring_count{0, ring_error::index_overrun});
    }
    SUBCASE("as many requests as answered slots is legitimate")
    {
        ring_pair<L> p(100);
        p.front.commit(8);
        (void)p.front.push();
        REQUIRE(p.back.discard(8).count == 8);
        p.back.commit(3);
        write_req_prod(p, 100 + 8 + 3);
        CHECK(p.back.pending() == ring_count{3, ring_error::none});
    }
    SUBCASE("moving backwards")
    {
        ring_pair<L> p(100);
        p.front.commit(5);
        (void)p.front.push();
        REQUIRE(p.back.pending().count == 5);
        write_req_prod(p, 103);
        // The padded layout answers from its private copy of the index while that covers the
        // request; the Xen layout re-reads the shared index every time.
        std::array<stamped, 5> out{};
        const ring_count c = p.back.consume(out);
        if constexpr (L::cache_peer_index) {
            CHECK(c == ring_count{5, ring_error::none});
            CHECK(p.back.pending() == ring_count{0, ring_error::index_backwards});
        } else {
            CHECK(c == ring_count{0, ring_error::index_backwards});
        }
        check_sticky(p.back, ring_error::index_backwards, p.mem.span(), L::req_event_offset);
    }
    SUBCASE("moving backwards below what was consumed")
    {
        ring_pair<L> p(100);
        p.front.commit(5);
        (void)p.front.push();
        REQUIRE(p.back.discard().count == 5);
        write_req_prod(p, 99);
        CHECK(p.back.pending() == ring_count{0, ring_error::index_backwards});
    }
}

TEST_CASE_TEMPLATE("near the 2^32 wrap a legitimate wrap passes and a jump fails", L, LAYOUTS)
{
    SUBCASE("req_prod wrapping to a small value within the ring is fine")
    {
        ring_pair<L> p(0xFFFFFFFCu);
        write_req_prod(p, 4u); // 8 entries: 0xFFFFFFFC..0x00000003
        CHECK(p.back.pending() == ring_count{8, ring_error::none});
    }
    SUBCASE("req_prod wrapping beyond the ring is an overrun")
    {
        ring_pair<L> p(0xFFFFFFFCu);
        write_req_prod(p, 5u);
        CHECK(p.back.pending() == ring_count{0, ring_error::index_overrun});
    }
    SUBCASE("req_prod one below the start, across the wrap, is backwards")
    {
        ring_pair<L> p(0u);
        write_req_prod(p, 0xFFFFFFFFu);
        CHECK(p.back.pending() == ring_count{0, ring_error::index_backwards});
    }
    SUBCASE("a jump of half the index space is an error, not a huge count")
    {
        ring_pair<L> p(0xFFFFFFF0u);
        write_req_prod(p, 0x7FFFFFF0u);
        const ring_count c = p.back.pending();
        CHECK_FALSE(c.ok());
        CHECK(c.count == 0);
    }
    SUBCASE("rsp_prod wrapping within the answered requests is fine")
    {
        ring_pair<L> p(0xFFFFFFFEu);
        p.front.commit(6);
        (void)p.front.push();
        REQUIRE(p.back.discard().count == 6);
        write_rsp_prod(p, 4u);
        CHECK(p.front.pending() == ring_count{6, ring_error::none});
    }
    SUBCASE("rsp_prod wrapping past the published requests is an overrun")
    {
        ring_pair<L> p(0xFFFFFFFEu);
        p.front.commit(6);
        (void)p.front.push();
        write_rsp_prod(p, 5u);
        CHECK(p.front.pending() == ring_count{0, ring_error::index_overrun});
    }
}

TEST_CASE_TEMPLATE("a front end fed an impossible rsp_prod reports it", L, LAYOUTS)
{
    SUBCASE("responses with no request outstanding")
    {
        ring_pair<L> p(7);
        write_rsp_prod(p, 8);
        CHECK(p.front.pending() == ring_count{0, ring_error::index_overrun});
        check_sticky(p.front, ring_error::index_overrun, p.mem.span(), L::rsp_event_offset);
    }
    SUBCASE("responses to requests produced but never published")
    {
        ring_pair<L> p(7);
        p.front.commit(2);
        (void)p.front.push();
        p.front.commit(3); // produced, not published: the back end cannot have seen them
        write_rsp_prod(p, 7 + 3);
        CHECK(p.front.pending() == ring_count{0, ring_error::index_overrun});
    }
    SUBCASE("responses to every published request are fine")
    {
        ring_pair<L> p(7);
        p.front.commit(2);
        (void)p.front.push();
        p.front.commit(3);
        write_rsp_prod(p, 7 + 2);
        CHECK(p.front.pending() == ring_count{2, ring_error::none});
    }
    SUBCASE("beyond the ring")
    {
        ring_pair<L> p(7);
        p.front.commit(8);
        (void)p.front.push();
        write_rsp_prod(p, 7 + 9);
        CHECK(p.front.pending() == ring_count{0, ring_error::index_overrun});
    }
    SUBCASE("moving backwards")
    {
        ring_pair<L> p(7);
        p.front.commit(4);
        (void)p.front.push();
        write_rsp_prod(p, 7 + 4);
        REQUIRE(p.front.discard().count == 4);
        write_rsp_prod(p, 7 + 2);
        CHECK(p.front.pending() == ring_count{0, ring_error::index_backwards});
        check_sticky(p.front, ring_error::index_backwards, p.mem.span(), L::rsp_event_offset);
    }
}

TEST_CASE_TEMPLATE("the error stays even when the peer writes a sane index again", L, LAYOUTS)
{
    ring_pair<L> p(0);
    p.front.commit(2);
    (void)p.front.push();
    write_req_prod(p, 50);
    CHECK(p.back.pending().error == ring_error::index_overrun);
    write_req_prod(p, 2);
    CHECK(p.back.pending() == ring_count{0, ring_error::index_overrun});
    check_sticky(p.back, ring_error::index_overrun, p.mem.span(), L::req_event_offset);
    // The endpoint's own direction is untouched: it may still answer what it consumed before
    // disconnecting (here: nothing), and its producer index is where it was.
    CHECK(p.back.produced() == 0);
}

TEST_CASE("ring errors have readable names")
{
    CHECK(xnv::to_string(ring_error::none) == "none");
    CHECK(xnv::to_string(ring_error::index_backwards).find("backwards") != std::string_view::npos);
    CHECK(xnv::to_string(ring_error::index_overrun).find("beyond") != std::string_view::npos);
    CHECK(xnv::to_string(static_cast<ring_error>(200)) == "unknown ring error");
}

TEST_CASE_TEMPLATE("random producer indices give a bounded count or an error, never more", L, LAYOUTS)
{
    // Any value the peer writes: the count reported never exceeds what the ring can hold, an
    // error always comes with count 0, and consume() reads no more than that count.
    xnv_test::splitmix rng(42);
    std::uint32_t errors = 0, accepted = 0;
    for (int i = 0; i < 4000; ++i) {
        const std::uint32_t start = (i % 2) ? rng.next32() : 0xFFFFFFF0u + rng.below(32);
        ring_pair<L> p(start);
        const std::uint32_t outstanding = rng.below(9);
        p.front.commit(outstanding);
        (void)p.front.push();
        const std::uint32_t served = rng.below(outstanding + 1);
        REQUIRE(p.back.discard(served).count == served);
        const std::uint32_t answered = rng.below(served + 1);
        p.back.commit(answered);
        (void)p.back.push();
        // A hostile value, biased towards the interesting neighbourhood.
        const std::uint32_t bad_req = (i % 3) ? start + rng.below(24) - 8u : rng.next32();
        const std::uint32_t bad_rsp = (i % 3) ? start + rng.below(24) - 8u : rng.next32();
        write_req_prod(p, bad_req);
        write_rsp_prod(p, bad_rsp);

        std::array<stamped, 16> out{};
        const ring_count b = p.back.consume(out);
        const ring_count f = p.front.consume(out);
        // Legitimate ranges, stated independently: requests within [outstanding, answered + 8]
        // of the start (never behind what was already seen, never more than the slots not owed
        // a response), responses within [0, outstanding] (only published requests are answered).
        const std::uint32_t req_ahead = bad_req - start;
        const bool req_ok = req_ahead >= outstanding && req_ahead <= answered + 8;
        const std::uint32_t rsp_ahead = bad_rsp - start;
        const bool rsp_ok = rsp_ahead <= outstanding;
        CHECK(b.ok() == req_ok);
        CHECK(f.ok() == rsp_ok);
        if (req_ok)
            CHECK(b.count == req_ahead - served);
        else
            CHECK(b.count == 0);
        if (rsp_ok)
            CHECK(f.count == rsp_ahead);
        else
            CHECK(f.count == 0);
        errors += !b.ok() + !f.ok();
        accepted += b.ok() + f.ok();
    }
    CHECK(errors > 100);
    CHECK(accepted > 100);
}

TEST_CASE_TEMPLATE("garbage in the event fields only changes notification decisions", L, LAYOUTS)
{
    // The peer owns our event index; whatever it writes, counts and payloads are unaffected and
    // each push still follows the hold-off rule for the value it found.
    ring_pair<L> p(0xFFFFFF00u);
    xnv_test::splitmix rng(99);
    std::uint64_t sent = 0, received = 0, answered = 0;
    std::uint32_t bad = 0, rule_broken = 0, notified = 0;
    std::array<stamped, 8> buf{};
    for (int round = 0; round < 3000; ++round) {
        // Half the time anywhere in the index space, half the time just ahead of the producer
        // (where it changes decisions).
        const auto garbage = [&](std::uint32_t near) { return rng.below(2) ? rng.next32() : near + rng.below(8); };
        header_word(p.mem.span(), L::req_event_offset).store(garbage(p.front.published()));
        header_word(p.mem.span(), L::rsp_event_offset).store(garbage(p.back.published()));
        const std::uint32_t k = rng.below(p.front.free_slots() + 1);
        for (std::uint32_t i = 0; i < k; ++i)
            REQUIRE(p.front.try_produce(stamped_request(sent++)));
        const std::uint32_t old_req = p.front.published();
        const std::uint32_t req_event = header_word(p.mem.span(), L::req_event_offset).load();
        const bool n1 = p.front.push();
        rule_broken += n1 != xnv_test::event_in_window(old_req, p.front.published(), req_event);
        notified += n1;

        const ring_count c = p.back.consume(buf);
        REQUIRE(c.ok());
        for (std::uint32_t i = 0; i < c.count; ++i, ++received) {
            bad += buf[i].seq != received;
            REQUIRE(p.back.try_produce(stamped_response(buf[i].seq)));
        }
        const std::uint32_t old_rsp = p.back.published();
        const std::uint32_t rsp_event = header_word(p.mem.span(), L::rsp_event_offset).load();
        const bool n2 = p.back.push();
        rule_broken += n2 != xnv_test::event_in_window(old_rsp, p.back.published(), rsp_event);
        notified += n2;

        // Every other round the consumer re-arms over the garbage.
        if (round % 2 == 0) {
            const ring_count fc = p.front.final_check(1 + rng.below(4));
            REQUIRE(fc.ok());
        }
        const ring_count r = p.front.consume(buf);
        REQUIRE(r.ok());
        for (std::uint32_t i = 0; i < r.count; ++i, ++answered)
            bad += buf[i].stamp != ~xnv_test::stamp_of(answered);
    }
    CHECK(bad == 0);
    CHECK(rule_broken == 0);
    CHECK(notified > 100);
    CHECK(answered + 8 >= sent);
    CHECK(p.front.error() == ring_error::none);
    CHECK(p.back.error() == ring_error::none);
}

TEST_CASE_TEMPLATE("garbage in the header padding and slots beyond the published index is ignored", L, LAYOUTS)
{
    ring_pair<L> p;
    // Fill every header byte that is not an index, and every slot, with garbage.
    for (std::size_t off = 0; off < L::header_bytes; off += 4) {
        if (off == L::req_prod_offset || off == L::rsp_prod_offset || off == L::req_event_offset ||
            off == L::rsp_event_offset)
            continue;
        header_word(p.mem.span(), off).store(0xFFFFFFFFu);
    }
    std::memset(p.mem.data() + L::header_bytes, 0xEE, 8 * sizeof(xnv::ring_slot<stamped, stamped>));
    CHECK(p.back.pending() == ring_count{0, ring_error::none});
    REQUIRE(p.front.try_produce(stamped_request(1)));
    (void)p.front.push();
    std::array<stamped, 8> out{};
    CHECK(p.back.consume(out) == ring_count{1, ring_error::none});
    CHECK(out[0].seq == 1);
}

} // namespace

namespace {

struct byte_entry {
    std::uint8_t b;
};

// A ring of 2^31 one-byte slots (the largest ring_entries_for derives) over 2 GiB of address
// space that is reserved, not touched: only the header page is ever written.
class huge_mapping {
public:
    static constexpr std::size_t bytes = xnv::layout::xen_abi::header_bytes + (std::size_t{1} << 31);
    huge_mapping()
        : p_(::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0))
    {
        REQUIRE(p_ != MAP_FAILED);
    }
    huge_mapping(const huge_mapping&) = delete;
    huge_mapping& operator=(const huge_mapping&) = delete;
    ~huge_mapping() { ::munmap(p_, bytes); }
    [[nodiscard]] std::span<std::byte> span() const noexcept { return {static_cast<std::byte*>(p_), bytes}; }

private:
    void* p_;
};

TEST_CASE("a full ring of 2^31 slots is legitimate, not an index moving backwards")
{
    // Half the index space ahead of what was seen looks negative as a signed distance; it is
    // still exactly one full ring, which a correct peer may publish.
    huge_mapping m;
    xnv::front_ring<byte_entry, byte_entry> front(xnv::ring_init, m.span(), 5);
    xnv::back_ring<byte_entry, byte_entry> back(m.span(), 5);
    REQUIRE(front.size() == 0x80000000u);
    front.commit(0x80000000u);
    CHECK(front.full());
    (void)front.push();
    CHECK(back.pending() == ring_count{0x80000000u, ring_error::none});
    CHECK(back.discard() == ring_count{0x80000000u, ring_error::none});
    back.commit(0x80000000u);
    (void)back.push();
    CHECK(front.pending() == ring_count{0x80000000u, ring_error::none});
    CHECK(front.discard() == ring_count{0x80000000u, ring_error::none});
    CHECK(front.free_slots() == 0x80000000u);

    SUBCASE("one beyond the full ring is still an overrun")
    {
        front.commit(0x80000000u);
        (void)front.push();
        write_word(m.span(), xnv::layout::xen_abi::req_prod_offset, 5u + 0x80000000u + 0x80000000u + 1u);
        CHECK(back.pending() == ring_count{0, ring_error::index_overrun});
    }
    SUBCASE("one behind what was seen is still backwards")
    {
        write_word(m.span(), xnv::layout::xen_abi::req_prod_offset, 5u + 0x80000000u - 1u);
        CHECK(back.pending() == ring_count{0, ring_error::index_backwards});
    }
}

} // namespace
