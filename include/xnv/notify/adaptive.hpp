// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// `adaptive`: a frames/usecs hold-off whose (usecs, frames) profile is chosen at run time by
/// a controller modelled on Linux's dynamic interrupt moderation (`lib/dim`, `net_dim`).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include <xnv/notify/policy.hpp>

namespace xnv::notify {

/// One moderation profile: hold a notification back for at most `usecs` or until `frames`
/// items are waiting (the meaning and the rules of `frames_usecs::config`).
struct dim_profile {
    std::chrono::microseconds usecs{0};
    std::uint32_t frames = 1;
    friend bool operator==(const dim_profile&, const dim_profile&) = default;
};

/// The default table, from no coalescing (profile 0, exactly `event_idx`) to the most.
inline constexpr std::array<dim_profile, 5> default_dim_profiles{{
    {std::chrono::microseconds{0}, 1},
    {std::chrono::microseconds{8}, 8},
    {std::chrono::microseconds{16}, 16},
    {std::chrono::microseconds{32}, 32},
    {std::chrono::microseconds{64}, 64},
}};

/// Where the controller is in its search (`net_dim`'s tune states).
enum class dim_tune : std::uint8_t {
    parked_on_top, ///< stable: stays until the traffic changes significantly
    parked_tired,  ///< resting after `max_steps` steps, for as many samples
    going_right,   ///< stepping towards more coalescing
    going_left,    ///< stepping towards less coalescing
};

[[nodiscard]] constexpr std::string_view to_string(dim_tune t) noexcept
{
    switch (t) {
    case dim_tune::parked_on_top: return "parked_on_top";
    case dim_tune::parked_tired: return "parked_tired";
    case dim_tune::going_right: return "going_right";
    case dim_tune::going_left: return "going_left";
    }
    return "unknown";
}

/// Settings of `adaptive`.
struct adaptive_config {
    /// From least to most coalescing: `usecs` must not decrease along the table. Copied by
    /// the constructor.
    std::span<const dim_profile> profiles = default_dim_profiles;
    std::size_t start_profile = 0;
    /// Notifications per sample (`net_dim`: 64).
    std::uint32_t sample_events = 64;
    /// A change smaller than this share of the previous value counts as no change.
    std::uint32_t dead_band_percent = 10;
    /// Steps before resting; `net_dim` uses twice the number of profiles (10 for 5).
    std::uint32_t max_steps = 10;
    /// Lone-item rule: a sample in which notifications announced fewer than this many items
    /// on average, taken on a profile other than the first, sends the controller back to the
    /// first profile, parked (coalescing that batches nothing only adds latency). 0 turns the
    /// rule off, leaving `net_dim`'s behaviour.
    std::uint32_t min_batch = 2;
};

/// A DIM-style adaptive policy. Every notification it sends is an *event*. Every
/// `sample_events` events it computes, over the time since the sample began, bytes, items and
/// events per millisecond; compares them with the previous sample, a change counting only
/// beyond `dead_band_percent` (bytes first, then items, both "more is better", then events,
/// "fewer is better"); and hill-climbs over the profile table: keep going while it gets better,
/// turn when it does not, park on top when it has gone back and forth around a best profile
/// (or hit an edge), and rest for `max_steps` samples after `max_steps` steps without parking.
/// A parked controller leaves its place when a sample differs from the one it parked on.
///
/// `net_dim` cannot see latency: when every notification announces a single item (a trickle),
/// all profiles rate the same, so it wanders among whichever profiles it was near, and after a
/// load drop it stays on a high one, holding every lone item back by that profile's `usecs`.
/// The lone-item rule (`min_batch`) closes that gap: such a sample on any profile but the
/// first returns the controller to the first profile and parks it there.
///
/// Differences from `net_dim`: the clock is injected (the simulator drives it); rates use
/// 64-bit arithmetic; with no byte counts (producer passes 0) the comparison starts at items
/// instead of declaring "no change". The consumer side re-arms one ahead, as `event_idx`.
class adaptive {
public:
    static constexpr std::string_view name = "adaptive";
    static constexpr std::size_t max_profiles = 8;

    using config = adaptive_config;

