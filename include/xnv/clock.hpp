// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Injectable clocks: every time-dependent policy in xnv (coalescers, dispatchers, back-off,
/// the simulator) takes a clock satisfying `xnv::clock_source`, so production code runs on the
/// steady clock and tests run on a virtual clock that only moves when told to.

#include <chrono>
#include <concepts>
#include <cstdint>

namespace xnv {

/// Nanoseconds since an arbitrary, fixed epoch.
using nanos = std::chrono::nanoseconds;

template <class C>
concept clock_source = requires(const C& c) {
    { c.now() } noexcept -> std::same_as<nanos>;
};

/// The monotonic system clock.
struct steady_clock_source {
    [[nodiscard]] nanos now() const noexcept
    {
        return std::chrono::duration_cast<nanos>(std::chrono::steady_clock::now().time_since_epoch());
    }
};

/// A clock that moves only when told to: deterministic tests and the simulator.
/// Not thread-safe: one thread drives it (the simulator, or a test's main thread).
class virtual_clock {
public:
    constexpr explicit virtual_clock(nanos start = nanos::zero()) noexcept : now_(start) {}
    [[nodiscard]] nanos now() const noexcept { return now_; }
    /// Move forward by `d` (a negative `d` is ignored: time never runs backwards).
    void advance(nanos d) noexcept
    {
        if (d > nanos::zero())
            now_ += d;
    }
    /// Move forward to `t` if it is later than now.
    void advance_to(nanos t) noexcept
    {
        if (t > now_)
            now_ = t;
    }

private:
    nanos now_;
};

/// A non-owning handle to a clock, so a policy can be given a clock that outlives it
/// (a test's `virtual_clock`) without copying it.
template <clock_source C>
class clock_ref {
public:
    constexpr explicit clock_ref(const C& c) noexcept : c_(&c) {}
    [[nodiscard]] nanos now() const noexcept { return c_->now(); }

private:
    const C* c_;
};

static_assert(clock_source<steady_clock_source>);
static_assert(clock_source<virtual_clock>);
static_assert(clock_source<clock_ref<virtual_clock>>);

} // namespace xnv
