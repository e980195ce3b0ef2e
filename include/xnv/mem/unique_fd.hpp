// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// An owning file descriptor: closed exactly once, move-only. Shared-memory regions, event
/// channels and the descriptors received from a peer with `SCM_RIGHTS` all travel in one, so
/// an early return or a rejected message can never leak a descriptor.

#include <utility>

#include <fcntl.h>
#include <unistd.h>

namespace xnv::mem {

/// Owns one file descriptor (or none: `-1`).
///
/// Thread safety: like any value type, one object is used by one thread at a time.
class unique_fd {
public:
    constexpr unique_fd() noexcept = default;
    /// Take ownership of `fd` (`-1` for none).
    constexpr explicit unique_fd(int fd) noexcept : fd_(fd) {}

    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    constexpr unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& other) noexcept
    {
        if (this != &other)
            reset(std::exchange(other.fd_, -1));
        return *this;
    }
    ~unique_fd() { reset(); }

    [[nodiscard]] constexpr int get() const noexcept { return fd_; }
    [[nodiscard]] constexpr bool valid() const noexcept { return fd_ >= 0; }
    constexpr explicit operator bool() const noexcept { return valid(); }

    /// Give up ownership without closing.
    [[nodiscard]] constexpr int release() noexcept { return std::exchange(fd_, -1); }

    /// Close the owned descriptor (if any) and own `fd` instead. `close` is not retried on
    /// EINTR: on Linux the descriptor is released even then, and a retry could close a
    /// descriptor another thread has just been given.
    void reset(int fd = -1) noexcept
    {
        const int old = std::exchange(fd_, fd);
        if (old >= 0)
            ::close(old);
    }

    /// A new close-on-exec descriptor for the same open file; invalid if `dup` failed
    /// (errno says why).
    [[nodiscard]] unique_fd duplicate() const noexcept
    {
        if (fd_ < 0)
            return unique_fd{};
        return unique_fd{::fcntl(fd_, F_DUPFD_CLOEXEC, 0)};
    }

private:
    int fd_ = -1;
};

} // namespace xnv::mem
