// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The deterministic discrete-event simulator: M CPUs, each running the tasklets of the
/// sources a dispatch policy (`xnv::dispatch_policy`) maps to it, fed by synthetic or recorded
/// traffic, with a notification coalescer (`xnv::notify::coalescing_policy`) per source
/// deciding when the CPU is told there is work.
///
/// The model, event by event (docs/sim.md has the long form):
///
/// - *Arrival* at source s: if s's ring (`ring_slots` packets) has no room the arrival is
///   dropped; otherwise it is published, with the ring's hold-off verdict (did the producer
///   index cross the event index the consumer set?), to the coalescer, which says whether to
///   notify. A notification makes s's event channel pending on the CPU the dispatcher routes s
///   to; one that arrives while one is pending merges with it (an event channel's pending bit).
/// - A CPU handles pending notifications first, each costing `per_notification`; handling one
///   schedules s's tasklet on s's route unless it is already scheduled or running (then the
///   notification was spurious). Scheduled tasklets run in FIFO order.
/// - A *tasklet run* takes the items queued on s when it starts, up to `budget` packets
///   (items are whole: the last one may overshoot), and costs what `cost_model` says. Each
///   item completes at the point of the run where its own cost has been paid. If items remain,
///   the tasklet is queued again behind the others (NAPI's polling mode: the event index is
///   not re-armed, so the producer does not notify); otherwise the consumer asks the coalescer
///   how far ahead to re-arm, sets the event index, and sleeps until a notification or the
///   deadline the coalescer gave (a timer poll, which costs like a notification).
/// - The coalescer's producer-side deadline is a timer event; when it fires it may notify.
/// - The dispatcher (`xnv::balanced_dispatcher` over the policy, on the simulator's virtual
///   clock) gets each source's handled packets, bytes and CPU time at the policy's sample
///   interval. A scheduled or running tasklet is the work a CPU has queued for a source: the
///   simulator `enqueue`s it when scheduled and `complete`s it when its run ends, so a move
///   takes effect, under the dispatcher's drain rule, once the old CPU has finished the run it
///   had queued (at once for an idle source). A notification carries no data and is not held
///   work: it is delivered where the source is routed when it is sent, and the tasklet it
///   schedules goes where the source is routed when it is handled. A source never runs on two
///   CPUs at once and its packets are handled in order.
///
/// Determinism: events are ordered by (time, order of scheduling), every cost and time is an
/// integer, and random draws come from `xnv::sim::rng`; the same scenario and policies give the
/// same `sim_result`, bit for bit. (The policies' own arithmetic is theirs: the provided ones
/// use IEEE double operations, which are exact and portable as long as the compiler does not
/// contract them into fused multiply-adds.)

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
#include <xnv/notify/channel.hpp>
#include <xnv/notify/policy.hpp>
#include <xnv/sched/dispatch.hpp>
#include <xnv/sched/dispatcher.hpp>
#include <xnv/sim/cost_model.hpp>
#include <xnv/sim/event_queue.hpp>
#include <xnv/sim/result.hpp>
#include <xnv/sim/trace.hpp>
#include <xnv/sim/traffic.hpp>

namespace xnv::sim {

/// Sees every tasklet run as it ends (for tests and traces of a policy's effect).
template <class O>
concept run_observer = requires(O& o, const run_record& r) { o.on_run(r); };

/// The observer that looks at nothing.
struct no_observer {
    void on_run(const run_record&) noexcept {}
};

/// How the simulator gets one coalescer per source: a policy to copy, or a factory called
/// with the source number.
template <class F>
concept coalescer_source =
    notify::coalescing_policy<std::remove_cvref_t<F>> ||
    (std::invocable<F&, std::uint32_t> && notify::coalescing_policy<std::invoke_result_t<F&, std::uint32_t>>);

namespace detail {
template <class F>
struct coalescer_of {
    using type = std::invoke_result_t<F&, std::uint32_t>;
};
template <class F>
    requires notify::coalescing_policy<std::remove_cvref_t<F>>
struct coalescer_of<F> {
    using type = std::remove_cvref_t<F>;
};
} // namespace detail

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
    explicit source_fifo(std::size_t capacity = 0) : slots_(capacity) {}
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

template <dispatch_policy P, notify::coalescing_policy C, run_observer O>
class engine {
public:
    using dispatcher_type = balanced_dispatcher<P, clock_ref<virtual_clock>>;

