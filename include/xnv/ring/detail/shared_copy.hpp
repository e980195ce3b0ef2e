// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

namespace xnv::detail {

// The widest word that divides both the slot stride and the object size; slots start at a
// multiple of the stride from a 64-byte aligned base, so such words are naturally aligned.
template <std::size_t Stride, std::size_t Size>
consteval std::size_t shared_word_bytes()
{
    for (std::size_t w : {std::size_t{8}, std::size_t{4}, std::size_t{2}})
        if (Stride % w == 0 && Size % w == 0)
            return w;
    return 1;
}

template <std::size_t W>
using uint_of_bytes = std::conditional_t<
    W == 8, std::uint64_t,
    std::conditional_t<W == 4, std::uint32_t, std::conditional_t<W == 2, std::uint16_t, std::uint8_t>>>;

// Applies `f(i)` for i in [0, N): unrolled at compile time for the word counts of ring entries
// (GCC leaves a loop over atomic accesses rolled, which costs a compare and branch per word),
// a plain loop for large objects.
template <std::size_t N, class F>
inline void for_each_word(F&& f) noexcept
{
    if constexpr (N <= 16) {
        [&]<std::size_t... I>(std::index_sequence<I...>) { (f(I), ...); }(std::make_index_sequence<N>{});
    } else {
        for (std::size_t i = 0; i < N; ++i)
            f(i);
    }
}

// Copies an object out of memory a peer may be writing concurrently. Each word is read with a
// relaxed atomic load: the peer's concurrent rewrite is then a well-defined (if hostile) race
// rather than undefined behaviour, and the caller validates the private copy it gets, never the
// shared bytes (the XSA-155 double-fetch rule). On x86-64 and AArch64 these are plain loads.
// Each word goes straight into `dst`: staging the words in a buffer and copying the buffer as a
// whole would read it back in wider pieces than it was written, which store-to-load forwarding
// cannot serve (a stall of a dozen cycles per entry on x86).
template <class T, std::size_t Stride>
inline void load_shared(T& dst, const std::byte* src) noexcept
{
    constexpr std::size_t w = shared_word_bytes<Stride, sizeof(T)>();
    using word = uint_of_bytes<w>;
    auto* words = reinterpret_cast<word*>(const_cast<std::byte*>(src));
    auto* out = reinterpret_cast<std::byte*>(&dst);
    for_each_word<sizeof(T) / w>([&](std::size_t i) {
        const word v = std::atomic_ref<word>(words[i]).load(std::memory_order_relaxed);
        std::memcpy(out + i * w, &v, w);
    });
}

// Writes an object into a slot with relaxed word stores; publication (and so ordering) is the
// release store of the producer index that follows.
template <class T, std::size_t Stride>
inline void store_shared(std::byte* dst, const T& src) noexcept
{
    constexpr std::size_t w = shared_word_bytes<Stride, sizeof(T)>();
    using word = uint_of_bytes<w>;
    auto* words = reinterpret_cast<word*>(dst);
    const auto* in = reinterpret_cast<const std::byte*>(&src);
    for_each_word<sizeof(T) / w>([&](std::size_t i) {
        word v;
        std::memcpy(&v, in + i * w, w);
        std::atomic_ref<word>(words[i]).store(v, std::memory_order_relaxed);
    });
}

} // namespace xnv::detail
