// SPDX-License-Identifier: MIT
#include <xnv/sim/rng.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>

using xnv::sim::rng;

TEST_CASE("rng: the engine is the standard's mt19937_64, whose sequence the standard fixes")
{
    // [rand.predef]: the 10000th output of a default-constructed mt19937_64.
    std::mt19937_64 e;
    e.discard(9999);
    CHECK(e() == 9981545732273789042ull);
}

TEST_CASE("rng: the same seed gives the same draws; another seed or stream differs")
{
    rng a(42), b(42), c(43);
    bool differs = false;
    for (int i = 0; i < 100; ++i) {
        const auto x = a.next();
        CHECK(x == b.next());
        differs = differs || x != c.next();
    }
    CHECK(differs);
    auto s0 = rng::stream(7, 0), s0b = rng::stream(7, 0), s1 = rng::stream(7, 1);
    const auto first = s0.next();
    CHECK(first == s0b.next());
    CHECK(first != s1.next());
}

TEST_CASE("rng: draws are pinned, so a platform or a change that draws differently is caught")
{
    rng r(2024);
    CHECK(r.below(1'000'000) == 936017);
    CHECK(r.below(1'000'000) == 65207);
    CHECK(r.below(1'000'000) == 293443);
    CHECK(r.exponential(1'000'000) == 358100);
    CHECK(r.exponential(1'000'000) == 1595799);
    CHECK(r.exponential(1'000'000) == 1958024);
    CHECK(r.between(64, 1500) == 205);
    CHECK(r.between(64, 1500) == 1459);
    CHECK(r.between(64, 1500) == 644);
    CHECK(rng::stream(2024, 3).next() == 11477269511399645277ull);
}

TEST_CASE("rng: below and between stay in range and reach both ends")
{
    rng r(9);
    bool low = false, high = false;
    for (int i = 0; i < 10'000; ++i) {
        const auto v = r.between(10, 20);
        REQUIRE(v >= 10);
        REQUIRE(v <= 20);
        low = low || v == 10;
        high = high || v == 20;
        REQUIRE(r.below(7) < 7);
    }
    CHECK(low);
    CHECK(high);
    CHECK(r.below(0) == 0);
    CHECK(r.between(5, 5) == 5);
    CHECK(r.between(5, 4) == 5);
}

TEST_CASE("rng: below is uniform (each of 10 buckets within 3% of its share)")
{
    rng r(11);
    std::uint64_t bucket[10] = {};
    constexpr int draws = 200'000;
    for (int i = 0; i < draws; ++i)
        ++bucket[r.below(10)];
    for (auto b : bucket) {
        CHECK(b > draws / 10 * 97 / 100);
        CHECK(b < draws / 10 * 103 / 100);
    }
}

TEST_CASE("rng: the fixed-point log2 is within 2^-29 of the true value")
{
    for (std::uint64_t v = 1; v < (std::uint64_t{1} << 53); v = v * 3 + 1) {
        const double got = static_cast<double>(xnv::sim::detail::log2_q32(v)) / 4294967296.0;
        CHECK(std::fabs(got - std::log2(static_cast<double>(v))) < 1.0 / (1 << 29));
    }
    CHECK(xnv::sim::detail::log2_q32(1) == 0);
    CHECK(xnv::sim::detail::log2_q32(1024) == std::uint64_t{10} << 32);
}

TEST_CASE("rng: exponential draws have the requested mean and the exponential's spread")
{
    rng r(5);
    constexpr int draws = 200'000;
    double sum = 0, sum_sq = 0;
    int above_mean = 0;
    for (int i = 0; i < draws; ++i) {
        const auto x = static_cast<double>(r.exponential(1000));
        sum += x;
        sum_sq += x * x;
        above_mean += x > 1000 ? 1 : 0;
    }
    const double mean = sum / draws, var = sum_sq / draws - mean * mean;
    CHECK(mean == doctest::Approx(1000).epsilon(0.01));
    CHECK(std::sqrt(var) == doctest::Approx(1000).epsilon(0.02)); // sd == mean
    // P(X > mean) = 1/e
    CHECK(static_cast<double>(above_mean) / draws == doctest::Approx(std::exp(-1.0)).epsilon(0.02));
}
