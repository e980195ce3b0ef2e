// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Coalescing policies: when a producer notifies, and how far ahead a consumer re-arms, on top
/// of the ring's event indices (Xen's notification hold-off). Every policy is a named type
/// satisfying `coalescing_policy`, driven one event at a time with the current time passed in,
/// so the same object runs in production (steady clock), in unit tests and in the simulator
/// (virtual clock) without threads. `adaptive` lives in xnv/notify/adaptive.hpp.

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

#include <xnv/clock.hpp>
#include <xnv/notify/channel.hpp>

namespace xnv::notify {

/// What one ring publication looked like, as the producer's policy sees it.
struct publication {
    /// Entries this publication made visible (the endpoint's `unpublished()` before `push`).
    std::uint32_t items = 0;
    /// Payload bytes they carry, if the producer knows (0 otherwise); only `adaptive` reads it.
    std::uint64_t bytes = 0;
    /// The ring's hold-off verdict: `push()` returned true, i.e. the publication crossed the
    /// event index the consumer set before it went to sleep. The consumer asked to hear of it.
    bool crossed_event = false;
};

/// A consumer's answer to "I drained the ring; how do I re-arm?"
struct rearm {
    /// Pass to `final_check(ahead)`: the producer's push crosses the event index once `ahead`
    /// more entries are published (1: the next one, Xen's rule). Always >= 1.
    std::uint32_t ahead = 1;
    /// Poll the ring by this time even if no notification comes (`no_deadline`: never).
    nanos deadline = no_deadline;
    friend bool operator==(const rearm&, const rearm&) = default;
};

/// A coalescing policy. Producer-side members run on the producer's instance, consumer-side
/// members on the consumer's: give each side its own copy (they share no state). A
/// single-threaded simulator may use one instance for both sides.
///
/// Producer side:
/// - `on_publish(pub, now) -> bool`: after each publication (`push`); true = notify now.
/// - `next_deadline() -> nanos`: when the producer must call `on_timer` if nothing else
///   happens first (`no_deadline`: no timer). Used by policies that hold a notification back.
/// - `on_timer(now) -> bool`: the timer fired (or the producer looked at the clock at or after
///   `next_deadline()`); true = notify now. Calling it early is harmless (returns false).
///
/// Consumer side:
/// - `on_consumer_idle(outstanding, now) -> rearm`: the consumer drained the ring and is about
///   to re-arm and sleep. `outstanding` is how many entries the consumer knows will still come
///   (a front end consuming responses: requests in flight; 0 when unknown).
///
/// All members are noexcept, allocate nothing and keep O(1) state; none reads a clock itself.
template <class P>
concept coalescing_policy =
    std::copyable<P> && requires(P& p, const P& cp, const publication& pub, nanos now, std::uint32_t outstanding) {
        { P::name } -> std::convertible_to<std::string_view>;
        { p.on_publish(pub, now) } noexcept -> std::same_as<bool>;
        { cp.next_deadline() } noexcept -> std::same_as<nanos>;
        { p.on_timer(now) } noexcept -> std::same_as<bool>;
        { p.on_consumer_idle(outstanding, now) } noexcept -> std::same_as<rearm>;
    };

/// Notify on every publication, whatever the event index says. The baseline: the most
/// notifications and the lowest wake-up latency a sleeping consumer can get.
struct always {
    static constexpr std::string_view name = "always";
    [[nodiscard]] bool on_publish(const publication& p, nanos) noexcept { return p.items != 0; }
    [[nodiscard]] nanos next_deadline() const noexcept { return no_deadline; }
    [[nodiscard]] bool on_timer(nanos) noexcept { return false; }
    [[nodiscard]] rearm on_consumer_idle(std::uint32_t, nanos) noexcept { return {}; }
};

/// Xen's exact hold-off: notify only when the publication crossed the consumer's event index
/// (`RING_PUSH_*_AND_CHECK_NOTIFY`); the consumer re-arms one entry ahead
/// (`RING_FINAL_CHECK_FOR_*`). One notification per consumer sleep, no added latency.
struct event_idx {
    static constexpr std::string_view name = "event_idx";
    [[nodiscard]] bool on_publish(const publication& p, nanos) noexcept { return p.crossed_event; }
    [[nodiscard]] nanos next_deadline() const noexcept { return no_deadline; }
    [[nodiscard]] bool on_timer(nanos) noexcept { return false; }
    [[nodiscard]] rearm on_consumer_idle(std::uint32_t, nanos) noexcept { return {}; }
};

/// `delayed_rearm` strategy: re-arm `num/den` of the outstanding work ahead (virtio's
/// `virtqueue_enable_cb_delayed` uses 3/4). With nothing outstanding (or unknown) re-arm 1 ahead.
struct outstanding_fraction {
    std::uint32_t num = 3;
    std::uint32_t den = 4;
};

/// `delayed_rearm` strategy: re-arm a fixed number of entries ahead.
struct fixed_batch {
    std::uint32_t items = 32;
};

/// The consumer re-arms further ahead than the next entry, so the producer's hold-off lets a
/// batch build up before it notifies; a timeout makes the consumer poll anyway, so a lone
/// entry waits at most `timeout` after the consumer re-armed. The producer follows the event
/// index (as `event_idx`).
class delayed_rearm {
public:
    static constexpr std::string_view name = "delayed_rearm";

