// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// What a simulation run reports. Every field is an integer (times in nanoseconds, counts,
/// bytes), so two runs can be compared for bit-for-bit equality with `==`; the ratios a report
/// wants (utilisation, throughput) are computed from them by one division each.

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <xnv/clock.hpp>
#include <xnv/sched/dispatch.hpp>

namespace xnv::sim {

/// p50, p99 and maximum of a set of latencies (nearest-rank percentiles; zero when empty).
struct latency_summary {
    std::uint64_t samples = 0;
    nanos p50{0};
    nanos p99{0};
    nanos max{0};
    friend constexpr bool operator==(const latency_summary&, const latency_summary&) = default;
};

/// Nearest-rank percentile `per_mille`/1000 of `sorted` (ascending): the smallest value with at
/// least that fraction of the samples at or below it. @pre sorted is ascending and non-empty.
[[nodiscard]] inline nanos nearest_rank(const std::vector<nanos>& sorted, std::uint64_t per_mille) noexcept
{
    const std::uint64_t n = sorted.size();
    std::uint64_t rank = (per_mille * n + 999) / 1000;
    rank = std::clamp<std::uint64_t>(rank, 1, n);
    return sorted[rank - 1];
}

/// Summarises `samples` (sorted in place).
[[nodiscard]] inline latency_summary summarise(std::vector<nanos>& samples)
{
    if (samples.empty())
        return {};
    std::sort(samples.begin(), samples.end());
    return {samples.size(), nearest_rank(samples, 500), nearest_rank(samples, 990), samples.back()};
}

/// One simulated CPU over the measured window.
struct cpu_result {
    nanos busy{0};                         ///< time spent on notifications and tasklet runs
    nanos notification_busy{0};            ///< the part of `busy` spent handling notifications
    std::uint64_t runs = 0;                ///< tasklet runs
    std::uint64_t packets = 0;             ///< packets processed
    std::uint64_t notifications = 0;       ///< notifications (upcalls) handled
    std::uint64_t timer_polls = 0;         ///< wake-ups by a coalescer's consumer deadline
    std::uint64_t empty_runs = 0;          ///< tasklet runs that found nothing to do
    std::uint64_t wakeups = 0;             ///< idle -> busy transitions
    std::uint64_t source_switches = 0;     ///< runs for a different source than the previous run
    std::uint64_t migrations = 0;          ///< runs of a source that last ran on another CPU
    friend bool operator==(const cpu_result&, const cpu_result&) = default;
};

/// One traffic source over the measured window.
struct source_result {
    std::string name;
    std::uint64_t offered_packets = 0, offered_bytes = 0;     ///< arrivals
    std::uint64_t dropped_packets = 0, dropped_bytes = 0;     ///< arrivals that found the ring full
    std::uint64_t delivered_packets = 0, delivered_bytes = 0; ///< processed by a tasklet
    std::uint64_t queued_packets = 0; ///< still in the ring when the run ended (whole run)
    latency_summary latency;                                  ///< arrival -> end of processing
    std::uint64_t notifications_sent = 0;       ///< the coalescer asked for a notification
    std::uint64_t notifications_suppressed = 0; ///< a publication the coalescer did not notify
    std::uint64_t notifications_merged = 0;     ///< sent while the previous one was still pending
    std::uint64_t notifications_spurious = 0;   ///< handled while the tasklet was already scheduled
    std::uint64_t moves = 0;                    ///< CPU changes that took effect
    std::uint32_t final_cpu = 0;                ///< the CPU it is on at the end
    friend bool operator==(const source_result&, const source_result&) = default;
};

/// A move the dispatcher decided, and when it took effect under its drain rule.
struct move_record {
    std::uint32_t source = 0;
    std::uint32_t from = 0;
    std::uint32_t to = 0;
    nanos decided{0};   ///< the sample that changed the source's target
    nanos effective{0}; ///< when the old CPU held nothing more for the source
    friend constexpr bool operator==(const move_record&, const move_record&) = default;
};

/// A decision of the dispatcher (`xnv::dispatch_decision`, comparable with `==`).
struct decision_record {
    nanos at{0};
    decision_reason reason = decision_reason::rebalance;
    std::uint32_t active_before = 0;
    std::uint32_t active_after = 0;
    double load = 0.0; ///< the policy's total load figure when it decided
    std::vector<worker_id> before;
    std::vector<worker_id> after;
    friend bool operator==(const decision_record&, const decision_record&) = default;
};

/// One tasklet run, as a `run_observer` sees it: `source`'s items `first_item` ..
/// `first_item + items - 1` (numbered from 0 over the run in arrival order) processed on `cpu`.
struct run_record {
    std::uint32_t cpu = 0;
    std::uint32_t source = 0;
    nanos start{0};
    nanos end{0};
    std::uint64_t first_item = 0;
    std::uint32_t items = 0;
    std::uint32_t packets = 0;
    friend constexpr bool operator==(const run_record&, const run_record&) = default;
};

/// What happened between two dispatcher samples (recorded at each sample, for time plots).
struct interval_record {
    nanos at{0};                      ///< the sample's time (the interval ends here)
    std::uint64_t offered_bytes = 0;  ///< arrivals in the interval, dropped or not
    std::uint64_t handled_bytes = 0;  ///< bytes tasklet runs completed
    nanos busy{0};                    ///< CPU time started in the interval, all CPUs together
    std::uint32_t active_workers = 0; ///< the policy's active workers after the sample
    friend constexpr bool operator==(const interval_record&, const interval_record&) = default;
};

/// The outcome of one run. Counters cover the measured window [warmup, duration]; `moves_log`
/// and `decisions` cover the whole run.
struct sim_result {
    nanos warmup{0};
    nanos duration{0};
    std::vector<cpu_result> cpus;
    std::vector<source_result> sources;
    latency_summary latency; ///< over every source's packets together
    std::vector<move_record> moves_log;
    std::vector<decision_record> decisions;
    std::vector<interval_record> timeline; ///< one entry per dispatcher sample
    std::uint64_t events = 0; ///< discrete events processed

