// SPDX-License-Identifier: MIT
#include "netfront_engine.hpp"

#include <xnv/notify/coalescer.hpp>
#include <xnv/ring/ring.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <poll.h>

namespace xnv::example {

namespace {

nanos steady_now() noexcept { return steady_clock_source{}.now(); }

void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) noexcept
{
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

std::uint64_t splitmix(std::uint64_t& s) noexcept
{
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void put16(std::byte* p, std::uint16_t v) noexcept
{
    p[0] = static_cast<std::byte>(v >> 8);
    p[1] = static_cast<std::byte>(v & 0xFF);
}
void put32(std::byte* p, std::uint32_t v) noexcept
{
    put16(p, static_cast<std::uint16_t>(v >> 16));
    put16(p + 2, static_cast<std::uint16_t>(v & 0xFFFF));
}
std::uint16_t get16(const std::byte* p) noexcept
{
    return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) | std::to_integer<unsigned>(p[1]));
}

/// EtherType of the announcement each netfront broadcasts once, so the switch learns its MAC
/// before its peers' traffic arrives (a gratuitous ARP's job).
constexpr std::uint16_t announce_ethertype = 0x88B6;

} // namespace

void frame_port::deliver_fragments(std::span<const std::span<const std::byte>> frags, const frame_meta& meta,
                                   std::span<std::byte> gather)
{
    std::size_t at = 0;
    for (const auto& f : frags) {
        std::memcpy(gather.data() + at, f.data(), f.size());
        at += f.size();
    }
    deliver(gather.first(at), meta);
}

std::size_t frame_port::next_frame_paged(std::span<const std::span<std::byte>> pages, std::span<std::byte> scratch,
                                         frame_meta& meta, nanos now)
{
    const std::size_t len = next_frame(scratch, meta, now);
    for (std::size_t at = 0, i = 0; at < len && i < pages.size(); ++i) {
        const std::size_t n = std::min(len - at, pages[i].size());
        std::memcpy(pages[i].data(), scratch.data() + at, n);
        at += n;
    }
    return len;
}

// ======================================================================== generator and sink

traffic_port::traffic_port(const generator_config& cfg, std::uint32_t queue, std::uint32_t queues)
    : cfg_(cfg), flow_(static_cast<std::uint16_t>(queue)), rng_(cfg.seed * 0x9E3779B97F4A7C15ULL + queue)
{
    if (queues == 0 || queue >= queues)
        throw std::invalid_argument("traffic_port: queue index out of range");
    if (cfg.count != 0) {
        quota_ = cfg.count / queues + (queue < cfg.count % queues ? 1 : 0);
        if (quota_ == 0)
            done_ = true; // fewer frames than queues: this one sends none
    }
    if (!cfg.transmit)
        done_ = true;
    if (cfg.rate != 0)
        interval_ns_ = 1e9 * static_cast<double>(queues) / static_cast<double>(cfg.rate);
    announcer_ = queue == 0;
    if ((cfg.peer[0] & 1u) != 0)
        cfg_.peer_seen.reset(); // a group destination is never "seen": nothing to wait for
    flows_.reserve(max_flows);
}

std::uint32_t traffic_port::draw_size() noexcept
{
    const std::uint32_t lo = cfg_.size_min;
    const std::uint32_t hi = cfg_.size_max;
    if (cfg_.dist == size_dist::fixed || hi <= lo)
        return lo;
    const std::uint64_t r = splitmix(rng_);
    if (cfg_.dist == size_dist::uniform)
        return lo + static_cast<std::uint32_t>(r % (std::uint64_t{hi} - lo + 1));
    // Log-uniform: every doubling of the size is equally likely, so small and large frames
    // both get their share while the mean stays far below the maximum.
    const double u = static_cast<double>(r >> 11) * 0x1.0p-53;
    const double x = std::exp(std::log(static_cast<double>(lo)) +
                              u * (std::log(static_cast<double>(hi) + 1.0) - std::log(static_cast<double>(lo))));
    return std::clamp<std::uint32_t>(static_cast<std::uint32_t>(x), lo, hi);
}

nanos traffic_port::next_due(nanos now)
{
    nanos due = announcer_ ? next_announce_ : nanos::max();
    if (done_ || waiting())
        return due;
    if (start_ < nanos::zero()) {
        start_ = now;
        next_ns_ = static_cast<double>(now.count());
    }
    if (cfg_.duration > nanos::zero() && now - start_ >= cfg_.duration) {
        done_ = true;
        return due;
    }
    return std::min(due, interval_ns_ == 0 ? nanos::zero() : nanos(static_cast<nanos::rep>(next_ns_)));
}

