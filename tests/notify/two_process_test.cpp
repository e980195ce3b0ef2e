// SPDX-License-Identifier: MIT
// Two processes, one shared ring: the parent is the front end (requests), a forked child the
// back end (responses). Notifications cross the process boundary over eventfds handed to the
// child through a Unix socket (SCM_RIGHTS), or over futex channels living in the shared
// mapping. Both sides coalesce with event_idx and poll NAPI-style; every response is checked.

#include <xnv/notify/coalescer.hpp>
#include <xnv/notify/eventfd_channel.hpp>
#include <xnv/notify/futex_channel.hpp>
#include <xnv/notify/poller.hpp>
#include <xnv/notify/policy.hpp>
#include <xnv/ring/ring.hpp>

#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstring>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace xnv::notify;

namespace {

struct request {
    std::uint32_t seq;
    std::uint32_t pad;
};
struct response {
    std::uint32_t seq;
    std::uint32_t value;
};
constexpr std::uint32_t answer(std::uint32_t seq) { return seq * 3 + 1; }
constexpr std::uint32_t total = 50000;

using front = xnv::front_ring<request, response>;
using back = xnv::back_ring<request, response>;
constexpr std::size_t ring_bytes = xnv::ring_bytes_for<request, response>(64);

struct shared_area {
    alignas(64) std::array<std::byte, ring_bytes> ring;
    futex_channel_state to_back;  // requests published
    futex_channel_state to_front; // responses published
};

// The shared mapping, unmapped on scope exit.
class mapping {
public:
    mapping()
        : p_(::mmap(nullptr, sizeof(shared_area), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0))
    {
        if (p_ == MAP_FAILED)
            throw std::runtime_error("mmap failed");
        area = ::new (p_) shared_area{};
    }
    mapping(const mapping&) = delete;
    mapping& operator=(const mapping&) = delete;
    ~mapping() { ::munmap(p_, sizeof(shared_area)); }
    shared_area* area;

private:
    void* p_;
};

// A forked child: killed and reaped on scope exit whatever happened.
class child_process {
public:
    explicit child_process(pid_t pid) : pid_(pid) {}
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    ~child_process()
    {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    /// Exit status, or -1 if it did not exit normally within `limit`.
    int wait(std::chrono::milliseconds limit)
    {
        const auto end = std::chrono::steady_clock::now() + limit;
        int status = 0;
        while (std::chrono::steady_clock::now() < end) {
            const pid_t r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                pid_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            }
            ::usleep(1000);
        }
        return -1;
    }

private:
    pid_t pid_;
};

class fd_guard {
public:
    explicit fd_guard(int fd = -1) : fd_(fd) {}
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    ~fd_guard()
    {
        if (fd_ >= 0)
            ::close(fd_);
    }
    int get() const { return fd_; }

private:
    int fd_;
};

// One byte of data carrying two descriptors as SCM_RIGHTS ancillary data; the message points
// into this object, so it must stay where it is while in use.
struct fd_message {
    char byte = 'x';
    iovec iov{&byte, 1};
    alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int) * 2)]{};
    msghdr msg{};
    fd_message()
    {
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctrl;
        msg.msg_controllen = sizeof ctrl;
    }
    fd_message(const fd_message&) = delete;
    fd_message& operator=(const fd_message&) = delete;
};

bool send_fds(int sock, std::array<int, 2> fds)
{
    fd_message m;
    cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * 2);
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * 2);
    return ::sendmsg(sock, &m.msg, 0) == 1;
}

std::optional<std::array<int, 2>> recv_fds(int sock)
{
    fd_message m;
    if (::recvmsg(sock, &m.msg, MSG_CMSG_CLOEXEC) != 1)
        return std::nullopt;
    const cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
    if (c == nullptr || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int) * 2))
        return std::nullopt;
    std::array<int, 2> fds{};
    std::memcpy(fds.data(), CMSG_DATA(c), sizeof(int) * 2);
    return fds;
}

