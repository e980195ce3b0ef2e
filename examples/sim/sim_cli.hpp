// SPDX-License-Identifier: MIT
#pragma once

// The command line of xnv-sim: options, their checks, and the scenario and policies they
// describe. Kept apart from main() so the tests can feed it bad arguments.

#include <charconv>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <xnv/notify/adaptive.hpp>
#include <xnv/notify/policy.hpp>
#include <xnv/sched/policies.hpp>
#include <xnv/sim/simulator.hpp>

#include "cli.hpp"

namespace xnv::example::sim {

using namespace std::chrono_literals;
namespace xs = xnv::sim;

/// Everything the command line sets.
struct options {
    std::string experiment = "single";
    std::uint64_t cpus = 4;
    std::vector<std::uint32_t> cpu_list{4, 8, 16};
    std::uint64_t sources = 0; // 0: one per CPU
    std::string policy = "hysteresis_two_level";
    std::string coalescer = "event_idx";
    std::string shape = "constant";
    std::uint64_t load_mbps = 940;
    std::uint64_t packet_bytes = 1500;
    std::string arrivals = "paced";
    std::string trace_file;
    std::uint64_t duration_ms = 2000;
    std::uint64_t warmup_ms = 500;
    std::uint64_t seed = 1;
    std::uint64_t coalesce_frames = 32;
    std::uint64_t coalesce_usecs = 50;
    std::uint64_t min_improvement_pct = 20;
    std::string json_file;
    std::string out_dir;
    bool help = false;
};

inline const std::vector<std::string> policy_names{"all_on_first", "least_loaded_at_connect", "round_robin",
                                                   "hysteresis", "hysteresis_two_level"};
inline const std::vector<std::string> coalescer_names{"always", "event_idx", "delayed_rearm", "frames_usecs",
                                                      "adaptive"};

/// Parses a comma-separated list of CPU counts such as "4,8,16".
/// @throws cli_error naming the flag and the bad element.
inline std::vector<std::uint32_t> parse_cpu_list(const std::string& flag, std::string_view v)
{
    std::vector<std::uint32_t> out;
    if (v.empty())
        throw cli_error(flag + " expects a comma-separated list of CPU counts, got ''");
    for (;;) {
        const std::size_t comma = v.find(',');
        const std::string_view item = v.substr(0, comma);
        std::uint32_t x = 0;
        auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), x);
        if (item.empty() || ec != std::errc{} || p != item.data() + item.size() || x == 0 || x > 4096)
            throw cli_error(flag + " expects CPU counts in 1..4096, got '" + std::string(item) + "'");
        out.push_back(x);
        if (comma == std::string_view::npos)
            break;
        v = v.substr(comma + 1);
    }
    return out;
}

/// The parser for `o`; `parse` fills it.
inline cli make_cli(options& o)
{
    cli c("xnv-sim", "Deterministic simulation of dispatch and notification policies over simulated CPUs.\n"
                     "Experiments: single (one run), paper (all_on_first vs hysteresis at each CPU count\n"
                     "of --cpu-list, one source per CPU at --load-mbps), sweep (offered load from 5% to 100%\n"
                     "of --load-mbps per source, each dispatch policy, each CPU count of --cpu-list),\n"
                     "coalescers (each coalescer at 10%, 50% and 100% of --load-mbps, with --policy).");
    c.text("--experiment", o.experiment, {"single", "paper", "sweep", "coalescers"}, "what to run")
        .integer("--cpus", o.cpus, 1, 4096, "simulated CPUs (single)")
        .custom("--cpu-list", "LIST", "CPU counts for paper and sweep (default 4,8,16)",
                [&o](const std::string& flag, std::string_view v) { o.cpu_list = parse_cpu_list(flag, v); })
        .integer("--sources", o.sources, 0, 65536, "traffic sources, 0 for one per CPU")
        .text("--policy", o.policy, policy_names, "dispatch policy (single)")
        .text("--coalescer", o.coalescer, coalescer_names, "notification coalescer")
        .text("--shape", o.shape, {"constant", "step", "ramp", "square", "bursts", "mice"},
              "offered-load shape of each source (mice: one elephant at --load-mbps plus small flows)")
        .integer("--load-mbps", o.load_mbps, 1, 1'000'000, "offered load per source at its peak, Mb/s")
        .integer("--packet-bytes", o.packet_bytes, 1, 65535, "packet size")
        .text("--arrivals", o.arrivals, {"paced", "poisson"}, "packet spacing")
        .text("--trace", o.trace_file, {}, "replay a CSV trace (time_ns,source,bytes[,packets]) instead")
        .integer("--duration-ms", o.duration_ms, 1, 3'600'000, "simulated time")
        .integer("--warmup-ms", o.warmup_ms, 0, 3'600'000, "simulated time before counting starts")
        .integer("--seed", o.seed, 0, ~std::uint64_t{0}, "random seed")
        .integer("--coalesce-frames", o.coalesce_frames, 1, 65535,
                 "frames_usecs: frames; delayed_rearm: batch to re-arm ahead")
        .integer("--coalesce-usecs", o.coalesce_usecs, 1, 1'000'000, "frames_usecs and delayed_rearm: timeout, us")
        .integer("--min-improvement-pct", o.min_improvement_pct, 0, 99,
                 "hysteresis: a rebalancing step must cut the two workers' load difference by more than this share")
        .text("--json", o.json_file, {}, "write the results as JSON to this file")
        .text("--out", o.out_dir, {}, "directory for CSV data: paper and sweep results, the timeline of single");
    return c;
}

