// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The dispatch policies, each a named type satisfying `xnv::dispatch_policy`:
///  - `dispatch::all_on_first`: every source on worker 0 (the original Xen behaviour: every
///    event-channel interrupt on VCPU0, one tasklet pair).
///  - `dispatch::least_loaded_at_connect`: each new source on the worker with the fewest
///    sources, never moved (the 2010 netback groups).
///  - `dispatch::round_robin`: new sources on workers 0, 1, 2, ... in turn, never moved.
///  - `dispatch::hysteresis_balanced`: concentrate on few workers at low load, spread at high
///    load, with watermarks, consecutive-sample counts, a minimum dwell time and load-ordered
///    placement. See docs/dispatch.md.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <xnv/clock.hpp>
#include <xnv/sched/dispatch.hpp>

namespace xnv::dispatch {

/// Every source on worker 0, forever.
struct all_on_first {
    static constexpr std::string_view name = "all_on_first";
    void bind(std::uint32_t) noexcept {}
    [[nodiscard]] worker_id place(const dispatch_view&) const noexcept { return 0; }
    void on_sample(const dispatch_view&, dispatch_plan&) const noexcept {}
    [[nodiscard]] std::uint32_t active_workers() const noexcept { return 1; }
    [[nodiscard]] nanos sample_interval() const noexcept { return nanos::zero(); }
};

/// Each new source on the worker with the fewest connected sources (ties: the lowest index);
/// sources never move.
class least_loaded_at_connect {
public:
    static constexpr std::string_view name = "least_loaded_at_connect";
    void bind(std::uint32_t workers) noexcept { workers_ = workers; }
    [[nodiscard]] worker_id place(const dispatch_view& v) const noexcept
    {
        worker_id best = 0;
        std::uint32_t best_n = std::numeric_limits<std::uint32_t>::max();
        for (worker_id w = 0; w < workers_; ++w) {
            const std::uint32_t n = v.sources_on(w);
            if (n < best_n) {
                best = w;
                best_n = n;
            }
        }
        return best;
    }
    void on_sample(const dispatch_view&, dispatch_plan&) const noexcept {}
    [[nodiscard]] std::uint32_t active_workers() const noexcept { return workers_; }
    [[nodiscard]] nanos sample_interval() const noexcept { return nanos::zero(); }

private:
    std::uint32_t workers_ = 1;
};

/// New sources on workers 0, 1, ..., workers-1, 0, ... in turn; sources never move.
class round_robin {
public:
    static constexpr std::string_view name = "round_robin";
    void bind(std::uint32_t workers) noexcept { workers_ = workers; }
    [[nodiscard]] worker_id place(const dispatch_view&) noexcept
    {
        const worker_id w = next_;
        next_ = (next_ + 1) % workers_;
        return w;
    }
    void on_sample(const dispatch_view&, dispatch_plan&) const noexcept {}
    [[nodiscard]] std::uint32_t active_workers() const noexcept { return workers_; }
    [[nodiscard]] nanos sample_interval() const noexcept { return nanos::zero(); }

private:
    std::uint32_t workers_ = 1;
    worker_id next_ = 0;
};

/// How `hysteresis_balanced` changes the number of active workers.
enum class scaling : std::uint8_t {
    one_at_a_time, ///< grow and shrink by one worker per decision
    two_level,     ///< the paper's dispatcher: all on worker 0, or spread over every worker
};

struct hysteresis_config {
    /// The load figure compared with the watermarks and balanced across workers.
    load_metric metric = load_metric::busy;
    /// Per-worker load (in `metric`'s unit) under which the policy uses one worker fewer: with
    /// k active workers it shrinks once the total load would stay below `low_watermark` on each
    /// of the remaining workers (total < low * (k-1); for `two_level`, total < low).
    double low_watermark = 0.30;
    /// Per-worker load above which the policy uses one worker more: with k active workers it
    /// grows once the total load exceeds `high_watermark` on each of them (total > high * k).
    /// Must exceed `low_watermark`; with `load_metric::busy` it must be below 1 (a worker is
    /// at most fully busy, so a higher mark could never be crossed).
    double high_watermark = 0.75;
    /// Consecutive samples above the grow threshold before growing.
    std::uint32_t samples_to_grow = 3;
    /// Consecutive samples below the shrink threshold before shrinking (packing is slower than
    /// spreading, as in irqbalance's power mode).
    std::uint32_t samples_to_shrink = 10;
    /// Minimum time between two changes of the active worker count, and between two
    /// rebalancing moves of one source.
    nanos min_dwell = std::chrono::milliseconds(100);
    /// How often the policy wants a sample.
    nanos sample_interval = std::chrono::milliseconds(10);
    scaling steps = scaling::one_at_a_time;
    /// A rebalancing step moves sources from a busier worker a to the least loaded worker b; it
    /// is made only if it shrinks the load difference between a and b by more than this
    /// fraction of it; in [0, 1). Judged per pair and per step (all the sources moved from a to
    /// b in one sample), so spreading many small sources, or onto several idle workers at
    /// once, is not blocked because each single source is small.
    double min_improvement = 0.20;
    /// Most workers the policy activates; 0 means all of them.
    std::uint32_t max_workers = 0;
};

/// Concentrate every source on worker 0 while the load is low; spread over more workers, one
/// at a time (or all at once with `scaling::two_level`), once the load stays high; shrink back
/// once it stays low. See `hysteresis_config` and docs/dispatch.md for the exact rules.
///
/// On each sample, after any change of the active count: sources on workers that are no
/// longer active move, largest first, onto the least loaded active worker; then balancing
/// steps move sources from the busiest worker to the least loaded one (largest first, each
/// source only if it shrinks their difference, none that moved within `min_dwell`) as long as
/// a step shrinks that pair's difference by more than `min_improvement`.
/// Ties go to the lower source id and the lower worker index, so results are deterministic.
class hysteresis_balanced {
public:
    static constexpr std::string_view name = "hysteresis_balanced";

