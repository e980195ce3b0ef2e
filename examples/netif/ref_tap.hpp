// SPDX-License-Identifier: MIT
#pragma once

// A Linux TAP device as a netfront's frame source and sink (docs/paper.md, "TAP mode").
//
// The device is opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, one descriptor per vif queue
// (IFF_MULTI_QUEUE when there are several), so every frame crosses the descriptor with a
// virtio_net_hdr in front: checksum offload ("partial" checksums) and TSO super-frames pass
// through unsplit and map onto netif's csum_blank flag and GSO extra-info slot.
// The device is not persistent: it disappears when the last descriptor is closed.

#include "netfront_engine.hpp"
#include "ref_format.hpp"

#include <xnv/mem/unique_fd.hpp>
#include <xnv/wire/netif.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace xnv::example {

/// The command-line options a program names in tap_device's error messages, so each program's
/// errors point at its own options (netfront's --tap-*, netback's --uplink-*).
struct tap_option_names {
    std::string name = "--tap-name";
    std::string netns = "--tap-netns";
    std::string mtu = "--tap-mtu";
};

/// What to create. Thread safety: plain data.
struct tap_config {
    std::string name;        ///< interface name (at most 15 characters; empty: the kernel picks)
    std::string netns;       ///< named network namespace (/var/run/netns/NAME); empty: the current one
    mac_bytes mac{};         ///< the interface's MAC (all zero: the kernel's random one)
    std::uint32_t mtu = 1500;
    std::uint32_t queues = 1; ///< descriptors to open; above 1 means IFF_MULTI_QUEUE
    bool bring_up = true;     ///< set IFF_UP once configured
    tap_option_names options{}; ///< how error messages name the settings above
};

/// Offloads to accept from the kernel (TUNSETOFFLOAD), from what netback negotiated.
struct tap_offloads {
    bool csum = true;
    bool tso4 = false;
    bool tso6 = false;
};

/// An open TAP device: its queue descriptors.
///
/// @throws std::runtime_error with a clear message when /dev/net/tun is missing, when the
/// caller lacks CAP_NET_ADMIN, when the namespace does not exist, or when an ioctl is refused.
/// Thread safety: constructed and configured on one thread (it may enter another network
/// namespace for the duration of the constructor; it returns to the caller's before it ends).
class tap_device {
public:
    explicit tap_device(const tap_config& cfg);
    tap_device(const tap_device&) = delete;
    tap_device& operator=(const tap_device&) = delete;
    tap_device(tap_device&&) noexcept = default;
    tap_device& operator=(tap_device&&) noexcept = default;
    ~tap_device() = default;

    /// Tell the kernel which offloaded frames this side can take (TUNSETOFFLOAD) on every queue.
    void set_offloads(const tap_offloads& o);
    /// Keep only the first `n` queues (closing a multi-queue descriptor detaches that queue).
    void keep_queues(std::uint32_t n);
    /// Hand queue `q`'s descriptor over (the device stays while any descriptor is open).
    [[nodiscard]] mem::unique_fd take_queue(std::uint32_t q);

    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] std::uint32_t queues() const noexcept { return static_cast<std::uint32_t>(fds_.size()); }

private:
    std::string name_;
    std::vector<mem::unique_fd> fds_;
};

/// Byte size of the virtio_net_hdr in front of each frame (the legacy header, the default
/// TUNSETVNETHDRSZ).
inline constexpr std::size_t vnet_header_bytes = 10;

/// The virtio_net_hdr fields, host order.
struct vnet_header {
    std::uint8_t flags = 0;    ///< VIRTIO_NET_HDR_F_*
    std::uint8_t gso_type = 0; ///< VIRTIO_NET_HDR_GSO_*
    std::uint16_t hdr_len = 0;
    std::uint16_t gso_size = 0;
    std::uint16_t csum_start = 0;
    std::uint16_t csum_offset = 0;
};

/// Where a frame's L4 checksum lives: offsets for a partial checksum and the header length.
struct l4_location {
    bool ok = false;
    std::uint16_t csum_start = 0;  ///< offset of the TCP/UDP header
    std::uint16_t csum_offset = 0; ///< offset of the checksum field within it
    std::uint16_t header_bytes = 0; ///< through the end of the TCP/UDP header
};

/// Find the TCP or UDP header of an Ethernet frame carrying IPv4 (any options) or IPv6 (no
/// extension headers), with or without one 802.1Q tag. Never reads outside `frame`.
[[nodiscard]] l4_location locate_l4(std::span<const std::byte> frame) noexcept;

/// The netif metadata of a frame read from the TAP (transmit direction).
/// @return false when the header asks for something netif cannot carry (UDP fragmentation
/// offload, an unknown GSO type)
[[nodiscard]] bool vnet_to_netif(const vnet_header& h, frame_meta& out) noexcept;
/// The virtio_net_hdr for a frame received from netback (receive direction).
[[nodiscard]] vnet_header netif_to_vnet(std::span<const std::byte> frame, const frame_meta& m) noexcept;
[[nodiscard]] vnet_header decode_vnet(std::span<const std::byte, vnet_header_bytes> raw) noexcept;
void encode_vnet(const vnet_header& h, std::span<std::byte, vnet_header_bytes> raw) noexcept;

/// One frame read from a TAP descriptor opened with IFF_VNET_HDR.
struct vnet_read {
    enum class status : std::uint8_t {
        frame,   ///< `frame_bytes` bytes of frame follow the virtio_net_hdr in the buffer; `meta` says its offloads
        none,    ///< nothing waiting (EAGAIN), or the descriptor failed: poll says more
        dropped, ///< a frame netif cannot carry (too short, over 65535 bytes, an offload it has no slot for)
    };
    status st = status::none;
    std::size_t frame_bytes = 0;
    frame_meta meta{};
};

