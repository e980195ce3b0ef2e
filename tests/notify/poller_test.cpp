// SPDX-License-Identifier: MIT
// The coalescer (producer side), the NAPI poller (consumer side), spurious back-off and the
// counters, each step driven by hand on a virtual clock.

#include <xnv/notify/backoff.hpp>
#include <xnv/notify/coalescer.hpp>
#include <xnv/notify/counting_fake.hpp>
#include <xnv/notify/poller.hpp>
#include <xnv/notify/policy.hpp>
#include <xnv/ring/ring.hpp>

#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstring>
#include <vector>

using namespace std::chrono_literals;
using namespace xnv::notify;
using xnv::nanos;

namespace {

struct entry {
    std::uint32_t seq;
    std::uint32_t pad;
};

using front = xnv::front_ring<entry, entry>;
using back = xnv::back_ring<entry, entry>;
using vclock = xnv::clock_ref<xnv::virtual_clock>;
using fake = counting_fake<vclock>;

template <std::uint32_t Slots>
struct ring_pair {
    static constexpr std::size_t bytes = xnv::ring_bytes_for<entry, entry>(Slots);
    alignas(64) std::array<std::byte, bytes> mem{};
    front f{xnv::ring_init, mem};
    back b{mem};

    std::uint32_t shared_word(std::size_t off) const
    {
        std::uint32_t v = 0;
        std::memcpy(&v, mem.data() + off, sizeof v);
        return v;
    }
    void produce(std::uint32_t n)
    {
        for (std::uint32_t i = 0; i < n; ++i)
            REQUIRE(f.try_produce(entry{next++, 0}));
    }
    std::uint32_t next = 0;
};

struct collect {
    std::vector<std::uint32_t>* out;
    void operator()(std::span<const entry> batch) const noexcept
    {
        for (const entry& e : batch)
            out->push_back(e.seq);
    }
};

} // namespace

TEST_CASE("coalescer: event_idx notifies the crossing publication and counts the rest as suppressed")
{
    ring_pair<16> r;
    xnv::virtual_clock clock;
    fake ch{vclock(clock)};
    channel_counters counters;
    coalescer co(r.f, ch, event_idx{}, counters, vclock(clock));

    CHECK_FALSE(co.publish()); // nothing produced: nothing happens
    r.produce(1);
    CHECK(co.publish(100)); // a fresh ring's event index is start + 1: crossed
    r.produce(3);
    CHECK_FALSE(co.publish(300)); // the consumer has not re-armed
    CHECK(ch.count() == 1);
    const counters_snapshot s = counters.snapshot();
    CHECK(s.publications == 2);
    CHECK(s.items == 4);
    CHECK(s.bytes == 400);
    CHECK(s.sent == 1);
    CHECK(s.suppressed == 1);
    CHECK(s.average_batch() == doctest::Approx(4.0));
    CHECK(s.sent_per_million() == doctest::Approx(250000.0));
}

TEST_CASE("coalescer: a held notification goes out from on_timer at the deadline")
{
    ring_pair<16> r;
    xnv::virtual_clock clock(1ms);
    fake ch{vclock(clock)};
    channel_counters counters;
    coalescer co(r.f, ch, frames_usecs({.frames = 8, .usecs = 20us}), counters, vclock(clock));
    r.produce(2);
    CHECK_FALSE(co.publish());
    CHECK(co.next_deadline() == nanos(1ms + 20us));
    clock.advance(19us);
    CHECK_FALSE(co.on_timer()); // early: harmless
    clock.advance(1us);
    CHECK(co.on_timer());
    CHECK(co.next_deadline() == no_deadline);
    CHECK(ch.notifications().size() == 1);
    CHECK(ch.notifications()[0] == nanos(1ms + 20us));
    CHECK(counters.snapshot().sent == 1);
    CHECK(counters.snapshot().suppressed == 1);
}