std::size_t traffic_port::next_frame(std::span<std::byte> buf, frame_meta& meta, nanos now)
{
    meta = frame_meta{};
    if (announcer_ && now >= next_announce_) {
        next_announce_ = now + (waiting() ? nanos(std::chrono::milliseconds(100)) : nanos(std::chrono::seconds(1)));
        constexpr std::size_t len = 60;
        std::memset(buf.data(), 0, len);
        std::memset(buf.data(), 0xFF, 6);
        std::memcpy(buf.data() + 6, cfg_.mac.data(), 6);
        put16(buf.data() + 12, announce_ethertype);
        return len;
    }
    if (done_ || waiting())
        return 0;
    if (done_)
        return 0;
    const std::uint32_t size = draw_size();
    const std::uint64_t seq = seq_;
    std::size_t len = 0;
    if (cfg_.proto == gen_proto::raw) {
        len = build_test_frame(buf, cfg_.peer, cfg_.mac, flow_, seq, size - test_frame_overhead);
    } else {
        const std::size_t payload = size - tcp_frame_overhead - test_header_bytes;
        const std::size_t rec = build_test_record(buf.subspan(tcp_frame_overhead), flow_, seq, payload);
        std::byte* p = buf.data();
        std::memcpy(p, cfg_.peer.data(), 6);
        std::memcpy(p + 6, cfg_.mac.data(), 6);
        put16(p + 12, 0x0800);
        std::byte* ip = p + 14;
        ip[0] = std::byte{0x45};
        ip[1] = std::byte{0};
        put16(ip + 2, static_cast<std::uint16_t>(20 + 20 + rec));
        put16(ip + 4, ip_id_++);
        put16(ip + 6, 0x4000); // don't fragment
        ip[8] = std::byte{64};
        ip[9] = std::byte{6};
        put16(ip + 10, 0);
        // 198.18.0.0/15 (benchmarking addresses), host part from the MAC's last two bytes.
        put32(ip + 12, 0xC6120000u | (std::uint32_t{cfg_.mac[4]} << 8) | cfg_.mac[5]);
        put32(ip + 16, 0xC6120000u | (std::uint32_t{cfg_.peer[4]} << 8) | cfg_.peer[5]);
        std::uint32_t sum = 0;
        for (int i = 0; i < 20; i += 2)
            sum += get16(ip + i);
        while ((sum >> 16) != 0)
            sum = (sum & 0xFFFF) + (sum >> 16);
        put16(ip + 10, static_cast<std::uint16_t>(~sum));
        std::byte* tcp = ip + 20;
        put16(tcp, static_cast<std::uint16_t>(10000 + flow_));
        put16(tcp + 2, 5201);
        put32(tcp + 4, tcp_seq_);
        put32(tcp + 8, 1);
        tcp[12] = std::byte{0x50};
        tcp[13] = std::byte{0x10}; // ACK
        put16(tcp + 14, 0xFFFF);
        put16(tcp + 16, 0);
        put16(tcp + 18, 0);
        tcp_seq_ += static_cast<std::uint32_t>(rec);
        len = tcp_frame_overhead + rec;
        // The TCP checksum is not computed: the record carries its own, and the frame is marked
        // as validated, as a virtual NIC marks frames that never crossed a wire.
        meta.csum_flags = netif::txf::data_validated;
        if (cfg_.gso && len > std::size_t{cfg_.mtu} + 14)
            meta.gso = netif::gso_info{netif::gso_type::tcpv4, static_cast<std::uint16_t>(cfg_.mtu - 40)};
    }
    if (len == 0)
        return 0;
    ++seq_;
    bump(gen_);
    if (interval_ns_ != 0)
        next_ns_ += interval_ns_;
    if (quota_ != 0 && seq_ >= quota_)
        done_ = true;
    return len;
}

bool traffic_port::tx_done() const noexcept { return done_; }

void traffic_port::record(const mac_bytes& src, const test_header& h)
{
    ++s_.records;
    bump(records_);
    for (auto& f : flows_)
        if (f.flow == h.flow && f.src == src) {
            f.t->record(h.seq);
            return;
        }
    if (flows_.size() >= max_flows) {
        ++s_.untracked;
        return;
    }
    flows_.push_back(flow_entry{src, h.flow, std::make_unique<sequence_tracker>()});
    flows_.back().t->record(h.seq);
}

