// SPDX-License-Identifier: MIT
// Interoperability with Xen's own ring macros (xen/io/ring.h, xen/io/netif.h), in two processes
// over a memfd mapped MAP_SHARED: a front end written with Xen's macros against an xnv
// back_ring, and an xnv front_ring against a back end written with Xen's macros, on the netif TX
// and RX ring types.
//
// Two drivers:
//  - lock-step: the two processes take turns, so every index the other side reads is stable.
//    Each side records its push decisions (old, new, event, notify) and final checks (consumed,
//    producer, event, ahead, work); afterwards every record is replayed through the *other*
//    implementation, which must decide the same, and checked against the hold-off rule. Each
//    side also sleeps after a final check that found nothing and asserts that it is woken
//    exactly when its event index was crossed (no lost and no spurious notification).
//  - free-running: both sides run concurrently and sleep on eventfds (the event channels), the
//    xnv side through wait_pending/wake_peer with an eventfd wait policy. A lost wake-up shows
//    up as a wait that runs out.
// Payloads are stamped from their sequence number in every field, so a torn, lost, duplicated
// or reordered entry fails on the receiving side.

#include <doctest/doctest.h>

#include "stress_config.hpp"
#include "support.hpp"
#include "xen_headers.hpp"

#include <xnv/wire/netif.hpp>

#include <algorithm>
#include <chrono>
#include <new>

#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>

namespace {

using namespace std::chrono_literals;
using xnv_test::header_word;
using xen_abi = xnv::layout::xen_abi;

// ---------------------------------------------------------------- payloads
// The fill/check functions take any struct with the netif field names, so the same stamps are
// written through xnv's types on one side and Xen's on the other.

struct tx_kind {
    using req = xnv::netif::tx_request;
    using rsp = xnv::netif::tx_response;
    using xen_req = netif_tx_request_t;
    using xen_rsp = netif_tx_response_t;
    using sring = netif_tx_sring_t;
    using xen_front = netif_tx_front_ring_t;
    using xen_back = netif_tx_back_ring_t;

    template <class R> static void fill_req(R& r, std::uint32_t seq)
    {
        r.gref = seq * 2654435761u;
        r.offset = static_cast<std::uint16_t>(seq & 0xFFFu);
        r.flags = static_cast<std::uint16_t>((seq >> 3) & 0xFu);
        r.id = static_cast<std::uint16_t>(seq);
        r.size = static_cast<std::uint16_t>(seq * 7u + 60u);
    }
    template <class R> static bool req_ok(const R& r, std::uint32_t seq)
    {
        R e{};
        fill_req(e, seq);
        return r.gref == e.gref && r.offset == e.offset && r.flags == e.flags && r.id == e.id && r.size == e.size;
    }
    template <class R> static void fill_rsp(R& r, std::uint32_t seq)
    {
        r.id = static_cast<std::uint16_t>(seq);
        r.status = static_cast<std::int16_t>((seq * 40503u) & 0x7FFFu);
    }
    template <class R> static bool rsp_ok(const R& r, std::uint32_t seq)
    {
        R e{};
        fill_rsp(e, seq);
        return r.id == e.id && r.status == e.status;
    }
};

struct rx_kind {
    using req = xnv::netif::rx_request;
    using rsp = xnv::netif::rx_response;
    using xen_req = netif_rx_request_t;
    using xen_rsp = netif_rx_response_t;
    using sring = netif_rx_sring_t;
    using xen_front = netif_rx_front_ring_t;
    using xen_back = netif_rx_back_ring_t;

    template <class R> static void fill_req(R& r, std::uint32_t seq)
    {
        r.id = static_cast<std::uint16_t>(seq);
        r.pad = static_cast<std::uint16_t>(seq >> 16);
        r.gref = seq ^ 0x5A5A5A5Au;
    }
    template <class R> static bool req_ok(const R& r, std::uint32_t seq)
    {
        R e{};
        fill_req(e, seq);
        return r.id == e.id && r.pad == e.pad && r.gref == e.gref;
    }
    template <class R> static void fill_rsp(R& r, std::uint32_t seq)
    {
        r.id = static_cast<std::uint16_t>(seq);
        r.offset = static_cast<std::uint16_t>((seq * 13u) & 0xFFFu);
        r.flags = static_cast<std::uint16_t>(seq >> 20);
        r.status = static_cast<std::int16_t>((seq * 31u) & 0x7FFFu);
    }
    template <class R> static bool rsp_ok(const R& r, std::uint32_t seq)
    {
        R e{};
        fill_rsp(e, seq);
        return r.id == e.id && r.offset == e.offset && r.flags == e.flags && r.status == e.status;
    }
};

// ---------------------------------------------------------------- records shared by the processes

struct push_record {
    std::uint32_t old_idx, new_idx, event, notify;
};
struct check_record {
    std::uint32_t cons, prod, event, ahead, work;
};

constexpr std::uint32_t max_records = 8192;

struct side_log {
    std::uint32_t n_push, n_check, records_dropped;
    push_record push[max_records];
    check_record check[max_records];
    std::uint64_t done;
    std::uint32_t bad_payload, protocol_errors, lost_wakeups, spurious_wakeups, stalled, notifications, woken;

