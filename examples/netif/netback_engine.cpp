// SPDX-License-Identifier: MIT
#include "netback_engine.hpp"

#include "ref_backlog.hpp"
#include "ref_layout.hpp"

#include <xnv/mem/grant_table.hpp>
#include <xnv/notify/coalescer.hpp>
#include <xnv/notify/eventfd_channel.hpp>
#include <xnv/ring/ring.hpp>
#include <xnv/sched/balancer.hpp>
#include <xnv/sched/policies.hpp>
#include <xnv/sched/scheduler.hpp>
#include <xnv/wire/netif_back.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
#include <variant>

#include <sys/epoll.h>

namespace xnv::example {

namespace {

using tx_ring_t = back_ring<netif::tx_request, netif::tx_response>;
using rx_ring_t = back_ring<netif::rx_request, netif::rx_response>;
using tx_note_t = notify::coalescer<tx_ring_t, notify::eventfd_channel, runtime_policy>;
using rx_note_t = notify::coalescer<rx_ring_t, notify::eventfd_channel, runtime_policy>;

std::uint64_t now_ns() noexcept
{
    return static_cast<std::uint64_t>(steady_clock_source{}.now().count());
}

// A counter with one writer at a time (a tasklet never runs concurrently with itself, and the
// tasklet's run-to-run edge T2 orders its writers) and readers anywhere: relaxed load + store.
void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) noexcept
{
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

void cpu_relax() noexcept
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Bytes of a frame netback copies privately before it switches it: enough for Ethernet, IPv4
// or IPv6 and TCP/UDP ports. The switch decision and the flow hash read only this copy, so a
// guest rewriting its page meanwhile cannot make them inconsistent (XSA-155's rule).
constexpr std::uint32_t header_copy_bytes = 128;

std::uint32_t mix(std::uint64_t x) noexcept
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return static_cast<std::uint32_t>(x);
}

std::uint32_t be32(const std::byte* p) noexcept
{
    return (std::to_integer<std::uint32_t>(p[0]) << 24) | (std::to_integer<std::uint32_t>(p[1]) << 16) |
           (std::to_integer<std::uint32_t>(p[2]) << 8) | std::to_integer<std::uint32_t>(p[3]);
}

// Which of the destination's queues a frame goes to: its TCP/UDP flow when it has one (so a
// flow keeps its order and flows spread over queues), else the sending queue (a generator
// flow is one sending queue).
std::uint32_t flow_hash(const std::byte* h, std::uint32_t len, std::uint32_t sender_gid) noexcept
{
    if (len >= 14 + 20) {
        const unsigned type = (std::to_integer<unsigned>(h[12]) << 8) | std::to_integer<unsigned>(h[13]);
        const std::byte* ip = h + 14;
        if (type == 0x0800 && (std::to_integer<unsigned>(ip[0]) >> 4) == 4) {
            const std::uint32_t ihl = (std::to_integer<std::uint32_t>(ip[0]) & 15u) * 4;
            const unsigned proto = std::to_integer<unsigned>(ip[9]);
            if ((proto == 6 || proto == 17) && ihl >= 20 && 14 + ihl + 4 <= len)
                return mix((std::uint64_t{be32(ip + 12)} << 32 | be32(ip + 16)) ^
                           (std::uint64_t{be32(ip + ihl)} * 0x9E3779B97F4A7C15ULL) ^ proto);
        } else if (type == 0x86DD && len >= 14 + 40 + 4) {
            const unsigned nh = std::to_integer<unsigned>(ip[6]);
            if (nh == 6 || nh == 17) {
                std::uint64_t x = nh;
                for (int i = 0; i < 8; ++i)
                    x = x * 0x9E3779B97F4A7C15ULL + be32(ip + 8 + 4 * i);
                return mix(x ^ be32(ip + 40));
            }
        }
    }
    return mix(0xA5A5A5A5ULL ^ sender_gid);
}

// The checksum flags a receiving guest sees for a frame sent with these transmit flags.
std::uint16_t rx_flags_of(std::uint16_t tx_flags) noexcept
{
    return static_cast<std::uint16_t>(
        ((tx_flags & netif::txf::csum_blank) != 0 ? netif::rxf::csum_blank | netif::rxf::data_validated : 0) |
        ((tx_flags & netif::txf::data_validated) != 0 ? netif::rxf::data_validated : 0));
}

// A small test-and-test-and-set lock for the MAC table: held for one hash probe.
class spin_lock {
public:
    void lock() noexcept
    {
        while (flag_.exchange(true, std::memory_order_acquire))
            while (flag_.load(std::memory_order_relaxed))
                cpu_relax();
    }
    void unlock() noexcept { flag_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> flag_{false};
};

} // namespace

std::string_view to_string(nb_drop d) noexcept
{
    switch (d) {
    case nb_drop::tx_malformed: return "tx_malformed";
    case nb_drop::tx_no_destination: return "tx_no_destination";
    case nb_drop::tx_hairpin: return "tx_hairpin";
    case nb_drop::rx_expired: return "rx_expired";
    case nb_drop::rx_too_large: return "rx_too_large";
    }
    return "?";
}

nb_queue_stats nb_vif_stats::total() const
{
    nb_queue_stats t;
    for (const auto& q : queues) {
        t.tx_packets += q.tx_packets;
        t.tx_bytes += q.tx_bytes;
        t.rx_packets += q.rx_packets;
        t.rx_bytes += q.rx_bytes;
        t.kicks += q.kicks;
        t.spurious_kicks += q.spurious_kicks;
        t.backoff_engaged += q.backoff_engaged;
        t.tx_blocked += q.tx_blocked;
        t.mcast_requests += q.mcast_requests;
        t.tx_gso += q.tx_gso;
        t.rx_gso += q.rx_gso;
        t.tx_multislot += q.tx_multislot;
        t.backlog_bytes += q.backlog_bytes;
        for (std::size_t i = 0; i < nb_drop_count; ++i)
            t.drops[i] += q.drops[i];
        auto add = [](notify::counters_snapshot& a, const notify::counters_snapshot& b) {
            a.publications += b.publications;
            a.items += b.items;
            a.bytes += b.bytes;
            a.sent += b.sent;
            a.suppressed += b.suppressed;
            a.wakeups += b.wakeups;
            a.spurious += b.spurious;
            a.delivered += b.delivered;
        };
        add(t.tx_notify, q.tx_notify);
        add(t.rx_notify, q.rx_notify);
    }
    return t;
}

// ------------------------------------------------------------------------------------ state

struct nb_vif;
struct nb_queue;

/// A switch port: the slot a vif occupies. Other threads (TX tasklets switching a frame to it,
/// the event thread, RX tasklets waking waiters) reach a vif only through `acquire`, which the
/// teardown excludes:
///  P1 acquire: seq_cst increment of `users`, then seq_cst load of `open`; teardown: seq_cst
///     store of `open = false`, then seq_cst loads of `users` until 0. In the total order of
///     seq_cst operations either the acquirer sees the port closed, or the teardown sees it
///     counted and waits.
///  P2 release: the decrement is a release; the teardown's load that reads 0 (seq_cst, so an
///     acquire) makes every access the user made happen before the vif is freed.
///  P3 opening: `gen` and `vif` are written before the seq_cst (release) store of
///     `open = true`, so an acquirer that sees the port open sees them.
struct port_slot {
    std::atomic<std::uint32_t> users{0};
    std::atomic<bool> open{false};
    std::atomic<std::uint32_t> gen{0};
    std::atomic<nb_vif*> vif{nullptr};

