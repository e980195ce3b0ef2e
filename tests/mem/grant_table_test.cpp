// SPDX-License-Identifier: MIT
#include <xnv/mem/grant_table.hpp>
#include <xnv/mem/region.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

using namespace xnv::mem;

namespace {

constexpr domain_id back_dom = 1;
constexpr grant_geometry geometry{.refs = 8, .pages = 4};

// A granting and a copying side over one memfd region, in one process.
struct grant_pair {
    shared_region region = shared_region::create(geometry.total_bytes());
    grant_table granter{region.bytes(), geometry};
    grant_copier copier{region.bytes(), geometry, back_dom};

    std::uint32_t page_with(std::byte fill)
    {
        const auto frame = granter.try_allocate_page();
        REQUIRE(frame.has_value());
        std::fill_n(granter.page(*frame).data(), grant_page_bytes, fill);
        return *frame;
    }

    grant_ref grant(std::uint32_t frame, grant_access access, domain_id to = back_dom)
    {
        const auto g = granter.try_grant(to, frame, access);
        REQUIRE(g.ok());
        return g.ref;
    }

    // The shared header word of `ref`, as the peer sees it.
    std::atomic_ref<std::uint32_t> header(grant_ref ref)
    {
        return std::atomic_ref<std::uint32_t>(
            *reinterpret_cast<std::uint32_t*>(granter.shared_entries().data() + ref * sizeof(grant_entry)));
    }
    grant_entry& entry(grant_ref ref)
    {
        return *reinterpret_cast<grant_entry*>(granter.shared_entries().data() + ref * sizeof(grant_entry));
    }
};

grant_copy_op from(grant_ref ref, std::uint16_t offset, std::uint16_t length, std::byte* local)
{
    return {.direction = copy_direction::from_grant, .ref = ref, .offset = offset, .length = length, .local = local};
}
grant_copy_op to(grant_ref ref, std::uint16_t offset, std::uint16_t length, std::byte* local)
{
    return {.direction = copy_direction::to_grant, .ref = ref, .offset = offset, .length = length, .local = local};
}

bool all_equal(std::span<const std::byte> s, std::byte v)
{
    return std::all_of(s.begin(), s.end(), [v](std::byte b) { return b == v; });
}

} // namespace

TEST_CASE("grant geometry: the entry array is rounded to whole pages, the pool follows it")
{
    CHECK(geometry.entries_bytes() == 4096);
    CHECK(geometry.pages_bytes() == 4 * 4096);
    CHECK(geometry.total_bytes() == 5 * 4096);
    CHECK(grant_geometry{.refs = 257, .pages = 1}.entries_bytes() == 2 * 4096);
    std::vector<std::byte> small(4096);
    CHECK_THROWS_AS(static_cast<void>(geometry.pages_of(small)), std::invalid_argument);
}

TEST_CASE("grant table: misaligned or empty areas are caller mistakes")
{
    alignas(64) std::array<std::byte, 64 + 4096> mem{};
    CHECK_THROWS_AS(grant_table(std::span(mem).subspan(4, 32), std::span(mem).subspan(64)), std::invalid_argument);
    CHECK_THROWS_AS(grant_table(std::span(mem).first(8), std::span(mem).subspan(64)), std::invalid_argument);
    CHECK_THROWS_AS(grant_table(std::span(mem).first(64), std::span(mem).subspan(64, 100)), std::invalid_argument);
    CHECK_THROWS_AS(grant_copier(std::span(mem).subspan(4, 32), std::span(mem).subspan(64), back_dom),
                    std::invalid_argument);
}

TEST_CASE("grant copy from a read-only grant reads the page")
{
    grant_pair p;
    const auto frame = p.page_with(std::byte{0xA5});
    const grant_ref ref = p.grant(frame, grant_access::read_only);
    std::array<std::byte, 100> buf{};
    auto op = from(ref, 10, 100, buf.data());
    CHECK(p.copier.copy(op) == grant_status::okay);
    CHECK(op.status == grant_status::okay);
    CHECK(all_equal(buf, std::byte{0xA5}));
    CHECK(p.header(ref).load() == grant_header(gtf::permit_access | gtf::readonly, back_dom)); // in-use bits cleared
}

TEST_CASE("grant copy to a read-write grant writes the page")
{
    grant_pair p;
    const auto frame = p.page_with(std::byte{0});
    const grant_ref ref = p.grant(frame, grant_access::read_write);
    std::array<std::byte, 64> buf;
    buf.fill(std::byte{0x3C});
    auto op = to(ref, 4096 - 64, 64, buf.data());
    CHECK(p.copier.copy(op) == grant_status::okay);
    CHECK(all_equal(p.granter.page(frame).last(64), std::byte{0x3C}));
    CHECK(all_equal(p.granter.page(frame).first(4096 - 64), std::byte{0}));
    CHECK(p.header(ref).load() == grant_header(gtf::permit_access, back_dom));
}

