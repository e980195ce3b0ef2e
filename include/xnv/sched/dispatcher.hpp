// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The balanced dispatcher: maps event sources to workers through a `dispatch_policy`, from
/// load samples, on an injectable clock; enforces the drain rule on moves; records every
/// decision. A plain, single-threaded object with no threads of its own, so a simulator can
/// drive it on a virtual clock and `tasklet_balancer` (balancer.hpp) on real measurements.
/// See docs/dispatch.md.

#include <algorithm>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <xnv/clock.hpp>
#include <xnv/sched/dispatch.hpp>

namespace xnv {

/// Routes the work of each source to a worker.
///
/// Two mappings: the *target* (where the policy wants each source) and the *route* (where new
/// work of the source goes now). They differ only while a move waits for the drain rule: the
/// RFS rule, a source moves only once the old worker has finished everything queued there
/// for it, so work of one source is never processed out of order by two workers. Drivers that
/// queue per-source work report it with `enqueue` and `complete`; the dispatcher counts what is
/// outstanding and switches the route when that count reaches zero. A driver that never calls
/// `enqueue` (nothing outstanding) sees routes switch at the decision.
///
/// Thread safety: none; one thread drives it. Exceptions: the control calls (`connect`,
/// `disconnect`, `sample`) throw on caller mistakes; the per-item calls (`enqueue`, `route`,
/// `outstanding`) are noexcept and allocation-free.
template <dispatch_policy Policy, clock_source Clock = steady_clock_source>
class balanced_dispatcher {
public:
    using policy_type = Policy;
    using clock_type = Clock;

    /// @throws std::invalid_argument if `workers` is 0 or the policy rejects the count.
    explicit balanced_dispatcher(std::uint32_t workers, Policy policy = Policy{}, Clock clock = Clock{})
        : policy_(std::move(policy)), clock_(std::move(clock)), workers_(workers)
    {
        if (workers == 0)
            throw std::invalid_argument("xnv: a dispatcher needs at least one worker");
        policy_.bind(workers);
        last_sample_ = clock_.now();
    }

    /// Connect a new source: the policy places it. Records a `connect` decision.
    /// @throws std::out_of_range if the policy places it on a worker that does not exist.
    source_id connect()
    {
        const nanos now = clock_.now();
        const worker_id w = policy_.place(view(now));
        if (w >= workers_)
            throw std::out_of_range("xnv: dispatch policy " + std::string(Policy::name) + " placed a source on worker " +
                                    std::to_string(w) + " of " + std::to_string(workers_));
        const std::uint32_t active = policy_.active_workers();
        std::vector<worker_id> before = targets();
        before.push_back(no_worker);
        const auto id = static_cast<source_id>(sources_.size());
        sources_.push_back(source_state{true, w, source_sample{id, 0, 0, nanos::zero()}, nanos::min()});
        route_.push_back(w);
        outstanding_.push_back(0);
        pending_since_.push_back(nanos::zero());
        decisions_.push_back({now, decision_reason::connect, active, active, 0.0, std::move(before), targets()});
        ++decision_count_;
        trim(decisions_);
        return id;
    }

    /// Disconnect a source: it gets no route; work still outstanding may be completed.
    /// Records a `disconnect` decision.
    /// @throws std::out_of_range if `s` is not connected.
    void disconnect(source_id s)
    {
        if (s >= sources_.size() || !sources_[s].connected)
            throw std::out_of_range("xnv: disconnect of source " + std::to_string(s) + ", which is not connected");
        const std::uint32_t active = policy_.active_workers();
        std::vector<worker_id> before = targets();
        sources_[s].connected = false;
        sources_[s].worker = no_worker;
        route_[s] = no_worker;
        decisions_.push_back(
            {clock_.now(), decision_reason::disconnect, active, active, 0.0, std::move(before), targets()});
        ++decision_count_;
        trim(decisions_);
    }

