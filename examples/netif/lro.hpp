// SPDX-License-Identifier: MIT
#pragma once

// Large receive offload in netfront: in-order TCP/IPv4 segments of one flow, received in one
// poll, are merged into one large frame before they are handed up, so the stack above sees one
// packet (described as a GSO TCPv4 frame with the original MSS) instead of dozens.
//
// Eligible segments (anything else passes through untouched and flushes its flow first):
// Ethernet II + IPv4 without options, not fragmented, no ECN congestion mark, TCP with no
// options or exactly NOP,NOP,timestamp, flags ACK or ACK|PSH, a non-empty payload, and a
// checksum the backend marked as validated or blank. A merge needs the next expected sequence
// number; it ends at PSH, at a segment shorter than the first (the MSS), when the frame would
// exceed `max_bytes`, after `max_segments`, or at `flush()` (the end of the poll).
//
// A frame that arrives already large (a GSO super-frame: the backend passes the sender's TSO
// frames through with their MSS) is handed to `pass`, never merged: merging it would describe
// the result with the super-frame's payload as its MSS, and the receiving stack would take
// that for the path's segment size.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <vector>

namespace xnv::example {

struct lro_config {
    std::size_t max_bytes = 65535 + 14; // IPv4 total length limit plus the Ethernet header
    unsigned max_segments = 64;
    unsigned flows = 8; // flows merged concurrently; a new flow evicts (flushes) the oldest
};

/// How a delivered frame was built.
struct lro_meta {
    unsigned segments = 1;      // 1: the frame as received
    std::uint16_t gso_size = 0; // MSS of a merged frame (0 when segments == 1)
    /// The TCP checksum field holds only the pseudo-header sum (checksum offload "partial"):
    /// the consumer must complete or ignore it, as a Linux GRO/LRO super-frame requires. Set
    /// for every frame handed up from a flow's buffer (merged or a lone segment); clear for a
    /// frame passed through as received.
    bool csum_partial = false;
    std::uint16_t csum_start = 0;  // offset of the TCP header when csum_partial
    std::uint16_t csum_offset = 0; // offset of the checksum field within it (16 for TCP)
    std::uint16_t header_bytes = 0;
};

struct lro_counters {
    std::uint64_t frames_in = 0;
    std::uint64_t merged = 0;     // segments absorbed into an earlier one
    std::uint64_t delivered = 0;  // frames handed up
    std::uint64_t passthrough = 0; // ineligible frames
};

namespace detail {
inline std::uint16_t load_be16(const std::byte* p) noexcept
{
    return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) | std::to_integer<unsigned>(p[1]));
}
inline std::uint32_t load_be32(const std::byte* p) noexcept
{
    return (std::uint32_t{load_be16(p)} << 16) | load_be16(p + 2);
}
inline void store_be16(std::byte* p, std::uint16_t v) noexcept
{
    p[0] = static_cast<std::byte>(v >> 8);
    p[1] = static_cast<std::byte>(v & 0xff);
}
inline std::uint32_t ones_sum(const std::byte* p, std::size_t n, std::uint32_t sum = 0) noexcept
{
    for (std::size_t i = 0; i + 1 < n; i += 2)
        sum += load_be16(p + i);
    if (n & 1)
        sum += std::to_integer<std::uint32_t>(p[n - 1]) << 8;
    return sum;
}
inline std::uint16_t fold(std::uint32_t sum) noexcept
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(sum);
}
} // namespace detail

class lro_engine {
public:
    static constexpr std::size_t eth_len = 14, ip_len = 20;
    static constexpr std::uint8_t tcp_ack = 0x10, tcp_psh = 0x08;

    /// @throws std::invalid_argument for zero flows or segments, or `max_bytes` too small.
    explicit lro_engine(lro_config cfg = {}) : cfg_(cfg), flows_(cfg.flows)
    {
        if (cfg.flows == 0 || cfg.max_segments == 0)
            throw std::invalid_argument("lro: flows and max_segments must be at least 1");
        if (cfg.max_bytes < 128 || cfg.max_bytes > 65535 + eth_len)
            throw std::invalid_argument("lro: max_bytes must be in 128..65549");
        for (auto& f : flows_)
            f.buf.resize(cfg.max_bytes); // all memory up front: nothing allocated per packet
    }