void traffic_port::count_record(std::span<const std::byte> bytes, const mac_bytes& src)
{
    while (!bytes.empty()) {
        test_header h{};
        const frame_verdict v = check_test_record(bytes, h);
        if (v == frame_verdict::ok) {
            record(src, h);
            bytes = bytes.subspan(test_header_bytes + h.len);
            continue;
        }
        bump(bad_);
        if (v == frame_verdict::truncated)
            ++s_.truncated;
        else
            ++s_.corrupted; // a record that does not start with the magic inside a test stream is damage too
        return;
    }
}

void traffic_port::deliver(std::span<const std::byte> frame, const frame_meta& meta)
{
    ++s_.frames;
    s_.bytes += frame.size();
    if (meta.segments > 1)
        ++s_.lro_frames;
    if (frame.size() < eth_header_bytes) {
        ++s_.other;
        return;
    }
    mac_bytes dst{};
    mac_bytes src{};
    std::memcpy(dst.data(), frame.data(), 6);
    std::memcpy(src.data(), frame.data() + 6, 6);
    if (src == cfg_.peer && waiting())
        cfg_.peer_seen->store(true, std::memory_order_relaxed);
    if ((dst[0] & 1u) == 0 && dst != cfg_.mac) {
        ++s_.not_mine;
        return;
    }
    const std::uint16_t type = get16(frame.data() + 12);
    if (type == test_ethertype) {
        test_header h{};
        const frame_verdict v = check_test_frame(frame, h);
        switch (v) {
        case frame_verdict::ok: record(src, h); break;
        case frame_verdict::not_test_frame: ++s_.other; break;
        case frame_verdict::truncated:
            ++s_.truncated;
            bump(bad_);
            break;
        case frame_verdict::corrupted:
            ++s_.corrupted;
            bump(bad_);
            break;
        }
        return;
    }
    if (type == 0x0800 && frame.size() >= tcp_frame_overhead) {
        const std::byte* ip = frame.data() + 14;
        const std::size_t ihl = (std::to_integer<std::size_t>(ip[0]) & 15u) * 4;
        const std::size_t total = get16(ip + 2);
        if ((std::to_integer<unsigned>(ip[0]) >> 4) == 4 && std::to_integer<unsigned>(ip[9]) == 6 && ihl >= 20 &&
            14 + total <= frame.size() && ihl + 20 <= total) {
            const std::size_t doff = (std::to_integer<std::size_t>(ip[ihl + 12]) >> 4) * 4;
            const std::size_t dport = get16(ip + ihl + 2);
            if (dport == 5201 && doff >= 20 && ihl + doff <= total) {
                count_record(frame.subspan(14 + ihl + doff, total - ihl - doff), src);
                return;
            }
        }
    }
    ++s_.other;
}

sink_stats traffic_port::stats() const noexcept
{
    sink_stats s = s_;
    for (const auto& f : flows_) {
        s.lost += f.t->lost();
        s.duplicated += f.t->duplicated();
        s.reordered += f.t->reordered();
        s.stale += f.t->stale();
    }
    return s;
}

std::vector<flow_stats> traffic_port::flows() const
{
    std::vector<flow_stats> v;
    for (const auto& f : flows_)
        v.push_back(
            {f.src, f.flow, f.t->received(), f.t->next_expected(), f.t->lost(), f.t->duplicated(), f.t->reordered()});
    return v;
}

// ======================================================================== queues

namespace {
using tx_front_t = front_ring<netif::tx_request, netif::tx_response>;
using rx_front_t = front_ring<netif::rx_request, netif::rx_response>;
using tx_note_t = notify::coalescer<tx_front_t, notify::eventfd_channel, runtime_policy>;
using rx_note_t = notify::coalescer<rx_front_t, notify::eventfd_channel, runtime_policy>;

std::span<std::byte> part(mem::shared_region& r, std::uint64_t offset, std::uint64_t bytes)
{
    return r.bytes().subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(bytes));
}

// A grant whose end netback refused (it was still copying): ended later, then its page reused.
struct deferred_end {
    mem::grant_ref ref = 0;
    std::uint32_t frame = 0;
};
} // namespace

struct netfront_vif::queue {
    queue(netfront_vif& v, std::uint32_t idx, frame_port& p);

    void run() noexcept;
    bool reclaim_tx() noexcept;
    bool poll_rx() noexcept;
    bool refill_rx() noexcept;
    bool send_tx() noexcept;
    void idle_wait() noexcept;
    void fire_timers() noexcept;
    void end_tx(mem::grant_ref ref, std::uint32_t frame) noexcept;
    void end_rx(mem::grant_ref ref, std::uint32_t frame) noexcept;
    void retry_deferred() noexcept;
    void handle_packet(const netif::rx_packet& p) noexcept;
    void teardown() noexcept;

