// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// A notification channel whose whole state is one word in shared memory: a sender costs one
/// atomic instruction while the receiver is awake and a FUTEX_WAKE only when it sleeps.
/// Works across processes that map the same memory (memfd, shm, MAP_SHARED).

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <xnv/notify/channel.hpp>
#include <xnv/notify/detail/futex_port.hpp>

namespace xnv::notify {

/// The shared part of a `futex_channel`: place it in memory both sides map. All zero is the
/// idle state (nothing pending, nobody asleep). It fills one cache line so the word the
/// senders write does not share a line with anything else.
struct alignas(64) futex_channel_state {
    std::uint32_t word = 0;
    std::byte reserved[60]{};
};
static_assert(std::is_trivially_copyable_v<futex_channel_state> && std::is_standard_layout_v<futex_channel_state>,
              "the futex channel state is placed in shared memory: it must be plain bytes");
static_assert(sizeof(futex_channel_state) == 64, "one cache line, no more");

/// A view of a `futex_channel_state` in shared memory. Copies view the same state.
///
/// Thread safety: `notify` from any number of threads and processes at once; `try_consume`
/// and `wait_for` from one receiver at a time. Progress: `notify` and `try_consume` are
/// wait-free (one or two atomic instructions, plus FUTEX_WAKE when the receiver sleeps).
/// The receiver needs no system call when a notification is already pending.
class futex_channel {
public:
    static constexpr std::size_t state_bytes = sizeof(futex_channel_state);

    /// View `state` (already initialised by whoever created it).
    explicit futex_channel(futex_channel_state& state) noexcept : word_(&state.word) {}

    /// View the state at the start of `memory` (the peer's side of a shared mapping).
    /// @throws std::invalid_argument if `memory` is smaller than `state_bytes` or not aligned
    /// to 64 bytes.
    explicit futex_channel(std::span<std::byte> memory) : word_(&checked(memory)->word) {}

    /// Initialise the state at the start of `memory` to idle, then view it.
    futex_channel(shared_init_t, std::span<std::byte> memory) : word_(&create(memory)->word) {}

    void notify() noexcept { detail::futex_port<true>::notify(*word_); }
    [[nodiscard]] std::uint64_t try_consume() noexcept { return detail::futex_port<true>::try_consume(*word_); }
    std::uint64_t wait_for(nanos timeout) noexcept { return detail::futex_port<true>::wait_for(*word_, timeout); }

    /// Whether a notification is pending (a hint: it may change at once).
    [[nodiscard]] bool pending_approx() const noexcept
    {
        return (std::atomic_ref<std::uint32_t>(*word_).load(std::memory_order_relaxed) & detail::pending_bit) != 0;
    }

private:
    static void check(std::span<std::byte> memory)
    {
        if (memory.size() < state_bytes)
            throw std::invalid_argument("xnv: futex_channel needs " + std::to_string(state_bytes) +
                                        " bytes of shared memory, got " + std::to_string(memory.size()));
        if (reinterpret_cast<std::uintptr_t>(memory.data()) % alignof(futex_channel_state) != 0)
            throw std::invalid_argument("xnv: futex_channel state must be aligned to " +
                                        std::to_string(alignof(futex_channel_state)) + " bytes");
    }
    static futex_channel_state* checked(std::span<std::byte> memory)
    {
        check(memory);
        return std::launder(reinterpret_cast<futex_channel_state*>(memory.data()));
    }
    static futex_channel_state* create(std::span<std::byte> memory)
    {
        check(memory);
        return ::new (static_cast<void*>(memory.data())) futex_channel_state{};
    }

    std::uint32_t* word_;
};

static_assert(channel<futex_channel>);

} // namespace xnv::notify
