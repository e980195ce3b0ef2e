// SPDX-License-Identifier: MIT
#include "control_session.hpp"

#include <xnv/notify/eventfd_channel.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

#include <fcntl.h>

namespace xnv::example::control {

namespace {

using clock = std::chrono::steady_clock;

step fail(control_error e, std::string detail = {})
{
    step s;
    s.error = e;
    s.detail = std::move(detail);
    return s;
}

std::string mac_text(const mac_address& m)
{
    static constexpr char hex[] = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < m.size(); ++i) {
        if (i != 0)
            s += ':';
        s += hex[m[i] >> 4];
        s += hex[m[i] & 0xF];
    }
    return s;
}

bool versions_overlap(const hello_msg& h) noexcept
{
    return h.min_version <= protocol_version && h.max_version >= protocol_version;
}

state_msg state_change(xenbus_state s)
{
    return state_msg{s};
}

struct range {
    std::uint64_t begin;
    std::uint64_t end;
    const char* what;
};

bool overlaps(const range& a, const range& b) noexcept
{
    return a.begin < b.end && b.begin < a.end;
}

void check_mtu(std::uint32_t mtu, const char* who)
{
    if (mtu < min_mtu || mtu > max_mtu)
        throw std::invalid_argument(std::string(who) + ": MTU " + std::to_string(mtu) + " outside " +
                                    std::to_string(min_mtu) + ".." + std::to_string(max_mtu));
}

void check_queues(std::uint32_t q, const char* who)
{
    if (q == 0 || q > max_queues)
        throw std::invalid_argument(std::string(who) + ": queue count " + std::to_string(q) + " outside 1.." +
                                    std::to_string(max_queues));
}

} // namespace

// ------------------------------------------------------------------ negotiation rules

feature_set back_offer::features() const
{
    feature_set f;
    f.sg = sg;
    f.gso_tcpv4 = gso_tcpv4;
    f.gso_tcpv6 = gso_tcpv6;
    f.rx_copy = true;
    f.split_event_channels = split_event_channels;
    f.max_queues = max_queues;
    f.mtu = mtu;
    return f;
}

negotiation negotiate(const front_request& want, const feature_set& backend) noexcept
{
    negotiation n;
    if (backend.num_queues || backend.mac) {
        n.error = control_error::misplaced_feature;
        return n;
    }
    if (!backend.rx_copy.value_or(false)) {
        n.error = control_error::rx_copy_required;
        return n;
    }
    negotiated& p = n.params;
    p.sg = want.sg && backend.sg.value_or(false);
    p.gso_tcpv4 = want.gso_tcpv4 && backend.gso_tcpv4.value_or(false);
    p.gso_tcpv6 = want.gso_tcpv6 && backend.gso_tcpv6.value_or(false);
    p.split_event_channels = want.split_event_channels && backend.split_event_channels.value_or(false);
    p.queues = std::min(want.queues, backend.max_queues.value_or(1));
    p.mac = want.mac;
    p.mtu = std::min(want.mtu, backend.mtu.value_or(max_mtu_without_sg));
    if (!p.sg)
        p.mtu = std::min(p.mtu, max_mtu_without_sg);
    return n;
}

// ------------------------------------------------------------------ netback

back_session::back_session(back_offer offer) : offer_(offer)
{
    check_queues(offer.max_queues, "netback offer");
    check_mtu(offer.mtu, "netback offer");
}

step back_session::on_message(message m)
{
    if (auto* e = std::get_if<error_msg>(&m)) {
        peer_error_ = *e;
        phase_ = phase::closed;
        state_ = xenbus_state::closed;
        return fail(control_error::peer_error, std::string(e->message()));
    }
    switch (phase_) {
    case phase::hello:
        if (auto* h = std::get_if<hello_msg>(&m))
            return on_hello(*h);
        break;
    case phase::features:
        if (auto* f = std::get_if<features_msg>(&m))
            return on_features(f->features);
        break;
    case phase::memory:
        if (auto* mm = std::get_if<memory_msg>(&m))
            return on_memory(*mm);
        break;
    case phase::queues:
        if (auto* q = std::get_if<queue_msg>(&m))
            return on_queue(*q);
        break;
    case phase::connected:
    case phase::closing:
    case phase::closed:
        break;
    }
    if (auto* s = std::get_if<state_msg>(&m))
        return on_state(s->state);
    return fail(control_error::unexpected_message,
                std::string(to_string(type_of(m))) + " message while netback is " + std::string(to_string(state_)));
}

