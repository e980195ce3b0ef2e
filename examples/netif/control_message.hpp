// SPDX-License-Identifier: MIT
#pragma once

// The control channel's messages between netback and a netfront: a length-prefixed binary
// protocol over a Unix stream socket, modelled on what a Xen netfront and netback exchange
// through xenstore (feature keys with Xen's names, queue layouts, xenbus states), with the
// shared memory and the event channels passed as file descriptors (SCM_RIGHTS).
// docs/control-channel.md is the specification; this file implements it.
//
// The parser is a pure function of the received bytes and descriptors: `parse` takes one
// complete frame and the descriptors that arrived with it, and returns a message or the reason
// for rejecting it. Every descriptor it is given ends up either in the returned message or
// closed, whatever the outcome. It performs no I/O and never throws, so it can be fed
// arbitrary input (fuzzing).

#include <xnv/mem/unique_fd.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <variant>

namespace xnv::example::control {

// ------------------------------------------------------------------ limits

inline constexpr std::uint16_t protocol_version = 1;
/// Frame header: u32 body length, u16 type, u16 reserved (0), little-endian.
inline constexpr std::size_t header_bytes = 8;
/// Largest body accepted; a longer announced length is rejected before the body is read.
inline constexpr std::size_t max_body_bytes = 1024;
inline constexpr std::size_t max_frame_bytes = header_bytes + max_body_bytes;
/// Most descriptors received with one message (the receive buffer's size); no message
/// carries more than 4.
inline constexpr std::size_t max_fds_per_message = 8;
/// Most queues a vif may have (Xen's `multi-queue-max-queues` is bounded the same way).
inline constexpr std::uint32_t max_queues = 16;
/// Most entries in one features message.
inline constexpr std::size_t max_feature_entries = 16;
/// MTU bounds: IPv4's minimum, and the largest frame a TX request chain can describe less the
/// Ethernet header (Linux netfront's limit with `feature-sg`); without SG it is 1500.
inline constexpr std::uint32_t min_mtu = 68;
inline constexpr std::uint32_t max_mtu = 65535 - 14;
inline constexpr std::uint32_t max_mtu_without_sg = 1500;
inline constexpr std::uint64_t page_bytes = 4096;
inline constexpr std::uint64_t max_region_bytes = std::uint64_t{1} << 30;
/// Most grant references / pages in one grant area.
inline constexpr std::uint32_t max_grant_area_entries = 65536;
inline constexpr std::size_t max_error_text = 256;

// ------------------------------------------------------------------ errors

/// Why a message, a descriptor or a whole negotiation was rejected. Values are stable: they
/// travel in `error_msg::code`.
enum class control_error : std::uint16_t {
    none = 0,
    // framing
    truncated = 1,         ///< fewer bytes than the header or the body's fields need
    oversize = 2,          ///< announced body length above max_body_bytes
    trailing_bytes = 3,    ///< bytes left after the last field of the body
    reserved_not_zero = 4, ///< a reserved field is not 0
    unknown_type = 5,      ///< message type not defined by this protocol
    // descriptors
    unexpected_fds = 10, ///< descriptors on a message that carries none (closed)
    wrong_fd_count = 11, ///< a memory or queue message with the wrong number of descriptors (closed)
    fds_truncated = 12,  ///< more descriptors than a message may carry: the excess was dropped
    // field values
    bad_version = 20,        ///< version range empty or starting at 0
    unknown_feature = 21,    ///< a feature key this protocol does not define
    duplicate_feature = 22,  ///< the same key twice in one message
    bad_feature_value = 23,  ///< wrong value length, or a boolean other than 0/1
    too_many_entries = 24,   ///< more feature entries than max_feature_entries
    zero_queues = 25,        ///< a queue count of 0
    too_many_queues = 26,    ///< a queue count above max_queues
    bad_mac = 27,            ///< all-zero or multicast MAC address
    bad_mtu = 28,            ///< MTU outside [min_mtu, max_mtu]
    bad_region_size = 29,    ///< region size 0, not whole pages, or above max_region_bytes
    bad_queue_index = 30,    ///< queue index at or above max_queues
    bad_event_channels = 31, ///< event channel count other than 1 or 2
    bad_layout = 32,         ///< ring or grant area offset not page-aligned, or a count out of range
    bad_state = 33,          ///< not a xenbus state this protocol uses
    bad_text = 34,           ///< error text too long or not printable ASCII
    // negotiation
    unexpected_message = 40,    ///< not valid in the current state or from this side
    version_mismatch = 41,      ///< no protocol version both sides speak
    misplaced_feature = 42,     ///< a key the other side sends (e.g. num-queues from netback)
    feature_not_offered = 43,   ///< netfront enabled a feature netback did not offer
    queues_above_max = 44,      ///< more queues than netback's multi-queue-max-queues
    missing_feature = 45,       ///< a required key is absent (num-queues, mac)
    rx_copy_required = 46,      ///< feature-rx-copy is not 1: copying receive is the only mode
    mtu_above_peer = 47,        ///< netfront's MTU above netback's
    mtu_needs_sg = 48,          ///< MTU above 1500 without feature-sg
    duplicate_queue = 49,       ///< a queue index described twice
    queue_out_of_range = 50,    ///< queue index at or above the negotiated count
    missing_queue = 51,         ///< initialised before every queue was described
    missing_memory = 52,        ///< initialised before the memory message
    layout_outside_region = 53, ///< a ring or grant area extends past the region
    layout_overlap = 54,        ///< two rings or grant areas overlap
    bad_memory = 55,            ///< the region descriptor failed the mapping checks
    bad_event_fd = 56,          ///< an event-channel descriptor is not an eventfd
    // connection
    peer_error = 60,       ///< the peer sent an error message and is closing
    peer_hung_up = 61,     ///< end of file / hang-up: the peer is gone
    io_error = 62,         ///< a socket call failed
    timeout = 63,          ///< the peer did not answer in time
    peer_not_allowed = 64, ///< the connecting process belongs to another user
    // data path
    protocol_violation = 70, ///< the peer broke the ring or grant protocol; its vif is disconnected
};

[[nodiscard]] std::string_view to_string(control_error e) noexcept;

// ------------------------------------------------------------------ values

enum class message_type : std::uint16_t {
    hello = 1,
    features = 2,
    memory = 3,
    queue = 4,
    state = 5,
    error = 6,
};

/// xenbus states, with Xen's values (`XenbusState*` in `public/io/xenbus.h`).
enum class xenbus_state : std::uint8_t {
    unknown = 0,
    initialising = 1,
    init_wait = 2,
    initialised = 3,
    connected = 4,
    closing = 5,
    closed = 6,
};

[[nodiscard]] std::string_view to_string(xenbus_state s) noexcept;

using mac_address = std::array<std::uint8_t, 6>;

/// The feature keys a message may carry, each at most once. Which side may send which key is
/// the session's business (docs/control-channel.md); the parser checks only the values.
struct feature_set {
    std::optional<bool> sg;                   // feature-sg
    std::optional<bool> gso_tcpv4;            // feature-gso-tcpv4
    std::optional<bool> gso_tcpv6;            // feature-gso-tcpv6
    std::optional<bool> rx_copy;              // feature-rx-copy
    std::optional<bool> split_event_channels; // feature-split-event-channels
    std::optional<std::uint32_t> max_queues;  // multi-queue-max-queues (netback)
    std::optional<std::uint32_t> num_queues;  // multi-queue-num-queues (netfront)
    std::optional<mac_address> mac;           // mac
    std::optional<std::uint32_t> mtu;         // mtu

