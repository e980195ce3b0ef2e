// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The vocabulary of the balanced dispatcher: source and worker ids, load samples, decision
/// records, what a dispatch policy sees (`dispatch_view`) and how it acts (`dispatch_plan`), and
/// the `dispatch_policy` concept. See docs/dispatch.md.
///
/// Nothing here uses threads or reads a clock: a policy is a pure, deterministic function of
/// the samples and times it is given, so the same policy object runs inside
/// `balanced_dispatcher` on real measurements and inside a simulator on a virtual clock.

#include <concepts>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <xnv/clock.hpp>

namespace xnv {

/// A worker (a tasklet pair, a CPU): 0 .. workers-1.
using worker_id = std::uint32_t;
/// An event source (a vif queue, an interrupt line), numbered by `connect` from 0, never reused.
using source_id = std::uint32_t;
/// "No worker": the mapping of a disconnected source.
inline constexpr worker_id no_worker = std::numeric_limits<worker_id>::max();

/// What one source did since the previous sample. Sources missing from a sample did nothing.
struct source_sample {
    source_id source = 0;
    std::uint64_t items = 0; ///< events / packets handled
    std::uint64_t bytes = 0; ///< bytes handled
    nanos busy{0};           ///< worker time spent on it
};

/// The figure a load-driven policy balances.
enum class load_metric : std::uint8_t {
    busy,  ///< busy time / elapsed time: worker-equivalents (1.0 = one worker fully busy)
    items, ///< items per second
    bytes, ///< bytes per second
};

[[nodiscard]] constexpr std::string_view to_string(load_metric m) noexcept
{
    switch (m) {
    case load_metric::busy:
        return "busy";
    case load_metric::items:
        return "items";
    case load_metric::bytes:
        return "bytes";
    }
    return "?";
}

/// Why the mapping changed.
enum class decision_reason : std::uint8_t {
    connect,    ///< a source was placed
    disconnect, ///< a source left
    grow,       ///< the policy activated more workers
    shrink,     ///< the policy deactivated workers
    rebalance,  ///< sources moved between active workers
};

[[nodiscard]] constexpr std::string_view to_string(decision_reason r) noexcept
{
    switch (r) {
    case decision_reason::connect:
        return "connect";
    case decision_reason::disconnect:
        return "disconnect";
    case decision_reason::grow:
        return "grow";
    case decision_reason::shrink:
        return "shrink";
    case decision_reason::rebalance:
        return "rebalance";
    }
    return "?";
}

/// One recorded decision. `before`/`after` are the target mappings (index = source id,
/// `no_worker` for sources not connected), `load` the policy's total load figure when it
/// decided (0 for decisions not driven by load).
struct dispatch_decision {
    nanos at{0};
    decision_reason reason = decision_reason::rebalance;
    std::uint32_t active_before = 0;
    std::uint32_t active_after = 0;
    double load = 0.0;
    std::vector<worker_id> before;
    std::vector<worker_id> after;
};

/// One completed move: decided at `decided_at`, effective (new work routed to `to`) at
/// `completed_at`, once `from` had finished everything queued there for the source.
struct completed_move {
    source_id source = 0;
    worker_id from = 0;
    worker_id to = 0;
    nanos decided_at{0};
    nanos completed_at{0};
};

/// What a policy knows about one source.
struct source_state {
    bool connected = false;
    worker_id worker = no_worker; ///< where the current plan has it (its target)
    source_sample last{};         ///< its figures in the most recent sample
    nanos moved_at = nanos::min(); ///< when its target last changed (`nanos::min()`: never)
};

/// A read-only view of the dispatcher's state, handed to a policy.
class dispatch_view {
public:
    dispatch_view(nanos now, nanos elapsed, std::uint32_t workers, std::span<const source_state> sources) noexcept
        : now_(now), elapsed_(elapsed), workers_(workers), sources_(sources)
    {
    }

    [[nodiscard]] nanos now() const noexcept { return now_; }
    /// Time covered by the most recent sample (zero before the first one).
    [[nodiscard]] nanos elapsed() const noexcept { return elapsed_; }
    [[nodiscard]] std::uint32_t workers() const noexcept { return workers_; }
    /// Every source ever connected, indexed by id.
    [[nodiscard]] std::span<const source_state> sources() const noexcept { return sources_; }