step back_session::on_hello(const hello_msg& h)
{
    if (!versions_overlap(h))
        return fail(control_error::version_mismatch, "netfront speaks versions " + std::to_string(h.min_version) +
                                                         ".." + std::to_string(h.max_version) + ", netback " +
                                                         std::to_string(protocol_version));
    step s;
    s.replies.emplace_back(hello_msg{});
    s.replies.emplace_back(features_msg{offer_.features()});
    s.replies.emplace_back(state_change(xenbus_state::init_wait));
    state_ = xenbus_state::init_wait;
    phase_ = phase::features;
    return s;
}

step back_session::on_features(const feature_set& f)
{
    if (f.max_queues)
        return fail(control_error::misplaced_feature, "multi-queue-max-queues is netback's key");
    if (!f.rx_copy.value_or(false))
        return fail(control_error::rx_copy_required, "feature-rx-copy absent or 0");
    if (!f.num_queues)
        return fail(control_error::missing_feature, "multi-queue-num-queues");
    if (!f.mac)
        return fail(control_error::missing_feature, "mac");
    const struct {
        const std::optional<bool>& want;
        bool offered;
        const char* key;
    } bools[] = {
        {f.sg, offer_.sg, "feature-sg"},
        {f.gso_tcpv4, offer_.gso_tcpv4, "feature-gso-tcpv4"},
        {f.gso_tcpv6, offer_.gso_tcpv6, "feature-gso-tcpv6"},
        {f.split_event_channels, offer_.split_event_channels, "feature-split-event-channels"},
    };
    for (const auto& b : bools)
        if (b.want.value_or(false) && !b.offered)
            return fail(control_error::feature_not_offered, b.key);
    if (*f.num_queues > offer_.max_queues)
        return fail(control_error::queues_above_max,
                    std::to_string(*f.num_queues) + " queues asked, " + std::to_string(offer_.max_queues) + " offered");
    const std::uint32_t mtu = f.mtu.value_or(max_mtu_without_sg);
    if (mtu > offer_.mtu)
        return fail(control_error::mtu_above_peer,
                    "MTU " + std::to_string(mtu) + " above netback's " + std::to_string(offer_.mtu));
    const bool sg = f.sg.value_or(false);
    if (mtu > max_mtu_without_sg && !sg)
        return fail(control_error::mtu_needs_sg, "MTU " + std::to_string(mtu) + " without feature-sg");

    negotiated& p = conn_.params;
    p.sg = sg;
    p.gso_tcpv4 = f.gso_tcpv4.value_or(false);
    p.gso_tcpv6 = f.gso_tcpv6.value_or(false);
    p.split_event_channels = f.split_event_channels.value_or(false);
    p.queues = *f.num_queues;
    p.mac = *f.mac;
    p.mtu = mtu;
    conn_.queues.clear();
    conn_.queues.resize(p.queues);
    have_queue_.assign(p.queues, false);
    phase_ = phase::memory;
    return {};
}

step back_session::on_memory(memory_msg& m)
{
    auto mapped = mem::shared_region::try_map(std::move(m.fd), {.expected_bytes = m.bytes,
                                                                .min_bytes = page_bytes,
                                                                .max_bytes = max_region_bytes,
                                                                .access = mem::region_access::read_write,
                                                                .seals = mem::seal_requirement::size_locked});
    if (!mapped.ok())
        return fail(control_error::bad_memory, std::string(mem::to_string(mapped.error)));
    conn_.region = std::move(mapped.region);
    phase_ = phase::queues;
    return {};
}