    /// @throws std::invalid_argument if `f.den == 0`, `f.num == 0`, `f.num > f.den`, or
    /// `timeout <= 0` (a lone entry would be stranded).
    delayed_rearm(outstanding_fraction f, nanos timeout) : num_(f.num), den_(f.den), batch_(0), timeout_(timeout)
    {
        if (f.den == 0 || f.num == 0 || f.num > f.den)
            throw std::invalid_argument("xnv: delayed_rearm: outstanding fraction must be in (0, 1], got " +
                                        std::to_string(f.num) + "/" + std::to_string(f.den));
        check_timeout(timeout);
    }
    /// @throws std::invalid_argument if `b.items == 0` or `timeout <= 0`.
    delayed_rearm(fixed_batch b, nanos timeout) : num_(0), den_(0), batch_(b.items), timeout_(timeout)
    {
        if (b.items == 0)
            throw std::invalid_argument("xnv: delayed_rearm: fixed batch must be at least 1 item");
        check_timeout(timeout);
    }

    [[nodiscard]] bool on_publish(const publication& p, nanos) noexcept { return p.crossed_event; }
    [[nodiscard]] nanos next_deadline() const noexcept { return no_deadline; }
    [[nodiscard]] bool on_timer(nanos) noexcept { return false; }

    [[nodiscard]] rearm on_consumer_idle(std::uint32_t outstanding, nanos now) noexcept
    {
        std::uint64_t ahead = batch_;
        if (batch_ == 0)
            ahead = std::uint64_t{outstanding} * num_ / den_;
        ahead = std::clamp<std::uint64_t>(ahead, 1, std::numeric_limits<std::uint32_t>::max());
        const nanos deadline = now > no_deadline - timeout_ ? no_deadline : now + timeout_;
        return {static_cast<std::uint32_t>(ahead), deadline};
    }

    [[nodiscard]] nanos timeout() const noexcept { return timeout_; }

private:
    static void check_timeout(nanos t)
    {
        if (t <= nanos::zero())
            throw std::invalid_argument("xnv: delayed_rearm: timeout must be positive, or a lone item could wait "
                                        "forever; got " +
                                        std::to_string(t.count()) + " ns");
    }

    std::uint32_t num_;
    std::uint32_t den_;
    std::uint32_t batch_; // 0: use the fraction
    nanos timeout_;
};

namespace detail {

/// The frames/usecs hold-off shared by `frames_usecs` and `adaptive`. "Armed" latches the
/// ring's verdict: once a publication crossed the consumer's event index, the consumer sleeps
/// and later publications no longer cross it, so the gate counts every item from then on until
/// it fires.
class holdoff_gate {
public:
    constexpr holdoff_gate(std::uint32_t frames, nanos usecs) noexcept : frames_(frames), usecs_(usecs) {}

    void retune(std::uint32_t frames, nanos usecs) noexcept
    {
        frames_ = frames;
        usecs_ = usecs;
    }

