// SPDX-License-Identifier: MIT
#pragma once

// netback's uplink: a TAP interface attached to its learning switch as one more port, the way
// a Xen host's bridge holds the physical NIC beside the vifs (docs/netback.md, "Uplink port").
//
// The device comes from tap_device (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), so offloads keep their
// state in both directions: a partial checksum or a TSO super-frame read from the kernel becomes
// netif's csum_blank / GSO slot for the vifs, and a vif's csum_blank or GSO frame is written back
// with NEEDS_CSUM and its GSO fields; the kernel segments only where the frame finally leaves.
//
// Threads: frames from the kernel are read by a thread of the uplink's own (it sleeps in poll on
// the TAP and a stop eventfd), never by netback's workers: the scheduler's workers have no
// descriptor to wait on, and a worker must not stall on an interface. That thread hands each
// frame to a sink (netback's switch), which copies it into the destination vifs' RX backlogs or
// drops it when a backlog is full; it never waits for a guest. Frames to the kernel are written
// by the TX tasklet that switched them, on whichever worker it runs (`write` is callable from
// any thread; a TAP write does not block).

#include "netfront_engine.hpp"
#include "ref_format.hpp"
#include "ref_tap.hpp"

#include <xnv/mem/unique_fd.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace xnv::example {

/// What to create. Thread safety: plain data.
struct uplink_config {
    std::string name;  ///< interface name, 1..15 characters
    std::string netns; ///< named network namespace; empty: netback's own
    mac_bytes mac{};   ///< the interface's MAC (all zero: the kernel's random one)
    std::uint32_t mtu = 1500;
    tap_offloads offloads{}; ///< what the kernel may hand over (TUNSETOFFLOAD)
};

/// What the switch did with one frame read from the uplink.
struct uplink_verdict {
    std::uint32_t delivered = 0; ///< vif backlogs it was queued in
    std::uint32_t full = 0;      ///< vif backlogs that had no room: dropped there
    bool hairpin = false;        ///< its destination was learned on the uplink itself: dropped
};

/// Counters of the uplink port, readable from any thread (approximate while running).
/// "read" is the kernel-to-vifs direction, "written" the vifs-to-kernel one.
struct uplink_stats {
    std::string name;
    std::string netns;
    std::uint64_t read_frames = 0; ///< frames read from the TAP and switched
    std::uint64_t read_bytes = 0;
    std::uint64_t read_gso = 0;       ///< TSO super-frames among them
    std::uint64_t read_dropped = 0;   ///< frames netif cannot carry (UDP fragmentation offload, over 65535 bytes)
    std::uint64_t to_vifs = 0;        ///< copies queued in vif backlogs (a flooded frame counts once per vif)
    std::uint64_t vif_full = 0;       ///< copies dropped because a vif's backlog was full
    std::uint64_t no_destination = 0; ///< frames no vif took (none connected, or all full)
    std::uint64_t hairpin = 0;        ///< frames to a MAC learned on the uplink itself
    std::uint64_t written_frames = 0; ///< frames from vifs written to the TAP
    std::uint64_t written_bytes = 0;
    std::uint64_t written_gso = 0;  ///< GSO super-frames among them
    std::uint64_t write_errors = 0; ///< frames the kernel refused
};

/// The uplink TAP and its reader thread.
///
/// Thread safety: construct, `start`, `stop` and destroy on one thread; `write` and `stats` from
/// any thread. Progress: `write` is one non-blocking system call.
class uplink_tap {
public:
    /// The switch's side: called on the reader thread for every frame, with its metadata in
    /// netif's transmit terms (txf:: flags), as a vif's TX ring would carry it.
    using sink = std::function<uplink_verdict(std::span<const std::byte> frame, const frame_meta& meta)>;

    /// Creates and configures the interface (tap_device's checks and errors, named after
    /// netback's --uplink-* options) and sets its offloads.
    /// @throws std::runtime_error naming the problem (no CAP_NET_ADMIN, /dev/net/tun missing,
    ///         an unknown namespace, a name too long, an MTU out of range)
    explicit uplink_tap(const uplink_config& cfg);
    ~uplink_tap();
    uplink_tap(const uplink_tap&) = delete;
    uplink_tap& operator=(const uplink_tap&) = delete;

    /// Start the reader thread. @pre not started. @throws std::system_error if it cannot start
    void start(sink s);
    /// Stop and join the reader thread (idempotent). The interface stays until destruction.
    void stop() noexcept;

    /// Write one frame from a vif. `meta.csum_flags` are netif rxf:: flags (as a receiving
    /// guest would see them). Returns false when the kernel refused it (counted).
    bool write(std::span<const std::byte> frame, const frame_meta& meta) noexcept;

    [[nodiscard]] uplink_stats stats() const;
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

private:
    void run() noexcept;

    std::string name_;
    std::string netns_;
    mem::unique_fd fd_;
    mem::unique_fd stop_fd_; // an eventfd: readable once `stop` asks the reader to leave
    sink sink_;
    std::vector<std::byte> buf_; // the reader's frame buffer, allocated once
    std::thread reader_;

    // Written by the reader thread only (relaxed load + store suffices); the "written" ones by
    // every worker's TX tasklets at once, so those are read-modify-writes.
    struct counters {
        std::atomic<std::uint64_t> read_frames{0}, read_bytes{0}, read_gso{0}, read_dropped{0}, to_vifs{0}, vif_full{0},
            no_destination{0}, hairpin{0};
        std::atomic<std::uint64_t> written_frames{0}, written_bytes{0}, written_gso{0}, write_errors{0};
    };
    std::unique_ptr<counters> c_ = std::make_unique<counters>();
};

} // namespace xnv::example