    netfront_vif* vif;
    std::uint32_t index;
    frame_port* port;
    bool split;
    bool lro_on;

    tx_front_t tx_ring;
    rx_front_t rx_ring;
    netif::tx_frontend<> txf;
    netif::rx_frontend<> rxf;
    mem::grant_table tx_gt;
    mem::grant_table rx_gt;
    std::vector<notify::eventfd_channel> to_back;   // we signal, netback waits
    std::vector<notify::eventfd_channel> from_back; // netback signals, we wait
    notify::channel_counters tx_nc;
    notify::channel_counters rx_nc;
    tx_note_t tx_note;
    rx_note_t rx_note;

    std::vector<std::uint32_t> tx_free;
    std::vector<std::uint32_t> rx_free;
    std::vector<deferred_end> tx_deferred;
    std::vector<deferred_end> rx_deferred;
    std::vector<std::byte> scratch;
    std::vector<std::byte> gather;
    lro_engine lro;

    bool have_pending = false;
    std::size_t pending_len = 0;
    frame_meta pending_meta{};
    // The pending frame's pages, in order, taken off tx_free (the frame's bytes are in them).
    std::array<std::uint32_t, tx_frame_pages> pending_pages{};
    std::uint32_t pending_page_count = 0;
    std::uint32_t in_flight = 0; // data slots submitted and not yet answered
    std::array<deferred_end, netif::nr_slots_min> granted_now{};
    std::uint32_t granted_count = 0;

    std::atomic<bool> idle_tx{false};
    std::atomic<std::uint64_t> tx_packets{0}, tx_bytes{0}, tx_errors{0}, rx_packets{0}, rx_bytes{0}, rx_drops{0},
        kicks{0}, end_retries{0};
};

netfront_vif::queue::queue(netfront_vif& v, std::uint32_t idx, frame_port& p)
    : vif(&v), index(idx), port(&p), split(v.params_.split_event_channels),
      lro_on(v.cfg_.lro && v.params_.gso_tcpv4),
      tx_ring(ring_init, part(v.region_, v.layout_.queues[idx].tx_ring_offset, ring_bytes)),
      rx_ring(ring_init, part(v.region_, v.layout_.queues[idx].rx_ring_offset, ring_bytes)),
      txf(tx_ring, netif::tx_front_config{v.params_.sg ? netif::nr_slots_min : 1u, v.params_.gso_tcpv4,
                                          v.params_.gso_tcpv6}),
      rxf(rx_ring, netif::rx_front_config{v.params_.sg ? netif::nr_slots_min : 1u}),
      tx_gt(part(v.region_, v.layout_.queues[idx].tx_grants.offset, v.layout_.queues[idx].tx_grants.bytes()),
            geometry_of(v.layout_.queues[idx].tx_grants)),
      rx_gt(part(v.region_, v.layout_.queues[idx].rx_grants.offset, v.layout_.queues[idx].rx_grants.bytes()),
            geometry_of(v.layout_.queues[idx].rx_grants)),
      to_back(split ? 2 : 1), from_back(split ? 2 : 1), tx_note(tx_ring, to_back[0], runtime_policy(v.cfg_.coalesce), tx_nc),
      rx_note(rx_ring, to_back[split ? 1 : 0], runtime_policy(v.cfg_.coalesce), rx_nc),
      scratch(netif::max_tx_size + 1), gather(std::size_t{netif::nr_slots_min} * netif::page_size), lro()
{
    // Every page is taken from the pools once, here: the data path never frees one (freeing
    // zeroes it, which per frame would cost a page-sized memset), it grants and ends grants.
    while (auto f = tx_gt.try_allocate_page())
        tx_free.push_back(*f);
    while (auto f = rx_gt.try_allocate_page())
        rx_free.push_back(*f);
    tx_deferred.reserve(tx_gt.capacity());
    rx_deferred.reserve(rx_gt.capacity());
    // Post RX buffers before netback connects, as Linux's netfront does.
    (void)refill_rx();
}

void netfront_vif::queue::end_tx(mem::grant_ref ref, std::uint32_t frame) noexcept
{
    const mem::grant_status st = tx_gt.try_end(ref);
    if (st == mem::grant_status::in_use || st == mem::grant_status::busy) {
        bump(end_retries);
        tx_deferred.push_back({ref, frame});
        return;
    }
    tx_free.push_back(frame);
}