step back_session::on_queue(queue_msg& q)
{
    const negotiated& p = conn_.params;
    const std::string which = "queue " + std::to_string(q.index);
    if (q.index >= p.queues)
        return fail(control_error::queue_out_of_range, which + " of " + std::to_string(p.queues));
    if (have_queue_[q.index])
        return fail(control_error::duplicate_queue, which);
    const std::uint8_t channels = p.split_event_channels ? 2 : 1;
    if (q.event_channels != channels)
        return fail(control_error::bad_event_channels, which + ": " + std::to_string(q.event_channels) +
                                                           " event channels, negotiated " + std::to_string(channels));
    for (std::size_t i = 0; i < q.fd_count(); ++i)
        if (!notify::eventfd_channel::is_eventfd(q.event_fds[i].get()))
            return fail(control_error::bad_event_fd, which + ": descriptor " + std::to_string(i));

    const std::uint64_t size = conn_.region.size();
    const range mine[] = {
        {q.tx_ring_offset, q.tx_ring_offset + page_bytes, "tx ring"},
        {q.rx_ring_offset, q.rx_ring_offset + page_bytes, "rx ring"},
        {q.tx_grants.offset, q.tx_grants.offset + q.tx_grants.bytes(), "tx grant area"},
        {q.rx_grants.offset, q.rx_grants.offset + q.rx_grants.bytes(), "rx grant area"},
    };
    for (const range& r : mine)
        if (r.end > size)
            return fail(control_error::layout_outside_region, which + ": " + r.what + " ends at " +
                                                                  std::to_string(r.end) + ", region has " +
                                                                  std::to_string(size) + " bytes");
    for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = i + 1; j < 4; ++j)
            if (overlaps(mine[i], mine[j]))
                return fail(control_error::layout_overlap, which + ": " + mine[i].what + " and " + mine[j].what);
    for (std::size_t other = 0; other < conn_.queues.size(); ++other) {
        if (!have_queue_[other])
            continue;
        const queue_setup& o = conn_.queues[other];
        const range theirs[] = {
            {o.tx_ring_offset, o.tx_ring_offset + page_bytes, "tx ring"},
            {o.rx_ring_offset, o.rx_ring_offset + page_bytes, "rx ring"},
            {o.tx_grants.offset, o.tx_grants.offset + o.tx_grants.bytes(), "tx grant area"},
            {o.rx_grants.offset, o.rx_grants.offset + o.rx_grants.bytes(), "rx grant area"},
        };
        for (const range& a : mine)
            for (const range& b : theirs)
                if (overlaps(a, b))
                    return fail(control_error::layout_overlap,
                                which + ": " + a.what + " and queue " + std::to_string(other) + "'s " + b.what);
    }

    queue_setup& s = conn_.queues[q.index];
    s.tx_ring_offset = q.tx_ring_offset;
    s.rx_ring_offset = q.rx_ring_offset;
    s.tx_grants = q.tx_grants;
    s.rx_grants = q.rx_grants;
    s.event_channels = q.event_channels;
    for (std::size_t i = 0; i < q.fd_count(); ++i)
        s.event_fds[i] = std::move(q.event_fds[i]);
    have_queue_[q.index] = true;
    ++queues_seen_;
    return {};
}

step back_session::on_state(xenbus_state s)
{
    if (s == xenbus_state::closing) {
        step st;
        st.replies.emplace_back(state_change(xenbus_state::closed));
        st.closed = true;
        state_ = xenbus_state::closed;
        phase_ = phase::closed;
        return st;
    }
    if (s == xenbus_state::closed) {
        step st;
        st.closed = true;
        state_ = xenbus_state::closed;
        phase_ = phase::closed;
        return st;
    }
    if (s == xenbus_state::initialised) {
        switch (phase_) {
        case phase::features:
            return fail(control_error::missing_feature, "initialised before features");
        case phase::memory:
            return fail(control_error::missing_memory);
        case phase::queues:
            if (queues_seen_ < conn_.params.queues)
                return fail(control_error::missing_queue, std::to_string(queues_seen_) + " of " +
                                                              std::to_string(conn_.params.queues) +
                                                              " queues described");
            {
                step st;
                st.replies.emplace_back(state_change(xenbus_state::connected));
                st.connected = true;
                state_ = xenbus_state::connected;
                phase_ = phase::connected;
                return st;
            }
        default:
            break;
        }
    }
    // netfront follows netback into connected, as a xenbus frontend does.
    if (s == xenbus_state::connected && phase_ == phase::connected) {
        step st;
        st.peer_connected = true;
        return st;
    }
    return fail(control_error::unexpected_message,
                "state " + std::string(to_string(s)) + " while netback is " + std::string(to_string(state_)));
}

