// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Tasklets with Linux semantics, and the per-worker run queues that run them.
///
/// A `tasklet` is a unit of deferred work bound to one `tasklet_worker`. Its function is
/// NAPI-style: it gets a budget, does at most that much work, and says whether work is left.
/// A `tasklet_worker` owns a TX and an RX run queue (the tasklet pair of a Xen netback group)
/// and runs rounds of queued tasklets under a per-tasklet and a per-round budget. It has no
/// thread of its own: `tasklet_scheduler` (scheduler.hpp) runs one per thread, and a test may
/// drive one by hand, deterministically, from a single thread.
///
/// Rules (Linux's `tasklet_schedule`, `tasklet_disable`, `tasklet_kill`):
///  1. Scheduling an already scheduled tasklet is a no-op.
///  2. A scheduled tasklet runs at least once afterwards.
///  3. A tasklet never runs concurrently with itself, also while it moves between workers.
///  4. A schedule that arrives while it runs makes it run once more.
///  5. `disable`/`enable` nest; a schedule while disabled is kept and runs after the last
///     `enable` (the tasklet is parked off the run queue meanwhile instead of being re-queued
///     again and again as Linux does, so a disabled tasklet costs its worker nothing).
///  6. `kill` waits until it is neither scheduled nor running; a schedule kept while disabled
///     is discarded by `kill` (Linux would wait forever).
///
/// State word bits: SCHED (queued, parked or about to run), RUN (a worker holds it), PARKED
/// (SCHED kept while disabled, in no queue). Memory-order edges, cited below:
///  - T1 schedule's fetch_or(SCHED) (acq_rel) -> the worker's fetch_and(~SCHED) before the run
///    (acq_rel): both RMWs on the state word, so whatever the scheduling thread wrote before
///    scheduling (ring entries, say) is visible to the run that follows.
///  - T2 a run's release of RUN -> the next acquisition of RUN (possibly on another worker) and
///    `kill`/`disable`'s acquire loads: a run's writes happen-before the next run, and before
///    `kill` returns.
///  - T3 disable's seq_cst count increment and state load against the worker's seq_cst RUN
///    acquisition and count load: a store-load pair, so either `disable` sees the run and waits
///    for it, or the worker sees the count and parks instead of running.
///  - T4 enable's seq_cst count decrement and PARKED clear against the worker's seq_cst PARKED
///    set and count re-load: either `enable` finds the tasklet parked and re-queues it, or the
///    worker sees the count at zero and un-parks it itself; one RMW decides who.
///  - W1 (the sleep protocol): see `tasklet_worker::sleep_until_work`.

#include <atomic>
#include <cassert>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include <xnv/clock.hpp>
#include <xnv/sched/detail/intrusive.hpp>

namespace xnv {

/// Which of its worker's two run queues a tasklet uses: the paper's TX/RX tasklet pair.
enum class queue_kind : std::uint8_t { tx = 0, rx = 1 };

/// Whether a tasklet's run left work behind.
enum class work_left : std::uint8_t { none, more };

/// What a tasklet function returns (NAPI's poll result, made explicit).
struct poll_result {
    std::uint32_t done = 0;             ///< items processed in this run
    work_left left = work_left::none;   ///< `more`: run me again, behind the others
    std::uint64_t bytes = 0;            ///< optional: bytes processed, for load figures

