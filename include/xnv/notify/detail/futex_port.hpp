// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The pending/sleeper word behind `futex_channel` (shared futex, across processes) and
/// `inprocess_channel` (private futex, threads). One 32-bit word:
///
/// - bit 0 `pending`: set by a sender, cleared by the receiver when it consumes;
/// - bit 1 `sleeper`: set by the receiver just before it sleeps in the kernel, cleared when it
///   consumes or gives up waiting.
///
/// A sender makes the futex system call only when its RMW moves the word from "sleeper, not
/// pending" to "pending": with nobody asleep a notification is one atomic instruction.
///
/// Why no wake-up is lost: the sender's `fetch_or(pending)` and the receiver's
/// `compare_exchange(v -> v | sleeper)` are read-modify-writes of the same word, so they are
/// totally ordered. If the sender's comes first, the receiver's CAS fails (the word changed)
/// and it sees `pending` on its next look. If the receiver's comes first, the sender sees
/// `sleeper` and wakes it; the kernel's FUTEX_WAIT compares the word with the value that
/// holds `sleeper` and no `pending` atomically with queueing the waiter, so a wake that
/// comes before the receiver is queued makes FUTEX_WAIT return at once (EAGAIN).
///
/// Memory order: F1 (sender, release) orders everything the sender wrote before `notify`
/// (typically a ring publication) before the pending bit; F2 (receiver, acquire) pairs with
/// F1, so a receiver that consumed the bit sees those writes. The sleeper bit carries no data
/// and is relaxed: the argument above rests on the modification order of the word alone.

#include <atomic>
#include <cstdint>

#include <linux/futex.h>

#include <xnv/clock.hpp>
#include <xnv/notify/detail/deadline.hpp>
#include <xnv/ring/wait.hpp>

namespace xnv::notify::detail {

inline constexpr std::uint32_t pending_bit = 1u;
inline constexpr std::uint32_t sleeper_bit = 2u;

/// `Shared`: futex calls without FUTEX_PRIVATE_FLAG, so the word may live in memory that
/// several processes map (the kernel keys the futex by the physical page).
template <bool Shared>
struct futex_port {
    static constexpr int wait_op = Shared ? FUTEX_WAIT : (FUTEX_WAIT | FUTEX_PRIVATE_FLAG);
    static constexpr int wake_op = Shared ? FUTEX_WAKE : (FUTEX_WAKE | FUTEX_PRIVATE_FLAG);

    static void notify(std::uint32_t& word) noexcept
    {
        std::atomic_ref<std::uint32_t> w(word);
        // F1: release, pairs with F2 in try_consume.
        const std::uint32_t old = w.fetch_or(pending_bit, std::memory_order_release);
        if ((old & (pending_bit | sleeper_bit)) == sleeper_bit)
            xnv::detail::futex(&word, wake_op, 1, nullptr);
    }

    [[nodiscard]] static std::uint64_t try_consume(std::uint32_t& word) noexcept
    {
        std::atomic_ref<std::uint32_t> w(word);
        // Look before writing: an idle receiver that polls must not take the sender's cache
        // line away from it on every check.
        if ((w.load(std::memory_order_relaxed) & pending_bit) == 0)
            return 0;
        // F2: acquire, pairs with F1. Clearing `sleeper` too is right: the receiver is the
        // only one that sets it, and it is not asleep while it consumes.
        return (w.exchange(0, std::memory_order_acquire) & pending_bit) != 0 ? 1 : 0;
    }

    [[nodiscard]] static std::uint64_t wait_for(std::uint32_t& word, nanos timeout) noexcept
    {
        if (const std::uint64_t n = try_consume(word))
            return n;
        if (timeout <= nanos::zero())
            return 0;
        std::atomic_ref<std::uint32_t> w(word);
        const wait_deadline deadline(timeout);
        for (;;) {
            std::uint32_t v = w.load(std::memory_order_relaxed);
            if ((v & pending_bit) != 0) {
                if (const std::uint64_t n = try_consume(word))
                    return n;
                continue;
            }
            if ((v & sleeper_bit) == 0) {
                if (!w.compare_exchange_weak(v, v | sleeper_bit, std::memory_order_relaxed))
                    continue; // a sender got in first (or a spurious CAS failure): look again
                v |= sleeper_bit;
            }
            timespec ts{};
            const timespec* tsp = nullptr;
            if (!deadline.forever()) {
                const nanos left = deadline.remaining();
                if (left <= nanos::zero()) {
                    w.fetch_and(~sleeper_bit, std::memory_order_relaxed);
                    return try_consume(word);
                }
                ts = to_timespec(left);
                tsp = &ts;
            }
            // Returns at once if the word is no longer `v` (a sender set `pending`).
            xnv::detail::futex(&word, wait_op, v, tsp);
            if (const std::uint64_t n = try_consume(word))
                return n;
        }
    }
};

} // namespace xnv::notify::detail