    void add(const push_record& r) { n_push < max_records ? void(push[n_push++] = r) : void(++records_dropped); }
    void add(const check_record& r) { n_check < max_records ? void(check[n_check++] = r) : void(++records_dropped); }
};

enum : std::uint32_t { front_turn = 0, back_turn = 1, stopped = 2 };

struct control {
    std::uint32_t turn;
    std::uint32_t notify_front; // the lock-step "event channels": set by a push that says notify
    std::uint32_t notify_back;
    side_log front;
    side_log back;
};

std::atomic_ref<std::uint32_t> word(std::uint32_t& w)
{
    return std::atomic_ref<std::uint32_t>(w);
}

// ---------------------------------------------------------------- eventfd "event channels"

class eventfd_pair {
public:
    eventfd_pair() : to_front_(::eventfd(0, EFD_CLOEXEC)), to_back_(::eventfd(0, EFD_CLOEXEC))
    {
        REQUIRE(to_front_ >= 0);
        REQUIRE(to_back_ >= 0);
    }
    eventfd_pair(const eventfd_pair&) = delete;
    eventfd_pair& operator=(const eventfd_pair&) = delete;
    ~eventfd_pair()
    {
        ::close(to_front_);
        ::close(to_back_);
    }
    [[nodiscard]] int to_front() const noexcept { return to_front_; }
    [[nodiscard]] int to_back() const noexcept { return to_back_; }

private:
    int to_front_;
    int to_back_;
};

void signal_fd(int fd) noexcept
{
    const std::uint64_t one = 1;
    if (::write(fd, &one, sizeof one) != static_cast<ssize_t>(sizeof one))
        std::abort(); // an eventfd write cannot fail here short of a broken fd
}
// Waits for a signal on `fd`; false if `limit` passed without one.
bool wait_fd(int fd, std::chrono::milliseconds limit) noexcept
{
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::max<std::chrono::milliseconds::rep>(limit.count(), 0)));
    if (r != 1)
        return false;
    std::uint64_t v = 0;
    return ::read(fd, &v, sizeof v) == static_cast<ssize_t>(sizeof v);
}

/// An xnv wait policy over an eventfd pair: what a user embedding the ring in a Xen-like
/// system with event channels would write.
struct eventfd_wait {
    static constexpr bool sleeps = true;
    int wait_on = -1;
    int wake_to = -1;
    void wait(std::uint32_t*, std::uint32_t, std::chrono::nanoseconds timeout) noexcept
    {
        (void)wait_fd(wait_on, std::chrono::ceil<std::chrono::milliseconds>(timeout));
    }
    void wake(std::uint32_t*) noexcept { signal_fd(wake_to); }
};
static_assert(xnv::wait_policy<eventfd_wait>);

// ---------------------------------------------------------------- the four endpoint implementations
// Common interface: size, free_slots, produce(seq), push() -> push_record, pending() (-1 on a
// protocol error), take(seq) (consume one, check its stamps), final_check(ahead) -> check_record,
// notify_peer(), sleep(limit) (false if the wait ran out), max_ahead.

template <class T> T read_once(const T& v)
{
    return *static_cast<const volatile T*>(&v);
}

// Which ring of the pair an xnv side produces on and what it checks; `Side` is one of the two
// traits below.
template <class K> struct xnv_front_traits {
    using ring = xnv::front_ring<typename K::req, typename K::rsp, xen_abi>;
    using out = typename K::req;
    using in = typename K::rsp;
    static void fill(out& e, std::uint32_t seq) { K::fill_req(e, seq); }
    static bool ok(const in& e, std::uint32_t seq) { return K::rsp_ok(e, seq); }
    static constexpr std::size_t peer_prod_offset = xen_abi::rsp_prod_offset;
    static constexpr std::size_t peer_event_offset = xen_abi::rsp_event_offset;
};
template <class K> struct xnv_back_traits {
    using ring = xnv::back_ring<typename K::req, typename K::rsp, xen_abi>;
    using out = typename K::rsp;
    using in = typename K::req;
    static void fill(out& e, std::uint32_t seq) { K::fill_rsp(e, seq); }
    static bool ok(const in& e, std::uint32_t seq) { return K::req_ok(e, seq); }
    static constexpr std::size_t peer_prod_offset = xen_abi::req_prod_offset;
    static constexpr std::size_t peer_event_offset = xen_abi::req_event_offset;
};

