// SPDX-License-Identifier: MIT
#include <xnv/mem/index_allocator.hpp>

#include <doctest/doctest.h>

using xnv::mem::index_allocator;

TEST_CASE("index allocator: fresh indices come out in order, freed ones last-in first-out")
{
    index_allocator a(4);
    CHECK(a.capacity() == 4);
    CHECK(*a.try_allocate() == 0);
    CHECK(*a.try_allocate() == 1);
    CHECK(*a.try_allocate() == 2);
    CHECK(a.free(0));
    CHECK(a.free(2));
    CHECK(*a.try_allocate() == 2);
    CHECK(*a.try_allocate() == 0);
    CHECK(*a.try_allocate() == 3);
    CHECK_FALSE(a.try_allocate().has_value());
    CHECK(a.available() == 0);
    CHECK(a.in_use() == 4);
}

TEST_CASE("index allocator: double frees and foreign indices are refused")
{
    index_allocator a(2);
    CHECK_FALSE(a.free(0)); // never allocated
    const auto i = a.try_allocate();
    REQUIRE(i.has_value());
    CHECK(a.allocated(*i));
    CHECK(a.free(*i));
    CHECK_FALSE(a.free(*i));
    CHECK_FALSE(a.free(2));
    CHECK_FALSE(a.free(0xFFFFFFFF));
    CHECK_FALSE(a.allocated(7));
    CHECK(a.available() == 2);
}

TEST_CASE("index allocator: a capacity of zero is a caller mistake")
{
    CHECK_THROWS_AS(index_allocator(0), std::invalid_argument);
}