    [[nodiscard]] bool on_publish(const publication& p, nanos now) noexcept
    {
        if (p.crossed_event)
            armed_ = true;
        if (!armed_ || p.items == 0)
            return false;
        if (held_ == 0)
            first_ = now;
        held_ = held_ > std::numeric_limits<std::uint32_t>::max() - p.items ? std::numeric_limits<std::uint32_t>::max()
                                                                              : held_ + p.items;
        return fire_if_due(now);
    }
    [[nodiscard]] nanos next_deadline() const noexcept
    {
        if (!armed_ || held_ == 0 || usecs_ == nanos::zero())
            return no_deadline;
        return first_ > no_deadline - usecs_ ? no_deadline : first_ + usecs_;
    }
    [[nodiscard]] bool on_timer(nanos now) noexcept { return armed_ && held_ != 0 && fire_if_due(now); }

    [[nodiscard]] std::uint32_t held() const noexcept { return held_; }

private:
    bool fire_if_due(nanos now) noexcept
    {
        const bool by_frames = frames_ != 0 && held_ >= frames_;
        const bool by_time = usecs_ != nanos::zero() && now - first_ >= usecs_;
        if (!by_frames && !by_time)
            return false;
        armed_ = false;
        held_ = 0;
        return true;
    }

    std::uint32_t frames_;
    nanos usecs_;
    bool armed_ = false;
    std::uint32_t held_ = 0;
    nanos first_{0};
};

/// Throws the error a bad frames/usecs pair deserves; `who` names the policy (and profile).
inline void check_frames_usecs(std::uint32_t frames, std::chrono::microseconds usecs, const std::string& who)
{
    if (usecs < std::chrono::microseconds::zero())
        throw std::invalid_argument(who + ": usecs must not be negative, got " + std::to_string(usecs.count()));
    if (frames == 0 && usecs == std::chrono::microseconds::zero())
        throw std::invalid_argument(who + ": frames and usecs are both zero, so nothing would ever notify "
                                          "(frames = 1, usecs = 0 means no coalescing)");
    if (frames > 1 && usecs == std::chrono::microseconds::zero())
        throw std::invalid_argument(who + ": frames = " + std::to_string(frames) +
                                    " with usecs = 0 could strand up to " + std::to_string(frames - 1) +
                                    " items forever; give usecs > 0 as well");
}

} // namespace detail

/// Settings of `frames_usecs` (ethtool's `rx-frames`/`rx-usecs`).
struct frames_usecs_config {
    /// Announce once this many items wait (0: count time only).
    std::uint32_t frames = 1;
    /// Announce this long after the first waiting item at the latest (0: count items only).
    std::chrono::microseconds usecs{0};
};

/// ethtool-style interrupt moderation (`rx-frames`/`rx-usecs`): once the consumer is waiting
/// (a publication crossed its event index), notify when `frames` items have been published
/// since, or `usecs` after the first of them, whichever comes first. `frames = 0` counts time
/// only; `frames = 1, usecs = 0` is no coalescing (exactly `event_idx`). The producer must call
/// `on_timer` at `next_deadline()` (a timerfd, or a check in its loop).
class frames_usecs {
public:
    static constexpr std::string_view name = "frames_usecs";

    using config = frames_usecs_config;

    /// @throws std::invalid_argument if both are zero, if `usecs` is negative, or if
    /// `frames > 1` with `usecs = 0` (a lone item would never be announced).
    explicit frames_usecs(config c) : cfg_(c), gate_(c.frames, c.usecs)
    {
        detail::check_frames_usecs(c.frames, c.usecs, "xnv: frames_usecs");
    }

    [[nodiscard]] bool on_publish(const publication& p, nanos now) noexcept { return gate_.on_publish(p, now); }
    [[nodiscard]] nanos next_deadline() const noexcept { return gate_.next_deadline(); }
    [[nodiscard]] bool on_timer(nanos now) noexcept { return gate_.on_timer(now); }
    [[nodiscard]] rearm on_consumer_idle(std::uint32_t, nanos) noexcept { return {}; }

    [[nodiscard]] config settings() const noexcept { return cfg_; }
    /// Items published since the consumer started waiting that have not been announced yet.
    [[nodiscard]] std::uint32_t held() const noexcept { return gate_.held(); }

private:
    config cfg_;
    detail::holdoff_gate gate_;
};

static_assert(coalescing_policy<always>);
static_assert(coalescing_policy<event_idx>);
static_assert(coalescing_policy<delayed_rearm>);
static_assert(coalescing_policy<frames_usecs>);

} // namespace xnv::notify
