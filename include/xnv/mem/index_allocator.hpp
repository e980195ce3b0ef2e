// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// A free list of small integer indices (grant references, page frames): all memory is
/// allocated once at construction, `try_allocate` and `free` are O(1) and never allocate, and a
/// double free or a foreign index is refused rather than corrupting the list (Linux's
/// `gnttab_free_grant_reference` trusts its caller; a refused free here is a reported bug).

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace xnv::mem {

/// Indices `0 .. capacity-1`, handed out last-freed-first (the most recently used, and so
/// most likely cache-hot, index is reused first).
///
/// Thread safety: none; one thread at a time. Progress: every member is wait-free.
class index_allocator {
public:
    /// @throws std::invalid_argument if `capacity` is 0
    explicit index_allocator(std::uint32_t capacity)
        : stack_(std::make_unique<std::uint32_t[]>(capacity)), in_use_(std::make_unique<bool[]>(capacity)),
          capacity_(capacity), free_(capacity)
    {
        if (capacity == 0)
            throw std::invalid_argument("xnv: an index allocator needs a capacity of at least 1");
        // Highest index at the bottom, so the first allocations come out as 0, 1, 2, ...
        for (std::uint32_t i = 0; i < capacity; ++i)
            stack_[i] = capacity - 1 - i;
    }

    /// The lowest free index on a fresh allocator, then the most recently freed; nothing
    /// when all are in use.
    [[nodiscard]] std::optional<std::uint32_t> try_allocate() noexcept
    {
        if (free_ == 0)
            return std::nullopt;
        const std::uint32_t idx = stack_[--free_];
        in_use_[idx] = true;
        return idx;
    }

    /// Return `idx`. False (and nothing changes) if `idx` is out of range or not allocated.
    [[nodiscard]] bool free(std::uint32_t idx) noexcept
    {
        if (idx >= capacity_ || !in_use_[idx])
            return false;
        in_use_[idx] = false;
        stack_[free_++] = idx;
        return true;
    }

    [[nodiscard]] bool allocated(std::uint32_t idx) const noexcept { return idx < capacity_ && in_use_[idx]; }
    [[nodiscard]] std::uint32_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] std::uint32_t available() const noexcept { return free_; }
    [[nodiscard]] std::uint32_t in_use() const noexcept { return capacity_ - free_; }

private:
    std::unique_ptr<std::uint32_t[]> stack_;
    std::unique_ptr<bool[]> in_use_;
    std::uint32_t capacity_;
    std::uint32_t free_;
};

} // namespace xnv::mem
