// SPDX-License-Identifier: MIT
// Hostile control-channel clients against a running xnv-netback (docs/security.md): while two
// well-behaved netfronts carry traffic through it, raw clients connect to its control socket
// and send each malformed case (unknown type, truncated, oversize, descriptors where none
// belong or too many, queue counts of 0 or above the maximum), say nothing, or hang up half-way
// through a handshake. For each, netback logs one line naming the reason, closes that
// connection only, and is left with exactly the descriptors it had; the two vifs keep full
// service. A connected frontend that then breaks the ring protocol is told why
// (protocol_violation) before netback closes its connection.

#include "control_message.hpp"
#include "control_session.hpp"
#include "control_socket.hpp"
#include "control_test_util.hpp"
#include "counts.hpp"
#include "e2e_util.hpp"
#include "hostile_support.hpp"
#include "program_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace xnv::test;
namespace control = xnv::example::control;
using control::control_error;
using xnv::mem::unique_fd;

namespace {

const std::string mac1 = "02:00:00:00:02:01";
const std::string mac2 = "02:00:00:00:02:02";
constexpr auto wait_20 = std::chrono::seconds(20);

std::vector<std::byte> features_with_queues(std::uint32_t queues)
{
    control::feature_set f;
    f.rx_copy = true;
    f.num_queues = queues;
    f.mac = control::mac_address{0x02, 0, 0, 0, 0x02, 0x77};
    return encoded(control::features_msg{f});
}

/// Read what netback says until it closes the connection: the code of its error message, if
/// it sent one. Fails the test if the connection stays open.
std::optional<std::uint16_t> read_until_closed(int sock)
{
    control::message_reader r;
    std::optional<std::uint16_t> code;
    for (;;) {
        control::parse_result p = control::receive_message(sock, r, std::chrono::seconds(20));
        if (p.error == control_error::peer_hung_up || p.error == control_error::io_error)
            return code;
        REQUIRE_MESSAGE(p.error != control_error::timeout, "netback left the connection open");
        if (p.ok())
            if (const auto* e = std::get_if<control::error_msg>(&p.msg))
                code = e->code;
    }
}

struct bad_case {
    const char* name;
    std::function<void(int)> act; // what the client does
    std::string logged;           // the reason netback's log line must name
    std::optional<control_error> told; // the error message netback sends first, if any
};

} // namespace