std::vector<message> back_session::close()
{
    std::vector<message> out;
    if (phase_ == phase::closed || phase_ == phase::closing)
        return out;
    out.emplace_back(state_change(xenbus_state::closing));
    state_ = xenbus_state::closing;
    phase_ = phase::closing;
    return out;
}

// ------------------------------------------------------------------ netfront

front_session::front_session(front_request request) : request_(request)
{
    check_queues(request.queues, "netfront request");
    check_mtu(request.mtu, "netfront request");
    const bool all_zero = std::all_of(request.mac.begin(), request.mac.end(), [](std::uint8_t b) { return b == 0; });
    if (all_zero || (request.mac[0] & 1u) != 0)
        throw std::invalid_argument("netfront request: MAC " + mac_text(request.mac) + " is all-zero or multicast");
}

message front_session::hello() const
{
    return hello_msg{};
}

step front_session::on_message(message m)
{
    if (auto* e = std::get_if<error_msg>(&m)) {
        peer_error_ = *e;
        phase_ = phase::closed;
        state_ = xenbus_state::closed;
        return fail(control_error::peer_error, std::string(e->message()));
    }
    if (auto* s = std::get_if<state_msg>(&m)) {
        if (s->state == xenbus_state::closing || s->state == xenbus_state::closed) {
            step st;
            if (s->state == xenbus_state::closing && phase_ != phase::closing)
                st.replies.emplace_back(state_change(xenbus_state::closed));
            st.closed = true;
            phase_ = phase::closed;
            state_ = xenbus_state::closed;
            return st;
        }
        if (s->state == xenbus_state::init_wait && phase_ == phase::init_wait) {
            step st;
            st.ready = true;
            phase_ = phase::describing;
            return st;
        }
        if (s->state == xenbus_state::connected && phase_ == phase::connecting) {
            step st;
            st.replies.emplace_back(state_change(xenbus_state::connected));
            st.connected = true;
            phase_ = phase::connected;
            state_ = xenbus_state::connected;
            return st;
        }
    }
    if (auto* h = std::get_if<hello_msg>(&m); h != nullptr && phase_ == phase::hello) {
        if (!versions_overlap(*h))
            return fail(control_error::version_mismatch, "netback speaks versions " + std::to_string(h->min_version) +
                                                             ".." + std::to_string(h->max_version));
        phase_ = phase::features;
        return {};
    }
    if (auto* f = std::get_if<features_msg>(&m); f != nullptr && phase_ == phase::features) {
        const negotiation n = negotiate(request_, f->features);
        if (n.error != control_error::none)
            return fail(n.error, "in netback's features");
        backend_ = f->features;
        params_ = n.params;
        phase_ = phase::init_wait;
        return {};
    }
    return fail(control_error::unexpected_message,
                std::string(to_string(type_of(m))) + " message while netfront is " + std::string(to_string(state_)));
}

std::vector<message> front_session::describe(int memory_fd, std::uint64_t memory_bytes,
                                             std::span<const queue_plan> queues)
{
    if (phase_ != phase::describing)
        throw std::logic_error("netfront: describe before netback's offer is known");
    if (queues.size() != params_.queues)
        throw std::invalid_argument("netfront: " + std::to_string(queues.size()) + " queue plans for " +
                                    std::to_string(params_.queues) + " negotiated queues");
    auto dup = [](int fd) {
        mem::unique_fd d{fd >= 0 ? ::fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1};
        if (!d)
            throw std::invalid_argument("netfront: cannot duplicate descriptor " + std::to_string(fd));
        return d;
    };
    std::vector<message> out;
    feature_set f;
    f.sg = params_.sg;
    f.gso_tcpv4 = params_.gso_tcpv4;
    f.gso_tcpv6 = params_.gso_tcpv6;
    f.rx_copy = true;
    f.split_event_channels = params_.split_event_channels;
    f.num_queues = params_.queues;
    f.mac = params_.mac;
    f.mtu = params_.mtu;
    out.emplace_back(features_msg{f});
    out.emplace_back(memory_msg{memory_bytes, dup(memory_fd)});
    const std::uint8_t channels = params_.split_event_channels ? 2 : 1;
    for (std::size_t i = 0; i < queues.size(); ++i) {
        const queue_plan& plan = queues[i];
        queue_msg q;
        q.index = static_cast<std::uint16_t>(i);
        q.event_channels = channels;
        q.tx_ring_offset = plan.tx_ring_offset;
        q.rx_ring_offset = plan.rx_ring_offset;
        q.tx_grants = plan.tx_grants;
        q.rx_grants = plan.rx_grants;
        for (std::size_t k = 0; k < q.fd_count(); ++k)
            q.event_fds[k] = dup(plan.event_fds[k]);
        out.emplace_back(std::move(q));
    }
    out.emplace_back(state_change(xenbus_state::initialised));
    phase_ = phase::connecting;
    state_ = xenbus_state::initialised;
    return out;
}

