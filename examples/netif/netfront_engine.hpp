// SPDX-License-Identifier: MIT
#pragma once

// The reference netfront's data path: the shared memory of one vif (rings, grant tables and
// their pages, event channels) and one thread per queue that transmits frames from granted
// pages and keeps the RX ring filled, takes what netback delivers, merges TCP segments (LRO)
// and hands frames up. Frames come from and go to a `frame_port`: the built-in traffic
// generator and sink (`traffic_port`) or a TAP device (`tap_port`, ref_tap.hpp). A frame is
// read into the pages it is granted in, and a received frame LRO does not merge is handed up
// in the pages it arrived in, so a port that reads and writes scattered (the TAP) copies it
// only in the kernel. docs/netback.md describes the threads and every counter.

#include "control_session.hpp"
#include "lro.hpp"
#include "ref_format.hpp"
#include "ref_layout.hpp"
#include "ref_policy.hpp"
#include "traffic.hpp"

#include <xnv/mem/region.hpp>
#include <xnv/notify/counters.hpp>
#include <xnv/notify/eventfd_channel.hpp>
#include <xnv/wire/netif_front.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace xnv::example {

/// Metadata of a frame crossing a `frame_port`.
struct frame_meta {
    /// netif txf:: (transmit) or rxf:: (receive) checksum flags.
    std::uint16_t csum_flags = 0;
    netif::gso_info gso{};
    /// Receive side: segments LRO merged into this frame (1: as received).
    unsigned segments = 1;
};

/// Bytes from a frame's start that hold every header netfront and its ports read: Ethernet,
/// one 802.1Q tag, IPv4 with the longest options (IPv6 without extension headers is shorter)
/// and TCP with the longest options, 14 + 4 + 60 + 60 = 138, rounded up.
inline constexpr std::size_t frame_head_bytes = 256;

/// The first `frame_head_bytes` of a frame in pieces (all of it when it is shorter): the first
/// piece itself when it holds them (the usual case: a backend fills whole pages), otherwise
/// copied together into `copy`. Header parsers given this see what they would see in the
/// whole frame.
[[nodiscard]] inline std::span<const std::byte> frame_head(std::span<const std::span<const std::byte>> frags,
                                                           std::span<std::byte, frame_head_bytes> copy) noexcept
{
    if (frags.empty())
        return {};
    if (frags[0].size() >= frame_head_bytes || frags.size() == 1)
        return frags[0].first(std::min(frags[0].size(), frame_head_bytes));
    std::size_t at = 0;
    for (const auto& f : frags) {
        const std::size_t n = std::min(f.size(), frame_head_bytes - at);
        std::memcpy(copy.data() + at, f.data(), n);
        at += n;
        if (at == frame_head_bytes)
            break;
    }
    return {copy.data(), at};
}

/// Pages that hold the largest netif frame (65535 bytes).
inline constexpr std::size_t tx_frame_pages = (netif::max_tx_size + netif::page_size - 1) / netif::page_size;

