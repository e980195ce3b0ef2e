// SPDX-License-Identifier: MIT
// xnv-netfront: the reference netfront. Creates its shared memory and event channels, connects
// to xnv-netback's control socket, negotiates, then runs one thread per queue carrying frames
// from a built-in generator and into a built-in sink that counts loss, duplication, reordering
// and corruption. Prints a status line per second and a JSON summary at exit.
// docs/netback.md describes the options, the output and the architecture.

#include "cli.hpp"
#include "control_session.hpp"
#include "control_socket.hpp"
#include "json.hpp"
#include "netfront_engine.hpp"
#include "ref_format.hpp"
#include "ref_program.hpp"
#include "ref_tap.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <poll.h>
#include <unistd.h>

using namespace xnv::example;
namespace control = xnv::example::control;

namespace {

using steady = std::chrono::steady_clock;

struct options {
    std::string socket = "@xnv-netback";
    std::string mac;
    std::string peer_mac = "ff:ff:ff:ff:ff:ff";
    std::uint64_t queues = 1;
    std::uint64_t mtu = 0; // 0: the largest netback allows with SG, 1500 without
    bool no_sg = false;
    bool no_gso = false;
    bool no_split = false;
    std::string mode = "gen";
    std::string proto = "raw";
    std::uint64_t size = 1514;
    std::uint64_t size_min = 0;
    std::uint64_t size_max = 0;
    std::string size_dist = "log";
    std::uint64_t rate = 0;
    std::uint64_t count = 0;
    std::uint64_t seconds = 0;
    std::uint64_t seed = 1;
    std::string coalesce = "event_idx";
    std::uint64_t coalesce_frames = 32;
    std::uint64_t coalesce_usecs = 50;
    bool no_lro = false;
    std::uint64_t busy_poll_us = 0;
    std::uint64_t linger_ms = 500;
    std::uint64_t expect = 0;
    std::uint64_t handshake_ms = 5000;
    std::uint64_t reconnect_s = 0;
    std::string json;
    bool quiet = false;
    bool verify = false;
    bool no_wait_peer = false;
    std::string tap_name;
    std::string tap_netns;
    std::uint64_t tap_mtu = 1500;
};

cli make_cli(options& o)
{
    cli c("xnv-netfront",
          "The reference netfront: connects to xnv-netback and carries generated traffic over a vif,\n"
          "checking everything it receives for loss, duplication, reordering and corruption.");
    c.text("--socket", o.socket, {}, "netback's control socket: @name (abstract namespace) or a path")
        .text("--mac", o.mac, {}, "this vif's MAC (default: 02:00 followed by the process id)")
        .text("--peer-mac", o.peer_mac, {}, "destination MAC of generated frames")
        .integer("--queues", o.queues, 1, control::max_queues, "queues (multi-queue-num-queues), a thread each")
        .integer("--mtu", o.mtu, 0, control::max_mtu, "MTU to ask for (0: the largest allowed)")
        .flag("--no-sg", o.no_sg, "do not use feature-sg (frames must fit one page)")
        .flag("--no-gso", o.no_gso, "do not use feature-gso-tcpv4/-tcpv6 (and so no LRO)")
        .flag("--no-split-event-channels", o.no_split, "one event channel per queue for TX and RX")
        .text("--mode", o.mode, {"gen", "sink", "tap"},
              "gen: send and receive; sink: only receive; tap: carry a TAP interface's frames")
        .text("--tap-name", o.tap_name, {}, "tap mode: the interface's name (default: the kernel's choice)")
        .text("--tap-netns", o.tap_netns, {}, "tap mode: create the interface in this named network namespace")
        .integer("--tap-mtu", o.tap_mtu, 68, control::max_mtu, "tap mode: the interface's MTU")
        .text("--proto", o.proto, {"raw", "tcp"},
              "frame format: raw test frames, or test records in IPv4/TCP segments (GSO, LRO)")
        .integer("--size", o.size, 1, 65535, "frame bytes, Ethernet header included")
        .integer("--size-min", o.size_min, 1, 65535, "random frame sizes from this (with --size-max)")
        .integer("--size-max", o.size_max, 1, 65535, "random frame sizes up to this")
        .text("--size-dist", o.size_dist, {"uniform", "log"}, "distribution of random sizes")
        .integer("--rate", o.rate, 0, 1000000000, "frames per second (0: as fast as the ring allows)")
        .integer("--count", o.count, 0, UINT64_MAX, "frames to send (0: no limit)")
        .integer("--seconds", o.seconds, 0, 31536000, "send for this long (0: no limit)")
        .integer("--seed", o.seed, 0, UINT64_MAX, "seed of the random sizes")
        .text("--coalesce", o.coalesce, coalesce_names(), "when netfront notifies netback")
        .integer("--coalesce-frames", o.coalesce_frames, 1, 4096, "frames_usecs: notify after this many frames")
        .integer("--coalesce-usecs", o.coalesce_usecs, 1, 100000, "frames_usecs: notify after this many microseconds")
        .flag("--no-lro", o.no_lro, "hand TCP segments up as received, unmerged")
        .integer("--busy-poll-us", o.busy_poll_us, 0, 10000,
                 "keep polling this long after the last work before sleeping (0: sleep at once)")
        .flag("--no-wait-peer", o.no_wait_peer,
              "send at once, without waiting for a frame from --peer-mac (frames sent before the peer\n"
              "                            connects are dropped by netback's switch)")
        .integer("--linger-ms", o.linger_ms, 0, 3600000,
                 "after sending, wait until nothing arrived for this long before exiting")
        .integer("--expect", o.expect, 0, UINT64_MAX, "after sending, wait until this many test frames arrived")
        .integer("--handshake-ms", o.handshake_ms, 1, 600000, "give up connecting after this long")
        .integer("--reconnect", o.reconnect_s, 0, 86400,
                 "after losing netback (hang-up or its orderly close), tear the vif down and keep trying\n"
                 "                            to connect again for this many seconds (0: exit with status 1)")
        .text("--json", o.json, {}, "also write the JSON summary to this file")
        .flag("--quiet", o.quiet, "no status line")
        .flag("--verify", o.verify,
              "exit with status 4 if anything was lost, duplicated, reordered or corrupted, or --expect not met");
    return c;
}

void log(const std::string& s)
{
    std::fprintf(stderr, "xnv-netfront: %s\n", s.c_str());
    std::fflush(stderr);
}

struct handshake_outcome {
    control::negotiated params;
    std::string error; // empty on success
};

// netfront's side of the control channel, driven here (rather than by front_handshake) so the
// session outlives the handshake: netback's later "closing" and our own close go through it.
handshake_outcome handshake(int sock, control::front_session& session, control::message_reader& reader,
                            const std::function<control::front_layout(const control::negotiated&)>& build,
                            std::chrono::milliseconds timeout)
{
    const auto deadline = steady::now() + timeout;
    auto left = [&] {
        return std::max(std::chrono::milliseconds(0),
                        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()));
    };
    auto fail = [&](control::control_error e, const std::string& detail) {
        if (e != control::control_error::peer_error && e != control::control_error::peer_hung_up)
            control::send_error(sock, e, detail);
        std::string why = std::string(control::to_string(e));
        if (!detail.empty())
            why += " (" + detail + ")";
        if (session.peer_error())
            why += ": " + std::string(session.peer_error()->message());
        return handshake_outcome{{}, why};
    };
    if (auto e = control::send_message(sock, session.hello(), left()); e != control::control_error::none)
        return fail(e, "sending hello");
    for (;;) {
        control::parse_result p = control::receive_message(sock, reader, left());
        if (!p.ok())
            return fail(p.error, "waiting for netback");
        control::step st = session.on_message(std::move(p.msg));
        if (!st.ok())
            return fail(st.error, st.detail);
        for (const auto& m : st.replies)
            if (auto e = control::send_message(sock, m, left()); e != control::control_error::none)
                return fail(e, "sending");
        if (st.ready) {
            control::front_layout layout;
            try {
                layout = build(session.params());
            } catch (const std::exception& ex) {
                control::send_error(sock, control::control_error::io_error, ex.what());
                return handshake_outcome{{}, ex.what()};
            }
            for (const auto& m : session.describe(layout.memory_fd, layout.memory_bytes, layout.queues))
                if (auto e = control::send_message(sock, m, left()); e != control::control_error::none)
                    return fail(e, "describing the queues");
        }
        if (st.closed)
            return fail(control::control_error::peer_hung_up, "netback closed the connection during the handshake");
        if (st.connected)
            return handshake_outcome{session.params(), {}};
    }
}

} // namespace