template <class Side> class xnv_side {
public:
    using ring = typename Side::ring;
    static constexpr std::uint32_t max_ahead = 3;

    xnv_side(std::span<std::byte> mem, std::uint32_t start, bool init)
        : mem_(mem), r_(init ? ring(xnv::ring_init, mem, start) : ring(mem, start))
    {}
    void channels(int wait_on, int wake_to) { w_ = eventfd_wait{wait_on, wake_to}; }
    std::uint32_t size() const { return r_.size(); }
    std::uint32_t free_slots() const { return r_.free_slots(); }
    bool produce(std::uint32_t seq)
    {
        typename Side::out e{};
        Side::fill(e, seq);
        return r_.try_produce(e);
    }
    push_record push()
    {
        const std::uint32_t old_idx = r_.published(), new_idx = r_.produced();
        const bool n = r_.push();
        return {old_idx, new_idx, r_.peer_event_approx(), n};
    }
    std::int64_t pending()
    {
        const xnv::ring_count c = r_.pending();
        return c.ok() ? std::int64_t{c.count} : -1;
    }
    bool take(std::uint32_t seq)
    {
        typename Side::in e{};
        return r_.try_consume(e).count == 1 && Side::ok(e, seq);
    }
    check_record final_check(std::uint32_t ahead)
    {
        const xnv::ring_count c = r_.final_check(ahead);
        return {r_.consumed(), header_word(mem_, Side::peer_prod_offset).load(),
                header_word(mem_, Side::peer_event_offset).load(), ahead, c.ok() ? c.count : 0xFFFFFFFFu};
    }
    void notify_peer() { r_.wake_peer(w_); }
    bool sleep(std::chrono::milliseconds limit) { return r_.wait_pending(w_, limit).count != 0; }

private:
    std::span<std::byte> mem_;
    ring r_;
    eventfd_wait w_;
};

template <class K> using xnv_front_side = xnv_side<xnv_front_traits<K>>;
template <class K> using xnv_back_side = xnv_side<xnv_back_traits<K>>;

// Written the way a Xen netfront/netback driver uses the macros.
template <class K> class xen_front_side {
public:
    static constexpr std::uint32_t max_ahead = 1; // RING_FINAL_CHECK_FOR_RESPONSES arms at cons + 1

    xen_front_side(std::span<std::byte> mem, std::uint32_t start, bool init)
    {
        s_ = reinterpret_cast<typename K::sring*>(mem.data());
        if (init) {
            SHARED_RING_INIT(s_);
            s_->req_prod = s_->rsp_prod = start; // SHARED_RING_INIT knows only index 0
            s_->req_event = s_->rsp_event = start + 1;
        }
        if (start == 0)
            xen_attach_at_zero(&r_, s_, mem.size());
        else
            xen_attach(&r_, s_, start, mem.size());
    }
    void channels(int wait_on, int wake_to) { wait_on_ = wait_on, wake_to_ = wake_to; }
    std::uint32_t size() const { return RING_SIZE(&r_); }
    std::uint32_t free_slots() const { return RING_FREE_REQUESTS(&r_); }
    bool produce(std::uint32_t seq)
    {
        if (RING_FULL(&r_))
            return false;
        K::fill_req(*RING_GET_REQUEST(&r_, r_.req_prod_pvt), seq);
        r_.req_prod_pvt++;
        return true;
    }
    push_record push()
    {
        const RING_IDX old_idx = s_->req_prod, new_idx = r_.req_prod_pvt;
        int notify = 0;
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&r_, notify);
        return {old_idx, new_idx, read_once(s_->req_event), notify != 0};
    }
    std::int64_t pending()
    {
        const RING_IDX rp = read_once(s_->rsp_prod);
        xen_rmb();
        if (RING_RESPONSE_PROD_OVERFLOW(&r_, rp))
            return -1;
        return rp - r_.rsp_cons;
    }
    bool take(std::uint32_t seq)
    {
        typename K::xen_rsp rsp;
        RING_COPY_RESPONSE(&r_, r_.rsp_cons, &rsp);
        r_.rsp_cons++;
        return K::rsp_ok(rsp, seq);
    }
    check_record final_check(std::uint32_t)
    {
        unsigned work = 0;
        RING_FINAL_CHECK_FOR_RESPONSES(&r_, work);
        return {r_.rsp_cons, read_once(s_->rsp_prod), read_once(s_->rsp_event), 1, work};
    }
    void notify_peer() { signal_fd(wake_to_); }
    bool sleep(std::chrono::milliseconds limit)
    {
        unsigned work = 0;
        RING_FINAL_CHECK_FOR_RESPONSES(&r_, work);
        return work != 0 || wait_fd(wait_on_, limit);
    }