    /// Take one received frame. `csum_ok`: the backend validated the checksum or left it blank.
    /// `deliver(std::span<const std::byte>, const lro_meta&)` is called for every frame handed up.
    template <class Deliver>
    void receive(std::span<const std::byte> frame, bool csum_ok, Deliver&& deliver)
    {
        ++counters_.frames_in;
        segment s;
        if (!csum_ok || !parse(frame, s)) {
            ++counters_.passthrough;
            // Flush a flow this frame belongs to first, so the stack sees data in order.
            if (segment any; parse_key(frame, any))
                if (flow* f = find(any))
                    flush_one(*f, deliver);
            emit(frame, lro_meta{}, deliver);
            return;
        }
        flow* f = find(s);
        if (f && can_append(*f, s)) {
            append(*f, frame, s);
            if (s.psh || s.payload_len < f->mss || f->segments >= cfg_.max_segments)
                flush_one(*f, deliver);
            return;
        }
        if (f)
            flush_one(*f, deliver);
        if (s.psh) { // nothing will follow it in this merge: hand it up alone
            emit(frame, lro_meta{}, deliver);
            return;
        }
        start(victim(deliver), frame, s);
    }

    /// End of a poll: hand up everything held.
    /// Hand `frame` up unmerged (a GSO super-frame, which carries its own MSS), after the
    /// segments held for its flow, so the stack still sees the flow's data in order.
    template <class Deliver>
    void pass(std::span<const std::byte> frame, Deliver&& deliver)
    {
        ++counters_.frames_in;
        ++counters_.passthrough;
        if (segment any; parse_key(frame, any))
            if (flow* f = find(any))
                flush_one(*f, deliver);
        emit(frame, lro_meta{}, deliver);
    }

    template <class Deliver>
    void flush(Deliver&& deliver)
    {
        for (auto& f : flows_)
            if (f.active)
                flush_one(f, deliver);
    }

    [[nodiscard]] const lro_counters& counters() const noexcept { return counters_; }

private:
    struct segment {
        std::uint32_t saddr = 0, daddr = 0;
        std::uint16_t sport = 0, dport = 0;
        std::uint32_t seq = 0, ack = 0;
        std::uint16_t window = 0;
        std::size_t header_len = 0, payload_len = 0;
        bool psh = false, has_ts = false;
    };
    struct flow {
        std::vector<std::byte> buf;
        std::size_t len = 0, header_len = 0;
        std::uint32_t saddr = 0, daddr = 0, next_seq = 0;
        std::uint16_t sport = 0, dport = 0, mss = 0;
        unsigned segments = 0;
        std::uint64_t age = 0;
        bool active = false, has_ts = false;
    };

    static bool parse_key(std::span<const std::byte> fr, segment& s) noexcept
    {
        if (fr.size() < eth_len + ip_len + 20 || detail::load_be16(fr.data() + 12) != 0x0800)
            return false;
        const std::byte* ip = fr.data() + eth_len;
        if (std::to_integer<unsigned>(ip[0]) != 0x45 || std::to_integer<unsigned>(ip[9]) != 6)
            return false;
        s.saddr = detail::load_be32(ip + 12);
        s.daddr = detail::load_be32(ip + 16);
        s.sport = detail::load_be16(ip + 20);
        s.dport = detail::load_be16(ip + 22);
        return true;
    }

    static bool parse(std::span<const std::byte> fr, segment& s) noexcept
    {
        if (!parse_key(fr, s))
            return false;
        const std::byte* ip = fr.data() + eth_len;
        const std::size_t tot = detail::load_be16(ip + 2);
        if ((detail::load_be16(ip + 6) & 0x3fff) != 0) // MF or a fragment offset
            return false;
        if ((std::to_integer<unsigned>(ip[1]) & 3u) == 3u) // ECN CE: the receiver must see it
            return false;
        if (tot < ip_len + 20 || eth_len + tot > fr.size())
            return false;
        const std::byte* tcp = ip + ip_len;
        const std::size_t doff = (std::to_integer<std::size_t>(tcp[12]) >> 4) * 4;
        const unsigned flags = std::to_integer<unsigned>(tcp[13]);
        if (doff == 32) {
            // Only NOP, NOP, timestamp (kind 8, length 10).
            if (std::to_integer<unsigned>(tcp[20]) != 1 || std::to_integer<unsigned>(tcp[21]) != 1 ||
                std::to_integer<unsigned>(tcp[22]) != 8 || std::to_integer<unsigned>(tcp[23]) != 10)
                return false;
            s.has_ts = true;
        } else if (doff != 20) {
            return false;
        }
        if ((flags & ~unsigned{tcp_psh}) != tcp_ack || ip_len + doff > tot)
            return false;
        s.seq = detail::load_be32(tcp + 4);
        s.ack = detail::load_be32(tcp + 8);
        s.window = detail::load_be16(tcp + 14);
        s.psh = (flags & tcp_psh) != 0;
        s.header_len = eth_len + ip_len + doff;
        s.payload_len = tot - ip_len - doff;
        return s.payload_len > 0;
    }

