// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The simulator's random numbers, reproducible bit for bit on every platform.
///
/// The engine is `std::mt19937_64`, whose output sequence the C++ standard fixes exactly. The
/// distributions of `<random>` are not fixed (each standard library draws differently), so the
/// draws here are written out in integer arithmetic only: no floating point, no `std::log`,
/// nothing a compiler or a libm could round differently.

#include <bit>
#include <cstdint>
#include <random>

namespace xnv::sim {

namespace detail {
__extension__ using u128 = unsigned __int128;

/// SplitMix64's finaliser: spreads a seed so nearby seeds give unrelated streams.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t x) noexcept
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/// log2(v) for v >= 1, in fixed point with 32 fractional bits, by the bit-by-bit squaring
/// method: normalise v to m in [1, 2), then each squaring of m yields one fractional bit.
/// Exact to within 2^-31, using 64-bit integer multiplications only.
[[nodiscard]] constexpr std::uint64_t log2_q32(std::uint64_t v) noexcept
{
    const int n = 63 - std::countl_zero(v); // integer part; v >= 1 so countl_zero <= 63
    // m in Q1.31: the 32 leading bits of v (low bits beyond them are below the precision).
    std::uint64_t m = n >= 31 ? (v >> (n - 31)) : (v << (31 - n));
    std::uint64_t result = static_cast<std::uint64_t>(n) << 32;
    for (int bit = 31; bit >= 0; --bit) {
        // m < 2^32 here (it is in [1, 2) in Q1.31), so m * m < 2^64 does not overflow;
        // the square is in [1, 4), Q2.62, and is brought back to 31 fractional bits.
        m = (m * m) >> 31;
        if (m >= (std::uint64_t{2} << 31)) {
            m >>= 1;
            result |= std::uint64_t{1} << bit;
        }
    }
    return result;
}
} // namespace detail

/// A seeded source of integers and of the few distributions the simulator needs.
///
/// Thread safety: none (one simulator owns it). Every member is deterministic: the same seed
/// yields the same sequence of results on every conforming platform.
class rng {
public:
    /// A generator seeded with `seed`.
    explicit rng(std::uint64_t seed) noexcept : engine_(detail::mix64(seed)) {}

    /// An independent stream for stream number `stream` under `seed`: each traffic source draws
    /// from its own stream, so adding a source does not change what the others draw.
    [[nodiscard]] static rng stream(std::uint64_t seed, std::uint64_t stream) noexcept
    {
        return rng(detail::mix64(seed) ^ detail::mix64(~stream));
    }

    /// 64 uniformly random bits.
    [[nodiscard]] std::uint64_t next() noexcept { return engine_(); }

    /// Uniform in [0, n). Lemire's multiply-and-reject: unbiased, integer only.
    /// @pre n > 0 (n == 0 yields 0).
    [[nodiscard]] std::uint64_t below(std::uint64_t n) noexcept
    {
        if (n == 0)
            return 0;
        detail::u128 m = detail::u128{next()} * n;
        auto low = static_cast<std::uint64_t>(m);
        if (low < n) {
            const std::uint64_t threshold = (0 - n) % n;
            while (low < threshold) {
                m = detail::u128{next()} * n;
                low = static_cast<std::uint64_t>(m);
            }
        }
        return static_cast<std::uint64_t>(m >> 64);
    }

    /// Uniform in [lo, hi], both included. @pre lo <= hi.
    [[nodiscard]] std::uint64_t between(std::uint64_t lo, std::uint64_t hi) noexcept
    {
        if (hi <= lo)
            return lo;
        if (hi - lo == ~std::uint64_t{0})
            return next();
        return lo + below(hi - lo + 1);
    }

    /// An exponentially distributed integer with mean `mean` (rounded down), as a Poisson
    /// process's gaps are: `floor(mean * -ln(u))` for u uniform in (0, 1], in fixed point.
    /// The result never exceeds about 37 * mean (u is drawn with 53 bits).
    [[nodiscard]] std::uint64_t exponential(std::uint64_t mean) noexcept
    {
        // u = (x + 1) / 2^53 with x uniform in [0, 2^53): never 0, so the log is finite.
        const std::uint64_t x = (next() >> 11) + 1;
        // -log2(u) = 53 - log2(x + 1), Q32.
        const std::uint64_t neg_log2 = (std::uint64_t{53} << 32) - detail::log2_q32(x);
        // ln(2) in Q32 (0.693147180559945... * 2^32, rounded).
        constexpr std::uint64_t ln2_q32 = 2977044472ull;
        const detail::u128 neg_ln_q64 = detail::u128{neg_log2} * ln2_q32; // Q64
        const detail::u128 scaled = ((neg_ln_q64 >> 32) * mean) >> 32; // < 2^102 before the shift
        return scaled > ~std::uint64_t{0} ? ~std::uint64_t{0} : static_cast<std::uint64_t>(scaled);
    }

private:
    std::mt19937_64 engine_;
};

} // namespace xnv::sim