    template <class MakeCoalescer>
    engine(const scenario& sc, virtual_clock& clock, P policy, MakeCoalescer& make, O& observer)
        : sc_(sc), clock_(clock), dispatch_(sc.cpus, std::move(policy), clock_ref<virtual_clock>(clock)),
          observer_(observer), cpus_(sc.cpus)
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
            if constexpr (notify::coalescing_policy<std::remove_cvref_t<MakeCoalescer>>)
                coalescers_.push_back(make);
            else
                coalescers_.push_back(make(s));
        }
        for (auto& c : cpus_) {
            c.notifications = source_fifo(n);
            c.run_queue = source_fifo(n);
            c.completions.resize(sc.budget);
        }
        samples_.resize(n);
    }

    sim_result run()
    {
        const auto n = static_cast<std::uint32_t>(sources_.size());
        for (std::uint32_t s = 0; s < n; ++s)
            if (dispatch_.connect() != s)
                throw std::logic_error("xnv::sim: the dispatcher numbered sources out of order");
        for (std::uint32_t s = 0; s < n; ++s)
            schedule_next_arrival(s);
        if (!sc_.recorded.empty())
            events_.push(sc_.recorded.arrivals().front().time, event{kind::trace_arrival, 0, 0});
        schedule_sample();

        std::uint64_t processed = 0;
        while (!events_.empty() && events_.top().time <= sc_.duration) {
            auto e = events_.pop();
            clock_.advance_to(e.time);
            ++processed;
            switch (e.payload.what) {
            case kind::arrival: on_arrival(e.payload.a); break;
            case kind::trace_arrival: on_trace_arrival(e.payload.b); break;
            case kind::cpu_done: on_cpu_done(e.payload.a); break;
            case kind::producer_timer: on_producer_timer(e.payload.a, e.payload.b); break;
            case kind::consumer_timer: on_consumer_timer(e.payload.a, e.payload.b); break;
            case kind::sample: on_sample(); break;
            }
        }
        clock_.advance_to(sc_.duration);
        return finish(processed);
    }

