// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The producer side of the notification coalescer: publish a ring's new entries, ask the
/// policy whether to notify, notify the channel, count.

#include <concepts>
#include <cstdint>
#include <utility>

#include <xnv/clock.hpp>
#include <xnv/notify/channel.hpp>
#include <xnv/notify/counters.hpp>
#include <xnv/notify/policy.hpp>

namespace xnv::notify {

/// What the coalescer needs from a ring endpoint (`front_ring`/`back_ring` qualify).
template <class E>
concept publishing_endpoint = requires(E& e) {
    { e.unpublished() } noexcept -> std::same_as<std::uint32_t>;
    { e.push() } noexcept -> std::same_as<bool>;
};

/// Binds the producing side of a ring endpoint, the channel to the consumer, a policy (its
/// producer-side half) and a clock. Produce entries on the endpoint as usual (`try_produce`,
/// `produce`, `reserve_slot`/`commit`), then call `publish` instead of `push`.
///
/// Thread safety: used by the endpoint's one producing thread, as the endpoint is.
/// Progress: wait-free apart from the channel's `notify` (a system call for eventfd, or for a
/// futex when the consumer sleeps).
template <publishing_endpoint Endpoint, channel Channel, coalescing_policy Policy,
          clock_source Clock = steady_clock_source>
class coalescer {
public:
    coalescer(Endpoint& ring, Channel& ch, Policy policy, channel_counters& counters, Clock clock = Clock{})
        : ring_(&ring), channel_(&ch), counters_(&counters), policy_(std::move(policy)), clock_(std::move(clock))
    {
    }

    /// Publish every entry produced since the last publication (`push`), tell the policy, and
    /// notify if it says so. `bytes` is the payload those entries carry, if known.
    /// @return true if a notification was sent. Nothing to publish: returns false, counts nothing.
    bool publish(std::uint64_t bytes = 0) noexcept
    {
        const std::uint32_t items = ring_->unpublished();
        if (items == 0)
            return false;
        const bool crossed = ring_->push();
        counters_->add_publication(items, bytes);
        if (policy_.on_publish(publication{items, bytes, crossed}, clock_.now()))
            return send();
        counters_->add_suppressed();
        return false;
    }

    /// Give a held-back notification its chance: call at or after `next_deadline()` (earlier is
    /// harmless). @return true if a notification was sent.
    bool on_timer() noexcept { return policy_.on_timer(clock_.now()) && send(); }

    /// When `on_timer` must be called if no publication comes first (`no_deadline`: never).
    [[nodiscard]] nanos next_deadline() const noexcept { return policy_.next_deadline(); }

    [[nodiscard]] Policy& policy() noexcept { return policy_; }
    [[nodiscard]] const Policy& policy() const noexcept { return policy_; }
    [[nodiscard]] const Clock& clock() const noexcept { return clock_; }

private:
    bool send() noexcept
    {
        channel_->notify();
        counters_->add_sent();
        return true;
    }

    Endpoint* ring_;
    Channel* channel_;
    channel_counters* counters_;
    Policy policy_;
    Clock clock_;
};

} // namespace xnv::notify
