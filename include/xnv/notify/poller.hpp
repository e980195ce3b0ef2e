// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The consumer side of the notification coalescer: NAPI-style polling with a budget,
/// re-arming through the ring's final check, and spurious-wake-up back-off.

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <thread>
#include <utility>

#include <xnv/clock.hpp>
#include <xnv/notify/backoff.hpp>
#include <xnv/notify/channel.hpp>
#include <xnv/notify/counters.hpp>
#include <xnv/notify/policy.hpp>
#include <xnv/ring/error.hpp>
#include <xnv/ring/ring.hpp>

namespace xnv::notify {

/// What the poller needs from a ring endpoint (`front_ring`/`back_ring` qualify).
template <class E>
concept consuming_endpoint = std::default_initializable<typename E::in_type> &&
                             requires(E& e, std::span<typename E::in_type> out, std::uint32_t ahead) {
                                 { e.consume(out) } noexcept -> std::same_as<ring_count>;
                                 { e.final_check(ahead) } noexcept -> std::same_as<ring_count>;
                                 { e.size() } noexcept -> std::same_as<std::uint32_t>;
                             };

/// Why the consumer is polling now.
enum class wake_reason : std::uint8_t {
    notification, ///< its channel delivered a notification
    timer,        ///< a deadline the poller gave passed (or the caller's own wait limit)
    continued,    ///< the previous poll said `keep_polling`
};

/// What the consumer does next.
enum class poll_state : std::uint8_t {
    keep_polling, ///< more work may be waiting: poll again soon; notifications stay off
    armed,        ///< drained and re-armed: sleep until a notification or `deadline`
    backing_off,  ///< spurious wake-ups: do not listen before `deadline`, then poll (`timer`)
    peer_error,   ///< the peer broke the ring protocol: disconnect it (see `error`)
};

struct poll_result {
    std::uint32_t items = 0; ///< entries handled by this poll
    poll_state state = poll_state::armed;
    nanos deadline = no_deadline; ///< for `armed` and `backing_off`, on the poller's clock
    ring_error error = ring_error::none;
    wake_reason reason = wake_reason::continued; ///< why this poll ran (as passed to `poll`)
};

/// Settings of `napi_poller`.
struct poller_config {
    /// Entries per poll at most (NAPI's weight is 64).
    std::uint32_t budget = 64;
    /// Polls that find the ring drained before the poller re-arms (Linux's
    /// `napi_defer_hard_irqs`): until then it says `keep_polling` and notifications stay off,
    /// so a producer that publishes again within that window is not made to notify. Any
    /// entry found starts the count again. 0: re-arm as soon as the ring is drained.
    std::uint32_t defer_rearm_polls = 0;
    backoff_config backoff{};
};

/// NAPI-style consumer: each `poll` handles up to `budget` entries. A poll that used its whole
/// budget leaves notifications off (the event index is not re-armed, so the producer's pushes
/// do not cross it) and says `keep_polling`; so do the first `defer_rearm_polls` polls that
/// find the ring drained. Then a poll that drains the ring asks the policy how far
/// ahead to re-arm, re-arms with the ring's `final_check` and says `armed` — or
/// `keep_polling` if the final check found entries that raced in, which is what makes the
/// sleep safe: either the final check sees the producer's entry, or the producer's push sees
/// the new event index and notifies (edges E3/E4 of the ring).
///
/// A poll after a notification that finds nothing is spurious; after `backoff.tolerated` of
/// them in a row the poller says `backing_off` instead of re-arming, for an exponentially
/// growing time (`spurious_backoff`), so a peer that notifies in a loop gets ever less
/// attention; any entry found resets it.
///
/// Deterministic: the poller reads time only from `Clock`, so a simulator can drive it with a
/// virtual clock, one poll at a time. Thread safety: one consumer thread, as the endpoint.
template <consuming_endpoint Endpoint, coalescing_policy Policy, clock_source Clock = steady_clock_source>
class napi_poller {
public:
    using in_type = typename Endpoint::in_type;
    using config = poller_config;

    /// @throws std::invalid_argument if `cfg.budget == 0` or the back-off settings are bad.
    napi_poller(Endpoint& ring, Policy policy, channel_counters& counters, config cfg = {}, Clock clock = Clock{})
        : ring_(&ring), counters_(&counters), policy_(std::move(policy)), budget_(cfg.budget),
          defer_(cfg.defer_rearm_polls), backoff_(cfg.backoff), clock_(std::move(clock))
    {
        if (cfg.budget == 0)
            throw std::invalid_argument("xnv: napi_poller: budget must be at least 1 entry per poll");
    }