private:
    typename K::sring* s_;
    typename K::xen_front r_{};
    int wait_on_ = -1, wake_to_ = -1;
};

template <class K> class xen_back_side {
public:
    static constexpr std::uint32_t max_ahead = 1;

    xen_back_side(std::span<std::byte> mem, std::uint32_t start, bool init)
    {
        s_ = reinterpret_cast<typename K::sring*>(mem.data());
        if (init) {
            SHARED_RING_INIT(s_);
            s_->req_prod = s_->rsp_prod = start; // SHARED_RING_INIT knows only index 0
            s_->req_event = s_->rsp_event = start + 1;
        }
        if (start == 0)
            xen_attach_at_zero(&r_, s_, mem.size());
        else
            xen_attach(&r_, s_, start, mem.size());
    }
    void channels(int wait_on, int wake_to) { wait_on_ = wait_on, wake_to_ = wake_to; }
    std::uint32_t size() const { return RING_SIZE(&r_); }
    std::uint32_t free_slots() const { return r_.req_cons - r_.rsp_prod_pvt; }
    bool produce(std::uint32_t seq)
    {
        if (free_slots() == 0)
            return false;
        K::fill_rsp(*RING_GET_RESPONSE(&r_, r_.rsp_prod_pvt), seq);
        r_.rsp_prod_pvt++;
        return true;
    }
    push_record push()
    {
        const RING_IDX old_idx = s_->rsp_prod, new_idx = r_.rsp_prod_pvt;
        int notify = 0;
        RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&r_, notify);
        return {old_idx, new_idx, read_once(s_->rsp_event), notify != 0};
    }
    std::int64_t pending()
    {
        const RING_IDX rp = read_once(s_->req_prod);
        xen_rmb();
        if (RING_REQUEST_PROD_OVERFLOW(&r_, rp))
            return -1;
        return rp - r_.req_cons;
    }
    bool take(std::uint32_t seq)
    {
        typename K::xen_req req;
        RING_COPY_REQUEST(&r_, r_.req_cons, &req);
        r_.req_cons++;
        return K::req_ok(req, seq);
    }
    check_record final_check(std::uint32_t)
    {
        unsigned work = 0;
        RING_FINAL_CHECK_FOR_REQUESTS(&r_, work);
        return {r_.req_cons, read_once(s_->req_prod), read_once(s_->req_event), 1, work};
    }
    void notify_peer() { signal_fd(wake_to_); }
    bool sleep(std::chrono::milliseconds limit)
    {
        unsigned work = 0;
        RING_FINAL_CHECK_FOR_REQUESTS(&r_, work);
        return work != 0 || wait_fd(wait_on_, limit);
    }

private:
    typename K::sring* s_;
    typename K::xen_back r_{};
    int wait_on_ = -1, wake_to_ = -1;
};

// ---------------------------------------------------------------- lock-step driver

constexpr std::uint32_t max_turns = 200'000;

bool wait_turn(control& c, std::uint32_t mine, std::chrono::steady_clock::time_point deadline)
{
    for (;;) {
        const std::uint32_t t = word(c.turn).load(std::memory_order_acquire);
        if (t == mine)
            return true;
        if (t == stopped || std::chrono::steady_clock::now() > deadline)
            return false;
        ::sched_yield();
    }
}

// One consumer direction's sleep state: asleep after a final check that found nothing, woken
// by a notification or, as a real driver's fallback timer would, after a few idle turns.
struct sleeper {
    bool asleep = false;
    std::uint32_t armed = 1;
    unsigned idle_turns = 0;

    // Called at the start of a turn with the pending count and whether a notification came.
    void on_turn(std::int64_t pending, bool notified, side_log& log)
    {
        if (!asleep)
            return;
        // The event index sits at consumed + armed: a notification must come exactly when the
        // producer has published that far.
        if (notified && pending < armed)
            ++log.spurious_wakeups;
        if (!notified && pending >= armed)
            ++log.lost_wakeups;
        if (notified) {
            ++log.woken;
            asleep = false;
        } else if (++idle_turns >= 4) {
            asleep = false;
        }
    }
    void after_check(const check_record& r)
    {
        if (r.work == 0) {
            asleep = true;
            armed = r.ahead;
            idle_turns = 0;
        }
    }
};

// Takes up to `limit` pending entries, checking each against the next sequence number.
template <class Side>
void take_some(Side& s, std::int64_t pending, std::uint32_t limit, std::uint32_t& next, side_log& log)
{
    for (std::int64_t i = 0; i < pending && i < limit; ++i, ++next)
        log.bad_payload += !s.take(next);
}