TEST_CASE("napi_poller: a poll that uses its whole budget keeps notifications off")
{
    ring_pair<128> r;
    xnv::virtual_clock clock;
    fake ch{vclock(clock)};
    channel_counters counters;
    coalescer co(r.f, ch, event_idx{}, counters, vclock(clock));
    napi_poller poller(r.b, event_idx{}, counters, poller_config{.budget = 64}, vclock(clock));
    std::vector<std::uint32_t> got;

    r.produce(100);
    REQUIRE(co.publish());
    poll_result p = poller.poll(wake_reason::notification, collect{&got});
    CHECK(p.items == 64);
    CHECK(p.state == poll_state::keep_polling);
    // Still polling: the event index was not re-armed, so more entries do not notify.
    r.produce(1);
    CHECK_FALSE(co.publish());
    p = poller.poll(wake_reason::continued, collect{&got});
    CHECK(p.items == 37);
    CHECK(p.state == poll_state::armed);
    CHECK(p.deadline == no_deadline);
    CHECK(got.size() == 101);
    CHECK(got.back() == 100);
    // Drained and re-armed one ahead: the next entry notifies.
    r.produce(1);
    CHECK(co.publish());
    const counters_snapshot s = counters.snapshot();
    CHECK(s.wakeups == 1);
    CHECK(s.delivered == 101);
    CHECK(s.spurious == 0);
}

TEST_CASE("napi_poller: deferred re-arming keeps polling through a few empty polls first")
{
    ring_pair<16> r;
    xnv::virtual_clock clock;
    fake ch{vclock(clock)};
    channel_counters counters;
    coalescer co(r.f, ch, event_idx{}, counters, vclock(clock));
    napi_poller poller(r.b, event_idx{}, counters, poller_config{.budget = 64, .defer_rearm_polls = 2},
                       vclock(clock));
    std::vector<std::uint32_t> got;
    auto poll = [&] { return poller.poll(wake_reason::continued, collect{&got}); };

    r.produce(1);
    REQUIRE(co.publish()); // a fresh ring is armed
    poll_result p = poll();
    CHECK(p.items == 1);
    CHECK(p.state == poll_state::keep_polling); // drained, deferral 1 of 2
    r.produce(1);
    CHECK_FALSE(co.publish()); // not re-armed: no notification
    p = poll();
    CHECK(p.items == 1);
    CHECK(p.state == poll_state::keep_polling); // work found: the count starts again
    CHECK(poll().state == poll_state::keep_polling);
    p = poll();
    CHECK(p.items == 0);
    CHECK(p.state == poll_state::armed); // two empty polls in a row: re-armed
    r.produce(1);
    CHECK(co.publish());
    CHECK(got.size() == 2);
}

namespace {
// event_idx, except that the producer slips an entry in just as the consumer decides to
// re-arm: the race the final check exists for.
struct racing_policy : event_idx {
    ring_pair<16>* r = nullptr;
    [[nodiscard]] rearm on_consumer_idle(std::uint32_t, nanos) noexcept
    {
        if (r->f.try_produce(entry{r->next++, 0}))
            r->f.publish();
        return {};
    }
};
static_assert(coalescing_policy<racing_policy>);
} // namespace

TEST_CASE("napi_poller: an entry that races with re-arming is found by the final check")
{
    ring_pair<16> r;
    xnv::virtual_clock clock;
    channel_counters counters;
    racing_policy pol;
    pol.r = &r;
    napi_poller poller(r.b, pol, counters, poller_config{}, vclock(clock));
    std::vector<std::uint32_t> got;
    const poll_result p = poller.poll(wake_reason::continued, collect{&got});
    CHECK(p.items == 0);
    CHECK(p.state == poll_state::keep_polling); // not armed: the entry is there
    CHECK(r.b.pending().count == 1);
}

