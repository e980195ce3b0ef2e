// SPDX-License-Identifier: MIT
// Many threads scheduling, disabling, moving and killing the same tasklets at once, on real
// workers. Checked afterwards: a tasklet never ran concurrently with itself, never ran while
// disabled, every schedule was followed by a run that saw the data written before it (rule 2),
// and each kill returned with the tasklet neither scheduled nor running.

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <vector>

#include <xnv/sched/scheduler.hpp>

using xnv::poll_result;
using xnv::queue_kind;
using xnv::tasklet;

namespace {

struct probe {
    std::atomic<int> inside{0};
    std::atomic<std::uint64_t> requested{0}; // bumped before every schedule
    std::uint64_t observed = 0;              // written by the tasklet (one run at a time)
    std::uint64_t runs = 0;                  // likewise
    std::atomic<std::uint64_t> overlaps{0};
    // Schedulers and enablers hold it shared; the killer holds it exclusively, so nothing
    // schedules the tasklet while kill's post-condition is checked.
    std::shared_mutex gate;
    std::unique_ptr<tasklet> task;
};

} // namespace

TEST_CASE("tasklet rules hold with many threads scheduling, disabling, moving and killing at once")
{
    xnv::tasklet_scheduler sched(xnv::scheduler_config{.workers = 3, .idle_spin = std::chrono::microseconds(2)});
    constexpr int n_tasklets = 6;
    constexpr int ops = 40000;
    std::array<probe, n_tasklets> p;
    for (int i = 0; i < n_tasklets; ++i) {
        probe* pr = &p[i];
        pr->task = std::make_unique<tasklet>(sched.worker(static_cast<std::uint32_t>(i % 3)),
                                             i % 2 == 0 ? queue_kind::tx : queue_kind::rx, [pr](std::uint32_t b) {
                                                 if (pr->inside.fetch_add(1, std::memory_order_acq_rel) != 0)
                                                     pr->overlaps.fetch_add(1, std::memory_order_relaxed);
                                                 pr->observed = pr->requested.load(std::memory_order_acquire);
                                                 const bool again = ++pr->runs % 3 == 0;
                                                 pr->inside.fetch_sub(1, std::memory_order_acq_rel);
                                                 return again ? poll_result::more(b) : poll_result::finished(1);
                                             });
    }

    std::atomic<std::uint64_t> ran_while_disabled{0};
    std::atomic<std::uint64_t> kill_violations{0};
    std::atomic<std::uint64_t> kills{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) // schedulers
        threads.emplace_back([&, t] {
            std::minstd_rand rng(static_cast<unsigned>(t + 1));
            for (int i = 0; i < ops; ++i) {
                probe& pr = p[rng() % n_tasklets];
                std::shared_lock lock(pr.gate);
                pr.requested.fetch_add(1, std::memory_order_release);
                pr.task->schedule();
            }
        });
    threads.emplace_back([&] { // disabler: after disable() returns the function is not running
        std::minstd_rand rng(11);
        for (int i = 0; i < ops / 4; ++i) {
            probe& pr = p[rng() % n_tasklets];
            std::shared_lock lock(pr.gate);
            pr.task->disable();
            if (pr.inside.load(std::memory_order_acquire) != 0)
                ran_while_disabled.fetch_add(1, std::memory_order_relaxed);
            pr.requested.fetch_add(1, std::memory_order_release);
            pr.task->schedule(); // kept while disabled
            std::this_thread::yield();
            if (pr.inside.load(std::memory_order_acquire) != 0)
                ran_while_disabled.fetch_add(1, std::memory_order_relaxed);
            pr.task->enable();
        }
    });
    threads.emplace_back([&] { // mover
        std::minstd_rand rng(13);
        for (int i = 0; i < ops / 2; ++i) {
            p[rng() % n_tasklets].task->move_to(sched.worker(static_cast<std::uint32_t>(rng() % 3)));
            std::this_thread::yield();
        }
    });
    threads.emplace_back([&] { // killer
        std::minstd_rand rng(17);
        for (int i = 0; i < ops / 20; ++i) {
            probe& pr = p[rng() % n_tasklets];
            std::unique_lock lock(pr.gate);
            pr.task->kill();
            kills.fetch_add(1, std::memory_order_relaxed);
            if (pr.task->scheduled() || pr.task->running() || pr.inside.load() != 0)
                kill_violations.fetch_add(1, std::memory_order_relaxed);
            // Nothing was dropped: the last schedule's run saw the last request.
            if (pr.observed != pr.requested.load())
                kill_violations.fetch_add(1, std::memory_order_relaxed);
        }
    });
    for (auto& t : threads)
        t.join();

    for (auto& pr : p)
        pr.task->kill();
    CHECK(kills.load() == ops / 20);
    CHECK(kill_violations.load() == 0);
    CHECK(ran_while_disabled.load() == 0);
    std::uint64_t runs = 0;
    for (auto& pr : p) {
        CHECK(pr.overlaps.load() == 0);
        CHECK(pr.observed == pr.requested.load()); // rule 2 for the last schedule of each
        CHECK_FALSE(pr.task->scheduled());
        CHECK_FALSE(pr.task->disabled());
        runs += pr.runs;
    }
    CHECK(runs > 0);
}