TEST_CASE("grant copy: a reference beyond the table is bad_ref")
{
    grant_pair p;
    std::array<std::byte, 8> buf{};
    for (grant_ref bad : {geometry.refs, geometry.refs + 1, grant_ref{0xFFFFFFFF}}) {
        auto op = from(bad, 0, 8, buf.data());
        CHECK(p.copier.copy(op) == grant_status::bad_ref);
    }
}

TEST_CASE("grant copy: a reference never granted is not_granted")
{
    grant_pair p;
    std::array<std::byte, 8> buf{};
    auto op = from(3, 0, 8, buf.data());
    CHECK(p.copier.copy(op) == grant_status::not_granted);
}

TEST_CASE("grant copy: a grant for another domain is wrong_domain")
{
    grant_pair p;
    const auto frame = p.page_with(std::byte{1});
    const grant_ref ref = p.grant(frame, grant_access::read_write, back_dom + 1);
    std::array<std::byte, 8> buf{};
    auto rd = from(ref, 0, 8, buf.data());
    auto wr = to(ref, 0, 8, buf.data());
    CHECK(p.copier.copy(rd) == grant_status::wrong_domain);
    CHECK(p.copier.copy(wr) == grant_status::wrong_domain);
    CHECK(all_equal(p.granter.page(frame), std::byte{1}));
    CHECK((header_flags(p.header(ref).load()) & gtf::in_use) == 0);
}

TEST_CASE("grant copy: writing through a read-only grant is refused and leaves the page alone")
{
    grant_pair p;
    const auto frame = p.page_with(std::byte{2});
    const grant_ref ref = p.grant(frame, grant_access::read_only);
    std::array<std::byte, 8> buf{};
    auto op = to(ref, 0, 8, buf.data());
    CHECK(p.copier.copy(op) == grant_status::read_only);
    CHECK(all_equal(p.granter.page(frame), std::byte{2}));
    CHECK(!p.copier.try_map(ref, grant_access::read_write).ok());
    CHECK(p.copier.try_map(ref, grant_access::read_write).status() == grant_status::read_only);
}

TEST_CASE("grant copy: offset and length beyond the page are bad_offset")
{
    grant_pair p;
    const grant_ref ref = p.grant(p.page_with(std::byte{3}), grant_access::read_write);
    std::vector<std::byte> buf(8192);
    SUBCASE("range runs past the end")
    {
        auto op = from(ref, 4000, 200, buf.data());
        CHECK(p.copier.copy(op) == grant_status::bad_offset);
    }
    SUBCASE("offset past the end")
    {
        auto op = from(ref, 5000, 0, buf.data());
        CHECK(p.copier.copy(op) == grant_status::bad_offset);
    }
    SUBCASE("length larger than a page")
    {
        auto op = to(ref, 0, 4097, buf.data());
        CHECK(p.copier.copy(op) == grant_status::bad_offset);
    }
    SUBCASE("largest 16-bit values")
    {
        auto op = to(ref, 0xFFFF, 0xFFFF, buf.data());
        CHECK(p.copier.copy(op) == grant_status::bad_offset);
    }
    SUBCASE("exactly the page is fine")
    {
        auto op = from(ref, 0, 4096, buf.data());
        CHECK(p.copier.copy(op) == grant_status::okay);
    }
    CHECK((header_flags(p.header(ref).load()) & gtf::in_use) == 0);
}

TEST_CASE("grant copy: a null local buffer is bad_argument, an empty copy is fine")
{
    grant_pair p;
    const grant_ref ref = p.grant(p.page_with(std::byte{3}), grant_access::read_write);
    auto null_op = from(ref, 0, 8, nullptr);
    CHECK(p.copier.copy(null_op) == grant_status::bad_argument);
    auto empty = from(ref, 0, 0, nullptr);
    CHECK(p.copier.copy(empty) == grant_status::okay);
}