    /// @throws std::invalid_argument on an empty table or one with more than `max_profiles`
    /// profiles, a profile `frames_usecs` would reject, `usecs` decreasing along the table,
    /// `start_profile` outside the table, `sample_events == 0`, `dead_band_percent > 100` or
    /// `max_steps == 0`.
    explicit adaptive(config c = {})
        : count_(c.profiles.size()), ix_(c.start_profile), sample_events_(c.sample_events),
          dead_band_(c.dead_band_percent), max_steps_(c.max_steps), min_batch_(c.min_batch), gate_(1, nanos::zero())
    {
        const std::string who = "xnv: adaptive";
        if (c.profiles.empty() || c.profiles.size() > max_profiles)
            throw std::invalid_argument(who + ": the profile table needs 1.." + std::to_string(max_profiles) +
                                        " profiles, got " + std::to_string(c.profiles.size()));
        for (std::size_t i = 0; i < c.profiles.size(); ++i) {
            detail::check_frames_usecs(c.profiles[i].frames, c.profiles[i].usecs, who + ": profile " + std::to_string(i));
            if (i > 0 && c.profiles[i].usecs < c.profiles[i - 1].usecs)
                throw std::invalid_argument(who + ": profiles must go from least to most coalescing, but profile " +
                                            std::to_string(i) + " has fewer usecs than profile " +
                                            std::to_string(i - 1));
            profiles_[i] = c.profiles[i];
        }
        if (c.start_profile >= c.profiles.size())
            throw std::invalid_argument(who + ": start_profile " + std::to_string(c.start_profile) +
                                        " is outside the table of " + std::to_string(c.profiles.size()));
        if (c.sample_events == 0)
            throw std::invalid_argument(who + ": sample_events must be at least 1");
        if (c.dead_band_percent > 100)
            throw std::invalid_argument(who + ": dead_band_percent must be 0..100, got " +
                                        std::to_string(c.dead_band_percent));
        if (c.max_steps == 0)
            throw std::invalid_argument(who + ": max_steps must be at least 1");
        apply_profile();
    }

    // ---- producer side
    [[nodiscard]] bool on_publish(const publication& p, nanos now) noexcept
    {
        items_ += p.items;
        bytes_ += p.bytes;
        return event_if(gate_.on_publish(p, now), now);
    }
    [[nodiscard]] nanos next_deadline() const noexcept { return gate_.next_deadline(); }
    [[nodiscard]] bool on_timer(nanos now) noexcept { return event_if(gate_.on_timer(now), now); }

    // ---- consumer side
    [[nodiscard]] rearm on_consumer_idle(std::uint32_t, nanos) noexcept { return {}; }

    // ---- observers
    [[nodiscard]] std::size_t profile_index() const noexcept { return ix_; }
    [[nodiscard]] dim_profile profile() const noexcept { return profiles_[ix_]; }
    [[nodiscard]] dim_tune tune() const noexcept { return tune_; }
    /// Samples completed (decisions taken) so far.
    [[nodiscard]] std::uint64_t samples() const noexcept { return samples_; }
    /// Profile changes so far.
    [[nodiscard]] std::uint64_t profile_changes() const noexcept { return changes_; }
    /// Notifications sent so far (the events the controller counts).
    [[nodiscard]] std::uint64_t events() const noexcept { return events_; }

private:
    struct sample {
        std::uint64_t events = 0, items = 0, bytes = 0;
        nanos time{0};
    };
    struct stats {
        std::uint64_t bpms = 0, ppms = 0, epms = 0;
    };
    enum class verdict : std::uint8_t { better, same, worse };
    enum class step_result : std::uint8_t { stepped, on_edge, too_tired };

    bool event_if(bool fired, nanos now) noexcept
    {
        if (fired)
            on_event(now);
        return fired;
    }

    void on_event(nanos now) noexcept
    {
        ++events_;
        const sample cur{events_, items_, bytes_, now};
        if (!measuring_) {
            start_ = cur;
            measuring_ = true;
            return;
        }
        if (cur.events - start_.events < sample_events_)
            return;
        const auto delta_us = std::chrono::duration_cast<std::chrono::microseconds>(cur.time - start_.time).count();
        if (delta_us <= 0)
            return; // too short to rate: keep measuring from the same start
        const auto us = static_cast<std::uint64_t>(delta_us);
        auto per_ms = [us](std::uint64_t n) { return (n * 1000 + us - 1) / us; };
        const stats s{per_ms(cur.bytes - start_.bytes), per_ms(cur.items - start_.items),
                      per_ms(cur.events - start_.events)};
        ++samples_;
        const bool lone = min_batch_ != 0 && ix_ != 0 &&
                          cur.items - start_.items < std::uint64_t{min_batch_} * (cur.events - start_.events);
        if (lone ? back_to_first(s) : decide(s)) {
            ++changes_;
            apply_profile();
            measuring_ = false; // the next event starts a sample under the new profile
        } else {
            start_ = cur;
        }
    }

    [[nodiscard]] bool significant(std::uint64_t cur, std::uint64_t prev) const noexcept
    {
        const std::uint64_t diff = cur > prev ? cur - prev : prev - cur;
        return prev != 0 && diff * 100 > std::uint64_t{dead_band_} * prev;
    }

