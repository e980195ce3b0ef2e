// SPDX-License-Identifier: MIT
// Scheduler benchmarks.
//
// handoff_*: the cross-thread hand-off that scheduling a tasklet onto another worker costs,
// with xnv's intrusive multi-producer stack against Boost.Lockfree's queue and a mutex-guarded
// deque. Each node is handed to the consumer and may be handed again only once the consumer
// has released it, exactly as a tasklet is queued again only after it ran.
//
// backend/*: a synthetic netback. R rings (Xen-ABI layout, netif TX requests and responses);
// per ring a producer thread (the guest's netfront) posts requests naming 1500 bytes in its
// "granted" pages and sleeps on a futex until half the ring has been answered; per ring a
// tasklet (netback's TX tasklet) copies each packet out of the granted pages, checksums it,
// and answers. Compared side by side: one worker; two workers with every ring on worker 0
// (all_on_first, Xen's original placement); two workers under hysteresis_balanced.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <boost/lockfree/queue.hpp>

#include <xnv/ring/ring.hpp>
#include <xnv/ring/wait.hpp>
#include <xnv/sched/balancer.hpp>
#include <xnv/sched/detail/intrusive.hpp>
#include <xnv/sched/policies.hpp>
#include <xnv/sched/scheduler.hpp>
#include <xnv/wire/netif.hpp>

using namespace std::chrono_literals;

namespace {

// ------------------------------------------------------------------------------ hand-off

struct node {
    node* next = nullptr;
    std::atomic<bool> free{true};
    std::uint64_t payload = 0;
};

struct xnv_stack {
    xnv::detail::mpsc_stack<node, &node::next> q;
    xnv::detail::intrusive_fifo<node, &node::next> local;
    void push(node* n) { q.push(n); }
    template <class F>
    std::size_t drain(F&& f)
    {
        local.append_reversed(q.take_all());
        std::size_t k = 0;
        while (node* n = local.pop_front()) {
            f(n);
            ++k;
        }
        return k;
    }
};

struct boost_queue {
    boost::lockfree::queue<node*, boost::lockfree::capacity<4096>> q;
    void push(node* n)
    {
        while (!q.push(n)) {
        }
    }
    template <class F>
    std::size_t drain(F&& f)
    {
        std::size_t k = 0;
        node* n = nullptr;
        while (q.pop(n)) {
            f(n);
            ++k;
        }
        return k;
    }
};

struct mutex_deque {
    std::mutex m;
    std::deque<node*> q;
    std::deque<node*> local;
    void push(node* n)
    {
        std::lock_guard g(m);
        q.push_back(n);
    }
    template <class F>
    std::size_t drain(F&& f)
    {
        {
            std::lock_guard g(m);
            local.swap(q);
        }
        const std::size_t k = local.size();
        for (node* n : local)
            f(n);
        local.clear();
        return k;
    }
};

// One thread: push a batch of 64, take them all. The uncontended cost per item.
template <class Q>
void handoff_same_thread(benchmark::State& st)
{
    auto q = std::make_unique<Q>();
    std::vector<node> nodes(64);
    std::uint64_t sum = 0;
    for (auto _ : st) {
        for (auto& n : nodes)
            q->push(&n);
        q->drain([&](node* n) { sum += n->payload; });
    }
    benchmark::DoNotOptimize(sum);
    st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()) * 64);
}

