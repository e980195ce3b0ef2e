// SPDX-License-Identifier: MIT
// The control channel's transport: addresses, listeners that leave nothing behind, frames
// reassembled from a byte stream with their descriptors, hang-ups, and descriptors that a
// hostile peer sends in excess or in the wrong place (closed, never leaked).

#include "control_socket.hpp"
#include "control_test_util.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace xnv::example::control;
using xnv::mem::unique_fd;
using xnv::test::encoded;
using xnv::test::new_eventfd;
using xnv::test::send_raw;
using xnv::test::open_fd_count;

namespace {

std::string unique_name(const char* tag)
{
    return "xnv-test-" + std::string(tag) + "-" + std::to_string(::getpid());
}

bool path_exists(const std::string& p)
{
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0;
}

bool abstract_name_bound(const std::string& name)
{
    std::ifstream in("/proc/net/unix");
    std::string line;
    while (std::getline(in, line))
        if (line.size() > name.size() &&
            line.compare(line.size() - name.size() - 1, std::string::npos, "@" + name) == 0)
            return true;
    return false;
}

struct socket_pair {
    unique_fd a, b;
    socket_pair()
    {
        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        a.reset(sv[0]);
        b.reset(sv[1]);
    }
};

} // namespace

TEST_CASE("socket address: abstract names, paths and mistakes")
{
    const auto a = socket_address::parse("@xnv");
    CHECK(a.abstract);
    CHECK(a.name == "xnv");
    CHECK(a.display() == "@xnv");
    const auto p = socket_address::parse("/run/xnv.sock");
    CHECK_FALSE(p.abstract);
    CHECK(p.name == "/run/xnv.sock");
    CHECK_THROWS_AS(static_cast<void>(socket_address::parse("")), std::invalid_argument);
    CHECK_THROWS_AS(static_cast<void>(socket_address::parse("@")), std::invalid_argument);
    CHECK_THROWS_AS(static_cast<void>(socket_address::parse("/" + std::string(200, 'x'))), std::invalid_argument);
    CHECK_THROWS_AS(static_cast<void>(socket_address::parse(std::string("a\0b", 3))), std::invalid_argument);
}