    /// @throws std::invalid_argument with the offending field and value if the configuration is
    /// inconsistent (see `hysteresis_config`).
    explicit hysteresis_balanced(hysteresis_config cfg = {}) : cfg_(cfg) { validate(cfg_); }

    void bind(std::uint32_t workers)
    {
        if (cfg_.max_workers > workers)
            throw std::invalid_argument("xnv: hysteresis_config.max_workers (" + std::to_string(cfg_.max_workers) +
                                        ") exceeds the dispatcher's " + std::to_string(workers) + " workers");
        limit_ = cfg_.max_workers == 0 ? workers : cfg_.max_workers;
    }

    /// A new source goes to worker 0 while concentrated, else to the least loaded active worker
    /// (ties: fewer sources, then the lower index).
    [[nodiscard]] worker_id place(const dispatch_view& v) const
    {
        if (active_ == 1)
            return 0;
        const std::vector<double> load = worker_loads(v, [&](source_id s) { return v.sources()[s].worker; });
        worker_id best = 0;
        for (worker_id w = 1; w < active_; ++w) {
            if (load[w] < load[best] || (load[w] == load[best] && v.sources_on(w) < v.sources_on(best)))
                best = w;
        }
        return best;
    }

    void on_sample(const dispatch_view& v, dispatch_plan& plan)
    {
        double total = 0.0;
        for (source_id s = 0; s < v.sources().size(); ++s)
            total += v.load(s, cfg_.metric);
        plan.set_load(total);

        const std::uint32_t k = active_;
        const bool two = cfg_.steps == scaling::two_level;
        const std::uint32_t up = two ? limit_ : std::min(k + 1, limit_);
        const std::uint32_t down = two ? 1U : std::max(k, 2U) - 1U;
        const bool above = k < limit_ && total > cfg_.high_watermark * static_cast<double>(k);
        const bool below = k > 1 && total < cfg_.low_watermark * static_cast<double>(down);
        above_ = above ? above_ + 1 : 0;
        below_ = below ? below_ + 1 : 0;

        const bool dwell_ok = last_change_ == nanos::min() || v.now() - last_change_ >= cfg_.min_dwell;
        if (dwell_ok && above_ >= cfg_.samples_to_grow) {
            active_ = up;
            plan.set_reason(decision_reason::grow);
        } else if (dwell_ok && below_ >= cfg_.samples_to_shrink) {
            active_ = down;
            plan.set_reason(decision_reason::shrink);
        }
        if (active_ != k) {
            last_change_ = v.now();
            above_ = below_ = 0;
        }
        place_all(v, plan);
    }