// The back end: answer every request; returns the process exit code.
template <class Channel>
int serve(shared_area& a, Channel& requests, Channel& responses)
{
    back b(std::span<std::byte>(a.ring));
    channel_counters counters;
    coalescer co(b, responses, event_idx{}, counters);
    napi_poller poller(b, event_idx{}, counters, poller_config{.budget = 32});
    std::uint32_t served = 0, bad = 0;
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    poll_result r{.state = poll_state::keep_polling};
    while (served < total) {
        r = wait_and_poll(poller, requests, r,
                          [&](std::span<const request> batch) noexcept {
                              for (const request& q : batch) {
                                  bad += q.seq != served ? 1 : 0;
                                  ++served;
                                  (void)b.try_produce(response{q.seq, answer(q.seq)});
                              }
                              (void)co.publish();
                          },
                          100ms);
        if (r.state == poll_state::peer_error)
            return 3;
        if (std::chrono::steady_clock::now() > give_up)
            return 4;
    }
    return bad == 0 ? 0 : 1;
}

// The front end: send every request, check every response. Returns responses checked.
template <class Channel>
std::uint32_t drive(shared_area& a, Channel& requests, Channel& responses, std::uint32_t& bad)
{
    front f(std::span<std::byte>(a.ring));
    channel_counters counters;
    coalescer co(f, requests, event_idx{}, counters);
    napi_poller poller(f, event_idx{}, counters, poller_config{.budget = 32});
    std::uint32_t sent = 0, got = 0;
    wake_reason why = wake_reason::continued;
    while (got < total) {
        std::uint32_t k = 0;
        while (sent < total && k < 1 + sent % 13 && f.try_produce(request{sent, 0})) {
            ++sent;
            ++k;
        }
        if (k != 0)
            (void)co.publish();
        const poll_result r = poller.poll(why, [&](std::span<const response> batch) noexcept {
            for (const response& s : batch) {
                bad += (s.seq != got || s.value != answer(s.seq)) ? 1 : 0;
                ++got;
            }
        });
        why = wake_reason::continued;
        if (r.state == poll_state::peer_error || got == total)
            break;
        if (r.state == poll_state::armed && (sent == total || f.full())) {
            if (responses.wait_for(5s) == 0)
                break; // the back end went silent
            why = wake_reason::notification;
        }
    }
    return got;
}

} // namespace

TEST_CASE("two processes over futex channels in the shared mapping")
{
    mapping m;
    front init(xnv::ring_init, std::span<std::byte>(m.area->ring));
    (void)init;
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        futex_channel requests(m.area->to_back);
        futex_channel responses(m.area->to_front);
        ::_exit(serve(*m.area, requests, responses));
    }
    child_process child(pid);
    futex_channel requests(m.area->to_back);
    futex_channel responses(m.area->to_front);
    std::uint32_t bad = 0;
    CHECK(drive(*m.area, requests, responses, bad) == total);
    CHECK(bad == 0);
    CHECK(child.wait(10s) == 0);
}

TEST_CASE("two processes over eventfds passed through a Unix socket")
{
    mapping m;
    front init(xnv::ring_init, std::span<std::byte>(m.area->ring));
    (void)init;
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    fd_guard parent_end(sv[0]);
    std::optional<fd_guard> child_end(std::in_place, sv[1]);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        const auto fds = recv_fds(sv[1]);
        if (!fds || !eventfd_channel::is_eventfd((*fds)[0]) || !eventfd_channel::is_eventfd((*fds)[1]))
            ::_exit(5);
        eventfd_channel requests(adopt_fd, (*fds)[0]);
        eventfd_channel responses(adopt_fd, (*fds)[1]);
        ::_exit(serve(*m.area, requests, responses));
    }
    child_process child(pid);
    child_end.reset(); // the child holds its own copy
    // Created after the fork: the child can only have them through the socket.
    eventfd_channel requests;
    eventfd_channel responses;
    REQUIRE(send_fds(parent_end.get(), {requests.fd(), responses.fd()}));
    std::uint32_t bad = 0;
    CHECK(drive(*m.area, requests, responses, bad) == total);
    CHECK(bad == 0);
    CHECK(child.wait(10s) == 0);
}