    /// The vif, counted as in use, if the port is open (and of generation `want` unless
    /// `any` is set); nullptr otherwise.
    nb_vif* acquire(std::uint32_t want, bool any = false) noexcept
    {
        users.fetch_add(1, std::memory_order_seq_cst); // P1
        if (open.load(std::memory_order_seq_cst) &&
            (any || gen.load(std::memory_order_relaxed) == want)) // P3: ordered by the load of open
            return vif.load(std::memory_order_relaxed);
        users.fetch_sub(1, std::memory_order_release);
        return nullptr;
    }
    void release() noexcept { users.fetch_sub(1, std::memory_order_release); } // P2

    void close_and_drain() noexcept
    {
        open.store(false, std::memory_order_seq_cst); // P1
        unsigned spins = 0;
        while (users.load(std::memory_order_seq_cst) != 0) { // P1, P2
            if (++spins < 64)
                cpu_relax();
            else
                std::this_thread::yield();
        }
    }
};

struct dest_ref {
    std::uint32_t slot = 0;
    std::uint32_t gen = 0;
};

// The last unicast decision of one TX queue, reused for a millisecond: a stream to one
// destination takes the MAC table's lock once per millisecond rather than once per frame.
struct switch_cache {
    mac_addr src{};
    mac_addr dst{};
    dest_ref to{};
    std::uint64_t until_ns = 0;
    bool valid = false;
};

struct nb_vif {
    std::uint32_t slot = 0;
    std::uint32_t gen = 0;
    std::string name;
    control::negotiated params{};
    mem::shared_region region;
    std::uint64_t connected_ns = 0;
    std::atomic<bool> failed{false};
    std::vector<std::unique_ptr<nb_queue>> queues;
    std::vector<source_id> sources;
};

using balancer_variant =
    std::variant<std::monostate, tasklet_balancer<dispatch::all_on_first>,
                 tasklet_balancer<dispatch::least_loaded_at_connect>, tasklet_balancer<dispatch::round_robin>,
                 tasklet_balancer<dispatch::hysteresis_balanced>>;

struct netback_engine::impl {
    explicit impl(const netback_config& c);
    ~impl();

    void report_failure(nb_vif& v, std::string reason);
    void wake_waiter(std::uint32_t gid) noexcept;
    void event_loop() noexcept;
    void on_kick(nb_queue& q, std::uint64_t data, bool second, std::uint64_t now) noexcept;
    void unpark_due(std::uint64_t now) noexcept;
    nb_vif_stats stats_of(const nb_vif& v, std::uint64_t now) const;

    netback_config cfg;
    std::uint64_t start_ns = now_ns();
    tasklet_scheduler sched;
    balancer_variant balancer;
    std::unique_ptr<port_slot[]> ports;
    std::vector<std::unique_ptr<nb_vif>> vifs; // by slot; control thread only
    mac_table macs;
    mutable spin_lock mac_lock;
    std::uint64_t expire_ns;

    mem::unique_fd epoll;
    notify::eventfd_channel stop_bell;
    // Event channels the spurious-kick back-off took out of the epoll set, and until when
    // (event thread only; reserved once for every channel there can be).
    struct parked_channel {
        std::uint64_t data = 0; // the epoll tag: generation, queue id, channel
        int fd = -1;
        std::uint64_t until_ns = 0;
    };
    std::vector<parked_channel> parked;
    std::thread events;

    std::mutex failure_mutex;
    std::vector<failure> failures;
    notify::eventfd_channel failure_bell;

    std::uint64_t vifs_connected = 0;
    std::uint64_t vifs_removed = 0;

    // The uplink port (netback_engine::attach_uplink). Set before any vif exists and kept until
    // the engine goes, so TX tasklets use it without a port_slot: it cannot leave under them.
    // Its switch port number is max_vifs, one past every vif slot.
    [[nodiscard]] std::uint32_t uplink_port() const noexcept { return cfg.max_vifs; }
    uplink_verdict from_uplink(std::span<const std::byte> frame, const frame_meta& m) noexcept;
    std::unique_ptr<uplink_tap> uplink;
};

/// One queue of a vif: its rings, grant copiers, event channels, RX backlog and tasklet pair.
struct nb_queue {
    nb_queue(netback_engine::impl& e, nb_vif& v, std::uint32_t idx, control::queue_setup& s);

    xnv::poll_result tx_run(std::uint32_t budget) noexcept;
    xnv::poll_result rx_run(std::uint32_t budget) noexcept;

    enum class step : std::uint8_t { done, blocked, bad_grant };
    step deliver(std::uint64_t now) noexcept;
    bool copy_frame(std::span<std::byte> dst) noexcept;
    bool decide(std::uint64_t now) noexcept;
    void fail(std::string reason) { eng->report_failure(*vif, std::move(reason)); }

    netback_engine::impl* eng;
    nb_vif* vif;
    std::uint32_t index;
    std::uint32_t gid;
    bool split;
    std::uint32_t rx_max_data_slots;

    tx_ring_t tx_ring;
    rx_ring_t rx_ring;
    netif::tx_backend<> txb;
    netif::rx_backend<> rxb;
    mem::grant_copier tx_gc;
    mem::grant_copier rx_gc;
    std::vector<notify::eventfd_channel> in;  // frontend -> netback, per channel
    std::vector<notify::eventfd_channel> out; // netback -> frontend, per channel
    notify::channel_counters tx_nc;
    notify::channel_counters rx_nc;
    tx_note_t tx_note;
    rx_note_t rx_note;
    rx_backlog backlog;

    // TX tasklet state: the frame being forwarded (held while a destination is full).
    netif::tx_packet pkt{};
    bool holding = false;
    std::atomic<bool> holding_hint{false};
    std::array<std::byte, header_copy_bytes> hdr{};
    std::uint32_t hdr_len = 0;
    std::vector<dest_ref> dests;
    std::uint32_t ndest = 0;
    std::uint32_t next_dest = 0;
    std::uint32_t flow = 0;
    bool delivered_any = false;
    switch_cache cache;
    std::unique_ptr<std::byte[]> uplink_buf; // a whole frame bound for the uplink (only with one)