TEST_CASE("sub-page grant: copies must stay inside the granted window")
{
    grant_pair p;
    const auto frame = p.page_with(std::byte{4});
    const auto g = p.granter.try_grant(back_dom, frame, grant_access::read_write, 100, 200);
    REQUIRE(g.ok());
    CHECK((header_flags(p.header(g.ref).load()) & gtf::sub_page) != 0);
    std::array<std::byte, 300> buf{};
    SUBCASE("inside")
    {
        auto op = to(g.ref, 100, 200, buf.data());
        CHECK(p.copier.copy(op) == grant_status::okay);
        CHECK(all_equal(p.granter.page(frame).subspan(100, 200), std::byte{0}));
        CHECK(all_equal(p.granter.page(frame).first(100), std::byte{4}));
        CHECK(all_equal(p.granter.page(frame).subspan(300), std::byte{4}));
    }
    SUBCASE("starting before the window")
    {
        auto op = from(g.ref, 99, 10, buf.data());
        CHECK(p.copier.copy(op) == grant_status::outside_grant);
    }
    SUBCASE("ending after the window")
    {
        auto op = from(g.ref, 150, 151, buf.data());
        CHECK(p.copier.copy(op) == grant_status::outside_grant);
    }
    SUBCASE("mapping sees exactly the window")
    {
        auto m = p.copier.try_map(g.ref, grant_access::read_only);
        REQUIRE(m.ok());
        CHECK(m.bytes().size() == 200);
        CHECK(m.window_offset() == 100);
        CHECK(m.bytes().data() == p.granter.page(frame).data() + 100);
    }
    CHECK((header_flags(p.header(g.ref).load()) & gtf::in_use) == 0);
}

TEST_CASE("sub-page grant: an empty window or one beyond the page is a caller mistake")
{
    grant_pair p;
    const auto frame = p.page_with(std::byte{0});
    CHECK(p.granter.try_grant(back_dom, frame, grant_access::read_only, 0, 0).status == grant_status::bad_argument);
    CHECK(p.granter.try_grant(back_dom, frame, grant_access::read_only, 4000, 97).status == grant_status::bad_argument);
    CHECK(p.granter.free_refs() == geometry.refs);
}

TEST_CASE("an ended grant can no longer be copied")
{
    grant_pair p;
    const grant_ref ref = p.grant(p.page_with(std::byte{5}), grant_access::read_write);
    CHECK(p.granter.try_end(ref) == grant_status::okay);
    CHECK_FALSE(p.granter.is_granted(ref));
    CHECK(p.header(ref).load() == 0);
    std::array<std::byte, 8> buf{};
    auto rd = from(ref, 0, 8, buf.data());
    auto wr = to(ref, 0, 8, buf.data());
    CHECK(p.copier.copy(rd) == grant_status::not_granted);
    CHECK(p.copier.copy(wr) == grant_status::not_granted);
}

TEST_CASE("ending a grant in use is refused and reported, never silently reused (XSA-396)")
{
    grant_pair p;
    const auto frame = p.page_with(std::byte{6});
    const grant_ref ref = p.grant(frame, grant_access::read_write);

    SUBCASE("pinned for reading")
    {
        auto m = p.copier.try_map(ref, grant_access::read_only);
        REQUIRE(m.ok());
        CHECK(header_flags(p.header(ref).load()) == (gtf::permit_access | gtf::reading));
        CHECK(p.granter.try_end(ref) == grant_status::in_use);
        CHECK(p.granter.end_refusals() == 1);
        CHECK(p.granter.is_granted(ref));
        CHECK(p.granter.free_page(frame) == grant_status::page_granted);
        // The refused end changed nothing: the reference is not handed out again.
        const auto other = p.granter.try_grant(back_dom, frame, grant_access::read_only);
        REQUIRE(other.ok());
        CHECK(other.ref != ref);
        m.unpin();
        CHECK(p.granter.try_end(ref) == grant_status::okay);
        CHECK(p.granter.try_end(other.ref) == grant_status::okay);
    }
    SUBCASE("pinned for writing")
    {
        auto m = p.copier.try_map(ref, grant_access::read_write);
        REQUIRE(m.ok());
        CHECK(header_flags(p.header(ref).load()) == (gtf::permit_access | gtf::reading | gtf::writing));
        std::fill(m.bytes().begin(), m.bytes().end(), std::byte{0x77});
        CHECK(p.granter.try_end(ref) == grant_status::in_use);
        m = grant_mapping{}; // unpins
        CHECK(p.granter.try_end(ref) == grant_status::okay);
        CHECK(all_equal(p.granter.page(frame), std::byte{0x77})); // a receive buffer is read after the end
    }
    SUBCASE("several pins: the end waits for the last one")
    {
        auto a = p.copier.try_map(ref, grant_access::read_only);
        auto b = p.copier.try_map(ref, grant_access::read_write);
        REQUIRE(a.ok());
        REQUIRE(b.ok());
        b.unpin();
        CHECK(header_flags(p.header(ref).load()) == (gtf::permit_access | gtf::reading));
        CHECK(p.granter.try_end(ref) == grant_status::in_use);
        a.unpin();
        CHECK(p.granter.try_end(ref) == grant_status::okay);
    }
    SUBCASE("a peer that leaves its in-use bits set keeps the grant from ending")
    {
        p.header(ref).fetch_or(gtf::reading);
        for (int i = 0; i < 3; ++i)
            CHECK(p.granter.try_end(ref) == grant_status::in_use);
        CHECK(p.granter.end_refusals() == 3);
        CHECK(p.granter.is_granted(ref));
    }
}