void netfront_vif::queue::end_rx(mem::grant_ref ref, std::uint32_t frame) noexcept
{
    const mem::grant_status st = rx_gt.try_end(ref);
    if (st == mem::grant_status::in_use || st == mem::grant_status::busy) {
        bump(end_retries);
        rx_deferred.push_back({ref, frame});
        return;
    }
    rx_free.push_back(frame);
}

void netfront_vif::queue::retry_deferred() noexcept
{
    auto retry = [](std::vector<deferred_end>& list, mem::grant_table& gt, std::vector<std::uint32_t>& free) {
        for (std::size_t i = 0; i < list.size();) {
            const mem::grant_status st = gt.try_end(list[i].ref);
            if (st == mem::grant_status::in_use || st == mem::grant_status::busy) {
                ++i;
                continue;
            }
            free.push_back(list[i].frame);
            list[i] = list.back();
            list.pop_back();
        }
    };
    if (!tx_deferred.empty())
        retry(tx_deferred, tx_gt, tx_free);
    if (!rx_deferred.empty())
        retry(rx_deferred, rx_gt, rx_free);
}

bool netfront_vif::queue::reclaim_tx() noexcept
{
    const netif::tx_reclaim_result r = txf.reclaim(
        [&](const netif::tx_completion& c) {
            end_tx(c.gref, c.cookie);
            if (c.packet_done && c.packet_status != netif::status::okay)
                bump(tx_errors);
        },
        vif->cfg_.budget * 4);
    in_flight -= std::min(in_flight, r.completed);
    if (!r.ok())
        vif->fail(std::string("netback sent a bad TX response: ") + std::string(netif::to_string(r.error)));
    return r.responses != 0;
}

void netfront_vif::queue::handle_packet(const netif::rx_packet& p) noexcept
{
    std::array<std::span<const std::byte>, netif::nr_slots_min> frags;
    std::size_t total = 0;
    for (std::uint32_t i = 0; i < p.nr_frags; ++i) {
        const netif::rx_fragment& f = p.frags[i];
        frags[i] = rx_gt.page(f.cookie).subspan(f.offset, f.size);
        total += f.size;
    }
    const auto pieces = std::span<const std::span<const std::byte>>(frags.data(), p.nr_frags);
    bump(rx_packets);
    bump(rx_bytes, total);
    frame_meta m;
    m.csum_flags = p.flags;
    m.gso = p.gso;
    // A frame in several pieces is copied together only where something needs it contiguous
    // (LRO merging it); otherwise the port gets the pieces as they lie in the granted pages.
    auto whole = [&]() -> std::span<const std::byte> {
        if (p.nr_frags == 1)
            return frags[0];
        std::size_t at = 0;
        for (const auto& f : pieces) {
            std::memcpy(gather.data() + at, f.data(), f.size());
            at += f.size();
        }
        return {gather.data(), at};
    };
    auto hand_up = [&](const frame_meta& meta) {
        if (p.nr_frags == 1)
            port->deliver(frags[0], meta);
        else
            port->deliver_fragments(pieces, meta, gather);
    };
    const bool csum_ok = (p.flags & (netif::rxf::data_validated | netif::rxf::csum_blank)) != 0;
    // A super-frame passes LRO unmerged: LRO needs only its headers (to hand up what it holds
    // for the flow first), and they lie within the first `head` bytes, copied together when
    // the first piece is shorter (a backend may split anywhere).
    std::array<std::byte, frame_head_bytes> head_copy;
    std::span<const std::byte> head;
    if (lro_on && p.gso.present())
        head = frame_head(pieces, head_copy);
    auto up = [&](std::span<const std::byte> f, const lro_meta& lm) {
        frame_meta out = m;
        // A frame from LRO's flow buffer may be an earlier packet's, whose flags `m` is not:
        // its checksum is partial, which is what csum_blank says.
        if (lm.csum_partial)
            out.csum_flags = netif::rxf::data_validated | netif::rxf::csum_blank;
        out.segments = lm.segments;
        if (lm.segments > 1)
            out.gso = netif::gso_info{netif::gso_type::tcpv4, lm.gso_size};
        // `pass` hands this packet itself up as the span it was given: its headers only.
        if (f.data() == head.data() && !head.empty())
            hand_up(out);
        else
            port->deliver(f, out);
    };
    if (lro_on && p.gso.present()) {
        lro.pass(head, up); // already a super-frame with the sender's MSS: never merged
    } else if (lro_on && total <= lro_config{}.max_bytes) {
        lro.receive(whole(), csum_ok, up);
    } else {
        hand_up(m);
    }
    // The data is consumed (delivered or copied into LRO's buffer): the pages go back.
    for (std::uint32_t i = 0; i < p.nr_frags; ++i)
        end_rx(p.frags[i].gref, p.frags[i].cookie);
}