    [[nodiscard]] std::uint32_t active_workers() const noexcept { return active_; }
    [[nodiscard]] nanos sample_interval() const noexcept { return cfg_.sample_interval; }
    [[nodiscard]] const hysteresis_config& config() const noexcept { return cfg_; }
    /// Consecutive samples so far above the grow threshold / below the shrink threshold.
    [[nodiscard]] std::uint32_t samples_above() const noexcept { return above_; }
    [[nodiscard]] std::uint32_t samples_below() const noexcept { return below_; }

    /// The checks the constructor applies. @throws std::invalid_argument.
    static void validate(const hysteresis_config& c)
    {
        auto fail = [](const std::string& what) { throw std::invalid_argument("xnv: hysteresis_config: " + what); };
        auto num = [](double d) { return std::to_string(d); };
        if (!std::isfinite(c.low_watermark) || c.low_watermark < 0.0)
            fail("low_watermark (" + num(c.low_watermark) + ") must be a finite value >= 0");
        if (!std::isfinite(c.high_watermark))
            fail("high_watermark (" + num(c.high_watermark) + ") must be finite");
        if (!(c.low_watermark < c.high_watermark))
            fail("low_watermark (" + num(c.low_watermark) + ") must be below high_watermark (" +
                 num(c.high_watermark) + ")");
        if (c.metric == load_metric::busy && c.high_watermark >= 1.0)
            fail("high_watermark (" + num(c.high_watermark) +
                 ") must be below 1 with load_metric::busy: a worker is at most fully busy, so the load "
                 "could never cross it");
        if (c.samples_to_grow == 0)
            fail("samples_to_grow must be at least 1");
        if (c.samples_to_shrink == 0)
            fail("samples_to_shrink must be at least 1");
        if (c.sample_interval <= nanos::zero())
            fail("sample_interval must be positive");
        if (c.min_dwell < nanos::zero())
            fail("min_dwell must not be negative");
        if (!std::isfinite(c.min_improvement) || c.min_improvement < 0.0 || c.min_improvement >= 1.0)
            fail("min_improvement (" + num(c.min_improvement) + ") must be in [0, 1)");
    }

private:
    template <class WorkerOf>
    std::vector<double> worker_loads(const dispatch_view& v, WorkerOf worker_of) const
    {
        std::vector<double> load(active_, 0.0);
        for (source_id s = 0; s < v.sources().size(); ++s) {
            const worker_id w = v.sources()[s].connected ? worker_of(s) : no_worker;
            if (w < active_)
                load[w] += v.load(s, cfg_.metric);
        }
        return load;
    }

    static worker_id least_loaded(const std::vector<double>& load) noexcept
    {
        worker_id best = 0;
        for (worker_id w = 1; w < load.size(); ++w)
            if (load[w] < load[best])
                best = w;
        return best;
    }