TEST_CASE("malformed control messages against a running netback: only that connection closes, nothing leaks, "
          "the vifs keep full service")
{
    temp_dir dir;
    const std::string sock = unique_socket();
    auto nb = start_netback_at(dir, "nb", sock, {"--handshake-ms", "500"});
    const pid_t nbp = nb->pid();
    auto a = start_netfront_at(dir, "a", sock, {"--mac", mac1, "--peer-mac", mac2, "--rate", "2000"});
    auto b = start_netfront_at(dir, "b", sock, {"--mac", mac2, "--peer-mac", mac1, "--rate", "2000"});
    REQUIRE(within(wait_20, [&] { return status_received(a->out()) > 0 && status_received(b->out()) > 0; }));
    const control::socket_address where = control::socket_address::parse(sock);

    auto hello = [](int s) { send_raw(s, encoded(control::hello_msg{}), 0); };
    const std::vector<bad_case> cases{
        {"unknown message type", [](int s) { send_raw(s, frame_header(0, 99), 0); },
         "bad control message: unknown message type", control_error::unknown_type},
        {"truncated frame (a hello body of 2 bytes)",
         [](int s) {
             auto f = frame_header(2, 1);
             f.push_back(std::byte{1});
             f.push_back(std::byte{0});
             send_raw(s, f, 0);
         },
         "bad control message: message truncated", control_error::truncated},
        {"oversize frame", [](int s) { send_raw(s, frame_header(1u << 20, 2), 0); }, "message longer than the protocol allows",
         std::nullopt},
        {"descriptors on a message that takes none", [](int s) { send_raw(s, encoded(control::hello_msg{}), 2); },
         "bad control message: file descriptors on a message that carries none", control_error::unexpected_fds},
        {"too many descriptors",
         [](int s) { send_raw(s, encoded(control::memory_msg{4096, {}}), 12); },
         "bad control message: more file descriptors than any message carries", control_error::fds_truncated},
        {"wrong descriptor count on a memory message",
         [](int s) { send_raw(s, encoded(control::memory_msg{4096, {}}), 2); },
         "bad control message: wrong number of file descriptors for the message", control_error::wrong_fd_count},
        {"queue count 0",
         [&](int s) {
             hello(s);
             send_raw(s, features_with_queues(0), 0);
         },
         "bad control message: queue count of zero", control_error::zero_queues},
        {"queue count above the protocol maximum",
         [&](int s) {
             hello(s);
             send_raw(s, features_with_queues(control::max_queues + 1), 0);
         },
         "bad control message: queue count above the protocol maximum", control_error::too_many_queues},
        {"queue count above netback's maximum",
         [&](int s) {
             hello(s);
             send_raw(s, features_with_queues(5), 0); // netback offers 4 (its default)
         },
         "more queues than the backend allows", control_error::queues_above_max},
        {"a client that sends nothing", [](int) {}, "handshake timed out", control_error::timeout},
        {"hang-up half-way through a frame",
         [](int s) {
             auto f = encoded(control::hello_msg{});
             f.resize(5);
             send_raw(s, f, 1);
             ::shutdown(s, SHUT_WR);
         },
         "peer hung up", std::nullopt},
        {"hang-up half-way through the handshake",
         [&](int s) {
             hello(s);
             control::message_reader r;
             for (int i = 0; i < 3; ++i) // netback's hello, features, init-wait
                 REQUIRE(control::receive_message(s, r, std::chrono::seconds(10)).ok());
             control::feature_set f;
             f.rx_copy = true;
             f.num_queues = 1;
             f.mac = control::mac_address{0x02, 0, 0, 0, 0x02, 0x78};
             send_raw(s, encoded(control::features_msg{f}), 0);
             ::shutdown(s, SHUT_WR);
         },
         "peer hung up", std::nullopt},
    };

    // Settled: the two vifs connected and nothing else open.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const std::size_t fds_before = open_fds(nbp);
    std::uint64_t ra = status_received(a->out()), rb = status_received(b->out());
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const bad_case& c = cases[i];
        INFO("case: " << std::string(c.name));
        const std::size_t log_before = nb->err().size();
        {
            unique_fd s = control::connect_to(where);
            c.act(s.get());
            const std::optional<std::uint16_t> code = read_until_closed(s.get());
            if (c.told) {
                REQUIRE(code.has_value());
                CHECK(static_cast<control_error>(*code) == *c.told);
            } else {
                CHECK_FALSE(code.has_value());
            }
        }
        // One log line, naming the reason.
        REQUIRE(within(wait_20, [&] { return nb->err().size() > log_before; }));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        const std::string logged = nb->err().substr(log_before);
        INFO("netback logged: " << logged);
        CHECK(count_of(logged, "\n") == 1);
        CHECK(logged.find("dropped before connecting: " + c.logged) != std::string::npos);
        // Nothing left behind: the connection and every descriptor it sent are closed.
        CHECK(within(wait_20, [&] { return open_fds(nbp) == fds_before; }));
        CHECK(nb->running());
        // The vifs keep carrying traffic (their status lines come once a second, so this is
        // looked at after every few cases).
        if (i % 4 == 3 || i + 1 == cases.size()) {
            CHECK(within(wait_20,
                         [&] { return status_received(a->out()) > ra + 50 && status_received(b->out()) > rb + 50; }));
            ra = status_received(a->out());
            rb = status_received(b->out());
        }
    }

    for (auto* f : {&a, &b}) {
        (*f)->signal(SIGTERM);
        INFO("xnv-netfront stderr: " << (*f)->err());
        REQUIRE((*f)->wait(wait_20) == 0);
    }
    for (const char* name : {"a", "b"}) {
        const json j = read_json(dir.file(std::string(name) + ".json"));
        CHECK(j["failed"].b() == false);
        CHECK(j["lost"].u() == 0);
        CHECK(j["corrupted"].u() == 0);
        CHECK(j["rx_drops"].u() == 0);
        CHECK(j["tx_errors"].u() == 0);
    }
    nb->signal(SIGTERM);
    REQUIRE(nb->wait(wait_20) == 0);
    const json jn = read_json(dir.file("nb.json"));
    REQUIRE(jn["vifs"].size() == 2); // the bad clients never became vifs
    for (std::size_t i = 0; i < 2; ++i) {
        const json& d = jn["vifs"][i]["total"]["drops"];
        CHECK(d["tx_malformed"].u() == 0);
        CHECK(d["rx_expired"].u() == 0);
        CHECK(d["rx_too_large"].u() == 0);
        CHECK(jn["vifs"][i]["close_reason"].s() == "netfront closed the connection");
    }
}