    [[nodiscard]] nanos window() const noexcept { return duration - warmup; }

    /// Fraction of the window CPU `cpu` was busy, in [0, 1].
    [[nodiscard]] double utilisation(std::size_t cpu) const noexcept
    {
        return window() > nanos::zero() ? static_cast<double>(cpus[cpu].busy.count()) /
                                              static_cast<double>(window().count())
                                        : 0.0;
    }

    [[nodiscard]] std::uint64_t delivered_bytes() const noexcept
    {
        std::uint64_t b = 0;
        for (const auto& s : sources)
            b += s.delivered_bytes;
        return b;
    }
    [[nodiscard]] std::uint64_t offered_bytes() const noexcept
    {
        std::uint64_t b = 0;
        for (const auto& s : sources)
            b += s.offered_bytes;
        return b;
    }
    /// Delivered throughput over the window, in bits per second.
    [[nodiscard]] double throughput_bps() const noexcept
    {
        return window() > nanos::zero()
                   ? static_cast<double>(delivered_bytes()) * 8e9 / static_cast<double>(window().count())
                   : 0.0;
    }
    /// Offered load over the window, in bits per second.
    [[nodiscard]] double offered_bps() const noexcept
    {
        return window() > nanos::zero()
                   ? static_cast<double>(offered_bytes()) * 8e9 / static_cast<double>(window().count())
                   : 0.0;
    }
    [[nodiscard]] std::uint64_t moves() const noexcept
    {
        std::uint64_t m = 0;
        for (const auto& s : sources)
            m += s.moves;
        return m;
    }
    [[nodiscard]] std::uint64_t notifications_sent() const noexcept
    {
        std::uint64_t n = 0;
        for (const auto& s : sources)
            n += s.notifications_sent;
        return n;
    }
    [[nodiscard]] std::uint64_t notifications_suppressed() const noexcept
    {
        std::uint64_t n = 0;
        for (const auto& s : sources)
            n += s.notifications_suppressed;
        return n;
    }

    friend bool operator==(const sim_result&, const sim_result&) = default;
};

} // namespace xnv::sim
