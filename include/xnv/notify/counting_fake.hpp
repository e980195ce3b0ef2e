// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// A notification channel for tests and the simulator: it records the (virtual) time of every
/// notification, and never blocks.

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include <xnv/clock.hpp>
#include <xnv/notify/channel.hpp>

namespace xnv::notify {

/// Records every `notify()` with the time `Clock` reads at that moment. `try_consume` returns
/// how many are pending and clears them; `wait_for` does the same without waiting (virtual
/// time passes only when the test moves its clock).
///
/// Not a hot-path type: `notify` appends to a vector (and terminates the program if memory
/// runs out). Not thread-safe: one thread drives it, as it drives the virtual clock.
template <clock_source Clock>
class counting_fake {
public:
    explicit counting_fake(Clock clock) : clock_(std::move(clock)) {}

    void notify() noexcept
    {
        times_.push_back(clock_.now());
        ++pending_;
    }
    [[nodiscard]] std::uint64_t try_consume() noexcept
    {
        const std::uint64_t n = pending_;
        pending_ = 0;
        return n;
    }
    std::uint64_t wait_for(nanos) noexcept { return try_consume(); }

    /// Every notification so far, in order, as the time it was sent.
    [[nodiscard]] std::span<const nanos> notifications() const noexcept { return times_; }
    [[nodiscard]] std::size_t count() const noexcept { return times_.size(); }
    /// Notifications not consumed yet.
    [[nodiscard]] std::uint64_t pending() const noexcept { return pending_; }
    /// Forget the record and anything pending.
    void clear() noexcept
    {
        times_.clear();
        pending_ = 0;
    }

private:
    Clock clock_;
    std::vector<nanos> times_;
    std::uint64_t pending_ = 0;
};

static_assert(channel<counting_fake<virtual_clock>>);

} // namespace xnv::notify
