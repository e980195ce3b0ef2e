// SPDX-License-Identifier: MIT
#include "control_socket.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace xnv::example::control {

namespace {

using clock = std::chrono::steady_clock;

constexpr std::size_t max_sun_path = sizeof(sockaddr_un{}.sun_path);

socklen_t fill_address(const socket_address& a, sockaddr_un& sa) noexcept
{
    sa = {};
    sa.sun_family = AF_UNIX;
    if (a.abstract) {
        // Leading NUL: the abstract namespace; the name is exactly the bytes that follow.
        std::memcpy(sa.sun_path + 1, a.name.data(), a.name.size());
        return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + a.name.size());
    }
    std::memcpy(sa.sun_path, a.name.data(), a.name.size());
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + a.name.size() + 1);
}

[[noreturn]] void throw_errno(int err, const std::string& what)
{
    throw std::system_error(err, std::generic_category(), what);
}

int remaining_ms(clock::time_point deadline) noexcept
{
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

// A socket file at a path that refuses connections: nobody listens on it any more. Anything
// else there (a live socket, a regular file) is not ours to remove.
bool stale_socket(const socket_address& where, const sockaddr_un& sa, socklen_t len) noexcept
{
    struct stat st {};
    if (::lstat(where.name.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode))
        return false;
    mem::unique_fd probe{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    return probe && ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&sa), len) != 0 && errno == ECONNREFUSED;
}

bool set_nonblocking(int fd) noexcept
{
    const int fl = ::fcntl(fd, F_GETFL);
    return fl >= 0 && ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

} // namespace

socket_address socket_address::parse(std::string_view text)
{
    socket_address a;
    a.abstract = !text.empty() && text.front() == '@';
    a.name = std::string(a.abstract ? text.substr(1) : text);
    if (a.name.empty())
        throw std::invalid_argument("control socket address '" + std::string(text) +
                                    "' is empty: give a path or @name for the abstract namespace");
    // A path needs its terminating NUL; an abstract name its leading one.
    if (a.name.size() + 1 > max_sun_path)
        throw std::invalid_argument("control socket address '" + std::string(text) + "' is longer than " +
                                    std::to_string(max_sun_path - 1) + " bytes");
    if (a.name.find('\0') != std::string::npos)
        throw std::invalid_argument("control socket address contains a NUL byte");
    return a;
}

// ------------------------------------------------------------------ listener

listener::listener(mem::unique_fd fd, socket_address address, peer_policy policy) noexcept
    : fd_(std::move(fd)), address_(std::move(address)), policy_(policy)
{}

listener::listener(listener&& other) noexcept
    : fd_(std::move(other.fd_)), address_(std::move(other.address_)), policy_(other.policy_)
{
    other.address_ = {};
}

listener& listener::operator=(listener&& other) noexcept
{
    if (this != &other) {
        remove_path();
        fd_ = std::move(other.fd_);
        address_ = std::move(other.address_);
        policy_ = other.policy_;
        other.address_ = {};
    }
    return *this;
}

void listener::remove_path() noexcept
{
    if (fd_ && !address_.abstract && !address_.name.empty())
        ::unlink(address_.name.c_str());
}

listener::~listener()
{
    remove_path();
}

listener listener::open(const socket_address& where, peer_policy policy, int backlog)
{
    mem::unique_fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (!fd)
        throw_errno(errno, "control socket: socket() failed");
    sockaddr_un sa;
    const socklen_t len = fill_address(where, sa);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), len) != 0) {
        const int err = errno;
        if (err != EADDRINUSE)
            throw_errno(err, "control socket " + where.display() + ": bind failed");
        if (where.abstract || !stale_socket(where, sa, len))
            throw_errno(err, "control socket " + where.display() +
                                 ": in use (another netback is listening, or the path is not a socket)");
        // A socket file nobody listens on is left over from a crash: replace it.
        if (::unlink(where.name.c_str()) != 0)
            throw_errno(errno, "control socket " + where.display() + ": cannot remove the stale socket file");
        if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), len) != 0)
            throw_errno(errno, "control socket " + where.display() + ": bind failed");
    }
    // From here on a path socket is ours: the listener removes it, also if listen fails.
    listener l(std::move(fd), where, policy);
    if (::listen(l.fd(), backlog) != 0)
        throw_errno(errno, "control socket " + where.display() + ": listen failed");
    return l;
}

listener::accepted listener::try_accept() noexcept
{
    accepted a;
    mem::unique_fd c{::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK)};
    if (!c) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
            a.error = control_error::io_error;
        return a;
    }
    ucred cred{};
    socklen_t cred_len = sizeof cred;
    if (::getsockopt(c.get(), SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0) {
        a.error = control_error::io_error;
        return a;
    }
    a.uid = cred.uid;
    if (policy_ == peer_policy::same_user && cred.uid != ::geteuid()) {
        a.error = control_error::peer_not_allowed;
        return a; // `c` closes the connection
    }
    a.fd = std::move(c);
    return a;
}

listener::accepted listener::accept_for(std::chrono::milliseconds timeout) noexcept
{
    const auto deadline = clock::now() + timeout;
    for (;;) {
        accepted a = try_accept();
        if (a.fd || a.error != control_error::none)
            return a;
        pollfd p{fd_.get(), POLLIN, 0};
        const int ms = remaining_ms(deadline);
        if (ms == 0) {
            a.error = control_error::timeout;
            return a;
        }
        if (::poll(&p, 1, ms) < 0 && errno != EINTR) {
            a.error = control_error::io_error;
            return a;
        }
    }
}

