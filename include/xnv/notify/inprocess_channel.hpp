// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// A notification channel between threads of one process: the same pending/sleeper word as
/// `futex_channel`, owned by the channel object, with process-private futex calls (the kernel
/// finds private futexes without looking up the backing page, so they are cheaper).

#include <cstdint>

#include <xnv/notify/channel.hpp>
#include <xnv/notify/detail/futex_port.hpp>

namespace xnv::notify {

/// Threads share one object by reference; it is neither copyable nor movable (its address is
/// the futex key). Thread safety and progress as `futex_channel`: `notify` from any thread,
/// `try_consume`/`wait_for` from one receiver at a time; no system call while the receiver is
/// awake.
class inprocess_channel {
public:
    inprocess_channel() noexcept = default;
    inprocess_channel(const inprocess_channel&) = delete;
    inprocess_channel& operator=(const inprocess_channel&) = delete;

    void notify() noexcept { detail::futex_port<false>::notify(word_); }
    [[nodiscard]] std::uint64_t try_consume() noexcept { return detail::futex_port<false>::try_consume(word_); }
    std::uint64_t wait_for(nanos timeout) noexcept { return detail::futex_port<false>::wait_for(word_, timeout); }

private:
    // A line of its own: senders write it, the receiver's other state must not share it.
    alignas(64) std::uint32_t word_ = 0;
};

static_assert(channel<inprocess_channel>);

} // namespace xnv::notify