/// Parses argv into options. Returns false for --help.
/// @throws cli_error on any bad argument or inconsistent combination.
inline bool parse(int argc, const char* const* argv, options& o, std::string* help = nullptr)
{
    cli c = make_cli(o);
    if (!c.parse(argc, argv)) {
        if (help)
            *help = c.help();
        return false;
    }
    if (o.warmup_ms >= o.duration_ms)
        throw cli_error("--warmup-ms (" + std::to_string(o.warmup_ms) + ") must be less than --duration-ms (" +
                        std::to_string(o.duration_ms) + ")");
    if (!o.trace_file.empty() && o.experiment != "single")
        throw cli_error("--trace replays one recorded run: it needs --experiment single");
    if (!o.trace_file.empty() && o.sources != 0)
        throw cli_error("--sources does not apply to --trace (the trace names its sources)");
    if (o.shape == "bursts" && o.arrivals == "poisson" && o.experiment != "single")
        throw cli_error("--shape bursts with --arrivals poisson is only offered for --experiment single");
    return true;
}

/// The synthetic sources the options describe: `n` sources shaped by `--shape`, each peaking
/// at `load_mbps`.
inline std::vector<xs::source_spec> make_sources(const options& o, std::uint32_t n, std::uint64_t load_mbps)
{
    const auto peak = xs::rate::mbps(load_mbps);
    const auto size = xs::packet_sizes::fixed(static_cast<std::uint32_t>(o.packet_bytes));
    const auto process = o.arrivals == "poisson" ? xs::arrivals::poisson : xs::arrivals::paced;
    const nanos duration = std::chrono::milliseconds(o.duration_ms);
    if (o.shape == "mice")
        return xs::make_sources(xs::mice_and_elephant{.mice = n == 0 ? 0 : n - 1,
                                                      .mouse_rate = xs::rate::mbps(std::max<std::uint64_t>(1, load_mbps / 50)),
                                                      .elephant_rate = peak,
                                                      .elephant_size = size});
    std::vector<xs::source_spec> out;
    for (std::uint32_t i = 0; i < n; ++i) {
        xs::traffic_shape shape = xs::shapes::constant{peak};
        if (o.shape == "step")
            shape = xs::shapes::step{xs::rate::mbps(load_mbps / 10), peak, duration / 2};
        else if (o.shape == "ramp")
            shape = xs::shapes::ramp{xs::rate::mbps(load_mbps / 20), peak, nanos::zero(), duration, 64};
        else if (o.shape == "square")
            shape = xs::shapes::square_wave{xs::rate::mbps(load_mbps / 20), peak, duration / 8, duration / 16};
        else if (o.shape == "bursts") // bursts of 64 at 10x the peak, averaging the peak
            shape = xs::shapes::bursts{64, nanos(static_cast<std::int64_t>(64 * o.packet_bytes * 8 * 1000 / load_mbps)),
                                       xs::rate::mbps(load_mbps * 10)};
        xs::source_spec spec{"vif" + std::to_string(i), shape, size, process};
        // Paced sources start staggered over one packet time, so they do not all arrive at the
        // same instants (as independent senders would not).
        const std::uint64_t gap_ns = o.packet_bytes * 8 * 1000 / load_mbps;
        spec.start = nanos(static_cast<std::int64_t>(gap_ns * i / n));
        out.push_back(std::move(spec));
    }
    return out;
}