mem::unique_fd connect_to(const socket_address& where)
{
    mem::unique_fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (!fd)
        throw_errno(errno, "control socket: socket() failed");
    sockaddr_un sa;
    const socklen_t len = fill_address(where, sa);
    // Blocking connect: a full backlog makes a non-blocking one fail with EAGAIN.
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), len) != 0) {
        const int err = errno;
        if (err == ECONNREFUSED || err == ENOENT)
            throw_errno(err, "no netback listening at " + where.display());
        throw_errno(err, "connecting to netback at " + where.display() + " failed");
    }
    if (!set_nonblocking(fd.get()))
        throw_errno(errno, "control socket: cannot make it non-blocking");
    return fd;
}

// ------------------------------------------------------------------ sending

control_error send_frame(int sock, std::span<const std::byte> frame, std::span<const int> fds,
                         std::chrono::milliseconds timeout) noexcept
{
    if (fds.size() > max_fds_per_message)
        return control_error::fds_truncated;
    const auto deadline = clock::now() + timeout;
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * max_fds_per_message)> control{};
    std::size_t sent = 0;
    bool fds_sent = fds.empty();
    while (sent < frame.size()) {
        iovec iov{const_cast<std::byte*>(frame.data() + sent), frame.size() - sent};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        if (!fds_sent) {
            msg.msg_control = control.data();
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
            cmsghdr* c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
            std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
        }
        const ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            fds_sent = true; // the descriptors travel with the first byte sent
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EPIPE)
            return control_error::peer_hung_up;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return errno == ECONNRESET ? control_error::peer_hung_up : control_error::io_error;
        pollfd p{sock, POLLOUT, 0};
        const int ms = remaining_ms(deadline);
        if (ms == 0)
            return control_error::timeout;
        if (::poll(&p, 1, ms) < 0 && errno != EINTR)
            return control_error::io_error;
        if ((p.revents & (POLLHUP | POLLERR)) != 0)
            return control_error::peer_hung_up;
    }
    return control_error::none;
}

control_error send_message(int sock, const message& m, std::chrono::milliseconds timeout) noexcept
{
    std::array<std::byte, max_frame_bytes> buf;
    const std::size_t n = encode(m, buf);
    const fd_refs fds = fds_of(m);
    return send_frame(sock, std::span(buf).first(n), fds.span(), timeout);
}

void send_error(int sock, control_error why, std::string_view text) noexcept
{
    static_cast<void>(send_message(sock, error_msg::make(why, text), std::chrono::milliseconds(200)));
}

// ------------------------------------------------------------------ receiving

message_reader::result message_reader::finish(control_error e) noexcept
{
    have_ = 0;
    body_ = 0;
    fds_.clear();
    fds_dropped_ = false;
    result r;
    r.st = status::failed;
    r.parsed.error = e;
    return r;
}

message_reader::result message_reader::try_read(int sock) noexcept
{
    const std::size_t want = have_ < header_bytes ? header_bytes - have_ : header_bytes + body_ - have_;
    iovec iov{buf_.data() + have_, want};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * max_fds_per_message)> control{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    const ssize_t n = ::recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return {}; // would_block: whatever is buffered stays for the next call
        return finish(errno == ECONNRESET ? control_error::peer_hung_up : control_error::io_error);
    }
    // Take every descriptor that arrived before deciding anything, so none can leak.
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd = -1;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (!fds_.push(fd))
                fds_dropped_ = true;
        }
    }
    if ((msg.msg_flags & MSG_CTRUNC) != 0)
        fds_dropped_ = true; // the kernel closed the ones that did not fit
    if (n == 0)
        return finish(control_error::peer_hung_up);
    have_ += static_cast<std::size_t>(n);
    if (have_ == header_bytes) {
        std::uint32_t len = 0;
        for (std::size_t i = 0; i < 4; ++i)
            len |= std::uint32_t{std::to_integer<std::uint8_t>(buf_[i])} << (8 * i);
        // Framing is lost if we do not read the body, so an oversize frame ends the connection.
        if (len > max_body_bytes)
            return finish(control_error::oversize);
        body_ = len;
    }
    if (have_ < header_bytes || have_ < header_bytes + body_) {
        result r;
        r.st = status::partial;
        return r;
    }

    result r;
    r.st = status::complete;
    if (fds_dropped_) {
        fds_.clear();
        r.parsed.error = control_error::fds_truncated;
    } else {
        r.parsed = parse(std::span<const std::byte>(buf_.data(), have_), std::move(fds_));
    }
    fds_ = fd_list{};
    fds_dropped_ = false;
    have_ = 0;
    body_ = 0;
    return r;
}

parse_result receive_message(int sock, message_reader& reader, std::chrono::milliseconds timeout) noexcept
{
    const auto deadline = clock::now() + timeout;
    for (;;) {
        auto r = reader.try_read(sock);
        if (r.st == message_reader::status::complete || r.st == message_reader::status::failed)
            return std::move(r.parsed);
        if (r.st == message_reader::status::partial)
            continue; // the rest may be queued already; at most one read per frame byte
        pollfd p{sock, POLLIN, 0};
        const int ms = remaining_ms(deadline);
        if (ms == 0) {
            parse_result t;
            t.error = control_error::timeout;
            return t;
        }
        if (::poll(&p, 1, ms) < 0 && errno != EINTR) {
            parse_result e;
            e.error = control_error::io_error;
            return e;
        }
        // POLLHUP with data still queued: keep reading; the read returns 0 once it is drained.
    }
}

bool peer_gone(unsigned events) noexcept
{
    return (events & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

} // namespace xnv::example::control