    /// All work done: the tasklet goes idle until scheduled again.
    [[nodiscard]] static constexpr poll_result finished(std::uint32_t done, std::uint64_t bytes = 0) noexcept
    {
        return {done, work_left::none, bytes};
    }
    /// Work remains (typically `done == budget`): re-queued behind the others.
    [[nodiscard]] static constexpr poll_result more(std::uint32_t done, std::uint64_t bytes = 0) noexcept
    {
        return {done, work_left::more, bytes};
    }
};

/// A tasklet's function: called with a budget (items it may process), returns a `poll_result`.
/// Copyable, because the tasklet holds it in a `std::function` (a lambda capturing pointers or
/// references, as tasklets usually do, is).
template <class F>
concept tasklet_function =
    std::copy_constructible<F> && std::invocable<F&, std::uint32_t> &&
    std::same_as<std::invoke_result_t<F&, std::uint32_t>, poll_result>;

/// Budgets of a worker's rounds (Linux NAPI: weight 64 per instance, `netdev_budget` 300).
struct worker_config {
    std::uint32_t tasklet_budget = 64; ///< budget passed to each run
    std::uint32_t round_budget = 300;  ///< a round stops once its runs did this many items
};

/// Cumulative counters of one worker (the figures of the paper's per-VCPU CPU-time table).
/// A snapshot of relaxed loads: consistent per field, not across fields.
struct worker_stats {
    std::uint64_t busy_ns = 0;      ///< time inside rounds that ran something
    std::uint64_t idle_ns = 0;      ///< time spinning or sleeping with nothing queued
    std::uint64_t rounds = 0;       ///< rounds that ran at least one tasklet
    std::uint64_t runs = 0;         ///< tasklet function calls
    std::uint64_t items = 0;        ///< sum of `poll_result::done`
    std::uint64_t bytes = 0;        ///< sum of `poll_result::bytes`
    std::uint64_t squeezes = 0;     ///< runs that used their budget and were re-queued behind the others
    std::uint64_t budget_stops = 0; ///< rounds ended by the round budget with work still queued (Linux's time_squeeze)
    std::uint64_t forwarded = 0;    ///< queued tasklets passed on to the worker they moved to
    std::uint64_t contended = 0;    ///< pops that found the tasklet still running on its previous worker
    std::uint64_t parked = 0;       ///< pops that found the tasklet disabled (schedule kept)
    std::uint64_t sleeps = 0;       ///< times the worker blocked for lack of work
};

/// Cumulative counters of one tasklet, written by whichever worker runs it.
struct tasklet_stats {
    std::uint64_t runs = 0;
    std::uint64_t items = 0;
    std::uint64_t bytes = 0;
    std::uint64_t busy_ns = 0;
};

class tasklet;
class tasklet_worker;

namespace detail {
/// The tasklet whose function this thread is running (to detect `disable`/`kill` from inside).
inline thread_local const tasklet* current_tasklet = nullptr;

inline void backoff(unsigned& spins) noexcept
{
    if (++spins < 64)
        std::this_thread::yield();
    else
        std::this_thread::sleep_for(std::chrono::microseconds(50));
}

inline std::uint64_t steady_ns() noexcept
{
    return static_cast<std::uint64_t>(steady_clock_source{}.now().count());
}

/// A counter with one writer at a time and readers anywhere: relaxed load + store (no RMW).
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t by) noexcept
{
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}
} // namespace detail

/// A unit of deferred work with Linux tasklet semantics (see the file comment for the rules),
/// bound to one `tasklet_worker` at a time.
///
/// Thread safety: every member may be called from any thread, concurrently. A tasklet is
/// neither copyable nor movable (run queues link it by address).
/// Lifetime: the destructor kills it; its worker must outlive it.
class tasklet {
public:
    /// Bind a tasklet to `home`'s queue `kind`. May allocate once, here, to hold `fn`; never per run.
    template <tasklet_function F>
    tasklet(tasklet_worker& home, queue_kind kind, F fn) : fn_(std::move(fn)), home_(&home), kind_(kind)
    {
    }
    tasklet(const tasklet&) = delete;
    tasklet& operator=(const tasklet&) = delete;
    ~tasklet() { kill(); }

    /// Queue the tasklet on its worker unless it is already scheduled (rule 1). Returns true if
    /// this call queued it. Any thread, including the tasklet's own function. Lock-free.
    bool schedule() noexcept;

    /// Disable: the tasklet does not start a run until enabled as often as disabled. Then waits
    /// for a run in progress to end, unless called from the tasklet's own function.
    void disable() noexcept
    {
        disable_nosync();
        if (detail::current_tasklet != this) {
            unsigned spins = 0;
            // T2/T3: acquire pairs with the run's release of RUN.
            while ((state_.load(std::memory_order_seq_cst) & run_bit) != 0)
                detail::backoff(spins);
        }
    }