/// Bytes a buffer passed to `read_vnet_frame` needs: the header, the largest netif frame, and
/// one more byte so an oversized frame is seen as such rather than cut.
inline constexpr std::size_t vnet_read_buffer_bytes = vnet_header_bytes + netif::max_tx_size + 1;

/// Read one frame (one `read`, never blocking on an O_NONBLOCK descriptor) into `buf`, which
/// holds at least `vnet_read_buffer_bytes`, and translate its virtio_net_hdr.
/// Thread safety: one reader per descriptor.
[[nodiscard]] vnet_read read_vnet_frame(int fd, std::span<std::byte> buf) noexcept;
/// The same with the virtio_net_hdr and the frame read into separate buffers (one `readv`), so
/// the frame lands where its reader wants it. A frame that fills `frame` may have been cut and
/// is `dropped`: give `frame` at least `netif::max_tx_size + 1` bytes to lose none.
[[nodiscard]] vnet_read read_vnet_frame(int fd, std::span<std::byte, vnet_header_bytes> header,
                                        std::span<std::byte> frame) noexcept;
/// The same with the frame spread over `pieces` in order (at most `tx_frame_pages`; more are
/// `dropped` unread): netfront reads into the pages it grants.
[[nodiscard]] vnet_read read_vnet_frame(int fd, std::span<std::byte, vnet_header_bytes> header,
                                        std::span<const std::span<std::byte>> pieces) noexcept;

/// Outcome of `write_vnet_frame`.
enum class vnet_write : std::uint8_t {
    written,     ///< the frame went out as it is
    written_gso, ///< the frame went out as a GSO super-frame (the kernel segments it where it leaves)
    refused,     ///< the kernel refused it or took only part of it
};

/// Write one frame with the virtio_net_hdr its receive-side metadata asks for (`netif_to_vnet`)
/// in one `writev`. Thread safety: any thread; the kernel takes each write as one frame.
[[nodiscard]] vnet_write write_vnet_frame(int fd, std::span<const std::byte> frame, const frame_meta& meta) noexcept;

/// Write one frame given in pieces (at most `netif::nr_slots_min`, in order) with the
/// virtio_net_hdr its metadata asks for, in one `writev` straight from the pieces: the same
/// header `write_vnet_frame` writes for the frame copied together (the headers are read from
/// `frame_head`), without that copy. More pieces than that are refused.
/// Thread safety: any thread; the kernel takes each write as one frame.
[[nodiscard]] vnet_write write_vnet_fragments(int fd, std::span<const std::span<const std::byte>> frags,
                                              const frame_meta& meta) noexcept;

/// Counters of one TAP queue, readable from any thread (approximate while running).
struct tap_stats {
    std::uint64_t read_frames = 0;
    std::uint64_t read_bytes = 0;
    std::uint64_t read_gso = 0;       ///< TSO super-frames read
    std::uint64_t read_dropped = 0;   ///< frames netif cannot carry
    std::uint64_t written_frames = 0;
    std::uint64_t written_bytes = 0;
    std::uint64_t written_gso = 0;
    std::uint64_t write_errors = 0;   ///< frames the kernel refused
};

/// One queue of a TAP device as a netfront `frame_port`. Used by that queue's thread only
/// (the counters excepted).
class tap_port final : public frame_port {
public:
    explicit tap_port(mem::unique_fd fd);

    /// Now, unless the last read found the device empty; then now only if it is readable
    /// again (one `poll` that does not wait).
    nanos next_due(nanos now) override;
    /// Reads the frame straight into `buf` (at least `netif::max_tx_size + 1` bytes: a frame
    /// that fills `buf` may have been cut and is dropped).
    std::size_t next_frame(std::span<std::byte> buf, frame_meta& meta, nanos now) override;
    /// Reads the frame straight into `pages` (one `readv`); `scratch` is not used. Pages that
    /// hold `netif::max_tx_size + 1` bytes lose no frame; one that fills them all may have
    /// been cut and is dropped.
    std::size_t next_frame_paged(std::span<const std::span<std::byte>> pages, std::span<std::byte> scratch,
                                 frame_meta& meta, nanos now) override;
    [[nodiscard]] int tx_wait_fd() const noexcept override { return fd_.get(); }
    void deliver(std::span<const std::byte> frame, const frame_meta& meta) override;
    /// Writes the pieces with `write_vnet_fragments`; `gather` is not used.
    void deliver_fragments(std::span<const std::span<const std::byte>> frags, const frame_meta& meta,
                           std::span<std::byte> gather) override;
    [[nodiscard]] bool tx_done() const noexcept override { return false; }

    [[nodiscard]] tap_stats stats() const noexcept;

private:
    std::size_t read_into(std::span<const std::span<std::byte>> pieces, frame_meta& meta) noexcept;
    void count_write(vnet_write w, std::size_t bytes) noexcept;

    mem::unique_fd fd_;
    // The last read found nothing: no frame is due until the device is readable again.
    bool dry_ = false;
    struct counters {
        std::atomic<std::uint64_t> read_frames{0}, read_bytes{0}, read_gso{0}, read_dropped{0};
        std::atomic<std::uint64_t> written_frames{0}, written_bytes{0}, written_gso{0}, write_errors{0};
    } c_;
};

} // namespace xnv::example
