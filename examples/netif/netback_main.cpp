// SPDX-License-Identifier: MIT
// xnv-netback: the reference netback. Listens on a Unix socket for netfronts, negotiates with
// each over the control channel, then switches frames between their vifs with N tasklet pairs
// on N workers. Prints a status line per second and a JSON summary at exit.
// docs/netback.md describes the options, the output and the architecture.

#include "cli.hpp"
#include "control_session.hpp"
#include "control_socket.hpp"
#include "json.hpp"
#include "netback_engine.hpp"
#include "ref_format.hpp"
#include "ref_program.hpp"
#include "ref_uplink.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/epoll.h>

using namespace xnv::example;
namespace control = xnv::example::control;

namespace {

using steady = std::chrono::steady_clock;

struct options {
    std::string socket = "@xnv-netback";
    std::uint64_t workers = 2;
    std::string cpus;
    std::string dispatch = "hysteresis";
    std::string coalesce = "event_idx";
    std::uint64_t coalesce_frames = 32;
    std::uint64_t coalesce_usecs = 50;
    std::uint64_t max_queues = 4;
    std::uint64_t mtu = control::max_mtu;
    bool no_sg = false;
    bool no_gso = false;
    bool no_split = false;
    std::uint64_t rx_queue_bytes = 512 * 1024;
    std::uint64_t rx_expire_ms = 1000;
    std::uint64_t max_vifs = 64;
    std::uint64_t budget = 64;
    std::uint64_t event_busy_poll_us = 0;
    std::uint64_t worker_spin_us = 20;
    std::uint64_t kick_backoff_cap_us = 10000;
    std::uint64_t mac_ageing_s = 300;
    std::uint64_t seconds = 0;
    std::uint64_t handshake_ms = 5000;
    bool exit_when_idle = false;
    std::string json;
    bool quiet = false;
    bool any_user = false;
    std::string uplink_tap;
    std::string uplink_netns;
    std::optional<std::uint32_t> uplink_mtu;
    std::string uplink_mac;
};

cli make_cli(options& o)
{
    cli c("xnv-netback",
          "The reference netback: serves netfronts that connect to its control socket, switching frames\n"
          "between their vifs with tasklet pairs on worker threads.");
    c.text("--socket", o.socket, {}, "control socket: @name (abstract namespace) or a path")
        .integer("--workers", o.workers, 1, 64, "worker threads, each running TX and RX tasklets")
        .text("--cpus", o.cpus, {}, "pin the workers to these CPUs, one per worker (e.g. 0,1)")
        .text("--dispatch", o.dispatch, dispatch_names(), "how vif queues are mapped to workers")
        .text("--coalesce", o.coalesce, coalesce_names(), "when netback notifies a frontend")
        .integer("--coalesce-frames", o.coalesce_frames, 1, 4096, "frames_usecs: notify after this many frames")
        .integer("--coalesce-usecs", o.coalesce_usecs, 1, 100000, "frames_usecs: notify after this many microseconds")
        .integer("--max-queues", o.max_queues, 1, control::max_queues, "queues per vif offered (multi-queue-max-queues)")
        .integer("--mtu", o.mtu, control::min_mtu, control::max_mtu, "largest MTU offered")
        .flag("--no-sg", o.no_sg, "do not offer feature-sg (frames must fit one page)")
        .flag("--no-gso", o.no_gso, "do not offer feature-gso-tcpv4/-tcpv6")
        .flag("--no-split-event-channels", o.no_split, "do not offer feature-split-event-channels")
        .integer("--rx-queue-bytes", o.rx_queue_bytes, 262144, std::uint64_t{1} << 30,
                 "bytes of frames waiting per vif queue for the guest's RX buffers")
        .integer("--rx-expire-ms", o.rx_expire_ms, 1, 3600000, "drop frames that waited this long for RX buffers")
        .integer("--max-vifs", o.max_vifs, 1, 1024, "most vifs connected at once")
        .integer("--budget", o.budget, 1, 4096, "frames a tasklet handles per run (NAPI weight)")
        .integer("--event-busy-poll-us", o.event_busy_poll_us, 0, 10000,
                 "the event thread polls this long after the last kick before sleeping (0: sleep at once)")
        .integer("--worker-spin-us", o.worker_spin_us, 0, 10000, "an idle worker polls this long before it sleeps")
        .integer("--kick-backoff-cap-us", o.kick_backoff_cap_us, 50, 1000000,
                 "longest delay a frontend kicking with nothing published is backed off")
        .integer("--mac-ageing-s", o.mac_ageing_s, 1, 86400, "forget a MAC not seen for this long")
        .integer("--seconds", o.seconds, 0, 31536000, "stop after this long (0: run until SIGINT/SIGTERM)")
        .integer("--handshake-ms", o.handshake_ms, 1, 600000, "drop a netfront that has not connected by then")
        .flag("--exit-when-idle", o.exit_when_idle, "stop once every vif that connected has left")
        .text("--json", o.json, {}, "also write the JSON summary to this file")
        .flag("--quiet", o.quiet, "no status line")
        .flag("--any-user", o.any_user, "serve netfronts of other users too")
        .text("--uplink-tap", o.uplink_tap, {}, "attach a TAP interface of this name to the switch as its uplink port")
        .text("--uplink-netns", o.uplink_netns, {}, "create the uplink TAP in this named network namespace")
        .custom("--uplink-mtu", "N", "the uplink TAP's MTU (68..65521, default 1500)",
                [&o](const std::string& flag, std::string_view v) {
                    std::uint32_t x = 0;
                    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
                    if (ec != std::errc{} || p != v.data() + v.size() || x < 68 || x > control::max_mtu)
                        throw cli_error(flag + " expects an integer in 68.." + std::to_string(control::max_mtu) +
                                        ", got '" + std::string(v) + "'");
                    o.uplink_mtu = x;
                })
        .text("--uplink-mac", o.uplink_mac, {}, "the uplink TAP's MAC (default: the kernel's random one)");
    return c;
}

struct connection {
    xnv::mem::unique_fd sock;
    control::message_reader reader;
    control::back_session session;
    std::optional<std::uint32_t> vif;
    std::uint64_t serial = 0;
    steady::time_point since = steady::now();