    /// Disable without waiting for a run in progress.
    void disable_nosync() noexcept
    {
        // T3: seq_cst increment, paired with the worker's seq_cst count load after taking RUN.
        disable_count_.fetch_add(1, std::memory_order_seq_cst);
    }

    /// Undo one `disable`. The last one re-queues a schedule kept while disabled (rule 5).
    /// @pre the tasklet is disabled (calls balance).
    void enable() noexcept;

    /// Wait until the tasklet is neither scheduled nor running (rule 6). A schedule kept while
    /// disabled is discarded; a schedule that races with `kill` may be dropped (as in Linux).
    /// Afterwards the tasklet may be scheduled again. Blocks (yields, then sleeps briefly).
    /// @pre not called from a tasklet function (it could wait for its own worker).
    void kill() noexcept;

    /// Bind the tasklet to `w` from now on. Safe at any moment: a run in progress on the old
    /// worker finishes there, a queued schedule is forwarded to `w` by the old worker (never
    /// dropped, never run twice), and the RUN bit keeps `w` from starting it before the old
    /// worker is done with it. Any thread.
    void move_to(tasklet_worker& w) noexcept
    {
        // Relaxed is enough: the worker objects outlive the tasklet and carry no data published
        // through this pointer; a racing schedule that reads the old home is forwarded (see
        // tasklet_worker::process).
        home_.store(&w, std::memory_order_relaxed);
    }

    [[nodiscard]] tasklet_worker& home() const noexcept { return *home_.load(std::memory_order_relaxed); }
    [[nodiscard]] queue_kind kind() const noexcept { return kind_; }
    /// Scheduled (queued, parked while disabled, or about to run). Stale as soon as read.
    [[nodiscard]] bool scheduled() const noexcept { return (state_.load(std::memory_order_acquire) & sched_bit) != 0; }
    /// A worker holds it (running its function, or checking it). Stale as soon as read.
    [[nodiscard]] bool running() const noexcept { return (state_.load(std::memory_order_acquire) & run_bit) != 0; }
    [[nodiscard]] bool disabled() const noexcept { return disable_count_.load(std::memory_order_acquire) != 0; }

    /// Counters, readable while it runs (relaxed snapshot).
    [[nodiscard]] tasklet_stats stats() const noexcept
    {
        auto r = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
        return {r(runs_), r(items_), r(bytes_), r(busy_ns_)};
    }

private:
    friend class tasklet_worker;
    template <class T, T* T::*>
    friend class detail::mpsc_stack;
    template <class T, T* T::*>
    friend class detail::intrusive_fifo;

    static constexpr std::uint32_t sched_bit = 1U;
    static constexpr std::uint32_t run_bit = 2U;
    static constexpr std::uint32_t parked_bit = 4U;

    std::function<poll_result(std::uint32_t)> fn_;
    std::atomic<std::uint32_t> state_{0};
    std::atomic<std::uint32_t> disable_count_{0};
    std::atomic<tasklet_worker*> home_;
    // The run-queue link. Owned by whoever holds SCHED: the scheduling thread until its push
    // publishes it (H1), then the worker whose queue holds it.
    tasklet* next_ = nullptr;
    queue_kind kind_;
    std::atomic<std::uint64_t> runs_{0}, items_{0}, bytes_{0}, busy_ns_{0};

public:
    /// The link member, for the intrusive lists (an implementation detail).
    static constexpr tasklet* tasklet::*link = &tasklet::next_;
};

