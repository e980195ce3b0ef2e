// SPDX-License-Identifier: MIT
// The netback benchmark: each repetition starts xnv-netback and two xnv-netfronts that send
// generated frames to each other as fast as the rings allow for a fixed time, and reads their
// JSON summaries. Reported per run (Google Benchmark counters; the repetitions' median is what
// docs/results/netback.md quotes):
//   Mpps, Gbps     aggregate frames and bits per second delivered to both netfronts
//   ntf_per_pkt    notifications netback sent per frame it handled (TX and RX)
//   kick_per_pkt   notifications netback received per frame it handled
//   busy_w0/_w1    per-worker busy share of the traffic time (the paper's per-VCPU table)
// The time reported is the traffic time itself (manual time). Names are
// <frame size>/<workers>_<dispatch>[_<notification policy>]. bench/netback/run.sh runs it.

#include "process_util.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace xnv::test;

namespace {

struct variant {
    const char* name;
    int workers;
    const char* dispatch;
    const char* coalesce;
};

const variant variants[] = {
    {"w1_all_on_first_always", 1, "all_on_first", "always"}, // one tasklet pair, notify every frame
    {"w1_all_on_first", 1, "all_on_first", "event_idx"},
    {"w2_all_on_first", 2, "all_on_first", "event_idx"},
    {"w2_hysteresis", 2, "hysteresis", "event_idx"},
    {"w2_hysteresis_adaptive", 2, "hysteresis", "adaptive"},
};

int run_seconds()
{
    if (const char* s = std::getenv("XNV_BENCH_NETBACK_SECONDS"))
        return std::max(1, std::atoi(s));
    return 2;
}

std::string bin_dir()
{
    if (const char* s = std::getenv("XNV_BENCH_NETBACK_BIN"))
        return s;
    return XNV_BENCH_NETBACK_BIN_DIR;
}

bool wait_listening(child& c, std::chrono::seconds limit)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (c.err().find("listening on") == std::string::npos) {
        if (std::chrono::steady_clock::now() > deadline || c.exited())
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

void bench_netback(benchmark::State& state, int size, variant v)
{
    const int seconds = run_seconds();
    for (auto _ : state) {
        temp_dir dir;
        const std::string sock = unique_socket();
        const std::string nbj = dir.file("nb.json"), aj = dir.file("a.json"), bj = dir.file("b.json");
        child nb({bin_dir() + "/xnv-netback", "--socket", sock, "--quiet", "--exit-when-idle", "--workers",
                  std::to_string(v.workers), "--dispatch", v.dispatch, "--coalesce", v.coalesce, "--json", nbj},
                 dir.file("nb.out"), dir.file("nb.err"));
        if (!wait_listening(nb, std::chrono::seconds(10))) {
            state.SkipWithError(("xnv-netback did not start: " + nb.err()).c_str());
            return;
        }
        auto front = [&](const char* mac, const char* peer, const std::string& json, const char* tag) {
            return std::make_unique<child>(
                std::vector<std::string>{bin_dir() + "/xnv-netfront", "--socket", sock, "--quiet", "--mac", mac,
                                         "--peer-mac", peer, "--queues", "2", "--size", std::to_string(size),
                                         "--seconds", std::to_string(seconds), "--coalesce", v.coalesce,
                                         "--linger-ms", "300", "--json", json},
                dir.file(std::string(tag) + ".out"), dir.file(std::string(tag) + ".err"));
        };
        auto a = front("02:00:00:00:00:01", "02:00:00:00:00:02", aj, "a");
        auto b = front("02:00:00:00:00:02", "02:00:00:00:00:01", bj, "b");
        const auto limit = std::chrono::seconds(seconds + 60);
        if (a->wait(limit) != 0 || b->wait(limit) != 0 || nb.wait(limit) != 0) {
            state.SkipWithError(("a run failed: " + a->err() + b->err() + nb.err()).c_str());
            return;
        }
        const json ja = read_json(aj), jb = read_json(bj), jn = read_json(nbj);
        if (!ja["clean"].b() || !jb["clean"].b()) {
            state.SkipWithError("the sinks found loss or corruption");
            return;
        }
        const double t = std::max(ja["rx_s"].num(), jb["rx_s"].num());
        const double pps = ja["rx_frames"].num() / ja["rx_s"].num() + jb["rx_frames"].num() / jb["rx_s"].num();
        const double bps = 8 * (ja["rx_bytes"].num() / ja["rx_s"].num() + jb["rx_bytes"].num() / jb["rx_s"].num());
        const json& tot = jn["totals"];
        const double handled = tot["tx_packets"].num() + tot["rx_packets"].num();
        state.SetIterationTime(t);
        state.counters["Mpps"] = pps / 1e6;
        state.counters["Gbps"] = bps / 1e9;
        state.counters["ntf_per_pkt"] = handled > 0 ? tot["notifications_sent"].num() / handled : 0.0;
        state.counters["kick_per_pkt"] = handled > 0 ? tot["kicks"].num() / handled : 0.0;
        const double traffic = jn["traffic_s"].num();
        for (std::size_t w = 0; w < jn["workers"].size(); ++w) {
            // busy_pct is over netback's uptime; rescale to the time traffic flowed.
            const double busy = jn["workers"][w]["busy_pct"].num() * jn["uptime_s"].num() / std::max(traffic, 1e-9);
            state.counters["busy_w" + std::to_string(w)] = busy;
        }
    }
}

} // namespace

int main(int argc, char** argv)
{
    for (int size : {64, 1500, 65535})
        for (const variant& v : variants)
            benchmark::RegisterBenchmark(("size" + std::to_string(size) + "/" + v.name).c_str(), bench_netback, size, v)
                ->Iterations(1)
                ->UseManualTime()
                ->Unit(benchmark::kMillisecond);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