private:
    enum class kind : std::uint8_t { arrival, trace_arrival, cpu_done, producer_timer, consumer_timer, sample };
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
    enum class wake : std::uint8_t { none, notification, timer };

    struct source_state {
        explicit source_state(std::uint32_t slots) : ring(slots) {}
        // The ring: items in arrival order, at most `slots` packets (so at most `slots` items).
        std::vector<item> ring;
        std::size_t head = 0, count = 0;
        std::uint32_t packets_queued = 0;
        std::uint64_t consumed_items = 0;
        // The ring's free-running 32-bit indices, in packets (slots), as in Xen's ring.h:
        // both producer indices start at 0 and the event index at 1, so the first
        // publication notifies.
        std::uint32_t prod = 0, cons = 0, event = 1;
        consumer state = consumer::idle;
        wake pending = wake::none; // a notification or timer poll queued on a CPU
        std::optional<std::uint32_t> last_cpu;
        // Timers; a stale timer event carries an old generation and is ignored.
        std::uint64_t producer_generation = 0, consumer_generation = 0;
        nanos producer_deadline = notify::no_deadline;
        std::optional<synthetic_source> gen;
        arrival next; // the generator's next arrival, scheduled as an event
        std::vector<nanos> latencies;
        source_result result;
    };

    struct cpu_state {
        source_fifo notifications;
        source_fifo run_queue;
        bool busy = false;
        bool idle = true; // nothing to do since the last activity ended: a wake-up is due
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

    // Where the dispatcher routes the source's work now.
    std::uint32_t route(std::uint32_t s) const
    {
        const worker_id w = dispatch_.route(s);
        if (w >= sc_.cpus)
            throw std::out_of_range("xnv::sim: the dispatcher routed source " + std::to_string(s) + " to worker " +
                                    std::to_string(w) + ", but there are only " + std::to_string(sc_.cpus) +
                                    " CPUs");
        return w;
    }

    void schedule_sample()
    {
        const nanos at = dispatch_.next_sample_at();
        if (at != nanos::max() && at <= sc_.duration)
            events_.push(std::max(at, now()), event{kind::sample, 0, 0});
    }

    void schedule_next_arrival(std::uint32_t s)
    {
        auto& st = sources_[s];
        if (st.gen && st.gen->next(st.next))
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
        interval_offered_ += it.bytes;
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
        // Xen's hold-off test (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY): the publication crossed
        // the event index iff (new - event) < (new - old), in 32-bit modular arithmetic.
        const std::uint32_t old = st.prod;
        st.prod += it.packets;
        const bool crossed = static_cast<std::uint32_t>(st.prod - st.event) < static_cast<std::uint32_t>(st.prod - old);
        if (coalescers_[s].on_publish(notify::publication{it.packets, it.bytes, crossed}, now()))
            notify_consumer(s);
        else if (m)
            ++st.result.notifications_suppressed;
        arm_producer_timer(s);
    }

    void notify_consumer(std::uint32_t s)
    {
        auto& st = sources_[s];
        const bool m = measured(now());
        if (m)
            ++st.result.notifications_sent;
        if (st.pending != wake::none) {
            if (m)
                ++st.result.notifications_merged;
            st.pending = wake::notification; // a timer poll that is still queued becomes this
            return;
        }
        queue_wake(s, wake::notification);
    }

    void queue_wake(std::uint32_t s, wake why)
    {
        auto& st = sources_[s];
        st.pending = why;
        const std::uint32_t c = route(s);
        cpus_[c].notifications.push(s);
        kick(c);
    }

    void arm_producer_timer(std::uint32_t s)
    {
        auto& st = sources_[s];
        const nanos want = coalescers_[s].next_deadline();
        if (want == st.producer_deadline)
            return;
        st.producer_deadline = want;
        ++st.producer_generation;
        if (want != notify::no_deadline && want <= sc_.duration)
            events_.push(std::max(want, now()), event{kind::producer_timer, s, st.producer_generation});
    }

    void on_producer_timer(std::uint32_t s, std::uint64_t generation)
    {
        auto& st = sources_[s];
        if (generation != st.producer_generation)
            return; // superseded by a later deadline
        st.producer_deadline = notify::no_deadline;
        if (coalescers_[s].on_timer(now()))
            notify_consumer(s);
        arm_producer_timer(s);
    }

    void on_consumer_timer(std::uint32_t s, std::uint64_t generation)
    {
        auto& st = sources_[s];
        if (generation != st.consumer_generation || st.state != consumer::idle || st.pending != wake::none)
            return; // it woke up some other way first
        queue_wake(s, wake::timer);
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
        const nanos took{ceil_ps_to_ns(cost_ps)};
        const nanos end = now() + took;
        // Busy time inside the measured window, clipped at both ends.
        const nanos from = std::max(now(), sc_.warmup), to = std::min(end, sc_.duration);
        if (to > from) {
            cpu.result.busy += to - from;
            if (!cpu.doing_run)
                cpu.result.notification_busy += to - from;
        }
        if (measured(now()) && woke)
            ++cpu.result.wakeups;
        samples_[cpu.source].busy += took;
        events_.push(end, event{kind::cpu_done, c, 0});
    }

    // Works out the run of `cpu.source` starting now: which items it takes and when each one
    // completes. Returns its cost in picoseconds (the caller adds a wake-up).
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
        std::uint32_t packets = 0;
        std::size_t n = 0;
        while (n < st.count && packets < sc_.budget) {
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
            if (m) {
                if (st.pending == wake::timer)
                    ++cpu.result.timer_polls;
                else
                    ++cpu.result.notifications;
            }
            st.pending = wake::none;
            // The notification carries no data, so it is not work held for s: the tasklet it
            // schedules goes wherever s is routed now.
            if (st.state == consumer::idle) {
                ++st.consumer_generation; // the consumer is awake: its timer is moot
                schedule_tasklet(s, c);
            } else if (m) {
                ++st.result.notifications_spurious;
            }
            kick(c);
            return;
        }
        finish_run(c, s, m);
        dispatch_.complete(s);
        if (st.count > 0) {
            // Still work: stay in polling mode, behind the other scheduled tasklets.
            schedule_tasklet(s, c);
        } else {
            st.state = consumer::idle;
            const notify::rearm r = coalescers_[s].on_consumer_idle(0, now());
            const std::uint32_t ahead = std::clamp<std::uint32_t>(r.ahead, 1, sc_.ring_slots);
            st.event = st.cons + ahead;
            // The ring is empty, so the final check after re-arming finds nothing: sleep.
            ++st.consumer_generation;
            if (r.deadline != notify::no_deadline && r.deadline <= sc_.duration)
                events_.push(std::max(r.deadline, now()), event{kind::consumer_timer, s, st.consumer_generation});
        }
        kick(c);
    }

    void schedule_tasklet(std::uint32_t s, std::uint32_t from_cpu)
    {
        auto& st = sources_[s];
        st.state = consumer::scheduled;
        const std::uint32_t to = route(s);
        dispatch_.enqueue(s);
        cpus_[to].run_queue.push(s);
        if (to != from_cpu)
            kick(to);
    }

    void finish_run(std::uint32_t c, std::uint32_t s, bool m)
    {
        auto& cpu = cpus_[c];
        auto& st = sources_[s];
        if (m)
            ++cpu.result.runs;
        if (m && cpu.batch_items == 0)
            ++cpu.result.empty_runs;
        run_record rec{c, s, cpu.started, now(), st.consumed_items, static_cast<std::uint32_t>(cpu.batch_items), 0};
        auto& sample = samples_[s];
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
            sample.items += it.packets;
            sample.bytes += it.bytes;
            rec.packets += it.packets;
            st.packets_queued -= it.packets;
            st.cons += it.packets;
            st.head = (st.head + 1) % st.ring.size();
            --st.count;
            ++st.consumed_items;
        }
        observer_.on_run(rec);
        cpu.last_source = s;
        st.last_cpu = c;
    }

    void on_sample()
    {
        const auto n = static_cast<std::uint32_t>(sources_.size());
        interval_record rec{now(), interval_offered_, 0, nanos::zero(), 0};
        for (std::uint32_t s = 0; s < n; ++s) {
            samples_[s].source = s;
            rec.handled_bytes += samples_[s].bytes;
            rec.busy += samples_[s].busy;
        }
        dispatch_.sample(std::span<const source_sample>(samples_));
        rec.active_workers = dispatch_.active_workers();
        timeline_.push_back(rec);
        interval_offered_ = 0;
        for (auto& x : samples_)
            x = source_sample{};
        schedule_sample();
    }

    sim_result finish(std::uint64_t processed)
    {
        sim_result r;
        r.warmup = sc_.warmup;
        r.duration = sc_.duration;
        r.events = processed;
        for (const auto& mv : dispatch_.moves()) {
            r.moves_log.push_back(move_record{mv.source, mv.from, mv.to, mv.decided_at, mv.completed_at});
            if (measured(mv.completed_at))
                ++sources_[mv.source].result.moves;
        }
        for (const auto& d : dispatch_.decisions())
            r.decisions.push_back(
                decision_record{d.at, d.reason, d.active_before, d.active_after, d.load, d.before, d.after});
        std::vector<nanos> all;
        for (std::uint32_t s = 0; s < sources_.size(); ++s) {
            auto& st = sources_[s];
            st.result.final_cpu = dispatch_.route(s);
            st.result.queued_packets = st.packets_queued;
            all.insert(all.end(), st.latencies.begin(), st.latencies.end());
            st.result.latency = summarise(st.latencies);
            r.sources.push_back(std::move(st.result));
        }
        r.latency = summarise(all);
        r.timeline = std::move(timeline_);
        for (auto& c : cpus_)
            r.cpus.push_back(c.result);
        return r;
    }

    const scenario& sc_;
    virtual_clock& clock_;
    dispatcher_type dispatch_;
    O& observer_;
    std::vector<cpu_state> cpus_;
    std::vector<source_state> sources_;
    std::vector<C> coalescers_;
    std::vector<source_sample> samples_;
    std::uint64_t interval_offered_ = 0;
    std::vector<interval_record> timeline_;
    event_queue<event> events_;
};

} // namespace detail

