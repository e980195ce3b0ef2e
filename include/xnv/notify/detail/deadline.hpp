// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <ctime>

#include <xnv/clock.hpp>

namespace xnv::notify::detail {

/// The remaining time of a blocking wait on the steady clock. Timeouts longer than about a
/// century count as "forever", so deadline arithmetic never overflows.
class wait_deadline {
public:
    explicit wait_deadline(nanos timeout) noexcept
        : forever_(timeout >= forever_threshold),
          end_(forever_ ? std::chrono::steady_clock::time_point{} : std::chrono::steady_clock::now() + timeout)
    {
    }
    [[nodiscard]] bool forever() const noexcept { return forever_; }
    /// Time left; zero or negative once the deadline has passed. Meaningless when `forever()`.
    [[nodiscard]] nanos remaining() const noexcept
    {
        return std::chrono::duration_cast<nanos>(end_ - std::chrono::steady_clock::now());
    }

private:
    static constexpr nanos forever_threshold = std::chrono::hours(24 * 365 * 100);
    bool forever_;
    std::chrono::steady_clock::time_point end_;
};

[[nodiscard]] inline timespec to_timespec(nanos d) noexcept
{
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(d.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(d.count() % 1'000'000'000);
    return ts;
}

} // namespace xnv::notify::detail
