// SPDX-License-Identifier: MIT
#pragma once

// What every ring benchmark shares: the two-thread placement (pinning and how it is
// recorded), cache-line aligned shared memory, and the spin hint used by every peer alike.

#include <xnv/ring/wait.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <new>
#include <span>
#include <string>

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>

namespace xnv_bench {

/// The CPUs the two sides run on: the benchmark's own thread (front end, producer) and the
/// thread it starts (back end, consumer). Every benchmark in the binary uses the same pair.
inline constexpr int front_cpu = 0;
inline constexpr int back_cpu = 1;

inline constexpr std::size_t cache_line = 64;

/// Pin the calling thread to one CPU; false when the CPU is not available to this process.
inline bool pin_self(int cpu) noexcept
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0 && sched_getcpu() == cpu;
}

/// What a waiting side does between two failed attempts, identical for every implementation
/// so that none is favoured: one CPU pause.
inline void spin_hint() noexcept { xnv::cpu_relax(); }

/// Zero-filled memory aligned to a page, for the shared rings (a page is what a Xen front end
/// grants; it also keeps every cache line of the ring private to the ring).
class aligned_buffer {
public:
    explicit aligned_buffer(std::size_t bytes) : bytes_(round_up(bytes))
    {
        data_ = static_cast<std::byte*>(std::aligned_alloc(4096, bytes_));
        if (data_ == nullptr)
            throw std::bad_alloc();
        for (std::size_t i = 0; i < bytes_; ++i)
            data_[i] = std::byte{0};
    }
    aligned_buffer(const aligned_buffer&) = delete;
    aligned_buffer& operator=(const aligned_buffer&) = delete;
    ~aligned_buffer() { std::free(data_); }

    [[nodiscard]] std::byte* data() const noexcept { return data_; }
    /// The first `bytes` bytes (what the caller asked for, not the rounded allocation).
    [[nodiscard]] std::span<std::byte> first(std::size_t bytes) const noexcept { return {data_, bytes}; }

private:
    static std::size_t round_up(std::size_t b) noexcept { return (b + 4095) / 4096 * 4096; }
    std::size_t bytes_;
    std::byte* data_ = nullptr;
};

/// One sysfs value of a CPU's topology, or "?" when the file cannot be read.
inline std::string cpu_topology(int cpu, const char* leaf)
{
    std::ifstream in("/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/" + leaf);
    std::string v;
    if (!std::getline(in, v))
        return "?";
    return v;
}

/// Record the placement in the benchmark context (printed on the console and stored in the
/// JSON): which side runs where and whether the two CPUs share a core or a last-level cache.
inline void record_placement_context()
{
    benchmark::AddCustomContext("ring_front_cpu", std::to_string(front_cpu));
    benchmark::AddCustomContext("ring_back_cpu", std::to_string(back_cpu));
    for (int cpu : {front_cpu, back_cpu}) {
        const std::string key = "ring_cpu" + std::to_string(cpu);
        benchmark::AddCustomContext(key + "_core_id", cpu_topology(cpu, "topology/core_id"));
        benchmark::AddCustomContext(key + "_package_id", cpu_topology(cpu, "topology/physical_package_id"));
        benchmark::AddCustomContext(key + "_smt_siblings", cpu_topology(cpu, "topology/thread_siblings_list"));
        benchmark::AddCustomContext(key + "_l3_shared_with", cpu_topology(cpu, "cache/index3/shared_cpu_list"));
    }
}

/// How much of a stretch of wall time the calling thread actually ran, and how often another
/// task took its CPU meanwhile. Both sides of every benchmark spin, so an undisturbed side runs
/// for all of it; the machine is shared, and a repetition during which either side was switched
/// out measured that other load as much as the ring. The counters make such repetitions visible
/// (and lets the result tools leave them out).
class occupancy_meter {
public:
    struct reading {
        double cpu_share = 1.0; ///< thread CPU time / wall time, 1.0 when never switched out
        long switches = 0;      ///< involuntary context switches
    };

    occupancy_meter() noexcept : wall_(wall_ns()), cpu_(cpu_ns()), switches_(involuntary_switches()) {}

    [[nodiscard]] reading read() const noexcept
    {
        const double wall = static_cast<double>(wall_ns() - wall_);
        const double cpu = static_cast<double>(cpu_ns() - cpu_);
        return {wall > 0 ? std::min(1.0, cpu / wall) : 1.0, involuntary_switches() - switches_};
    }

private:
    static long long clock_ns(clockid_t id) noexcept
    {
        timespec ts{};
        clock_gettime(id, &ts);
        return static_cast<long long>(ts.tv_sec) * 1'000'000'000LL + ts.tv_nsec;
    }
    static long long wall_ns() noexcept { return clock_ns(CLOCK_MONOTONIC); }
    static long long cpu_ns() noexcept { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }
    static long involuntary_switches() noexcept
    {
        rusage ru{};
        return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nivcsw : 0;
    }

    long long wall_;
    long long cpu_;
    long switches_;
};

/// Record where the two sides actually ran (each side reads `sched_getcpu()` after pinning)
/// and how undisturbed they were while measuring: `stolen_pct` is the larger share of wall time
/// either side spent switched out, `preempted` the involuntary context switches of both.
inline void record_placement_counters(benchmark::State& state, int front, int back, occupancy_meter::reading f,
                                      occupancy_meter::reading b)
{
    state.counters["front_cpu"] = benchmark::Counter(front);
    state.counters["back_cpu"] = benchmark::Counter(back);
    state.counters["preempted"] = benchmark::Counter(static_cast<double>(f.switches + b.switches));
    state.counters["stolen_pct"] = benchmark::Counter(100.0 * (1.0 - std::min(f.cpu_share, b.cpu_share)));
}

} // namespace xnv_bench
