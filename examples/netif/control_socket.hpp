// SPDX-License-Identifier: MIT
#pragma once

// The control channel's transport: a Unix stream socket, in the abstract namespace ("@name":
// nothing in the file system) or at a path (removed again by the listener that made it), with
// messages framed as control_message.hpp describes and descriptors passed with SCM_RIGHTS.
//
// Reading never blocks (`message_reader::try_read`, one recvmsg with MSG_DONTWAIT), so a
// netback can serve many netfronts from one epoll loop; `receive_message` adds a poll with a
// deadline for the simple cases (a netfront, tests). End of file, POLLHUP and EPOLLHUP all mean
// the same thing: the peer is gone.

#include "control_message.hpp"

#include <xnv/mem/unique_fd.hpp>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <sys/types.h>

namespace xnv::example::control {

/// Where netback listens: "@name" for the abstract namespace, anything else a path.
struct socket_address {
    std::string name;
    bool abstract = false;

    /// @throws std::invalid_argument if empty or too long for `sockaddr_un`
    [[nodiscard]] static socket_address parse(std::string_view text);
    /// As given to `parse`.
    [[nodiscard]] std::string display() const { return abstract ? "@" + name : name; }
};

/// Who may connect. Abstract sockets have no file permissions, so by default only processes
/// of the listener's own user are served (checked with SO_PEERCRED).
enum class peer_policy : std::uint8_t { same_user, any_user };

/// A listening socket. Move-only; a path socket's file is removed when the listener goes.
class listener {
public:
    /// Listen at `where` (non-blocking, close-on-exec). A stale socket file at a path (no one
    /// listening) is replaced; a live one is an error.
    /// @throws std::system_error naming the address and the reason
    [[nodiscard]] static listener open(const socket_address& where, peer_policy policy = peer_policy::same_user,
                                       int backlog = 16);

    listener(listener&& other) noexcept;
    listener& operator=(listener&& other) noexcept;
    listener(const listener&) = delete;
    listener& operator=(const listener&) = delete;
    ~listener();

    struct accepted {
        mem::unique_fd fd;                         ///< the connection (non-blocking, close-on-exec)
        control_error error = control_error::none; ///< peer_not_allowed, io_error, or none
        uid_t uid = 0;                             ///< the peer's user id, when known
    };

    /// Accept one pending connection without blocking: `fd` is invalid when none is pending
    /// (`error == none`) or when the peer was refused (the connection is then closed).
    [[nodiscard]] accepted try_accept() noexcept;

    /// Wait up to `timeout` for a connection and accept it.
    [[nodiscard]] accepted accept_for(std::chrono::milliseconds timeout) noexcept;

    [[nodiscard]] int fd() const noexcept { return fd_.get(); }
    [[nodiscard]] const socket_address& address() const noexcept { return address_; }

private:
    listener(mem::unique_fd fd, socket_address address, peer_policy policy) noexcept;
    void remove_path() noexcept;

    mem::unique_fd fd_;
    socket_address address_;
    peer_policy policy_ = peer_policy::same_user;
};

/// Connect to netback at `where`; the socket is non-blocking and close-on-exec.
/// @throws std::system_error naming the address (e.g. "no netback listening at @xnv")
[[nodiscard]] mem::unique_fd connect_to(const socket_address& where);

/// Send one frame and its descriptors (attached to the frame's first byte), waiting up to
/// `timeout` while the socket buffer is full. Returns none, timeout, peer_hung_up or io_error.
[[nodiscard]] control_error send_frame(int sock, std::span<const std::byte> frame, std::span<const int> fds,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(2)) noexcept;

/// Encode `m` and send it with its descriptors (which `m` keeps owning: the kernel gives the
/// peer its own).
[[nodiscard]] control_error send_message(int sock, const message& m,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(2)) noexcept;

/// Send an error message (why this side is closing), best effort.
void send_error(int sock, control_error why, std::string_view text) noexcept;

/// Reassembles frames from a stream socket, collecting the descriptors that arrive with them.
/// Reads only the bytes of the frame in progress, so the descriptors of the next message are
/// never taken early. Owns the descriptors of a partial frame (closed with it).
///
/// Thread safety: one thread at a time.
class message_reader {
public:
    enum class status : std::uint8_t {
        /// Nothing to read now (the socket would block). A frame may still be partly buffered
        /// (`idle()` says): wait for the socket to become readable again.
        would_block,
        /// This call read part of a frame (bytes, descriptors, or both) but not all of it. The
        /// rest may already be waiting: call again before waiting (an edge-triggered waiter
        /// that stopped here would never hear of it).
        partial,
        complete, ///< a frame arrived: `parsed` holds the message or the reason it was rejected
        failed,   ///< the connection is unusable (hang-up, oversize frame, socket error): close it
    };
    struct result {
        status st = status::would_block;
        parse_result parsed; ///< for `failed`, `parsed.error` says why
    };

    /// One non-blocking recvmsg of what the frame in progress still lacks. Never blocks.
    [[nodiscard]] result try_read(int sock) noexcept;

    /// No partial frame buffered (no bytes and no descriptors of an unfinished frame).
    [[nodiscard]] bool idle() const noexcept { return have_ == 0 && fds_.empty(); }

private:
    result finish(control_error e) noexcept;

    std::array<std::byte, max_frame_bytes> buf_{};
    std::size_t have_ = 0;
    std::size_t body_ = 0;
    fd_list fds_;
    bool fds_dropped_ = false;
};

/// Wait up to `timeout` for one complete message. Errors: timeout, peer_hung_up, io_error,
/// oversize, or whatever the parser rejected the frame for.
[[nodiscard]] parse_result receive_message(int sock, message_reader& reader,
                                           std::chrono::milliseconds timeout) noexcept;

/// Whether poll/epoll events say the peer is gone (POLLHUP/EPOLLHUP, POLLRDHUP/EPOLLRDHUP).
[[nodiscard]] bool peer_gone(unsigned events) noexcept;

} // namespace xnv::example::control