    friend bool operator==(const feature_set&, const feature_set&) = default;
};

/// A grant area within the shared region: `refs` grant entries at `offset` (rounded up to
/// whole pages), followed by `pages` granted pages (see xnv::mem::grant_geometry).
struct grant_area {
    std::uint64_t offset = 0;
    std::uint32_t refs = 0;
    std::uint32_t pages = 0;

    [[nodiscard]] std::uint64_t bytes() const noexcept
    {
        const std::uint64_t entries = (std::uint64_t{refs} * 16 + page_bytes - 1) / page_bytes * page_bytes;
        return entries + std::uint64_t{pages} * page_bytes;
    }
    friend bool operator==(const grant_area&, const grant_area&) = default;
};

// ------------------------------------------------------------------ messages

struct hello_msg {
    std::uint16_t min_version = protocol_version;
    std::uint16_t max_version = protocol_version;
};

struct features_msg {
    feature_set features;
};

/// The shared region (one memfd, sealed against shrinking) and its size.
struct memory_msg {
    std::uint64_t bytes = 0;
    mem::unique_fd fd;
};

/// One queue: its TX and RX rings (one page each), a grant area per direction, and its event
/// channels. Each event channel is two eventfds, one per direction: `event_fds[2c]` is
/// signalled by netfront (netback waits on it), `event_fds[2c + 1]` by netback. Channel 0 is
/// the only one, or TX's when split; channel 1 is RX's when split.
struct queue_msg {
    std::uint16_t index = 0;
    std::uint8_t event_channels = 1;
    std::uint64_t tx_ring_offset = 0;
    std::uint64_t rx_ring_offset = 0;
    grant_area tx_grants;
    grant_area rx_grants;
    std::array<mem::unique_fd, 4> event_fds;

