// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Masking and a pending bit in front of any channel, as Xen's event channels have them: a
/// masked channel delivers nothing but remembers that an event came, and delivers that one
/// event when it is unmasked. A pending event also absorbs further notifications until the
/// receiver consumes it, so a sender whose receiver has not yet looked costs one atomic
/// instruction, never a system call.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <xnv/notify/channel.hpp>

namespace xnv::notify {

/// The pending and mask bits of one port (Xen keeps them in the shared-info page). Place it in
/// memory both sides map when sender and receiver are different processes; all zero means
/// unmasked, nothing pending.
struct alignas(64) event_port_state {
    std::uint32_t word = 0;
    std::byte reserved[60]{};
};
static_assert(std::is_trivially_copyable_v<event_port_state> && std::is_standard_layout_v<event_port_state>,
              "the port state is placed in shared memory: it must be plain bytes");

/// A view that adds masking and a pending bit to the channel `C` it refers to. Both sides
/// construct one over the same `event_port_state` and their own handle on the channel (for an
/// eventfd: the same descriptor, or one received over SCM_RIGHTS).
///
/// Sender: `notify` sets `pending`; it notifies `C` only on the edge from "not pending" to
/// "pending" and only while unmasked. Receiver: `try_consume`/`wait_for` deliver nothing while
/// masked (the pending bit stays set); `unmask` re-delivers a remembered event through `C`, so a
/// receiver blocked in `wait_for` or polling `fd()` sees it.
///
/// Why nothing is lost (P1..P3 below): `pending` and `masked` share one word, so `notify`'s
/// `fetch_or`, `unmask`'s `fetch_and` and the receiver's clear are totally ordered RMWs: either
/// `unmask` sees `pending` and delivers, or `notify` sees the mask gone and delivers. The
/// receiver drains `C` *before* clearing `pending`: a sender that set `pending` after the clear
/// delivers again through `C` (at worst one spurious wake-up); clearing first could leave
/// `pending` set with nothing in `C`, and every later `notify` would then be absorbed.
///
/// Thread safety: `notify` from any thread (process); receiver operations, `mask` and `unmask`
/// from the receiver's side (`mask`/`unmask` may come from another thread than the waiter).
template <channel C>
class masked_channel {
public:
    masked_channel(event_port_state& port, C& inner) noexcept : word_(&port.word), inner_(&inner) {}

    /// @return true if this call delivered through `C`; false if the event was absorbed by a
    /// pending one or remembered because the channel is masked.
    bool notify() noexcept
    {
        // P1: release, so a receiver that clears `pending` (P2, acquire) sees what the sender
        // wrote before notifying.
        const std::uint32_t old = port().fetch_or(pending_bit, std::memory_order_release);
        if ((old & (pending_bit | masked_bit)) != 0)
            return false;
        inner_->notify();
        return true;
    }

    [[nodiscard]] std::uint64_t try_consume() noexcept { return settle(inner_->try_consume()); }

    std::uint64_t wait_for(nanos timeout) noexcept
    {
        if (const std::uint64_t n = try_consume())
            return n;
        return settle(inner_->wait_for(timeout));
    }

    /// Stop delivering; events that arrive are remembered (one pending bit).
    void mask() noexcept { port().fetch_or(masked_bit, std::memory_order_relaxed); }

    /// Deliver again; a remembered event is delivered now through `C`.
    /// @return true if a pending event was delivered.
    bool unmask() noexcept
    {
        // P3: acq_rel, so the receiver that later consumes the re-delivered event sees what
        // the sender wrote before setting `pending` (P1).
        const std::uint32_t old = port().fetch_and(~masked_bit, std::memory_order_acq_rel);
        if ((old & masked_bit) != 0 && (old & pending_bit) != 0) {
            inner_->notify();
            return true;
        }
        return false;
    }

    [[nodiscard]] bool masked() const noexcept { return (port().load(std::memory_order_relaxed) & masked_bit) != 0; }
    /// Whether an event is pending (remembered while masked, or not yet consumed). A hint.
    [[nodiscard]] bool pending() const noexcept { return (port().load(std::memory_order_relaxed) & pending_bit) != 0; }

    [[nodiscard]] int fd() const noexcept
        requires pollable_channel<C>
    {
        return inner_->fd();
    }

private:
    static constexpr std::uint32_t pending_bit = 1u;
    static constexpr std::uint32_t masked_bit = 2u;

    [[nodiscard]] std::atomic_ref<std::uint32_t> port() const noexcept { return std::atomic_ref<std::uint32_t>(*word_); }

    // `n` notifications were already taken from `C`; now take the pending bit unless masked.
    std::uint64_t settle(std::uint64_t n) noexcept
    {
        const std::uint32_t v = port().load(std::memory_order_relaxed);
        if ((v & pending_bit) == 0 || (v & masked_bit) != 0)
            return n;
        // P2: acquire, pairs with P1 (and P3).
        const std::uint32_t old = port().fetch_and(~pending_bit, std::memory_order_acquire);
        return (old & pending_bit) != 0 ? std::max<std::uint64_t>(n, 1) : n;
    }

    std::uint32_t* word_;
    C* inner_;
};

} // namespace xnv::notify
