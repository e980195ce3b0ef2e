// SPDX-License-Identifier: MIT
#pragma once

// The control channel's negotiation, as two state machines fed with parsed messages: netback's
// `back_session` and netfront's `front_session`. They mirror xenbus: netback publishes what it
// offers and waits (init-wait), netfront chooses, describes its rings and event channels and
// says initialised, netback checks and maps everything and says connected. Every rule is
// checked with a reason (docs/control-channel.md lists them). The machines do no socket I/O;
// `front_handshake` and `back_handshake` drive them over a socket for the simple cases.

#include "control_message.hpp"
#include "control_socket.hpp"

#include <xnv/mem/region.hpp>
#include <xnv/mem/unique_fd.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace xnv::example::control {

/// What netback offers every netfront.
struct back_offer {
    bool sg = true;
    bool gso_tcpv4 = true;
    bool gso_tcpv6 = true;
    bool split_event_channels = true;
    std::uint32_t max_queues = 4; ///< 1..max_queues
    std::uint32_t mtu = max_mtu;  ///< min_mtu..max_mtu

    /// The features message netback sends (feature-rx-copy is always 1).
    [[nodiscard]] feature_set features() const;
};

/// What a netfront asks for; it gets at most what netback offers.
struct front_request {
    bool sg = true;
    bool gso_tcpv4 = true;
    bool gso_tcpv6 = true;
    bool split_event_channels = true;
    std::uint32_t queues = 1; ///< 1..max_queues
    mac_address mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
    std::uint32_t mtu = 1500; ///< min_mtu..max_mtu
};

/// What both sides agreed on.
struct negotiated {
    std::uint16_t version = protocol_version;
    bool sg = false;
    bool gso_tcpv4 = false;
    bool gso_tcpv6 = false;
    bool split_event_channels = false;
    std::uint32_t queues = 1;
    mac_address mac{};
    std::uint32_t mtu = 1500;

    friend bool operator==(const negotiated&, const negotiated&) = default;
};

/// netfront's choice given netback's features: each feature on if both want it, queues and MTU
/// the smaller of the two (MTU at most 1500 without SG). Errors: misplaced_feature (netback
/// sent a netfront key), rx_copy_required.
struct negotiation {
    negotiated params;
    control_error error = control_error::none;
};
[[nodiscard]] negotiation negotiate(const front_request& want, const feature_set& backend) noexcept;

/// One queue as netback received it.
struct queue_setup {
    std::uint64_t tx_ring_offset = 0;
    std::uint64_t rx_ring_offset = 0;
    grant_area tx_grants;
    grant_area rx_grants;
    std::uint8_t event_channels = 1;
    /// See queue_msg: [2c] netfront signals, [2c + 1] netback signals, per channel c.
    std::array<mem::unique_fd, 4> event_fds;
};

/// Everything netback holds for a connected netfront.
struct back_connection {
    negotiated params;
    mem::shared_region region; ///< the netfront's memfd, mapped after the checks
    std::vector<queue_setup> queues;
};

/// What feeding one message produced.
struct step {
    control_error error = control_error::none; ///< a violation: send `error_msg` and close
    std::string detail;                        ///< context for the log (which queue, which range)
    std::vector<message> replies;              ///< to send, in order
    bool ready = false;                        ///< front: netback's offer is known, call `describe`
    bool connected = false;                    ///< this side is connected: the rings and channels may be used
    bool peer_connected = false;               ///< back: netfront confirmed connected (the handshake is over)
    bool closed = false;                       ///< the peer closed in an orderly way (or acknowledged our close)

    [[nodiscard]] bool ok() const noexcept { return error == control_error::none; }
};

/// netback's side of one connection.
///
/// Order it accepts: hello; then (after its own hello, features and init-wait) features,
/// memory, one queue message per negotiated queue, state initialised; it answers connected.
/// Afterwards: state closing (answered with closed) or closed. An error message is accepted
/// at any time (`peer_error`).
class back_session {
public:
    explicit back_session(back_offer offer);

    [[nodiscard]] step on_message(message m);