    [[nodiscard]] std::size_t fd_count() const noexcept { return std::size_t{event_channels} * 2; }
};

struct state_msg {
    xenbus_state state = xenbus_state::unknown;
};

/// Why the sender is closing the connection.
struct error_msg {
    std::uint16_t code = 0;
    std::uint16_t length = 0;
    std::array<char, max_error_text> text{};

    [[nodiscard]] std::string_view message() const noexcept { return {text.data(), length}; }
    /// Build one; text beyond max_error_text is cut, bytes outside printable ASCII become '?'.
    [[nodiscard]] static error_msg make(control_error code, std::string_view text) noexcept;
};

using message = std::variant<hello_msg, features_msg, memory_msg, queue_msg, state_msg, error_msg>;

[[nodiscard]] message_type type_of(const message& m) noexcept;
[[nodiscard]] std::string_view to_string(message_type t) noexcept;

// ------------------------------------------------------------------ descriptors

/// Descriptors received with one message: a fixed-capacity list that owns them, so whatever is
/// not moved into a message is closed when the list goes away.
class fd_list {
public:
    fd_list() = default;
    /// The moved-from list is empty.
    fd_list(fd_list&& other) noexcept : fds_(std::move(other.fds_)), size_(std::exchange(other.size_, 0)) {}
    fd_list& operator=(fd_list&& other) noexcept
    {
        if (this != &other) {
            clear();
            fds_ = std::move(other.fds_);
            size_ = std::exchange(other.size_, 0);
        }
        return *this;
    }

    /// Take ownership of `fd`; false (and `fd` closed) when the list is full.
    bool push(int fd) noexcept;
    /// Take ownership of `fd`; false (and `fd` closed) when the list is full.
    bool push(mem::unique_fd fd) noexcept { return push(fd.release()); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] int get(std::size_t i) const noexcept { return fds_[i].get(); }
    /// Move descriptor `i` out. @pre `i < size()`.
    [[nodiscard]] mem::unique_fd take(std::size_t i) noexcept { return std::move(fds_[i]); }
    /// Close all.
    void clear() noexcept;

private:
    std::array<mem::unique_fd, max_fds_per_message> fds_;
    std::size_t size_ = 0;
};

// ------------------------------------------------------------------ parse and encode

struct parse_result {
    message msg;
    control_error error = control_error::none;
    [[nodiscard]] bool ok() const noexcept { return error == control_error::none; }
};

/// Parse one complete frame (header and body) and the descriptors received with it. On
/// success the message owns the descriptors it carries; on failure `error` says why and every
/// descriptor has been closed. Pure: no I/O, no allocation, never throws.
[[nodiscard]] parse_result parse(std::span<const std::byte> frame, fd_list fds) noexcept;

/// Encode `m` into `out` and return the frame length. Values are written as given, unchecked,
/// so tests can build invalid messages; the descriptors are not part of the bytes (see
/// `fds_of`). Never fails: every message fits max_frame_bytes.
std::size_t encode(const message& m, std::span<std::byte, max_frame_bytes> out) noexcept;

/// The descriptors `m` carries, in the order they are sent.
struct fd_refs {
    std::array<int, 4> fds{};
    std::size_t count = 0;
    [[nodiscard]] std::span<const int> span() const noexcept { return {fds.data(), count}; }
};
[[nodiscard]] fd_refs fds_of(const message& m) noexcept;

} // namespace xnv::example::control
