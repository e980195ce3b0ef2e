// SPDX-License-Identifier: MIT
// Xen's notification hold-off: push() against an independent statement of the rule over many
// (old, new, event) triples, across the 2^32 wrap, and final_check(ahead), including work that
// arrives between arming the event index and the re-check.

#include <doctest/doctest.h>

#include "support.hpp"

#include <array>
#include <vector>

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

namespace {

using xnv::ring_error;
using xnv_test::event_in_window;
using xnv_test::header_word;
using xnv_test::ring_pair;
using xnv_test::stamped;
using xnv_test::stamped_request;
using xnv_test::stamped_response;

#define LAYOUTS xnv::layout::xen_abi, xnv::layout::padded

// The front publishes `d` requests on a ring whose indices stand at `old` while the back end's
// req_event holds `event`; returns push()'s verdict.
template <class L> bool front_push(std::uint32_t old, std::uint32_t d, std::uint32_t event)
{
    ring_pair<L> p(old);
    p.front.commit(d);
    header_word(p.mem.span(), L::req_event_offset).store(event);
    const bool notify = p.front.push();
    CHECK(header_word(p.mem.span(), L::req_prod_offset).load() == old + d);
    return notify;
}

// The back end answers `d` requests, its rsp_prod standing at `old`, rsp_event holding `event`.
template <class L> bool back_push(std::uint32_t old, std::uint32_t d, std::uint32_t event)
{
    ring_pair<L> p(old);
    p.front.commit(d);
    p.front.publish();
    REQUIRE(p.back.discard(d).count == d);
    p.back.commit(d);
    header_word(p.mem.span(), L::rsp_event_offset).store(event);
    const bool notify = p.back.push();
    CHECK(header_word(p.mem.span(), L::rsp_prod_offset).load() == old + d);
    return notify;
}

std::vector<std::uint32_t> interesting_olds()
{
    std::vector<std::uint32_t> v{0u, 1u, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFF8u, 0xFFFFFFFCu, 0xFFFFFFFFu};
    xnv_test::splitmix rng(1);
    for (int i = 0; i < 24; ++i)
        v.push_back(rng.next32());
    return v;
}

std::vector<std::uint32_t> interesting_events(std::uint32_t old, std::uint32_t d, xnv_test::splitmix& rng)
{
    std::vector<std::uint32_t> v{old - 1u, old,          old + 1u,          old + d - 1u,
                                 old + d,  old + d + 1u, old + 0x80000000u, old + 0x7FFFFFFFu};
    for (int i = 0; i < 6; ++i)
        v.push_back(rng.next32());
    return v;
}

TEST_CASE_TEMPLATE("push notifies exactly when the event index lies in (old, new]", L, LAYOUTS)
{
    xnv_test::splitmix rng(7);
    int mismatches = 0, notified = 0, held_off = 0;
    for (std::uint32_t old : interesting_olds()) {
        for (std::uint32_t d = 0; d <= 8; ++d) {
            for (std::uint32_t event : interesting_events(old, d, rng)) {
                const bool expect = event_in_window(old, old + d, event);
                // Xen's own statement of the rule, for the record: (new - event) < (new - old).
                REQUIRE(expect == (static_cast<std::uint32_t>(old + d - event) < d));
                const bool f = front_push<L>(old, d, event);
                const bool b = back_push<L>(old, d, event);
                if (f != expect || b != expect) {
                    ++mismatches;
                    MESSAGE("old=" << old << " new=" << old + d << " event=" << event << " expect=" << expect
                                   << " front=" << f << " back=" << b);
                }
                (expect ? notified : held_off) += 1;
            }
        }
    }
    CHECK(mismatches == 0);
    CHECK(notified > 100);
    CHECK(held_off > 100);
}

TEST_CASE_TEMPLATE("a sequence of pushes compares each against the previous publication", L, LAYOUTS)
{
    // Random produce/push/re-arm steps across the wrap: `old` is always the last published index.
    for (std::uint32_t start : {0u, 0xFFFFFF80u}) {
        CAPTURE(start);
        ring_pair<L> p(start);
        xnv_test::splitmix rng(start + 3u);
        std::uint32_t old = start, mismatches = 0, notified = 0;
        for (int step = 0; step < 2000; ++step) {
            if (rng.below(3) == 0) // the back end re-arms somewhere near the producer
                header_word(p.mem.span(), L::req_event_offset).store(old + rng.below(12) - 2u);
            const std::uint32_t k = rng.below(p.front.free_slots() + 1);
            p.front.commit(k);
            const std::uint32_t event = header_word(p.mem.span(), L::req_event_offset).load();
            const bool n = p.front.push();
            mismatches += n != event_in_window(old, old + k, event);
            notified += n;
            old += k;
            // Let the back end keep up so the front has room again.
            const auto c = p.back.discard();
            REQUIRE(c.ok());
            p.back.commit(c.count);
            (void)p.back.push();
            REQUIRE(p.front.discard().ok());
        }
        CHECK(mismatches == 0);
        CHECK(notified > 0);
        CHECK(p.front.published() == old);
    }
}

TEST_CASE_TEMPLATE("a push with nothing new never notifies", L, LAYOUTS)
{
    ring_pair<L> p(0xFFFFFFFFu);
    for (std::uint32_t event : {0xFFFFFFFFu, 0u, 1u, 12345u}) {
        header_word(p.mem.span(), L::req_event_offset).store(event);
        CHECK_FALSE(p.front.push());
        header_word(p.mem.span(), L::rsp_event_offset).store(event);
        CHECK_FALSE(p.back.push());
    }
}

// Arms the back end's final check at `ahead` after `done` requests went round, then publishes
// requests one at a time: only the push that reaches consumed + ahead must notify.
template <class L> void check_back_final_check(std::uint32_t start, std::uint32_t ahead)
{
    ring_pair<L> p(start);
    p.front.commit(3);
    (void)p.front.push();
    REQUIRE(p.back.discard().count == 3);
    p.back.commit(3);
    (void)p.back.push();
    REQUIRE(p.front.discard().count == 3);

    CHECK(p.back.final_check(ahead) == xnv::ring_count{0, ring_error::none});
    const std::uint32_t armed = std::max(ahead, 1u);
    CHECK(header_word(p.mem.span(), L::req_event_offset).load() == start + 3u + armed);
    for (std::uint32_t i = 1; i <= armed + 1 && i <= p.front.size(); ++i) {
        CAPTURE(i);
        p.front.commit(1);
        CHECK(p.front.push() == (i == armed));
    }
}

// The same for the front end waiting for responses.
template <class L> void check_front_final_check(std::uint32_t start, std::uint32_t ahead)
{
    ring_pair<L> p(start);
    p.front.commit(8);
    (void)p.front.push();
    REQUIRE(p.back.discard().count == 8);

    CHECK(p.front.final_check(ahead) == xnv::ring_count{0, ring_error::none});
    const std::uint32_t armed = std::max(ahead, 1u);
    CHECK(header_word(p.mem.span(), L::rsp_event_offset).load() == start + armed);
    for (std::uint32_t i = 1; i <= armed + 1 && i <= 8; ++i) {
        CAPTURE(i);
        p.back.commit(1);
        CHECK(p.back.push() == (i == armed));
    }
}

TEST_CASE_TEMPLATE("final_check arms the event index at consumed + ahead", L, LAYOUTS)
{
    for (std::uint32_t start : {0u, 0xFFFFFFFDu, 0xFFFFFFFFu}) {
        for (std::uint32_t ahead : {0u, 1u, 2u, 5u, 8u}) {
            CAPTURE(start);
            CAPTURE(ahead);
            check_back_final_check<L>(start, ahead);
            check_front_final_check<L>(start, ahead);
        }
    }
}

TEST_CASE_TEMPLATE("final_check with work pending reports it and leaves the event index alone", L, LAYOUTS)
{
    ring_pair<L> p(0xFFFFFFFEu);
    p.front.commit(2);
    (void)p.front.push();
    const std::uint32_t before = header_word(p.mem.span(), L::req_event_offset).load();
    CHECK(p.back.final_check(4) == xnv::ring_count{2, ring_error::none});
    CHECK(header_word(p.mem.span(), L::req_event_offset).load() == before);
    // After consuming one, one is still pending: still no re-arm.
    REQUIRE(p.back.discard(1).count == 1);
    CHECK(p.back.final_check() == xnv::ring_count{1, ring_error::none});
    CHECK(header_word(p.mem.span(), L::req_event_offset).load() == before);
}

// --- Work that races in between arming and the re-check --------------------------------------
//
// final_check stores the event index, then reads the peer's producer index again. To land a
// publication exactly between the two, the consumer's view of the header page is made read-only:
// its event store faults, the SIGSEGV handler publishes through a second, writable mapping of
// the same memfd (as the peer would), restores write access and returns, and the store is
// retried. The re-check must then report the new entry.

class double_mapping {
public:
    explicit double_mapping(std::size_t bytes) : bytes_(bytes)
    {
        const int fd = ::memfd_create("xnv-race-test", MFD_CLOEXEC);
        REQUIRE(fd >= 0);
        REQUIRE(::ftruncate(fd, static_cast<off_t>(bytes)) == 0);
        void* a = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        void* b = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ::close(fd);
        REQUIRE(a != MAP_FAILED);
        REQUIRE(b != MAP_FAILED);
        consumer_view_ = static_cast<std::byte*>(a);
        peer_view_ = static_cast<std::byte*>(b);
    }
    double_mapping(const double_mapping&) = delete;
    double_mapping& operator=(const double_mapping&) = delete;
    ~double_mapping()
    {
        ::munmap(consumer_view_, bytes_);
        ::munmap(peer_view_, bytes_);
    }
    [[nodiscard]] std::span<std::byte> consumer(std::size_t n) const noexcept { return {consumer_view_, n}; }
    [[nodiscard]] std::span<std::byte> peer(std::size_t n) const noexcept { return {peer_view_, n}; }

private:
    std::size_t bytes_;
    std::byte* consumer_view_ = nullptr;
    std::byte* peer_view_ = nullptr;
};

// The peer's publication, run from the fault handler; plain function pointer and context so the
// handler does nothing but call it and mprotect (both async-signal-safe here: no allocation).
struct race_state {
    std::byte* page = nullptr;
    void (*publish)(void*) = nullptr;
    void* ctx = nullptr;
    volatile sig_atomic_t faults = 0;
};
race_state g_race;

extern "C" void race_handler(int sig, siginfo_t* info, void*)
{
    auto* addr = static_cast<std::byte*>(info->si_addr);
    if (sig == SIGSEGV && g_race.page != nullptr && addr >= g_race.page && addr < g_race.page + 4096 &&
        g_race.faults == 0) {
        g_race.faults = 1;
        g_race.publish(g_race.ctx);
        ::mprotect(g_race.page, 4096, PROT_READ | PROT_WRITE);
        return;
    }
    // Not the fault this test provokes: fall back to the default action (the retried access
    // faults again and the process dies with the real signal).
    ::signal(sig, SIG_DFL);
}

class fault_injection {
public:
    fault_injection(std::byte* page, void (*publish)(void*), void* ctx)
    {
        g_race = race_state{};
        g_race.page = page;
        g_race.publish = publish;
        g_race.ctx = ctx;
        struct sigaction sa {};
        sa.sa_sigaction = race_handler;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        REQUIRE(::sigaction(SIGSEGV, &sa, &old_) == 0);
        REQUIRE(::mprotect(page, 4096, PROT_READ) == 0);
    }
    fault_injection(const fault_injection&) = delete;
    fault_injection& operator=(const fault_injection&) = delete;
    ~fault_injection()
    {
        ::mprotect(g_race.page, 4096, PROT_READ | PROT_WRITE);
        ::sigaction(SIGSEGV, &old_, nullptr);
        g_race.page = nullptr;
    }
    [[nodiscard]] int faults() const noexcept { return g_race.faults; }

private:
    struct sigaction old_ {};
};

TEST_CASE_TEMPLATE("final_check reports a request published between arming and the re-check", L, LAYOUTS)
{
    constexpr std::size_t bytes = xnv::ring_bytes_for<stamped, stamped, L>(8);
    static_assert(bytes <= 4096);
    for (std::uint32_t ahead : {1u, 3u}) {
        CAPTURE(ahead);
        double_mapping m(4096);
        xnv::front_ring<stamped, stamped, L> peer(xnv::ring_init, m.peer(bytes), 0xFFFFFFFFu);
        xnv::back_ring<stamped, stamped, L> back(m.consumer(bytes), 0xFFFFFFFFu);
        REQUIRE(back.pending().count == 0);

        auto publish_one = +[](void* ctx) {
            auto* front = static_cast<xnv::front_ring<stamped, stamped, L>*>(ctx);
            (void)front->try_produce(stamped_request(77));
            (void)front->push();
        };
        {
            fault_injection inject(m.consumer(bytes).data(), publish_one, &peer);
            const xnv::ring_count c = back.final_check(ahead);
            CHECK(inject.faults() == 1);
            CHECK(c == xnv::ring_count{1, ring_error::none});
        }
        CHECK(header_word(m.peer(bytes), L::req_event_offset).load() == 0xFFFFFFFFu + ahead);
        stamped got{};
        REQUIRE(back.try_consume(got).count == 1);
        CHECK(got.seq == 77);
        CHECK(got.stamp == xnv_test::stamp_of(77));
    }
}

TEST_CASE_TEMPLATE("final_check reports a response published between arming and the re-check", L, LAYOUTS)
{
    constexpr std::size_t bytes = xnv::ring_bytes_for<stamped, stamped, L>(8);
    for (std::uint32_t ahead : {1u, 4u}) {
        CAPTURE(ahead);
        double_mapping m(4096);
        xnv::front_ring<stamped, stamped, L> front(xnv::ring_init, m.consumer(bytes), 0xFFFFFFFEu);
        xnv::back_ring<stamped, stamped, L> peer(m.peer(bytes), 0xFFFFFFFEu);
        REQUIRE(front.try_produce(stamped_request(5)));
        REQUIRE(front.try_produce(stamped_request(6)));
        (void)front.push();
        REQUIRE(peer.discard().count == 2);
        REQUIRE(front.pending().count == 0);

        auto respond_one = +[](void* ctx) {
            auto* back = static_cast<xnv::back_ring<stamped, stamped, L>*>(ctx);
            (void)back->try_produce(stamped_response(5));
            (void)back->push();
        };
        {
            fault_injection inject(m.consumer(bytes).data(), respond_one, &peer);
            const xnv::ring_count c = front.final_check(ahead);
            CHECK(inject.faults() == 1);
            CHECK(c == xnv::ring_count{1, ring_error::none});
        }
        CHECK(header_word(m.peer(bytes), L::rsp_event_offset).load() == 0xFFFFFFFEu + ahead);
        stamped got{};
        REQUIRE(front.try_consume(got).count == 1);
        CHECK(got.stamp == ~xnv_test::stamp_of(5));
    }
}

} // namespace