template <class Front> void lockstep_front(Front& f, control& c, std::uint32_t total, std::uint64_t seed)
{
    side_log& log = c.front;
    xnv_test::splitmix rng(seed);
    std::uint32_t sent = 0, answered = 0, turns = 0;
    sleeper rsp_sleep;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (wait_turn(c, front_turn, deadline)) {
        const std::int64_t pend = f.pending();
        if (pend < 0) {
            ++log.protocol_errors;
            break;
        }
        rsp_sleep.on_turn(pend, word(c.notify_front).exchange(0) != 0, log);
        if (!rsp_sleep.asleep)
            take_some(f, pend, rng.below(f.size() + 1), answered, log);

        const std::uint32_t k = std::min(rng.below(f.free_slots() + 1), total - sent);
        for (std::uint32_t i = 0; i < k; ++i, ++sent)
            log.bad_payload += !f.produce(sent);
        const push_record pr = f.push();
        log.add(pr);
        if (pr.notify) {
            word(c.notify_back).store(1);
            ++log.notifications;
        }
        // Sometimes with responses still pending (the check must report them and not arm).
        if (!rsp_sleep.asleep && rng.below(2) == 0) {
            const check_record cr = f.final_check(1 + rng.below(Front::max_ahead));
            log.add(cr);
            rsp_sleep.after_check(cr);
        }
        log.done = answered;
        if (answered == total || ++turns > max_turns) {
            log.stalled += answered != total;
            break;
        }
        word(c.turn).store(back_turn, std::memory_order_release);
    }
    word(c.turn).store(stopped, std::memory_order_release);
}

template <class Back> void lockstep_back(Back& b, control& c, std::uint64_t seed)
{
    side_log& log = c.back;
    xnv_test::splitmix rng(seed);
    std::uint32_t taken = 0, answered = 0;
    sleeper req_sleep;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (wait_turn(c, back_turn, deadline)) {
        const std::int64_t pend = b.pending();
        if (pend < 0) {
            ++log.protocol_errors;
            break;
        }
        req_sleep.on_turn(pend, word(c.notify_back).exchange(0) != 0, log);
        if (!req_sleep.asleep)
            take_some(b, pend, rng.below(b.size() + 1), taken, log);

        // Answer some of the requests taken, in order; all of them one turn in three.
        const std::uint32_t owed = taken - answered;
        const std::uint32_t r = rng.below(3) == 0 ? owed : rng.below(owed + 1);
        for (std::uint32_t i = 0; i < r; ++i, ++answered)
            log.bad_payload += !b.produce(answered);
        const push_record pr = b.push();
        log.add(pr);
        if (pr.notify) {
            word(c.notify_front).store(1);
            ++log.notifications;
        }
        if (!req_sleep.asleep && rng.below(2) == 0) {
            const check_record cr = b.final_check(1 + rng.below(Back::max_ahead));
            log.add(cr);
            req_sleep.after_check(cr);
        }
        log.done = taken;
        word(c.turn).store(front_turn, std::memory_order_release);
    }
}

// ---------------------------------------------------------------- replays through the other implementation

template <class K> bool xnv_front_push(std::size_t bytes, const push_record& r)
{
    xnv_test::aligned_region mem(bytes);
    xnv::front_ring<typename K::req, typename K::rsp, xen_abi> f(xnv::ring_init, mem.span(), r.old_idx);
    f.commit(r.new_idx - r.old_idx);
    header_word(mem.span(), xen_abi::req_event_offset).store(r.event);
    return f.push();
}
template <class K> bool xnv_back_push(std::size_t bytes, const push_record& r)
{
    xnv_test::aligned_region mem(bytes);
    xnv::front_ring<typename K::req, typename K::rsp, xen_abi> f(xnv::ring_init, mem.span(), r.old_idx);
    xnv::back_ring<typename K::req, typename K::rsp, xen_abi> b(mem.span(), r.old_idx);
    const std::uint32_t d = r.new_idx - r.old_idx;
    f.commit(d);
    f.publish();
    (void)b.discard(d);
    b.commit(d);
    header_word(mem.span(), xen_abi::rsp_event_offset).store(r.event);
    return b.push();
}
template <class K> bool xen_front_push(std::size_t bytes, const push_record& r)
{
    xnv_test::aligned_region mem(bytes);
    auto* s = reinterpret_cast<typename K::sring*>(mem.data());
    typename K::xen_front fr{};
    SHARED_RING_INIT(s);
    xen_attach(&fr, s, r.old_idx, bytes);
    s->req_prod = r.old_idx;
    fr.req_prod_pvt = r.new_idx;
    s->req_event = r.event;
    int notify = 0;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&fr, notify);
    return notify != 0;
}
template <class K> bool xen_back_push(std::size_t bytes, const push_record& r)
{
    xnv_test::aligned_region mem(bytes);
    auto* s = reinterpret_cast<typename K::sring*>(mem.data());
    typename K::xen_back br{};
    SHARED_RING_INIT(s);
    xen_attach(&br, s, r.old_idx, bytes);
    s->rsp_prod = r.old_idx;
    br.rsp_prod_pvt = r.new_idx;
    s->rsp_event = r.event;
    int notify = 0;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&br, notify);
    return notify != 0;
}