    /// Feed the load of every source since the previous sample, at the clock's current time.
    /// Sources not listed did nothing; listed disconnected sources are ignored; a source
    /// listed twice counts twice. The policy then may move sources; changes are recorded.
    /// Returns false, ignoring the sample, if no time passed since the previous one.
    /// @throws std::invalid_argument if a sample names a source that was never connected;
    /// std::out_of_range if the policy moves a source to a worker that does not exist.
    bool sample(std::span<const source_sample> samples)
    {
        const nanos now = clock_.now();
        for (const auto& x : samples)
            if (x.source >= sources_.size())
                throw std::invalid_argument("xnv: load sample names source " + std::to_string(x.source) +
                                            ", which was never connected");
        if (now <= last_sample_)
            return false;
        elapsed_ = now - last_sample_;
        last_sample_ = now;
        for (source_id s = 0; s < sources_.size(); ++s)
            sources_[s].last = source_sample{s, 0, 0, nanos::zero()};
        for (const auto& x : samples) {
            auto& l = sources_[x.source].last;
            if (!sources_[x.source].connected)
                continue;
            l.items += x.items;
            l.bytes += x.bytes;
            l.busy += x.busy;
        }
        const std::uint32_t active_before = policy_.active_workers();
        dispatch_plan plan(targets(), workers_);
        policy_.on_sample(view(now), plan);
        apply(plan, now, active_before);
        return true;
    }

    /// When the policy wants the next sample (`nanos::max()` if it never needs one).
    [[nodiscard]] nanos next_sample_at() const noexcept
    {
        const nanos iv = policy_.sample_interval();
        return iv > nanos::zero() ? last_sample_ + iv : nanos::max();
    }

    /// Where new work of `s` goes now (`no_worker` if it is not connected).
    [[nodiscard]] worker_id route(source_id s) const noexcept { return s < route_.size() ? route_[s] : no_worker; }

    /// Where the policy wants `s` (equals `route(s)` unless a move is pending).
    [[nodiscard]] worker_id target(source_id s) const noexcept
    {
        return s < sources_.size() ? sources_[s].worker : no_worker;
    }

    /// A move of `s` waits for its old worker to drain.
    [[nodiscard]] bool move_pending(source_id s) const noexcept { return route(s) != target(s); }

    /// Route `n` items of `s` and count them outstanding on that worker until `complete`.
    /// Returns the worker (`no_worker`, counting nothing, if `s` is not connected).
    worker_id enqueue(source_id s, std::uint64_t n = 1) noexcept
    {
        const worker_id w = route(s);
        if (w != no_worker)
            outstanding_[s] += n;
        return w;
    }

    /// `n` items of `s` finished on the worker they were queued on (all outstanding items of a
    /// source are on its route: the route changes only when none is). When the count reaches
    /// zero a pending move takes effect and is recorded in `moves()`. Extra completions clamp.
    void complete(source_id s, std::uint64_t n = 1)
    {
        if (s >= outstanding_.size())
            return;
        outstanding_[s] = n >= outstanding_[s] ? 0 : outstanding_[s] - n;
        if (outstanding_[s] == 0 && move_pending(s) && sources_[s].connected)
            finish_move(s, clock_.now());
    }

    /// Items of `s` queued and not yet completed.
    [[nodiscard]] std::uint64_t outstanding(source_id s) const noexcept
    {
        return s < outstanding_.size() ? outstanding_[s] : 0;
    }

    /// The target mapping, indexed by source id (`no_worker`: not connected).
    [[nodiscard]] std::vector<worker_id> targets() const
    {
        std::vector<worker_id> t(sources_.size());
        std::transform(sources_.begin(), sources_.end(), t.begin(), [](const source_state& x) { return x.worker; });
        return t;
    }
    /// The route of every source, indexed by source id.
    [[nodiscard]] std::span<const worker_id> routes() const noexcept { return route_; }
    /// Every source ever connected, with its most recent sample.
    [[nodiscard]] std::span<const source_state> sources() const noexcept { return sources_; }

