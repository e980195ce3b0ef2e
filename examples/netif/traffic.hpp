// SPDX-License-Identifier: MIT
#pragma once

// The built-in traffic generator and sink. Every generated frame is an Ethernet frame with an
// experimental EtherType carrying a header {magic, flow, sequence number, payload length,
// checksum} and a payload pattern that depends on the sequence number, so that the sink can
// tell loss, duplication, reordering and corruption apart without any shared state.
//
//   | dst(6) src(6) type 0x88B5 (2) | magic(4) flow(2) rsvd(2) seq(8) len(4) csum(4) | payload |
//
// `payload` is `len` bytes; the checksum covers the payload, seeded by flow, seq and len.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace xnv::example {

inline constexpr std::uint16_t test_ethertype = 0x88B5; // IEEE 802 local experimental
inline constexpr std::uint32_t test_magic = 0x786E7631;  // "xnv1"
inline constexpr std::size_t eth_header_bytes = 14;
inline constexpr std::size_t test_header_bytes = 24;
/// The smallest generated frame: Ethernet header plus the test header, no payload.
inline constexpr std::size_t test_frame_overhead = eth_header_bytes + test_header_bytes;
inline constexpr std::size_t max_frame_bytes = 65535;
inline constexpr std::size_t max_payload_bytes = max_frame_bytes - test_frame_overhead;

namespace detail {
// A Fletcher-style pair of sums over 64-bit words: fast enough to run over 64 KiB frames at
// line rate on both ends; a changed byte changes the first sum, swapped words the second.
inline std::uint32_t checksum(std::span<const std::byte> data, std::uint64_t seed) noexcept
{
    std::uint64_t a = seed ^ 0x9E3779B97F4A7C15ull, b = 0;
    std::size_t i = 0;
    for (; i + 8 <= data.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, data.data() + i, 8);
        a += w;
        b += a;
    }
    std::uint64_t tail = 0;
    std::memcpy(&tail, data.data() + i, data.size() - i);
    a += tail ^ (std::uint64_t{data.size()} << 56);
    b += a;
    const std::uint64_t h = a ^ (b * 0xC2B2AE3D27D4EB4Full);
    return static_cast<std::uint32_t>(h ^ (h >> 32));
}

// The pattern source: a fixed pseudo-random block; the payload of frame `seq` is the block read
// from an offset derived from `seq`, so each frame's content differs but costs one memcpy.
inline const std::array<std::byte, 8192>& pattern_block() noexcept
{
    static const auto block = [] {
        std::array<std::byte, 8192> b{};
        std::uint64_t x = 0x243F6A8885A308D3ull;
        for (auto& v : b) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v = static_cast<std::byte>(x);
        }
        return b;
    }();
    return block;
}
} // namespace detail

/// The header fields enter the checksum as its seed, so a changed flow, sequence number or
/// length is caught like a changed payload byte.
[[nodiscard]] inline std::uint64_t header_seed(std::uint16_t flow, std::uint64_t seq, std::size_t len) noexcept
{
    return (seq * 0xD6E8FEB86659FD93ull) ^ (std::uint64_t{flow} << 48) ^ len;
}

struct test_header {
    std::uint32_t magic;
    std::uint16_t flow;
    std::uint16_t reserved;
    std::uint64_t seq;
    std::uint32_t len;
    std::uint32_t csum;
};
static_assert(sizeof(test_header) == test_header_bytes);

/// Writes a test record (the test header and `payload` bytes, no Ethernet header) into `out`:
/// what a test frame carries after its Ethernet header, and what a TCP-framed generator puts in
/// a segment's payload. Returns the record length, or 0 when `out` is too small or the payload
/// too large.
inline std::size_t build_test_record(std::span<std::byte> out, std::uint16_t flow, std::uint64_t seq,
                                      std::size_t payload) noexcept
{
    const std::size_t len = test_header_bytes + payload;
    if (payload > max_payload_bytes || out.size() < len)
        return 0;
    std::byte* body = out.data() + test_header_bytes;
    const auto& block = detail::pattern_block();
    for (std::size_t done = 0, off = (seq * 61) % 4096; done < payload;) {
        const std::size_t n = std::min(payload - done, block.size() - off);
        std::memcpy(body + done, block.data() + off, n);
        done += n;
        off = 0;
    }
    const test_header h{test_magic, flow, 0, seq, static_cast<std::uint32_t>(payload),
                        detail::checksum({body, payload}, header_seed(flow, seq, payload))};
    std::memcpy(out.data(), &h, sizeof h);
    return len;
}

/// Writes a test frame of `payload` bytes into `out`; returns the frame length, or 0 when `out`
/// is too small or the payload too large.
inline std::size_t build_test_frame(std::span<std::byte> out, const std::array<std::uint8_t, 6>& dst,
                                     const std::array<std::uint8_t, 6>& src, std::uint16_t flow, std::uint64_t seq,
                                     std::size_t payload) noexcept
{
    const std::size_t len = test_frame_overhead + payload;
    if (payload > max_payload_bytes || out.size() < len)
        return 0;
    std::memcpy(out.data(), dst.data(), 6);
    std::memcpy(out.data() + 6, src.data(), 6);
    out[12] = static_cast<std::byte>(test_ethertype >> 8);
    out[13] = static_cast<std::byte>(test_ethertype & 0xff);
    build_test_record(out.subspan(eth_header_bytes), flow, seq, payload);
    return len;
}