struct check_outcome {
    std::uint32_t work, event;
};
template <class K> check_outcome xnv_front_check(std::size_t bytes, const check_record& r)
{
    xnv_test::aligned_region mem(bytes);
    xnv::front_ring<typename K::req, typename K::rsp, xen_abi> f(xnv::ring_init, mem.span(), r.cons);
    xnv::back_ring<typename K::req, typename K::rsp, xen_abi> b(mem.span(), r.cons);
    const std::uint32_t d = r.prod - r.cons;
    f.commit(d);
    f.publish();
    (void)b.discard(d);
    b.commit(d);
    b.publish();
    const xnv::ring_count c = f.final_check(r.ahead);
    return {c.count, header_word(mem.span(), xen_abi::rsp_event_offset).load()};
}
template <class K> check_outcome xnv_back_check(std::size_t bytes, const check_record& r)
{
    xnv_test::aligned_region mem(bytes);
    xnv::front_ring<typename K::req, typename K::rsp, xen_abi> f(xnv::ring_init, mem.span(), r.cons);
    xnv::back_ring<typename K::req, typename K::rsp, xen_abi> b(mem.span(), r.cons);
    f.commit(r.prod - r.cons);
    f.publish();
    const xnv::ring_count c = b.final_check(r.ahead);
    return {c.count, header_word(mem.span(), xen_abi::req_event_offset).load()};
}
template <class K> check_outcome xen_front_check(std::size_t bytes, const check_record& r)
{
    xnv_test::aligned_region mem(bytes);
    auto* s = reinterpret_cast<typename K::sring*>(mem.data());
    typename K::xen_front fr{};
    SHARED_RING_INIT(s);
    xen_attach(&fr, s, r.cons, bytes);
    s->rsp_prod = r.prod;
    unsigned work = 0;
    RING_FINAL_CHECK_FOR_RESPONSES(&fr, work);
    return {work, s->rsp_event};
}
template <class K> check_outcome xen_back_check(std::size_t bytes, const check_record& r)
{
    xnv_test::aligned_region mem(bytes);
    auto* s = reinterpret_cast<typename K::sring*>(mem.data());
    typename K::xen_back br{};
    SHARED_RING_INIT(s);
    xen_attach(&br, s, r.cons, bytes);
    s->req_prod = r.prod;
    unsigned work = 0;
    RING_FINAL_CHECK_FOR_REQUESTS(&br, work);
    return {work, s->req_event};
}

// Checks one side's records against the hold-off rule and replays them through the other
// implementation (`push_replay`, `check_replay`); checks armed further ahead than Xen's macros
// can only be checked against the rule.
template <class PushReplay, class CheckReplay>
void verify_records(const side_log& log, std::size_t bytes, bool replay_is_xen, PushReplay push_replay,
                    CheckReplay check_replay)
{
    std::uint32_t rule_broken = 0, replay_differs = 0, notified = 0, held_off = 0, armed = 0, reported = 0;
    for (std::uint32_t i = 0; i < log.n_push; ++i) {
        const push_record& r = log.push[i];
        const bool expect = xnv_test::event_in_window(r.old_idx, r.new_idx, r.event);
        rule_broken += (r.notify != 0) != expect;
        replay_differs += push_replay(bytes, r) != (r.notify != 0);
        (r.notify ? notified : held_off) += 1;
    }
    for (std::uint32_t i = 0; i < log.n_check; ++i) {
        const check_record& r = log.check[i];
        // Reported work is what the producer index says is unconsumed; with none, the event
        // index is armed at consumed + ahead.
        rule_broken += r.work != r.prod - r.cons;
        if (r.work == 0) {
            rule_broken += r.event != r.cons + r.ahead;
            ++armed;
        } else {
            ++reported;
        }
        if (replay_is_xen && r.ahead != 1)
            continue;
        const check_outcome o = check_replay(bytes, r);
        replay_differs += o.work != r.work || (r.work == 0 && o.event != r.event);
    }
    CHECK(log.records_dropped == 0);
    CHECK(rule_broken == 0);
    CHECK(replay_differs == 0);
    // The scenario must have exercised both outcomes of each decision.
    CHECK(notified > 0);
    CHECK(held_off > 0);
    CHECK(armed > 0);
    CHECK(reported > 0);
}