    connection(xnv::mem::unique_fd s, const control::back_offer& offer, std::uint64_t n)
        : sock(std::move(s)), session(offer), serial(n)
    {
    }
};

void log(const std::string& s)
{
    std::fprintf(stderr, "xnv-netback: %s\n", s.c_str());
    std::fflush(stderr);
}

std::string drops_text(const nb_queue_stats& t)
{
    std::string s;
    for (std::size_t i = 0; i < nb_drop_count; ++i) {
        if (t.drops[i] == 0)
            continue;
        if (!s.empty())
            s.push_back(',');
        s.append(to_string(static_cast<nb_drop>(i)));
        s.push_back('=');
        s.append(std::to_string(t.drops[i]));
    }
    return s.empty() ? std::string("0") : s;
}

void json_queue(json_writer& j, const nb_queue_stats& q, double seconds)
{
    const rate tx = rate_of(q.tx_packets, q.tx_bytes, seconds);
    const rate rx = rate_of(q.rx_packets, q.rx_bytes, seconds);
    const std::uint64_t sent = q.tx_notify.sent + q.rx_notify.sent;
    j.field("worker", q.worker)
        .field("tx_packets", q.tx_packets)
        .field("tx_bytes", q.tx_bytes)
        .field("rx_packets", q.rx_packets)
        .field("rx_bytes", q.rx_bytes)
        .field("tx_mpps", tx.mpps)
        .field("tx_gbps", tx.gbps)
        .field("rx_mpps", rx.mpps)
        .field("rx_gbps", rx.gbps)
        .field("kicks", q.kicks)
        .field("spurious_kicks", q.spurious_kicks)
        .field("backoff_engaged", q.backoff_engaged)
        .field("notifications_sent", sent)
        .field("notifications_suppressed", q.tx_notify.suppressed + q.rx_notify.suppressed)
        .field("notifications_per_packet",
               q.tx_packets + q.rx_packets == 0 ? 0.0
                                                : static_cast<double>(sent) / static_cast<double>(q.tx_packets + q.rx_packets))
        .field("tx_blocked", q.tx_blocked)
        .field("mcast_requests", q.mcast_requests)
        .field("tx_gso", q.tx_gso)
        .field("rx_gso", q.rx_gso)
        .field("tx_multislot", q.tx_multislot)
        .field("backlog_bytes", q.backlog_bytes);
    j.key("drops").begin_object();
    for (std::size_t i = 0; i < nb_drop_count; ++i)
        j.field(to_string(static_cast<nb_drop>(i)), q.drops[i]);
    j.end_object();
}

void json_vif(json_writer& j, const nb_vif_stats& v)
{
    j.begin_object()
        .field("id", v.id)
        .field("name", v.name)
        .field("mac", format_mac(v.mac))
        .field("live", v.live)
        .field("connected_s", v.connected_s)
        .field("close_reason", v.close_reason)
        .field("queues", v.params.queues)
        .field("mtu", v.params.mtu);
    j.key("features")
        .begin_object()
        .field("feature-sg", v.params.sg)
        .field("feature-gso-tcpv4", v.params.gso_tcpv4)
        .field("feature-gso-tcpv6", v.params.gso_tcpv6)
        .field("feature-split-event-channels", v.params.split_event_channels)
        .end_object();
    j.key("total").begin_object();
    json_queue(j, v.total(), v.connected_s);
    j.end_object();
    j.key("per_queue").begin_array();
    for (const auto& q : v.queues) {
        j.begin_object();
        json_queue(j, q, v.connected_s);
        j.end_object();
    }
    j.end_array().end_object();
}

void json_uplink(json_writer& j, const uplink_stats& u, double seconds)
{
    const rate in = rate_of(u.read_frames, u.read_bytes, seconds);
    const rate out = rate_of(u.written_frames, u.written_bytes, seconds);
    j.key("uplink")
        .begin_object()
        .field("name", u.name)
        .field("netns", u.netns)
        .field("read_frames", u.read_frames)
        .field("read_bytes", u.read_bytes)
        .field("read_gso", u.read_gso)
        .field("read_dropped", u.read_dropped)
        .field("to_vifs", u.to_vifs)
        .field("vif_full", u.vif_full)
        .field("no_destination", u.no_destination)
        .field("hairpin", u.hairpin)
        .field("written_frames", u.written_frames)
        .field("written_bytes", u.written_bytes)
        .field("written_gso", u.written_gso)
        .field("write_errors", u.write_errors)
        .field("in_gbps", in.gbps)
        .field("out_gbps", out.gbps)
        .end_object();
}

} // namespace