// P producers, one consumer: a producer re-pushes a node only after the consumer freed it.
template <class Q, int producers>
void handoff_threads(benchmark::State& st)
{
    constexpr std::size_t per_producer = 256;
    constexpr std::uint64_t items_per_iteration = 1 << 16;
    auto q = std::make_unique<Q>();
    std::vector<std::vector<node>> pools(static_cast<std::size_t>(producers));
    for (auto& p : pools)
        p = std::vector<node>(per_producer);
    for (auto _ : st) {
        const std::uint64_t quota = items_per_iteration / static_cast<std::uint64_t>(producers);
        std::vector<std::thread> ts;
        for (int p = 0; p < producers; ++p)
            ts.emplace_back([&, p] {
                auto& pool = pools[static_cast<std::size_t>(p)];
                for (std::uint64_t i = 0; i < quota; ++i) {
                    node& n = pool[i % per_producer];
                    // Acquire pairs with the consumer's release: it is done with the node.
                    while (!n.free.load(std::memory_order_acquire))
                        std::this_thread::yield();
                    n.free.store(false, std::memory_order_relaxed);
                    n.payload = i;
                    q->push(&n);
                }
            });
        const std::uint64_t total = quota * static_cast<std::uint64_t>(producers);
        std::uint64_t got = 0;
        std::uint64_t sum = 0;
        while (got < total) {
            const std::size_t k = q->drain([&](node* n) {
                sum += n->payload;
                n->free.store(true, std::memory_order_release); // pairs with the producer's acquire
            });
            got += k;
            if (k == 0)
                std::this_thread::yield();
        }
        for (auto& t : ts)
            t.join();
        benchmark::DoNotOptimize(sum);
    }
    st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()) *
                         static_cast<std::int64_t>(items_per_iteration / static_cast<std::uint64_t>(producers) *
                                                   static_cast<std::uint64_t>(producers)));
}

// ------------------------------------------------------------------------------- backend

constexpr std::size_t ring_pages = 4;  // a 4-page ring (Xen's ring-page-order 2): 1024 slots
constexpr std::size_t data_pages = 16; // the guest's granted packet pages
constexpr std::uint16_t packet_bytes = 1500;

using tx_front = xnv::front_ring<xnv::netif::tx_request, xnv::netif::tx_response>;
using tx_back = xnv::back_ring<xnv::netif::tx_request, xnv::netif::tx_response>;

// Ones'-complement sum, the Internet checksum's core.
std::uint32_t checksum(const std::byte* p, std::size_t n) noexcept
{
    std::uint64_t s = 0;
    for (std::size_t i = 0; i + 1 < n; i += 2)
        s += static_cast<std::uint64_t>(std::to_integer<unsigned>(p[i]) << 8 | std::to_integer<unsigned>(p[i + 1]));
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint32_t>(s);
}

struct ring_pair {
    alignas(4096) std::array<std::byte, ring_pages * 4096> ring{};
    alignas(4096) std::array<std::byte, data_pages * 4096> granted{};
    tx_front front{xnv::ring_init, std::span(ring)};
    tx_back back{std::span(ring)};
    xnv::wait::futex front_wait{};
    xnv::wait::futex back_wake{};
    std::array<std::byte, 2048> copy{}; // the backend's buffer (touched by one run at a time)
    std::uint32_t sink = 0;
    std::unique_ptr<xnv::tasklet> task;

    ring_pair()
    {
        for (std::size_t i = 0; i < granted.size(); ++i)
            granted[i] = static_cast<std::byte>(i * 131 + 7);
    }

    // netback's TX tasklet.
    xnv::poll_result poll(std::uint32_t budget) noexcept
    {
        std::uint32_t done = 0;
        std::uint64_t bytes = 0;
        xnv::netif::tx_request req{};
        while (done < budget && back.try_consume(req).count != 0) {
            // Grant copy, bounds-checked as netback does, then the checksum.
            const std::size_t off = std::size_t{req.gref % data_pages} * 4096 + (req.offset & 2047U);
            const std::size_t len = std::min<std::size_t>(req.size, 2048);
            std::memcpy(copy.data(), granted.data() + off, len);
            sink += checksum(copy.data(), len);
            (void)back.try_produce(xnv::netif::tx_response{req.id, 0});
            bytes += len;
            ++done;
        }
        if (back.push())
            back.wake_peer(back_wake);
        if (done == budget || back.final_check().count != 0)
            return xnv::poll_result::more(done, bytes);
        return xnv::poll_result::finished(done, bytes);
    }

    // netfront: refill the ring once half of it is free; sleep until then.
    void produce(const std::atomic<bool>& stop) noexcept
    {
        std::uint16_t id = 0;
        std::uint32_t gref = 0;
        const std::uint32_t half = front.size() / 2;
        while (!stop.load(std::memory_order_relaxed)) {
            (void)front.discard();
            const std::uint32_t n = front.free_slots();
            if (n < half) {
                // Nothing pending now (discarded): arm the response event index `half - n`
                // ahead and sleep on the futex until the backend's push crosses it.
                if (front.final_check(half - n).count == 0)
                    front_wait.wait(front.peer_index_word(), front.consumed(), 5ms);
                continue;
            }
            for (std::uint32_t k = 0; k < n; ++k) {
                auto* r = front.reserve_slot(k);
                r->gref = gref++;
                r->offset = static_cast<std::uint16_t>((gref * 64U) & 511U);
                r->flags = 0;
                r->id = id++;
                r->size = packet_bytes;
            }
            front.commit(n);
            if (front.push())
                task->schedule(); // the event channel
        }
    }
};