/// The run queues of one worker, and the round that drains them.
///
/// Thread safety: `run_round`, `sleep_until_work` and `add_idle_ns` are called by one thread at
/// a time (the worker's consumer thread); tasklets are scheduled onto it from any thread;
/// `stats`, `request_stop` and `stop_requested` are safe from any thread.
class tasklet_worker {
public:
    /// @throws std::invalid_argument if a budget is zero or the round budget is smaller than a
    /// tasklet's (a round must fit at least one full run).
    explicit tasklet_worker(worker_config cfg = {}) : cfg_(cfg)
    {
        if (cfg.tasklet_budget == 0)
            throw std::invalid_argument("xnv: tasklet_budget must be at least 1");
        if (cfg.round_budget == 0)
            throw std::invalid_argument("xnv: round_budget must be at least 1");
        if (cfg.round_budget < cfg.tasklet_budget)
            throw std::invalid_argument("xnv: round_budget (" + std::to_string(cfg.round_budget) +
                                        ") must be at least tasklet_budget (" + std::to_string(cfg.tasklet_budget) +
                                        ")");
    }
    tasklet_worker(const tasklet_worker&) = delete;
    tasklet_worker& operator=(const tasklet_worker&) = delete;

    struct round_result {
        std::uint32_t runs = 0;   ///< tasklet functions called
        std::uint64_t items = 0;  ///< items they reported done
    };

    /// Run one round: take what was scheduled since the last round, then run queued tasklets,
    /// alternating TX and RX, each with `tasklet_budget`, until the queues are empty or the
    /// round's runs have done `round_budget` items. Order across rounds follows NAPI: tasklets
    /// left over from the previous round first, then newly scheduled ones, then those that used
    /// their budget. Consumer thread only. Wait-free apart from the tasklet functions.
    round_result run_round() noexcept;

    /// True if anything is queued here (approximate while other threads schedule).
    /// Consumer thread only (it reads the private queues).
    [[nodiscard]] bool has_work() const noexcept
    {
        return !local_[0].empty() || !local_[1].empty() || !later_[0].empty() || !later_[1].empty() ||
               incoming_[0].maybe_nonempty() || incoming_[1].maybe_nonempty();
    }

    /// Block until a tasklet is queued here or a stop is requested. May return spuriously.
    /// Consumer thread only.
    ///
    /// W1: store sleeping=1 (seq_cst), then load the incoming heads and the stop flag
    /// (seq_cst); a scheduler pushes (seq_cst CAS) and `request_stop` stores the flag (seq_cst),
    /// then each loads sleeping (seq_cst). In the single total order of seq_cst operations one of
    /// the two loads comes after the other side's store, so either the worker sees the push (or
    /// the stop) and does not sleep, or the other side sees sleeping=1 and wakes it.
    void sleep_until_work() noexcept
    {
        sleeping_.store(1, std::memory_order_seq_cst);
        if (!has_work() && !stop_requested()) {
            detail::bump(sleeps_, 1);
            sleeping_.wait(1, std::memory_order_seq_cst);
        }
        sleeping_.store(0, std::memory_order_relaxed);
    }

    /// Ask the consumer thread to stop: wakes it from `sleep_until_work`, and `stop_requested`
    /// says true from now on. Any thread.
    void request_stop() noexcept
    {
        stop_.store(true, std::memory_order_seq_cst); // W1
        wake();
    }

    /// Whether `request_stop` was called. Any thread.
    [[nodiscard]] bool stop_requested() const noexcept { return stop_.load(std::memory_order_seq_cst); }

    /// Account time the consumer thread spent idle. Consumer thread only.
    void add_idle_ns(std::uint64_t ns) noexcept { detail::bump(idle_ns_, ns); }

    /// A snapshot of the counters. Any thread, while running.
    [[nodiscard]] worker_stats stats() const noexcept
    {
        auto r = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
        worker_stats s;
        s.busy_ns = r(busy_ns_);
        s.idle_ns = r(idle_ns_);
        s.rounds = r(rounds_);
        s.runs = r(runs_);
        s.items = r(items_);
        s.bytes = r(bytes_);
        s.squeezes = r(squeezes_);
        s.budget_stops = r(budget_stops_);
        s.forwarded = r(forwarded_);
        s.contended = r(contended_);
        s.parked = r(parked_);
        s.sleeps = r(sleeps_);
        return s;
    }

    [[nodiscard]] const worker_config& config() const noexcept { return cfg_; }

private:
    friend class tasklet;
    using fifo = detail::intrusive_fifo<tasklet, tasklet::link>;
    using mpsc = detail::mpsc_stack<tasklet, tasklet::link>;