void check_outcome_of(const side_log& log, std::uint64_t expect_done)
{
    CHECK(log.done == expect_done);
    CHECK(log.bad_payload == 0);
    CHECK(log.protocol_errors == 0);
    CHECK(log.lost_wakeups == 0);
    CHECK(log.spurious_wakeups == 0);
    CHECK(log.stalled == 0);
}

template <class K, template <class> class FrontSide, template <class> class BackSide, bool FrontIsXen>
void run_lockstep(std::size_t ring_bytes, std::uint32_t start, std::uint32_t total)
{
    xnv_test::shared_region shm(4096 + sizeof(control));
    const std::span<std::byte> ring_mem = shm.span(0, ring_bytes);
    auto* c = new (shm.data() + 4096) control{};
    {
        FrontSide<K> init(ring_mem, start, true); // the front end initialises the shared ring
    }
    const std::uint64_t seed = 0x1234 + start + total;
    xnv_test::child_process child([&] {
        if constexpr (FrontIsXen) {
            FrontSide<K> f(ring_mem, start, false);
            lockstep_front(f, *c, total, seed);
        } else {
            BackSide<K> b(ring_mem, start, false);
            lockstep_back(b, *c, seed + 1);
        }
        return 0;
    });
    if constexpr (FrontIsXen) {
        BackSide<K> b(ring_mem, start, false);
        lockstep_back(b, *c, seed + 1);
    } else {
        FrontSide<K> f(ring_mem, start, false);
        lockstep_front(f, *c, total, seed);
    }
    REQUIRE(child.join(90s) == 0);

    static constexpr const char* front_impl = FrontIsXen ? "Xen's macros" : "xnv";
    INFO("front end written with " << front_impl);
    check_outcome_of(c->front, total);
    check_outcome_of(c->back, total);
    CHECK(c->front.woken > 0);
    CHECK(c->back.woken > 0);
    MESSAGE("lock-step: " << total << " round trips; front: " << c->front.n_push << " pushes, " << c->front.n_check
                          << " final checks, woken " << c->front.woken << " times; back: " << c->back.n_push
                          << " pushes, " << c->back.n_check << " final checks, woken " << c->back.woken << " times");
    // Each side's decisions, replayed through the other implementation.
    if constexpr (FrontIsXen) {
        verify_records(c->front, ring_bytes, false, xnv_front_push<K>, xnv_front_check<K>);
        verify_records(c->back, ring_bytes, true, xen_back_push<K>, xen_back_check<K>);
    } else {
        verify_records(c->front, ring_bytes, true, xen_front_push<K>, xen_front_check<K>);
        verify_records(c->back, ring_bytes, false, xnv_back_push<K>, xnv_back_check<K>);
    }
}

// ---------------------------------------------------------------- free-running driver

constexpr auto lost_wakeup_limit = 5000ms;

template <class Front> void free_front(Front& f, side_log& log, std::uint32_t total, std::uint32_t batch)
{
    std::uint32_t sent = 0, answered = 0;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    // One request more than answered: the last one (seq == total) tells the back end to stop.
    while (answered < total || sent <= total) {
        const std::uint32_t k = std::min({f.free_slots(), total + 1 - sent, batch});
        for (std::uint32_t i = 0; i < k; ++i, ++sent)
            log.bad_payload += !f.produce(sent);
        if (k != 0 && f.push().notify) {
            f.notify_peer();
            ++log.notifications;
        }
        if (answered == total && sent > total)
            break;
        const std::int64_t pend = f.pending();
        if (pend < 0) {
            ++log.protocol_errors;
            break;
        }
        take_some(f, pend, UINT32_MAX, answered, log);
        if (pend == 0 && (sent > total || f.free_slots() == 0)) {
            if (!f.sleep(lost_wakeup_limit)) {
                ++log.lost_wakeups;
                break;
            }
            ++log.woken;
        }
        if (std::chrono::steady_clock::now() > deadline) {
            ++log.stalled;
            break;
        }
    }
    log.done = answered;
}

template <class Back> void free_back(Back& b, side_log& log, std::uint32_t total)
{
    std::uint32_t taken = 0;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
        const std::int64_t pend = b.pending();
        if (pend < 0) {
            ++log.protocol_errors;
            break;
        }
        const std::uint32_t first = taken;
        take_some(b, pend, UINT32_MAX, taken, log);
        const std::uint32_t to_answer = std::min(taken, total) - std::min(first, total);
        for (std::uint32_t i = 0; i < to_answer; ++i)
            log.bad_payload += !b.produce(first + i);
        if (to_answer != 0 && b.push().notify) {
            b.notify_peer();
            ++log.notifications;
        }
        if (taken > total)
            break; // the stop request arrived; everything before it is answered
        if (pend == 0) {
            if (!b.sleep(lost_wakeup_limit)) {
                ++log.lost_wakeups;
                break;
            }
            ++log.woken;
        }
        if (std::chrono::steady_clock::now() > deadline) {
            ++log.stalled;
            break;
        }
    }
    log.done = std::min(taken, total);
}

