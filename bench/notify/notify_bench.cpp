// SPDX-License-Identifier: MIT
// Notification coalescing policies on a ring between two threads, as offered load goes from a
// trickle to saturation. Each benchmark run is one paced stream of lone requests: the producer
// thread publishes one item at a time at the offered rate (rate 0: as fast as the ring takes
// them; a preempted producer resumes the pace rather than catching up in a burst), stamping
// each with the steady clock; the consumer thread polls NAPI-style, spends a
// fixed time on each item (a stand-in for processing a packet), and sleeps on the channel
// when drained; the latency of an item is the time its processing starts minus its stamp.
//
// Names: notify_<channel>/<policy>/<offered items per second, 0 = saturation>/<work ns>.
// With 500 ns of work per item the consumer saturates near 2 M items/s, the regime of a
// CPU-bound backend; with 0 the producer is the bottleneck and the consumer keeps catching up.
// Counters per run: items_per_second (delivered throughput), notifications_per_million,
// p50_ns and p99_ns (item latency), avg_batch (items per notification), wakeups_per_million,
// spurious. Run with repetitions and look at the medians, e.g.
//
//   xnv-bench-notify --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// --pin=false leaves thread placement to the scheduler (default: pinned, see below).

#include <xnv/notify/adaptive.hpp>
#include <xnv/notify/coalescer.hpp>
#include <xnv/notify/eventfd_channel.hpp>
#include <xnv/notify/inprocess_channel.hpp>
#include <xnv/notify/poller.hpp>
#include <xnv/notify/policy.hpp>
#include <xnv/ring/ring.hpp>

#include <benchmark/benchmark.h>
#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>

using namespace std::chrono_literals;
using namespace xnv::notify;

namespace {

struct item {
    std::uint64_t seq;
    std::int64_t stamp_ns;
};

using front = xnv::front_ring<item, item>;
using back = xnv::back_ring<item, item>;
constexpr std::uint32_t ring_slots = 256; // a netif ring
constexpr std::uint64_t bytes_per_item = 64;

std::int64_t now_ns() noexcept
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Producer on CPU 0, consumer on CPU 1, when the machine lets us (and --pin is not false).
bool pin_threads = true;

// Timed waits end on time: Linux lets a normal thread's timers fire up to 50 us late (timer
// slack), which would add to delayed_rearm's timeout what the policy did not ask for.
void exact_timers() noexcept { ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); }