std::uint64_t thread_cpu_ns(pthread_t t)
{
    clockid_t cid;
    timespec ts{};
    if (pthread_getcpuclockid(t, &cid) != 0 || clock_gettime(cid, &ts) != 0)
        return 0;
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

xnv::dispatch::hysteresis_config bench_hysteresis()
{
    xnv::dispatch::hysteresis_config c;
    c.metric = xnv::load_metric::busy;
    c.low_watermark = 0.30;
    c.high_watermark = 0.75;
    c.samples_to_grow = 3;
    c.samples_to_shrink = 10;
    c.min_dwell = 50ms;
    c.sample_interval = 10ms;
    return c;
}

// Worker i pinned to the i-th CPU the process may use, when there are enough.
std::vector<unsigned> pinned_cpus(std::uint32_t workers)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<unsigned> cpus;
    if (::sched_getaffinity(0, sizeof set, &set) != 0)
        return cpus;
    for (unsigned c = 0; c < CPU_SETSIZE && cpus.size() < workers; ++c)
        if (CPU_ISSET(c, &set))
            cpus.push_back(c);
    if (cpus.size() < workers)
        cpus.clear();
    return cpus;
}

constexpr std::size_t rings = 4;

template <class Policy>
void backend(benchmark::State& st, std::uint32_t workers, Policy policy)
{
    const std::vector<unsigned> cpus = pinned_cpus(workers);
    xnv::tasklet_scheduler sched(xnv::scheduler_config{.workers = workers, .cpus = cpus});
    xnv::tasklet_balancer<Policy> bal(sched, std::move(policy));
    std::vector<std::unique_ptr<ring_pair>> rp;
    for (std::size_t i = 0; i < rings; ++i) {
        rp.push_back(std::make_unique<ring_pair>());
        ring_pair* r = rp.back().get();
        r->task = std::make_unique<xnv::tasklet>(sched.worker(0), xnv::queue_kind::tx,
                                                 [r](std::uint32_t b) noexcept { return r->poll(b); });
        bal.attach({r->task.get()});
    }
    std::atomic<bool> stop{false};
    std::vector<std::thread> producers;
    for (auto& r : rp)
        producers.emplace_back([&r, &stop] { r->produce(stop); });

    auto items = [&] {
        std::uint64_t n = 0;
        for (auto& r : rp)
            n += r->task->stats().items;
        return n;
    };
    auto run_for = [&](std::chrono::nanoseconds d) {
        const auto end = std::chrono::steady_clock::now() + d;
        while (std::chrono::steady_clock::now() < end) {
            std::this_thread::sleep_for(1ms);
            bal.poll();
        }
    };
    const auto t_start = std::chrono::steady_clock::now();
    double spread_ms = -1.0;
    // Warm-up: let the dispatcher reach its steady mapping before measuring.
    for (int i = 0; i < 300; ++i) {
        run_for(1ms);
        if (spread_ms < 0 && bal.dispatcher().active_workers() == sched.size() && sched.size() > 1)
            spread_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_start).count();
    }

    std::vector<xnv::worker_stats> w0(workers);
    for (std::uint32_t w = 0; w < workers; ++w)
        w0[w] = sched.stats(w);
    std::vector<std::uint64_t> p0;
    for (auto& p : producers)
        p0.push_back(thread_cpu_ns(p.native_handle()));
    std::vector<std::uint64_t> c0;
    for (std::uint32_t w = 0; w < workers; ++w)
        c0.push_back(thread_cpu_ns(sched.native_handle(w)));
    std::uint64_t total_items = 0;
    double total_s = 0.0;
    for (auto _ : st) {
        const std::uint64_t i0 = items();
        const auto t0 = std::chrono::steady_clock::now();
        run_for(100ms);
        const auto t1 = std::chrono::steady_clock::now();
        const double s = std::chrono::duration<double>(t1 - t0).count();
        total_items += items() - i0;
        total_s += s;
        st.SetIterationTime(s);
    }
    for (std::uint32_t w = 0; w < workers; ++w) {
        const auto s = sched.stats(w);
        const double busy = static_cast<double>(s.busy_ns - w0[w].busy_ns);
        const double idle = static_cast<double>(s.idle_ns - w0[w].idle_ns);
        st.counters["w" + std::to_string(w) + "_util"] = busy + idle > 0 ? busy / (busy + idle) : 0.0;
        st.counters["w" + std::to_string(w) + "_share"] =
            static_cast<double>(s.items - w0[w].items) / static_cast<double>(std::max<std::uint64_t>(total_items, 1));
    }
    double producer_ns = 0;
    for (std::size_t i = 0; i < producers.size(); ++i)
        producer_ns += static_cast<double>(thread_cpu_ns(producers[i].native_handle()) - p0[i]);
    st.counters["producers_cpu"] = producer_ns / (total_s * 1e9);
    // CPU time the worker threads actually got, and the items they did per CPU-second of it:
    // a figure other processes on the machine disturb far less than throughput.
    double worker_ns = 0;
    for (std::uint32_t w = 0; w < workers; ++w)
        worker_ns += static_cast<double>(thread_cpu_ns(sched.native_handle(w)) - c0[w]);
    st.counters["workers_cpu"] = worker_ns / (total_s * 1e9);
    st.counters["items_per_worker_cpu_s"] = worker_ns > 0 ? static_cast<double>(total_items) / (worker_ns * 1e-9) : 0.0;
    st.counters["spread_ms"] = spread_ms;
    st.counters["workers_used"] = bal.dispatcher().active_workers();
    st.counters["pinned"] = cpus.empty() ? 0.0 : 1.0;
    st.SetItemsProcessed(static_cast<std::int64_t>(total_items));

    stop.store(true);
    for (auto& p : producers)
        p.join();
    for (auto& r : rp)
        r->task->kill();
}