    // The event thread's view of each event channel, for the spurious-kick back-off: the peer's
    // request producer indices when the channel last fired, and the back-off state. Touched by
    // the event thread only (it reaches the queue through an acquired port, P1/P3).
    struct kick_state {
        notify::spurious_backoff backoff;
        std::uint32_t seen_tx = 0;
        std::uint32_t seen_rx = 0;
    };
    std::array<kick_state, 2> kick_st;

    // Counters (one writer each: the TX tasklet, the RX tasklet, the event thread).
    std::atomic<std::uint64_t> tx_packets{0}, tx_bytes{0}, rx_packets{0}, rx_bytes{0}, kicks{0}, tx_blocked{0},
        mcast{0}, tx_gso{0}, rx_gso{0}, tx_multislot{0}, spurious_kicks{0}, backoff_engaged{0};
    std::array<std::atomic<std::uint64_t>, nb_drop_count> drops{};

    // Last: destroyed first, so no run can outlive the state above.
    tasklet tx_t;
    tasklet rx_t;

    void drop(nb_drop d) noexcept { bump(drops[static_cast<std::size_t>(d)]); }
};

namespace {

std::span<std::byte> part(mem::shared_region& r, std::uint64_t offset, std::uint64_t bytes, const char* what)
{
    if (offset > r.size() || bytes > r.size() - offset)
        throw std::invalid_argument(std::string("vif layout: ") + what + " lies outside the shared region");
    return r.bytes().subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(bytes));
}

notify::eventfd_channel adopt(mem::unique_fd& fd)
{
    if (!fd)
        throw std::invalid_argument("vif setup: missing event channel descriptor");
    notify::eventfd_channel ch(notify::adopt_fd, fd.get());
    static_cast<void>(fd.release()); // the channel owns it now
    return ch;
}

} // namespace

nb_queue::nb_queue(netback_engine::impl& e, nb_vif& v, std::uint32_t idx, control::queue_setup& s)
    : eng(&e), vif(&v), index(idx), gid(v.slot * control::max_queues + idx), split(s.event_channels == 2),
      rx_max_data_slots(v.params.sg ? netif::nr_slots_min : 1),
      tx_ring(part(v.region, s.tx_ring_offset, ring_bytes, "TX ring")),
      rx_ring(part(v.region, s.rx_ring_offset, ring_bytes, "RX ring")), txb(tx_ring), rxb(rx_ring),
      tx_gc(part(v.region, s.tx_grants.offset, s.tx_grants.bytes(), "TX grant area"), geometry_of(s.tx_grants),
            backend_domain),
      rx_gc(part(v.region, s.rx_grants.offset, s.rx_grants.bytes(), "RX grant area"), geometry_of(s.rx_grants),
            backend_domain),
      in([&] {
          std::vector<notify::eventfd_channel> c;
          c.push_back(adopt(s.event_fds[0]));
          if (s.event_channels == 2)
              c.push_back(adopt(s.event_fds[2]));
          return c;
      }()),
      out([&] {
          std::vector<notify::eventfd_channel> c;
          c.push_back(adopt(s.event_fds[1]));
          if (s.event_channels == 2)
              c.push_back(adopt(s.event_fds[3]));
          return c;
      }()),
      tx_note(tx_ring, out[0], runtime_policy(e.cfg.coalesce), tx_nc),
      rx_note(rx_ring, out[split ? 1 : 0], runtime_policy(e.cfg.coalesce), rx_nc),
      backlog(e.cfg.rx_queue_bytes, e.cfg.max_vifs * control::max_queues), dests(e.cfg.max_vifs + 1),
      kick_st{kick_state{notify::spurious_backoff(e.cfg.kick_backoff)},
              kick_state{notify::spurious_backoff(e.cfg.kick_backoff)}},
      tx_t(e.sched.worker(0), queue_kind::tx, [this](std::uint32_t b) noexcept { return tx_run(b); }),
      rx_t(e.sched.worker(0), queue_kind::rx, [this](std::uint32_t b) noexcept { return rx_run(b); })
{
    if (e.uplink)
        uplink_buf = std::make_unique<std::byte[]>(netif::max_tx_size);
}

// ------------------------------------------------------------------------------------ TX

// Copy the whole frame into `dst` (the destination backlog's record): the header from the
// private copy, the rest straight out of the guest's granted pages.
bool nb_queue::copy_frame(std::span<std::byte> dst) noexcept
{
    std::memcpy(dst.data(), hdr.data(), hdr_len);
    std::size_t at = hdr_len;
    for (std::uint32_t i = 0; i < pkt.nr_frags; ++i) {
        const netif::tx_fragment& f = pkt.frags[i];
        const std::uint32_t skip = i == 0 ? hdr_len : 0;
        if (f.size <= skip)
            continue;
        mem::grant_copy_op op{mem::copy_direction::from_grant, f.gref, static_cast<std::uint16_t>(f.offset + skip),
                              static_cast<std::uint16_t>(f.size - skip), dst.data() + at};
        if (tx_gc.copy(op) != mem::grant_status::okay)
            return false;
        at += f.size - skip;
    }
    return at == dst.size();
}

// Where the frame in `pkt` (header in `hdr`) goes: learn its source, look up its destination.
// Returns true for a hairpin (the destination is the sender itself); `ndest` may be 0 also
// when a flood finds no other port.
bool nb_queue::decide(std::uint64_t now) noexcept
{
    ndest = 0;
    next_dest = 0;
    delivered_any = false;
    const mac_addr dst = mac_addr::from({hdr.data(), 6});
    const mac_addr src = mac_addr::from({hdr.data() + 6, 6});
    if (!dst.is_group() && cache.valid && now < cache.until_ns && cache.src == src && cache.dst == dst) {
        dests[0] = cache.to;
        ndest = 1;
        return false;
    }
    eng->mac_lock.lock();
    const forward_decision d = eng->macs.forward(src, dst, vif->slot, nanos(static_cast<nanos::rep>(now)));
    eng->mac_lock.unlock();
    if (d.flooded()) {
        cache.valid = false;
        for (std::uint32_t s = 0; s < eng->cfg.max_vifs; ++s)
            if (s != vif->slot && eng->ports[s].open.load(std::memory_order_relaxed))
                dests[ndest++] = dest_ref{s, eng->ports[s].gen.load(std::memory_order_relaxed)};
        if (eng->uplink)
            dests[ndest++] = dest_ref{eng->uplink_port(), 0};
        return false;
    }
    if (d.port == vif->slot || d.port > eng->uplink_port() || (d.port == eng->uplink_port() && !eng->uplink))
        return true;
    dests[0] = dest_ref{d.port, d.port == eng->uplink_port()
                                    ? 0
                                    : eng->ports[d.port].gen.load(std::memory_order_relaxed)};
    ndest = 1;
    cache = switch_cache{src, dst, dests[0], now + 1'000'000, true};
    return false;
}