    /// Queue `t` here. @pre the caller holds `t`'s SCHED bit and `t` is in no list. Any thread.
    void enqueue(tasklet* t) noexcept
    {
        incoming_[static_cast<unsigned>(t->kind_)].push(t);
        wake(); // W1
    }

    void process(tasklet* t, std::uint64_t& clock_ns, round_result& r) noexcept;

    /// Wake the consumer thread if it sleeps. W1: the load half of the waker's store-load
    /// pair; the exchange makes only one of several racing wakers pay for the system call.
    void wake() noexcept
    {
        if (sleeping_.load(std::memory_order_seq_cst) != 0 && sleeping_.exchange(0, std::memory_order_seq_cst) != 0)
            sleeping_.notify_one();
    }

    worker_config cfg_;
    alignas(64) mpsc incoming_[2];
    alignas(64) std::atomic<std::uint32_t> sleeping_{0};
    std::atomic<bool> stop_{false};
    // Consumer-private from here on.
    alignas(64) fifo local_[2];
    fifo later_[2];
    unsigned next_kind_ = 0;
    // Counters: one writer (the consumer thread), readers anywhere.
    std::atomic<std::uint64_t> busy_ns_{0}, idle_ns_{0}, rounds_{0}, runs_{0}, items_{0}, bytes_{0}, squeezes_{0},
        budget_stops_{0}, forwarded_{0}, contended_{0}, parked_{0}, sleeps_{0};
};

// ------------------------------------------------------------------------------------------------

inline bool tasklet::schedule() noexcept
{
    // T1: acq_rel RMW; the release half publishes what the caller wrote before scheduling.
    if ((state_.fetch_or(sched_bit, std::memory_order_acq_rel) & sched_bit) != 0)
        return false; // rule 1: already queued, parked or about to run; that run will see our data (T1)
    home_.load(std::memory_order_relaxed)->enqueue(this);
    return true;
}

inline void tasklet::enable() noexcept
{
    // T4: seq_cst decrement, then seq_cst PARKED clear; paired with the worker's park.
    const std::uint32_t before = disable_count_.fetch_sub(1, std::memory_order_seq_cst);
    assert(before != 0 && "xnv: tasklet::enable without a matching disable");
    if (before == 1 && (state_.fetch_and(~parked_bit, std::memory_order_seq_cst) & parked_bit) != 0) {
        // We un-parked it: SCHED is still set and we own the link, so queue it (rule 5).
        home_.load(std::memory_order_relaxed)->enqueue(this);
    }
}

inline void tasklet::kill() noexcept
{
    assert(detail::current_tasklet == nullptr && "xnv: tasklet::kill called from a tasklet function");
    unsigned spins = 0;
    for (;;) {
        // Taking SCHED ourselves makes every later schedule() a no-op until we release it.
        const std::uint32_t old = state_.fetch_or(sched_bit, std::memory_order_acq_rel);
        if ((old & sched_bit) == 0)
            break;
        // Scheduled while disabled: take the parked schedule (it is in no queue) and drop it.
        if ((old & parked_bit) != 0 &&
            (state_.fetch_and(~parked_bit, std::memory_order_acq_rel) & parked_bit) != 0)
            break;
        detail::backoff(spins); // queued or running: let its worker run it
    }
    // T2: acquire pairs with the release of RUN at the end of a run (or a park).
    while ((state_.load(std::memory_order_acquire) & run_bit) != 0)
        detail::backoff(spins);
    state_.fetch_and(~sched_bit, std::memory_order_release);
}

