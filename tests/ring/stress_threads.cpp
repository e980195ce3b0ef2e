// SPDX-License-Identifier: MIT
// Two threads, one ring: stamped requests and responses in round trips, for both layouts, the
// spin, spin_pause and futex wait policies, and single-entry or batched operations. A torn,
// lost, duplicated or reordered entry fails; so does a consumer that sleeps through a
// publication it had asked to hear about (a lost wake-up shows up as a timed-out wait).

#include <doctest/doctest.h>

#include "stress_config.hpp"
#include "support.hpp"

#include <array>
#include <chrono>
#include <thread>

namespace {

using namespace std::chrono_literals;
using xnv_test::stamped;
using xnv_test::stamped_request;
using xnv_test::stamped_response;

struct single {
    static constexpr std::uint32_t batch = 1;
    static constexpr bool in_place = false;
};
struct batched {
    static constexpr std::uint32_t batch = 32;
    static constexpr bool in_place = false;
};
// Slots written in place through reserve_slot and read in place through peek_shared: plain,
// non-atomic accesses, so ThreadSanitizer checks that the index publication (E1) and its
// acquire (E2) order every slot access, including a slot's reuse after its response.
struct zero_copy {
    static constexpr std::uint32_t batch = 32;
    static constexpr bool in_place = true;
};

template <class L, class W, class M> struct config {
    using layout = L;
    using wait = W;
    using mode = M;
};

// Long enough that it only expires when a wake-up was lost (the peer always has work in
// flight when a side waits), short enough that a broken build fails rather than hangs.
constexpr auto lost_wakeup_limit = 5s;

struct side_result {
    std::uint64_t done = 0;
    std::uint64_t bad = 0;
    std::uint64_t notifications = 0;
    std::uint32_t timeouts = 0;
    xnv::ring_error error = xnv::ring_error::none;
};

template <class C> void round_trips(std::uint32_t start, std::uint64_t total)
{
    using L = typename C::layout;
    using W = typename C::wait;
    constexpr std::uint32_t batch = C::mode::batch;
    xnv_test::aligned_region mem(xnv::ring_bytes_for<stamped, stamped, L>(64));
    xnv::front_ring<stamped, stamped, L> front(xnv::ring_init, mem.span(), start);
    xnv::back_ring<stamped, stamped, L> back(mem.span(), start);
    const auto deadline = std::chrono::steady_clock::now() + 60s;

    side_result b;
    std::thread back_thread([&] {
        W w;
        std::array<stamped, batch> in{};
        while (b.done < total) {
            xnv::ring_count c = back.wait_pending(w, lost_wakeup_limit);
            if (c.ok() && c.count == 0) {
                ++b.timeouts;
                if (std::chrono::steady_clock::now() > deadline)
                    return;
                continue;
            }
            if constexpr (C::mode::in_place) {
                const std::uint32_t n = std::min(c.count, batch);
                for (std::uint32_t i = 0; i < n; ++i, ++b.done) {
                    const stamped* q = back.peek_shared(i);
                    b.bad += q->seq != b.done || q->stamp != xnv_test::stamp_of(b.done);
                    // The response goes to the slot the request came from (all earlier ones
                    // are answered), after the request was read.
                    *back.reserve_slot(i) = stamped_response(q->seq);
                }
                back.release_consumed(n);
                back.commit(n);
                if (back.push()) {
                    back.wake_peer(w);
                    ++b.notifications;
                }
                continue;
            }
            c = batch == 1 ? back.try_consume(in[0]) : back.consume(in);
            if (!c.ok()) {
                b.error = c.error;
                return;
            }
            for (std::uint32_t i = 0; i < c.count; ++i, ++b.done) {
                b.bad += in[i].seq != b.done || in[i].stamp != xnv_test::stamp_of(b.done);
                b.bad += !back.try_produce(stamped_response(in[i].seq));
                if constexpr (batch == 1) {
                    if (back.push()) {
                        back.wake_peer(w);
                        ++b.notifications;
                    }
                }
            }
            if constexpr (batch > 1) {
                if (back.push()) {
                    back.wake_peer(w);
                    ++b.notifications;
                }
            }
        }
    });

    side_result f;
    {
        W w;
        std::array<stamped, batch> buf{};
        std::uint64_t sent = 0;
        while (f.done < total) {
            // Produce what fits, then publish once.
            if (sent < total && !front.full()) {
                if constexpr (C::mode::in_place) {
                    const auto n =
                        static_cast<std::uint32_t>(std::min<std::uint64_t>({batch, front.free_slots(), total - sent}));
                    for (std::uint32_t i = 0; i < n; ++i)
                        *front.reserve_slot(i) = stamped_request(sent + i);
                    front.commit(n);
                    sent += n;
                } else if constexpr (batch == 1) {
                    if (front.try_produce(stamped_request(sent)))
                        ++sent;
                } else {
                    const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(batch, total - sent));
                    for (std::uint32_t i = 0; i < n; ++i)
                        buf[i] = stamped_request(sent + i);
                    sent += front.produce(std::span<const stamped>(buf).first(n));
                }
                if (front.push()) {
                    front.wake_peer(w);
                    ++f.notifications;
                }
            }
            if constexpr (C::mode::in_place) {
                const xnv::ring_count p = front.pending();
                if (!p.ok()) {
                    f.error = p.error;
                    break;
                }
                for (std::uint32_t i = 0; i < p.count; ++i, ++f.done) {
                    const stamped* r = front.peek_shared(i);
                    f.bad += r->seq != f.done || r->stamp != ~xnv_test::stamp_of(f.done);
                }
                front.release_consumed(p.count);
                if (p.count != 0 || (sent < total && !front.full()))
                    continue;
                const xnv::ring_count c = front.wait_pending(w, lost_wakeup_limit);
                f.timeouts += c.ok() && c.count == 0;
                if (!c.ok())
                    f.error = c.error;
                if (!c.ok() || (c.count == 0 && std::chrono::steady_clock::now() > deadline))
                    break;
                continue;
            }
            xnv::ring_count c = batch == 1 ? front.try_consume(buf[0]) : front.consume(buf);
            if (c.ok() && c.count == 0 && (sent == total || front.full())) {
                // Nothing to send and nothing back yet: wait for responses.
                c = front.wait_pending(w, lost_wakeup_limit);
                if (c.ok() && c.count == 0) {
                    ++f.timeouts;
                    if (std::chrono::steady_clock::now() > deadline)
                        break;
                    continue;
                }
                c = batch == 1 ? front.try_consume(buf[0]) : front.consume(buf);
            }
            if (!c.ok()) {
                f.error = c.error;
                break;
            }
            for (std::uint32_t i = 0; i < c.count; ++i, ++f.done)
                f.bad += buf[i].seq != f.done || buf[i].stamp != ~xnv_test::stamp_of(f.done);
        }
    }
    back_thread.join();

