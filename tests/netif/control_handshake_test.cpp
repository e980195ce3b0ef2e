// SPDX-License-Identifier: MIT
// netback and a netfront in two processes over an abstract Unix socket: the full handshake
// passing a memfd and eventfds, both sides using what they negotiated, an orderly close, a
// netfront killed mid-session, and a hostile netfront told why it was rejected. Descriptors
// are counted before and after.

#include "control_session.hpp"
#include "control_socket.hpp"
#include "control_test_util.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <cstring>
#include <string>

#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace xnv::example::control;
using xnv::mem::shared_region;
using xnv::mem::unique_fd;
using xnv::test::new_eventfd;
using xnv::test::open_fd_count;

namespace {

constexpr mac_address front_mac{0x00, 0x16, 0x3e, 0x11, 0x22, 0x33};

socket_address unique_address(const char* tag)
{
    return socket_address::parse("@xnv-test-" + std::string(tag) + "-" + std::to_string(::getpid()));
}

struct child_process {
    pid_t pid = -1;
    ~child_process()
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
        if (r < 0)
            return -1;
        if (WIFSIGNALED(status))
            return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
    }
};

// Fork a child running `body` (which returns its exit code); the child dies with the parent.
template <class F> pid_t spawn(F body)
{
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        int code = 100;
        try {
            code = body();
        } catch (...) {
            code = 101;
        }
        ::_exit(code);
    }
    return pid;
}

bool wait_readable(int fd, int ms)
{
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, ms) == 1 && (p.revents & POLLIN) != 0;
}

bool signal_eventfd(int fd)
{
    const std::uint64_t one = 1;
    return ::write(fd, &one, sizeof one) == sizeof one;
}

bool drain_eventfd(int fd, std::uint64_t& value)
{
    return ::read(fd, &value, sizeof value) == sizeof value;
}

// netfront's resources: the shared region and the eventfds it creates for the negotiated
// queues, kept for the session.
struct front_resources {
    shared_region region;
    xnv::test::region_plan plan;
    std::vector<unique_fd> events;

    front_layout build(const negotiated& p)
    {
        plan = xnv::test::plan_region(p.queues);
        region = shared_region::create(plan.bytes);
        const int per_queue = p.split_event_channels ? 4 : 2;
        for (auto& q : plan.queues)
            for (int k = 0; k < per_queue; ++k) {
                events.push_back(new_eventfd());
                q.event_fds[static_cast<std::size_t>(k)] = events.back().get();
            }
        return {region.fd(), region.size(), plan.queues};
    }
};

