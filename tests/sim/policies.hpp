// SPDX-License-Identifier: MIT
#pragma once

// Small policies written for the simulator's own tests: they show how little a policy needs to
// be driven by xnv::sim, and each has an outcome simple enough to work out by hand.

#include <xnv/clock.hpp>
#include <xnv/sim/simulator.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace xnv::sim::testing {

/// Maps every source to a fixed CPU (from a table, else source % cpus) and can be told to
/// remap at a given sample.
class fixed_map {
public:
    explicit fixed_map(std::uint32_t cpus, std::vector<std::uint32_t> table = {}) : cpus_(cpus), map_(std::move(table)) {}
    void connect(std::uint32_t s)
    {
        if (map_.size() <= s)
            map_.resize(s + 1, s % cpus_);
        connected.push_back(s);
    }
    void sample(std::span<const source_load> loads)
    {
        ++samples;
        last_loads.assign(loads.begin(), loads.end());
        if (remap_at && samples == *remap_at)
            map_ = remap_to;
    }
    [[nodiscard]] std::uint32_t worker_of(std::uint32_t s) const { return map_.at(s); }

    std::uint64_t samples = 0;
    std::vector<std::uint32_t> connected;
    std::vector<source_load> last_loads;
    std::optional<std::uint64_t> remap_at;
    std::vector<std::uint32_t> remap_to;

private:
    std::uint32_t cpus_;
    std::vector<std::uint32_t> map_;
};

/// Xen's event-index rule reduced to its effect: notify on a publication only if the consumer
/// re-armed since the last notification.
class notify_when_armed {
public:
    bool on_publish(std::uint32_t) noexcept
    {
        const bool n = armed_;
        armed_ = false;
        return n;
    }
    void on_consumer_idle() noexcept { armed_ = true; }
    [[nodiscard]] std::optional<nanos> deadline() const noexcept { return std::nullopt; }
    bool on_deadline() noexcept { return false; }

private:
    bool armed_ = true;
};

/// Notifies on every publication.
struct notify_always {
    bool on_publish(std::uint32_t) noexcept { return true; }
    void on_consumer_idle() noexcept {}
    [[nodiscard]] std::optional<nanos> deadline() const noexcept { return std::nullopt; }
    bool on_deadline() noexcept { return false; }
};

/// Never notifies on a publication; a timer `delay` after the first unnotified publication
/// notifies instead (the lone-packet timeout of a coalescer, on its own).
class notify_by_timer {
public:
    notify_by_timer(clock_ref<virtual_clock> clock, nanos delay) : clock_(clock), delay_(delay) {}
    bool on_publish(std::uint32_t) noexcept
    {
        if (!due_)
            due_ = clock_.now() + delay_;
        return false;
    }
    void on_consumer_idle() noexcept {}
    [[nodiscard]] std::optional<nanos> deadline() const noexcept { return due_; }
    bool on_deadline() noexcept
    {
        due_.reset();
        return true;
    }

private:
    clock_ref<virtual_clock> clock_;
    nanos delay_;
    std::optional<nanos> due_;
};

/// A delayed re-arm in miniature: once armed, notify when `batch` packets have been published,
/// or `timeout` after the first of them, whichever comes first.
class batch_or_timeout {
public:
    batch_or_timeout(clock_ref<virtual_clock> clock, std::uint32_t batch, nanos timeout)
        : clock_(clock), batch_(batch), timeout_(timeout)
    {
    }
    bool on_publish(std::uint32_t packets) noexcept
    {
        if (!armed_)
            return false;
        seen_ += packets;
        if (seen_ >= batch_)
            return fire();
        if (!due_)
            due_ = clock_.now() + timeout_;
        return false;
    }
    void on_consumer_idle() noexcept
    {
        armed_ = true;
        seen_ = 0;
        due_.reset();
    }
    [[nodiscard]] std::optional<nanos> deadline() const noexcept { return due_; }
    bool on_deadline() noexcept { return armed_ && seen_ > 0 ? fire() : false; }

private:
    bool fire() noexcept
    {
        armed_ = false;
        due_.reset();
        return true;
    }
    clock_ref<virtual_clock> clock_;
    std::uint32_t batch_;
    nanos timeout_;
    bool armed_ = true;
    std::uint32_t seen_ = 0;
    std::optional<nanos> due_;
};

} // namespace xnv::sim::testing