// Copy the held frame into the backlog of each destination not yet served.
nb_queue::step nb_queue::deliver(std::uint64_t now) noexcept
{
    const backlog_meta meta{pkt.total, rx_flags_of(pkt.flags), pkt.gso.type, pkt.gso.size, now};
    while (next_dest < ndest) {
        const dest_ref d = dests[next_dest];
        if (d.slot == eng->uplink_port()) {
            // To the uplink: copied once into this queue's scratch (so the virtio_net_hdr is
            // derived from the same bytes the kernel gets), then one non-blocking write. A
            // refused write is the uplink's write_errors; the frame counts as delivered.
            if (!copy_frame(std::span<std::byte>(uplink_buf.get(), pkt.total)))
                return step::bad_grant;
            frame_meta m;
            m.csum_flags = meta.flags;
            m.gso = pkt.gso;
            (void)eng->uplink->write(std::span<const std::byte>(uplink_buf.get(), pkt.total), m);
            delivered_any = true;
            ++next_dest;
            continue;
        }
        port_slot& port = eng->ports[d.slot];
        nb_vif* dv = port.acquire(d.gen);
        if (dv == nullptr || dv->failed.load(std::memory_order_relaxed)) {
            if (dv != nullptr)
                port.release();
            ++next_dest; // left meanwhile
            continue;
        }
        nb_queue& dq = *dv->queues[flow % dv->queues.size()];
        const enqueue_status st = dq.backlog.try_enqueue(meta, [this](std::span<std::byte> b) noexcept {
            return copy_frame(b);
        });
        switch (st) {
        case enqueue_status::queued:
            dq.rx_t.schedule();
            port.release();
            delivered_any = true;
            ++next_dest;
            break;
        case enqueue_status::fill_failed:
            port.release();
            return step::bad_grant;
        case enqueue_status::no_room: {
            const bool room = dq.backlog.wait_for_room(gid, pkt.total);
            port.release();
            if (room)
                break; // freed meanwhile: try again
            bump(tx_blocked);
            return step::blocked;
        }
        case enqueue_status::too_large:
            port.release();
            ++next_dest;
            break;
        }
    }
    return step::done;
}

xnv::poll_result nb_queue::tx_run(std::uint32_t budget) noexcept
{
    if (vif->failed.load(std::memory_order_relaxed))
        return xnv::poll_result::finished(0);
    const std::uint64_t now = now_ns();
    if (tx_note.next_deadline() != notify::no_deadline && nanos(static_cast<nanos::rep>(now)) >= tx_note.next_deadline())
        (void)tx_note.on_timer();

    std::uint32_t done = 0;
    std::uint64_t bytes = 0;
    bool stop = false;
    auto finish_frame = [&] {
        if (!delivered_any)
            drop(nb_drop::tx_no_destination);
        (void)txb.respond(pkt, netif::status::okay);
        bump(tx_packets);
        bump(tx_bytes, pkt.total);
        bytes += pkt.total;
        ++done;
    };
    auto bad_grant = [&] {
        (void)txb.respond(pkt, netif::status::error);
        holding = false;
        holding_hint.store(false, std::memory_order_relaxed);
        fail("TX grant copy failed (bad grant reference, offset or permission)");
        stop = true;
    };

    if (holding) {
        const step s = deliver(now);
        if (s == step::blocked) {
            (void)tx_note.publish(bytes);
            return xnv::poll_result::finished(0);
        }
        if (s == step::bad_grant) {
            bad_grant();
        } else {
            holding = false;
            holding_hint.store(false, std::memory_order_relaxed);
            finish_frame();
        }
    }

    while (!stop && done < budget) {
        const netif::tx_parse_result r = txb.parse(pkt);
        switch (r.verdict) {
        case netif::tx_verdict::empty:
        case netif::tx_verdict::incomplete: {
            // Drained: re-arm the event index (Xen's RING_FINAL_CHECK_FOR_REQUESTS) and look once
            // more, so a request published meanwhile is either seen now or notified.
            const ring_count c = tx_ring.final_check(1);
            if (!c.ok()) {
                fail(std::string("TX ring: ") + std::string(xnv::to_string(c.error)));
                stop = true;
            } else if (c.count == 0) {
                stop = true;
            }
            break;
        }
        case netif::tx_verdict::fatal:
            fail(std::string("TX request: ") + std::string(netif::to_string(r.error)));
            stop = true;
            break;
        case netif::tx_verdict::drop:
            (void)txb.respond(pkt, netif::status::error);
            drop(nb_drop::tx_malformed);
            ++done;
            break;
        case netif::tx_verdict::control:
            (void)txb.respond(pkt, netif::status::okay);
            bump(mcast);
            ++done;
            break;
        case netif::tx_verdict::ok: {
            if (pkt.gso.present())
                bump(tx_gso);
            if (pkt.nr_frags > 1)
                bump(tx_multislot);
            const netif::tx_fragment& f0 = pkt.frags[0];
            hdr_len = std::min<std::uint32_t>(f0.size, header_copy_bytes);
            mem::grant_copy_op op{mem::copy_direction::from_grant, f0.gref, f0.offset,
                                  static_cast<std::uint16_t>(hdr_len), hdr.data()};
            if (tx_gc.copy(op) != mem::grant_status::okay) {
                bad_grant();
                break;
            }
            const bool hairpin = decide(now);
            if (ndest == 0) {
                // Nowhere to go: the guest's transmit still succeeded, as on a bridge.
                drop(hairpin ? nb_drop::tx_hairpin : nb_drop::tx_no_destination);
                (void)txb.respond(pkt, netif::status::okay);
                bump(tx_packets);
                bump(tx_bytes, pkt.total);
                ++done;
                break;
            }
            flow = flow_hash(hdr.data(), hdr_len, gid);
            const step s = deliver(now);
            if (s == step::blocked) {
                // Back-pressure: the frame stays off the wire (and its slots unanswered) until
                // the destination's RX tasklet frees room and wakes this tasklet.
                holding = true;
                holding_hint.store(true, std::memory_order_relaxed);
                stop = true;
            } else if (s == step::bad_grant) {
                bad_grant();
            } else {
                finish_frame();
            }
            break;
        }
        }
    }
    (void)tx_note.publish(bytes);
    if (vif->failed.load(std::memory_order_relaxed) || holding)
        return xnv::poll_result::finished(done, bytes);
    if (done >= budget || tx_note.next_deadline() != notify::no_deadline)
        return xnv::poll_result::more(done, bytes);
    return xnv::poll_result::finished(done, bytes);
}

