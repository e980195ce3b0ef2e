// SPDX-License-Identifier: MIT
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

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

// Copies an object out of memory a peer may be writing concurrently. Each word is read with a
// relaxed atomic load: the peer's concurrent rewrite is then a well-defined (if hostile) race
// rather than undefined behaviour, and the caller validates the private copy it gets, never the
// shared bytes (the XSA-155 double-fetch rule). On x86-64 and AArch64 these are plain loads.
template <class T, std::size_t Stride>
inline void load_shared(T& dst, const std::byte* src) noexcept
{
    constexpr std::size_t w = shared_word_bytes<Stride, sizeof(T)>();
    using word = uint_of_bytes<w>;
    std::array<word, sizeof(T) / w> tmp;
    auto* words = reinterpret_cast<word*>(const_cast<std::byte*>(src));
    for (std::size_t i = 0; i < tmp.size(); ++i)
        tmp[i] = std::atomic_ref<word>(words[i]).load(std::memory_order_relaxed);
    std::memcpy(&dst, tmp.data(), sizeof(T));
}

// Writes an object into a slot with relaxed word stores; publication (and so ordering) is the
// release store of the producer index that follows.
template <class T, std::size_t Stride>
inline void store_shared(std::byte* dst, const T& src) noexcept
{
    constexpr std::size_t w = shared_word_bytes<Stride, sizeof(T)>();
    using word = uint_of_bytes<w>;
    std::array<word, sizeof(T) / w> tmp;
    std::memcpy(tmp.data(), &src, sizeof(T));
    auto* words = reinterpret_cast<word*>(dst);
    for (std::size_t i = 0; i < tmp.size(); ++i)
        std::atomic_ref<word>(words[i]).store(tmp[i], std::memory_order_relaxed);
}

} // namespace xnv::detail