void backend_one_worker(benchmark::State& st) { backend(st, 1, xnv::dispatch::all_on_first{}); }
void backend_all_on_first(benchmark::State& st) { backend(st, 2, xnv::dispatch::all_on_first{}); }
void backend_round_robin(benchmark::State& st) { backend(st, 2, xnv::dispatch::round_robin{}); }
void backend_hysteresis(benchmark::State& st)
{
    backend(st, 2, xnv::dispatch::hysteresis_balanced(bench_hysteresis()));
}

} // namespace

BENCHMARK(handoff_same_thread<xnv_stack>)->Name("handoff_same_thread/xnv_intrusive_stack");
BENCHMARK(handoff_same_thread<boost_queue>)->Name("handoff_same_thread/boost_lockfree_queue");
BENCHMARK(handoff_same_thread<mutex_deque>)->Name("handoff_same_thread/mutex_deque");
BENCHMARK(handoff_threads<xnv_stack, 1>)->Name("handoff_1producer/xnv_intrusive_stack")->UseRealTime();
BENCHMARK(handoff_threads<boost_queue, 1>)->Name("handoff_1producer/boost_lockfree_queue")->UseRealTime();
BENCHMARK(handoff_threads<mutex_deque, 1>)->Name("handoff_1producer/mutex_deque")->UseRealTime();
BENCHMARK(handoff_threads<xnv_stack, 2>)->Name("handoff_2producers/xnv_intrusive_stack")->UseRealTime();
BENCHMARK(handoff_threads<boost_queue, 2>)->Name("handoff_2producers/boost_lockfree_queue")->UseRealTime();
BENCHMARK(handoff_threads<mutex_deque, 2>)->Name("handoff_2producers/mutex_deque")->UseRealTime();

BENCHMARK(backend_one_worker)->Name("backend/one_worker")->UseManualTime()->Iterations(8);
BENCHMARK(backend_all_on_first)->Name("backend/all_on_first_2w")->UseManualTime()->Iterations(8);
BENCHMARK(backend_round_robin)->Name("backend/round_robin_2w")->UseManualTime()->Iterations(8);
BENCHMARK(backend_hysteresis)->Name("backend/hysteresis_2w")->UseManualTime()->Iterations(8);

BENCHMARK_MAIN();