int main(int argc, char** argv)
{
    options o;
    cli c = make_cli(o);
    netback_config cfg;
    control::back_offer offer;
    try {
        if (!c.parse(argc, argv)) {
            std::fputs(c.help().c_str(), stdout);
            return 0;
        }
        cfg.workers = static_cast<std::uint32_t>(o.workers);
        if (!o.cpus.empty()) {
            cfg.cpus = parse_cpu_list(o.cpus);
            if (cfg.cpus.size() != cfg.workers)
                throw cli_error("--cpus lists " + std::to_string(cfg.cpus.size()) + " CPUs for " +
                                std::to_string(cfg.workers) + " workers; give one per worker");
        }
        cfg.dispatch = parse_dispatch(o.dispatch);
        cfg.coalesce.choice = parse_coalesce(o.coalesce);
        cfg.coalesce.frames = static_cast<std::uint32_t>(o.coalesce_frames);
        cfg.coalesce.usecs = std::chrono::microseconds(o.coalesce_usecs);
        cfg.rx_queue_bytes = static_cast<std::size_t>(o.rx_queue_bytes);
        cfg.rx_expire = std::chrono::milliseconds(o.rx_expire_ms);
        cfg.max_vifs = static_cast<std::uint32_t>(o.max_vifs);
        cfg.tasklet_budget = static_cast<std::uint32_t>(o.budget);
        cfg.event_busy_poll = std::chrono::microseconds(o.event_busy_poll_us);
        cfg.worker_idle_spin = std::chrono::microseconds(o.worker_spin_us);
        cfg.kick_backoff.cap = std::chrono::microseconds(o.kick_backoff_cap_us);
        cfg.mac_ageing = std::chrono::seconds(o.mac_ageing_s);
        offer.sg = !o.no_sg;
        offer.gso_tcpv4 = offer.gso_tcpv6 = !o.no_gso;
        offer.split_event_channels = !o.no_split;
        offer.max_queues = static_cast<std::uint32_t>(o.max_queues);
        offer.mtu = static_cast<std::uint32_t>(o.mtu);
        if (!offer.sg && offer.mtu > control::max_mtu_without_sg)
            offer.mtu = control::max_mtu_without_sg;
        if (o.uplink_tap.empty() && (!o.uplink_netns.empty() || o.uplink_mtu || !o.uplink_mac.empty()))
            throw cli_error("--uplink-netns, --uplink-mtu and --uplink-mac apply only with --uplink-tap");
        if (!o.uplink_mac.empty())
            (void)parse_mac(o.uplink_mac);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "xnv-netback: error: %s\n", e.what());
        return 2;
    }

    try {
        // Before any thread starts: the workers and the event thread inherit the blocked mask,
        // so SIGINT/SIGTERM reach only this loop.
        auto sigfd = termination_signals();
        control::socket_address where = control::socket_address::parse(o.socket);
        // The uplink TAP first: a refusal (privileges, /dev/net/tun, the namespace) stops
        // netback before it listens. Its descriptor closes on every way out (the engine owns it
        // once attached), and with it the interface goes.
        std::unique_ptr<uplink_tap> uplink;
        if (!o.uplink_tap.empty()) {
            uplink_config uc;
            uc.name = o.uplink_tap;
            uc.netns = o.uplink_netns;
            if (!o.uplink_mac.empty())
                uc.mac = parse_mac(o.uplink_mac);
            uc.mtu = o.uplink_mtu.value_or(1500);
            // What the kernel may hand over is what a vif may be sent: TSO needs SG and GSO.
            uc.offloads = tap_offloads{true, offer.sg && offer.gso_tcpv4, offer.sg && offer.gso_tcpv6};
            uplink = std::make_unique<uplink_tap>(uc);
        }
        // The configuration was range-checked above; what is left to refuse here (a CPU this
        // process may not run on) is still the user's argument: exit status 2.
        std::unique_ptr<netback_engine> engine_owner;
        try {
            engine_owner = std::make_unique<netback_engine>(cfg);
        } catch (const std::invalid_argument& e) {
            std::fprintf(stderr, "xnv-netback: error: %s\n", e.what());
            return 2;
        }
        netback_engine& engine = *engine_owner;
        if (uplink) {
            const std::string what = "uplink TAP " + uplink->name() +
                                     (o.uplink_netns.empty() ? "" : " in network namespace " + o.uplink_netns);
            engine.attach_uplink(std::move(uplink));
            log(what + " attached as switch port " + std::to_string(cfg.max_vifs));
        }
        control::listener lst = control::listener::open(
            where, o.any_user ? control::peer_policy::any_user : control::peer_policy::same_user);
        auto tick = periodic_timer(netback_engine::tick_interval());

        xnv::mem::unique_fd ep{::epoll_create1(EPOLL_CLOEXEC)};
        if (!ep)
            throw std::system_error(errno, std::generic_category(), "epoll_create1");
        constexpr std::uint64_t tag_listener = ~std::uint64_t{0};
        constexpr std::uint64_t tag_signal = tag_listener - 1;
        constexpr std::uint64_t tag_tick = tag_listener - 2;
        constexpr std::uint64_t tag_failure = tag_listener - 3;
        auto watch = [&](int fd, std::uint64_t tag, std::uint32_t events) {
            epoll_event ev{};
            ev.events = events;
            ev.data.u64 = tag;
            if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
                throw std::system_error(errno, std::generic_category(), "epoll_ctl");
        };
        watch(lst.fd(), tag_listener, EPOLLIN);
        watch(sigfd.get(), tag_signal, EPOLLIN);
        watch(tick.get(), tag_tick, EPOLLIN);
        watch(engine.failure_fd(), tag_failure, EPOLLIN);

        log("listening on " + where.display() + " with " + std::to_string(cfg.workers) + " workers, dispatch " +
            std::string(to_string(cfg.dispatch)) + ", notifications " + std::string(to_string(cfg.coalesce.choice)));

        std::map<std::uint64_t, std::unique_ptr<connection>> conns; // by serial
        std::vector<nb_vif_stats> closed;
        constexpr std::size_t closed_kept = 1024; // the summary lists the most recent ones
        nb_vif_stats removed_totals;              // scratch: nb_vif_stats::total() adds up its entries
        nb_queue_stats total;                     // the sum over every vif removed so far
        std::uint64_t closed_dropped = 0;
        std::uint64_t serial = 0;
        std::uint64_t ever_connected = 0;
        const auto start = steady::now();
        std::optional<steady::time_point> first_vif;
        std::optional<steady::time_point> last_vif_left;

        auto finish_conn = [&](connection& cn, const std::string& why) {
            if (cn.vif) {
                nb_vif_stats s = engine.remove_vif(*cn.vif, why);
                log(s.name + " (" + format_mac(s.mac) + ") disconnected: " + why);
                removed_totals.queues = {total, s.total()};
                total = removed_totals.total();
                if (closed.size() == closed_kept) {
                    closed.erase(closed.begin());
                    ++closed_dropped;
                }
                closed.push_back(std::move(s));
                cn.vif.reset();
                if (engine.vif_ids().empty())
                    last_vif_left = steady::now();
            } else {
                log("netfront #" + std::to_string(cn.serial) + " dropped before connecting: " + why);
            }
            (void)::epoll_ctl(ep.get(), EPOLL_CTL_DEL, cn.sock.get(), nullptr);
            conns.erase(cn.serial);
        };

        auto on_readable = [&](connection& cn, std::uint32_t events) {
            // One try_read is one recvmsg and may return a partial frame: read on while it
            // does (the rest may be queued already) and stop when the socket would block, for
            // epoll to report more. Once the peer has hung up, read on until the end of the
            // stream, so a last message (an orderly "closing") is not mistaken for a hang-up.
            // The bound keeps one connection from holding the loop.
            const bool gone = control::peer_gone(events);
            for (int reads = 0; reads < 4096; ++reads) {
                auto r = cn.reader.try_read(cn.sock.get());
                if (r.st == control::message_reader::status::partial)
                    continue;
                if (r.st == control::message_reader::status::would_block) {
                    if (!gone)
                        break;
                    continue;
                }
                if (r.st == control::message_reader::status::failed) {
                    finish_conn(cn, std::string(control::to_string(r.parsed.error)));
                    return;
                }
                if (!r.parsed.ok()) {
                    control::send_error(cn.sock.get(), r.parsed.error, "netback rejected the message");
                    finish_conn(cn, "bad control message: " + std::string(control::to_string(r.parsed.error)));
                    return;
                }
                control::step st = cn.session.on_message(std::move(r.parsed.msg));
                for (const auto& m : st.replies)
                    (void)control::send_message(cn.sock.get(), m);
                if (!st.ok()) {
                    if (st.error != control::control_error::peer_error)
                        control::send_error(cn.sock.get(), st.error, st.detail);
                    std::string why = std::string(control::to_string(st.error));
                    if (!st.detail.empty())
                        why += " (" + st.detail + ")";
                    if (cn.session.peer_error())
                        why = "netfront reported an error: " + std::string(cn.session.peer_error()->message());
                    finish_conn(cn, why);
                    return;
                }
                if (st.connected) {
                    try {
                        const std::uint32_t id = engine.add_vif(std::move(cn.session.connection()),
                                                                "vif" + std::to_string(cn.serial));
                        cn.vif = id;
                        ++ever_connected;
                        if (!first_vif)
                            first_vif = steady::now();
                        const auto& p = cn.session.connection().params;
                        log("vif" + std::to_string(cn.serial) + " connected on port " + std::to_string(id) + ": mac " +
                            format_mac(p.mac) + ", " + std::to_string(p.queues) + " queue(s), mtu " +
                            std::to_string(p.mtu) + (p.sg ? ", sg" : "") + (p.gso_tcpv4 ? ", gso-tcpv4" : "") +
                            (p.split_event_channels ? ", split event channels" : ""));
                    } catch (const std::exception& e) {
                        control::send_error(cn.sock.get(), control::control_error::io_error, e.what());
                        finish_conn(cn, std::string("cannot attach the vif: ") + e.what());
                        return;
                    }
                }
                if (st.closed) {
                    finish_conn(cn, "netfront closed the connection");
                    return;
                }
            }
            if (gone)
                finish_conn(cn, "netfront hung up");
        };

        // Status line state: the previous snapshot's per-vif totals and worker counters.
        struct prev_vif {
            double at = 0;
            nb_queue_stats t;
        };
        std::map<std::uint32_t, prev_vif> prev;
        std::vector<xnv::worker_stats> prev_workers(cfg.workers);
        uplink_stats prev_uplink;
        auto prev_time = steady::now();
        auto next_status = steady::now() + std::chrono::seconds(1);

        auto print_status = [&] {
            const auto now = steady::now();
            const double dt = std::chrono::duration<double>(now - prev_time).count();
            prev_time = now;
            const nb_snapshot snap = engine.snapshot();
            std::string line = "netback " + fixed(snap.uptime_s, 1) + "s";
            std::map<std::uint32_t, prev_vif> next;
            for (const auto& v : snap.vifs) {
                const nb_queue_stats t = v.total();
                nb_queue_stats p{};
                double pdt = dt;
                if (auto it = prev.find(v.id); it != prev.end() && it->second.at <= v.connected_s)
                    p = it->second.t;
                else
                    pdt = std::min(dt, v.connected_s);
                const rate tx = rate_of(t.tx_packets - p.tx_packets, t.tx_bytes - p.tx_bytes, pdt);
                const rate rx = rate_of(t.rx_packets - p.rx_packets, t.rx_bytes - p.rx_bytes, pdt);
                const std::uint64_t ntf = t.tx_notify.sent + t.rx_notify.sent - p.tx_notify.sent - p.rx_notify.sent;
                line += " | " + v.name + " tx " + fixed(tx.mpps, 3) + " Mpps " + fixed(tx.gbps, 2) + " Gb/s rx " +
                        fixed(rx.mpps, 3) + " Mpps " + fixed(rx.gbps, 2) + " Gb/s ntf " +
                        std::to_string(static_cast<std::uint64_t>(pdt > 0 ? static_cast<double>(ntf) / pdt : 0)) +
                        "/s drops " + drops_text(t);
                next[v.id] = prev_vif{v.connected_s, t};
            }
            prev = std::move(next);
            if (snap.uplink) {
                const uplink_stats& u = *snap.uplink;
                const rate in = rate_of(u.read_frames - prev_uplink.read_frames, u.read_bytes - prev_uplink.read_bytes, dt);
                const rate out = rate_of(u.written_frames - prev_uplink.written_frames,
                                         u.written_bytes - prev_uplink.written_bytes, dt);
                line += " | uplink " + u.name + " in " + fixed(in.mpps, 3) + " Mpps " + fixed(in.gbps, 2) + " Gb/s out " +
                        fixed(out.mpps, 3) + " Mpps " + fixed(out.gbps, 2) + " Gb/s drops vif_full=" +
                        std::to_string(u.vif_full) + ",no_destination=" + std::to_string(u.no_destination) +
                        ",unsupported=" + std::to_string(u.read_dropped) + ",write_errors=" + std::to_string(u.write_errors);
                prev_uplink = u;
            }
            line += " | busy";
            for (std::size_t w = 0; w < snap.workers.size(); ++w) {
                const double busy = static_cast<double>(snap.workers[w].busy_ns - prev_workers[w].busy_ns) / 1e9;
                line += " w" + std::to_string(w) + " " + fixed(dt > 0 ? 100.0 * busy / dt : 0.0, 0) + "%";
                prev_workers[w] = snap.workers[w];
            }
            line += " (" + std::to_string(snap.active_workers) + " active)";
            std::fputs((line + "\n").c_str(), stdout);
            std::fflush(stdout);
        };

        std::array<epoll_event, 64> evs{};
        std::string stop_reason;
        while (stop_reason.empty()) {
            const int n = ::epoll_wait(ep.get(), evs.data(), static_cast<int>(evs.size()), 1000);
            if (n < 0 && errno != EINTR)
                throw std::system_error(errno, std::generic_category(), "epoll_wait");
            for (int i = 0; i < n && stop_reason.empty(); ++i) {
                const epoll_event ev = evs[static_cast<std::size_t>(i)];
                if (ev.data.u64 == tag_signal) {
                    const int sig = take_signal(sigfd.get());
                    stop_reason = std::string("signal ") + (sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP");
                } else if (ev.data.u64 == tag_tick) {
                    (void)take_ticks(tick.get());
                    engine.tick();
                } else if (ev.data.u64 == tag_failure) {
                    for (auto& f : engine.take_failures()) {
                        for (auto& [s, cn] : conns)
                            if (cn->vif == f.id) {
                                // The reason first (docs/control-channel.md: protocol_violation),
                                // so the netfront can say why its vif went; then the close.
                                control::send_error(cn->sock.get(), control::control_error::protocol_violation,
                                                    f.reason);
                                for (const auto& m : cn->session.close())
                                    (void)control::send_message(cn->sock.get(), m, std::chrono::milliseconds(100));
                                finish_conn(*cn, "protocol violation: " + f.reason);
                                break;
                            }
                    }
                } else if (ev.data.u64 == tag_listener) {
                    for (;;) {
                        auto a = lst.try_accept();
                        if (!a.fd) {
                            if (a.error != control::control_error::none)
                                log("refused a connection: " + std::string(control::to_string(a.error)));
                            break;
                        }
                        const std::uint64_t id = ++serial;
                        auto cn = std::make_unique<connection>(std::move(a.fd), offer, id);
                        watch(cn->sock.get(), id, EPOLLIN | EPOLLRDHUP);
                        conns.emplace(id, std::move(cn));
                    }
                } else if (auto it = conns.find(ev.data.u64); it != conns.end()) {
                    on_readable(*it->second, ev.events);
                }
            }
            const auto now = steady::now();
            for (auto it = conns.begin(); it != conns.end();) {
                connection& cn = *(it++)->second;
                if (!cn.vif && now - cn.since > std::chrono::milliseconds(o.handshake_ms)) {
                    control::send_error(cn.sock.get(), control::control_error::timeout, "handshake took too long");
                    finish_conn(cn, "handshake timed out");
                }
            }
            if (!o.quiet && now >= next_status) {
                print_status();
                next_status += std::chrono::seconds(1);
                if (next_status < now)
                    next_status = now + std::chrono::seconds(1);
            }
            if (o.seconds != 0 && now - start >= std::chrono::seconds(o.seconds))
                stop_reason = "--seconds elapsed";
            if (o.exit_when_idle && ever_connected != 0 && engine.vif_ids().empty())
                stop_reason = "every vif has left";
        }
        log("stopping: " + stop_reason);

        // Orderly close of every connection still open: closing, then the vif goes.
        while (!conns.empty()) {
            connection& cn = *conns.begin()->second;
            for (const auto& m : cn.session.close())
                (void)control::send_message(cn.sock.get(), m, std::chrono::milliseconds(200));
            finish_conn(cn, "netback stopping");
        }
        const nb_snapshot snap = engine.snapshot();
        const double uptime = std::chrono::duration<double>(steady::now() - start).count();
        const double active = first_vif ? std::chrono::duration<double>((last_vif_left ? *last_vif_left : steady::now()) -
                                                                        *first_vif)
                                              .count()
                                        : 0.0;

        json_writer j;
        j.begin_object().field("program", "xnv-netback").field("stop_reason", stop_reason).field("uptime_s", uptime)
            .field("traffic_s", active);
        j.key("config")
            .begin_object()
            .field("workers", cfg.workers)
            .field("dispatch", to_string(cfg.dispatch))
            .field("coalesce", to_string(cfg.coalesce.choice))
            .field("rx_queue_bytes", static_cast<std::uint64_t>(cfg.rx_queue_bytes))
            .field("rx_expire_ms", static_cast<std::uint64_t>(cfg.rx_expire.count()))
            .field("max_vifs", cfg.max_vifs)
            .field("budget", cfg.tasklet_budget)
            .field("max_queues", offer.max_queues)
            .field("mtu", offer.mtu)
            .end_object();
        j.key("totals").begin_object();
        json_queue(j, total, active);
        j.field("vifs_connected", ever_connected).end_object();
        j.key("workers").begin_array();
        for (const auto& w : snap.workers) {
            const double span = static_cast<double>(w.busy_ns + w.idle_ns);
            j.begin_object()
                .field("busy_pct", uptime > 0 ? 100.0 * static_cast<double>(w.busy_ns) / (uptime * 1e9) : 0.0)
                .field("busy_of_accounted_pct", span > 0 ? 100.0 * static_cast<double>(w.busy_ns) / span : 0.0)
                .field("runs", w.runs)
                .field("items", w.items)
                .field("rounds", w.rounds)
                .field("sleeps", w.sleeps)
                .field("forwarded", w.forwarded)
                .end_object();
        }
        j.end_array();
        j.key("dispatcher")
            .begin_object()
            .field("policy", to_string(cfg.dispatch))
            .field("active_workers", snap.active_workers)
            .field("moves", snap.dispatcher_moves)
            .end_object();
        j.key("switch")
            .begin_object()
            .field("learned", snap.sw.learned)
            .field("moved", snap.sw.moved)
            .field("aged_out", snap.sw.aged_out)
            .field("table_full", snap.sw.table_full)
            .field("flooded", snap.sw.flooded)
            .field("unicast", snap.sw.unicast)
            .field("hairpin", snap.sw.hairpin)
            .end_object();
        if (snap.uplink)
            json_uplink(j, *snap.uplink, active);
        j.field("vifs_not_listed", closed_dropped);
        j.key("vifs").begin_array();
        for (const auto& v : closed)
            json_vif(j, v);
        j.end_array().end_object();
        std::fputs((j.str() + "\n").c_str(), stdout);
        std::fflush(stdout);
        if (!o.json.empty())
            write_file(o.json, j.str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "xnv-netback: error: %s\n", e.what());
        return 1;
    }
}