// The well-behaved netfront: handshake, write to the region and kick netback, wait for
// netback's kick and its answer in the region, close in order. Exit code: the failed step.
int well_behaved_front(const socket_address& where)
{
    unique_fd sock = connect_to(where);
    front_resources res;
    const front_request req{.queues = 2, .mac = front_mac, .mtu = 9000};
    const front_result r = front_handshake(
        sock.get(), req, [&](const negotiated& p) { return res.build(p); }, std::chrono::seconds(10));
    if (!r.ok())
        return 2;
    if (r.params.queues != 2 || r.params.mtu != 9000 || !r.params.split_event_channels || !r.params.sg)
        return 3;
    if (r.backend.max_queues != 4u)
        return 4;
    const auto& q1 = res.plan.queues[1];
    std::memcpy(res.region.data() + q1.tx_ring_offset, "front", 5);
    if (!signal_eventfd(res.plan.queues[0].event_fds[0])) // queue 0, channel 0: netfront -> netback
        return 5;
    if (!wait_readable(res.plan.queues[0].event_fds[1], 10'000)) // netback -> netfront
        return 6;
    std::uint64_t v = 0;
    if (!drain_eventfd(res.plan.queues[0].event_fds[1], v) || v != 1)
        return 7;
    if (std::memcmp(res.region.data() + q1.rx_ring_offset, "back", 4) != 0)
        return 8;
    if (send_message(sock.get(), state_msg{xenbus_state::closing}) != control_error::none)
        return 9;
    message_reader reader;
    parse_result closed = receive_message(sock.get(), reader, std::chrono::seconds(10));
    if (!closed.ok() || std::get<state_msg>(closed.msg).state != xenbus_state::closed)
        return 10;
    return 0;
}

} // namespace

TEST_CASE("handshake between two processes: memfd and eventfds passed, used, closed in order")
{
    const auto before = open_fd_count();
    {
        auto l = listener::open(unique_address("handshake"));
        child_process front;
        front.pid = spawn([&] { return well_behaved_front(l.address()); });
        REQUIRE(front.pid > 0);

        auto acc = l.accept_for(std::chrono::seconds(10));
        REQUIRE(acc.fd.valid());
        back_result b = back_handshake(acc.fd.get(), back_offer{}, std::chrono::seconds(10));
        INFO(to_string(b.error) << ": " << b.detail);
        REQUIRE(b.ok());
        back_connection& c = b.connection;
        CHECK(c.params.queues == 2);
        CHECK(c.params.mtu == 9000);
        CHECK(c.params.mac == front_mac);
        CHECK(c.params.split_event_channels);
        REQUIRE(c.queues.size() == 2);
        for (const auto& q : c.queues) {
            CHECK(q.event_channels == 2);
            for (const auto& fd : q.event_fds)
                CHECK(fd.valid());
        }

        // netfront kicks queue 0 after writing into queue 1's TX ring page.
        REQUIRE(wait_readable(c.queues[0].event_fds[0].get(), 10'000));
        std::uint64_t v = 0;
        REQUIRE(drain_eventfd(c.queues[0].event_fds[0].get(), v));
        CHECK(v == 1);
        CHECK(std::memcmp(c.region.data() + c.queues[1].tx_ring_offset, "front", 5) == 0);
        std::memcpy(c.region.data() + c.queues[1].rx_ring_offset, "back", 4);
        REQUIRE(signal_eventfd(c.queues[0].event_fds[1].get()));

        message_reader reader;
        parse_result closing = receive_message(acc.fd.get(), reader, std::chrono::seconds(10));
        REQUIRE(closing.ok());
        CHECK(std::get<state_msg>(closing.msg).state == xenbus_state::closing);
        REQUIRE(send_message(acc.fd.get(), state_msg{xenbus_state::closed}) == control_error::none);

        const int code = front.wait_exit();
        INFO("netfront failed at step " << code);
        CHECK(code == 0);
        CHECK(receive_message(acc.fd.get(), reader, std::chrono::seconds(2)).error == control_error::peer_hung_up);
    }
    // The connection's region, its eventfds, the socket and the listener are all closed.
    CHECK(open_fd_count() == before);
}

TEST_CASE("a netfront killed after connecting is seen as a hang-up and its resources are freed")
{
    const auto before = open_fd_count();
    {
        auto l = listener::open(unique_address("killed"));
        child_process front;
        front.pid = spawn([&] {
            unique_fd sock = connect_to(l.address());
            front_resources res;
            const front_result r = front_handshake(
                sock.get(), front_request{.queues = 1}, [&](const negotiated& p) { return res.build(p); },
                std::chrono::seconds(10));
            if (!r.ok())
                return 2;
            ::pause(); // killed here
            return 0;
        });
        REQUIRE(front.pid > 0);
        auto acc = l.accept_for(std::chrono::seconds(10));
        REQUIRE(acc.fd.valid());
        back_result b = back_handshake(acc.fd.get(), back_offer{}, std::chrono::seconds(10));
        REQUIRE(b.ok());
        const auto with_vif = open_fd_count();
        CHECK(with_vif > before);

        REQUIRE(::kill(front.pid, SIGKILL) == 0);
        CHECK(front.wait_exit() == 128 + SIGKILL);
        pollfd p{acc.fd.get(), POLLIN | POLLRDHUP, 0};
        REQUIRE(::poll(&p, 1, 10'000) == 1);
        CHECK(peer_gone(static_cast<unsigned>(p.revents)));
        message_reader reader;
        CHECK(receive_message(acc.fd.get(), reader, std::chrono::seconds(2)).error == control_error::peer_hung_up);
        // The vif's memory stays mapped and valid until netback tears it down.
        b.connection.region.data()[0] = std::byte{1};
    }
    CHECK(open_fd_count() == before);
}

TEST_CASE("a hostile netfront is told why it was rejected")
{
    const auto before = open_fd_count();
    {
        auto l = listener::open(unique_address("hostile"));
        child_process front;
        front.pid = spawn([&] {
            unique_fd sock = connect_to(l.address());
            message_reader reader;
            if (send_message(sock.get(), hello_msg{}) != control_error::none)
                return 2;
            for (int i = 0; i < 3; ++i) // hello, features, init-wait
                if (!receive_message(sock.get(), reader, std::chrono::seconds(10)).ok())
                    return 3;
            // 17 queues: above the protocol's maximum.
            xnv::test::bytes body;
            body.u16(3).feature("feature-rx-copy", {1}).feature("multi-queue-num-queues", {17, 0, 0, 0});
            body.feature("mac", {0x02, 0, 0, 0, 0, 9});
            const auto f = xnv::test::frame(static_cast<std::uint16_t>(message_type::features), body);
            if (send_frame(sock.get(), f, {}) != control_error::none)
                return 4;
            parse_result r = receive_message(sock.get(), reader, std::chrono::seconds(10));
            if (!r.ok())
                return 5;
            const auto* e = std::get_if<error_msg>(&r.msg);
            if (e == nullptr || e->code != static_cast<std::uint16_t>(control_error::too_many_queues))
                return 6;
            if (e->message().find("queue count above the protocol maximum") == std::string_view::npos)
                return 7;
            return 0;
        });
        REQUIRE(front.pid > 0);
        auto acc = l.accept_for(std::chrono::seconds(10));
        REQUIRE(acc.fd.valid());
        back_result b = back_handshake(acc.fd.get(), back_offer{}, std::chrono::seconds(10));
        CHECK(b.error == control_error::too_many_queues);
        const int code = front.wait_exit();
        INFO("hostile netfront's check failed at step " << code);
        CHECK(code == 0);
    }
    CHECK(open_fd_count() == before);
}