/// Runs scenarios.
///
/// Thread safety: none; one thread runs a simulator. Each `run` starts from time zero with
/// fresh sources, CPUs, coalescers and dispatcher; nothing carries over between runs.
class simulator {
public:
    /// @throws std::invalid_argument when the scenario is invalid (see `validate`).
    explicit simulator(scenario sc) : sc_(std::move(sc)) { validate(sc_); }

    [[nodiscard]] const scenario& config() const noexcept { return sc_; }
    /// Synthetic sources first, then the trace's.
    [[nodiscard]] std::uint32_t sources() const noexcept
    {
        return static_cast<std::uint32_t>(sc_.sources.size()) + sc_.recorded.sources();
    }
    /// The virtual clock of the run in progress (for an observer that wants the time).
    [[nodiscard]] const virtual_clock& clock() const noexcept { return clock_; }

    /// Runs the scenario: `policy` (copied into a `balanced_dispatcher` with one worker per
    /// CPU) maps sources to CPUs; `coalescers` is a coalescing policy copied for every source,
    /// or a factory `(std::uint32_t source) -> policy`; `observer` sees every tasklet run.
    /// @throws std::invalid_argument if the policy rejects the number of CPUs;
    /// std::out_of_range if it places or moves a source onto a CPU that does not exist.
    template <dispatch_policy P, coalescer_source F, run_observer O = no_observer>
    [[nodiscard]] sim_result run(P policy, F&& coalescers, O&& observer = O{})
    {
        clock_ = virtual_clock{};
        using C = typename detail::coalescer_of<F>::type;
        using Obs = std::remove_reference_t<O>;
        detail::engine<P, C, Obs> e(sc_, clock_, std::move(policy), coalescers, observer);
        return e.run();
    }

private:
    scenario sc_;
    virtual_clock clock_;
};

} // namespace xnv::sim