template <class K, template <class> class FrontSide, template <class> class BackSide, bool FrontIsXen>
void run_free(std::size_t ring_bytes, std::uint32_t start, std::uint32_t total, std::uint32_t batch)
{
    xnv_test::shared_region shm(4096 + sizeof(control));
    const std::span<std::byte> ring_mem = shm.span(0, ring_bytes);
    auto* c = new (shm.data() + 4096) control{};
    {
        FrontSide<K> init(ring_mem, start, true);
    }
    eventfd_pair ch;
    auto front_end = [&] {
        FrontSide<K> f(ring_mem, start, false);
        f.channels(ch.to_front(), ch.to_back());
        free_front(f, c->front, total, batch);
    };
    auto back_end = [&] {
        BackSide<K> b(ring_mem, start, false);
        b.channels(ch.to_back(), ch.to_front());
        free_back(b, c->back, total);
    };
    xnv_test::child_process child([&] {
        if constexpr (FrontIsXen)
            front_end();
        else
            back_end();
        return 0;
    });
    if constexpr (FrontIsXen)
        back_end();
    else
        front_end();
    REQUIRE(child.join(90s) == 0);

    static constexpr const char* front_impl = FrontIsXen ? "Xen's macros" : "xnv";
    INFO("front end written with " << front_impl << ", batch " << batch);
    check_outcome_of(c->front, total);
    check_outcome_of(c->back, total);
    MESSAGE("free-running: " << total << " round trips, notifications front " << c->front.notifications << " back "
                             << c->back.notifications << ", sleeps ended by a wake-up front " << c->front.woken
                             << " back " << c->back.woken);
}

// Ring sizes: 1 KiB holds 64 slots of either netif ring, so the 64-entry ring fills and wraps
// often; 4 KiB is the real netif page of 256 slots.
constexpr std::size_t small_ring = 1024;
constexpr std::size_t page_ring = 4096;
static_assert(xnv::ring_entries_for<xnv::netif::tx_request, xnv::netif::tx_response>(small_ring) == 64);
static_assert(xnv::ring_entries_for<xnv::netif::rx_request, xnv::netif::rx_response>(small_ring) == 64);

const std::uint32_t lockstep_items = static_cast<std::uint32_t>(xnv_test::scaled(3000, 3));
const std::uint32_t free_items = static_cast<std::uint32_t>(xnv_test::scaled(60000, 20));

TEST_CASE_TEMPLATE("lock-step: a front end written with Xen's macros and an xnv back_ring decide alike", K, tx_kind,
                   rx_kind)
{
    SUBCASE("from Xen's SHARED_RING_INIT")
    {
        run_lockstep<K, xen_front_side, xnv_back_side, true>(small_ring, 0, lockstep_items);
    }
    SUBCASE("across the 2^32 wrap")
    {
        run_lockstep<K, xen_front_side, xnv_back_side, true>(small_ring, 0xFFFFFF00u, lockstep_items);
    }
}

TEST_CASE_TEMPLATE("lock-step: an xnv front_ring and a back end written with Xen's macros decide alike", K, tx_kind,
                   rx_kind)
{
    SUBCASE("from index 0")
    {
        run_lockstep<K, xnv_front_side, xen_back_side, false>(small_ring, 0, lockstep_items);
    }
    SUBCASE("across the 2^32 wrap")
    {
        run_lockstep<K, xnv_front_side, xen_back_side, false>(small_ring, 0xFFFFFF00u, lockstep_items);
    }
}

TEST_CASE_TEMPLATE("free-running: Xen-macro front end and xnv back end over eventfd event channels", K, tx_kind,
                   rx_kind)
{
    SUBCASE("one request per push")
    {
        run_free<K, xen_front_side, xnv_back_side, true>(page_ring, 0, free_items / 4, 1);
    }
    SUBCASE("batches of 32, across the wrap")
    {
        run_free<K, xen_front_side, xnv_back_side, true>(page_ring, 0xFFFFF000u, free_items, 32);
    }
}

TEST_CASE_TEMPLATE("free-running: xnv front end and Xen-macro back end over eventfd event channels", K, tx_kind,
                   rx_kind)
{
    SUBCASE("one request per push")
    {
        run_free<K, xnv_front_side, xen_back_side, false>(page_ring, 0, free_items / 4, 1);
    }
    SUBCASE("batches of 32, across the wrap")
    {
        run_free<K, xnv_front_side, xen_back_side, false>(small_ring, 0xFFFFF000u, free_items, 32);
    }
}

} // namespace