    flow* find(const segment& s) noexcept
    {
        for (auto& f : flows_)
            if (f.active && f.saddr == s.saddr && f.daddr == s.daddr && f.sport == s.sport && f.dport == s.dport)
                return &f;
        return nullptr;
    }

    [[nodiscard]] bool can_append(const flow& f, const segment& s) const noexcept
    {
        return s.seq == f.next_seq && s.has_ts == f.has_ts && s.header_len == f.header_len &&
               s.payload_len <= f.mss && f.len + s.payload_len <= cfg_.max_bytes;
    }

    template <class Deliver>
    flow& victim(Deliver& deliver)
    {
        flow* oldest = &flows_[0];
        for (auto& f : flows_) {
            if (!f.active)
                return f;
            if (f.age < oldest->age)
                oldest = &f;
        }
        flush_one(*oldest, deliver);
        return *oldest;
    }

    void start(flow& f, std::span<const std::byte> frame, const segment& s) noexcept
    {
        const std::size_t len = s.header_len + s.payload_len; // drop Ethernet padding
        std::memcpy(f.buf.data(), frame.data(), len);
        f.len = len;
        f.header_len = s.header_len;
        f.saddr = s.saddr;
        f.daddr = s.daddr;
        f.sport = s.sport;
        f.dport = s.dport;
        f.next_seq = s.seq + static_cast<std::uint32_t>(s.payload_len);
        f.mss = static_cast<std::uint16_t>(s.payload_len);
        f.segments = 1;
        f.has_ts = s.has_ts;
        f.age = ++clock_;
        f.active = true;
    }

    void append(flow& f, std::span<const std::byte> frame, const segment& s) noexcept
    {
        std::memcpy(f.buf.data() + f.len, frame.data() + s.header_len, s.payload_len);
        f.len += s.payload_len;
        f.next_seq += static_cast<std::uint32_t>(s.payload_len);
        ++f.segments;
        ++counters_.merged;
        // The newest acknowledgement, window, PSH and timestamp win, as in Linux's LRO/GRO.
        std::byte* tcp = f.buf.data() + eth_len + ip_len;
        std::memcpy(tcp + 8, frame.data() + eth_len + ip_len + 8, 4);
        std::memcpy(tcp + 14, frame.data() + eth_len + ip_len + 14, 2);
        tcp[13] |= frame[eth_len + ip_len + 13];
        if (f.has_ts)
            std::memcpy(tcp + 24, frame.data() + eth_len + ip_len + 24, 8);
    }

    template <class Deliver>
    void flush_one(flow& f, Deliver& deliver)
    {
        f.active = false;
        lro_meta m;
        std::byte* ip = f.buf.data() + eth_len;
        if (f.segments > 1) {
            detail::store_be16(ip + 2, static_cast<std::uint16_t>(f.len - eth_len));
            detail::store_be16(ip + 10, 0);
            detail::store_be16(ip + 10, static_cast<std::uint16_t>(~detail::fold(detail::ones_sum(ip, ip_len))));
            m.segments = f.segments;
            m.gso_size = f.mss;
        }
        // Every frame handed up from a flow's buffer, merged or a lone segment, leaves with a
        // partial checksum: the pseudo-header sum over its TCP length. A lone segment needs it
        // too: it may have arrived with its checksum left blank by the sender (csum_blank),
        // and the caller no longer knows that frame's flags, so the field is made what a
        // partial checksum requires whatever it held.
        const std::size_t tcp_len = f.len - eth_len - ip_len;
        std::uint32_t ph = detail::ones_sum(ip + 12, 8);
        ph += 6 + static_cast<std::uint32_t>(tcp_len);
        detail::store_be16(ip + ip_len + 16, detail::fold(ph));
        m.csum_partial = true;
        m.csum_start = static_cast<std::uint16_t>(eth_len + ip_len);
        m.csum_offset = 16;
        m.header_bytes = static_cast<std::uint16_t>(f.header_len);
        emit(std::span<const std::byte>(f.buf.data(), f.len), m, deliver);
    }

    template <class Deliver>
    void emit(std::span<const std::byte> frame, const lro_meta& m, Deliver& deliver)
    {
        ++counters_.delivered;
        deliver(frame, m);
    }

    lro_config cfg_;
    std::vector<flow> flows_;
    std::uint64_t clock_ = 0;
    lro_counters counters_;
};

} // namespace xnv::example