/// What a received frame is, as the sink sees it.
enum class frame_verdict : std::uint8_t { ok, not_test_frame, truncated, corrupted };

[[nodiscard]] constexpr std::string_view to_string(frame_verdict v) noexcept
{
    switch (v) {
    case frame_verdict::ok: return "ok";
    case frame_verdict::not_test_frame: return "not a test frame";
    case frame_verdict::truncated: return "length does not match the header";
    case frame_verdict::corrupted: return "checksum mismatch";
    }
    return "unknown";
}

/// Checks the test record at the start of `bytes` (which may hold more after it: records
/// follow each other in a TCP-framed stream). On `ok`, `hdr` holds its header and the record
/// is `test_header_bytes + hdr.len` bytes long; `truncated` means `bytes` ends inside it.
[[nodiscard]] inline frame_verdict check_test_record(std::span<const std::byte> bytes, test_header& hdr) noexcept
{
    if (bytes.size() < test_header_bytes)
        return frame_verdict::truncated;
    std::memcpy(&hdr, bytes.data(), sizeof hdr);
    if (hdr.magic != test_magic)
        return frame_verdict::not_test_frame;
    if (hdr.reserved != 0) // not covered by the checksum: must be exactly as sent
        return frame_verdict::corrupted;
    if (bytes.size() - test_header_bytes < hdr.len)
        return frame_verdict::truncated;
    const std::uint32_t got = detail::checksum(bytes.subspan(test_header_bytes, hdr.len),
                                               header_seed(hdr.flow, hdr.seq, hdr.len));
    return got == hdr.csum ? frame_verdict::ok : frame_verdict::corrupted;
}

/// Checks a frame's header and checksum; on `ok`, `hdr` holds its header.
[[nodiscard]] inline frame_verdict check_test_frame(std::span<const std::byte> frame, test_header& hdr) noexcept
{
    if (frame.size() < test_frame_overhead ||
        frame[12] != static_cast<std::byte>(test_ethertype >> 8) ||
        frame[13] != static_cast<std::byte>(test_ethertype & 0xff))
        return frame_verdict::not_test_frame;
    const frame_verdict v = check_test_record(frame.subspan(eth_header_bytes), hdr);
    if (v == frame_verdict::ok && test_frame_overhead + std::size_t{hdr.len} != frame.size())
        return frame_verdict::truncated; // padded: longer than the header says
    return v;
}

/// Loss, duplication and reordering per flow, from sequence numbers alone.
///
/// The sink expects sequence numbers 0, 1, 2, ... per flow. A number beyond the next expected
/// one opens a gap (counted as lost until it arrives); a number inside the last `window`
/// numbers that was missing is a late arrival (reordered: no longer lost); one already seen is
/// a duplicate; one older than the window is counted as a duplicate-or-stale frame.
class sequence_tracker {
public:
    static constexpr std::uint64_t window = 4096;

    void record(std::uint64_t seq) noexcept
    {
        ++received_;
        if (seq == next_) {
            mark(seq);
            ++next_;
            return;
        }
        if (seq > next_) {
            // Everything in [next_, seq) is missing for now.
            const std::uint64_t gap = seq - next_;
            lost_ += gap;
            for (std::uint64_t s = next_; s < seq && s + window > seq; ++s)
                clear(s);
            mark(seq);
            next_ = seq + 1;
            return;
        }
        if (next_ - seq > window) {
            ++stale_;
            return;
        }
        if (seen(seq)) {
            ++duplicated_;
            return;
        }
        mark(seq);
        ++reordered_;
        --lost_;
    }

    [[nodiscard]] std::uint64_t received() const noexcept { return received_; }
    [[nodiscard]] std::uint64_t next_expected() const noexcept { return next_; }
    [[nodiscard]] std::uint64_t lost() const noexcept { return lost_; }
    [[nodiscard]] std::uint64_t duplicated() const noexcept { return duplicated_; }
    [[nodiscard]] std::uint64_t reordered() const noexcept { return reordered_; }
    [[nodiscard]] std::uint64_t stale() const noexcept { return stale_; }

private:
    void mark(std::uint64_t s) noexcept { bits_[(s / 64) % words] |= (1ull << (s % 64)); }
    void clear(std::uint64_t s) noexcept { bits_[(s / 64) % words] &= ~(1ull << (s % 64)); }
    [[nodiscard]] bool seen(std::uint64_t s) const noexcept { return (bits_[(s / 64) % words] >> (s % 64)) & 1u; }

    static constexpr std::size_t words = window / 64 * 2; // twice the window: no aliasing inside it
    std::array<std::uint64_t, words> bits_{};
    std::uint64_t next_ = 0;
    std::uint64_t received_ = 0, lost_ = 0, duplicated_ = 0, reordered_ = 0, stale_ = 0;
};

} // namespace xnv::example
