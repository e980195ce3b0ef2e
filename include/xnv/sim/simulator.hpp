// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The deterministic discrete-event simulator: M CPUs, each running the tasklets of the
/// sources a dispatch policy maps to it, fed by synthetic or recorded traffic, with a
/// notification coalescer per source deciding when the CPU is told there is work.
///
/// The model, event by event (docs/sim.md has the long form):
///
/// - *Arrival* at source s: if s's ring (`ring_slots` packets) has no room the arrival is
///   dropped; otherwise it is queued and the coalescer is told of the publication. If it asks
///   for a notification, s's event channel is made pending on s's CPU (a notification while one
///   is already pending merges with it, as an event channel's pending bit does).
/// - A CPU handles pending notifications first (each costs `per_notification`); handling one
///   schedules s's tasklet on s's CPU unless it is already scheduled or running (then it was
///   spurious). Scheduled tasklets run in FIFO order.
/// - A *tasklet run* takes the items queued on s when it starts, up to `budget` packets
///   (items are whole: the last one may overshoot), and costs what `cost_model` says. Each
///   item completes at the point of the run where its own cost has been paid. If items remain
///   after the run, the tasklet is queued again behind the others (it stays in polling mode,
///   as NAPI does); otherwise the consumer goes idle and the coalescer re-arms.
/// - Every `sample_interval` the dispatcher gets per-source load samples for the last
///   interval, and its mapping is read back. A source whose mapping changed moves under the
///   *drain rule*: at once if nothing is queued or pending for it; otherwise its old CPU keeps
///   serving it until every item queued before the decision is processed, and the move takes
///   effect at the end of that run. A source never runs on two CPUs at once.
/// - Coalescer deadlines are timer events; a deadline that fires may notify.
///
/// Determinism: events are ordered by (time, order of scheduling), every cost and time is an
/// integer, and random draws come from `xnv::sim::rng`; the same scenario and policies give the
/// same `sim_result`, bit for bit, on every platform.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <xnv/clock.hpp>
#include <xnv/sim/cost_model.hpp>
#include <xnv/sim/event_queue.hpp>
#include <xnv/sim/result.hpp>
#include <xnv/sim/trace.hpp>
#include <xnv/sim/traffic.hpp>

