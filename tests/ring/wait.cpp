// SPDX-License-Identifier: MIT
// wait_pending and the wait policies: what each returns, when a sleeping policy arms the event
// index, and deadlines at the edges (zero, and "no deadline" as nanoseconds::max()).

#include <doctest/doctest.h>

#include "support.hpp"

#include <chrono>
#include <thread>

namespace {

using namespace std::chrono_literals;
using xnv::ring_count;
using xnv::ring_error;
using xnv_test::header_word;
using xnv_test::ring_pair;
using xnv_test::stamped_request;

#define POLICIES xnv::wait::spin, xnv::wait::spin_pause, xnv::wait::futex

TEST_CASE_TEMPLATE("wait_pending returns at once when entries are pending", W, POLICIES)
{
    ring_pair<xnv::layout::xen_abi> p;
    REQUIRE(p.front.try_produce(stamped_request(1)));
    (void)p.front.push();
    W w;
    CHECK(p.back.wait_pending(w, 10s) == ring_count{1, ring_error::none});
}

TEST_CASE_TEMPLATE("wait_pending with a zero timeout reports an empty ring", W, POLICIES)
{
    ring_pair<xnv::layout::padded> p(0xFFFFFFFFu);
    W w;
    CHECK(p.back.wait_pending(w, 0ns) == ring_count{0, ring_error::none});
    CHECK(p.front.wait_pending(w, 0ns, 3) == ring_count{0, ring_error::none});
}

TEST_CASE("only a sleeping policy arms the event index before waiting")
{
    ring_pair<xnv::layout::xen_abi> p(100);
    header_word(p.mem.span(), xnv::layout::xen_abi::req_event_offset).store(7);
    xnv::wait::spin spin;
    CHECK(p.back.wait_pending(spin, 0ns, 4).count == 0);
    CHECK(header_word(p.mem.span(), xnv::layout::xen_abi::req_event_offset).load() == 7u);
    xnv::wait::futex futex;
    CHECK(p.back.wait_pending(futex, 0ns, 4).count == 0);
    CHECK(header_word(p.mem.span(), xnv::layout::xen_abi::req_event_offset).load() == 104u);
}

TEST_CASE_TEMPLATE("wait_pending returns what a peer thread publishes later", W, POLICIES)
{
    ring_pair<xnv::layout::xen_abi> p;
    std::thread peer([&] {
        std::this_thread::sleep_for(5ms);
        W w;
        REQUIRE(p.front.try_produce(stamped_request(9)));
        if (p.front.push())
            p.front.wake_peer(w);
    });
    W w;
    ring_count c{};
    for (int tries = 0; tries < 100 && c.count == 0 && c.ok(); ++tries)
        c = p.back.wait_pending(w, 1s);
    peer.join();
    CHECK(c == ring_count{1, ring_error::none});
}

TEST_CASE_TEMPLATE("nanoseconds::max() means no deadline", W, POLICIES)
{
    // The deadline must not overflow the clock: a wait with "no deadline" still returns the
    // entries a peer publishes, rather than giving up at once or overflowing.
    ring_pair<xnv::layout::padded> p;
    std::thread peer([&] {
        std::this_thread::sleep_for(5ms);
        W w;
        REQUIRE(p.front.try_produce(stamped_request(3)));
        if (p.front.push())
            p.front.wake_peer(w);
    });
    W w;
    const ring_count c = p.back.wait_pending(w, std::chrono::nanoseconds::max());
    peer.join();
    CHECK(c == ring_count{1, ring_error::none});
}

TEST_CASE("wait_pending returns a protocol error instead of waiting")
{
    ring_pair<xnv::layout::xen_abi> p;
    header_word(p.mem.span(), xnv::layout::xen_abi::req_prod_offset).store(1000);
    xnv::wait::futex w;
    CHECK(p.back.wait_pending(w, std::chrono::nanoseconds::max()) == ring_count{0, ring_error::index_overrun});
}

TEST_CASE("spin_pause with yield_every = 0 never yields")
{
    xnv::wait::spin_pause w{0};
    std::uint32_t word = 0;
    for (int i = 0; i < 10; ++i)
        w.wait(&word, 0, 1ms);
    CHECK(w.checks == 10);
}

TEST_CASE("the futex policy spins before it sleeps and returns at once on a changed word")
{
    xnv::wait::futex w;
    w.spins = 3;
    std::uint32_t word = 5;
    for (int i = 0; i < 3; ++i)
        w.wait(&word, 5, 10s); // spin phase: returns without a system call
    CHECK(w.checks == 3);
    w.wait(&word, 4, 10s); // sleep phase: the word is not 4, so the kernel returns at once
    CHECK(w.checks == 0);
}

} // namespace