TEST_CASE("a moved grant mapping unpins once")
{
    grant_pair p;
    const grant_ref ref = p.grant(p.page_with(std::byte{0}), grant_access::read_only);
    {
        auto a = p.copier.try_map(ref, grant_access::read_only);
        grant_mapping b(std::move(a));
        CHECK_FALSE(a.ok());
        CHECK(b.ok());
        CHECK(p.granter.try_end(ref) == grant_status::in_use);
    }
    CHECK(p.granter.try_end(ref) == grant_status::okay);
}

TEST_CASE("ending: bad references and double ends are reported")
{
    grant_pair p;
    CHECK(p.granter.try_end(geometry.refs) == grant_status::bad_ref);
    CHECK(p.granter.try_end(0) == grant_status::not_granted);
    const grant_ref ref = p.grant(p.page_with(std::byte{0}), grant_access::read_only);
    CHECK(p.granter.try_end(ref) == grant_status::okay);
    CHECK(p.granter.try_end(ref) == grant_status::not_granted);
    CHECK(p.granter.ends() == 1);
}

TEST_CASE("pages of ended grants are zeroed before reuse")
{
    grant_pair p;
    const auto frame = p.page_with(std::byte{0x11});
    const grant_ref ref = p.grant(frame, grant_access::read_write);
    std::array<std::byte, 32> buf;
    buf.fill(std::byte{0x22});
    auto op = to(ref, 0, 32, buf.data());
    REQUIRE(p.copier.copy(op) == grant_status::okay);
    CHECK(p.granter.free_page(frame) == grant_status::page_granted);
    REQUIRE(p.granter.try_end(ref) == grant_status::okay);
    CHECK(p.granter.free_page(frame) == grant_status::okay);
    CHECK(all_equal(p.granter.page(frame), std::byte{0}));
    const auto again = p.granter.try_allocate_page();
    REQUIRE(again.has_value());
    CHECK(*again == frame); // last freed, first reused
    CHECK(all_equal(p.granter.page(*again), std::byte{0}));
}

TEST_CASE("page pool: bad frames, unallocated pages and exhaustion")
{
    grant_pair p;
    CHECK(p.granter.free_page(0) == grant_status::bad_page);
    CHECK(p.granter.free_page(geometry.pages) == grant_status::bad_page);
    CHECK(p.granter.try_grant(back_dom, 0, grant_access::read_only).status == grant_status::bad_page);
    CHECK(p.granter.try_grant(back_dom, geometry.pages + 3, grant_access::read_only).status == grant_status::bad_page);
    for (std::uint32_t i = 0; i < geometry.pages; ++i)
        CHECK(p.granter.try_allocate_page().has_value());
    CHECK_FALSE(p.granter.try_allocate_page().has_value());
    CHECK(p.granter.free_page(2) == grant_status::okay);
    CHECK(p.granter.free_page(2) == grant_status::bad_page);
}

TEST_CASE("grant references run out, and come back when ended")
{
    grant_pair p;
    const auto frame = p.page_with(std::byte{0});
    std::vector<grant_ref> refs;
    for (std::uint32_t i = 0; i < geometry.refs; ++i)
        refs.push_back(p.grant(frame, grant_access::read_only));
    CHECK(p.granter.grants_of(frame) == geometry.refs);
    CHECK(p.granter.try_grant(back_dom, frame, grant_access::read_only).status == grant_status::no_free_refs);
    REQUIRE(p.granter.try_end(refs[5]) == grant_status::okay);
    const auto g = p.granter.try_grant(back_dom, frame, grant_access::read_only);
    CHECK(g.ok());
    CHECK(g.ref == refs[5]);
}

