// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Spurious-event back-off, after Xen's "late EOI" (the XSA-332/391 fix against event storms):
/// a receiver that keeps being woken with nothing to do waits longer and longer before it
/// listens again, so a peer that notifies in a loop cannot keep it busy; real work resets it.

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <xnv/clock.hpp>

namespace xnv::notify {

/// Settings of `spurious_backoff`.
struct backoff_config {
    /// Spurious wake-ups in a row that re-arm at once (honest races produce a few).
    std::uint32_t tolerated = 1;
    /// The first delay after the tolerated ones.
    nanos initial = std::chrono::microseconds(50);
    /// The longest delay: the worst extra latency a storm can impose on real work.
    nanos cap = std::chrono::milliseconds(10);
};

/// Decides how long a receiver keeps notifications off after a spurious wake-up (one that
/// found no work). The first `tolerated` spurious wake-ups in a row cost nothing (honest
/// races produce some); after that the delay is `initial`, then doubles on each further
/// spurious wake-up up to `cap`. Any wake-up or poll that finds work resets it.
///
/// Pure bookkeeping, no clock of its own: the caller (`napi_poller`, or a simulator) adds the
/// returned delay to its own notion of now. Not thread-safe: it belongs to one receiver.
class spurious_backoff {
public:
    using config = backoff_config;

    /// @throws std::invalid_argument if `initial <= 0` or `cap < initial`.
    explicit spurious_backoff(config c = {}) : cfg_(c)
    {
        if (c.initial <= nanos::zero())
            throw std::invalid_argument("xnv: spurious_backoff: initial delay must be positive, got " +
                                        std::to_string(c.initial.count()) + " ns");
        if (c.cap < c.initial)
            throw std::invalid_argument("xnv: spurious_backoff: cap (" + std::to_string(c.cap.count()) +
                                        " ns) is below the initial delay (" + std::to_string(c.initial.count()) +
                                        " ns)");
    }

    /// A wake-up found no work. @return how long to keep notifications off before re-arming
    /// (zero: re-arm now).
    [[nodiscard]] nanos on_spurious() noexcept
    {
        ++total_;
        if (streak_ < UINT32_MAX)
            ++streak_;
        if (streak_ <= cfg_.tolerated)
            return delay_ = nanos::zero();
        delay_ = delay_ == nanos::zero() ? cfg_.initial : (delay_ > cfg_.cap / 2 ? cfg_.cap : delay_ * 2);
        return delay_;
    }

    /// Work was found: re-arm immediately from now on.
    void on_work() noexcept
    {
        streak_ = 0;
        delay_ = nanos::zero();
    }

    /// The delay the last spurious wake-up earned (zero when none is in force).
    [[nodiscard]] nanos current_delay() const noexcept { return delay_; }
    /// Spurious wake-ups in a row, and in all.
    [[nodiscard]] std::uint32_t streak() const noexcept { return streak_; }
    [[nodiscard]] std::uint64_t total() const noexcept { return total_; }
    [[nodiscard]] const config& settings() const noexcept { return cfg_; }

private:
    config cfg_;
    nanos delay_{0};
    std::uint32_t streak_ = 0;
    std::uint64_t total_ = 0;
};

} // namespace xnv::notify