// ------------------------------------------------------------------------------------ RX

xnv::poll_result nb_queue::rx_run(std::uint32_t budget) noexcept
{
    if (vif->failed.load(std::memory_order_relaxed))
        return xnv::poll_result::finished(0);
    const std::uint64_t now = now_ns();
    if (rx_note.next_deadline() != notify::no_deadline && nanos(static_cast<nanos::rep>(now)) >= rx_note.next_deadline())
        (void)rx_note.on_timer();

    std::uint32_t done = 0;
    std::uint64_t bytes = 0;
    bool freed = false;
    bool failed = false;
    while (done < budget) {
        const backlog_frame f = backlog.front();
        if (f.data == nullptr)
            break;
        if (now > f.meta.enqueued_ns && now - f.meta.enqueued_ns > eng->expire_ns) {
            backlog.pop();
            drop(nb_drop::rx_expired);
            freed = true;
            continue;
        }
        netif::gso_info gso{};
        if ((f.meta.gso_type == netif::gso_type::tcpv4 && vif->params.gso_tcpv4) ||
            (f.meta.gso_type == netif::gso_type::tcpv6 && vif->params.gso_tcpv6))
            gso = netif::gso_info{f.meta.gso_type, f.meta.gso_size};
        if ((f.meta.size + netif::page_size - 1) / netif::page_size > rx_max_data_slots) {
            backlog.pop();
            drop(nb_drop::rx_too_large);
            freed = true;
            continue;
        }
        mem::grant_status copy_status = mem::grant_status::okay;
        const netif::rx_reserve_result r =
            rxb.deliver(netif::rx_packet_info{f.meta.size, f.meta.flags, gso}, [&](const netif::rx_slot& s) noexcept {
                mem::grant_copy_op op{mem::copy_direction::to_grant, s.gref, 0, s.size,
                                      const_cast<std::byte*>(f.data + s.packet_offset)};
                const mem::grant_status st = rx_gc.copy(op);
                if (st != mem::grant_status::okay && copy_status == mem::grant_status::okay)
                    copy_status = st;
                return st == mem::grant_status::okay;
            });
        if (!r.ok()) {
            if (r.error == netif::rx_back_error::need_buffers) {
                // Too few buffers posted: ask to be notified once the shortfall is posted.
                const ring_count c = rx_ring.final_check(r.needed - r.available);
                if (!c.ok()) {
                    fail(std::string("RX ring: ") + std::string(xnv::to_string(c.error)));
                    failed = true;
                } else if (c.count != 0) {
                    continue;
                }
                break;
            }
            fail(std::string("RX: ") + std::string(netif::to_string(r.error)));
            failed = true;
            break;
        }
        backlog.pop();
        freed = true;
        ++done;
        bytes += f.meta.size;
        bump(rx_packets);
        bump(rx_bytes, f.meta.size);
        if (gso.present())
            bump(rx_gso);
        if (copy_status != mem::grant_status::okay) {
            fail(std::string("RX grant copy failed: ") + std::string(mem::to_string(copy_status)));
            failed = true;
            break;
        }
    }
    (void)rx_note.publish(bytes);
    if (freed)
        backlog.take_waiters([this](std::uint32_t g) noexcept { eng->wake_waiter(g); });
    if (failed)
        return xnv::poll_result::finished(done, bytes);
    if (done >= budget || rx_note.next_deadline() != notify::no_deadline)
        return xnv::poll_result::more(done, bytes);
    return xnv::poll_result::finished(done, bytes);
}

// ------------------------------------------------------------------------------------ engine

namespace {

scheduler_config scheduler_config_of(const netback_config& c)
{
    if (c.workers == 0)
        throw std::invalid_argument("netback: at least one worker is needed");
    if (c.tasklet_budget == 0)
        throw std::invalid_argument("netback: the tasklet budget must be at least 1");
    if (c.max_vifs == 0 || c.max_vifs > 1024)
        throw std::invalid_argument("netback: max_vifs must be 1..1024");
    if (c.rx_expire.count() <= 0)
        throw std::invalid_argument("netback: rx_expire must be positive");
    scheduler_config s;
    s.workers = c.workers;
    s.cpus = c.cpus;
    s.budgets.tasklet_budget = c.tasklet_budget;
    s.budgets.round_budget = std::max<std::uint32_t>(300, c.tasklet_budget);
    if (c.worker_idle_spin.count() < 0)
        throw std::invalid_argument("netback: the worker idle spin must not be negative");
    s.idle_spin = c.worker_idle_spin;
    return s;
}

} // namespace

netback_engine::impl::impl(const netback_config& c)
    : cfg(c), sched(scheduler_config_of(c)), ports(std::make_unique<port_slot[]>(c.max_vifs)), vifs(c.max_vifs),
      macs(c.mac_entries, c.mac_ageing),
      expire_ns(static_cast<std::uint64_t>(std::chrono::duration_cast<nanos>(c.rx_expire).count())),
      epoll(::epoll_create1(EPOLL_CLOEXEC))
{
    // Validate the backlog size and the policy once, here, with their own messages.
    if (cfg.rx_queue_bytes < rx_backlog::min_capacity)
        throw std::invalid_argument("netback: the RX queue cap must be at least " +
                                    std::to_string(rx_backlog::min_capacity) + " bytes (two 64 KiB frames)");
    cfg.rx_queue_bytes = (cfg.rx_queue_bytes + rx_backlog::align - 1) / rx_backlog::align * rx_backlog::align;
    (void)runtime_policy(cfg.coalesce);
    (void)notify::spurious_backoff(cfg.kick_backoff); // throws with its own message
    if (cfg.event_busy_poll.count() < 0)
        throw std::invalid_argument("netback: the event busy-poll time must not be negative");
    parked.reserve(std::size_t{cfg.max_vifs} * control::max_queues * 2);
    switch (cfg.dispatch) {
    case dispatch_choice::all_on_first:
        balancer.emplace<tasklet_balancer<dispatch::all_on_first>>(sched);
        break;
    case dispatch_choice::least_loaded:
        balancer.emplace<tasklet_balancer<dispatch::least_loaded_at_connect>>(sched);
        break;
    case dispatch_choice::round_robin:
        balancer.emplace<tasklet_balancer<dispatch::round_robin>>(sched);
        break;
    case dispatch_choice::hysteresis:
        balancer.emplace<tasklet_balancer<dispatch::hysteresis_balanced>>(sched);
        break;
    }
    if (!epoll)
        throw std::system_error(errno, std::generic_category(), "netback: epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = ~std::uint64_t{0};
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, stop_bell.fd(), &ev) != 0)
        throw std::system_error(errno, std::generic_category(), "netback: epoll_ctl");
    events = std::thread([this] { event_loop(); });
}