    void place_all(const dispatch_view& v, dispatch_plan& plan)
    {
        const auto& src = v.sources();
        std::vector<source_id> order;
        for (source_id s = 0; s < src.size(); ++s)
            if (src[s].connected)
                order.push_back(s);
        if (active_ == 1) {
            for (source_id s : order)
                if (plan.worker(s) != 0)
                    plan.move(s, 0);
            return;
        }
        std::vector<double> l(src.size(), 0.0);
        for (source_id s : order)
            l[s] = v.load(s, cfg_.metric);
        // Largest first; equal loads in id order (stable sort over ascending ids).
        std::stable_sort(order.begin(), order.end(), [&](source_id a, source_id b) { return l[a] > l[b]; });

        std::vector<double> load = worker_loads(v, [&](source_id s) { return plan.worker(s); });
        // Sources left on workers that are no longer active must move.
        for (source_id s : order) {
            if (plan.worker(s) < active_)
                continue;
            const worker_id m = least_loaded(load);
            plan.move(s, m);
            load[m] += l[s];
        }
        // Optional moves, in balancing steps between two workers (Linux's load balancer pulls
        // from the busiest group in the same way). A step takes the busiest active worker b and
        // the least loaded m, and picks sources on b, largest first, each of which shrinks the
        // current difference d = load[b] - load[m] (a source of load x does iff x < d; moving it
        // leaves |d - 2x|). The step is made only if it leaves the pair's difference below
        // (1 - min_improvement) of what it was. Judging the step and not each source matters:
        // with n equal sources on one worker a single move shrinks the difference by only 2/n,
        // which no fixed fraction would admit for large n, while the step as a whole evens the
        // pair. A step evens one pair, so spreading n equal sources over idle workers halves
        // the stack step by step (a source may move more than once within a sample; only its
        // final worker counts). If the busiest worker has no such step (say, one source bigger
        // than the difference), the next busiest is tried. Every step strictly lowers the sum of
        // squared worker loads, so this ends (the bound only guards against rounding), and a
        // balanced placement is left alone: no flapping.
        // Loads are sums of measured fractions: differences within `eps` of the total are
        // rounding, not imbalance (0.5 + 0.2 against 0.3 + 0.1 + 0.1 + 0.2 must count as even).
        double sum = 0.0;
        for (source_id s : order)
            sum += l[s];
        const double eps = 1e-9 * sum;
        std::vector<worker_id> donors;
        std::vector<source_id> step;
        donors.reserve(load.size());
        step.reserve(order.size());
        for (std::size_t steps = 0; steps < 4 * (order.size() + load.size()); ++steps) {
            const worker_id m = least_loaded(load);
            donors.clear();
            for (worker_id w = 0; w < load.size(); ++w)
                if (load[w] > load[m] + eps)
                    donors.push_back(w);
            // Busiest first; equal loads in index order.
            std::stable_sort(donors.begin(), donors.end(), [&](worker_id a, worker_id b) { return load[a] > load[b]; });
            bool stepped = false;
            for (worker_id b : donors) {
                const double before = load[b] - load[m];
                double d = before;
                step.clear();
                for (source_id s : order) {
                    if (d <= eps)
                        break;
                    if (l[s] <= 0.0 || plan.worker(s) != b)
                        continue;
                    if (src[s].moved_at != nanos::min() && v.now() - src[s].moved_at < cfg_.min_dwell)
                        continue;
                    if (l[s] < d - eps) {
                        step.push_back(s);
                        d -= 2.0 * l[s];
                    }
                }
                if (step.empty() || !(std::abs(d) < before * (1.0 - cfg_.min_improvement) - eps))
                    continue;
                for (source_id s : step) {
                    plan.move(s, m);
                    load[b] -= l[s];
                    load[m] += l[s];
                }
                stepped = true;
                break;
            }
            if (!stepped)
                return;
        }
    }

    hysteresis_config cfg_;
    std::uint32_t limit_ = 1;
    std::uint32_t active_ = 1;
    std::uint32_t above_ = 0;
    std::uint32_t below_ = 0;
    nanos last_change_ = nanos::min();
};

static_assert(dispatch_policy<all_on_first>);
static_assert(dispatch_policy<least_loaded_at_connect>);
static_assert(dispatch_policy<round_robin>);
static_assert(dispatch_policy<hysteresis_balanced>);

} // namespace xnv::dispatch