bool pin_to(unsigned cpu) noexcept
{
    if (!pin_threads || cpu >= std::thread::hardware_concurrency())
        return false;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

struct run_result {
    double seconds = 0;
    std::uint64_t delivered = 0;
    std::int64_t p50_ns = 0;
    std::int64_t p99_ns = 0;
    counters_snapshot counters;
};

std::uint64_t items_for(std::int64_t rate)
{
    if (rate == 0)
        return 200'000;
    // About 0.1 s of traffic, and at least 5000 items: at a trickle a single millisecond-long
    // preemption of the consumer delays several items, which must stay well under 1%.
    return std::clamp<std::uint64_t>(static_cast<std::uint64_t>(rate) / 10, 5000, 200'000);
}

template <class Channel, class Policy>
run_result run_once(Policy policy, std::int64_t rate, std::int64_t work_ns, std::uint32_t defer, std::uint64_t n)
{
    alignas(64) static std::array<std::byte, xnv::ring_bytes_for<item, item>(ring_slots)> mem;
    front f(xnv::ring_init, mem);
    back b(mem);
    Channel ch;
    channel_counters counters;
    std::vector<std::int64_t> latency(n);
    std::atomic<bool> consumer_done{false};
    std::atomic<int> ready{0};

    std::thread producer([&] {
        pin_to(0);
        exact_timers();
        coalescer co(f, ch, policy, counters);
        ready.fetch_add(1);
        while (ready.load() < 2)
            xnv::cpu_relax();
        const std::int64_t interval = rate == 0 ? 0 : 1'000'000'000 / rate;
        auto timers = [&](std::int64_t t) {
            if (co.next_deadline() != no_deadline && t >= co.next_deadline().count())
                (void)co.on_timer();
        };
        // Items at least `interval` apart: a producer that was preempted does not catch up in
        // a burst (that would measure queueing behind the burst, not notification latency).
        std::int64_t due = now_ns();
        for (std::uint64_t seq = 0; seq < n; ++seq) {
            for (std::int64_t t = now_ns(); t < due; t = now_ns()) {
                timers(t);
                xnv::cpu_relax();
            }
            std::int64_t sent = now_ns();
            while (!f.try_produce(item{seq, sent})) {
                (void)f.discard(); // reclaim answered slots
                timers(sent);
                xnv::cpu_relax();
                sent = now_ns();
            }
            (void)co.publish(bytes_per_item);
            timers(now_ns());
            due = std::max(due, sent) + interval;
        }
        while (!consumer_done.load(std::memory_order_acquire)) {
            timers(now_ns());
            xnv::cpu_relax();
        }
    });

    pin_to(1);
    exact_timers();
    napi_poller poller(b, policy, counters, poller_config{.budget = 64, .defer_rearm_polls = defer});
    std::uint64_t got = 0;
    auto handle = [&](std::span<const item> batch) noexcept {
        for (const item& it : batch) {
            const std::int64_t t = now_ns();
            latency[got++] = t - it.stamp_ns;
            while (now_ns() - t < work_ns)
                xnv::cpu_relax();
            (void)b.try_produce(it);
        }
        b.publish();
    };
    ready.fetch_add(1);
    while (ready.load() < 2)
        xnv::cpu_relax();
    const std::int64_t t0 = now_ns();
    poll_result r{.state = poll_state::keep_polling};
    while (got < n) {
        r = wait_and_poll(poller, ch, r, handle, 100ms);
        if (r.state == poll_state::peer_error)
            break;
    }
    const std::int64_t t1 = now_ns();
    consumer_done.store(true, std::memory_order_release);
    producer.join();
    pin_to(0); // let the next run start from the same place

    run_result out;
    out.seconds = static_cast<double>(t1 - t0) * 1e-9;
    out.delivered = got;
    latency.resize(got);
    if (!latency.empty()) {
        const auto at = [&](double q) {
            const auto k = static_cast<std::size_t>(q * static_cast<double>(latency.size() - 1));
            std::nth_element(latency.begin(), latency.begin() + static_cast<std::ptrdiff_t>(k), latency.end());
            return latency[k];
        };
        out.p50_ns = at(0.50);
        out.p99_ns = at(0.99);
    }
    out.counters = counters.snapshot();
    return out;
}

template <class Channel, class MakePolicy>
void offered_load(benchmark::State& state, MakePolicy make, std::uint32_t defer)
{
    const std::int64_t rate = state.range(0);
    const std::int64_t work_ns = state.range(1);
    const std::uint64_t n = items_for(rate);
    run_result r;
    for (auto _ : state) {
        r = run_once<Channel>(make(), rate, work_ns, defer, n);
        state.SetIterationTime(r.seconds);
    }
    if (r.delivered != n) {
        state.SkipWithError("not every item was delivered");
        return;
    }
    const auto& c = r.counters;
    const double per_million = 1e6 / static_cast<double>(r.delivered);
    state.counters["items_per_second"] = static_cast<double>(r.delivered) / r.seconds;
    state.counters["offered_per_second"] = static_cast<double>(rate);
    state.counters["notifications_per_million"] = static_cast<double>(c.sent) * per_million;
    state.counters["wakeups_per_million"] = static_cast<double>(c.wakeups) * per_million;
    state.counters["spurious"] = static_cast<double>(c.spurious);
    state.counters["avg_batch"] = c.average_batch();
    state.counters["p50_ns"] = static_cast<double>(r.p50_ns);
    state.counters["p99_ns"] = static_cast<double>(r.p99_ns);
}

// Policies as benchmarked. The fixed settings are documented in docs/notify.md.
struct policies {
    static always make_always() { return {}; }
    static event_idx make_event_idx() { return {}; }
    static delayed_rearm make_delayed_rearm() { return delayed_rearm(fixed_batch{32}, 50us); }
    static frames_usecs make_frames_usecs() { return frames_usecs({.frames = 32, .usecs = 20us}); }
    static adaptive make_adaptive() { return adaptive{}; }
};

constexpr std::array<std::int64_t, 6> rates{10'000, 50'000, 200'000, 500'000, 1'000'000, 0};
constexpr std::int64_t consumer_work_ns = 500;

template <class Channel, class MakePolicy>
void register_one(const std::string& workload, std::string_view policy, MakePolicy make, std::uint32_t defer = 0)
{
    auto* b = benchmark::RegisterBenchmark((workload + "/" + std::string(policy)).c_str(),
                                           [make, defer](benchmark::State& s) { offered_load<Channel>(s, make, defer); });
    for (std::int64_t r : rates)
        b->Args({r, consumer_work_ns});
    b->Args({0, 0}); // producer-bound saturation
    b->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
}

template <class Channel>
void register_all(const std::string& workload)
{
    register_one<Channel>(workload, always::name, &policies::make_always);
    register_one<Channel>(workload, event_idx::name, &policies::make_event_idx);
    register_one<Channel>(workload, delayed_rearm::name, &policies::make_delayed_rearm);
    register_one<Channel>(workload, frames_usecs::name, &policies::make_frames_usecs);
    register_one<Channel>(workload, adaptive::name, &policies::make_adaptive);
    // event_idx with the consumer deferring its re-arm for 64 empty polls (napi_defer_hard_irqs).
    register_one<Channel>(workload, "event_idx+defer64", &policies::make_event_idx, 64);
}

} // namespace

int main(int argc, char** argv)
{
    // Our own flag, taken out before Google Benchmark sees the command line.
    int kept = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a(argv[i]);
        if (a == "--pin=false" || a == "--pin=true")
            pin_threads = a == "--pin=true";
        else
            argv[kept++] = argv[i];
    }
    argc = kept;
    register_all<inprocess_channel>("notify_futex");
    register_all<eventfd_channel>("notify_eventfd");
    benchmark::AddCustomContext("thread_placement", pin_threads && std::thread::hardware_concurrency() >= 2
                                                        ? "producer pinned to cpu 0, consumer to cpu 1"
                                                        : "unpinned");
    benchmark::AddCustomContext("ring", fmt::format("xen_abi layout, {} slots, one item per publication",
                                                    ring_slots));
    benchmark::AddCustomContext("policies", "delayed_rearm fixed_batch 32 / 50us; frames_usecs 32 frames / 20us; "
                                            "adaptive default profiles; +defer64: poller defer_rearm_polls 64; "
                                            "poller budget 64");
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
