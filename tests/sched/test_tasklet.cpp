// SPDX-License-Identifier: MIT
// Tasklet semantics, one rule per test case. Most cases drive a tasklet_worker by hand from the
// test thread, so the order of events is exact; the waiting rules (disable, kill) use a second
// thread.

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <xnv/sched/scheduler.hpp>
#include <xnv/sched/tasklet.hpp>

using xnv::poll_result;
using xnv::queue_kind;
using xnv::tasklet;
using xnv::tasklet_worker;

namespace {

// A flag a test thread waits on, for handshakes with a running tasklet.
void wait_for(const std::atomic<bool>& flag)
{
    while (!flag.load(std::memory_order_acquire))
        std::this_thread::yield();
}

} // namespace

TEST_CASE("rule 1: scheduling an already scheduled tasklet is a no-op")
{
    tasklet_worker w;
    int runs = 0;
    tasklet t(w, queue_kind::rx, [&](std::uint32_t) {
        ++runs;
        return poll_result::finished(1);
    });
    CHECK(t.schedule());
    CHECK_FALSE(t.schedule());
    CHECK_FALSE(t.schedule());
    CHECK(t.scheduled());
    const auto r = w.run_round();
    CHECK(r.runs == 1);
    CHECK(runs == 1);
    CHECK_FALSE(t.scheduled());
    CHECK(w.run_round().runs == 0);
}

TEST_CASE("rule 2: a scheduled tasklet runs once afterwards and sees what was written before")
{
    tasklet_worker w;
    int payload = 0;
    int seen = -1;
    tasklet t(w, queue_kind::tx, [&](std::uint32_t) {
        seen = payload;
        return poll_result::finished(1);
    });
    payload = 42;
    REQUIRE(t.schedule());
    w.run_round();
    CHECK(seen == 42);
    CHECK(t.stats().runs == 1);
}

TEST_CASE("rule 4: a schedule that arrives while it runs makes it run once more")
{
    tasklet_worker w;
    int runs = 0;
    bool rescheduled_first = false;
    bool rescheduled_second = true;
    tasklet* self = nullptr;
    tasklet t(w, queue_kind::rx, [&](std::uint32_t) {
        if (++runs == 1) {
            rescheduled_first = self->schedule();  // SCHED was cleared before the run: queues it
            rescheduled_second = self->schedule(); // now already scheduled: no-op
        }
        return poll_result::finished(1);
    });
    self = &t;
    REQUIRE(t.schedule());
    w.run_round();
    CHECK(runs == 1);
    CHECK(rescheduled_first);
    CHECK_FALSE(rescheduled_second);
    w.run_round();
    CHECK(runs == 2);
    CHECK(w.run_round().runs == 0);
    CHECK(runs == 2);
}

TEST_CASE("rule 3: a tasklet moved and scheduled during its run does not start on the new worker until the run ends")
{
    tasklet_worker a;
    tasklet_worker b;
    int depth = 0;
    int max_depth = 0;
    int runs = 0;
    tasklet* self = nullptr;
    tasklet t(a, queue_kind::rx, [&](std::uint32_t) {
        ++depth;
        max_depth = std::max(max_depth, depth);
        if (++runs == 1) {
            self->move_to(b);
            CHECK(self->schedule()); // queued on b while still running on a
            b.run_round();           // b finds it running: re-queued, not run
        }
        --depth;
        return poll_result::finished(1);
    });
    self = &t;
    REQUIRE(t.schedule());
    a.run_round();
    CHECK(runs == 1);
    CHECK(b.stats().contended == 1);
    b.run_round(); // the run on a has ended: b runs it now
    CHECK(runs == 2);
    CHECK(max_depth == 1);
    CHECK(&t.home() == &b);
}