inline tasklet_worker::round_result tasklet_worker::run_round() noexcept
{
    round_result r;
    for (unsigned k = 0; k < 2; ++k) {
        local_[k].append_reversed(incoming_[k].take_all()); // H1
        local_[k].splice_back(later_[k]);
    }
    if (local_[0].empty() && local_[1].empty())
        return r;

    std::uint64_t clock_ns = detail::steady_ns();
    const std::uint64_t start_ns = clock_ns;
    while (r.items < cfg_.round_budget) {
        tasklet* t = local_[next_kind_].pop_front();
        if (t == nullptr) {
            next_kind_ ^= 1U;
            t = local_[next_kind_].pop_front();
            if (t == nullptr)
                break;
        }
        next_kind_ ^= 1U; // alternate TX and RX so neither direction starves the other
        process(t, clock_ns, r);
    }
    if (!local_[0].empty() || !local_[1].empty())
        detail::bump(budget_stops_, 1);
    if (r.runs != 0) {
        detail::bump(rounds_, 1);
        detail::bump(busy_ns_, clock_ns - start_ns);
    }
    return r;
}

inline void tasklet_worker::process(tasklet* t, std::uint64_t& clock_ns, round_result& r) noexcept
{
    tasklet_worker* home = t->home_.load(std::memory_order_relaxed);
    if (home != this) {
        // It moved while queued here: pass it on. We hold its link (SCHED is set), so the push
        // keeps the single-list invariant; it is never dropped, and never run here.
        detail::bump(forwarded_, 1);
        home->enqueue(t);
        return;
    }
    // T2/T3: seq_cst RMW, acquire half pairs with the previous run's release of RUN.
    if ((t->state_.fetch_or(tasklet::run_bit, std::memory_order_seq_cst) & tasklet::run_bit) != 0) {
        // Still running on the worker it moved from (rule 3): try again next round.
        detail::bump(contended_, 1);
        later_[static_cast<unsigned>(t->kind_)].push_back(t);
        return;
    }
    if (t->disable_count_.load(std::memory_order_seq_cst) != 0) { // T3
        // Park it: SCHED stays set (the schedule is kept) and it leaves every queue.
        detail::bump(parked_, 1);
        t->state_.fetch_or(tasklet::parked_bit, std::memory_order_seq_cst); // T4
        if (t->disable_count_.load(std::memory_order_seq_cst) == 0 &&
            (t->state_.fetch_and(~tasklet::parked_bit, std::memory_order_seq_cst) & tasklet::parked_bit) != 0) {
            // enable() ran in between and did not see PARKED: we took it back, so queue it.
            later_[static_cast<unsigned>(t->kind_)].push_back(t);
        }
        // T2: release RUN last, so kill() cannot return while we still touch the tasklet.
        t->state_.fetch_and(~tasklet::run_bit, std::memory_order_release);
        return;
    }
    // T1: clear SCHED before the run, so a schedule from now on queues it again (rule 4).
    t->state_.fetch_and(~tasklet::sched_bit, std::memory_order_acq_rel);

    detail::current_tasklet = t;
    const poll_result pr = t->fn_(cfg_.tasklet_budget);
    detail::current_tasklet = nullptr;

    const std::uint64_t now_ns = detail::steady_ns();
    const std::uint64_t took = now_ns - clock_ns;
    clock_ns = now_ns;
    ++r.runs;
    r.items += pr.done;
    detail::bump(t->runs_, 1);
    detail::bump(t->items_, pr.done);
    detail::bump(t->bytes_, pr.bytes);
    detail::bump(t->busy_ns_, took);
    detail::bump(runs_, 1);
    detail::bump(items_, pr.done);
    detail::bump(bytes_, pr.bytes);

    if (pr.left == work_left::more) {
        detail::bump(squeezes_, 1);
        // Re-queue behind the others before releasing RUN (so kill() keeps waiting). If a
        // schedule arrived during the run it is queued already.
        if ((t->state_.fetch_or(tasklet::sched_bit, std::memory_order_acq_rel) & tasklet::sched_bit) == 0) {
            tasklet_worker* h = t->home_.load(std::memory_order_relaxed);
            if (h == this)
                later_[static_cast<unsigned>(t->kind_)].push_back(t);
            else
                h->enqueue(t); // it moved during the run
        }
    }
    // T2: release pairs with the next acquisition of RUN and with kill()/disable().
    t->state_.fetch_and(~tasklet::run_bit, std::memory_order_release);
}

} // namespace xnv