namespace xnv::sim {

/// What a source did in the last sample interval, as a dispatcher sees it.
struct source_load {
    std::uint32_t source = 0;
    std::uint64_t packets = 0; ///< packets that arrived (accepted or dropped)
    std::uint64_t bytes = 0;   ///< bytes that arrived
    nanos busy{0};             ///< CPU time spent on it (notifications and runs)
    friend constexpr bool operator==(const source_load&, const source_load&) = default;
};

/// A dispatch policy as the simulator drives it. Time comes from the clock the policy was
/// given (make it `xnv::clock_ref` to `simulator::clock()`).
///
/// - `connect(source)` once per source, at time zero, in source order;
/// - `sample(loads)` every sample interval, with one entry per source;
/// - `worker_of(source)` the CPU the policy maps the source to now.
template <class D>
concept dispatcher = requires(D& d, const D& cd, std::uint32_t source, std::span<const source_load> loads) {
    d.connect(source);
    d.sample(loads);
    { cd.worker_of(source) } -> std::convertible_to<std::uint32_t>;
};

/// A per-source notification coalescer as the simulator drives it (time from its clock):
///
/// - `on_publish(packets)`: the producer published an item of `packets` packets; true asks for
///   a notification;
/// - `on_consumer_idle()`: the consumer drained the ring and re-arms;
/// - `deadline()`: when the coalescer wants `on_deadline` called, if at all;
/// - `on_deadline()`: the deadline passed; true asks for a notification.
template <class C>
concept coalescer = requires(C& c, const C& cc, std::uint32_t packets) {
    { c.on_publish(packets) } -> std::same_as<bool>;
    c.on_consumer_idle();
    { cc.deadline() } -> std::same_as<std::optional<nanos>>;
    { c.on_deadline() } -> std::same_as<bool>;
};

/// Sees every tasklet run as it ends (for tests and traces of a policy's effect).
template <class O>
concept run_observer = requires(O& o, const run_record& r) { o.on_run(r); };

/// The observer that looks at nothing.
struct no_observer {
    void on_run(const run_record&) noexcept {}
};

/// Everything a run depends on besides the policies.
struct scenario {
    std::uint32_t cpus = 4;
    /// Synthetic sources: numbered 0.. in this order.
    std::vector<source_spec> sources;
    /// A recorded trace; its source k is simulator source `sources.size() + k`.
    trace recorded;
    nanos duration{std::chrono::seconds(1)};
    /// Counters start at `warmup` (the run itself starts at zero).
    nanos warmup{0};
    std::uint64_t seed = 1;
    cost_model costs{};
    /// Ring capacity per source, in packets (Xen's netif rings hold 256).
    std::uint32_t ring_slots = 256;
    /// Packets per tasklet run (NAPI's per-instance weight).
    std::uint32_t budget = 64;
    /// How often the dispatcher is fed load samples.
    nanos sample_interval{std::chrono::milliseconds(1)};
};

/// Throws `std::invalid_argument` naming the first bad parameter.
inline void validate(const scenario& sc)
{
    const auto bad = [](const std::string& what) { throw std::invalid_argument("xnv::sim: scenario: " + what); };
    if (sc.cpus == 0)
        bad("cpus must be at least 1");
    if (sc.cpus > 4096)
        bad("cpus must be at most 4096");
    if (sc.duration <= nanos::zero())
        bad("duration must be positive");
    if (sc.duration > nanos(std::int64_t{1'000'000'000'000'000}))
        bad("duration must be at most 10^15 ns");
    if (sc.warmup < nanos::zero() || sc.warmup >= sc.duration)
        bad("warmup must be in [0, duration)");
    if (sc.ring_slots == 0)
        bad("ring_slots must be at least 1");
    if (sc.budget == 0)
        bad("budget must be at least 1");
    if (sc.sample_interval <= nanos::zero())
        bad("sample_interval must be positive");
    if (sc.sources.empty() && sc.recorded.sources() == 0)
        bad("no traffic sources (give synthetic sources, a trace, or both)");
    if (sc.sources.size() + sc.recorded.sources() > trace::max_sources)
        bad("more than 65536 sources");
    validate(sc.costs);
    if (sc.costs.per_byte_ps > 1'000'000)
        bad("cost model per_byte_ps must be at most 10^6 (one microsecond per byte)");
    for (const auto& s : sc.sources)
        validate(s);
}

namespace detail {

// A FIFO of source numbers in which each source appears at most once, so a capacity of the
// number of sources is enough and it never allocates after construction.
class source_fifo {
public:
    explicit source_fifo(std::size_t capacity) : slots_(capacity) {}
    [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
    void push(std::uint32_t s) noexcept
    {
        slots_[(head_ + count_) % slots_.size()] = s;
        ++count_;
    }
    std::uint32_t pop() noexcept
    {
        const std::uint32_t s = slots_[head_];
        head_ = (head_ + 1) % slots_.size();
        --count_;
        return s;
    }

private:
    std::vector<std::uint32_t> slots_;
    std::size_t head_ = 0, count_ = 0;
};

[[nodiscard]] constexpr std::int64_t ceil_ps_to_ns(std::uint64_t ps) noexcept
{
    return static_cast<std::int64_t>((ps + 999) / 1000);
}
[[nodiscard]] constexpr std::uint64_t ns_to_ps(nanos d) noexcept
{
    return static_cast<std::uint64_t>(d.count()) * 1000;
}

template <dispatcher D, coalescer C, run_observer O>
class engine {
public:
    template <class MakeCoalescer>
    engine(const scenario& sc, virtual_clock& clock, D& dispatch, MakeCoalescer& make, O& observer)
        : sc_(sc), clock_(clock), dispatch_(dispatch), observer_(observer), cpus_(sc.cpus)
    {
        const auto synthetic = static_cast<std::uint32_t>(sc.sources.size());
        const std::uint32_t n = synthetic + sc.recorded.sources();
        sources_.reserve(n);
        coalescers_.reserve(n);
        for (std::uint32_t s = 0; s < n; ++s) {
            sources_.emplace_back(sc.ring_slots);
            auto& st = sources_.back();
            if (s < synthetic) {
                st.gen.emplace(sc.sources[s], s, sc.seed);
                st.result.name = sc.sources[s].name.empty() ? "source-" + std::to_string(s) : sc.sources[s].name;
            } else {
                st.result.name = "trace-" + std::to_string(s - synthetic);
            }
            coalescers_.push_back(make(s));
        }
        for (auto& c : cpus_)
            c.init(n, sc.budget);
        loads_.resize(n);
    }

    sim_result run()
    {
        const auto n = static_cast<std::uint32_t>(sources_.size());
        for (std::uint32_t s = 0; s < n; ++s)
            dispatch_.connect(s);
        for (std::uint32_t s = 0; s < n; ++s) {
            sources_[s].cpu = checked_worker(s);
            sources_[s].result.final_cpu = sources_[s].cpu;
        }
        for (std::uint32_t s = 0; s < n; ++s)
            schedule_next_arrival(s);
        if (!sc_.recorded.empty())
            events_.push(sc_.recorded.arrivals().front().time, event{kind::trace_arrival, 0, 0});
        events_.push(sc_.sample_interval, event{kind::sample, 0, 0});
        for (std::uint32_t s = 0; s < n; ++s)
            arm_timer(s);

        std::uint64_t processed = 0;
        while (!events_.empty() && events_.top().time <= sc_.duration) {
            auto e = events_.pop();
            clock_.advance_to(e.time);
            ++processed;
            switch (e.payload.what) {
            case kind::arrival: on_arrival(e.payload.a); break;
            case kind::trace_arrival: on_trace_arrival(e.payload.b); break;
            case kind::cpu_done: on_cpu_done(e.payload.a); break;
            case kind::timer: on_timer(e.payload.a, e.payload.b); break;
            case kind::sample: on_sample(); break;
            }
        }
        clock_.advance_to(sc_.duration);
        return finish(processed);
    }

private:
    enum class kind : std::uint8_t { arrival, trace_arrival, cpu_done, timer, sample };
    struct event {
        kind what;
        std::uint32_t a; // source or CPU
        std::uint64_t b; // trace index or timer generation
    };

    struct item {
        nanos arrival;
        std::uint64_t bytes;
        std::uint32_t packets;
    };

    enum class consumer : std::uint8_t { idle, scheduled, running };

    struct source_state {
        explicit source_state(std::uint32_t slots) : ring(slots) {}
        // The ring: items in arrival order, at most `slots` packets (so at most `slots` items).
        std::vector<item> ring;
        std::size_t head = 0, count = 0;
        std::uint32_t packets_queued = 0;
        std::uint64_t accepted = 0, consumed = 0; // items, whole run
        consumer state = consumer::idle;
        bool notification_pending = false;
        std::uint32_t cpu = 0;
        std::optional<std::uint32_t> last_cpu;
        // A move waiting for the drain rule.
        bool move_pending = false;
        std::uint32_t target = 0;
        std::uint64_t drain_mark = 0;
        nanos move_decided{0};
        // Timer for the coalescer's deadline; stale timer events carry an old generation.
        std::uint64_t timer_generation = 0;
        std::optional<nanos> timer_at;
        std::optional<synthetic_source> gen;
        arrival next; // the generator's next arrival, scheduled as an event
        std::vector<nanos> latencies;
        source_result result;
    };

    struct cpu_state {
        void init(std::uint32_t sources, std::uint32_t budget)
        {
            notifications = source_fifo(sources);
            run_queue = source_fifo(sources);
            completions.resize(budget);
        }
        source_fifo notifications{0};
        source_fifo run_queue{0};
        bool busy = false;
        bool idle = true; // nothing to do since the last activity ended (a wake-up is due)
        bool doing_run = false;
        std::uint32_t source = 0;
        std::size_t batch_items = 0;
        nanos started{0};
        std::optional<std::uint32_t> last_source;
        std::vector<nanos> completions; // completion time of each item of the current run
        cpu_result result;
    };

    [[nodiscard]] nanos now() const noexcept { return clock_.now(); }
    [[nodiscard]] bool measured(nanos t) const noexcept { return t >= sc_.warmup; }

    std::uint32_t checked_worker(std::uint32_t s) const
    {
        const auto w = static_cast<std::uint32_t>(dispatch_.worker_of(s));
        if (w >= sc_.cpus)
            throw std::out_of_range("xnv::sim: the dispatch policy mapped source " + std::to_string(s) +
                                    " to worker " + std::to_string(w) + ", but there are only " +
                                    std::to_string(sc_.cpus) + " CPUs");
        return w;
    }

    void schedule_next_arrival(std::uint32_t s)
    {
        auto& st = sources_[s];
        if (!st.gen)
            return;
        if (st.gen->next(st.next))
            events_.push(st.next.time, event{kind::arrival, s, 0});
    }

    void on_arrival(std::uint32_t s)
    {
        accept(s, item{now(), sources_[s].next.bytes, 1});
        schedule_next_arrival(s);
    }

    void on_trace_arrival(std::uint64_t index)
    {
        const auto& all = sc_.recorded.arrivals();
        const arrival& a = all[index];
        accept(static_cast<std::uint32_t>(sc_.sources.size()) + a.source, item{a.time, a.bytes, a.packets});
        if (index + 1 < all.size())
            events_.push(all[index + 1].time, event{kind::trace_arrival, 0, index + 1});
    }

    void accept(std::uint32_t s, const item& it)
    {
        auto& st = sources_[s];
        const bool m = measured(now());
        auto& load = loads_[s];
        load.packets += it.packets;
        load.bytes += it.bytes;
        if (m) {
            st.result.offered_packets += it.packets;
            st.result.offered_bytes += it.bytes;
        }
        if (std::uint64_t{st.packets_queued} + it.packets > sc_.ring_slots) {
            if (m) {
                st.result.dropped_packets += it.packets;
                st.result.dropped_bytes += it.bytes;
            }
            return;
        }
        st.ring[(st.head + st.count) % st.ring.size()] = it;
        ++st.count;
        st.packets_queued += it.packets;
        ++st.accepted;
        if (coalescers_[s].on_publish(it.packets))
            notify(s);
        else if (m)
            ++st.result.notifications_suppressed;
        arm_timer(s);
    }

    void notify(std::uint32_t s)
    {
        auto& st = sources_[s];
        const bool m = measured(now());
        if (m)
            ++st.result.notifications_sent;
        if (st.notification_pending) {
            if (m)
                ++st.result.notifications_merged;
            return;
        }
        st.notification_pending = true;
        cpus_[st.cpu].notifications.push(s);
        kick(st.cpu);
    }

    void arm_timer(std::uint32_t s)
    {
        auto& st = sources_[s];
        const std::optional<nanos> want = coalescers_[s].deadline();
        if (want == st.timer_at)
            return;
        st.timer_at = want;
        ++st.timer_generation;
        if (want)
            events_.push(std::max(*want, now()), event{kind::timer, s, st.timer_generation});
    }

    void on_timer(std::uint32_t s, std::uint64_t generation)
    {
        auto& st = sources_[s];
        if (generation != st.timer_generation)
            return; // superseded by a later deadline
        st.timer_at.reset();
        if (coalescers_[s].on_deadline())
            notify(s);
        arm_timer(s);
    }

    // Starts the CPU's next activity if it is free: notifications first, then tasklets.
    void kick(std::uint32_t c)
    {
        auto& cpu = cpus_[c];
        if (cpu.busy)
            return;
        std::uint64_t cost_ps = 0;
        const bool woke = cpu.idle;
        if (!cpu.notifications.empty()) {
            cpu.source = cpu.notifications.pop();
            cpu.doing_run = false;
            cost_ps = ns_to_ps(sc_.costs.per_notification);
        } else if (!cpu.run_queue.empty()) {
            cpu.source = cpu.run_queue.pop();
            cpu.doing_run = true;
            cost_ps = plan_run(c);
        } else {
            cpu.idle = true;
            return;
        }
        if (woke)
            cost_ps += ns_to_ps(sc_.costs.wakeup);
        cpu.busy = true;
        cpu.idle = false;
        cpu.started = now();
        const nanos end = now() + nanos(ceil_ps_to_ns(cost_ps));
        // Busy time inside the measured window, clipped at both ends.
        const nanos from = std::max(now(), sc_.warmup), to = std::min(end, sc_.duration);
        const bool m = measured(now());
        if (to > from) {
            cpu.result.busy += to - from;
            if (!cpu.doing_run)
                cpu.result.notification_busy += to - from;
        }
        if (m && woke)
            ++cpu.result.wakeups;
        loads_[cpu.source].busy += nanos(ceil_ps_to_ns(cost_ps));
        events_.push(end, event{kind::cpu_done, c, 0});
    }

    // Works out the run of `cpu.source` starting now: which items it takes and when each one
    // completes. Returns its cost in picoseconds (without the wake-up, added by the caller).
    std::uint64_t plan_run(std::uint32_t c)
    {
        auto& cpu = cpus_[c];
        auto& st = sources_[cpu.source];
        const auto& k = sc_.costs;
        const bool m = measured(now());
        st.state = consumer::running;
        std::uint64_t cost = ns_to_ps(k.per_run);
        if (cpu.last_source && *cpu.last_source != cpu.source) {
            cost += ns_to_ps(k.source_switch);
            if (m)
                ++cpu.result.source_switches;
        }
        if (st.last_cpu && *st.last_cpu != c) {
            cost += ns_to_ps(k.migration);
            if (m)
                ++cpu.result.migrations;
        }
        // Under the drain rule the old CPU takes only what was queued before the move decision.
        std::uint64_t limit = st.count;
        if (st.move_pending)
            limit = std::min<std::uint64_t>(limit, st.drain_mark > st.consumed ? st.drain_mark - st.consumed : 0);
        std::uint32_t packets = 0;
        std::size_t n = 0;
        while (n < limit && packets < sc_.budget) {
            const item& it = st.ring[(st.head + n) % st.ring.size()];
            cost += ns_to_ps(k.per_packet) * it.packets + k.per_byte_ps * it.bytes;
            cpu.completions[n] = now() + nanos(ceil_ps_to_ns(cost));
            packets += it.packets;
            ++n;
        }
        cpu.batch_items = n;
        return cost;
    }

    void on_cpu_done(std::uint32_t c)
    {
        auto& cpu = cpus_[c];
        cpu.busy = false;
        const std::uint32_t s = cpu.source;
        auto& st = sources_[s];
        const bool m = measured(now());
        if (!cpu.doing_run) {
            st.notification_pending = false;
            if (m)
                ++cpu.result.notifications;
            if (st.state == consumer::idle) {
                st.state = consumer::scheduled;
                cpus_[st.cpu].run_queue.push(s);
                if (st.cpu != c)
                    kick(st.cpu);
            } else if (m) {
                ++st.result.notifications_spurious;
            }
            kick(c);
            return;
        }
        // A tasklet run ended: its items are done.
        if (m)
            ++cpu.result.runs;
        run_record rec{c, s, cpu.started, now(), st.consumed, static_cast<std::uint32_t>(cpu.batch_items), 0};
        for (std::size_t i = 0; i < cpu.batch_items; ++i) {
            const item& it = st.ring[st.head];
            const nanos done = cpu.completions[i];
            if (measured(done)) {
                st.result.delivered_packets += it.packets;
                st.result.delivered_bytes += it.bytes;
                cpu.result.packets += it.packets;
                if (measured(it.arrival))
                    st.latencies.push_back(done - it.arrival);
            }
            rec.packets += it.packets;
            st.packets_queued -= it.packets;
            st.head = (st.head + 1) % st.ring.size();
            --st.count;
            ++st.consumed;
        }
        observer_.on_run(rec);
        cpu.last_source = s;
        st.last_cpu = c;
        if (st.move_pending && st.consumed >= st.drain_mark)
            complete_move(s);
        if (st.count > 0) {
            // Still work: stay in polling mode, behind the other scheduled tasklets.
            st.state = consumer::scheduled;
            cpus_[st.cpu].run_queue.push(s);
            if (st.cpu != c)
                kick(st.cpu);
        } else {
            st.state = consumer::idle;
            coalescers_[s].on_consumer_idle();
            arm_timer(s);
        }
        kick(c);
    }

    void complete_move(std::uint32_t s)
    {
        auto& st = sources_[s];
        moves_log_.push_back(move_record{s, st.cpu, st.target, st.move_decided, now(), st.drain_mark});
        if (measured(now()))
            ++st.result.moves;
        st.cpu = st.target;
        st.move_pending = false;
    }

    void on_sample()
    {
        const auto n = static_cast<std::uint32_t>(sources_.size());
        for (std::uint32_t s = 0; s < n; ++s)
            loads_[s].source = s;
        dispatch_.sample(std::span<const source_load>(loads_));
        for (auto& l : loads_)
            l = source_load{};
        for (std::uint32_t s = 0; s < n; ++s) {
            auto& st = sources_[s];
            const std::uint32_t want = checked_worker(s);
            const std::uint32_t heading = st.move_pending ? st.target : st.cpu;
            if (want == heading)
                continue;
            if (want == st.cpu) { // back where it is: the pending move is withdrawn
                st.move_pending = false;
                continue;
            }
            if (!st.move_pending) {
                st.move_decided = now();
                st.drain_mark = st.accepted;
            }
            st.target = want;
            st.move_pending = true;
            // Nothing queued or pending for it on the old CPU: the move is immediate.
            if (st.state == consumer::idle && !st.notification_pending)
                complete_move(s);
        }
        events_.push(now() + sc_.sample_interval, event{kind::sample, 0, 0});
    }

    sim_result finish(std::uint64_t processed)
    {
        sim_result r;
        r.warmup = sc_.warmup;
        r.duration = sc_.duration;
        r.events = processed;
        std::vector<nanos> all;
        for (auto& st : sources_) {
            st.result.final_cpu = st.cpu;
            st.result.queued_packets = st.packets_queued;
            all.insert(all.end(), st.latencies.begin(), st.latencies.end());
            st.result.latency = summarise(st.latencies);
            r.sources.push_back(std::move(st.result));
        }
        r.latency = summarise(all);
        for (auto& c : cpus_)
            r.cpus.push_back(c.result);
        r.moves_log = std::move(moves_log_);
        return r;
    }

    const scenario& sc_;
    virtual_clock& clock_;
    D& dispatch_;
    O& observer_;
    std::vector<cpu_state> cpus_;
    std::vector<source_state> sources_;
    std::vector<C> coalescers_;
    std::vector<source_load> loads_;
    std::vector<move_record> moves_log_;
    event_queue<event> events_;
};

} // namespace detail

/// Runs scenarios. Owns the virtual clock the policies read: build them with
/// `xnv::clock_ref(sim.clock())` before calling `run`.
///
/// Thread safety: none; one thread runs a simulator. Each `run` starts from time zero with
/// fresh sources, CPUs and coalescers (made by the factory); the dispatcher is the caller's and
/// keeps whatever state it has.
class simulator {
public:
    /// @throws std::invalid_argument when the scenario is invalid (see `validate`).
    explicit simulator(scenario sc) : sc_(std::move(sc)) { validate(sc_); }

    [[nodiscard]] const virtual_clock& clock() const noexcept { return clock_; }
    [[nodiscard]] const scenario& config() const noexcept { return sc_; }
    /// Synthetic sources first, then the trace's.
    [[nodiscard]] std::uint32_t sources() const noexcept
    {
        return static_cast<std::uint32_t>(sc_.sources.size()) + sc_.recorded.sources();
    }

    /// Runs the scenario with `dispatch` mapping sources to CPUs and one coalescer per source
    /// made by `make_coalescer(source)`; `observer` sees every tasklet run.
    /// @throws std::out_of_range when the dispatcher maps a source to a CPU that does not exist.
    template <dispatcher D, class MakeCoalescer, run_observer O = no_observer>
        requires std::invocable<MakeCoalescer&, std::uint32_t> &&
                 coalescer<std::invoke_result_t<MakeCoalescer&, std::uint32_t>>
    [[nodiscard]] sim_result run(D& dispatch, MakeCoalescer&& make_coalescer, O&& observer = O{})
    {
        clock_ = virtual_clock{};
        using C = std::invoke_result_t<MakeCoalescer&, std::uint32_t>;
        using Obs = std::remove_reference_t<O>;
        detail::engine<D, C, Obs> e(sc_, clock_, dispatch, make_coalescer, observer);
        return e.run();
    }

private:
    scenario sc_;
    virtual_clock clock_;
};

} // namespace xnv::sim
