// SPDX-License-Identifier: MIT
#pragma once

// Shared by the fuzz targets: an invariant check that aborts (libFuzzer then keeps the input as
// a crash, and the replay test fails on it), a cursor over the fuzzer's bytes that never runs
// out (an exhausted input reads as zeros), and exactly sized aligned buffers, so that
// AddressSanitizer sees any access one byte past the memory a target is given.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>

/// Abort with the failed condition when an invariant does not hold.
#define XNV_FUZZ_CHECK(cond) ((cond) ? static_cast<void>(0) : ::xnv::fuzz::violated(#cond, __FILE__, __LINE__))

namespace xnv::fuzz {

[[noreturn]] inline void violated(const char* what, const char* file, int line) noexcept
{
    std::fprintf(stderr, "%s:%d: fuzz invariant violated: %s\n", file, line, what);
    std::fflush(stderr);
    std::abort();
}

/// Reads the fuzzer's input front to back, little-endian. Reading past the end yields zeros
/// and short spans, so a target never has to check lengths to stay defined.
class input {
public:
    input(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}

    [[nodiscard]] std::size_t left() const noexcept { return size_ - pos_; }
    [[nodiscard]] bool empty() const noexcept { return pos_ == size_; }

    template <class T> [[nodiscard]] T get() noexcept
    {
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < sizeof(T) && pos_ < size_; ++i)
            v |= std::uint64_t{data_[pos_++]} << (8 * i);
        return static_cast<T>(v);
    }
    [[nodiscard]] std::uint8_t u8() noexcept { return get<std::uint8_t>(); }
    [[nodiscard]] std::uint16_t u16() noexcept { return get<std::uint16_t>(); }
    [[nodiscard]] std::uint32_t u32() noexcept { return get<std::uint32_t>(); }

    /// Up to `n` bytes (fewer at the end of the input).
    [[nodiscard]] std::span<const std::uint8_t> bytes(std::size_t n) noexcept
    {
        const std::size_t k = std::min(n, left());
        const std::span<const std::uint8_t> s(data_ + pos_, k);
        pos_ += k;
        return s;
    }
    /// Everything not read yet.
    [[nodiscard]] std::span<const std::uint8_t> rest() noexcept { return bytes(left()); }

    /// Fill `out` from the input (zeros past its end).
    void fill(void* out, std::size_t n) noexcept
    {
        const auto s = bytes(n);
        std::memcpy(out, s.data(), s.size());
        std::memset(static_cast<std::byte*>(out) + s.size(), 0, n - s.size());
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

/// Heap memory of exactly `size` bytes at `align`, zeroed: one byte past it is outside the
/// allocation, so AddressSanitizer reports any access there.
class exact_buffer {
public:
    exact_buffer(std::size_t size, std::size_t align)
        : size_(size), align_(align),
          data_(static_cast<std::byte*>(::operator new (std::max<std::size_t>(size, 1), std::align_val_t{align})))
    {
        std::memset(data_, 0, size_);
    }
    exact_buffer(const exact_buffer&) = delete;
    exact_buffer& operator=(const exact_buffer&) = delete;
    ~exact_buffer() { ::operator delete (data_, std::align_val_t{align_}); }

    [[nodiscard]] std::span<std::byte> span() const noexcept { return {data_, size_}; }
    [[nodiscard]] std::byte* data() const noexcept { return data_; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
    std::size_t size_;
    std::size_t align_;
    std::byte* data_;
};

/// Raw 32-bit word at byte offset `off` of `mem` (the shared indices a peer writes).
[[nodiscard]] inline std::uint32_t load_word(std::span<const std::byte> mem, std::size_t off) noexcept
{
    std::uint32_t v;
    std::memcpy(&v, mem.data() + off, sizeof v);
    return v;
}
inline void store_word(std::span<std::byte> mem, std::size_t off, std::uint32_t v) noexcept
{
    std::memcpy(mem.data() + off, &v, sizeof v);
}

} // namespace xnv::fuzz