int main(int argc, char** argv)
{
    options o;
    cli c = make_cli(o);
    control::front_request req;
    generator_config gen;
    netfront_config cfg;
    try {
        if (!c.parse(argc, argv)) {
            std::fputs(c.help().c_str(), stdout);
            return 0;
        }
        if (o.mac.empty()) {
            const auto pid = static_cast<std::uint32_t>(::getpid());
            gen.mac = {0x02, 0x00, static_cast<std::uint8_t>(pid >> 24), static_cast<std::uint8_t>(pid >> 16),
                       static_cast<std::uint8_t>(pid >> 8), static_cast<std::uint8_t>(pid)};
        } else {
            try {
                gen.mac = parse_mac(o.mac);
            } catch (const std::invalid_argument& e) {
                throw cli_error(std::string("--mac: ") + e.what());
            }
            if ((gen.mac[0] & 1u) != 0 || gen.mac == mac_bytes{})
                throw cli_error("--mac must be a unicast address (first byte even) and not all zero, got '" + o.mac +
                                "'");
        }
        try {
            gen.peer = parse_mac(o.peer_mac);
        } catch (const std::invalid_argument& e) {
            throw cli_error(std::string("--peer-mac: ") + e.what());
        }
        gen.proto = o.proto == "tcp" ? gen_proto::tcp : gen_proto::raw;
        const std::uint32_t smallest = static_cast<std::uint32_t>(min_frame_bytes(gen.proto));
        if (o.size_min != 0 || o.size_max != 0) {
            if (o.size_min == 0 || o.size_max == 0)
                throw cli_error("--size-min and --size-max go together");
            if (o.size_min > o.size_max)
                throw cli_error("--size-min (" + std::to_string(o.size_min) + ") is above --size-max (" +
                                std::to_string(o.size_max) + ")");
            gen.size_min = static_cast<std::uint32_t>(o.size_min);
            gen.size_max = static_cast<std::uint32_t>(o.size_max);
            gen.dist = o.size_dist == "uniform" ? size_dist::uniform : size_dist::log_uniform;
        } else {
            gen.size_min = gen.size_max = static_cast<std::uint32_t>(o.size);
            gen.dist = size_dist::fixed;
        }
        if (gen.size_min < smallest)
            throw cli_error("frames of " + std::to_string(gen.size_min) + " bytes are too small: a " + o.proto +
                            " test frame needs at least " + std::to_string(smallest) +
                            " bytes (its headers and the 24-byte test header)");
        if (o.mtu != 0 && o.mtu < control::min_mtu)
            throw cli_error("--mtu must be 0 (automatic) or " + std::to_string(control::min_mtu) + ".." +
                            std::to_string(control::max_mtu) + ", got " + std::to_string(o.mtu));
        if (o.mode != "tap" && (!o.tap_name.empty() || !o.tap_netns.empty()))
            throw cli_error("--tap-name and --tap-netns apply only to --mode tap");
        if (o.mode == "sink" || o.mode == "tap") {
            if (o.count != 0 || o.seconds != 0 || o.rate != 0)
                throw cli_error("--mode " + o.mode + " generates nothing: --count, --seconds and --rate do not apply");
            gen.transmit = false;
        } else {
            gen.count = o.count;
            gen.duration = std::chrono::seconds(o.seconds);
        }
        gen.rate = o.rate;
        gen.seed = o.seed;
        if (o.mode == "gen" && !o.no_wait_peer && (gen.peer[0] & 1u) == 0)
            gen.peer_seen = std::make_shared<std::atomic<bool>>(false);
        req.sg = !o.no_sg;
        req.gso_tcpv4 = req.gso_tcpv6 = !o.no_gso;
        req.split_event_channels = !o.no_split;
        req.queues = static_cast<std::uint32_t>(o.queues);
        req.mac = gen.mac;
        req.mtu = o.mtu != 0 ? static_cast<std::uint32_t>(o.mtu) : (req.sg ? control::max_mtu : control::max_mtu_without_sg);
        cfg.coalesce.choice = parse_coalesce(o.coalesce);
        cfg.coalesce.frames = static_cast<std::uint32_t>(o.coalesce_frames);
        cfg.coalesce.usecs = std::chrono::microseconds(o.coalesce_usecs);
        cfg.lro = !o.no_lro;
        cfg.busy_poll = std::chrono::microseconds(o.busy_poll_us);
        (void)runtime_policy(cfg.coalesce);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "xnv-netfront: error: %s\n", e.what());
        return 2;
    }

    const bool tap_mode = o.mode == "tap";
    std::unique_ptr<netfront_vif> vif;
    try {
        auto sigfd = termination_signals();
        // The TAP interface first, so a missing privilege or device is reported before any
        // connection is made. It disappears when its last descriptor closes (with the vif).
        std::optional<tap_device> tap;
        if (tap_mode) {
            tap_config tc;
            tc.name = o.tap_name;
            tc.netns = o.tap_netns;
            tc.mac = gen.mac;
            tc.mtu = static_cast<std::uint32_t>(o.tap_mtu);
            tc.queues = static_cast<std::uint32_t>(o.queues);
            tap.emplace(tc);
            log("TAP interface " + tap->name() + (o.tap_netns.empty() ? "" : " in network namespace " + o.tap_netns) +
                ", " + std::to_string(tap->queues()) + " queue(s)");
        }
        const control::socket_address where = control::socket_address::parse(o.socket);
        xnv::mem::unique_fd sock = control::connect_to(where);
        control::front_session session(req);
        control::message_reader reader;
        std::string usage_problem;
        // Reconnecting: the ports of the torn-down vif (generator and sink state, TAP queues)
        // wait here for the next one, which must be negotiated exactly as the first was.
        std::vector<std::unique_ptr<frame_port>> parked;
        std::optional<control::negotiated> first_params;
        std::string resume_problem;

        auto build = [&](const control::negotiated& p) -> control::front_layout {
            if (first_params) {
                if (p != *first_params) {
                    resume_problem = "netback came back with different parameters (" + std::to_string(p.queues) +
                                     " queue(s), mtu " + std::to_string(p.mtu) + ") than the vif had (" +
                                     std::to_string(first_params->queues) + " queue(s), mtu " +
                                     std::to_string(first_params->mtu) + "); its frames cannot resume";
                    throw std::invalid_argument(resume_problem);
                }
                vif = std::make_unique<netfront_vif>(p, cfg, std::move(parked));
                return vif->plan();
            }
            // The frames must fit what was negotiated.
            const std::uint32_t frame_max = p.mtu + 14;
            if (tap_mode) {
                if (o.tap_mtu > p.mtu)
                    usage_problem = "--tap-mtu " + std::to_string(o.tap_mtu) + " exceeds the negotiated MTU (" +
                                    std::to_string(p.mtu) + ")";
                if (!usage_problem.empty())
                    throw std::invalid_argument(usage_problem);
                tap->keep_queues(p.queues);
                // Super-frames only where netif can carry them: GSO negotiated, and SG for the
                // pages they need. Partial checksums are always fine (csum_blank).
                tap->set_offloads(tap_offloads{true, p.sg && p.gso_tcpv4, p.sg && p.gso_tcpv6});
                std::vector<std::unique_ptr<frame_port>> ports;
                for (std::uint32_t q = 0; q < p.queues; ++q)
                    ports.push_back(std::make_unique<tap_port>(tap->take_queue(q)));
                vif = std::make_unique<netfront_vif>(p, cfg, std::move(ports));
                return vif->plan();
            }
            if (!p.sg && gen.size_max > xnv::netif::page_size)
                usage_problem = "frames above 4096 bytes need feature-sg, which was not negotiated";
            else if (gen.proto == gen_proto::raw && gen.size_max > frame_max)
                usage_problem = "raw frames of up to " + std::to_string(gen.size_max) + " bytes exceed the MTU (" +
                                std::to_string(p.mtu) + ") plus the Ethernet header; lower --size or raise --mtu";
            else if (gen.proto == gen_proto::tcp && gen.size_max > frame_max && !p.gso_tcpv4)
                usage_problem = "TCP frames above the MTU need GSO, which was not negotiated";
            if (!usage_problem.empty())
                throw std::invalid_argument(usage_problem);
            gen.mtu = p.mtu;
            gen.gso = p.gso_tcpv4;
            std::vector<std::unique_ptr<frame_port>> ports;
            for (std::uint32_t q = 0; q < p.queues; ++q)
                ports.push_back(std::make_unique<traffic_port>(gen, q, p.queues));
            vif = std::make_unique<netfront_vif>(p, cfg, std::move(ports));
            return vif->plan();
        };
        const handshake_outcome h =
            handshake(sock.get(), session, reader, build, std::chrono::milliseconds(o.handshake_ms));
        if (!h.error.empty()) {
            std::fprintf(stderr, "xnv-netfront: error: %s\n", h.error.c_str());
            return usage_problem.empty() ? 1 : 2;
        }
        control::negotiated p = h.params;
        first_params = p;
        // Later requests ask for exactly what was negotiated, so that the ports fit again.
        req.queues = p.queues;
        req.mtu = p.mtu;
        log("connected to " + where.display() + " as " + format_mac(gen.mac) + ": " + std::to_string(p.queues) +
            " queue(s), mtu " + std::to_string(p.mtu) + (p.sg ? ", sg" : "") + (p.gso_tcpv4 ? ", gso-tcpv4" : "") +
            (p.split_event_channels ? ", split event channels" : ""));

        if (gen.peer_seen && o.mode == "gen")
            log("waiting for a frame from " + format_mac(gen.peer) + " before sending");
        const auto start = steady::now();
        vif->start();
        auto status_timer = periodic_timer(std::chrono::seconds(1));
        std::string stop_reason;
        bool failed = false;
        std::optional<steady::time_point> tx_end;
        auto last_rx_change = start;
        std::uint64_t last_rx = 0;
        auto last_rx_progress = start;
        auto first_rx = start;

        // Counters of the vifs torn down by reconnects; the summary adds them up.
        nf_queue_stats carried{};
        std::uint64_t carried_lro = 0;
        std::uint64_t reconnects = 0;
        std::uint64_t netback_losses = 0;
        std::uint64_t grants_held_at_teardown = 0;
        auto nq = [&] { return vif ? vif->queues() : static_cast<std::uint32_t>(parked.size()); };
        auto port_at = [&](std::uint32_t q) -> frame_port& { return vif ? vif->port(q) : *parked[q]; };
        auto add_stats = [](nf_queue_stats& t, const nf_queue_stats& s) {
            t.tx_packets += s.tx_packets;
            t.tx_bytes += s.tx_bytes;
            t.tx_errors += s.tx_errors;
            t.rx_packets += s.rx_packets;
            t.rx_bytes += s.rx_bytes;
            t.rx_drops += s.rx_drops;
            t.kicks += s.kicks;
            t.end_retries += s.end_retries;
            t.tx_notify.sent += s.tx_notify.sent;
            t.tx_notify.suppressed += s.tx_notify.suppressed;
            t.rx_notify.sent += s.rx_notify.sent;
            t.rx_notify.suppressed += s.rx_notify.suppressed;
        };

        auto records = [&] {
            std::uint64_t n = 0;
            for (std::uint32_t q = 0; q < nq(); ++q)
                n += tap_mode ? static_cast<tap_port&>(port_at(q)).stats().written_frames
                              : static_cast<traffic_port&>(port_at(q)).records_approx();
            return n;
        };
        auto bad = [&] {
            std::uint64_t n = 0;
            for (std::uint32_t q = 0; q < nq(); ++q)
                n += tap_mode ? static_cast<tap_port&>(port_at(q)).stats().write_errors
                              : static_cast<traffic_port&>(port_at(q)).bad_approx();
            return n;
        };
        auto generated = [&] {
            std::uint64_t n = 0;
            for (std::uint32_t q = 0; q < nq(); ++q)
                n += tap_mode ? static_cast<tap_port&>(port_at(q)).stats().read_frames
                              : static_cast<traffic_port&>(port_at(q)).generated_approx();
            return n;
        };
        auto sum = [&] {
            nf_queue_stats t = carried;
            if (vif)
                for (const auto& s : vif->stats())
                    add_stats(t, s);
            return t;
        };

        // netback is gone (hang-up or its orderly close): tear the vif down completely (queue
        // threads joined, every grant ended that netback no longer holds, the memfd and the
        // eventfds closed with it), then connect again with a bounded exponential back-off
        // (50 ms doubling to 1 s) until --reconnect seconds have passed. Returns false with
        // stop_reason set when netback did not come back in time, came back with different
        // parameters, or a signal arrived meanwhile.
        auto reconnect = [&](const std::string& why) -> bool {
            ++netback_losses;
            for (const auto& s : vif->stats())
                add_stats(carried, s);
            parked = vif->release_ports();
            carried_lro += vif->lro_merged();
            const std::size_t held = vif->grants_held();
            grants_held_at_teardown += held;
            vif.reset();
            sock.reset();
            log("lost netback (" + why + "): vif torn down" +
                (held != 0 ? " (" + std::to_string(held) + " grant(s) netback still held went with its memory)" : "") +
                "; reconnecting for up to " + std::to_string(o.reconnect_s) + " s");
            const auto deadline = steady::now() + std::chrono::seconds(o.reconnect_s);
            auto backoff = std::chrono::milliseconds(50);
            std::string last = "no attempt";
            for (;;) {
                try {
                    sock = control::connect_to(where);
                    session = control::front_session(req);
                    reader = control::message_reader{};
                    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
                    const handshake_outcome hr =
                        handshake(sock.get(), session, reader, build,
                                  std::clamp(left, std::chrono::milliseconds(1), std::chrono::milliseconds(o.handshake_ms)));
                    if (hr.error.empty()) {
                        ++reconnects;
                        log("reconnected to " + where.display() + " (reconnect " + std::to_string(reconnects) + ")");
                        vif->start();
                        return true;
                    }
                    last = hr.error;
                } catch (const std::system_error& e) {
                    last = e.what();
                }
                if (vif) { // the handshake failed after the vif was built: take the ports back
                    parked = vif->release_ports();
                    vif.reset();
                }
                sock.reset();
                if (!resume_problem.empty()) {
                    stop_reason = resume_problem;
                    return false;
                }
                const auto now = steady::now();
                if (now >= deadline) {
                    stop_reason = "netback did not come back within " + std::to_string(o.reconnect_s) +
                                  " s (last attempt: " + last + ")";
                    log("error: " + stop_reason);
                    return false;
                }
                const auto wait = std::min(backoff, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                                                        std::chrono::milliseconds(1));
                pollfd pf{sigfd.get(), POLLIN, 0};
                if (::poll(&pf, 1, static_cast<int>(wait.count())) > 0 && (pf.revents & POLLIN) != 0) {
                    const int sig = take_signal(sigfd.get());
                    stop_reason = std::string("signal ") +
                                  (sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP") +
                                  " while reconnecting";
                    return false;
                }
                backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
            }
        };
        nf_queue_stats prev{};
        auto prev_t = start;

        while (stop_reason.empty()) {
            std::array<pollfd, 3> fds{pollfd{sock.get(), POLLIN | POLLRDHUP, 0}, pollfd{sigfd.get(), POLLIN, 0},
                                      pollfd{status_timer.get(), POLLIN, 0}};
            if (::poll(fds.data(), fds.size(), 50) < 0 && errno != EINTR)
                throw std::system_error(errno, std::generic_category(), "poll");
            if ((fds[1].revents & POLLIN) != 0) {
                const int sig = take_signal(sigfd.get());
                stop_reason = std::string("signal ") + (sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP");
                break;
            }
            if (fds[0].revents != 0) {
                // As in netback: after a hang-up, read to the end of the stream first, so that
                // netback's last message ("closing") is seen rather than only the hang-up.
                const bool gone = control::peer_gone(static_cast<unsigned>(fds[0].revents));
                // Whether netback may come back (it died or stopped): a reconnect can help. Not
                // after it rejected this vif with an error message, nor after a bad message.
                bool lost = false;
                for (int reads = 0; reads < 4096; ++reads) {
                    auto r = reader.try_read(sock.get());
                    if (r.st == control::message_reader::status::partial)
                        continue;
                    if (r.st == control::message_reader::status::would_block) {
                        if (!gone)
                            break;
                        continue;
                    }
                    if (r.st == control::message_reader::status::failed || !r.parsed.ok()) {
                        stop_reason = "netback gone: " + std::string(control::to_string(r.parsed.error));
                        lost = r.st == control::message_reader::status::failed &&
                               r.parsed.error != control::control_error::oversize;
                        failed = true;
                        break;
                    }
                    control::step st = session.on_message(std::move(r.parsed.msg));
                    for (const auto& m : st.replies)
                        (void)control::send_message(sock.get(), m, std::chrono::milliseconds(200));
                    if (!st.ok() || st.closed || session.state() == control::xenbus_state::closing) {
                        stop_reason = "netback closed the connection";
                        if (const auto& pe = session.peer_error(); !pe)
                            lost = true;
                        else if (pe->code == static_cast<std::uint16_t>(control::control_error::protocol_violation))
                            stop_reason = "netback disconnected this vif for a data-path protocol violation: " +
                                          std::string(pe->message());
                        else
                            stop_reason += ": " +
                                           std::string(control::to_string(static_cast<control::control_error>(pe->code))) +
                                           ": " + std::string(pe->message());
                        failed = true;
                        break;
                    }
                }
                if (stop_reason.empty() && gone) {
                    stop_reason = "netback hung up";
                    lost = true;
                    failed = true;
                }
                if (lost && o.reconnect_s != 0) {
                    const std::string why = std::exchange(stop_reason, std::string());
                    failed = false;
                    if (reconnect(why))
                        continue;
                    failed = true;
                }
                if (!stop_reason.empty())
                    break;
            }
            if (vif->failed()) {
                stop_reason = "protocol violation by netback: " + vif->failure();
                failed = true;
                break;
            }
            const auto now = steady::now();
            const std::uint64_t rx = records();
            if (rx != last_rx) {
                if (last_rx == 0)
                    first_rx = now;
                last_rx = rx;
                last_rx_change = now;
                last_rx_progress = now;
            }
            if (!tx_end && vif->tx_idle()) {
                tx_end = now;
                if (last_rx_change < now)
                    last_rx_change = now; // the linger starts when sending ends
            }
            if (tx_end) {
                const bool quiet_long = now - last_rx_change >= std::chrono::milliseconds(o.linger_ms);
                if (o.expect != 0 && rx >= o.expect)
                    stop_reason = "received the expected frames";
                else if (quiet_long)
                    stop_reason = o.expect != 0 ? "gave up waiting for the expected frames" : "done";
            }
            if ((fds[2].revents & POLLIN) != 0) {
                (void)take_ticks(status_timer.get());
                if (!o.quiet) {
                    const nf_queue_stats t = sum();
                    const double dt = std::chrono::duration<double>(now - prev_t).count();
                    const rate txr = rate_of(t.tx_packets - prev.tx_packets, t.tx_bytes - prev.tx_bytes, dt);
                    const rate rxr = rate_of(t.rx_packets - prev.rx_packets, t.rx_bytes - prev.rx_bytes, dt);
                    const std::uint64_t ntf =
                        t.tx_notify.sent + t.rx_notify.sent - prev.tx_notify.sent - prev.rx_notify.sent;
                    const std::string line =
                        "netfront " + fixed(std::chrono::duration<double>(now - start).count(), 1) + "s " +
                        format_mac(gen.mac) + " | tx " + fixed(txr.mpps, 3) + " Mpps " + fixed(txr.gbps, 2) +
                        " Gb/s rx " + fixed(rxr.mpps, 3) + " Mpps " + fixed(rxr.gbps, 2) + " Gb/s | sent " +
                        std::to_string(generated()) + " received " + std::to_string(rx) + " bad " +
                        std::to_string(bad()) + " | ntf " +
                        std::to_string(static_cast<std::uint64_t>(dt > 0 ? static_cast<double>(ntf) / dt : 0)) +
                        "/s kicks " +
                        std::to_string(static_cast<std::uint64_t>(
                            dt > 0 ? static_cast<double>(t.kicks - prev.kicks) / dt : 0)) +
                        "/s";
                    std::fputs((line + "\n").c_str(), stdout);
                    std::fflush(stdout);
                    prev = t;
                    prev_t = now;
                }
            }
        }
        log("stopping: " + stop_reason);
        // Orderly close: tell netback (it removes the vif), then stop the queue threads.
        if (!failed) {
            for (const auto& m : session.close())
                (void)control::send_message(sock.get(), m, std::chrono::milliseconds(500));
        }
        if (vif)
            vif->stop();
        const auto end = steady::now();

        sink_stats sk;
        std::vector<flow_stats> flows;
        std::uint64_t sent = 0;
        tap_stats ts;
        for (std::uint32_t q = 0; q < nq() && tap_mode; ++q) {
            const tap_stats s = static_cast<tap_port&>(port_at(q)).stats();
            ts.read_frames += s.read_frames;
            ts.read_bytes += s.read_bytes;
            ts.read_gso += s.read_gso;
            ts.read_dropped += s.read_dropped;
            ts.written_frames += s.written_frames;
            ts.written_bytes += s.written_bytes;
            ts.written_gso += s.written_gso;
            ts.write_errors += s.write_errors;
        }
        for (std::uint32_t q = 0; q < nq() && !tap_mode; ++q) {
            const auto& tp = static_cast<traffic_port&>(port_at(q));
            const sink_stats s = tp.stats();
            sent += tp.generated();
            sk.frames += s.frames;
            sk.records += s.records;
            sk.bytes += s.bytes;
            sk.corrupted += s.corrupted;
            sk.truncated += s.truncated;
            sk.not_mine += s.not_mine;
            sk.other += s.other;
            sk.untracked += s.untracked;
            sk.lost += s.lost;
            sk.duplicated += s.duplicated;
            sk.reordered += s.reordered;
            sk.stale += s.stale;
            sk.lro_frames += s.lro_frames;
            for (const auto& f : tp.flows())
                flows.push_back(f);
        }
        const nf_queue_stats t = sum();
        // Rates over the time frames actually flowed: from the first test frame sent (after the
        // wait for the peer) to the last one answered, and from the first received to the last.
        auto tx_start = end;
        for (std::uint32_t q = 0; q < nq() && !tap_mode; ++q)
            if (auto s = static_cast<traffic_port&>(port_at(q)).started_at(); s > xnv::nanos::zero())
                tx_start = std::min(tx_start, steady::time_point(std::chrono::duration_cast<steady::duration>(s)));
        const double tx_s = std::max(0.0, std::chrono::duration<double>((tx_end ? *tx_end : end) - tx_start).count());
        const double rx_s = std::chrono::duration<double>(last_rx_progress - first_rx).count();
        const rate txr = rate_of(t.tx_packets, t.tx_bytes, tx_s);
        const rate rxr = rate_of(t.rx_packets, t.rx_bytes, rx_s);
        const bool clean = sk.lost == 0 && sk.duplicated == 0 && sk.reordered == 0 && sk.corrupted == 0 &&
                           sk.truncated == 0 && sk.stale == 0 && (o.expect == 0 || sk.records >= o.expect);

        json_writer j;
        j.begin_object()
            .field("program", "xnv-netfront")
            .field("stop_reason", stop_reason)
            .field("failed", failed)
            .field("mac", format_mac(gen.mac))
            .field("peer_mac", format_mac(gen.peer))
            .field("run_s", std::chrono::duration<double>(end - start).count())
            .field("tx_s", tx_s)
            .field("rx_s", rx_s);
        j.key("negotiated")
            .begin_object()
            .field("queues", p.queues)
            .field("mtu", p.mtu)
            .field("feature-sg", p.sg)
            .field("feature-gso-tcpv4", p.gso_tcpv4)
            .field("feature-gso-tcpv6", p.gso_tcpv6)
            .field("feature-split-event-channels", p.split_event_channels)
            .end_object();
        j.key("config")
            .begin_object()
            .field("mode", o.mode)
            .field("proto", o.proto)
            .field("size_min", gen.size_min)
            .field("size_max", gen.size_max)
            .field("size_dist", gen.dist == size_dist::fixed ? "fixed" : gen.dist == size_dist::uniform ? "uniform" : "log")
            .field("rate", gen.rate)
            .field("count", gen.count)
            .field("seconds", o.seconds)
            .field("seed", gen.seed)
            .field("coalesce", to_string(cfg.coalesce.choice))
            .field("lro", cfg.lro && p.gso_tcpv4)
            .end_object();
        if (tap_mode)
            j.key("tap")
                .begin_object()
                .field("name", tap ? tap->name() : o.tap_name)
                .field("netns", o.tap_netns)
                .field("mtu", o.tap_mtu)
                .field("read_frames", ts.read_frames)
                .field("read_bytes", ts.read_bytes)
                .field("read_gso", ts.read_gso)
                .field("read_dropped", ts.read_dropped)
                .field("written_frames", ts.written_frames)
                .field("written_bytes", ts.written_bytes)
                .field("written_gso", ts.written_gso)
                .field("write_errors", ts.write_errors)
                .end_object();
        j.field("sent", sent)
            .field("tx_frames", t.tx_packets)
            .field("tx_bytes", t.tx_bytes)
            .field("tx_errors", t.tx_errors)
            .field("tx_mpps", txr.mpps)
            .field("tx_gbps", txr.gbps)
            .field("received", sk.records)
            .field("rx_frames", t.rx_packets)
            .field("rx_bytes", t.rx_bytes)
            .field("rx_mpps", rxr.mpps)
            .field("rx_gbps", rxr.gbps)
            .field("lost", sk.lost)
            .field("duplicated", sk.duplicated)
            .field("reordered", sk.reordered)
            .field("stale", sk.stale)
            .field("corrupted", sk.corrupted)
            .field("truncated", sk.truncated)
            .field("not_mine", sk.not_mine)
            .field("other", sk.other)
            .field("untracked", sk.untracked)
            .field("rx_drops", t.rx_drops)
            .field("lro_frames", sk.lro_frames)
            .field("lro_merged", carried_lro + (vif ? vif->lro_merged() : 0))
            .field("grant_end_retries", t.end_retries)
            .field("netback_losses", netback_losses)
            .field("reconnects", reconnects)
            .field("grants_held_at_teardown", grants_held_at_teardown)
            .field("clean", clean);
        const std::uint64_t ntf = t.tx_notify.sent + t.rx_notify.sent;
        j.key("notifications")
            .begin_object()
            .field("tx_sent", t.tx_notify.sent)
            .field("tx_suppressed", t.tx_notify.suppressed)
            .field("rx_sent", t.rx_notify.sent)
            .field("rx_suppressed", t.rx_notify.suppressed)
            .field("kicks_received", t.kicks)
            .field("sent_per_packet", t.tx_packets + t.rx_packets == 0
                                          ? 0.0
                                          : static_cast<double>(ntf) / static_cast<double>(t.tx_packets + t.rx_packets))
            .end_object();
        j.key("flows").begin_array();
        for (const auto& f : flows)
            j.begin_object()
                .field("src", format_mac(f.src))
                .field("flow", f.flow)
                .field("received", f.received)
                .field("next_expected", f.next_expected)
                .field("lost", f.lost)
                .field("duplicated", f.duplicated)
                .field("reordered", f.reordered)
                .end_object();
        j.end_array().end_object();
        std::fputs((j.str() + "\n").c_str(), stdout);
        std::fflush(stdout);
        if (!o.json.empty())
            write_file(o.json, j.str());
        vif.reset();
        if (failed)
            return 1;
        if (o.verify && !clean)
            return 4;
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "xnv-netfront: error: %s\n", e.what());
        return 1;
    }
}
