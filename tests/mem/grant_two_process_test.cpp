// SPDX-License-Identifier: MIT
// Two processes, one grant table: the parent is the granting side (a netfront), the forked
// child the copying side (a netback) that receives the memfd over a Unix socket, maps it with
// the checks a backend applies to a peer's descriptor, and copies by reference.

#include <xnv/mem/grant_table.hpp>
#include <xnv/mem/region.hpp>

#include <doctest/doctest.h>

#include "fd_count.hpp"

#include <array>
#include <csignal>
#include <cstring>

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace xnv::mem;

namespace {

constexpr domain_id back_dom = 0;
constexpr grant_geometry geometry{.refs = 16, .pages = 8};

struct announce {
    std::uint64_t region_bytes;
    grant_ref ro_ref;
    grant_ref rw_ref;
    grant_ref sub_ref;
};

constexpr std::byte pattern(std::size_t i)
{
    return static_cast<std::byte>((i * 7 + 3) & 0xFF);
}

bool send_with_fd(int sock, const void* data, std::size_t len, int fd)
{
    iovec iov{const_cast<void*>(data), len};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (fd >= 0) {
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    return ::sendmsg(sock, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(len);
}

bool recv_with_fd(int sock, void* data, std::size_t len, unique_fd& fd)
{
    iovec iov{data, len};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != static_cast<ssize_t>(len))
        return false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int received = -1;
            std::memcpy(&received, CMSG_DATA(c), sizeof received);
            fd.reset(received);
        }
    }
    return true;
}

char recv_byte(int sock)
{
    char c = 0;
    return ::recv(sock, &c, 1, 0) == 1 ? c : '\0';
}

// The copying side. Exit code 0 on success, otherwise the number of the failed step.
[[noreturn]] void run_copier(int sock)
{
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int step = 0;
    auto expect = [&](bool ok) {
        ++step;
        if (!ok)
            ::_exit(step);
    };
    announce a{};
    unique_fd fd;
    expect(recv_with_fd(sock, &a, sizeof a, fd) && fd.valid());
    auto mapped = shared_region::try_map(std::move(fd), {.expected_bytes = a.region_bytes});
    expect(mapped.ok());
    grant_copier copier(mapped.region.bytes(), geometry, back_dom);

    std::array<std::byte, grant_page_bytes> page{};
    grant_copy_op rd{.direction = copy_direction::from_grant,
                     .ref = a.ro_ref,
                     .offset = 0,
                     .length = grant_page_bytes,
                     .local = page.data()};
    expect(copier.copy(rd) == grant_status::okay);
    for (std::size_t i = 0; i < page.size(); ++i)
        expect(page[i] == pattern(i));

    grant_copy_op wr_ro{
        .direction = copy_direction::to_grant, .ref = a.ro_ref, .offset = 0, .length = 16, .local = page.data()};
    expect(copier.copy(wr_ro) == grant_status::read_only);

    for (auto& b : page)
        b = ~b;
    grant_copy_op wr{.direction = copy_direction::to_grant,
                     .ref = a.rw_ref,
                     .offset = 0,
                     .length = grant_page_bytes,
                     .local = page.data()};
    expect(copier.copy(wr) == grant_status::okay);

    std::array<grant_copy_op, 3> batch{
        grant_copy_op{.direction = copy_direction::to_grant,
                      .ref = a.sub_ref,
                      .offset = 512,
                      .length = 256,
                      .local = page.data()},
        grant_copy_op{
            .direction = copy_direction::from_grant, .ref = a.sub_ref, .offset = 0, .length = 16, .local = page.data()},
        grant_copy_op{.direction = copy_direction::from_grant,
                      .ref = geometry.refs,
                      .offset = 0,
                      .length = 1,
                      .local = page.data()},
    };
    expect(copier.copy(batch) == 1);
    expect(batch[1].status == grant_status::outside_grant);
    expect(batch[2].status == grant_status::bad_ref);

    {
        auto pinned = copier.try_map(a.rw_ref, grant_access::read_write);
        expect(pinned.ok());
        expect(::send(sock, "p", 1, MSG_NOSIGNAL) == 1); // pinned: the parent's end must be refused
        expect(recv_byte(sock) == 'g');
    }
    expect(::send(sock, "u", 1, MSG_NOSIGNAL) == 1); // unpinned
    ::_exit(0);
}

// Kills and reaps the child if the test fails before it exits on its own.
struct child_guard {
    pid_t pid = -1;
    ~child_guard()
    {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
    int wait_exit()
    {
        int status = 0;
        const pid_t r = ::waitpid(pid, &status, 0);
        pid = -1;
        if (r < 0 || !WIFEXITED(status))
            return -1;
        return WEXITSTATUS(status);
    }
};

} // namespace

TEST_CASE("grant copy between two processes over a memfd passed with SCM_RIGHTS")
{
    const auto fds_before = xnv::test::open_fd_count();
    {
        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        unique_fd parent_sock{sv[0]};
        unique_fd child_sock{sv[1]};
        child_guard child;
        child.pid = ::fork();
        REQUIRE(child.pid >= 0);
        if (child.pid == 0) {
            parent_sock.reset();
            run_copier(child_sock.get());
        }
        child_sock.reset();

        // The region is created after the fork: the child sees it only through the descriptor.
        auto region = shared_region::create(geometry.total_bytes());
        grant_table table(region.bytes(), geometry);
        const auto ro_frame = table.try_allocate_page();
        const auto rw_frame = table.try_allocate_page();
        const auto sub_frame = table.try_allocate_page();
        REQUIRE((ro_frame && rw_frame && sub_frame));
        auto ro_page = table.page(*ro_frame);
        for (std::size_t i = 0; i < ro_page.size(); ++i)
            ro_page[i] = pattern(i);
        const auto ro = table.try_grant(back_dom, *ro_frame, grant_access::read_only);
        const auto rw = table.try_grant(back_dom, *rw_frame, grant_access::read_write);
        const auto sub = table.try_grant(back_dom, *sub_frame, grant_access::read_write, 512, 256);
        REQUIRE((ro.ok() && rw.ok() && sub.ok()));

        const announce a{region.size(), ro.ref, rw.ref, sub.ref};
        REQUIRE(send_with_fd(parent_sock.get(), &a, sizeof a, region.fd()));

        REQUIRE(recv_byte(parent_sock.get()) == 'p');
        CHECK(table.try_end(rw.ref) == grant_status::in_use);
        CHECK(table.end_refusals() == 1);
        REQUIRE(::send(parent_sock.get(), "g", 1, MSG_NOSIGNAL) == 1);
        REQUIRE(recv_byte(parent_sock.get()) == 'u');
        CHECK(table.try_end(rw.ref) == grant_status::okay);
        CHECK(table.try_end(ro.ref) == grant_status::okay);
        CHECK(table.try_end(sub.ref) == grant_status::okay);

        const int code = child.wait_exit();
        INFO("copier failed at step " << code);
        CHECK(code == 0);

        auto rw_page = table.page(*rw_frame);
        bool all_inverted = true;
        for (std::size_t i = 0; i < rw_page.size(); ++i)
            all_inverted = all_inverted && rw_page[i] == ~pattern(i);
        CHECK(all_inverted);
        auto sub_page = table.page(*sub_frame);
        bool window_written = true;
        for (std::size_t i = 0; i < grant_page_bytes; ++i) {
            const bool inside = i >= 512 && i < 768;
            window_written = window_written && (sub_page[i] == (inside ? ~pattern(i - 512) : std::byte{0}));
        }
        CHECK(window_written);
    }
    CHECK(xnv::test::open_fd_count() == fds_before);
}
