// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// A notification channel over a Linux eventfd: pollable, works across processes, and can be
/// handed to a peer over a Unix socket (SCM_RIGHTS). Every `notify` is a `write` system call
/// and every wake-up a `read`, so it is the kind that gains most from coalescing.

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xnv/notify/channel.hpp>
#include <xnv/notify/detail/deadline.hpp>

namespace xnv::notify {

/// Tag: take ownership of an existing file descriptor.
struct adopt_fd_t {
    explicit adopt_fd_t() = default;
};
inline constexpr adopt_fd_t adopt_fd{};

/// Owns one eventfd (closed by the destructor). Move-only.
///
/// The counter is the pending count: `notify` adds 1, `try_consume` reads and resets it, and
/// the descriptor is readable while it is non-zero. The descriptor is non-blocking (an adopted
/// one is switched to non-blocking: the flag belongs to the open file, which the peer shares;
/// an `eventfd_channel` on the other side sets it too).
///
/// Thread safety: `notify` from any thread or process holding the descriptor;
/// `try_consume`/`wait_for` from one receiver at a time. Progress: `notify` and `try_consume`
/// are one system call each and never block.
class eventfd_channel {
public:
    /// A fresh eventfd, close-on-exec and non-blocking.
    /// @throws std::system_error if the kernel refuses (descriptor limit).
    eventfd_channel() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
    {
        if (fd_ < 0)
            throw std::system_error(errno, std::system_category(), "xnv: eventfd() failed");
    }

    /// Take ownership of `fd`, an eventfd received from a peer (SCM_RIGHTS) or inherited.
    /// Check a peer's descriptor with `is_eventfd` first to treat a bad one as a returned
    /// error rather than an exception.
    /// @throws std::invalid_argument if `fd` is not an open eventfd; the descriptor then stays
    /// the caller's (it is not closed).
    eventfd_channel(adopt_fd_t, int fd) : fd_(fd)
    {
        if (!is_eventfd(fd))
            throw std::invalid_argument("xnv: eventfd_channel: descriptor " + std::to_string(fd) +
                                        " is not an open eventfd");
        const int flags = ::fcntl(fd, F_GETFL);
        if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
            throw std::system_error(errno, std::system_category(), "xnv: eventfd_channel: cannot set O_NONBLOCK");
    }

    eventfd_channel(const eventfd_channel&) = delete;
    eventfd_channel& operator=(const eventfd_channel&) = delete;
    eventfd_channel(eventfd_channel&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    eventfd_channel& operator=(eventfd_channel&& other) noexcept
    {
        if (this != &other) {
            close_fd();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    ~eventfd_channel() { close_fd(); }

    /// Whether `fd` is an open eventfd. Never throws: use it on descriptors a peer sent.
    /// Where /proc is not mounted, any anonymous-inode descriptor is accepted.
    [[nodiscard]] static bool is_eventfd(int fd) noexcept
    {
        if (fd < 0)
            return false;
        struct stat st {};
        if (::fstat(fd, &st) != 0)
            return false;
        // eventfds (like timerfds and signalfds) live on the anonymous inode: no file type.
        if ((st.st_mode & S_IFMT) != 0)
            return false;
        char path[32];
        std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        char link[64];
        const ssize_t n = ::readlink(path, link, sizeof link);
        if (n < 0)
            return errno == ENOENT && ::access("/proc/self", F_OK) != 0; // no /proc: cannot tell more
        return std::string_view(link, static_cast<std::size_t>(n)) == "anon_inode:[eventfd]";
    }

    /// The descriptor, readable (POLLIN) while a notification is pending; -1 once released or
    /// moved from. Send it to a peer over a Unix socket; this object keeps owning it.
    [[nodiscard]] int fd() const noexcept { return fd_; }

    /// Give up ownership: returns the descriptor, which the caller must close.
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

    /// @pre owns a descriptor (not released or moved from).
    void notify() noexcept
    {
        const std::uint64_t one = 1;
        // EAGAIN means the counter is at its maximum: a notification is pending anyway.
        while (::write(fd_, &one, sizeof one) < 0 && errno == EINTR) {
        }
    }

    [[nodiscard]] std::uint64_t try_consume() noexcept
    {
        std::uint64_t v = 0;
        for (;;) {
            if (::read(fd_, &v, sizeof v) == static_cast<ssize_t>(sizeof v))
                return v;
            if (errno != EINTR)
                return 0; // EAGAIN: nothing pending
        }
    }

    std::uint64_t wait_for(nanos timeout) noexcept
    {
        if (const std::uint64_t n = try_consume())
            return n;
        if (timeout <= nanos::zero())
            return 0;
        const detail::wait_deadline deadline(timeout);
        for (;;) {
            timespec ts{};
            const timespec* tsp = nullptr;
            if (!deadline.forever()) {
                const nanos left = deadline.remaining();
                if (left <= nanos::zero())
                    return try_consume();
                ts = detail::to_timespec(left);
                tsp = &ts;
            }
            pollfd p{fd_, POLLIN, 0};
            if (::ppoll(&p, 1, tsp, nullptr) < 0 && errno != EINTR)
                return 0;
            if (const std::uint64_t n = try_consume())
                return n;
        }
    }

private:
    void close_fd() noexcept
    {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = -1;
    }

    int fd_;
};

static_assert(pollable_channel<eventfd_channel>);

} // namespace xnv::notify
