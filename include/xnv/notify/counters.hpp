// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Per-channel counters: notifications sent and suppressed (producer side), wake-ups and
/// spurious wake-ups (consumer side), and the average batch per notification.

#include <atomic>
#include <cstdint>

namespace xnv::notify {

/// A consistent-enough copy of `channel_counters` (each field read once, relaxed).
struct counters_snapshot {
    // producer side
    std::uint64_t publications = 0; ///< ring publications (pushes) with at least one item
    std::uint64_t items = 0;        ///< items those publications made visible
    std::uint64_t bytes = 0;        ///< payload bytes the producer reported with them
    std::uint64_t sent = 0;         ///< notifications sent
    std::uint64_t suppressed = 0;   ///< publications that sent no notification
    // consumer side
    std::uint64_t wakeups = 0;      ///< polls that followed a notification
    std::uint64_t spurious = 0;     ///< of those, polls that found no work
    std::uint64_t delivered = 0;    ///< items the consumer took

    /// Items published per notification sent (0 when none was sent).
    [[nodiscard]] double average_batch() const noexcept
    {
        return sent == 0 ? 0.0 : static_cast<double>(items) / static_cast<double>(sent);
    }
    /// Notifications sent per million items published.
    [[nodiscard]] double sent_per_million() const noexcept
    {
        return items == 0 ? 0.0 : static_cast<double>(sent) * 1e6 / static_cast<double>(items);
    }
    friend bool operator==(const counters_snapshot&, const counters_snapshot&) = default;
};

/// Counters of one notification channel, shared by its producer-side `coalescer` and its
/// consumer-side `napi_poller` (or kept one per side when they run in different processes).
///
/// Thread safety: every field has exactly one writer (the producer thread writes the producer
/// fields, the consumer thread the consumer fields), so an increment is a relaxed load and a
/// relaxed store, no locked instruction; any thread may take a `snapshot` at any time. The two
/// groups sit on different cache lines so the two writers do not contend.
class channel_counters {
public:
    // ---- producer side (one writer)
    void add_publication(std::uint32_t items, std::uint64_t bytes) noexcept
    {
        bump(publications_, 1);
        bump(items_, items);
        bump(bytes_, bytes);
    }
    void add_sent() noexcept { bump(sent_, 1); }
    void add_suppressed() noexcept { bump(suppressed_, 1); }
    // ---- consumer side (one writer)
    void add_wakeup() noexcept { bump(wakeups_, 1); }
    void add_spurious() noexcept { bump(spurious_, 1); }
    void add_delivered(std::uint64_t items) noexcept { bump(delivered_, items); }

    [[nodiscard]] counters_snapshot snapshot() const noexcept
    {
        constexpr auto r = std::memory_order_relaxed;
        return {publications_.load(r), items_.load(r),   bytes_.load(r),    sent_.load(r),
                suppressed_.load(r),   wakeups_.load(r), spurious_.load(r), delivered_.load(r)};
    }

private:
    static void bump(std::atomic<std::uint64_t>& c, std::uint64_t by) noexcept
    {
        c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
    }

    alignas(64) std::atomic<std::uint64_t> publications_{0};
    std::atomic<std::uint64_t> items_{0};
    std::atomic<std::uint64_t> bytes_{0};
    std::atomic<std::uint64_t> sent_{0};
    std::atomic<std::uint64_t> suppressed_{0};
    alignas(64) std::atomic<std::uint64_t> wakeups_{0};
    std::atomic<std::uint64_t> spurious_{0};
    std::atomic<std::uint64_t> delivered_{0};
};

} // namespace xnv::notify