TEST_CASE("napi_poller: spurious wake-ups back off exponentially; real work resets")
{
    ring_pair<16> r;
    xnv::virtual_clock clock(1ms);
    channel_counters counters;
    napi_poller poller(r.b, event_idx{}, counters,
                       poller_config{.budget = 64, .backoff = {.tolerated = 1, .initial = 50us, .cap = 200us}},
                       vclock(clock));
    std::vector<std::uint32_t> got;
    auto spurious = [&] { return poller.poll(wake_reason::notification, collect{&got}); };

    CHECK(spurious().state == poll_state::armed); // the first is tolerated
    for (nanos d : {nanos(50us), nanos(100us), nanos(200us), nanos(200us)}) {
        const poll_result p = spurious();
        CHECK(p.state == poll_state::backing_off);
        CHECK(p.deadline == clock.now() + d);
    }
    CHECK(counters.snapshot().spurious == 5);
    CHECK(counters.snapshot().wakeups == 5);
    CHECK(poller.poll(wake_reason::timer, collect{&got}).state == poll_state::armed); // a timer poll is not spurious
    CHECK(counters.snapshot().spurious == 5);

    r.produce(1);
    r.f.publish();
    CHECK(poller.poll(wake_reason::notification, collect{&got}).items == 1);
    CHECK(poller.backoff().streak() == 0);
    CHECK(spurious().state == poll_state::armed); // tolerated again
}

TEST_CASE("napi_poller: a peer's bad producer index is a returned error, not a crash")
{
    ring_pair<16> r;
    xnv::virtual_clock clock;
    channel_counters counters;
    napi_poller poller(r.b, event_idx{}, counters, poller_config{}, vclock(clock));
    const std::uint32_t bogus = 1000; // far more requests than 16 slots can hold
    std::memcpy(r.mem.data() + xnv::layout::xen_abi::req_prod_offset, &bogus, sizeof bogus);
    std::vector<std::uint32_t> got;
    const poll_result p = poller.poll(wake_reason::notification, collect{&got});
    CHECK(p.state == poll_state::peer_error);
    CHECK(p.error == xnv::ring_error::index_overrun);
    CHECK(got.empty());
}

TEST_CASE("napi_poller with delayed_rearm: a front end re-arms 3/4 of its outstanding requests ahead")
{
    ring_pair<16> r;
    xnv::virtual_clock clock(5us);
    channel_counters counters;
    napi_poller poller(r.f, delayed_rearm(outstanding_fraction{3, 4}, 100us), counters, poller_config{},
                       vclock(clock));
    r.produce(8);
    r.f.publish();
    std::vector<std::uint32_t> got;
    const poll_result p = poller.poll(wake_reason::continued, collect{&got});
    CHECK(p.state == poll_state::armed);
    CHECK(p.deadline == nanos(105us));
    // 8 requests outstanding: the response event index is 6 ahead of the responses consumed.
    CHECK(r.shared_word(xnv::layout::xen_abi::rsp_event_offset) == 6);

    // The back end answers: the 6th response is the one whose push says "notify".
    std::array<entry, 8> reqs{};
    REQUIRE(r.b.consume(reqs).count == 8);
    for (std::uint32_t i = 0; i < 8; ++i) {
        REQUIRE(r.b.try_produce(reqs[i]));
        CHECK(r.b.push() == (i == 5));
    }
}

TEST_CASE("napi_poller: re-arming further ahead than the ring holds is clamped to the ring size")
{
    ring_pair<8> r;
    xnv::virtual_clock clock;
    channel_counters counters;
    napi_poller poller(r.b, delayed_rearm(fixed_batch{1000}, 1ms), counters, poller_config{}, vclock(clock));
    std::vector<std::uint32_t> got;
    CHECK(poller.poll(wake_reason::continued, collect{&got}).state == poll_state::armed);
    CHECK(r.shared_word(xnv::layout::xen_abi::req_event_offset) == 8);
}

TEST_CASE("spurious_backoff: tolerated, then doubling up to the cap, reset by work")
{
    spurious_backoff b({.tolerated = 2, .initial = 10us, .cap = 35us});
    CHECK(b.on_spurious() == nanos::zero());
    CHECK(b.on_spurious() == nanos::zero());
    CHECK(b.on_spurious() == nanos(10us));
    CHECK(b.on_spurious() == nanos(20us));
    CHECK(b.on_spurious() == nanos(35us));
    CHECK(b.on_spurious() == nanos(35us));
    CHECK(b.current_delay() == nanos(35us));
    CHECK(b.streak() == 6);
    b.on_work();
    CHECK(b.current_delay() == nanos::zero());
    CHECK(b.on_spurious() == nanos::zero());
    CHECK(b.total() == 7);
}