netback_engine::impl::~impl()
{
    stop_bell.notify();
    if (events.joinable())
        events.join();
}

void netback_engine::impl::report_failure(nb_vif& v, std::string reason)
{
    if (v.failed.exchange(true, std::memory_order_acq_rel))
        return;
    {
        std::lock_guard<std::mutex> g(failure_mutex);
        failures.push_back({v.slot, std::move(reason)});
    }
    failure_bell.notify();
}

void netback_engine::impl::wake_waiter(std::uint32_t gid) noexcept
{
    const std::uint32_t slot = gid / control::max_queues;
    const std::uint32_t q = gid % control::max_queues;
    if (slot >= cfg.max_vifs)
        return;
    port_slot& p = ports[slot];
    nb_vif* v = p.acquire(0, true);
    if (v == nullptr)
        return;
    if (q < v->queues.size())
        v->queues[q]->tx_t.schedule();
    p.release();
}

// The event thread: the event-channel upcall. A frontend's kick (its eventfd turning readable)
// schedules the queue's tasklet on the worker the dispatcher bound it to. The scheduler's
// workers sleep on a futex of their own and have no descriptor to poll, so one thread epolls
// every vif's eventfds and hands the work over with `tasklet::schedule`, exactly as an upcall
// raises a tasklet; which worker runs it is the dispatcher's business alone.
//
// Spurious-kick back-off (Xen's late EOI against event storms): a kick after which the peer's
// request producer index of the channel's ring(s) has not moved since the previous kick found
// nothing new. After `kick_backoff.tolerated` of those in a row the channel leaves the epoll set
// (EPOLL_CTL_MOD with no events) for the delay `spurious_backoff` returns, doubling per further
// spurious kick up to the cap; a kick that finds new requests resets it. No wake-up is lost
// while a channel is parked: the eventfd keeps counting kicks, and the level-triggered epoll
// reports it again as soon as the channel is put back.
void netback_engine::impl::event_loop() noexcept
{
    std::array<epoll_event, 64> evs{};
    const auto busy_poll_ns = static_cast<std::uint64_t>(std::chrono::duration_cast<nanos>(cfg.event_busy_poll).count());
    std::uint64_t last_event_ns = 0;
    for (;;) {
        const std::uint64_t before = now_ns();
        // How long epoll may sleep: not past the first parked channel's deadline, and not at
        // all while the busy-poll window after the last event is open.
        std::uint64_t sleep_ns = ~std::uint64_t{0};
        for (const parked_channel& pc : parked)
            sleep_ns = std::min(sleep_ns, pc.until_ns > before ? pc.until_ns - before : 0);
        if (busy_poll_ns != 0 && before - last_event_ns < busy_poll_ns)
            sleep_ns = 0;
        timespec ts{};
        const timespec* tsp = nullptr;
        if (sleep_ns != ~std::uint64_t{0}) {
            ts.tv_sec = static_cast<time_t>(sleep_ns / 1'000'000'000u);
            ts.tv_nsec = static_cast<long>(sleep_ns % 1'000'000'000u);
            tsp = &ts;
        }
        const int n = ::epoll_pwait2(epoll.get(), evs.data(), static_cast<int>(evs.size()), tsp, nullptr);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        const std::uint64_t now = now_ns();
        if (n > 0)
            last_event_ns = now;
        if (!parked.empty())
            unpark_due(now);
        for (int i = 0; i < n; ++i) {
            const std::uint64_t d = evs[static_cast<std::size_t>(i)].data.u64;
            if (d == ~std::uint64_t{0})
                return;
            const auto gen = static_cast<std::uint32_t>(d >> 32);
            const auto gid = static_cast<std::uint32_t>(d & 0xFFFFFFFFu) >> 1;
            const bool second = (d & 1u) != 0;
            const std::uint32_t slot = gid / control::max_queues;
            if (slot >= cfg.max_vifs)
                continue;
            port_slot& p = ports[slot];
            nb_vif* v = p.acquire(gen);
            if (v == nullptr)
                continue; // being torn down: its descriptors leave the epoll set next
            on_kick(*v->queues[gid % control::max_queues], d, second, now);
            p.release();
        }
    }
}

void netback_engine::impl::on_kick(nb_queue& q, std::uint64_t data, bool second, std::uint64_t now) noexcept
{
    notify::eventfd_channel& ch = q.in[second ? 1 : 0];
    (void)ch.try_consume();
    bump(q.kicks);
    const bool tx = !q.split || !second;
    const bool rx = !q.split || second;
    // The peer's producer indices are read only to compare them with the last kick's: relaxed
    // loads suffice, the tasklets do the acquire (E2) before they read any request.
    nb_queue::kick_state& k = q.kick_st[second ? 1 : 0];
    bool fresh = false;
    if (tx) {
        const std::uint32_t prod = std::atomic_ref<std::uint32_t>(*q.tx_ring.peer_index_word()).load(std::memory_order_relaxed);
        fresh |= prod != k.seen_tx;
        k.seen_tx = prod;
    }
    if (rx) {
        const std::uint32_t prod = std::atomic_ref<std::uint32_t>(*q.rx_ring.peer_index_word()).load(std::memory_order_relaxed);
        fresh |= prod != k.seen_rx;
        k.seen_rx = prod;
    }
    if (fresh) {
        k.backoff.on_work();
    } else {
        bump(q.spurious_kicks);
        const nanos delay = k.backoff.on_spurious();
        if (delay > nanos::zero()) {
            epoll_event ev{};
            ev.events = 0; // stays registered, reports nothing until put back
            ev.data.u64 = data;
            if (::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, ch.fd(), &ev) == 0) {
                bump(q.backoff_engaged);
                parked.push_back({data, ch.fd(), now + static_cast<std::uint64_t>(delay.count())});
                return;
            }
        }
    }
    // A tolerated spurious kick still schedules: an honest race (a kick for requests the
    // previous kick's run already took) costs one empty run, and a misjudged one costs nothing.
    if (tx)
        q.tx_t.schedule();
    if (rx)
        q.rx_t.schedule();
}

// Put channels whose back-off delay is over back into the epoll set. A vif that left meanwhile
// (its generation no longer open) is forgotten: its descriptors left the set with it.
void netback_engine::impl::unpark_due(std::uint64_t now) noexcept
{
    for (std::size_t i = 0; i < parked.size();) {
        const parked_channel pc = parked[i];
        if (pc.until_ns > now) {
            ++i;
            continue;
        }
        parked[i] = parked.back();
        parked.pop_back();
        const auto gid = static_cast<std::uint32_t>(pc.data & 0xFFFFFFFFu) >> 1;
        port_slot& p = ports[gid / control::max_queues];
        if (p.acquire(static_cast<std::uint32_t>(pc.data >> 32)) == nullptr)
            continue;
        // The port is held, so the descriptor is still the vif's own (not a reused number).
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = pc.data;
        (void)::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, pc.fd, &ev);
        p.release();
    }
}

