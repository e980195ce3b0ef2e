// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The notification channel concept: how one side tells the other "there is work". A channel
/// carries no data, only the fact that something happened; the data travels through a shared
/// ring (include/xnv/ring/ring.hpp) whose event indices decide when a notification is needed.
/// See docs/notify.md for the implementations and how they compare.

#include <concepts>
#include <cstdint>

#include <xnv/clock.hpp>

namespace xnv::notify {

/// "No timer": a deadline or timeout that never expires.
inline constexpr nanos no_deadline = nanos::max();

/// A notification channel: any number of senders, one receiver at a time.
///
/// - `notify()` (sender): make one notification pending and wake the receiver if it sleeps.
///   Never blocks; may be called from any thread (or process, for the kinds that cross
///   processes). Notifications that arrive while one is pending may be merged into it.
/// - `try_consume()` (receiver): take every pending notification; returns how many were
///   pending (0 if none; kinds that keep only a pending bit return 1). Never blocks.
/// - `wait_for(timeout)` (receiver): block until a notification is pending or `timeout` has
///   passed, then consume as `try_consume` does. Returns 0 on timeout; a timeout of zero or
///   less only polls; `no_deadline` waits forever. May return 0 early (a signal): the caller
///   re-checks its ring either way.
///
/// A notification may be spurious (the work it announced was already taken): a receiver
/// always re-checks its ring after a wake-up and never infers work from the count alone.
template <class C>
concept channel = requires(C& c, nanos timeout) {
    { c.notify() } noexcept;
    { c.try_consume() } noexcept -> std::same_as<std::uint64_t>;
    { c.wait_for(timeout) } noexcept -> std::same_as<std::uint64_t>;
};

/// A channel with a file descriptor that becomes readable (POLLIN) while a notification is
/// pending, for `poll`/`epoll` event loops; `try_consume` makes it unreadable again.
template <class C>
concept pollable_channel = channel<C> && requires(const C& c) {
    { c.fd() } noexcept -> std::same_as<int>;
};

/// Tag: initialise the shared state of a channel placed in shared memory before attaching
/// (one side does this once, before the peer attaches).
struct shared_init_t {
    explicit shared_init_t() = default;
};
inline constexpr shared_init_t shared_init{};

} // namespace xnv::notify