TEST_CASE("move_to while queued: the old worker forwards it, it runs once on the new worker")
{
    tasklet_worker a;
    tasklet_worker b;
    int runs_on_b = 0;
    int runs = 0;
    tasklet_worker* running_on = nullptr;
    tasklet t(a, queue_kind::tx, [&](std::uint32_t) {
        ++runs;
        runs_on_b += running_on == &b ? 1 : 0;
        return poll_result::finished(1);
    });
    REQUIRE(t.schedule());
    t.move_to(b);
    running_on = &a;
    CHECK(a.run_round().runs == 0);
    CHECK(a.stats().forwarded == 1);
    running_on = &b;
    CHECK(b.run_round().runs == 1);
    CHECK(runs == 1);
    CHECK(runs_on_b == 1);
    CHECK(b.run_round().runs == 0);
}

TEST_CASE("rule 5: disable and enable nest; a schedule while disabled is kept and runs after the last enable")
{
    tasklet_worker w;
    int runs = 0;
    tasklet t(w, queue_kind::rx, [&](std::uint32_t) {
        ++runs;
        return poll_result::finished(1);
    });
    t.disable();
    t.disable();
    CHECK(t.disabled());
    CHECK(t.schedule());
    CHECK_FALSE(t.schedule());
    w.run_round();
    CHECK(runs == 0);
    CHECK(w.stats().parked == 1);
    CHECK(t.scheduled()); // the schedule is kept
    t.enable();
    CHECK(t.disabled());
    CHECK(w.run_round().runs == 0);
    CHECK(runs == 0);
    t.enable();
    CHECK_FALSE(t.disabled());
    CHECK(w.run_round().runs == 1);
    CHECK(runs == 1);
    CHECK_FALSE(t.scheduled());
    CHECK(w.run_round().runs == 0);
}

TEST_CASE("rule 5: enable before the worker reaches a disabled tasklet runs it without parking")
{
    tasklet_worker w;
    int runs = 0;
    tasklet t(w, queue_kind::rx, [&](std::uint32_t) {
        ++runs;
        return poll_result::finished(1);
    });
    t.disable();
    REQUIRE(t.schedule());
    t.enable();
    w.run_round();
    CHECK(runs == 1);
    CHECK(w.stats().parked == 0);
}

TEST_CASE("rule 5: disabling a tasklet that is not scheduled keeps nothing")
{
    tasklet_worker w;
    int runs = 0;
    tasklet t(w, queue_kind::rx, [&](std::uint32_t) {
        ++runs;
        return poll_result::finished(1);
    });
    t.disable();
    t.enable();
    CHECK(w.run_round().runs == 0);
    CHECK_FALSE(t.scheduled());
    CHECK(runs == 0);
}

TEST_CASE("disable from inside the tasklet's own function does not wait for itself")
{
    tasklet_worker w;
    tasklet* self = nullptr;
    int runs = 0;
    tasklet t(w, queue_kind::rx, [&](std::uint32_t) {
        if (++runs == 1) {
            self->disable();
            self->schedule(); // kept while disabled
        }
        return poll_result::finished(1);
    });
    self = &t;
    REQUIRE(t.schedule());
    w.run_round();
    w.run_round();
    CHECK(runs == 1);
    CHECK(t.scheduled());
    t.enable();
    w.run_round();
    CHECK(runs == 2);
}

TEST_CASE("disable waits for a run in progress to end; disable_nosync does not")
{
    tasklet_worker w;
    std::atomic<bool> entered{false};
    std::atomic<bool> release{false};
    std::atomic<bool> finished{false};
    tasklet t(w, queue_kind::rx, [&](std::uint32_t) {
        entered.store(true, std::memory_order_release);
        wait_for(release);
        finished.store(true, std::memory_order_release);
        return poll_result::finished(1);
    });
    REQUIRE(t.schedule());
    std::thread runner([&] { w.run_round(); });
    wait_for(entered);

    SUBCASE("disable")
    {
        bool finished_when_returned = false;
        std::thread disabler([&] {
            t.disable();
            finished_when_returned = finished.load(std::memory_order_acquire);
        });
        release.store(true, std::memory_order_release);
        disabler.join();
        runner.join();
        CHECK(finished_when_returned);
    }
    SUBCASE("disable_nosync")
    {
        t.disable_nosync();
        const bool finished_when_returned = finished.load(std::memory_order_acquire);
        release.store(true, std::memory_order_release);
        runner.join();
        CHECK_FALSE(finished_when_returned);
    }
    t.enable();
}