nb_vif_stats netback_engine::impl::stats_of(const nb_vif& v, std::uint64_t now) const
{
    nb_vif_stats s;
    s.id = v.slot;
    s.name = v.name;
    s.mac = v.params.mac;
    s.params = v.params;
    s.connected_s = static_cast<double>(now - v.connected_ns) / 1e9;
    for (std::size_t i = 0; i < v.queues.size(); ++i) {
        const nb_queue& q = *v.queues[i];
        nb_queue_stats x;
        std::visit(
            [&](const auto& b) {
                if constexpr (!std::is_same_v<std::decay_t<decltype(b)>, std::monostate>)
                    if (i < v.sources.size())
                        x.worker = b.worker_of(v.sources[i]);
            },
            balancer);
        constexpr auto r = std::memory_order_relaxed;
        x.tx_packets = q.tx_packets.load(r);
        x.tx_bytes = q.tx_bytes.load(r);
        x.rx_packets = q.rx_packets.load(r);
        x.rx_bytes = q.rx_bytes.load(r);
        x.kicks = q.kicks.load(r);
        x.spurious_kicks = q.spurious_kicks.load(r);
        x.backoff_engaged = q.backoff_engaged.load(r);
        x.tx_blocked = q.tx_blocked.load(r);
        x.mcast_requests = q.mcast.load(r);
        x.tx_gso = q.tx_gso.load(r);
        x.rx_gso = q.rx_gso.load(r);
        x.tx_multislot = q.tx_multislot.load(r);
        x.tx_notify = q.tx_nc.snapshot();
        x.rx_notify = q.rx_nc.snapshot();
        for (std::size_t k = 0; k < nb_drop_count; ++k)
            x.drops[k] = q.drops[k].load(r);
        x.backlog_bytes = q.backlog.bytes_queued();
        s.queues.push_back(x);
    }
    return s;
}

netback_engine::netback_engine(const netback_config& cfg) : p_(std::make_unique<impl>(cfg)) {}

netback_engine::~netback_engine()
{
    if (!p_)
        return;
    if (p_->uplink)
        p_->uplink->stop(); // no more frames from the kernel; TX tasklets may still write until their vif goes
    for (std::uint32_t s = 0; s < p_->cfg.max_vifs; ++s)
        if (p_->vifs[s])
            (void)remove_vif(s, "netback shutting down");
}

const netback_config& netback_engine::config() const noexcept { return p_->cfg; }
int netback_engine::failure_fd() const noexcept { return p_->failure_bell.fd(); }

std::vector<netback_engine::failure> netback_engine::take_failures()
{
    (void)p_->failure_bell.try_consume();
    std::lock_guard<std::mutex> g(p_->failure_mutex);
    return std::exchange(p_->failures, {});
}

std::uint32_t netback_engine::add_vif(control::back_connection&& conn, std::string name)
{
    impl& e = *p_;
    std::uint32_t slot = e.cfg.max_vifs;
    for (std::uint32_t s = 0; s < e.cfg.max_vifs; ++s)
        if (!e.vifs[s]) {
            slot = s;
            break;
        }
    if (slot == e.cfg.max_vifs)
        throw std::runtime_error("netback: all " + std::to_string(e.cfg.max_vifs) + " switch ports are in use");
    if (conn.queues.empty() || conn.queues.size() > control::max_queues)
        throw std::invalid_argument("vif setup: queue count must be 1.." + std::to_string(control::max_queues));

    auto v = std::make_unique<nb_vif>();
    v->slot = slot;
    v->gen = e.ports[slot].gen.load(std::memory_order_relaxed) + 1;
    v->name = std::move(name);
    v->params = conn.params;
    v->region = std::move(conn.region);
    v->connected_ns = now_ns();
    for (std::uint32_t i = 0; i < conn.queues.size(); ++i)
        v->queues.push_back(std::make_unique<nb_queue>(e, *v, i, conn.queues[i]));

    // Open the port (P3), then make it reachable: dispatcher, then events.
    port_slot& p = e.ports[slot];
    p.vif.store(v.get(), std::memory_order_relaxed);
    p.gen.store(v->gen, std::memory_order_relaxed);
    p.open.store(true, std::memory_order_seq_cst);
    std::visit(
        [&](auto& b) {
            if constexpr (!std::is_same_v<std::decay_t<decltype(b)>, std::monostate>)
                for (auto& q : v->queues)
                    v->sources.push_back(b.attach({&q->tx_t, &q->rx_t}));
        },
        e.balancer);
    for (auto& q : v->queues) {
        for (std::size_t c = 0; c < q->in.size(); ++c) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = (std::uint64_t{v->gen} << 32) | (std::uint64_t{q->gid} << 1) | c;
            if (::epoll_ctl(e.epoll.get(), EPOLL_CTL_ADD, q->in[c].fd(), &ev) != 0) {
                const int err = errno;
                e.vifs[slot] = std::move(v);
                (void)remove_vif(slot, "setup failed");
                throw std::system_error(err, std::generic_category(), "netback: epoll_ctl");
            }
        }
    }
    e.vifs[slot] = std::move(v);
    ++e.vifs_connected;
    // The frontend may have posted RX buffers and queued frames before it was connected.
    for (auto& q : e.vifs[slot]->queues) {
        q->tx_t.schedule();
        q->rx_t.schedule();
    }
    return slot;
}

