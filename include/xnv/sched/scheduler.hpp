// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The multi-queue tasklet scheduler: N worker threads, each owning a `tasklet_worker` (a TX
/// and an RX run queue), optionally pinned to given CPUs. Idle workers spin for a while, then
/// sleep without losing a wake-up (edge W1 in tasklet.hpp).

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>

#include <xnv/clock.hpp>
#include <xnv/sched/tasklet.hpp>

namespace xnv {

/// Number of CPUs this process may run on (its affinity mask), at least 1.
[[nodiscard]] inline std::uint32_t available_cpus() noexcept
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n > 0)
            return static_cast<std::uint32_t>(n);
    }
    const unsigned hc = std::thread::hardware_concurrency();
    return hc != 0 ? hc : 1U;
}

struct scheduler_config {
    /// Worker threads; 0 means one per CPU available to the process (`available_cpus()`).
    std::uint32_t workers = 0;
    /// Empty: threads are not pinned. Otherwise one CPU per worker: worker i runs only on
    /// `cpus[i]`; the size must equal the number of workers.
    std::vector<unsigned> cpus{};
    /// Budgets of every worker's rounds.
    worker_config budgets{};
    /// How long an idle worker polls its queues before it sleeps.
    nanos idle_spin = std::chrono::microseconds(20);
};

/// N workers, each a thread running rounds of its `tasklet_worker`.
///
/// Tasklets are bound to a worker with `tasklet(sched.worker(i), kind, fn)` and moved with
/// `tasklet::move_to(sched.worker(j))`. Thread safety: `worker`, `stats` and `size` from any
/// thread; `stop` from one thread. Lifetime: destroy (or kill) every tasklet bound to a worker
/// before the scheduler (declare the scheduler first).
class tasklet_scheduler {
public:
    /// Start the workers.
    /// @throws std::invalid_argument on a bad configuration (zero budgets, a round budget below
    /// the tasklet budget, a CPU list whose size differs from the worker count, a CPU this
    /// process may not use); std::system_error if pinning fails.
    explicit tasklet_scheduler(scheduler_config cfg = {}) : cfg_(std::move(cfg))
    {
        if (cfg_.workers == 0)
            cfg_.workers = available_cpus();
        if (cfg_.workers > max_workers)
            throw std::invalid_argument("xnv: scheduler_config.workers (" + std::to_string(cfg_.workers) +
                                        ") exceeds the limit of " + std::to_string(max_workers));
        if (cfg_.idle_spin < nanos::zero())
            throw std::invalid_argument("xnv: scheduler_config.idle_spin must not be negative");
        if (!cfg_.cpus.empty()) {
            if (cfg_.cpus.size() != cfg_.workers)
                throw std::invalid_argument("xnv: scheduler_config.cpus lists " + std::to_string(cfg_.cpus.size()) +
                                            " CPUs for " + std::to_string(cfg_.workers) +
                                            " workers; give one CPU per worker or none");
            cpu_set_t allowed;
            CPU_ZERO(&allowed);
            if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0)
                throw std::system_error(errno, std::generic_category(), "xnv: sched_getaffinity");
            for (unsigned c : cfg_.cpus)
                if (c >= CPU_SETSIZE || !CPU_ISSET(c, &allowed))
                    throw std::invalid_argument("xnv: scheduler_config.cpus names CPU " + std::to_string(c) +
                                                ", which this process may not run on");
        }
        workers_.reserve(cfg_.workers);
        for (std::uint32_t i = 0; i < cfg_.workers; ++i)
            workers_.push_back(std::make_unique<tasklet_worker>(cfg_.budgets)); // validates budgets
        threads_.reserve(cfg_.workers);
        try {
            for (std::uint32_t i = 0; i < cfg_.workers; ++i) {
                threads_.emplace_back([this, i] { loop(*workers_[i]); });
                if (!cfg_.cpus.empty()) {
                    cpu_set_t one;
                    CPU_ZERO(&one);
                    CPU_SET(cfg_.cpus[i], &one);
                    if (const int rc = ::pthread_setaffinity_np(threads_.back().native_handle(), sizeof one, &one);
                        rc != 0)
                        throw std::system_error(rc, std::generic_category(),
                                                "xnv: pinning worker " + std::to_string(i) + " to CPU " +
                                                    std::to_string(cfg_.cpus[i]));
                }
            }
        } catch (...) {
            stop();
            throw;
        }
    }

    tasklet_scheduler(const tasklet_scheduler&) = delete;
    tasklet_scheduler& operator=(const tasklet_scheduler&) = delete;
    ~tasklet_scheduler() { stop(); }

    /// The most workers a scheduler accepts.
    static constexpr std::uint32_t max_workers = 1024;

    [[nodiscard]] std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(workers_.size()); }

    /// Worker `i`. @pre `i < size()`.
    [[nodiscard]] tasklet_worker& worker(std::uint32_t i) noexcept { return *workers_[i]; }
    [[nodiscard]] const tasklet_worker& worker(std::uint32_t i) const noexcept { return *workers_[i]; }

    /// Worker `i`'s counters, while running. @pre `i < size()`.
    [[nodiscard]] worker_stats stats(std::uint32_t i) const noexcept { return workers_[i]->stats(); }

    [[nodiscard]] const scheduler_config& config() const noexcept { return cfg_; }

    /// Worker `i`'s thread, for the platform's own calls (priority, CPU-time clock, name).
    /// @pre `i < size()` and `stop()` has not been called.
    [[nodiscard]] std::thread::native_handle_type native_handle(std::uint32_t i) noexcept
    {
        return threads_[i].native_handle();
    }

    /// Stop and join every worker thread. Tasklets still queued stay queued (and unrun).
    /// Idempotent. Not from a worker thread.
    void stop() noexcept
    {
        for (auto& w : workers_)
            w->request_stop();
        for (auto& t : threads_)
            if (t.joinable())
                t.join();
    }

private:
    void loop(tasklet_worker& w) noexcept
    {
        const auto spin = static_cast<std::uint64_t>(cfg_.idle_spin.count());
        while (!w.stop_requested()) {
            const auto r = w.run_round();
            if (r.runs != 0 || w.has_work())
                continue;
            const std::uint64_t idle_from = detail::steady_ns();
            bool found = false;
            for (unsigned i = 0;; ++i) {
                if (w.has_work()) {
                    found = true;
                    break;
                }
                if ((i & 63U) == 63U && detail::steady_ns() - idle_from >= spin)
                    break;
                cpu_pause();
            }
            if (!found)
                w.sleep_until_work(); // returns at once once a stop is requested (W1)
            w.add_idle_ns(detail::steady_ns() - idle_from);
        }
    }

    static void cpu_pause() noexcept
    {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield" ::: "memory");
#endif
    }

    scheduler_config cfg_;
    std::vector<std::unique_ptr<tasklet_worker>> workers_;
    std::vector<std::thread> threads_;
};

} // namespace xnv
