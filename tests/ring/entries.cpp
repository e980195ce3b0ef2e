// SPDX-License-Identifier: MIT
// How many slots a region holds (Xen's __RING_SIZE rule), and the constructor's clear errors for
// memory that cannot hold a ring.

#include <doctest/doctest.h>

#include "support.hpp"

#include <array>
#include <cstddef>

namespace {

struct one_byte {
    std::uint8_t b;
};
struct three_bytes {
    std::uint8_t b[3];
};
struct twelve_bytes {
    std::uint32_t a;
    std::uint16_t b[4];
};
struct four_bytes {
    std::uint16_t a, b;
};
struct twenty_four_bytes {
    std::uint64_t a[3];
};
struct hundred_bytes {
    std::uint32_t a[25];
};

// The reference: the largest power of two not above the number of whole slots after the header.
constexpr std::uint32_t reference_entries(std::size_t bytes, std::size_t header, std::size_t slot)
{
    if (bytes < header)
        return 0;
    const std::size_t fit = (bytes - header) / slot;
    std::size_t p = 0;
    for (std::size_t c = 1; c <= fit && c <= (std::size_t{1} << 31); c *= 2)
        p = c;
    return static_cast<std::uint32_t>(p);
}

constexpr std::array<std::size_t, 14> sizes{0, 1, 63, 64, 65, 100, 255, 1024, 4096, 4097, 8192, 12288, 65536, 1u << 20};

template <class Req, class Rsp, class L> void check_entries()
{
    constexpr std::size_t slot = sizeof(xnv::ring_slot<Req, Rsp>);
    for (std::size_t bytes : sizes) {
        CAPTURE(bytes);
        CHECK(xnv::ring_entries_for<Req, Rsp, L>(bytes) == reference_entries(bytes, L::header_bytes, slot));
    }
    // Exactly one slot fits at header + slot bytes, none one byte earlier.
    CHECK(xnv::ring_entries_for<Req, Rsp, L>(L::header_bytes + slot) == 1);
    CHECK(xnv::ring_entries_for<Req, Rsp, L>(L::header_bytes + slot - 1) == 0);
    // ring_bytes_for is the inverse for powers of two.
    for (std::uint32_t n = 1; n <= (1u << 16); n *= 2) {
        CAPTURE(n);
        CHECK(xnv::ring_bytes_for<Req, Rsp, L>(n) == L::header_bytes + n * slot);
        CHECK(xnv::ring_entries_for<Req, Rsp, L>(xnv::ring_bytes_for<Req, Rsp, L>(n)) == n);
        CHECK(xnv::ring_entries_for<Req, Rsp, L>(xnv::ring_bytes_for<Req, Rsp, L>(n) - 1) == (n == 1 ? 0 : n / 2));
    }
}

TEST_CASE_TEMPLATE("ring_entries_for is the largest power of two that fits after the header", L, xnv::layout::xen_abi,
                   xnv::layout::padded)
{
    SUBCASE("1-byte entries")
    {
        check_entries<one_byte, one_byte, L>();
    }
    SUBCASE("3-byte entries")
    {
        check_entries<three_bytes, one_byte, L>();
    }
    SUBCASE("12-byte requests, 4-byte responses (netif TX)")
    {
        check_entries<twelve_bytes, four_bytes, L>();
    }
    SUBCASE("4-byte requests, 24-byte responses")
    {
        check_entries<four_bytes, twenty_four_bytes, L>();
    }
    SUBCASE("100-byte entries")
    {
        check_entries<hundred_bytes, hundred_bytes, L>();
    }
}

TEST_CASE("one 4 KiB page of the Xen layout holds the slot counts Xen's headers give")
{
    using L = xnv::layout::xen_abi;
    static_assert(xnv::ring_entries_for<twelve_bytes, four_bytes, L>(4096) == 256); // (4096-64)/12 = 336
    static_assert(xnv::ring_entries_for<twenty_four_bytes, twenty_four_bytes, L>(4096) == 128);
    static_assert(xnv::ring_entries_for<hundred_bytes, hundred_bytes, L>(4096) == 32); // 40 fit
    static_assert(xnv::ring_entries_for<one_byte, one_byte, L>(4096) == 2048);
    CHECK(xnv::ring_entries_for<twelve_bytes, four_bytes, xnv::layout::padded>(4096) == 256);
}

TEST_CASE_TEMPLATE("an endpoint takes its size from the memory it is given", L, xnv::layout::xen_abi,
                   xnv::layout::padded)
{
    constexpr std::size_t slot = sizeof(xnv::ring_slot<twelve_bytes, four_bytes>);
    xnv_test::aligned_region mem(L::header_bytes + 100 * slot);
    xnv::front_ring<twelve_bytes, four_bytes, L> front(xnv::ring_init, mem.span());
    xnv::back_ring<twelve_bytes, four_bytes, L> back(mem.span());
    CHECK(front.size() == 64);
    CHECK(back.size() == 64);
    CHECK(front.free_slots() == 64);
}

TEST_CASE_TEMPLATE("constructors reject memory that cannot hold one slot, with a clear message", L,
                   xnv::layout::xen_abi, xnv::layout::padded)
{
    constexpr std::size_t slot = sizeof(xnv::ring_slot<twelve_bytes, four_bytes>);
    xnv_test::aligned_region mem(4096);
    using front = xnv::front_ring<twelve_bytes, four_bytes, L>;
    using back = xnv::back_ring<twelve_bytes, four_bytes, L>;
    for (std::size_t bytes : {std::size_t{0}, std::size_t{16}, L::header_bytes, L::header_bytes + slot - 1}) {
        CAPTURE(bytes);
        const auto small = mem.span().first(bytes);
        CHECK_THROWS_WITH_AS(front{small}, doctest::Contains("holds no slot"), std::invalid_argument);
        CHECK_THROWS_WITH_AS(back{small}, doctest::Contains("holds no slot"), std::invalid_argument);
        CHECK_THROWS_WITH_AS((front{xnv::ring_init, small}), doctest::Contains("holds no slot"), std::invalid_argument);
        CHECK_THROWS_WITH_AS((back{xnv::ring_init, small}), doctest::Contains("holds no slot"), std::invalid_argument);
    }
    // The message names the size given and the header it must hold first.
    CHECK_THROWS_WITH_AS(front{mem.span().first(L::header_bytes)},
                         doctest::Contains((std::to_string(L::header_bytes) + " bytes holds no slot").c_str()),
                         std::invalid_argument);
}

TEST_CASE_TEMPLATE("constructors reject misaligned memory, with a clear message", L, xnv::layout::xen_abi,
                   xnv::layout::padded)
{
    xnv_test::aligned_region mem(8192);
    using front = xnv::front_ring<twelve_bytes, four_bytes, L>;
    using back = xnv::back_ring<twelve_bytes, four_bytes, L>;
    const std::string need = "aligned to " + std::to_string(L::required_alignment) + " bytes";
    for (std::size_t shift : {std::size_t{1}, std::size_t{4}, L::required_alignment / 2}) {
        CAPTURE(shift);
        const auto off = mem.span().subspan(shift, 4096);
        CHECK_THROWS_WITH_AS(front{off}, doctest::Contains(need.c_str()), std::invalid_argument);
        CHECK_THROWS_WITH_AS(back{off}, doctest::Contains(need.c_str()), std::invalid_argument);
        CHECK_THROWS_WITH_AS((front{xnv::ring_init, off}), doctest::Contains(need.c_str()), std::invalid_argument);
    }
    // A ring_init constructor given misaligned memory throws before writing the header.
    bool untouched = true;
    for (std::size_t i = 0; i < 512; ++i)
        untouched = untouched && mem.data()[i] == std::byte{0};
    CHECK(untouched);
    CHECK_NOTHROW(front{mem.span().subspan(L::required_alignment, 4096)});
}

TEST_CASE_TEMPLATE("init_shared_ring rejects memory smaller than the header", L, xnv::layout::xen_abi,
                   xnv::layout::padded)
{
    xnv_test::aligned_region mem(4096);
    CHECK_THROWS_WITH_AS((xnv::init_shared_ring<twelve_bytes, four_bytes, L>(mem.span().first(L::header_bytes - 1))),
                         doctest::Contains("smaller than the ring header"), std::invalid_argument);
    CHECK_NOTHROW((xnv::init_shared_ring<twelve_bytes, four_bytes, L>(mem.span().first(L::header_bytes))));
}

} // namespace

namespace {

struct alignas(16) sixteen_aligned {
    std::uint64_t a, b;
};

TEST_CASE("memory aligned for the layout but not for the entry type is rejected")
{
    // xen_abi asks for 8-byte alignment; slots of a 16-byte-aligned type handed out by
    // reserve_slot/peek_shared would be misaligned on a base that is 8 mod 16.
    xnv_test::aligned_region mem(8192);
    using front = xnv::front_ring<sixteen_aligned, sixteen_aligned>;
    using back = xnv::back_ring<sixteen_aligned, sixteen_aligned>;
    const auto off = mem.span().subspan(8, 4096);
    CHECK_THROWS_WITH_AS(front{off}, doctest::Contains("aligned to 16 bytes"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(back{off}, doctest::Contains("aligned to 16 bytes"), std::invalid_argument);
    front f(xnv::ring_init, mem.span().subspan(16, 4096));
    CHECK(reinterpret_cast<std::uintptr_t>(f.reserve_slot(1)) % alignof(sixteen_aligned) == 0);
}

} // namespace
