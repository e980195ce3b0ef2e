// SPDX-License-Identifier: MIT
#pragma once

// The reference programs choose their notification policy and their dispatch policy on the
// command line, while xnv's coalescer and balancer take them as template parameters. These
// wrappers make the choice at run time: one `std::visit` per call, no allocation.

#include <xnv/notify/adaptive.hpp>
#include <xnv/notify/policy.hpp>
#include <xnv/sched/policies.hpp>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace xnv::example {

/// The notification policies `--coalesce` offers.
enum class coalesce_choice : std::uint8_t { always, event_idx, adaptive, frames_usecs };

inline const std::vector<std::string>& coalesce_names()
{
    static const std::vector<std::string> names{"always", "event_idx", "adaptive", "frames_usecs"};
    return names;
}

[[nodiscard]] inline std::string_view to_string(coalesce_choice c) noexcept
{
    switch (c) {
    case coalesce_choice::always: return "always";
    case coalesce_choice::event_idx: return "event_idx";
    case coalesce_choice::adaptive: return "adaptive";
    case coalesce_choice::frames_usecs: return "frames_usecs";
    }
    return "?";
}

/// @throws std::invalid_argument for a name `coalesce_names()` does not list
[[nodiscard]] inline coalesce_choice parse_coalesce(std::string_view name)
{
    for (auto c : {coalesce_choice::always, coalesce_choice::event_idx, coalesce_choice::adaptive,
                   coalesce_choice::frames_usecs})
        if (to_string(c) == name)
            return c;
    throw std::invalid_argument("unknown notification policy '" + std::string(name) + "'");
}

/// Settings of the policy chosen.
struct coalesce_settings {
    coalesce_choice choice = coalesce_choice::event_idx;
    /// frames_usecs only: ethtool's rx-frames / rx-usecs.
    std::uint32_t frames = 32;
    std::chrono::microseconds usecs{50};
};

/// A coalescing policy chosen at run time among xnv's (satisfies notify::coalescing_policy).
class runtime_policy {
public:
    static constexpr std::string_view name = "runtime";

    /// @throws std::invalid_argument if the chosen policy rejects the settings
    explicit runtime_policy(const coalesce_settings& s) : v_(make(s)) {}

    [[nodiscard]] bool on_publish(const notify::publication& p, nanos now) noexcept
    {
        return std::visit([&](auto& x) noexcept { return x.on_publish(p, now); }, v_);
    }
    [[nodiscard]] nanos next_deadline() const noexcept
    {
        return std::visit([](const auto& x) noexcept { return x.next_deadline(); }, v_);
    }
    [[nodiscard]] bool on_timer(nanos now) noexcept
    {
        return std::visit([&](auto& x) noexcept { return x.on_timer(now); }, v_);
    }
    [[nodiscard]] notify::rearm on_consumer_idle(std::uint32_t outstanding, nanos now) noexcept
    {
        return std::visit([&](auto& x) noexcept { return x.on_consumer_idle(outstanding, now); }, v_);
    }
    /// The chosen policy's own name.
    [[nodiscard]] std::string_view chosen() const noexcept
    {
        return std::visit([](const auto& x) noexcept -> std::string_view { return std::decay_t<decltype(x)>::name; },
                          v_);
    }

private:
    using variant = std::variant<notify::event_idx, notify::always, notify::adaptive, notify::frames_usecs>;
    static variant make(const coalesce_settings& s)
    {
        switch (s.choice) {
        case coalesce_choice::always: return notify::always{};
        case coalesce_choice::event_idx: return notify::event_idx{};
        case coalesce_choice::adaptive: return notify::adaptive{};
        case coalesce_choice::frames_usecs: return notify::frames_usecs(notify::frames_usecs_config{s.frames, s.usecs});
        }
        return notify::event_idx{};
    }
    variant v_;
};
static_assert(notify::coalescing_policy<runtime_policy>);

/// The dispatch policies `--dispatch` offers.
enum class dispatch_choice : std::uint8_t { all_on_first, least_loaded, round_robin, hysteresis };

inline const std::vector<std::string>& dispatch_names()
{
    static const std::vector<std::string> names{"all_on_first", "least_loaded", "round_robin", "hysteresis"};
    return names;
}

[[nodiscard]] inline std::string_view to_string(dispatch_choice d) noexcept
{
    switch (d) {
    case dispatch_choice::all_on_first: return "all_on_first";
    case dispatch_choice::least_loaded: return "least_loaded";
    case dispatch_choice::round_robin: return "round_robin";
    case dispatch_choice::hysteresis: return "hysteresis";
    }
    return "?";
}

/// @throws std::invalid_argument for a name `dispatch_names()` does not list
[[nodiscard]] inline dispatch_choice parse_dispatch(std::string_view name)
{
    for (auto d : {dispatch_choice::all_on_first, dispatch_choice::least_loaded, dispatch_choice::round_robin,
                   dispatch_choice::hysteresis})
        if (to_string(d) == name)
            return d;
    throw std::invalid_argument("unknown dispatch policy '" + std::string(name) + "'");
}

} // namespace xnv::example