bool netfront_vif::queue::poll_rx() noexcept
{
    const netif::rx_poll_result r = rxf.poll([&](const netif::rx_packet& p) { handle_packet(p); },
                                             [&](const netif::rx_buffer& b) { end_rx(b.gref, b.cookie); },
                                             vif->cfg_.budget * 4);
    if (lro_on)
        lro.flush([&](std::span<const std::byte> f, const lro_meta& lm) {
            frame_meta out;
            out.csum_flags = netif::rxf::data_validated | (lm.csum_partial ? netif::rxf::csum_blank : 0);
            out.segments = lm.segments;
            if (lm.segments > 1)
                out.gso = netif::gso_info{netif::gso_type::tcpv4, lm.gso_size};
            port->deliver(f, out);
        });
    bump(rx_drops, r.drops);
    if (!r.ok())
        vif->fail(std::string("netback broke the RX ring: ") + std::string(netif::to_string(r.fatal)));
    return r.responses != 0;
}

bool netfront_vif::queue::refill_rx() noexcept
{
    std::uint32_t posted = 0;
    while (!rx_free.empty() && rx_ring.free_slots() != 0) {
        const std::uint32_t frame = rx_free.back();
        const auto g = rx_gt.try_grant(backend_domain, frame, mem::grant_access::read_write);
        if (!g.ok())
            break; // references held by refused ends: retried later
        if (!rxf.try_post(netif::rx_buffer{g.ref, frame})) {
            (void)rx_gt.try_end(g.ref);
            break;
        }
        rx_free.pop_back();
        ++posted;
    }
    if (posted != 0)
        (void)rx_note.publish();
    return posted != 0;
}

bool netfront_vif::queue::send_tx() noexcept
{
    std::uint32_t sent = 0;
    std::uint64_t bytes = 0;
    const nanos now = steady_now();
    while (sent < vif->cfg_.budget) {
        if (!have_pending) {
            if (port->next_due(now) > now)
                break;
            // The frame is read into the pages it will be granted in, so pages for the largest
            // frame must be free before its size is known.
            if (tx_free.size() < tx_frame_pages)
                break; // pages still in flight: wait for responses
            std::array<std::span<std::byte>, tx_frame_pages> pages;
            for (std::size_t i = 0; i < tx_frame_pages; ++i) {
                pending_pages[i] = tx_free[tx_free.size() - 1 - i];
                pages[i] = tx_gt.page(pending_pages[i]);
            }
            pending_len = port->next_frame_paged(pages, scratch, pending_meta, now);
            if (pending_len == 0)
                break;
            // The pages the frame spans leave the free list (they are its last entries).
            pending_page_count = netif::tx_chunks(static_cast<std::uint32_t>(std::min<std::size_t>(pending_len, netif::max_tx_size)), 0);
            tx_free.resize(tx_free.size() - pending_page_count);
            have_pending = true;
        }
        const std::uint32_t chunks = pending_page_count;
        if (tx_gt.free_refs() < chunks)
            break; // references held by refused ends: retried later
        granted_count = 0;
        const netif::tx_submit_result r = txf.try_submit_chunks(
            static_cast<std::uint32_t>(pending_len), 0, netif::tx_meta{pending_meta.csum_flags, pending_meta.gso},
            [&](std::uint32_t chunk, std::uint32_t, std::uint16_t len) -> netif::tx_buffer {
                const std::uint32_t frame = pending_pages[chunk];
                const auto g = tx_gt.try_grant(backend_domain, frame, mem::grant_access::read_only);
                if (!g.ok())
                    return {}; // size 0: refused, nothing granted for this chunk
                granted_now[granted_count++] = {g.ref, frame};
                return netif::tx_buffer{g.ref, 0, len, frame};
            });
        if (r.error == netif::tx_submit_error::no_room)
            break;
        if (r.error == netif::tx_submit_error::broken)
            break; // reclaim reported it
        if (!r.ok()) {
            // The frame broke a rule the negotiation allows (checked at start-up, so this is a
            // generator bug): give its pages back and go on. Chunks are granted in order.
            for (std::uint32_t i = 0; i < granted_count; ++i)
                end_tx(granted_now[i].ref, granted_now[i].frame);
            for (std::uint32_t i = granted_count; i < chunks; ++i)
                tx_free.push_back(pending_pages[i]);
            bump(tx_errors);
            have_pending = false;
            continue;
        }
        in_flight += chunks;
        have_pending = false;
        ++sent;
        bytes += pending_len;
        bump(tx_packets);
        bump(tx_bytes, pending_len);
    }
    if (sent != 0)
        (void)tx_note.publish(bytes);
    return sent != 0;
}