    CHECK(f.error == xnv::ring_error::none);
    CHECK(b.error == xnv::ring_error::none);
    CHECK(b.bad == 0);
    CHECK(f.bad == 0);
    CHECK(b.done == total);
    CHECK(f.done == total);
    CHECK(f.timeouts == 0);
    CHECK(b.timeouts == 0);
    CHECK(front.consumed() == start + static_cast<std::uint32_t>(total));
    MESSAGE("round trips " << total << ", notifications front " << f.notifications << " back " << b.notifications);
}

using xnv::layout::padded;
using xnv::layout::xen_abi;

TEST_CASE_TEMPLATE("two threads exchange stamped requests and responses without loss", C,
                   config<xen_abi, xnv::wait::spin, single>, config<xen_abi, xnv::wait::spin_pause, batched>,
                   config<xen_abi, xnv::wait::futex, single>, config<xen_abi, xnv::wait::futex, batched>,
                   config<padded, xnv::wait::spin, batched>, config<padded, xnv::wait::spin_pause, single>,
                   config<padded, xnv::wait::futex, single>, config<padded, xnv::wait::futex, batched>,
                   config<xen_abi, xnv::wait::futex, zero_copy>, config<padded, xnv::wait::spin_pause, zero_copy>)
{
    // Spinning without yielding on a shared 2-core machine makes progress only when the
    // scheduler preempts: fewer round trips there.
    constexpr bool pure_spin = std::is_same_v<typename C::wait, xnv::wait::spin>;
    const std::uint64_t total = xnv_test::scaled(pure_spin ? 20'000 : 100'000, 10);
    SUBCASE("from index 0")
    {
        round_trips<C>(0, total);
    }
    SUBCASE("across the 2^32 wrap")
    {
        round_trips<C>(0xFFFFFFFFu - static_cast<std::uint32_t>(total / 2), total);
    }
}

} // namespace