/// Where a queue's frames come from and go to. One object per queue, used by that queue's
/// thread only. The generator and sink (`traffic_port`) and the TAP (`tap_port`) implement it.
class frame_port {
public:
    virtual ~frame_port() = default;
    /// When the next frame may be sent (rate pacing); `nanos::zero()`: now; `nanos::max()`:
    /// nothing more to send (for now: `tx_wait_fd` may say when).
    [[nodiscard]] virtual nanos next_due(nanos now) = 0;
    /// Write the next frame into `buf` (65535 bytes) and its metadata into `meta`; return its
    /// length (0: none after all). Called only when `next_due` said it is due.
    [[nodiscard]] virtual std::size_t next_frame(std::span<std::byte> buf, frame_meta& meta, nanos now) = 0;
    /// The same into the pages netfront grants (each `netif::page_size` bytes, at least
    /// `tx_frame_pages` of them): the frame's bytes in order, each page filled before the next.
    /// The default writes the frame into `scratch` (as `buf` above) with `next_frame` and copies
    /// it across the pages; a port that can read scattered (the TAP's `readv`) overrides it, so
    /// that the frame lands in the pages without that copy.
    [[nodiscard]] virtual std::size_t next_frame_paged(std::span<const std::span<std::byte>> pages,
                                                       std::span<std::byte> scratch, frame_meta& meta, nanos now);
    /// A descriptor that becomes readable when frames are waiting (-1: none; pacing only).
    [[nodiscard]] virtual int tx_wait_fd() const noexcept { return -1; }
    /// A received frame (contiguous), after reassembly and LRO.
    virtual void deliver(std::span<const std::byte> frame, const frame_meta& meta) = 0;
    /// A received frame LRO did not touch, in the pieces of granted pages it arrived in (in
    /// order, at most `netif::nr_slots_min`, each non-empty), so that a port which can hand
    /// pieces on (the TAP's `writev`) need not copy them together first. The pieces are valid
    /// only during the call. The default gathers them into `gather` and calls `deliver`.
    /// @pre the pieces' total size is at most `gather.size()`
    virtual void deliver_fragments(std::span<const std::span<const std::byte>> frags, const frame_meta& meta,
                                   std::span<std::byte> gather);
    /// No further frames will be asked for (generation finished).
    [[nodiscard]] virtual bool tx_done() const noexcept = 0;
};

/// How the generator sizes frames.
enum class size_dist : std::uint8_t { fixed, uniform, log_uniform };
/// How generated frames are framed.
enum class gen_proto : std::uint8_t { raw, tcp };

/// Bytes before the test record in a TCP-framed frame: Ethernet, IPv4, TCP.
inline constexpr std::size_t tcp_frame_overhead = 14 + 20 + 20;
/// Smallest frame each framing can carry (headers and the test header, no payload).
[[nodiscard]] constexpr std::size_t min_frame_bytes(gen_proto p) noexcept
{
    return (p == gen_proto::tcp ? tcp_frame_overhead : eth_header_bytes) + test_header_bytes;
}

struct generator_config {
    mac_bytes mac{};
    mac_bytes peer{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    gen_proto proto = gen_proto::raw;
    size_dist dist = size_dist::fixed;
    std::uint32_t size_min = 1514;
    std::uint32_t size_max = 1514;
    /// Frames per second for the whole vif (split over queues); 0: as fast as possible.
    std::uint64_t rate = 0;
    /// Frames to send for the whole vif (split over queues); 0: no limit.
    std::uint64_t count = 0;
    /// Stop sending after this long; zero: no limit.
    nanos duration{0};
    std::uint64_t seed = 1;
    /// false: a sink only; nothing but the announcements is sent.
    bool transmit = true;
    /// TCP framing: the MTU decides which frames are GSO frames (MSS = MTU - 40).
    std::uint32_t mtu = 1500;
    bool gso = false;
    /// Send test frames only once a frame from `peer` has arrived (ARP's job on a real
    /// network: a frame for a station the switch does not know yet is flooded, or dropped when
    /// the station has not connected at all). Shared by the vif's queues; null: do not wait.
    /// Queue 0 announces the vif (a broadcast frame) every 100 ms while waiting and every
    /// second afterwards, so peers that wait for it and the switch learn it.
    std::shared_ptr<std::atomic<bool>> peer_seen;
};

/// What one queue's sink counted.
struct sink_stats {
    std::uint64_t frames = 0;     ///< frames handed up (after LRO)
    std::uint64_t records = 0;    ///< test records (generated packets) that checked out
    std::uint64_t bytes = 0;      ///< frame bytes handed up
    std::uint64_t corrupted = 0;  ///< checksum mismatch
    std::uint64_t truncated = 0;  ///< length not what the header says
    std::uint64_t not_mine = 0;   ///< unicast to another MAC (flooded by the switch)
    std::uint64_t other = 0;      ///< not a test frame (announcements, foreign traffic)
    std::uint64_t untracked = 0;  ///< records of flows beyond the table's capacity
    std::uint64_t lost = 0;       ///< sequence gaps still open
    std::uint64_t duplicated = 0;
    std::uint64_t reordered = 0;
    std::uint64_t stale = 0;
    std::uint64_t lro_frames = 0; ///< delivered frames that LRO merged from several segments
};

struct flow_stats {
    mac_bytes src{};
    std::uint16_t flow = 0;
    std::uint64_t received = 0;
    std::uint64_t next_expected = 0;
    std::uint64_t lost = 0;
    std::uint64_t duplicated = 0;
    std::uint64_t reordered = 0;
};

/// The generator and the sink of one queue.
class traffic_port final : public frame_port {
public:
    /// @param queue, queues: this queue and how many the vif has (rate and count are split)
    traffic_port(const generator_config& cfg, std::uint32_t queue, std::uint32_t queues);