TEST_CASE("a batch of copies reports a status per operation")
{
    grant_pair p;
    const auto ro_frame = p.page_with(std::byte{0x10});
    const auto rw_frame = p.page_with(std::byte{0x20});
    const grant_ref ro = p.grant(ro_frame, grant_access::read_only);
    const grant_ref rw = p.grant(rw_frame, grant_access::read_write);
    std::array<std::byte, 16> a{}, b{}, c{};
    c.fill(std::byte{0x30});
    std::array<grant_copy_op, 6> ops{
        from(ro, 0, 16, a.data()),           // okay
        to(ro, 0, 16, c.data()),             // read_only
        from(rw, 4090, 16, b.data()),        // bad_offset
        to(rw, 16, 16, c.data()),            // okay
        from(geometry.refs, 0, 1, a.data()), // bad_ref
        from(5, 0, 1, a.data()),             // not_granted
    };
    CHECK(p.copier.copy(ops) == 2);
    CHECK(ops[0].status == grant_status::okay);
    CHECK(ops[1].status == grant_status::read_only);
    CHECK(ops[2].status == grant_status::bad_offset);
    CHECK(ops[3].status == grant_status::okay);
    CHECK(ops[4].status == grant_status::bad_ref);
    CHECK(ops[5].status == grant_status::not_granted);
    CHECK(all_equal(a, std::byte{0x10}));
    CHECK(all_equal(p.granter.page(rw_frame).subspan(16, 16), std::byte{0x30}));
    CHECK(all_equal(p.granter.page(ro_frame), std::byte{0x10}));
}

TEST_CASE("a hostile granter's entries never make the copier leave the page pool")
{
    grant_pair p;
    const auto frame = p.page_with(std::byte{0});
    const grant_ref ref = p.grant(frame, grant_access::read_write);
    std::array<std::byte, 8> buf{};
    auto op = from(ref, 0, 8, buf.data());

    SUBCASE("frame beyond the pool")
    {
        std::atomic_ref<std::uint32_t>(p.entry(ref).frame).store(geometry.pages);
        CHECK(p.copier.copy(op) == grant_status::bad_frame);
        std::atomic_ref<std::uint32_t>(p.entry(ref).frame).store(0xFFFFFFFF);
        CHECK(p.copier.copy(op) == grant_status::bad_frame);
    }
    SUBCASE("sub-page window beyond the page")
    {
        p.header(ref).fetch_or(gtf::sub_page);
        std::atomic_ref<std::uint16_t>(p.entry(ref).sub_offset).store(4000);
        std::atomic_ref<std::uint16_t>(p.entry(ref).sub_length).store(200);
        CHECK(p.copier.copy(op) == grant_status::bad_window);
    }
    SUBCASE("empty sub-page window")
    {
        p.header(ref).fetch_or(gtf::sub_page);
        std::atomic_ref<std::uint16_t>(p.entry(ref).sub_length).store(0);
        CHECK(p.copier.copy(op) == grant_status::bad_window);
    }
    SUBCASE("an entry type other than permit_access")
    {
        p.header(ref).store(grant_header(2 /* GTF_accept_transfer */, back_dom));
        CHECK(p.copier.copy(op) == grant_status::not_granted);
        p.header(ref).store(grant_header(3 /* GTF_transitive */, back_dom));
        CHECK(p.copier.copy(op) == grant_status::not_granted);
    }
    // A rejected pin leaves no in-use bit behind: the granter can still end the grant.
    CHECK((header_flags(p.header(ref).load()) & gtf::in_use) == 0);
    CHECK(p.granter.try_end(ref) == grant_status::okay);
}

TEST_CASE("the copier uses its private copy of a pinned entry, not later scribbles")
{
    grant_pair p;
    const auto frame = p.page_with(std::byte{0x44});
    const auto other = p.page_with(std::byte{0x55});
    const grant_ref ref = p.grant(frame, grant_access::read_only);
    auto m = p.copier.try_map(ref, grant_access::read_only);
    REQUIRE(m.ok());
    // The peer rewrites the frame (to another valid page, and then to garbage) while pinned.
    std::atomic_ref<std::uint32_t>(p.entry(ref).frame).store(other);
    std::array<std::byte, 8> buf{};
    auto op = from(ref, 0, 8, buf.data());
    CHECK(p.copier.copy(op) == grant_status::okay);
    CHECK(all_equal(buf, std::byte{0x44}));
    std::atomic_ref<std::uint32_t>(p.entry(ref).frame).store(0xDEADBEEF);
    CHECK(p.copier.copy(op) == grant_status::okay);
    CHECK(all_equal(buf, std::byte{0x44}));
}

TEST_CASE("every grant status has a distinct description")
{
    std::vector<std::string_view> seen;
    for (int s = 0; s <= static_cast<int>(grant_status::too_many_pins); ++s) {
        const auto text = to_string(static_cast<grant_status>(s));
        CHECK(text != "unknown grant status");
        CHECK(std::find(seen.begin(), seen.end(), text) == seen.end());
        seen.push_back(text);
    }
}