    /// A source's load in the most recent sample, in `m`'s unit (0 if disconnected or no
    /// time has elapsed).
    [[nodiscard]] double load(source_id s, load_metric m) const noexcept
    {
        if (s >= sources_.size() || !sources_[s].connected || elapsed_ <= nanos::zero())
            return 0.0;
        const auto& x = sources_[s].last;
        const double secs = static_cast<double>(elapsed_.count()) * 1e-9;
        switch (m) {
        case load_metric::busy:
            return static_cast<double>(x.busy.count()) / static_cast<double>(elapsed_.count());
        case load_metric::items:
            return static_cast<double>(x.items) / secs;
        case load_metric::bytes:
            return static_cast<double>(x.bytes) / secs;
        }
        return 0.0;
    }

    /// Connected sources whose target is `w`.
    [[nodiscard]] std::uint32_t sources_on(worker_id w) const noexcept
    {
        std::uint32_t n = 0;
        for (const auto& s : sources_)
            n += (s.connected && s.worker == w) ? 1U : 0U;
        return n;
    }

private:
    nanos now_;
    nanos elapsed_;
    std::uint32_t workers_;
    std::span<const source_state> sources_;
};

/// The mapping a policy may change during `on_sample`. Starts as the current targets.
class dispatch_plan {
public:
    dispatch_plan(std::vector<worker_id> targets, std::uint32_t workers) : targets_(std::move(targets)), workers_(workers)
    {
    }

    [[nodiscard]] worker_id worker(source_id s) const noexcept
    {
        return s < targets_.size() ? targets_[s] : no_worker;
    }

    /// Target source `s` at worker `w`.
    /// @throws std::out_of_range if `s` is not connected or `w` is not a worker.
    void move(source_id s, worker_id w)
    {
        if (s >= targets_.size() || targets_[s] == no_worker)
            throw std::out_of_range("xnv: dispatch policy moved source " + std::to_string(s) +
                                    ", which is not connected");
        if (w >= workers_)
            throw std::out_of_range("xnv: dispatch policy moved source " + std::to_string(s) + " to worker " +
                                    std::to_string(w) + " of " + std::to_string(workers_));
        targets_[s] = w;
    }

    /// The reason recorded if the plan changes anything (default: rebalance).
    void set_reason(decision_reason r) noexcept { reason_ = r; }
    /// The load figure recorded with the decision.
    void set_load(double load) noexcept { load_ = load; }

    [[nodiscard]] decision_reason reason() const noexcept { return reason_; }
    [[nodiscard]] double load() const noexcept { return load_; }
    [[nodiscard]] const std::vector<worker_id>& targets() const noexcept { return targets_; }

private:
    std::vector<worker_id> targets_;
    std::uint32_t workers_;
    decision_reason reason_ = decision_reason::rebalance;
    double load_ = 0.0;
};

/// A dispatch policy: decides where a new source goes and, on each load sample, which
/// sources move. Deterministic: the same calls with the same arguments give the same results.
///
///  - `P::name`: a name for logs and benchmarks.
///  - `bind(workers)`: called once, before anything else, with the number of workers; throws
///    `std::invalid_argument` if the policy's configuration does not fit it.
///  - `place(view)`: the worker for a source about to connect (it is not in `view` yet).
///  - `on_sample(view, plan)`: a sample arrived (`view.elapsed() > 0`); move sources in `plan`
///    and set its reason (grow, shrink or rebalance).
///  - `active_workers()`: how many workers the policy uses now (recorded with decisions).
///  - `sample_interval()`: how often it wants samples (`nanos::zero()`: it never needs any).
template <class P>
concept dispatch_policy = requires(P& p, const P& cp, std::uint32_t workers, const dispatch_view& v,
                                   dispatch_plan& plan) {
    { P::name } -> std::convertible_to<std::string_view>;
    p.bind(workers);
    { p.place(v) } -> std::same_as<worker_id>;
    { p.on_sample(v, plan) } -> std::same_as<void>;
    { cp.active_workers() } -> std::same_as<std::uint32_t>;
    { cp.sample_interval() } noexcept -> std::same_as<nanos>;
};

} // namespace xnv