nb_vif_stats netback_engine::remove_vif(std::uint32_t id, std::string reason)
{
    impl& e = *p_;
    if (id >= e.cfg.max_vifs || !e.vifs[id])
        return {};
    nb_vif& v = *e.vifs[id];
    for (auto& q : v.queues)
        for (auto& ch : q->in)
            (void)::epoll_ctl(e.epoll.get(), EPOLL_CTL_DEL, ch.fd(), nullptr);
    e.ports[id].close_and_drain(); // no other thread reaches the vif from here on (P1, P2)
    std::vector<worker_id> placed;
    std::visit(
        [&](auto& b) {
            if constexpr (!std::is_same_v<std::decay_t<decltype(b)>, std::monostate>)
                for (source_id s : v.sources)
                    placed.push_back(b.worker_of(s));
        },
        e.balancer);
    std::visit(
        [&](auto& b) {
            if constexpr (!std::is_same_v<std::decay_t<decltype(b)>, std::monostate>)
                for (source_id s : v.sources)
                    b.detach(s);
        },
        e.balancer);
    for (auto& q : v.queues) {
        q->tx_t.disable();
        q->rx_t.disable();
    }
    for (auto& q : v.queues) {
        q->tx_t.kill();
        q->rx_t.kill();
    }
    // Senders waiting for room in this vif's backlogs would wait forever: wake them (their
    // frames for it are then counted as tx_no_destination).
    for (auto& q : v.queues)
        q->backlog.take_waiters([&](std::uint32_t g) noexcept { e.wake_waiter(g); });
    e.mac_lock.lock();
    e.macs.forget_port(id);
    e.mac_lock.unlock();
    nb_vif_stats s = e.stats_of(v, now_ns());
    for (std::size_t i = 0; i < s.queues.size() && i < placed.size(); ++i)
        s.queues[i].worker = placed[i]; // where the queue last ran
    s.live = false;
    s.close_reason = std::move(reason);
    e.ports[id].vif.store(nullptr, std::memory_order_relaxed);
    e.vifs[id].reset();
    ++e.vifs_removed;
    return s;
}

void netback_engine::tick()
{
    impl& e = *p_;
    std::visit(
        [](auto& b) {
            if constexpr (!std::is_same_v<std::decay_t<decltype(b)>, std::monostate>)
                (void)b.poll();
        },
        e.balancer);
    // Backlogs whose guest posts no buffers get their RX tasklet run anyway, so old frames
    // expire and the senders they block are released; a sender holding a frame is retried in
    // case its wake-up raced with a teardown.
    for (std::uint32_t s = 0; s < e.cfg.max_vifs; ++s) {
        if (!e.vifs[s])
            continue;
        for (auto& q : e.vifs[s]->queues) {
            if (!q->backlog.empty())
                q->rx_t.schedule();
            if (q->holding_hint.load(std::memory_order_relaxed))
                q->tx_t.schedule();
        }
    }
}

std::vector<std::uint32_t> netback_engine::vif_ids() const
{
    std::vector<std::uint32_t> ids;
    for (std::uint32_t s = 0; s < p_->cfg.max_vifs; ++s)
        if (p_->vifs[s])
            ids.push_back(s);
    return ids;
}

nb_snapshot netback_engine::snapshot() const
{
    const impl& e = *p_;
    const std::uint64_t now = now_ns();
    nb_snapshot s;
    s.uptime_s = static_cast<double>(now - e.start_ns) / 1e9;
    for (std::uint32_t i = 0; i < e.cfg.max_vifs; ++i)
        if (e.vifs[i])
            s.vifs.push_back(e.stats_of(*e.vifs[i], now));
    for (std::uint32_t w = 0; w < e.sched.size(); ++w)
        s.workers.push_back(e.sched.stats(w));
    std::visit(
        [&](const auto& b) {
            if constexpr (!std::is_same_v<std::decay_t<decltype(b)>, std::monostate>) {
                s.active_workers = b.dispatcher().active_workers();
                s.dispatcher_moves = b.dispatcher().moves().size();
            }
        },
        e.balancer);
    s.vifs_connected = e.vifs_connected;
    s.vifs_removed = e.vifs_removed;
    e.mac_lock.lock();
    s.sw = e.macs.counters();
    e.mac_lock.unlock();
    if (e.uplink)
        s.uplink = e.uplink->stats();
    return s;
}

// ------------------------------------------------------------------------------------ uplink

void netback_engine::attach_uplink(std::unique_ptr<uplink_tap> up)
{
    impl& e = *p_;
    if (!up)
        throw std::logic_error("netback: attach_uplink needs an uplink");
    if (e.uplink)
        throw std::logic_error("netback: an uplink is attached already");
    if (e.vifs_connected != 0)
        throw std::logic_error("netback: the uplink must be attached before any vif");
    e.uplink = std::move(up);
    e.uplink->start([&e](std::span<const std::byte> f, const frame_meta& m) noexcept { return e.from_uplink(f, m); });
}

// A frame the uplink's reader thread read from the kernel: learn its source on the uplink port,
// then queue it in the backlog of each destination vif (all of them for a flood). A full
// backlog drops the frame for that vif: the reader never waits for a guest, and holding the
// frame would stall every other vif's traffic from the uplink behind it. Vifs are reached
// through port_slot::acquire (P1-P3), so one leaving meanwhile is skipped, never touched freed.
uplink_verdict netback_engine::impl::from_uplink(std::span<const std::byte> f, const frame_meta& m) noexcept
{
    uplink_verdict v;
    const std::uint64_t now = now_ns();
    const mac_addr dst = mac_addr::from(f.first(6));
    const mac_addr src = mac_addr::from(f.subspan(6, 6));
    mac_lock.lock();
    const forward_decision d = macs.forward(src, dst, uplink_port(), nanos(static_cast<nanos::rep>(now)));
    mac_lock.unlock();
    if (!d.flooded() && d.port == uplink_port()) {
        v.hairpin = true;
        return v;
    }
    const backlog_meta meta{static_cast<std::uint32_t>(f.size()), rx_flags_of(m.csum_flags), m.gso.type, m.gso.size,
                            now};
    // The uplink's own waiter id: one past every vif queue's (it never registers as a waiter).
    const std::uint32_t flow = flow_hash(f.data(), static_cast<std::uint32_t>(std::min<std::size_t>(f.size(), header_copy_bytes)),
                                         cfg.max_vifs * control::max_queues);
    auto to = [&](std::uint32_t slot) noexcept {
        port_slot& p = ports[slot];
        nb_vif* dv = p.acquire(0, true);
        if (dv == nullptr)
            return;
        if (!dv->failed.load(std::memory_order_relaxed)) {
            nb_queue& dq = *dv->queues[flow % dv->queues.size()];
            const enqueue_status st = dq.backlog.try_enqueue(meta, [&](std::span<std::byte> b) noexcept {
                std::memcpy(b.data(), f.data(), b.size());
                return true;
            });
            if (st == enqueue_status::queued) {
                dq.rx_t.schedule();
                ++v.delivered;
            } else if (st == enqueue_status::no_room) {
                ++v.full;
            }
        }
        p.release();
    };
    if (d.flooded()) {
        for (std::uint32_t s = 0; s < cfg.max_vifs; ++s)
            if (ports[s].open.load(std::memory_order_relaxed))
                to(s);
    } else if (d.port < cfg.max_vifs) {
        to(d.port);
    }
    return v;
}

} // namespace xnv::example