    /// The most recent decisions, oldest first: at most `history_limit()` of them are kept, so
    /// a dispatcher that runs for days does not grow (`decision_count()` counts them all).
    [[nodiscard]] std::span<const dispatch_decision> decisions() const noexcept { return decisions_; }
    /// The most recent completed moves, oldest first, bounded like `decisions()`.
    [[nodiscard]] std::span<const completed_move> moves() const noexcept { return moves_; }
    /// Decisions and completed moves since construction, including those no longer kept.
    [[nodiscard]] std::uint64_t decision_count() const noexcept { return decision_count_; }
    [[nodiscard]] std::uint64_t move_count() const noexcept { return move_count_; }
    /// How many decisions and moves are kept (default 4096 each; at least 1).
    [[nodiscard]] std::size_t history_limit() const noexcept { return history_limit_; }
    void set_history_limit(std::size_t n)
    {
        history_limit_ = std::max<std::size_t>(n, 1);
        trim(decisions_);
        trim(moves_);
    }
    /// Forget the kept history (the counts stay).
    void clear_history() noexcept
    {
        decisions_.clear();
        moves_.clear();
    }

    [[nodiscard]] std::uint32_t workers() const noexcept { return workers_; }
    [[nodiscard]] std::uint32_t active_workers() const noexcept { return policy_.active_workers(); }
    [[nodiscard]] const Policy& policy() const noexcept { return policy_; }
    [[nodiscard]] const Clock& clock() const noexcept { return clock_; }
    /// Time of the most recent sample (construction time before the first).
    [[nodiscard]] nanos last_sample_at() const noexcept { return last_sample_; }

private:
    [[nodiscard]] dispatch_view view(nanos now) const noexcept { return {now, elapsed_, workers_, sources_}; }

    void apply(const dispatch_plan& plan, nanos now, std::uint32_t active_before)
    {
        const auto& next = plan.targets();
        bool changed = policy_.active_workers() != active_before;
        for (source_id s = 0; s < sources_.size() && !changed; ++s)
            changed = next[s] != sources_[s].worker;
        if (!changed)
            return;
        decisions_.push_back(
            {now, plan.reason(), active_before, policy_.active_workers(), plan.load(), targets(), next});
        ++decision_count_;
        trim(decisions_);
        for (source_id s = 0; s < sources_.size(); ++s) {
            if (next[s] == sources_[s].worker)
                continue;
            sources_[s].worker = next[s];
            sources_[s].moved_at = now;
            if (route_[s] == next[s])
                continue; // moved back before the drain finished: nothing to do
            pending_since_[s] = now;
            if (outstanding_[s] == 0)
                finish_move(s, now);
        }
    }

    void finish_move(source_id s, nanos now)
    {
        moves_.push_back({s, route_[s], sources_[s].worker, pending_since_[s], now});
        ++move_count_;
        trim(moves_);
        route_[s] = sources_[s].worker;
    }

    Policy policy_;
    Clock clock_;
    std::uint32_t workers_;
    std::vector<source_state> sources_;
    std::vector<worker_id> route_;
    std::vector<std::uint64_t> outstanding_;
    std::vector<nanos> pending_since_;
    // Drops the oldest half once over the limit: amortised O(1) per entry, and the kept entries
    // stay contiguous for the span observers.
    template <class V>
    void trim(V& v)
    {
        if (v.size() > history_limit_)
            v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() - history_limit_ / 2));
    }

    std::vector<dispatch_decision> decisions_;
    std::vector<completed_move> moves_;
    std::uint64_t decision_count_ = 0;
    std::uint64_t move_count_ = 0;
    std::size_t history_limit_ = 4096;
    nanos last_sample_{0};
    nanos elapsed_{0};
};

} // namespace xnv