    [[nodiscard]] verdict compare(const stats& cur, const stats& prev) const noexcept
    {
        if (prev.bpms != 0 || cur.bpms != 0) {
            if (prev.bpms == 0)
                return verdict::better;
            if (significant(cur.bpms, prev.bpms))
                return cur.bpms > prev.bpms ? verdict::better : verdict::worse;
        }
        if (prev.ppms == 0)
            return cur.ppms != 0 ? verdict::better : verdict::same;
        if (significant(cur.ppms, prev.ppms))
            return cur.ppms > prev.ppms ? verdict::better : verdict::worse;
        if (prev.epms == 0)
            return verdict::same;
        if (significant(cur.epms, prev.epms))
            return cur.epms < prev.epms ? verdict::better : verdict::worse;
        return verdict::same;
    }

    step_result step() noexcept
    {
        if (tired_ == max_steps_)
            return step_result::too_tired;
        if (tune_ == dim_tune::going_right) {
            if (ix_ + 1 == count_)
                return step_result::on_edge;
            ++ix_;
            ++steps_right_;
        } else if (tune_ == dim_tune::going_left) {
            if (ix_ == 0)
                return step_result::on_edge;
            --ix_;
            ++steps_left_;
        }
        ++tired_;
        return step_result::stepped;
    }

    // Back and forth around one profile: went one way more than once, turned, and took one
    // step back. That profile is the best one seen.
    [[nodiscard]] bool on_top() const noexcept
    {
        switch (tune_) {
        case dim_tune::going_right: return steps_left_ > 1 && steps_right_ == 1;
        case dim_tune::going_left: return steps_right_ > 1 && steps_left_ == 1;
        default: return true;
        }
    }

    void turn() noexcept
    {
        if (tune_ == dim_tune::going_right) {
            tune_ = dim_tune::going_left;
            steps_left_ = 0;
        } else if (tune_ == dim_tune::going_left) {
            tune_ = dim_tune::going_right;
            steps_right_ = 0;
        }
    }

    void park_on_top() noexcept
    {
        steps_right_ = steps_left_ = tired_ = 0;
        tune_ = dim_tune::parked_on_top;
    }
    void park_tired() noexcept
    {
        steps_right_ = steps_left_ = 0; // `tired_` stays at the limit and counts the rest down
        tune_ = dim_tune::parked_tired;
    }
    void exit_parking() noexcept
    {
        tune_ = ix_ != 0 ? dim_tune::going_left : dim_tune::going_right;
        step();
    }

    bool decide(const stats& cur) noexcept
    {
        const dim_tune before = tune_;
        const std::size_t ix_before = ix_;
        switch (tune_) {
        case dim_tune::parked_on_top:
            if (compare(cur, prev_) != verdict::same)
                exit_parking();
            break;
        case dim_tune::parked_tired:
            if (--tired_ == 0)
                exit_parking();
            break;
        case dim_tune::going_right:
        case dim_tune::going_left:
            if (compare(cur, prev_) != verdict::better)
                turn();
            if (on_top()) {
                park_on_top();
                break;
            }
            switch (step()) {
            case step_result::on_edge: park_on_top(); break;
            case step_result::too_tired: park_tired(); break;
            case step_result::stepped: break;
            }
            break;
        }
        // A controller that stays parked on top keeps the sample it parked on as reference,
        // so slow drift accumulates until it is significant.
        if (before != dim_tune::parked_on_top || tune_ != dim_tune::parked_on_top)
            prev_ = cur;
        return ix_ != ix_before;
    }

    // The lone-item rule: nothing was batched, so the first profile is the best one.
    bool back_to_first(const stats& cur) noexcept
    {
        ix_ = 0;
        park_on_top();
        prev_ = cur;
        return true;
    }

    void apply_profile() noexcept { gate_.retune(profiles_[ix_].frames, profiles_[ix_].usecs); }

    std::array<dim_profile, max_profiles> profiles_{};
    std::size_t count_;
    std::size_t ix_;
    std::uint32_t sample_events_;
    std::uint32_t dead_band_;
    std::uint32_t max_steps_;
    std::uint32_t min_batch_;
    detail::holdoff_gate gate_;

    dim_tune tune_ = dim_tune::parked_on_top;
    std::uint32_t steps_left_ = 0;
    std::uint32_t steps_right_ = 0;
    std::uint32_t tired_ = 0;
    stats prev_{};

    bool measuring_ = false;
    sample start_{};
    std::uint64_t events_ = 0, items_ = 0, bytes_ = 0;
    std::uint64_t samples_ = 0, changes_ = 0;
};

static_assert(coalescing_policy<adaptive>);

} // namespace xnv::notify