std::vector<message> front_session::close()
{
    std::vector<message> out;
    if (phase_ == phase::closed || phase_ == phase::closing)
        return out;
    out.emplace_back(state_change(xenbus_state::closing));
    state_ = xenbus_state::closing;
    phase_ = phase::closing;
    return out;
}

// ------------------------------------------------------------------ blocking drivers

namespace {

std::chrono::milliseconds left_until(clock::time_point deadline)
{
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()));
}

control_error send_all(int sock, const std::vector<message>& msgs, clock::time_point deadline)
{
    for (const message& m : msgs)
        if (const control_error e = send_message(sock, m, left_until(deadline)); e != control_error::none)
            return e;
    return control_error::none;
}

// Tell the peer why we give up, unless the peer is already gone or told us first.
void report(int sock, control_error e, const std::string& detail)
{
    if (e == control_error::peer_error || e == control_error::peer_hung_up || e == control_error::io_error)
        return;
    std::string text(to_string(e));
    if (!detail.empty())
        text += ": " + detail;
    send_error(sock, e, text);
}

} // namespace

front_result front_handshake(int sock, const front_request& request,
                             const std::function<front_layout(const negotiated&)>& build,
                             std::chrono::milliseconds timeout)
{
    const auto deadline = clock::now() + timeout;
    front_session session(request);
    message_reader reader;
    front_result r;
    auto give_up = [&](control_error e, std::string detail) {
        report(sock, e, detail);
        r.error = e;
        r.detail = std::move(detail);
        return r;
    };
    if (const control_error e = send_message(sock, session.hello(), left_until(deadline)); e != control_error::none)
        return give_up(e, "sending hello");
    for (;;) {
        parse_result p = receive_message(sock, reader, left_until(deadline));
        if (!p.ok())
            return give_up(p.error, "from netback");
        step st = session.on_message(std::move(p.msg));
        if (!st.ok())
            return give_up(st.error, std::move(st.detail));
        if (const control_error e = send_all(sock, st.replies, deadline); e != control_error::none)
            return give_up(e, "sending");
        if (st.ready) {
            const front_layout layout = build(session.params());
            const auto msgs = session.describe(layout.memory_fd, layout.memory_bytes, layout.queues);
            if (const control_error e = send_all(sock, msgs, deadline); e != control_error::none)
                return give_up(e, "describing the queues");
        }
        if (st.closed)
            return give_up(control_error::peer_hung_up, "netback closed the connection during the handshake");
        if (st.connected) {
            r.params = session.params();
            r.backend = session.backend_features();
            return r;
        }
    }
}

back_result back_handshake(int sock, const back_offer& offer, std::chrono::milliseconds timeout)
{
    const auto deadline = clock::now() + timeout;
    back_session session(offer);
    message_reader reader;
    back_result r;
    auto give_up = [&](control_error e, std::string detail) {
        report(sock, e, detail);
        r.error = e;
        r.detail = std::move(detail);
        return std::move(r);
    };
    for (;;) {
        parse_result p = receive_message(sock, reader, left_until(deadline));
        if (!p.ok())
            return give_up(p.error, "from netfront");
        step st = session.on_message(std::move(p.msg));
        if (!st.ok())
            return give_up(st.error, std::move(st.detail));
        if (const control_error e = send_all(sock, st.replies, deadline); e != control_error::none)
            return give_up(e, "sending");
        if (st.closed)
            return give_up(control_error::peer_hung_up, "netfront closed the connection during the handshake");
        if (st.peer_connected) {
            r.connection = std::move(session.connection());
            return r;
        }
    }
}

} // namespace xnv::example::control