TEST_CASE("listener: an abstract socket leaves nothing in the file system")
{
    const auto before = open_fd_count();
    const std::string name = unique_name("abstract");
    {
        auto l = listener::open(socket_address::parse("@" + name));
        CHECK(abstract_name_bound(name));
        CHECK_FALSE(path_exists(name));
        auto c = connect_to(l.address());
        auto acc = l.accept_for(std::chrono::seconds(2));
        CHECK(acc.error == control_error::none);
        CHECK(acc.fd.valid());
        CHECK(acc.uid == ::geteuid());
        CHECK((::fcntl(acc.fd.get(), F_GETFL) & O_NONBLOCK) != 0);
        CHECK((::fcntl(acc.fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
        // A second listener on the same live name is refused.
        CHECK_THROWS_AS(static_cast<void>(listener::open(l.address())), std::system_error);
    }
    CHECK_FALSE(abstract_name_bound(name));
    CHECK(open_fd_count() == before);
}

TEST_CASE("listener: a path socket is removed when the listener goes")
{
    const std::string path = unique_name("path") + ".sock";
    {
        auto l = listener::open(socket_address::parse(path));
        CHECK(path_exists(path));
        listener moved = std::move(l);
        CHECK(path_exists(path));
        auto c = connect_to(moved.address());
        CHECK(moved.accept_for(std::chrono::seconds(2)).fd.valid());
    }
    CHECK_FALSE(path_exists(path));
}

TEST_CASE("listener: a stale socket file is replaced, a live one or a plain file is not touched")
{
    const std::string path = unique_name("stale") + ".sock";
    SUBCASE("stale")
    {
        {
            // Leave a socket file behind with nobody listening, as a crashed netback would.
            unique_fd s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
            sockaddr_un sa{};
            sa.sun_family = AF_UNIX;
            std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
            REQUIRE(::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
        }
        REQUIRE(path_exists(path));
        auto l = listener::open(socket_address::parse(path));
        auto c = connect_to(l.address());
        CHECK(l.accept_for(std::chrono::seconds(2)).fd.valid());
    }
    SUBCASE("live")
    {
        auto l = listener::open(socket_address::parse(path));
        try {
            static_cast<void>(listener::open(socket_address::parse(path)));
            FAIL("a second listener on a live path must throw");
        } catch (const std::system_error& e) {
            CHECK(std::string(e.what()).find("in use") != std::string::npos);
        }
        CHECK(path_exists(path)); // the failed listener did not remove the live one's file
    }
    SUBCASE("plain file")
    {
        {
            std::ofstream(path) << "not a socket";
        }
        CHECK_THROWS_AS(static_cast<void>(listener::open(socket_address::parse(path))), std::system_error);
        CHECK(path_exists(path));
        ::unlink(path.c_str());
    }
    CHECK_FALSE(path_exists(path));
}

TEST_CASE("connect_to: nobody listening is a clear error")
{
    try {
        static_cast<void>(connect_to(socket_address::parse("@" + unique_name("nobody"))));
        FAIL("connect must throw");
    } catch (const std::system_error& e) {
        CHECK(std::string(e.what()).find("no netback listening at @") != std::string::npos);
    }
}

TEST_CASE("listener: processes of another user are refused")
{
    if (::geteuid() != 0) {
        MESSAGE("skipped: needs root to connect as another user");
        return;
    }
    const auto before = open_fd_count();
    {
        auto l = listener::open(socket_address::parse("@" + unique_name("uid")));
        const pid_t child = ::fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            if (::setgid(65534) != 0 || ::setuid(65534) != 0)
                ::_exit(2);
            try {
                auto c = connect_to(l.address());
                // Refused: netback closes the connection at once.
                message_reader r;
                ::_exit(receive_message(c.get(), r, std::chrono::seconds(5)).error == control_error::peer_hung_up ? 0
                                                                                                                  : 3);
            } catch (...) {
                ::_exit(4);
            }
        }
        auto acc = l.accept_for(std::chrono::seconds(5));
        CHECK(acc.error == control_error::peer_not_allowed);
        CHECK(acc.uid == 65534);
        CHECK_FALSE(acc.fd.valid());
        int status = 0;
        REQUIRE(::waitpid(child, &status, 0) == child);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    CHECK(open_fd_count() == before);
}

TEST_CASE("reader: frames arrive whole however the stream splits them")
{
    socket_pair s;
    auto f1 = encoded(hello_msg{});
    auto f2 = encoded(features_msg{back_offer{}.features()});
    std::vector<std::byte> stream(f1);
    stream.insert(stream.end(), f2.begin(), f2.end());
    std::thread writer([&] {
        for (std::byte b : stream)
            REQUIRE(::send(s.a.get(), &b, 1, MSG_NOSIGNAL) == 1);
    });
    message_reader r;
    auto m1 = receive_message(s.b.get(), r, std::chrono::seconds(5));
    auto m2 = receive_message(s.b.get(), r, std::chrono::seconds(5));
    writer.join();
    REQUIRE(m1.ok());
    REQUIRE(m2.ok());
    CHECK(type_of(m1.msg) == message_type::hello);
    CHECK(std::get<features_msg>(m2.msg).features == back_offer{}.features());
    CHECK(r.idle());
}

TEST_CASE("reader: would_block (nothing to read now) and partial (part of a frame read) are told apart")
{
    using st = message_reader::status;
    socket_pair s;
    message_reader r;
    const auto f = encoded(hello_msg{}); // 8-byte header and a 4-byte body
    REQUIRE(f.size() == header_bytes + 4);
    SUBCASE("an empty socket would block and nothing is buffered")
    {
        CHECK(r.try_read(s.b.get()).st == st::would_block);
        CHECK(r.idle());
    }
    SUBCASE("a whole frame queued: the header read is partial, the next call completes it without waiting")
    {
        send_raw(s.a.get(), f, 0);
        CHECK(r.try_read(s.b.get()).st == st::partial);
        CHECK_FALSE(r.idle());
        auto c = r.try_read(s.b.get());
        CHECK(c.st == st::complete);
        CHECK(c.parsed.ok());
        CHECK(r.idle());
        CHECK(r.try_read(s.b.get()).st == st::would_block);
    }
    SUBCASE("part of the header: partial, then would_block keeping the part, then the rest completes it")
    {
        send_raw(s.a.get(), std::vector<std::byte>(f.begin(), f.begin() + 3), 0);
        CHECK(r.try_read(s.b.get()).st == st::partial);
        CHECK(r.try_read(s.b.get()).st == st::would_block);
        CHECK_FALSE(r.idle());
        send_raw(s.a.get(), std::vector<std::byte>(f.begin() + 3, f.end()), 0);
        CHECK(r.try_read(s.b.get()).st == st::partial); // the header's remaining 5 bytes
        auto c = r.try_read(s.b.get());
        REQUIRE(c.st == st::complete);
        CHECK(type_of(c.parsed.msg) == message_type::hello);
        CHECK(r.idle());
    }
    SUBCASE("descriptors that came with a partial frame count as buffered")
    {
        const auto before = open_fd_count();
        send_raw(s.a.get(), std::vector<std::byte>(f.begin(), f.begin() + 2), 1);
        CHECK(r.try_read(s.b.get()).st == st::partial);
        CHECK(open_fd_count() == before + 1);
        CHECK(r.try_read(s.b.get()).st == st::would_block);
        CHECK_FALSE(r.idle());
        send_raw(s.a.get(), std::vector<std::byte>(f.begin() + 2, f.end()), 0);
        auto c = receive_message(s.b.get(), r, std::chrono::seconds(2));
        CHECK(c.error == control_error::unexpected_fds); // a hello carries none: closed
        CHECK(open_fd_count() == before);
        CHECK(r.idle());
    }
}

TEST_CASE("reader: descriptors stay with the message they were sent with")
{
    const auto before = open_fd_count();
    {
        socket_pair s;
        auto region = xnv::mem::shared_region::create(4096);
        REQUIRE(send_message(s.a.get(), hello_msg{}) == control_error::none);
        REQUIRE(send_message(s.a.get(), memory_msg{4096, region.duplicate_fd()}) == control_error::none);
        REQUIRE(send_message(s.a.get(), state_msg{xenbus_state::initialised}) == control_error::none);
        message_reader r;
        auto m1 = receive_message(s.b.get(), r, std::chrono::seconds(2));
        auto m2 = receive_message(s.b.get(), r, std::chrono::seconds(2));
        auto m3 = receive_message(s.b.get(), r, std::chrono::seconds(2));
        REQUIRE(m1.ok());
        REQUIRE(m2.ok());
        REQUIRE(m3.ok());
        const auto& mem = std::get<memory_msg>(m2.msg);
        REQUIRE(mem.fd.valid());
        // The received descriptor is the same memory.
        auto mapped = xnv::mem::shared_region::try_map(mem.fd.duplicate(), {.expected_bytes = 4096});
        REQUIRE(mapped.ok());
        region.data()[5] = std::byte{5};
        CHECK(mapped.region.data()[5] == std::byte{5});
        CHECK((::fcntl(mem.fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
    }
    CHECK(open_fd_count() == before);
}

TEST_CASE("reader: hostile descriptors are closed, never leaked")
{
    const auto before = open_fd_count();
    {
        socket_pair s;
        message_reader r;
        SUBCASE("descriptors on a hello")
        {
            send_raw(s.a.get(), encoded(hello_msg{}), 2);
            auto m = receive_message(s.b.get(), r, std::chrono::seconds(2));
            CHECK(m.error == control_error::unexpected_fds);
        }
        SUBCASE("more descriptors than any message carries")
        {
            send_raw(s.a.get(), encoded(memory_msg{4096, {}}), 12);
            auto m = receive_message(s.b.get(), r, std::chrono::seconds(2));
            CHECK(m.error == control_error::fds_truncated);
        }
        SUBCASE("as many as the receive buffer holds, on a memory message")
        {
            send_raw(s.a.get(), encoded(memory_msg{4096, {}}), max_fds_per_message);
            auto m = receive_message(s.b.get(), r, std::chrono::seconds(2));
            CHECK(m.error == control_error::wrong_fd_count);
        }
        SUBCASE("descriptors split over two parts of one frame are counted together")
        {
            auto f = encoded(memory_msg{4096, {}});
            send_raw(s.a.get(), std::vector<std::byte>(f.begin(), f.begin() + 10), 1);
            send_raw(s.a.get(), std::vector<std::byte>(f.begin() + 10, f.end()), 1);
            auto m = receive_message(s.b.get(), r, std::chrono::seconds(2));
            CHECK(m.error == control_error::wrong_fd_count);
        }
        SUBCASE("hang-up in the middle of a frame with descriptors")
        {
            auto f = encoded(memory_msg{4096, {}});
            f.resize(header_bytes + 3);
            send_raw(s.a.get(), f, 1);
            s.a.reset();
            auto m = receive_message(s.b.get(), r, std::chrono::seconds(2));
            CHECK(m.error == control_error::peer_hung_up);
        }
        CHECK(r.idle());
    }
    CHECK(open_fd_count() == before);
}

TEST_CASE("reader: an oversize frame ends the connection before its body is read")
{
    socket_pair s;
    xnv::test::bytes h;
    h.u32(1u << 20).u16(2).u16(0);
    send_raw(s.a.get(), h.get(), 0);
    message_reader r;
    auto m = receive_message(s.b.get(), r, std::chrono::seconds(2));
    CHECK(m.error == control_error::oversize);
}

TEST_CASE("reader: a frame rejected by the parser leaves the stream in step")
{
    socket_pair s;
    send_raw(s.a.get(), xnv::test::frame(99, xnv::test::bytes{}.u32(7)), 0);
    REQUIRE(send_message(s.a.get(), state_msg{xenbus_state::connected}) == control_error::none);
    message_reader r;
    auto bad = receive_message(s.b.get(), r, std::chrono::seconds(2));
    CHECK(bad.error == control_error::unknown_type);
    auto good = receive_message(s.b.get(), r, std::chrono::seconds(2));
    REQUIRE(good.ok());
    CHECK(std::get<state_msg>(good.msg).state == xenbus_state::connected);
}

TEST_CASE("reader: silence is a timeout, a closed peer a hang-up")
{
    socket_pair s;
    message_reader r;
    CHECK(receive_message(s.b.get(), r, std::chrono::milliseconds(20)).error == control_error::timeout);
    s.a.reset();
    pollfd p{s.b.get(), POLLIN | POLLRDHUP, 0};
    REQUIRE(::poll(&p, 1, 1000) == 1);
    CHECK(peer_gone(static_cast<unsigned>(p.revents)));
    CHECK(receive_message(s.b.get(), r, std::chrono::seconds(1)).error == control_error::peer_hung_up);
}

TEST_CASE("send: a closed peer is a hang-up, not a SIGPIPE")
{
    socket_pair s;
    s.b.reset();
    CHECK(send_message(s.a.get(), hello_msg{}) == control_error::peer_hung_up);
}

TEST_CASE("send: more descriptors than a message may carry is refused")
{
    socket_pair s;
    std::array<int, max_fds_per_message + 1> fds{};
    fds.fill(0);
    const auto f = encoded(hello_msg{});
    CHECK(send_frame(s.a.get(), f, fds) == control_error::fds_truncated);
}