TEST_CASE("rule 6: kill waits until the tasklet is neither scheduled nor running")
{
    xnv::tasklet_scheduler sched(xnv::scheduler_config{.workers = 1});
    std::atomic<int> runs{0};
    std::atomic<bool> entered{false};
    std::atomic<bool> release{false};
    tasklet t(sched.worker(0), queue_kind::rx, [&](std::uint32_t) {
        entered.store(true, std::memory_order_release);
        wait_for(release);
        runs.fetch_add(1, std::memory_order_relaxed);
        return poll_result::finished(1);
    });
    REQUIRE(t.schedule());
    wait_for(entered);
    CHECK(t.schedule()); // a schedule during the run: it will run once more
    std::thread killer([&] { t.kill(); });
    release.store(true, std::memory_order_release);
    killer.join();
    CHECK(runs.load() == 2);
    CHECK_FALSE(t.scheduled());
    CHECK_FALSE(t.running());
}

TEST_CASE("rule 6: kill discards a schedule kept while disabled")
{
    tasklet_worker w;
    int runs = 0;
    tasklet t(w, queue_kind::rx, [&](std::uint32_t) {
        ++runs;
        return poll_result::finished(1);
    });
    t.disable();
    REQUIRE(t.schedule());
    w.run_round(); // parks it
    REQUIRE(t.scheduled());
    t.kill();
    CHECK_FALSE(t.scheduled());
    t.enable();
    CHECK(w.run_round().runs == 0);
    CHECK(runs == 0);
}

TEST_CASE("rule 6: a killed tasklet may be scheduled again")
{
    tasklet_worker w;
    int runs = 0;
    tasklet t(w, queue_kind::rx, [&](std::uint32_t) {
        ++runs;
        return poll_result::finished(1);
    });
    t.kill();
    CHECK(t.schedule());
    w.run_round();
    CHECK(runs == 1);
}

TEST_CASE("the function gets the tasklet budget; used budget means re-queued behind the others")
{
    tasklet_worker w(xnv::worker_config{.tasklet_budget = 8, .round_budget = 100});
    std::vector<std::string> order;
    std::vector<std::uint32_t> budgets;
    int flood_left = 3; // runs that leave work behind
    tasklet flood(w, queue_kind::rx, [&](std::uint32_t budget) {
        order.push_back("flood");
        budgets.push_back(budget);
        return --flood_left > 0 ? poll_result::more(budget) : poll_result::finished(budget / 2);
    });
    tasklet trickle(w, queue_kind::rx, [&](std::uint32_t budget) {
        order.push_back("trickle");
        budgets.push_back(budget);
        return poll_result::finished(1);
    });
    REQUIRE(flood.schedule());
    REQUIRE(trickle.schedule());
    w.run_round();
    CHECK(order == std::vector<std::string>{"flood", "trickle"});
    CHECK(flood.scheduled()); // re-queued for the next round
    w.run_round();
    w.run_round();
    CHECK(order == std::vector<std::string>{"flood", "trickle", "flood", "flood"});
    for (auto b : budgets)
        CHECK(b == 8);
    CHECK(w.stats().squeezes == 2);
    CHECK_FALSE(flood.scheduled());
}

TEST_CASE("a round stops at the round budget; the rest runs first in the next round")
{
    tasklet_worker w(xnv::worker_config{.tasklet_budget = 64, .round_budget = 300});
    std::vector<int> order;
    std::vector<std::unique_ptr<tasklet>> ts;
    for (int i = 0; i < 8; ++i)
        ts.push_back(std::make_unique<tasklet>(w, queue_kind::tx, [&order, i](std::uint32_t b) {
            order.push_back(i);
            return poll_result::finished(b);
        }));
    for (auto& t : ts)
        REQUIRE(t->schedule());
    auto r = w.run_round();
    CHECK(r.runs == 5); // 5 * 64 = 320 >= 300
    CHECK(r.items == 320);
    CHECK(w.stats().budget_stops == 1);
    tasklet late(w, queue_kind::tx, [&](std::uint32_t) {
        order.push_back(99);
        return poll_result::finished(1);
    });
    REQUIRE(late.schedule());
    r = w.run_round();
    CHECK(r.runs == 4);
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 99});
    CHECK(w.stats().budget_stops == 1);
}