// A policy that holds a notification back (frames_usecs, adaptive) must hear about its
// deadline: there is no timer thread, the queue's loop checks it.
void netfront_vif::queue::fire_timers() noexcept
{
    const nanos now = steady_now();
    if (tx_note.next_deadline() != notify::no_deadline && now >= tx_note.next_deadline())
        (void)tx_note.on_timer();
    if (rx_note.next_deadline() != notify::no_deadline && now >= rx_note.next_deadline())
        (void)rx_note.on_timer();
}

void netfront_vif::queue::idle_wait() noexcept
{
    // Re-arm both response rings (Xen's RING_FINAL_CHECK_FOR_RESPONSES): anything netback
    // publishes from now on crosses the event index and is notified.
    const ring_count a = tx_ring.final_check(1);
    const ring_count b = rx_ring.final_check(1);
    if (a.count != 0 || b.count != 0 || !a.ok() || !b.ok())
        return;
    const nanos now = steady_now();
    nanos wait = std::chrono::milliseconds(50); // the stop flag is looked at this often
    // No frame can be taken now if one is pending (no room on the ring) or if fewer pages are
    // free than the largest frame needs (send_tx reads a frame only into free pages): then
    // only netback's responses can make progress, and they are notified on `from_back`.
    // Waking for a due generator or a readable TAP meanwhile would return at once and spin.
    const bool tx_blocked = have_pending || tx_free.size() < tx_frame_pages;
    if (!tx_blocked) {
        const nanos due = port->next_due(now);
        if (due != nanos::max())
            wait = std::min(wait, std::max(nanos::zero(), due - now));
    }
    if (!tx_deferred.empty() || !rx_deferred.empty())
        wait = std::min<nanos>(wait, std::chrono::microseconds(100));
    for (const nanos deadline : {tx_note.next_deadline(), rx_note.next_deadline()})
        if (deadline != notify::no_deadline)
            wait = std::min(wait, std::max(nanos::zero(), deadline - now));
    if (wait <= nanos::zero())
        return;
    std::array<pollfd, 3> fds{};
    nfds_t n = 0;
    for (auto& ch : from_back)
        fds[n++] = pollfd{ch.fd(), POLLIN, 0};
    // The frame source is watched only while a frame could be taken from it (see above).
    if (port->tx_wait_fd() >= 0 && !tx_blocked)
        fds[n++] = pollfd{port->tx_wait_fd(), POLLIN, 0};
    const auto ms = std::chrono::duration_cast<std::chrono::microseconds>(wait).count();
    timespec ts{static_cast<time_t>(ms / 1000000), static_cast<long>(ms % 1000000) * 1000};
    if (::ppoll(fds.data(), n, &ts, nullptr) > 0) {
        for (auto& ch : from_back)
            if (ch.try_consume() != 0)
                bump(kicks);
    }
}

void netfront_vif::queue::run() noexcept
{
    const nanos busy_poll = vif->cfg_.busy_poll;
    nanos last_work = steady_now();
    while (!vif->stop_.load(std::memory_order_acquire) && !vif->failed()) {
        bool work = false;
        work |= reclaim_tx();
        work |= poll_rx();
        retry_deferred();
        work |= refill_rx();
        work |= send_tx();
        fire_timers();
        idle_tx.store(port->tx_done() && !have_pending && in_flight == 0, std::memory_order_release);
        if (work) {
            if (busy_poll != nanos::zero())
                last_work = steady_now();
            continue;
        }
        // Busy-poll: keep looking (rings, frame source) for a while before re-arming and
        // sleeping; the rings stay un-armed meanwhile, so netback sends no notification
        // either. Yielding between polls lets the threads this one waits for run on a busy
        // core.
        if (busy_poll != nanos::zero() && steady_now() - last_work < busy_poll) {
            std::this_thread::yield();
            continue;
        }
        idle_wait();
        if (busy_poll != nanos::zero())
            last_work = steady_now(); // a wake-up starts a new polling window
    }
    teardown();
}

void netfront_vif::queue::teardown() noexcept
{
    // Every buffer still out comes back; grants netback still holds stay granted (their ends
    // are refused) until it lets go or goes away with the shared memory.
    txf.drain([&](std::uint32_t cookie, mem::grant_ref gref) { end_tx(gref, cookie); });
    rxf.drain([&](const netif::rx_buffer& b) { end_rx(b.gref, b.cookie); });
    in_flight = 0;
    retry_deferred();
}