/// The scenario for `cpus` CPUs with synthetic sources at `load_mbps` (or the trace).
/// @throws cli_error when the trace cannot be read or parsed.
inline xs::scenario make_scenario(const options& o, std::uint32_t cpus, std::uint64_t load_mbps)
{
    xs::scenario sc;
    sc.cpus = cpus;
    sc.duration = std::chrono::milliseconds(o.duration_ms);
    sc.warmup = std::chrono::milliseconds(o.warmup_ms);
    sc.seed = o.seed;
    sc.costs = xs::cost_model::paper_calibrated();
    if (!o.trace_file.empty()) {
        auto t = xs::load_trace(o.trace_file);
        if (!t)
            throw cli_error("trace " + o.trace_file + ": " + t.error().message());
        if (t.value().empty())
            throw cli_error("trace " + o.trace_file + ": no records");
        sc.recorded = std::move(t).value();
    } else {
        const auto n = static_cast<std::uint32_t>(o.sources == 0 ? cpus : o.sources);
        sc.sources = make_sources(o, n, load_mbps);
    }
    return sc;
}

/// The hysteresis configuration xnv-sim uses: the library's defaults, with the paper's two
/// levels or one worker at a time, and the options' minimum improvement.
[[nodiscard]] inline xnv::dispatch::hysteresis_config hysteresis_settings(const options& o, bool two_level)
{
    xnv::dispatch::hysteresis_config c;
    c.steps = two_level ? xnv::dispatch::scaling::two_level : xnv::dispatch::scaling::one_at_a_time;
    c.min_improvement = static_cast<double>(o.min_improvement_pct) / 100.0;
    return c;
}

/// Runs `sim` with the named coalescer and the dispatch policy `p`.
template <xnv::dispatch_policy P>
xs::sim_result run_with(xs::simulator& sim, const options& o, P p)
{
    const auto usecs = std::chrono::microseconds(o.coalesce_usecs);
    const auto frames = static_cast<std::uint32_t>(o.coalesce_frames);
    if (o.coalescer == "always")
        return sim.run(std::move(p), xnv::notify::always{});
    if (o.coalescer == "delayed_rearm")
        return sim.run(std::move(p), xnv::notify::delayed_rearm(xnv::notify::fixed_batch{frames}, usecs));
    if (o.coalescer == "frames_usecs")
        return sim.run(std::move(p), xnv::notify::frames_usecs({.frames = frames, .usecs = usecs}));
    if (o.coalescer == "adaptive")
        return sim.run(std::move(p), xnv::notify::adaptive{});
    return sim.run(std::move(p), xnv::notify::event_idx{});
}

/// Runs `sim` with the named dispatch policy and the options' coalescer.
inline xs::sim_result run_policy(xs::simulator& sim, const options& o, const std::string& policy)
{
    if (policy == "all_on_first")
        return run_with(sim, o, xnv::dispatch::all_on_first{});
    if (policy == "least_loaded_at_connect")
        return run_with(sim, o, xnv::dispatch::least_loaded_at_connect{});
    if (policy == "round_robin")
        return run_with(sim, o, xnv::dispatch::round_robin{});
    if (policy == "hysteresis")
        return run_with(sim, o, xnv::dispatch::hysteresis_balanced(hysteresis_settings(o, false)));
    if (policy == "hysteresis_two_level")
        return run_with(sim, o, xnv::dispatch::hysteresis_balanced(hysteresis_settings(o, true)));
    throw cli_error("unknown policy '" + policy + "'");
}

} // namespace xnv::example::sim