    [[nodiscard]] xenbus_state state() const noexcept { return state_; }
    /// Valid once a step reported `connected`.
    [[nodiscard]] back_connection& connection() noexcept { return conn_; }
    /// The last error message the peer sent, if any.
    [[nodiscard]] const std::optional<error_msg>& peer_error() const noexcept { return peer_error_; }

    /// The messages that start an orderly close from this side.
    [[nodiscard]] std::vector<message> close();

private:
    step on_hello(const hello_msg& h);
    step on_features(const feature_set& f);
    step on_memory(memory_msg& m);
    step on_queue(queue_msg& q);
    step on_state(xenbus_state s);

    enum class phase : std::uint8_t { hello, features, memory, queues, connected, closing, closed };

    back_offer offer_;
    phase phase_ = phase::hello;
    xenbus_state state_ = xenbus_state::initialising;
    back_connection conn_;
    std::vector<bool> have_queue_;
    std::uint32_t queues_seen_ = 0;
    std::optional<error_msg> peer_error_;
};

/// Borrowed descriptors and offsets of one queue netfront describes.
struct queue_plan {
    std::uint64_t tx_ring_offset = 0;
    std::uint64_t rx_ring_offset = 0;
    grant_area tx_grants;
    grant_area rx_grants;
    /// 2 descriptors, or 4 with split event channels; see queue_msg for the order.
    std::array<int, 4> event_fds{-1, -1, -1, -1};
};

/// netfront's side of one connection.
class front_session {
public:
    explicit front_session(front_request request);

    /// The first message to send.
    [[nodiscard]] message hello() const;

    [[nodiscard]] step on_message(message m);

    /// Once `ready`: what was negotiated; size the shared memory and queues by it.
    [[nodiscard]] const negotiated& params() const noexcept { return params_; }
    [[nodiscard]] const feature_set& backend_features() const noexcept { return backend_; }

    /// Once `ready`: features, memory, one queue per plan, state initialised. The messages hold
    /// duplicates of the descriptors (closed once sent); the caller keeps its own.
    /// @throws std::invalid_argument if the plans do not match the negotiated queue count or
    ///         event channel count, or a descriptor cannot be duplicated
    [[nodiscard]] std::vector<message> describe(int memory_fd, std::uint64_t memory_bytes,
                                                std::span<const queue_plan> queues);

    [[nodiscard]] xenbus_state state() const noexcept { return state_; }
    [[nodiscard]] const std::optional<error_msg>& peer_error() const noexcept { return peer_error_; }
    [[nodiscard]] std::vector<message> close();

private:
    enum class phase : std::uint8_t { hello, features, init_wait, describing, connecting, connected, closing, closed };

    front_request request_;
    phase phase_ = phase::hello;
    xenbus_state state_ = xenbus_state::initialising;
    feature_set backend_;
    negotiated params_;
    std::optional<error_msg> peer_error_;
};

// ------------------------------------------------------------------ blocking drivers

/// What netfront's layout callback returns: its shared memory and one plan per queue.
struct front_layout {
    int memory_fd = -1;
    std::uint64_t memory_bytes = 0;
    std::vector<queue_plan> queues;
};

struct front_result {
    control_error error = control_error::none;
    std::string detail;
    negotiated params;
    feature_set backend;
    [[nodiscard]] bool ok() const noexcept { return error == control_error::none; }
};

/// netfront's whole handshake over a connected socket: hello, netback's offer, `build` makes
/// the shared memory and queues for the negotiated parameters, describe them, wait for
/// connected. On failure an error message is sent to netback (unless netback sent one).
[[nodiscard]] front_result front_handshake(int sock, const front_request& request,
                                           const std::function<front_layout(const negotiated&)>& build,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(5));

struct back_result {
    control_error error = control_error::none;
    std::string detail;
    back_connection connection;
    [[nodiscard]] bool ok() const noexcept { return error == control_error::none; }
};

/// netback's whole handshake over one accepted socket, blocking (tests, one-client servers;
/// netback proper drives `back_session` from its event loop): returns once netfront has
/// confirmed connected. On failure an error message is sent to netfront (unless netfront
/// sent one).
[[nodiscard]] back_result back_handshake(int sock, const back_offer& offer,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(5));

} // namespace xnv::example::control