// ======================================================================== vif

netfront_vif::netfront_vif(const control::negotiated& params, const netfront_config& cfg,
                           std::vector<std::unique_ptr<frame_port>> ports)
    : params_(params), cfg_(cfg), layout_(make_vif_layout(params.queues)),
      region_(mem::shared_region::create(static_cast<std::size_t>(layout_.bytes),
                                         mem::region_options{.debug_name = "xnv-netfront"}))
{
    if (ports.size() != params.queues)
        throw std::invalid_argument("netfront: one frame port per queue is needed");
    if (cfg.budget == 0)
        throw std::invalid_argument("netfront: the budget must be at least 1");
    ports_ = std::move(ports);
    for (std::uint32_t q = 0; q < params.queues; ++q)
        queues_.push_back(std::make_unique<queue>(*this, q, *ports_[q]));
}

netfront_vif::~netfront_vif() { stop(); }

control::front_layout netfront_vif::plan() const
{
    control::front_layout l;
    l.memory_fd = region_.fd();
    l.memory_bytes = layout_.bytes;
    for (std::size_t i = 0; i < queues_.size(); ++i) {
        const queue& q = *queues_[i];
        control::queue_plan p;
        p.tx_ring_offset = layout_.queues[i].tx_ring_offset;
        p.rx_ring_offset = layout_.queues[i].rx_ring_offset;
        p.tx_grants = layout_.queues[i].tx_grants;
        p.rx_grants = layout_.queues[i].rx_grants;
        p.event_fds[0] = q.to_back[0].fd();
        p.event_fds[1] = q.from_back[0].fd();
        if (q.split) {
            p.event_fds[2] = q.to_back[1].fd();
            p.event_fds[3] = q.from_back[1].fd();
        }
        l.queues.push_back(p);
    }
    return l;
}

void netfront_vif::start()
{
    if (started_)
        return;
    started_ = true;
    for (auto& q : queues_)
        threads_.emplace_back([qp = q.get()] { qp->run(); });
}

void netfront_vif::stop()
{
    stop_.store(true, std::memory_order_release);
    for (auto& t : threads_)
        if (t.joinable())
            t.join();
    threads_.clear();
}

bool netfront_vif::tx_idle() const noexcept
{
    for (const auto& q : queues_)
        if (!q->idle_tx.load(std::memory_order_acquire))
            return false;
    return true;
}

void netfront_vif::fail(std::string reason)
{
    {
        std::lock_guard<std::mutex> g(failure_mutex_);
        if (failure_.empty())
            failure_ = std::move(reason);
    }
    failed_.store(true, std::memory_order_release);
}

std::string netfront_vif::failure() const
{
    std::lock_guard<std::mutex> g(failure_mutex_);
    return failure_;
}

frame_port& netfront_vif::port(std::uint32_t q) const noexcept { return *ports_[q]; }

std::uint64_t netfront_vif::lro_merged() const noexcept
{
    std::uint64_t n = 0;
    for (const auto& q : queues_)
        n += q->lro.counters().merged;
    return n;
}

std::size_t netfront_vif::grants_held() const noexcept
{
    std::size_t n = 0;
    for (const auto& q : queues_)
        n += q->tx_deferred.size() + q->rx_deferred.size();
    return n;
}

std::vector<std::unique_ptr<frame_port>> netfront_vif::release_ports()
{
    stop();
    // The queues keep plain pointers to the ports; they are never run again (started_ stays
    // set, so start() is a no-op) and their destructors do not touch the ports.
    started_ = true;
    return std::move(ports_);
}

std::vector<nf_queue_stats> netfront_vif::stats() const
{
    std::vector<nf_queue_stats> v;
    constexpr auto r = std::memory_order_relaxed;
    for (const auto& q : queues_) {
        nf_queue_stats s;
        s.tx_packets = q->tx_packets.load(r);
        s.tx_bytes = q->tx_bytes.load(r);
        s.tx_errors = q->tx_errors.load(r);
        s.rx_packets = q->rx_packets.load(r);
        s.rx_bytes = q->rx_bytes.load(r);
        s.rx_drops = q->rx_drops.load(r);
        s.kicks = q->kicks.load(r);
        s.end_retries = q->end_retries.load(r);
        s.tx_notify = q->tx_nc.snapshot();
        s.rx_notify = q->rx_nc.snapshot();
        v.push_back(s);
    }
    return v;
}

} // namespace xnv::example