    /// Handle up to `budget` entries with `handle(std::span<const in_type>)` (called once per
    /// chunk of at most `chunk` entries), then decide what comes next. See the class comment.
    template <class Handler>
    poll_result poll(wake_reason why, Handler&& handle) noexcept(
        noexcept(std::forward<Handler>(handle)(std::span<const in_type>{})))
    {
        const nanos now = clock_.now();
        std::uint32_t done = 0;
        ring_error err = ring_error::none;
        while (done < budget_) {
            in_type buf[chunk];
            const std::uint32_t want = std::min(chunk, budget_ - done);
            const ring_count c = ring_->consume(std::span<in_type>(buf, want));
            if (!c.ok()) {
                err = c.error;
                break;
            }
            if (c.count == 0)
                break;
            handle(std::span<const in_type>(buf, c.count));
            done += c.count;
        }
        counters_->add_delivered(done);
        if (why == wake_reason::notification)
            counters_->add_wakeup();
        if (err != ring_error::none)
            return {done, poll_state::peer_error, no_deadline, err, why};
        if (done != 0) {
            backoff_.on_work();
            deferred_ = 0;
        } else if (why == wake_reason::notification) {
            counters_->add_spurious();
            const nanos delay = backoff_.on_spurious();
            if (delay > nanos::zero())
                return {0, poll_state::backing_off, now + delay, ring_error::none, why};
        }
        if (done == budget_)
            return {done, poll_state::keep_polling, no_deadline, ring_error::none, why};
        if (deferred_ < defer_) {
            ++deferred_;
            return {done, poll_state::keep_polling, no_deadline, ring_error::none, why};
        }
        deferred_ = 0;
        const rearm r = policy_.on_consumer_idle(outstanding(), now);
        const ring_count c = ring_->final_check(std::clamp(r.ahead, std::uint32_t{1}, ring_->size()));
        if (!c.ok())
            return {done, poll_state::peer_error, no_deadline, c.error, why};
        if (c.count != 0)
            return {done, poll_state::keep_polling, no_deadline, ring_error::none, why};
        return {done, poll_state::armed, r.deadline, ring_error::none, why};
    }

    [[nodiscard]] nanos now() const noexcept { return clock_.now(); }
    [[nodiscard]] Policy& policy() noexcept { return policy_; }
    [[nodiscard]] const spurious_backoff& backoff() const noexcept { return backoff_; }
    [[nodiscard]] std::uint32_t budget() const noexcept { return budget_; }

    /// Entries handed to the handler at most per call.
    static constexpr std::uint32_t chunk = 16;

private:
    // Entries the consumer knows are still to come: a front end consuming responses has
    // published requests that await them. A back end cannot know: 0.
    [[nodiscard]] std::uint32_t outstanding() const noexcept
    {
        if constexpr (requires { Endpoint::side; }) {
            if constexpr (Endpoint::side == ring_side::front)
                return ring_->published() - ring_->consumed();
        }
        return 0;
    }

    Endpoint* ring_;
    channel_counters* counters_;
    Policy policy_;
    std::uint32_t budget_;
    std::uint32_t defer_;
    std::uint32_t deferred_ = 0; // drained polls since the last entry found
    spurious_backoff backoff_;
    Clock clock_;
};

/// One step of a consumer thread on real time: act on the previous poll's result `last`, then
/// poll again and return the new result. `keep_polling` (and `peer_error`, which the caller
/// should have acted on): poll at once (after one CPU pause if the last poll found nothing). `armed`: wait on `ch` until a notification,
/// `last.deadline` or `max_wait`, whichever comes first. `backing_off`: sleep until
/// `last.deadline` without listening, drop what `ch` accumulated meanwhile, then poll (a
/// `timer` poll). The loop of a consumer thread:
///
///     poll_result r{.state = poll_state::keep_polling};
///     while (running) {
///         r = wait_and_poll(poller, ch, r, handle);
///         if (r.state == poll_state::peer_error) { disconnect(r.error); break; }
///     }
///
/// For a poller on a clock that moves by itself (`steady_clock_source`); a simulator calls
/// `poll` directly instead.
template <class Poller, channel Channel, class Handler>
poll_result wait_and_poll(Poller& p, Channel& ch, const poll_result& last, Handler&& handle,
                          nanos max_wait = no_deadline)
{
    wake_reason why = wake_reason::continued;
    if (last.state == poll_state::keep_polling && last.items == 0) {
        cpu_relax(); // a deferred re-arm: the ring was empty a moment ago
    } else if (last.state == poll_state::armed) {
        nanos timeout = max_wait;
        if (last.deadline != no_deadline)
            timeout = std::min(timeout, last.deadline - p.now());
        why = ch.wait_for(timeout) != 0 ? wake_reason::notification : wake_reason::timer;
    } else if (last.state == poll_state::backing_off) {
        std::this_thread::sleep_for(last.deadline - p.now());
        (void)ch.try_consume();
        why = wake_reason::timer;
    }
    return p.poll(why, std::forward<Handler>(handle));
}

} // namespace xnv::notify
