// SPDX-License-Identifier: MIT
#pragma once

// A dispatch policy written for the simulator's own tests: fixed placement, and one scripted
// remapping at a chosen sample. Outcomes under it are simple enough to work out by hand.

#include <xnv/clock.hpp>
#include <xnv/notify/channel.hpp>
#include <xnv/notify/policy.hpp>
#include <xnv/sched/dispatch.hpp>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace xnv::sim::testing {

/// What `fixed_map` saw (the policy is copied into the simulator; this stays with the test).
struct fixed_map_log {
    std::uint32_t workers = 0;
    std::uint64_t samples = 0;
    std::vector<nanos> sample_times;
    std::vector<source_sample> last; // the most recent sample, per source
    nanos last_elapsed{0};
};

/// Places source i on `table[i]` (or i % workers past the table); at sample number `remap_at`
/// (1-based) moves every source to `remap_to`.
class fixed_map {
public:
    static constexpr std::string_view name = "fixed_map";

    explicit fixed_map(std::vector<worker_id> table = {}, nanos interval = nanos::zero(),
                       fixed_map_log* log = nullptr)
        : table_(std::move(table)), interval_(interval), log_(log)
    {
    }

    std::optional<std::uint64_t> remap_at;
    std::vector<worker_id> remap_to;

    void bind(std::uint32_t workers)
    {
        workers_ = workers;
        if (log_)
            log_->workers = workers;
    }
    [[nodiscard]] worker_id place(const dispatch_view& v) const
    {
        const auto id = v.sources().size();
        return id < table_.size() ? table_[id] : static_cast<worker_id>(id % workers_);
    }
    void on_sample(const dispatch_view& v, dispatch_plan& plan)
    {
        ++samples_;
        if (log_) {
            log_->samples = samples_;
            log_->sample_times.push_back(v.now());
            log_->last.clear();
            for (const auto& s : v.sources())
                log_->last.push_back(s.last);
            log_->last_elapsed = v.elapsed();
        }
        if (remap_at && samples_ == *remap_at)
            for (source_id s = 0; s < remap_to.size(); ++s)
                plan.move(s, remap_to[s]);
    }
    [[nodiscard]] std::uint32_t active_workers() const noexcept { return workers_; }
    [[nodiscard]] nanos sample_interval() const noexcept { return interval_; }

private:
    std::vector<worker_id> table_;
    nanos interval_;
    fixed_map_log* log_;
    std::uint32_t workers_ = 1;
    std::uint64_t samples_ = 0;
};

static_assert(dispatch_policy<fixed_map>);

/// A coalescer that never notifies and sets no timer: work it is given is stranded.
struct never_notify {
    static constexpr std::string_view name = "never";
    [[nodiscard]] bool on_publish(const notify::publication&, nanos) noexcept { return false; }
    [[nodiscard]] nanos next_deadline() const noexcept { return notify::no_deadline; }
    [[nodiscard]] bool on_timer(nanos) noexcept { return false; }
    [[nodiscard]] notify::rearm on_consumer_idle(std::uint32_t, nanos) noexcept { return {}; }
};

static_assert(notify::coalescing_policy<never_notify>);

} // namespace xnv::sim::testing