TEST_CASE("NAPI order across rounds: leftovers, then newly scheduled, then re-queued")
{
    tasklet_worker w(xnv::worker_config{.tasklet_budget = 10, .round_budget = 20});
    std::vector<char> order;
    auto make = [&](char name, poll_result res) {
        return std::make_unique<tasklet>(w, queue_kind::rx, [&order, name, res](std::uint32_t) {
            order.push_back(name);
            return res;
        });
    };
    int more_left = 1;
    tasklet requeued(w, queue_kind::rx, [&](std::uint32_t) {
        order.push_back('R');
        return more_left-- > 0 ? poll_result::more(10) : poll_result::finished(1);
    });
    auto a = make('a', poll_result::finished(10));
    auto b = make('b', poll_result::finished(10));
    auto n = make('n', poll_result::finished(1));
    REQUIRE(requeued.schedule());
    REQUIRE(a->schedule());
    REQUIRE(b->schedule());
    w.run_round(); // R (10, more), a (10): budget used; b left over
    REQUIRE(n->schedule());
    w.run_round();
    CHECK(order == std::vector<char>{'R', 'a', 'b', 'n', 'R'});
}

TEST_CASE("TX and RX queues alternate within a round")
{
    tasklet_worker w;
    std::vector<char> order;
    std::vector<std::unique_ptr<tasklet>> ts;
    for (char c : {'t', 't', 't'})
        ts.push_back(std::make_unique<tasklet>(w, queue_kind::tx, [&order, c](std::uint32_t) {
            order.push_back(c);
            return poll_result::finished(1);
        }));
    for (char c : {'r', 'r', 'r'})
        ts.push_back(std::make_unique<tasklet>(w, queue_kind::rx, [&order, c](std::uint32_t) {
            order.push_back(c);
            return poll_result::finished(1);
        }));
    for (auto& t : ts)
        REQUIRE(t->schedule());
    w.run_round();
    CHECK(order == std::vector<char>{'t', 'r', 't', 'r', 't', 'r'});
}

TEST_CASE("per-tasklet and per-worker counters")
{
    tasklet_worker w;
    tasklet t(w, queue_kind::rx, [&](std::uint32_t) { return poll_result::finished(5, 700); });
    for (int i = 0; i < 3; ++i) {
        REQUIRE(t.schedule());
        w.run_round();
    }
    const auto ts = t.stats();
    CHECK(ts.runs == 3);
    CHECK(ts.items == 15);
    CHECK(ts.bytes == 2100);
    const auto ws = w.stats();
    CHECK(ws.runs == 3);
    CHECK(ws.rounds == 3);
    CHECK(ws.items == 15);
    CHECK(ws.bytes == 2100);
    CHECK(ws.busy_ns >= ts.busy_ns);
}

TEST_CASE("bad worker budgets are rejected with a clear message")
{
    using xnv::worker_config;
    CHECK_THROWS_WITH_AS(tasklet_worker(worker_config{.tasklet_budget = 0, .round_budget = 300}),
                         "xnv: tasklet_budget must be at least 1", std::invalid_argument);
    CHECK_THROWS_WITH_AS(tasklet_worker(worker_config{.tasklet_budget = 1, .round_budget = 0}),
                         "xnv: round_budget must be at least 1", std::invalid_argument);
    CHECK_THROWS_WITH_AS(tasklet_worker(worker_config{.tasklet_budget = 64, .round_budget = 32}),
                         "xnv: round_budget (32) must be at least tasklet_budget (64)", std::invalid_argument);
}
