// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Synthetic traffic sources for the simulator: offered-load shapes (constant, step, ramp,
/// square wave, bursts, many small flows plus one elephant), paced or Poisson arrivals, fixed or
/// uniformly drawn packet sizes. Everything is integer arithmetic on picoseconds, so a source
/// yields the same arrivals, bit for bit, on every platform.
///
/// How arrivals follow a rate that changes over time: each packet needs `8 * bytes` bits of
/// "service" from the offered rate; the generator integrates the piecewise-constant rate from
/// the previous arrival until that many bits have passed (for Poisson arrivals the amount is
/// drawn from an exponential distribution with that mean, which yields an inhomogeneous Poisson
/// process). A packet therefore never lands in a silent period, and the mean rate over any
/// interval matches the shape.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <xnv/clock.hpp>
#include <xnv/sim/rng.hpp>

namespace xnv::sim {

/// A bit rate.
struct rate {
    std::uint64_t bits_per_second = 0;

    [[nodiscard]] static constexpr rate bps(std::uint64_t v) noexcept { return rate{v}; }
    [[nodiscard]] static constexpr rate kbps(std::uint64_t v) noexcept { return rate{v * 1000}; }
    [[nodiscard]] static constexpr rate mbps(std::uint64_t v) noexcept { return rate{v * 1000'000}; }
    [[nodiscard]] static constexpr rate gbps(std::uint64_t v) noexcept { return rate{v * 1000'000'000}; }
    friend constexpr bool operator==(rate, rate) = default;
};

/// The offered-load shapes. Times are absolute simulated times.
namespace shapes {
/// The same rate all the time.
struct constant {
    rate level;
};
/// `before` until `at`, `after` from then on.
struct step {
    rate before;
    rate after;
    nanos at{0};
};
/// `from` until `start`, then `steps` equal steps up to `to` at `end`, `to` afterwards.
/// (A staircase rather than a continuous line keeps the rate piecewise constant.)
struct ramp {
    rate from;
    rate to;
    nanos start{0};
    nanos end{0};
    std::uint32_t steps = 64;
};
/// `high` for `high_for` at the start of every `period` (from `phase`), `low` for the rest.
struct square_wave {
    rate low;
    rate high;
    nanos period{0};
    nanos high_for{0};
    nanos phase{0};
};
/// `packets` back-to-back packets at `line` rate, one burst every `every` (from `phase`); with
/// Poisson arrivals the gaps between burst starts are exponential with mean `every`.
struct bursts {
    std::uint32_t packets = 0;
    nanos every{0};
    rate line;
    nanos phase{0};
};
} // namespace shapes

using traffic_shape =
    std::variant<shapes::constant, shapes::step, shapes::ramp, shapes::square_wave, shapes::bursts>;

/// How packets are spaced at a given rate.
enum class arrivals : std::uint8_t {
    paced,   ///< evenly spaced
    poisson, ///< exponential gaps with the paced spacing as their mean
};

/// Packet sizes, uniform in [min_bytes, max_bytes]; fixed when both are equal.
struct packet_sizes {
    std::uint32_t min_bytes = 1500;
    std::uint32_t max_bytes = 1500;

    static constexpr std::uint32_t largest = 65535;
    [[nodiscard]] static constexpr packet_sizes fixed(std::uint32_t n) noexcept { return {n, n}; }
    [[nodiscard]] static constexpr packet_sizes uniform(std::uint32_t lo, std::uint32_t hi) noexcept
    {
        return {lo, hi};
    }
};

/// One synthetic source: a shape, packet sizes, an arrival process and the window it is
/// active in (`[start, stop)`).
struct source_spec {
    std::string name;
    traffic_shape shape = shapes::constant{};
    packet_sizes size{};
    arrivals process = arrivals::paced;
    nanos start{0};
    nanos stop = nanos::max();
};

/// Offered work: `packets` packets totalling `bytes` that reach `source` at `time`.
struct arrival {
    nanos time{0};
    std::uint32_t source = 0;
    std::uint64_t bytes = 0;
    std::uint32_t packets = 1;
    friend constexpr bool operator==(const arrival&, const arrival&) = default;
};

namespace detail {
inline constexpr std::uint64_t ps_per_ns = 1000;
inline constexpr std::uint64_t ps_per_s = 1000'000'000'000ull;
inline constexpr std::uint64_t never_ps = std::numeric_limits<std::uint64_t>::max();
// The latest simulated time a source may use, in ps: keeps ps arithmetic far from overflow
// (about 58 simulated days).
inline constexpr std::uint64_t horizon_ps = std::uint64_t{1} << 62;

[[nodiscard]] constexpr std::uint64_t to_ps(nanos t) noexcept
{
    if (t <= nanos::zero())
        return 0;
    const auto ns = static_cast<std::uint64_t>(t.count());
    return ns >= horizon_ps / ps_per_ns ? horizon_ps : ns * ps_per_ns;
}

[[noreturn]] inline void bad_source(const source_spec& s, const std::string& what)
{
    throw std::invalid_argument("xnv::sim: source '" + s.name + "': " + what);
}

// The rate in force at time t (ps) and the next time (ps) it may change, for the shapes that
// are rates (every shape except bursts).
struct rate_piece {
    std::uint64_t bps;
    std::uint64_t until_ps;
};

[[nodiscard]] inline rate_piece piece_at(const shapes::constant& c, std::uint64_t) noexcept
{
    return {c.level.bits_per_second, never_ps};
}
[[nodiscard]] inline rate_piece piece_at(const shapes::step& s, std::uint64_t t) noexcept
{
    const std::uint64_t at = to_ps(s.at);
    return t < at ? rate_piece{s.before.bits_per_second, at} : rate_piece{s.after.bits_per_second, never_ps};
}
[[nodiscard]] inline rate_piece piece_at(const shapes::ramp& r, std::uint64_t t) noexcept
{
    const std::uint64_t start = to_ps(r.start), end = to_ps(r.end);
    if (t < start)
        return {r.from.bits_per_second, start};
    if (t >= end)
        return {r.to.bits_per_second, never_ps};
    // Stair k of `steps` covers [start + k*w, start + (k+1)*w) at from + (k+1)*(to-from)/steps,
    // so the last stair reaches `to` and the first already differs from `from`.
    const std::uint64_t span = end - start, k = (t - start) * std::uint64_t{r.steps} / span;
    const auto from = static_cast<std::int64_t>(r.from.bits_per_second);
    const auto to = static_cast<std::int64_t>(r.to.bits_per_second);
    const std::int64_t level = from + (to - from) * static_cast<std::int64_t>(k + 1) / static_cast<std::int64_t>(r.steps);
    // The first t' with floor((t' - start) * steps / span) > k.
    const std::uint64_t next = start + ((k + 1) * span + r.steps - 1) / r.steps;
    return {static_cast<std::uint64_t>(level), std::min(next, end)};
}
[[nodiscard]] inline rate_piece piece_at(const shapes::square_wave& w, std::uint64_t t) noexcept
{
    const std::uint64_t period = to_ps(w.period), high = to_ps(w.high_for), phase = to_ps(w.phase);
    if (t < phase)
        return {w.low.bits_per_second, phase};
    const std::uint64_t begin = phase + (t - phase) / period * period;
    return t < begin + high ? rate_piece{w.high.bits_per_second, begin + high}
                            : rate_piece{w.low.bits_per_second, begin + period};
}
} // namespace detail

/// Checks a spec: throws `std::invalid_argument` naming the source and the problem.
inline void validate(const source_spec& s)
{
    using detail::bad_source;
    if (s.size.min_bytes == 0)
        bad_source(s, "packet size must be at least 1 byte");
    if (s.size.max_bytes > packet_sizes::largest)
        bad_source(s, "packet size must be at most 65535 bytes");
    if (s.size.min_bytes > s.size.max_bytes)
        bad_source(s, "packet size minimum exceeds its maximum");
    if (s.start < nanos::zero())
        bad_source(s, "start must not be negative");
    if (s.stop <= s.start)
        bad_source(s, "stop must be after start");
    std::visit(
        [&](const auto& shape) {
            using T = std::decay_t<decltype(shape)>;
            if constexpr (std::is_same_v<T, shapes::ramp>) {
                if (shape.end <= shape.start)
                    bad_source(s, "ramp end must be after its start");
                if (shape.steps == 0)
                    bad_source(s, "ramp needs at least one step");
                if (shape.start < nanos::zero())
                    bad_source(s, "ramp start must not be negative");
            } else if constexpr (std::is_same_v<T, shapes::square_wave>) {
                if (shape.period <= nanos::zero())
                    bad_source(s, "square wave period must be positive");
                if (shape.high_for < nanos::zero() || shape.high_for > shape.period)
                    bad_source(s, "square wave high time must be within its period");
                if (shape.phase < nanos::zero())
                    bad_source(s, "square wave phase must not be negative");
            } else if constexpr (std::is_same_v<T, shapes::bursts>) {
                if (shape.packets == 0)
                    bad_source(s, "bursts need at least one packet each");
                if (shape.every <= nanos::zero())
                    bad_source(s, "burst interval must be positive");
                if (shape.line.bits_per_second == 0)
                    bad_source(s, "burst line rate must be positive");
                if (shape.phase < nanos::zero())
                    bad_source(s, "burst phase must not be negative");
            }
        },
        s.shape);
}

/// The arrivals of one synthetic source, in time order.
///
/// Thread safety: none. Deterministic: the sequence depends only on the spec, the seed and
/// the source index. `next` is noexcept and allocates nothing.
class synthetic_source {
public:
    /// @throws std::invalid_argument when the spec is invalid (see `validate`).
    synthetic_source(source_spec spec, std::uint32_t index, std::uint64_t seed)
        : spec_(std::move(spec)), index_(index), rng_(rng::stream(seed, index)),
          t_ps_(detail::to_ps(spec_.start)), stop_ps_(detail::to_ps(spec_.stop))
    {
        validate(spec_);
        if (const auto* b = std::get_if<shapes::bursts>(&spec_.shape)) {
            const std::uint64_t every = detail::to_ps(b->every), phase = detail::to_ps(b->phase);
            burst_start_ps_ = phase;
            if (t_ps_ > phase)
                burst_start_ps_ = spec_.process == arrivals::poisson
                                      ? t_ps_
                                      : phase + (t_ps_ - phase + every - 1) / every * every;
            if (spec_.process == arrivals::poisson)
                burst_start_ps_ += rng_.exponential(every);
        }
    }

    [[nodiscard]] const source_spec& spec() const noexcept { return spec_; }

    /// The next arrival; false once the source has stopped for good.
    [[nodiscard]] bool next(arrival& out) noexcept
    {
        if (done_)
            return false;
        const std::uint64_t bytes = rng_.between(spec_.size.min_bytes, spec_.size.max_bytes);
        const bool ok = std::holds_alternative<shapes::bursts>(spec_.shape) ? next_in_burst(bytes) : next_at_rate(bytes);
        if (!ok || t_ps_ >= stop_ps_) {
            done_ = true;
            return false;
        }
        out = arrival{nanos(static_cast<std::int64_t>(t_ps_ / detail::ps_per_ns)), index_, bytes, 1};
        return true;
    }

private:
    bool next_at_rate(std::uint64_t bytes) noexcept
    {
        // The service this packet needs, in bit-picoseconds per second: 8 * bytes * 1e12,
        // so that dividing by a rate in bit/s gives picoseconds.
        std::uint64_t work = 8 * bytes * detail::ps_per_s;
        if (spec_.process == arrivals::poisson)
            work = std::max<std::uint64_t>(rng_.exponential(work), 1);
        for (;;) {
            if (t_ps_ >= stop_ps_ || t_ps_ >= detail::horizon_ps)
                return false;
            const detail::rate_piece p = std::visit(
                [&](const auto& shape) -> detail::rate_piece {
                    if constexpr (std::is_same_v<std::decay_t<decltype(shape)>, shapes::bursts>)
                        return {0, detail::never_ps};
                    else
                        return detail::piece_at(shape, t_ps_);
                },
                spec_.shape);
            const std::uint64_t boundary = std::min(p.until_ps, std::min(stop_ps_, detail::horizon_ps));
            if (p.bps == 0) {
                if (boundary == detail::never_ps || boundary >= stop_ps_)
                    return false;
                t_ps_ = boundary;
                continue;
            }
            const std::uint64_t need = (work + p.bps - 1) / p.bps;
            if (need <= boundary - t_ps_) {
                t_ps_ += need;
                return true;
            }
            // Part of the service comes from this piece; the rest from the next one.
            const detail::u128 served = detail::u128{p.bps} * (boundary - t_ps_);
            work -= static_cast<std::uint64_t>(std::min<detail::u128>(served, work - 1));
            t_ps_ = boundary;
        }
    }

    bool next_in_burst(std::uint64_t bytes) noexcept
    {
        const auto& b = std::get<shapes::bursts>(spec_.shape);
        const std::uint64_t every = detail::to_ps(b.every);
        if (sent_in_burst_ == b.packets) {
            sent_in_burst_ = 0;
            burst_start_ps_ += spec_.process == arrivals::poisson ? rng_.exponential(every) : every;
        }
        // A burst that would start while the previous one is still arriving follows it.
        if (burst_start_ps_ >= detail::horizon_ps)
            return false;
        const std::uint64_t begin = sent_in_burst_ == 0 ? std::max(burst_start_ps_, t_ps_) : t_ps_;
        t_ps_ = begin + (8 * bytes * detail::ps_per_s + b.line.bits_per_second - 1) / b.line.bits_per_second;
        ++sent_in_burst_;
        return true;
    }

    source_spec spec_;
    std::uint32_t index_;
    rng rng_;
    std::uint64_t t_ps_;
    std::uint64_t stop_ps_;
    std::uint64_t burst_start_ps_ = 0;
    std::uint32_t sent_in_burst_ = 0;
    bool done_ = false;
};

/// Many small flows plus one elephant: the mix where a load-blind placement leaves one CPU with
/// the elephant and its share of mice.
struct mice_and_elephant {
    std::uint32_t mice = 32;
    rate mouse_rate = rate::mbps(20);
    packet_sizes mouse_size = packet_sizes::uniform(64, 256);
    rate elephant_rate = rate::gbps(1);
    packet_sizes elephant_size = packet_sizes::fixed(1500);
};

/// The sources of a `mice_and_elephant` mix: the elephant first (paced), then the mice
/// (Poisson arrivals), named "elephant" and "mouse-<i>".
[[nodiscard]] inline std::vector<source_spec> make_sources(const mice_and_elephant& mix)
{
    std::vector<source_spec> out;
    out.reserve(std::size_t{mix.mice} + 1);
    out.push_back(source_spec{"elephant", shapes::constant{mix.elephant_rate}, mix.elephant_size, arrivals::paced});
    for (std::uint32_t i = 0; i < mix.mice; ++i)
        out.push_back(source_spec{"mouse-" + std::to_string(i), shapes::constant{mix.mouse_rate}, mix.mouse_size,
                                  arrivals::poisson});
    return out;
}

} // namespace xnv::sim