    nanos next_due(nanos now) override;
    std::size_t next_frame(std::span<std::byte> buf, frame_meta& meta, nanos now) override;
    void deliver(std::span<const std::byte> frame, const frame_meta& meta) override;
    [[nodiscard]] bool tx_done() const noexcept override;

    [[nodiscard]] std::uint64_t generated() const noexcept { return seq_; }
    /// When the first test frame was due (steady clock; negative: never). Queue thread, or
    /// after it stopped.
    [[nodiscard]] nanos started_at() const noexcept { return start_; }
    [[nodiscard]] sink_stats stats() const noexcept;
    [[nodiscard]] std::vector<flow_stats> flows() const;
    /// Records received so far, and those that failed their check (any thread, approximate).
    [[nodiscard]] std::uint64_t records_approx() const noexcept { return records_.load(std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t bad_approx() const noexcept { return bad_.load(std::memory_order_relaxed); }
    /// Test packets generated so far (any thread, approximate).
    [[nodiscard]] std::uint64_t generated_approx() const noexcept { return gen_.load(std::memory_order_relaxed); }

    /// The frame size the generator draws next (exposed for tests of the distribution).
    [[nodiscard]] std::uint32_t draw_size() noexcept;

    static constexpr std::size_t max_flows = 64;

private:
    struct flow_entry {
        mac_bytes src{};
        std::uint16_t flow = 0;
        std::unique_ptr<sequence_tracker> t;
    };
    [[nodiscard]] bool waiting() const noexcept
    {
        return cfg_.peer_seen && !cfg_.peer_seen->load(std::memory_order_relaxed);
    }
    void record(const mac_bytes& src, const test_header& h);
    void count_record(std::span<const std::byte> bytes, const mac_bytes& src);

    generator_config cfg_;
    std::uint16_t flow_;
    std::uint64_t quota_ = 0; // 0: unlimited
    double interval_ns_ = 0;  // 0: saturate
    nanos start_{-1};
    double next_ns_ = 0;
    std::uint64_t seq_ = 0;
    std::uint64_t rng_;
    std::uint32_t tcp_seq_ = 0;
    std::uint16_t ip_id_ = 0;
    std::vector<flow_entry> flows_;
    sink_stats s_{};
    bool announcer_ = false;
    nanos next_announce_{0};
    bool done_ = false;
    std::atomic<std::uint64_t> records_{0};
    std::atomic<std::uint64_t> bad_{0};
    std::atomic<std::uint64_t> gen_{0};
};

/// What every queue thread is told.
struct netfront_config {
    coalesce_settings coalesce{};
    bool lro = true;
    /// Frames handled per loop iteration per direction.
    std::uint32_t budget = 64;
    /// How long a queue thread keeps polling its rings and its frame source after the last
    /// work it found before it re-arms the rings and sleeps (Linux's busy_poll): a round trip
    /// that comes back within it costs no wake-up. Zero (the default): sleep at once. It takes
    /// a core while it polls, and yields it to any other runnable thread between polls.
    std::chrono::microseconds busy_poll{0};
};

/// Counters of one netfront queue, readable from any thread.
struct nf_queue_stats {
    std::uint64_t tx_packets = 0;
    std::uint64_t tx_bytes = 0;
    std::uint64_t tx_errors = 0;   ///< frames netback answered with an error status
    std::uint64_t rx_packets = 0;  ///< frames reassembled from the RX ring (before LRO)
    std::uint64_t rx_bytes = 0;
    std::uint64_t rx_drops = 0;    ///< frames rx_frontend dropped (bad responses, slot errors)
    std::uint64_t kicks = 0;       ///< notifications received from netback
    std::uint64_t end_retries = 0; ///< grant ends refused while netback still held them (retried)
    notify::counters_snapshot tx_notify{}; ///< our notifications for TX requests
    notify::counters_snapshot rx_notify{}; ///< our notifications for posted RX buffers
};

/// The shared memory, event channels and queue threads of one netfront vif.
///
/// Life cycle: construct (creates the memfd, the rings, the grant tables and the eventfds for
/// the negotiated parameters), `plan()` for the control channel, `start()` once connected,
/// `stop()` (or destroy). Thread safety: the members are called from one control thread.
class netfront_vif {
public:
    /// @param ports one per queue (`params.queues` of them), owned by the vif from now on
    /// @throws std::system_error / std::invalid_argument if memory or eventfds cannot be had
    netfront_vif(const control::negotiated& params, const netfront_config& cfg,
                 std::vector<std::unique_ptr<frame_port>> ports);
    ~netfront_vif();
    netfront_vif(const netfront_vif&) = delete;
    netfront_vif& operator=(const netfront_vif&) = delete;

    /// What the control channel describes to netback (descriptors borrowed from this object).
    [[nodiscard]] control::front_layout plan() const;

    /// Start one thread per queue.
    void start();
    /// Ask the threads to stop, join them, end every grant still out. Idempotent.
    void stop();

    /// Every queue finished sending and has no frame in flight on its TX ring.
    [[nodiscard]] bool tx_idle() const noexcept;
    /// A queue found netback violating the protocol (its reason in `failure()`), or a queue
    /// thread stopped on an error.
    [[nodiscard]] bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
    [[nodiscard]] std::string failure() const;

    [[nodiscard]] std::vector<nf_queue_stats> stats() const;
    [[nodiscard]] std::uint32_t queues() const noexcept { return static_cast<std::uint32_t>(queues_.size()); }
    [[nodiscard]] frame_port& port(std::uint32_t q) const noexcept;
    [[nodiscard]] const control::negotiated& params() const noexcept { return params_; }
    [[nodiscard]] const vif_layout& layout() const noexcept { return layout_; }
    /// LRO frames merged, all queues (after stop).
    [[nodiscard]] std::uint64_t lro_merged() const noexcept;
    /// After `stop()`: grants whose end netback refused at teardown (it still held them, e.g.
    /// it died in the middle of a copy). They cannot be ended; they go with the shared memory
    /// when the vif is destroyed.
    [[nodiscard]] std::size_t grants_held() const noexcept;
    /// Stop (as `stop()`) and hand the frame ports back, so that a new vif can carry on with
    /// them: netfront's reconnect keeps its generator's sequence numbers and sink, or its TAP
    /// queues. Afterwards the vif may only be destroyed (`port()` and `start()` are invalid).
    [[nodiscard]] std::vector<std::unique_ptr<frame_port>> release_ports();

    struct queue;

private:
    friend struct queue;
    void fail(std::string reason);

    control::negotiated params_;
    netfront_config cfg_;
    vif_layout layout_;
    mem::shared_region region_;
    std::vector<std::unique_ptr<frame_port>> ports_;
    std::vector<std::unique_ptr<queue>> queues_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> failed_{false};
    mutable std::mutex failure_mutex_;
    std::string failure_;
    bool started_ = false;
};

} // namespace xnv::example
