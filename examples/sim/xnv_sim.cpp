// SPDX-License-Identifier: MIT
// xnv-sim: runs the policy simulator from the command line. `--experiment paper` reproduces the
// paper's comparison (all_on_first with one tasklet pair against the hysteresis dispatcher with
// one per CPU); `--experiment sweep` varies the offered load; `--experiment single` runs one
// scenario, synthetic or from a CSV trace. See docs/sim.md and docs/results/sim.md.

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "json.hpp"
#include "sim_cli.hpp"

namespace {

using namespace xnv::example::sim;
using xnv::example::cli_error;
using xnv::example::json_writer;

double gbps(double bps) { return bps / 1e9; }
double us(xnv::nanos t) { return static_cast<double>(t.count()) / 1e3; }
double per_second(std::uint64_t n, const xs::sim_result& r)
{
    return static_cast<double>(n) * 1e9 / static_cast<double>(r.window().count());
}
std::uint64_t dropped(const xs::sim_result& r)
{
    std::uint64_t d = 0;
    for (const auto& s : r.sources)
        d += s.dropped_bytes;
    return d;
}
double total_utilisation(const xs::sim_result& r)
{
    double u = 0;
    for (std::size_t c = 0; c < r.cpus.size(); ++c)
        u += r.utilisation(c);
    return u;
}
std::uint64_t cpu_sum(const xs::sim_result& r, std::uint64_t xs::cpu_result::*field)
{
    std::uint64_t n = 0;
    for (const auto& c : r.cpus)
        n += c.*field;
    return n;
}

void print_summary(const options& o, const xs::simulator& sim, const std::string& policy, const xs::sim_result& r)
{
    fmt::print("xnv-sim: {} CPUs, {} sources, policy {}, coalescer {}, {} ms simulated (counted from {} ms), seed {}\n",
               sim.config().cpus, sim.sources(), policy, o.coalescer, o.duration_ms, o.warmup_ms, o.seed);
    const double offered = static_cast<double>(r.offered_bytes());
    fmt::print("offered {:.3f} Gb/s, delivered {:.3f} Gb/s, dropped {:.2f}%\n", gbps(r.offered_bps()),
               gbps(r.throughput_bps()), offered > 0 ? 100.0 * static_cast<double>(dropped(r)) / offered : 0.0);
    fmt::print("latency p50 {:.1f} us, p99 {:.1f} us, max {:.1f} us over {} items\n", us(r.latency.p50),
               us(r.latency.p99), us(r.latency.max), r.latency.samples);
    fmt::print("notifications sent {}, suppressed {}; moves {}; dispatcher decisions {}\n", r.notifications_sent(),
               r.notifications_suppressed(), r.moves(), r.decisions.size());
    fmt::print("{:>4} {:>7} {:>12} {:>12} {:>12} {:>10}\n", "cpu", "util%", "packets/s", "notif/s", "runs/s",
               "wakeups/s");
    for (std::size_t c = 0; c < r.cpus.size(); ++c) {
        const auto& x = r.cpus[c];
        fmt::print("{:>4} {:>7.1f} {:>12.0f} {:>12.0f} {:>12.0f} {:>10.0f}\n", c, 100.0 * r.utilisation(c),
                   per_second(x.packets, r), per_second(x.notifications, r), per_second(x.runs, r),
                   per_second(x.wakeups, r));
    }
}

std::string to_json(const options& o, const xs::simulator& sim, const std::string& policy, const xs::sim_result& r)
{
    json_writer j;
    j.begin_object()
        .field("cpus", sim.config().cpus)
        .field("sources", sim.sources())
        .field("policy", policy)
        .field("coalescer", o.coalescer)
        .field("duration_ns", r.duration.count())
        .field("warmup_ns", r.warmup.count())
        .field("seed", o.seed)
        .field("offered_bps", r.offered_bps())
        .field("delivered_bps", r.throughput_bps())
        .field("latency_p50_ns", r.latency.p50.count())
        .field("latency_p99_ns", r.latency.p99.count())
        .field("latency_max_ns", r.latency.max.count())
        .field("moves", r.moves())
        .field("decisions", r.decisions.size())
        .field("events", r.events);
    j.key("cpu").begin_array();
    for (std::size_t c = 0; c < r.cpus.size(); ++c) {
        const auto& x = r.cpus[c];
        j.begin_object()
            .field("utilisation", r.utilisation(c))
            .field("busy_ns", x.busy.count())
            .field("notification_busy_ns", x.notification_busy.count())
            .field("runs", x.runs)
            .field("packets", x.packets)
            .field("notifications", x.notifications)
            .field("timer_polls", x.timer_polls)
            .field("wakeups", x.wakeups)
            .field("source_switches", x.source_switches)
            .field("migrations", x.migrations)
            .end_object();
    }
    j.end_array().key("source").begin_array();
    for (const auto& s : r.sources) {
        j.begin_object()
            .field("name", s.name)
            .field("offered_bytes", s.offered_bytes)
            .field("delivered_bytes", s.delivered_bytes)
            .field("dropped_bytes", s.dropped_bytes)
            .field("latency_p50_ns", s.latency.p50.count())
            .field("latency_p99_ns", s.latency.p99.count())
            .field("latency_max_ns", s.latency.max.count())
            .field("notifications_sent", s.notifications_sent)
            .field("notifications_suppressed", s.notifications_suppressed)
            .field("moves", s.moves)
            .field("final_cpu", s.final_cpu)
            .end_object();
    }
    j.end_array().end_object();
    return j.str() + "\n";
}

void write_file(const std::filesystem::path& path, const std::string& text)
{
    std::ofstream out(path, std::ios::binary);
    out << text;
    out.close();
    if (!out)
        throw std::runtime_error("cannot write " + path.string());
}

std::filesystem::path out_path(const options& o, const char* name)
{
    const std::filesystem::path dir = o.out_dir.empty() ? std::filesystem::path(".") : std::filesystem::path(o.out_dir);
    std::filesystem::create_directories(dir);
    return dir / name;
}

int single(const options& o)
{
    xs::simulator sim(make_scenario(o, static_cast<std::uint32_t>(o.cpus), o.load_mbps));
    const auto r = run_policy(sim, o, o.policy);
    print_summary(o, sim, o.policy, r);
    if (!o.json_file.empty())
        write_file(o.json_file, to_json(o, sim, o.policy, r));
    if (!o.out_dir.empty()) {
        // The run over time, one line per dispatcher sample (none for policies that never sample).
        std::string csv = "time_ms,offered_gbps,handled_gbps,busy_cpus,active_workers\n";
        xnv::nanos prev{0};
        for (const auto& t : r.timeline) {
            const double secs = static_cast<double>((t.at - prev).count()) / 1e9;
            csv += fmt::format("{:.3f},{:.6f},{:.6f},{:.6f},{}\n", static_cast<double>(t.at.count()) / 1e6,
                               static_cast<double>(t.offered_bytes) * 8 / secs / 1e9,
                               static_cast<double>(t.handled_bytes) * 8 / secs / 1e9,
                               static_cast<double>(t.busy.count()) / 1e9 / secs, t.active_workers);
            prev = t.at;
        }
        write_file(out_path(o, "sim-timeline.csv"), csv);
    }
    return 0;
}

// The paper's experiment at each CPU count: one source (vif) per CPU at --load-mbps, all on
// the first CPU with one tasklet pair, against the hysteresis dispatcher with one pair per CPU.
int paper(const options& o)
{
    const std::vector<std::string> policies{"all_on_first", "hysteresis_two_level", "hysteresis"};
    std::string summary = "cpus,policy,offered_gbps,delivered_gbps,ratio_to_all_on_first,cpu_util_sum,"
                          "latency_p50_us,latency_p99_us,moves_whole_run\n";
    std::string util = "cpus,policy,cpu,utilisation\n";
    fmt::print("{:>4} {:<22} {:>8} {:>9} {:>6} {:>9} {:>9}  per-CPU utilisation %\n", "cpus", "policy", "offered",
               "delivered", "ratio", "p50 us", "p99 us");
    for (const std::uint32_t cpus : o.cpu_list) {
        xs::simulator sim(make_scenario(o, cpus, o.load_mbps));
        double base = 0;
        for (const auto& p : policies) {
            const auto r = run_policy(sim, o, p);
            if (p == "all_on_first")
                base = r.throughput_bps();
            const double ratio = base > 0 ? r.throughput_bps() / base : 0.0;
            std::string per_cpu;
            for (std::size_t c = 0; c < r.cpus.size(); ++c) {
                per_cpu += fmt::format("{:.0f} ", 100.0 * r.utilisation(c));
                util += fmt::format("{},{},{},{:.6f}\n", cpus, p, c, r.utilisation(c));
            }
            fmt::print("{:>4} {:<22} {:>8.3f} {:>9.3f} {:>6.2f} {:>9.1f} {:>9.1f}  {}\n", cpus, p,
                       gbps(r.offered_bps()), gbps(r.throughput_bps()), ratio, us(r.latency.p50), us(r.latency.p99),
                       per_cpu);
            summary += fmt::format("{},{},{:.6f},{:.6f},{:.6f},{:.6f},{:.3f},{:.3f},{}\n", cpus, p,
                                   gbps(r.offered_bps()), gbps(r.throughput_bps()), ratio, total_utilisation(r),
                                   us(r.latency.p50), us(r.latency.p99), r.moves_log.size());
        }
    }
    if (!o.out_dir.empty()) {
        write_file(out_path(o, "sim-paper.csv"), summary);
        write_file(out_path(o, "sim-paper-util.csv"), util);
    }
    return 0;
}

// Offered load from 5% to 100% of --load-mbps per source, for each dispatch policy.
int sweep(const options& o)
{
    const std::vector<std::string> policies{"all_on_first", "round_robin", "hysteresis_two_level", "hysteresis"};
    std::string csv = "cpus,policy,load_percent,offered_gbps,delivered_gbps,cpu_util_sum,cpus_used,wakeups_per_s,"
                      "notifications_per_s,latency_p50_us,latency_p99_us\n";
    for (const std::uint32_t cpus : o.cpu_list) {
        for (std::uint64_t pct = 5; pct <= 100; pct += 5) {
            const std::uint64_t load = std::max<std::uint64_t>(1, o.load_mbps * pct / 100);
            xs::simulator sim(make_scenario(o, cpus, load));
            for (const auto& p : policies) {
                const auto r = run_policy(sim, o, p);
                std::uint32_t used = 0;
                for (std::size_t c = 0; c < r.cpus.size(); ++c)
                    used += r.utilisation(c) > 0.01 ? 1 : 0;
                csv += fmt::format("{},{},{},{:.6f},{:.6f},{:.6f},{},{:.1f},{:.1f},{:.3f},{:.3f}\n", cpus, p, pct,
                                   gbps(r.offered_bps()), gbps(r.throughput_bps()), total_utilisation(r), used,
                                   per_second(cpu_sum(r, &xs::cpu_result::wakeups), r),
                                   per_second(cpu_sum(r, &xs::cpu_result::notifications), r), us(r.latency.p50),
                                   us(r.latency.p99));
            }
            fmt::print("sweep: {} CPUs, {}% done\n", cpus, pct);
            std::fflush(stdout);
        }
    }
    if (!o.out_dir.empty())
        write_file(out_path(o, "sim-sweep.csv"), csv);
    else
        fmt::print("{}", csv);
    return 0;
}

// Each coalescer at 10%, 50% and 100% of --load-mbps per source, under --policy.
int coalescers(const options& o)
{
    std::string csv = "cpus,coalescer,load_percent,offered_gbps,delivered_gbps,cpu_util_sum,notifications_per_packet,"
                      "timer_polls_per_s,latency_p50_us,latency_p99_us\n";
    fmt::print("{:>4} {:<14} {:>5} {:>9} {:>9} {:>8} {:>12} {:>9} {:>9}\n", "cpus", "coalescer", "load%", "offered",
               "delivered", "CPUs", "notif/packet", "p50 us", "p99 us");
    for (const std::uint32_t cpus : o.cpu_list) {
        for (const std::uint64_t pct : {10, 50, 100}) {
            const std::uint64_t load = std::max<std::uint64_t>(1, o.load_mbps * pct / 100);
            xs::simulator sim(make_scenario(o, cpus, load));
            for (const auto& c : coalescer_names) {
                options oc = o;
                oc.coalescer = c;
                const auto r = run_policy(sim, oc, o.policy);
                const std::uint64_t packets = cpu_sum(r, &xs::cpu_result::packets);
                const double per_packet = packets > 0 ? static_cast<double>(r.notifications_sent()) /
                                                            static_cast<double>(packets)
                                                      : 0.0;
                fmt::print("{:>4} {:<14} {:>5} {:>9.3f} {:>9.3f} {:>8.2f} {:>12.3f} {:>9.1f} {:>9.1f}\n", cpus, c, pct,
                           gbps(r.offered_bps()), gbps(r.throughput_bps()), total_utilisation(r), per_packet,
                           us(r.latency.p50), us(r.latency.p99));
                csv += fmt::format("{},{},{},{:.6f},{:.6f},{:.6f},{:.6f},{:.1f},{:.3f},{:.3f}\n", cpus, c, pct,
                                   gbps(r.offered_bps()), gbps(r.throughput_bps()), total_utilisation(r), per_packet,
                                   per_second(cpu_sum(r, &xs::cpu_result::timer_polls), r), us(r.latency.p50),
                                   us(r.latency.p99));
            }
        }
    }
    if (!o.out_dir.empty())
        write_file(out_path(o, "sim-coalescers.csv"), csv);
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    options o;
    try {
        std::string help;
        if (!parse(argc, argv, o, &help)) {
            fmt::print("{}", help);
            return 0;
        }
        if (o.experiment == "paper")
            return paper(o);
        if (o.experiment == "sweep")
            return sweep(o);
        if (o.experiment == "coalescers")
            return coalescers(o);
        return single(o);
    } catch (const cli_error& e) {
        fmt::print(stderr, "xnv-sim: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "xnv-sim: {}\n", e.what());
        return 1;
    }
}
