// SPDX-License-Identifier: MIT
// No lost wake-up: a producer thread and a consumer thread on one ring, the consumer going to
// sleep whenever it drains (thousands of times per run, racing the producer's publications),
// across policies and channel kinds. Every item must arrive, in order, and the consumer must
// never be left asleep with work waiting: with no deadline of its own it waits up to a second,
// and finding work after such a wait means a notification was lost.

#include <xnv/notify/adaptive.hpp>
#include <xnv/notify/coalescer.hpp>
#include <xnv/notify/eventfd_channel.hpp>
#include <xnv/notify/futex_channel.hpp>
#include <xnv/notify/inprocess_channel.hpp>
#include <xnv/notify/masked_channel.hpp>
#include <xnv/notify/poller.hpp>
#include <xnv/notify/policy.hpp>
#include <xnv/ring/ring.hpp>

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <thread>

using namespace std::chrono_literals;
using namespace xnv::notify;
using xnv::nanos;

namespace {

struct entry {
    std::uint32_t seq;
    std::uint32_t check; // seq scrambled: a torn or stale slot shows
};
constexpr std::uint32_t scramble(std::uint32_t s) { return s * 2654435761u ^ 0x5bd1e995u; }

constexpr std::uint32_t items = 8000;

struct outcome {
    std::uint32_t received = 0;
    std::uint32_t bad = 0;     // out of order or torn
    std::uint32_t stalls = 0;  // work found only after a full max_wait: a lost wake-up
    std::uint32_t sleeps = 0;  // times the consumer re-armed and waited
    counters_snapshot counters;
};

// Small xorshift: the producer's pauses, reproducible per run.
struct rng {
    std::uint32_t s = 2463534242u;
    std::uint32_t operator()() noexcept
    {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        return s;
    }
};

template <class Policy, class Channel>
outcome run(Policy policy, Channel& ch, std::uint32_t defer_rearm_polls)
{
    using front = xnv::front_ring<entry, entry>;
    using back = xnv::back_ring<entry, entry>;
    alignas(64) static thread_local std::array<std::byte, xnv::ring_bytes_for<entry, entry>(64)> mem;
    front f(xnv::ring_init, mem);
    back b(mem);
    channel_counters counters;
    std::atomic<bool> done{false};
    outcome out;

    std::thread producer([&] {
        coalescer co(f, ch, policy, counters);
        rng r;
        for (std::uint32_t seq = 0; seq < items && !done.load(std::memory_order_relaxed); ++seq) {
            while (!f.try_produce(entry{seq, scramble(seq)}) && !done.load(std::memory_order_relaxed)) {
                (void)f.discard(); // reclaim answered slots
                (void)co.on_timer();
                std::this_thread::yield();
            }
            (void)co.publish(sizeof(entry));
            const std::uint32_t x = r();
            if (x % 4 == 0) {
                // A pause long enough for the consumer to drain and go to sleep (busy: a
                // sleeping producer would be woken late on a loaded machine).
                const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(x % 32);
                while (std::chrono::steady_clock::now() < until)
                    xnv::cpu_relax();
            } else if (x % 4 == 1)
                for (std::uint32_t i = x % 256; i > 0; --i)
                    xnv::cpu_relax();
            (void)co.on_timer();
        }
        // Held-back notifications (frames_usecs, adaptive) still need their timer.
        while (!done.load(std::memory_order_acquire)) {
            (void)co.on_timer();
            std::this_thread::sleep_for(20us);
        }
    });

    napi_poller poller(b, policy, counters, poller_config{.budget = 16, .defer_rearm_polls = defer_rearm_polls});
    auto handle = [&](std::span<const entry> batch) noexcept {
        for (const entry& e : batch) {
            if (e.seq != out.received || e.check != scramble(e.seq))
                ++out.bad;
            ++out.received;
            (void)b.try_produce(e);
        }
        b.publish();
    };
    poll_result r{.state = poll_state::keep_polling};
    constexpr nanos max_wait = 1s;
    while (out.received < items) {
        const poll_result last = r;
        const auto before = std::chrono::steady_clock::now();
        r = wait_and_poll(poller, ch, last, handle, max_wait);
        if (r.state == poll_state::peer_error)
            break;
        if (last.state == poll_state::armed) {
            ++out.sleeps;
            // A consumer without a deadline of its own sleeps the whole `max_wait` only when
            // nothing is published meanwhile; finding work after it means the notification
            // never woke it (a wait that times out still reports a notification left pending).
            if (last.deadline == no_deadline && r.items != 0 && std::chrono::steady_clock::now() - before >= max_wait) {
                ++out.stalls;
                break; // one is proof enough; do not sit out the rest a second at a time
            }
        }
    }
    done.store(true, std::memory_order_release);
    producer.join();
    out.counters = counters.snapshot();
    return out;
}

void check(const outcome& o)
{
    MESSAGE("consumer slept ", o.sleeps, " times; notifications sent ", o.counters.sent, ", suppressed ",
            o.counters.suppressed, ", wake-ups ", o.counters.wakeups, " (spurious ", o.counters.spurious, ")");
    CHECK(o.received == items);
    CHECK(o.bad == 0);
    CHECK(o.stalls == 0);
    CHECK(o.counters.items == items);
    CHECK(o.counters.delivered == items);
    CHECK(o.sleeps > 0);
}

// Policy and channel combinations.
struct inprocess_holder {
    inprocess_channel ch;
    inprocess_channel& get() { return ch; }
};
struct futex_holder {
    futex_channel_state state{};
    futex_channel ch{state};
    futex_channel& get() { return ch; }
};
struct eventfd_holder {
    eventfd_channel ch;
    eventfd_channel& get() { return ch; }
};
struct masked_holder {
    inprocess_channel inner;
    event_port_state port{};
    masked_channel<inprocess_channel> ch{port, inner};
    masked_channel<inprocess_channel>& get() { return ch; }
};

template <class Holder, std::uint32_t Defer = 0>
struct with_event_idx {
    static event_idx policy() { return {}; }
    using holder = Holder;
    static constexpr std::uint32_t defer = Defer;
};
struct always_inprocess {
    static constexpr std::uint32_t defer = 0;
    static always policy() { return {}; }
    using holder = inprocess_holder;
};
struct frames_usecs_inprocess {
    static constexpr std::uint32_t defer = 0;
    static frames_usecs policy() { return frames_usecs({.frames = 8, .usecs = 20us}); }
    using holder = inprocess_holder;
};
struct delayed_rearm_inprocess {
    static constexpr std::uint32_t defer = 0;
    static delayed_rearm policy() { return delayed_rearm(fixed_batch{8}, 200us); }
    using holder = inprocess_holder;
};
struct adaptive_inprocess {
    static constexpr std::uint32_t defer = 0;
    // Small samples so the controller really moves within one run.
    static adaptive policy() { return adaptive(adaptive_config{.sample_events = 8}); }
    using holder = inprocess_holder;
};

} // namespace

TEST_CASE_TEMPLATE("no lost wake-up: every item arrives in order, the consumer never stalls", C,
                   with_event_idx<inprocess_holder>, with_event_idx<futex_holder>, with_event_idx<eventfd_holder>,
                   with_event_idx<masked_holder>, with_event_idx<inprocess_holder, 32>, always_inprocess, frames_usecs_inprocess, delayed_rearm_inprocess,
                   adaptive_inprocess)
{
    typename C::holder h;
    check(run(C::policy(), h.get(), C::defer));
}
