// SPDX-License-Identifier: MIT
// xnv's shared ring against the usual single-producer/single-consumer queues and against a
// front end and back end written with Xen's own io/ring.h macros. One binary, one run, the
// same two pinned CPUs for everything; benchmark names are <workload>/<implementation>:
//
//   stream1   one-way, 8-byte items, one item per operation            items_per_second
//   stream32  one-way, 8-byte items, batches of 32 per operation       items_per_second
//   rr        request/response over netif TX types, window = ring size items_per_second (round trips)
//   pingpong  one request in flight                                    time per round trip
//
// The benchmark's thread is the producer (front end) on CPU 0; each benchmark starts the
// consumer (back end) pinned to CPU 1 and hands it a stop message at the end. Every item is
// checked on arrival (sequence numbers or response ids): a lost or reordered item fails the
// benchmark instead of producing a figure. See docs/benchmarks.md for the method.

#include "harness.hpp"
#include "pingpong_peers.hpp"
#include "rr_peers.hpp"
#include "stream_peers.hpp"

#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace xnv_bench {
namespace {

/// Start/stop hand-shake and the consumer's verdict, each field written by one side only.
struct control {
    alignas(cache_line) std::atomic<bool> back_ready{false};
    std::atomic<int> back_cpu{-1};
    std::atomic<bool> back_pinned{false};
    /// How undisturbed the back end was between starting to poll and stopping; written before
    /// the thread ends, read after the join.
    occupancy_meter::reading back_occupancy{};
    /// Written once by the front end after its timed loop: how much it sent in all.
    alignas(cache_line) std::atomic<std::uint64_t> total{~std::uint64_t{0}};
    /// Written once by the back end before it exits.
    alignas(cache_line) std::atomic<std::uint64_t> received{0};
    std::atomic<bool> bad{false};
    /// The front end's measurement of the two CPUs' cache-line round trip (see probe_round_trip).
    double probe_rtt_ns = 0;
    /// The probe's two lines, 128 bytes apart as in raw_pingpong.
    alignas(2 * cache_line) std::atomic<std::uint32_t> probe_ping{0};
    alignas(2 * cache_line) std::atomic<std::uint32_t> probe_pong{0};
    char probe_pad[2 * cache_line - sizeof(std::atomic<std::uint32_t>)]{};
};

/// Exchanges of the untimed probe that starts every benchmark.
inline constexpr std::uint32_t probe_exchanges = 1000;

/// The back end's half of the probe: answer every ping on the other line.
void answer_probe(control& ctl) noexcept
{
    for (std::uint32_t i = 1; i <= probe_exchanges + 1; ++i) {
        while (ctl.probe_ping.load(std::memory_order_acquire) != i) {
        }
        ctl.probe_pong.store(i, std::memory_order_release);
    }
}

/// The front end's half: the mean round trip of a cache line between the two CPUs, in ns.
/// The machine is a virtual one whose two CPUs the host places on physical cores of its
/// choosing, near (sharing a cache) or far apart, and it moves them now and then; every
/// repetition records this probe, taken just before it, so results can be told apart by the
/// placement they ran on. The first exchange waits (yielding) for the back end's thread to
/// start and is not timed.
double probe_round_trip(control& ctl) noexcept
{
    ctl.probe_ping.store(1, std::memory_order_release);
    while (ctl.probe_pong.load(std::memory_order_acquire) != 1)
        std::this_thread::yield();
    const auto start = std::chrono::steady_clock::now();
    for (std::uint32_t i = 2; i <= probe_exchanges + 1; ++i) {
        ctl.probe_ping.store(i, std::memory_order_release);
        while (ctl.probe_pong.load(std::memory_order_acquire) != i) {
        }
    }
    const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
    return took.count() / probe_exchanges;
}

/// Runs `body` on a thread pinned to the back end's CPU; joined on destruction.
class back_thread {
public:
    template <class F>
    back_thread(control& ctl, F body)
        : t_([&ctl, body]() mutable {
              ctl.back_pinned.store(pin_self(back_cpu), std::memory_order_relaxed);
              ctl.back_cpu.store(sched_getcpu(), std::memory_order_relaxed);
              answer_probe(ctl);
              const occupancy_meter meter;
              body();
              ctl.back_occupancy = meter.read();
          })
    {
    }
    back_thread(const back_thread&) = delete;
    back_thread& operator=(const back_thread&) = delete;
    ~back_thread() { t_.join(); }

private:
    std::thread t_;
};

/// Takes the placement probe, then waits (untimed) until the back end has built its endpoint
/// and is polling. The back end's thread starts on the front end's CPU (it inherits the
/// affinity) until it pins itself, so this yields rather than spins: under a real-time policy a
/// spinning front end would never let it run.
void await_ready(control& ctl) noexcept
{
    ctl.probe_rtt_ns = probe_round_trip(ctl);
    while (!ctl.back_ready.load(std::memory_order_acquire))
        std::this_thread::yield();
}

/// Common end of every benchmark: placement, validation verdicts.
void finish(benchmark::State& state, const control& ctl, int front, occupancy_meter::reading front_occupancy,
            bool front_failed, bool back_failed, std::uint64_t sent)
{
    record_placement_counters(state, front, ctl.back_cpu.load(), front_occupancy, ctl.back_occupancy);
    state.counters["probe_rtt_ns"] = benchmark::Counter(ctl.probe_rtt_ns);
    if (!ctl.back_pinned.load())
        state.SkipWithError("could not pin the back end's thread to its CPU");
    else if (front_failed || back_failed)
        state.SkipWithError("an endpoint reported a protocol error");
    else if (ctl.bad.load() || ctl.received.load() != sent)
        state.SkipWithError("items were lost, duplicated or reordered");
}

// ------------------------------------------------------------------------ stream

template <stream_queue Q, std::uint32_t Batch>
void bm_stream(benchmark::State& state)
{
    if (!pin_self(front_cpu)) {
        state.SkipWithError("could not pin the front end's thread to its CPU");
        return;
    }
    typename Q::shared q;
    control ctl;
    bool back_failed = false;
    std::uint64_t sent = 0;
    bool front_failed = false;
    occupancy_meter::reading front_occupancy{};
    {
        back_thread consumer(ctl, [&] {
            typename Q::consumer c(q);
            ctl.back_ready.store(true, std::memory_order_release);
            std::array<item, Batch> buf{};
            std::uint64_t expect = 0;
            bool bad = false;
            for (;;) {
                std::uint32_t n;
                if constexpr (Batch == 1)
                    n = c.try_pop(buf[0]) ? 1u : 0u;
                else
                    n = c.try_pop_n(buf.data(), Batch);
                if (n == 0) {
                    if (ctl.total.load(std::memory_order_acquire) == expect || c.failed())
                        break;
                    spin_hint();
                    continue;
                }
                for (std::uint32_t i = 0; i < n; ++i)
                    bad |= buf[i] != expect + i;
                expect += n;
            }
            back_failed = c.failed();
            ctl.bad.store(bad, std::memory_order_relaxed);
            ctl.received.store(expect, std::memory_order_release);
        });
        typename Q::producer p(q);
        await_ready(ctl);
        const occupancy_meter meter;

        std::uint64_t seq = 0;
        for (auto _ : state) {
            if constexpr (Batch == 1) {
                while (!p.try_push(seq))
                    spin_hint();
                ++seq;
            } else {
                std::array<item, Batch> buf;
                for (std::uint32_t i = 0; i < Batch; ++i)
                    buf[i] = seq + i;
                std::uint32_t done = 0;
                while (done < Batch) {
                    const std::uint32_t k = p.try_push_n(buf.data() + done, Batch - done);
                    if (k == 0)
                        spin_hint();
                    done += k;
                }
                seq += Batch;
            }
        }
        front_occupancy = meter.read();
        sent = seq;
        front_failed = p.failed();
        ctl.total.store(sent, std::memory_order_release);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(sent));
    state.counters["capacity"] = benchmark::Counter(stream_capacity);
    state.counters["batch"] = benchmark::Counter(Batch);
    finish(state, ctl, sched_getcpu(), front_occupancy, front_failed, back_failed, sent);
}

// ------------------------------------------------------------------------ rr

template <rr_pair P>
void bm_rr(benchmark::State& state)
{
    if (!pin_self(front_cpu)) {
        state.SkipWithError("could not pin the front end's thread to its CPU");
        return;
    }
    typename P::shared s;
    control ctl;
    bool back_failed = false;
    bool front_failed = false;
    occupancy_meter::reading front_occupancy{};
    bool bad = false;
    std::uint64_t completed = 0;
    {
        back_thread server(ctl, [&] {
            typename P::back b(s);
            ctl.back_ready.store(true, std::memory_order_release);
            std::uint64_t served = 0;
            for (;;) {
                const std::uint32_t n = b.serve(rr_budget);
                if (n == 0) {
                    if (ctl.total.load(std::memory_order_acquire) == served || b.failed())
                        break;
                    spin_hint();
                    continue;
                }
                served += n;
            }
            back_failed = b.failed();
            ctl.received.store(served, std::memory_order_release);
        });
        typename P::front f(s);
        await_ready(ctl);
        const occupancy_meter meter;

        std::uint16_t next_id = 0;
        std::uint16_t expect_id = 0;
        std::uint64_t sent = 0;
        // Each pass of the timed loop completes exactly rr_budget round trips while keeping
        // the window as full as the ring allows.
        while (state.KeepRunningBatch(rr_budget)) {
            const std::uint64_t target = completed + rr_budget;
            while (completed < target) {
                sent += f.send(rr_budget, next_id);
                const std::uint32_t got = f.receive(static_cast<std::uint32_t>(target - completed), expect_id, bad);
                if (got == 0) {
                    if (f.failed())
                        break;
                    spin_hint();
                }
                completed += got;
            }
            if (f.failed())
                break;
        }
        front_occupancy = meter.read();
        // Untimed: collect what is still outstanding, then tell the back end it has all.
        while (completed < sent && !f.failed())
            completed += f.receive(rr_budget, expect_id, bad);
        front_failed = f.failed();
        ctl.total.store(sent, std::memory_order_release);
    }
    ctl.bad.store(bad);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.counters["window"] = benchmark::Counter(rr_window);
    state.counters["budget"] = benchmark::Counter(rr_budget);
    finish(state, ctl, sched_getcpu(), front_occupancy, front_failed, back_failed, completed);
}

// ------------------------------------------------------------------------ pingpong

template <pingpong_pair P>
void bm_pingpong(benchmark::State& state)
{
    if (!pin_self(front_cpu)) {
        state.SkipWithError("could not pin the front end's thread to its CPU");
        return;
    }
    typename P::shared s;
    control ctl;
    bool back_failed = false;
    bool front_failed = false;
    occupancy_meter::reading front_occupancy{};
    std::uint64_t seq = 0;
    {
        back_thread echo(ctl, [&] {
            typename P::back b(s);
            ctl.back_ready.store(true, std::memory_order_release);
            std::uint64_t served = 0;
            bool bad = false;
            for (;;) {
                std::uint64_t v = 0;
                if (!b.try_receive(v)) {
                    if (b.failed())
                        break;
                    continue; // the round trip is the measurement: no pause between polls
                }
                if (v == pingpong_stop)
                    break;
                bad |= v != served;
                b.send(v);
                ++served;
            }
            back_failed = b.failed();
            ctl.bad.store(bad, std::memory_order_relaxed);
            ctl.received.store(served, std::memory_order_release);
        });
        typename P::front f(s);
        await_ready(ctl);
        const occupancy_meter meter;

        bool bad = false;
        for (auto _ : state) {
            f.send(seq);
            std::uint64_t v = 0;
            while (!f.try_receive(v)) {
                if (f.failed()) {
                    state.SkipWithError("the front end's ring reported a protocol error");
                    break;
                }
            }
            bad |= v != seq;
            ++seq;
        }
        front_occupancy = meter.read();
        f.send(pingpong_stop);
        front_failed = f.failed() || bad;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(seq));
    finish(state, ctl, sched_getcpu(), front_occupancy, front_failed, back_failed, seq);
}

// ------------------------------------------------------------------------ registration

template <class Q>
void add_stream()
{
    const std::string impl(Q::name);
    benchmark::RegisterBenchmark(("stream1/" + impl).c_str(), bm_stream<Q, 1>)->UseRealTime();
    benchmark::RegisterBenchmark(("stream32/" + impl).c_str(), bm_stream<Q, 32>)->UseRealTime();
}

template <class P>
void add_rr()
{
    benchmark::RegisterBenchmark(("rr/" + std::string(P::name)).c_str(), bm_rr<P>)->UseRealTime();
}

template <class P>
void add_pingpong()
{
    benchmark::RegisterBenchmark(("pingpong/" + std::string(P::name)).c_str(), bm_pingpong<P>)
        ->UseRealTime()
        ->Unit(benchmark::kNanosecond);
}

void register_all()
{
    add_stream<xnv_stream<xnv::layout::padded>>();
    add_stream<xnv_stream<xnv::layout::xen_abi>>();
    add_stream<boost_spsc_stream>();
#if XNV_BENCH_HAVE_DPDK
    add_stream<rte_ring_stream>();
#endif
#if XNV_BENCH_HAVE_RWQ
    add_stream<rwq_stream>();
#endif

    add_rr<xnv_rr<xnv::layout::padded>>();
    add_rr<xnv_rr<xnv::layout::xen_abi>>();
#if XNV_BENCH_HAVE_XEN
    add_rr<xen_macros_rr>();
#endif
    add_rr<boost_spsc_rr>();

    add_pingpong<xnv_pingpong<xnv::layout::padded>>();
    add_pingpong<xnv_pingpong<xnv::layout::xen_abi>>();
    add_pingpong<raw_pingpong>();
}

} // namespace
} // namespace xnv_bench

int main(int argc, char** argv)
{
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    xnv_bench::record_placement_context();
    benchmark::AddCustomContext("ring_peers",
                                std::string("boost_spsc")
#if XNV_BENCH_HAVE_DPDK
                                    + ",rte_ring"
#endif
#if XNV_BENCH_HAVE_RWQ
                                    + ",moodycamel_rwq"
#endif
#if XNV_BENCH_HAVE_XEN
                                    + ",xen_macros"
#endif
    );
    xnv_bench::register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