TEST_CASE("a connected frontend that breaks the ring protocol is told protocol_violation before netback closes it")
{
    temp_dir dir;
    const std::string sock = unique_socket();
    auto nb = start_netback_at(dir, "nb", sock);
    const pid_t nbp = nb->pid();
    auto a = start_netfront_at(dir, "a", sock, {"--mac", mac1, "--peer-mac", mac2, "--rate", "2000"});
    auto b = start_netfront_at(dir, "b", sock, {"--mac", mac2, "--peer-mac", mac1, "--rate", "2000"});
    REQUIRE(within(wait_20, [&] { return status_received(a->out()) > 0 && status_received(b->out()) > 0; }));
    const std::size_t fds_before = open_fds(nbp);

    // A frontend whose rings and grants the test writes by hand, connected through the real
    // handshake.
    hostile::scripted_front h(hostile::mac_h);
    unique_fd s = control::connect_to(control::socket_address::parse(sock));
    control::front_request req;
    req.mac = hostile::mac_h;
    req.queues = 1;
    req.mtu = control::max_mtu;
    const control::front_result fr = control::front_handshake(
        s.get(), req,
        [&](const control::negotiated& p) {
            REQUIRE(p.split_event_channels);
            control::front_layout l;
            l.memory_fd = h.region.fd();
            l.memory_bytes = h.lay.bytes;
            control::queue_plan q;
            q.tx_ring_offset = h.lay.queues[0].tx_ring_offset;
            q.rx_ring_offset = h.lay.queues[0].rx_ring_offset;
            q.tx_grants = h.lay.queues[0].tx_grants;
            q.rx_grants = h.lay.queues[0].rx_grants;
            for (std::size_t i = 0; i < 4; ++i)
                q.event_fds[i] = h.efd[i].get();
            l.queues.push_back(q);
            return l;
        },
        std::chrono::seconds(10));
    REQUIRE(fr.ok());
    REQUIRE(within(wait_20, [&] { return memfd_mappings(nbp) == 3; }));

    // req_prod far beyond the ring (XSA-39): netback names the violation, then closes.
    h.publish_tx(1000);
    h.kick(0);
    control::message_reader r;
    std::optional<control::error_msg> told;
    for (;;) {
        control::parse_result p = control::receive_message(s.get(), r, std::chrono::seconds(20));
        if (!p.ok()) {
            CHECK(p.error == control_error::peer_hung_up);
            break;
        }
        if (const auto* e = std::get_if<control::error_msg>(&p.msg); e != nullptr && !told)
            told = *e;
    }
    REQUIRE(told.has_value());
    CHECK(static_cast<control_error>(told->code) == control_error::protocol_violation);
    CHECK_FALSE(told->message().empty());
    CHECK(nb->err().find("disconnected: protocol violation: " + std::string(told->message())) != std::string::npos);
    s.reset();
    CHECK(within(wait_20, [&] { return memfd_mappings(nbp) == 2 && open_fds(nbp) == fds_before; }));

    const std::uint64_t ra = status_received(a->out()), rb = status_received(b->out());
    CHECK(within(wait_20, [&] { return status_received(a->out()) > ra + 50 && status_received(b->out()) > rb + 50; }));
    for (auto* f : {&a, &b}) {
        (*f)->signal(SIGTERM);
        INFO("xnv-netfront stderr: " << (*f)->err());
        REQUIRE((*f)->wait(wait_20) == 0);
    }
    nb->signal(SIGTERM);
    REQUIRE(nb->wait(wait_20) == 0);
}

TEST_CASE("netfront told protocol_violation reports the reason and does not reconnect")
{
    temp_dir dir;
    const std::string sock = unique_socket();
    // A minimal netback: the real handshake driver, then the error message netback sends when
    // it disconnects a vif for a ring or grant violation.
    control::listener lst = control::listener::open(control::socket_address::parse(sock));
    auto f = start_netfront_at(dir, "f", sock,
                               {"--quiet", "--mac", mac1, "--peer-mac", "02:00:00:00:02:99", "--no-wait-peer", "--rate",
                                "1000", "--reconnect", "10"});
    control::listener::accepted acc = lst.accept_for(std::chrono::seconds(20));
    REQUIRE(acc.fd.valid());
    control::back_result br = control::back_handshake(acc.fd.get(), control::back_offer{}, std::chrono::seconds(20));
    REQUIRE(br.ok());
    control::send_error(acc.fd.get(), control_error::protocol_violation, "TX request: slot crosses its page");
    acc.fd.reset();
    const int st = f->wait(wait_20);
    INFO("xnv-netfront stderr: " << f->err());
    CHECK(st == 1);
    const std::string why = "netback disconnected this vif for a data-path protocol violation: TX request: slot "
                            "crosses its page";
    CHECK(f->err().find(why) != std::string::npos);
    CHECK(f->err().find("lost netback") == std::string::npos);
    const json j = read_json(dir.file("f.json"));
    CHECK(j["failed"].b() == true);
    CHECK(j["stop_reason"].s() == why);
    CHECK(j["reconnects"].u() == 0);
    CHECK(j["netback_losses"].u() == 0);
}
