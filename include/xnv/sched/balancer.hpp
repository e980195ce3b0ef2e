// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// `tasklet_balancer`: the balanced dispatcher driving a `tasklet_scheduler` with real
/// measurements. Each event source is a group of tasklets (a vif queue's TX and RX tasklets);
/// a sample is the growth of their counters (items, bytes, busy time) since the previous one;
/// when the dispatcher routes a source to another worker, its tasklets move there.

#include <cstdint>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <xnv/clock.hpp>
#include <xnv/sched/dispatcher.hpp>
#include <xnv/sched/scheduler.hpp>
#include <xnv/sched/tasklet.hpp>

namespace xnv {

/// Binds groups of tasklets to the workers a `balanced_dispatcher<Policy, Clock>` chooses.
///
/// The drain rule for tasklets: a tasklet's queued work is the data in its rings, consumed in
/// order by whichever worker runs it, and `tasklet::move_to` lets the old worker finish a run in
/// progress before the new one may start (the RUN bit) and forwards a queued schedule instead
/// of dropping or duplicating it. So the balancer never reports outstanding work to the
/// dispatcher and routes switch at the decision; ordering per source holds by construction.
///
/// Thread safety: one control thread calls everything (typically `poll` in a loop); worker
/// threads keep running the tasklets meanwhile. Lifetime: attached tasklets must outlive their
/// attachment (detach them, or destroy the balancer, first).
template <dispatch_policy Policy, clock_source Clock = steady_clock_source>
class tasklet_balancer {
public:
    using dispatcher_type = balanced_dispatcher<Policy, Clock>;

    /// @throws as `balanced_dispatcher`'s constructor (the policy may reject the worker count).
    explicit tasklet_balancer(tasklet_scheduler& sched, Policy policy = Policy{}, Clock clock = Clock{})
        : sched_(&sched), dispatcher_(sched.size(), std::move(policy), std::move(clock))
    {
    }

    /// Register one source's tasklets and bind them to the worker the policy places it on.
    /// @throws std::invalid_argument if `group` is empty or holds a null pointer.
    source_id attach(std::span<tasklet* const> group)
    {
        if (group.empty())
            throw std::invalid_argument("xnv: tasklet_balancer::attach needs at least one tasklet");
        for (tasklet* t : group)
            if (t == nullptr)
                throw std::invalid_argument("xnv: tasklet_balancer::attach given a null tasklet");
        const source_id s = dispatcher_.connect();
        entry e{std::vector<tasklet*>(group.begin(), group.end()), {}, dispatcher_.route(s)};
        for (tasklet* t : e.tasklets) {
            t->move_to(sched_->worker(e.bound));
            add(e.last, t->stats());
        }
        entries_.push_back(std::move(e));
        return s;
    }
    source_id attach(std::initializer_list<tasklet*> group)
    {
        return attach(std::span<tasklet* const>(group.begin(), group.size()));
    }

    /// Forget a source; its tasklets stay where they are. @throws std::out_of_range if unknown.
    void detach(source_id s)
    {
        dispatcher_.disconnect(s);
        entries_[s].tasklets.clear();
    }

    /// Take a sample if the policy wants one by now. Returns whether it did.
    bool poll()
    {
        if (dispatcher_.clock().now() < dispatcher_.next_sample_at())
            return false;
        sample_now();
        return true;
    }

    /// Sample every source now, let the policy decide, move the tasklets of re-routed sources.
    void sample_now()
    {
        samples_.clear();
        for (source_id s = 0; s < entries_.size(); ++s) {
            entry& e = entries_[s];
            if (e.tasklets.empty())
                continue;
            tasklet_stats now{};
            for (tasklet* t : e.tasklets)
                add(now, t->stats());
            samples_.push_back({s, now.items - e.last.items, now.bytes - e.last.bytes,
                                nanos(static_cast<nanos::rep>(now.busy_ns - e.last.busy_ns))});
            e.last = now;
        }
        dispatcher_.sample(samples_);
        for (source_id s = 0; s < entries_.size(); ++s) {
            entry& e = entries_[s];
            const worker_id w = dispatcher_.route(s);
            if (e.tasklets.empty() || w == e.bound)
                continue;
            for (tasklet* t : e.tasklets)
                t->move_to(sched_->worker(w));
            e.bound = w;
        }
    }

    /// The worker a source's tasklets are bound to (`no_worker` once detached).
    [[nodiscard]] worker_id worker_of(source_id s) const noexcept
    {
        return s < entries_.size() && !entries_[s].tasklets.empty() ? entries_[s].bound : no_worker;
    }

    [[nodiscard]] const dispatcher_type& dispatcher() const noexcept { return dispatcher_; }

private:
    struct entry {
        std::vector<tasklet*> tasklets;
        tasklet_stats last;
        worker_id bound;
    };

    static void add(tasklet_stats& a, const tasklet_stats& b) noexcept
    {
        a.runs += b.runs;
        a.items += b.items;
        a.bytes += b.bytes;
        a.busy_ns += b.busy_ns;
    }

    tasklet_scheduler* sched_;
    dispatcher_type dispatcher_;
    std::vector<entry> entries_;
    std::vector<source_sample> samples_;
};

} // namespace xnv
