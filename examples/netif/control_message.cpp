// SPDX-License-Identifier: MIT
#include "control_message.hpp"

#include <algorithm>
#include <cstring>

namespace xnv::example::control {

std::string_view to_string(control_error e) noexcept
{
    switch (e) {
    case control_error::none:
        return "none";
    case control_error::truncated:
        return "message truncated";
    case control_error::oversize:
        return "message longer than the protocol allows";
    case control_error::trailing_bytes:
        return "bytes after the last field of the message";
    case control_error::reserved_not_zero:
        return "reserved field not zero";
    case control_error::unknown_type:
        return "unknown message type";
    case control_error::unexpected_fds:
        return "file descriptors on a message that carries none";
    case control_error::wrong_fd_count:
        return "wrong number of file descriptors for the message";
    case control_error::fds_truncated:
        return "more file descriptors than any message carries";
    case control_error::bad_version:
        return "bad protocol version range";
    case control_error::unknown_feature:
        return "unknown feature key";
    case control_error::duplicate_feature:
        return "feature key repeated";
    case control_error::bad_feature_value:
        return "bad feature value";
    case control_error::too_many_entries:
        return "too many feature entries";
    case control_error::zero_queues:
        return "queue count of zero";
    case control_error::too_many_queues:
        return "queue count above the protocol maximum";
    case control_error::bad_mac:
        return "MAC address all-zero or multicast";
    case control_error::bad_mtu:
        return "MTU out of range";
    case control_error::bad_region_size:
        return "shared region size zero, not whole pages, or too large";
    case control_error::bad_queue_index:
        return "queue index above the protocol maximum";
    case control_error::bad_event_channels:
        return "event channel count not 1 or 2";
    case control_error::bad_layout:
        return "ring or grant area misaligned or sized out of range";
    case control_error::bad_state:
        return "unknown xenbus state";
    case control_error::bad_text:
        return "error text too long or not printable";
    case control_error::unexpected_message:
        return "message not expected in this state";
    case control_error::version_mismatch:
        return "no common protocol version";
    case control_error::misplaced_feature:
        return "feature key the other side sends";
    case control_error::feature_not_offered:
        return "feature enabled that the backend does not offer";
    case control_error::queues_above_max:
        return "more queues than the backend allows";
    case control_error::missing_feature:
        return "required feature key missing";
    case control_error::rx_copy_required:
        return "feature-rx-copy must be 1";
    case control_error::mtu_above_peer:
        return "MTU above the backend's";
    case control_error::mtu_needs_sg:
        return "MTU above 1500 needs feature-sg";
    case control_error::duplicate_queue:
        return "queue described twice";
    case control_error::queue_out_of_range:
        return "queue index at or above the negotiated queue count";
    case control_error::missing_queue:
        return "initialised before every queue was described";
    case control_error::missing_memory:
        return "initialised before the shared memory was passed";
    case control_error::layout_outside_region:
        return "ring or grant area extends past the shared region";
    case control_error::layout_overlap:
        return "rings or grant areas overlap";
    case control_error::bad_memory:
        return "shared-memory descriptor rejected";
    case control_error::bad_event_fd:
        return "event channel descriptor is not an eventfd";
    case control_error::peer_error:
        return "peer reported an error";
    case control_error::peer_hung_up:
        return "peer hung up";
    case control_error::io_error:
        return "socket error";
    case control_error::timeout:
        return "peer did not answer in time";
    case control_error::peer_not_allowed:
        return "peer belongs to another user";
    case control_error::protocol_violation:
        return "data-path protocol violation";
    }
    return "unknown control error";
}

std::string_view to_string(xenbus_state s) noexcept
{
    switch (s) {
    case xenbus_state::unknown:
        return "unknown";
    case xenbus_state::initialising:
        return "initialising";
    case xenbus_state::init_wait:
        return "init-wait";
    case xenbus_state::initialised:
        return "initialised";
    case xenbus_state::connected:
        return "connected";
    case xenbus_state::closing:
        return "closing";
    case xenbus_state::closed:
        return "closed";
    }
    return "invalid";
}

std::string_view to_string(message_type t) noexcept
{
    switch (t) {
    case message_type::hello:
        return "hello";
    case message_type::features:
        return "features";
    case message_type::memory:
        return "memory";
    case message_type::queue:
        return "queue";
    case message_type::state:
        return "state";
    case message_type::error:
        return "error";
    }
    return "invalid";
}

message_type type_of(const message& m) noexcept
{
    return static_cast<message_type>(m.index() + 1);
}

namespace {

constexpr bool printable(char c) noexcept
{
    return c >= 0x20 && c <= 0x7E;
}

} // namespace

error_msg error_msg::make(control_error code, std::string_view text) noexcept
{
    error_msg m;
    m.code = static_cast<std::uint16_t>(code);
    m.length = static_cast<std::uint16_t>(std::min(text.size(), max_error_text));
    for (std::size_t i = 0; i < m.length; ++i)
        m.text[i] = printable(text[i]) ? text[i] : '?';
    return m;
}

bool fd_list::push(int fd) noexcept
{
    if (size_ == fds_.size()) {
        mem::unique_fd discard{fd};
        return false;
    }
    fds_[size_++].reset(fd);
    return true;
}

void fd_list::clear() noexcept
{
    for (std::size_t i = 0; i < size_; ++i)
        fds_[i].reset();
    size_ = 0;
}

namespace {

// ------------------------------------------------------------------ byte cursors

class reader {
public:
    explicit reader(std::span<const std::byte> b) noexcept : b_(b) {}

    bool u8(std::uint8_t& v) noexcept { return get(v); }
    bool u16(std::uint16_t& v) noexcept { return get(v); }
    bool u32(std::uint32_t& v) noexcept { return get(v); }
    bool u64(std::uint64_t& v) noexcept { return get(v); }
    bool bytes(std::size_t n, std::span<const std::byte>& out) noexcept
    {
        if (b_.size() - pos_ < n)
            return false;
        out = b_.subspan(pos_, n);
        pos_ += n;
        return true;
    }
    [[nodiscard]] std::size_t left() const noexcept { return b_.size() - pos_; }

private:
    // Little-endian, byte by byte: independent of the host's order and of alignment.
    template <class T> bool get(T& v) noexcept
    {
        if (b_.size() - pos_ < sizeof(T))
            return false;
        std::uint64_t x = 0;
        for (std::size_t i = 0; i < sizeof(T); ++i)
            x |= std::uint64_t{std::to_integer<std::uint8_t>(b_[pos_ + i])} << (8 * i);
        v = static_cast<T>(x);
        pos_ += sizeof(T);
        return true;
    }

    std::span<const std::byte> b_;
    std::size_t pos_ = 0;
};

class writer {
public:
    explicit writer(std::span<std::byte> b) noexcept : b_(b) {}

    void u8(std::uint8_t v) noexcept { put(v); }
    void u16(std::uint16_t v) noexcept { put(v); }
    void u32(std::uint32_t v) noexcept { put(v); }
    void u64(std::uint64_t v) noexcept { put(v); }
    void bytes(std::span<const std::byte> s) noexcept
    {
        const std::size_t n = std::min(s.size(), b_.size() - pos_);
        std::memcpy(b_.data() + pos_, s.data(), n);
        pos_ += n;
    }
    void text(std::string_view s) noexcept { bytes(std::as_bytes(std::span(s.data(), s.size()))); }
    [[nodiscard]] std::size_t pos() const noexcept { return pos_; }
    void seek(std::size_t p) noexcept { pos_ = p; }

private:
    template <class T> void put(T v) noexcept
    {
        if (b_.size() - pos_ < sizeof(T))
            return;
        const auto x = static_cast<std::uint64_t>(v);
        for (std::size_t i = 0; i < sizeof(T); ++i)
            b_[pos_ + i] = static_cast<std::byte>((x >> (8 * i)) & 0xFF);
        pos_ += sizeof(T);
    }

    std::span<std::byte> b_;
    std::size_t pos_ = 0;
};

// ------------------------------------------------------------------ feature keys

enum class key_kind : std::uint8_t { boolean, count, mac, mtu };

struct key_info {
    std::string_view name;
    key_kind kind;
};

// Xen's xenstore key names (xnv/wire/netif.hpp lists the same ones), plus "mac" and "mtu".
constexpr std::array<key_info, 9> keys{{
    {"feature-sg", key_kind::boolean},
    {"feature-gso-tcpv4", key_kind::boolean},
    {"feature-gso-tcpv6", key_kind::boolean},
    {"feature-rx-copy", key_kind::boolean},
    {"feature-split-event-channels", key_kind::boolean},
    {"multi-queue-max-queues", key_kind::count},
    {"multi-queue-num-queues", key_kind::count},
    {"mac", key_kind::mac},
    {"mtu", key_kind::mtu},
}};
constexpr std::size_t max_key_bytes = 64;

constexpr std::size_t value_bytes(key_kind k) noexcept
{
    switch (k) {
    case key_kind::boolean:
        return 1;
    case key_kind::count:
        return 4;
    case key_kind::mac:
        return 6;
    case key_kind::mtu:
        return 4;
    }
    return 0;
}

std::uint32_t le32(std::span<const std::byte> v) noexcept
{
    std::uint32_t x = 0;
    for (std::size_t i = 0; i < 4; ++i)
        x |= std::uint32_t{std::to_integer<std::uint8_t>(v[i])} << (8 * i);
    return x;
}

// Store the value of key `k` (validated) into `f`. `seen` guards against duplicates.
control_error set_feature(feature_set& f, std::size_t k, std::span<const std::byte> v) noexcept
{
    const key_kind kind = keys[k].kind;
    if (v.size() != value_bytes(kind))
        return control_error::bad_feature_value;
    switch (kind) {
    case key_kind::boolean: {
        const auto b = std::to_integer<std::uint8_t>(v[0]);
        if (b > 1)
            return control_error::bad_feature_value;
        std::optional<bool>* fields[] = {&f.sg, &f.gso_tcpv4, &f.gso_tcpv6, &f.rx_copy, &f.split_event_channels};
        *fields[k] = b == 1;
        return control_error::none;
    }
    case key_kind::count: {
        const std::uint32_t n = le32(v);
        if (n == 0)
            return control_error::zero_queues;
        if (n > max_queues)
            return control_error::too_many_queues;
        (k == 5 ? f.max_queues : f.num_queues) = n;
        return control_error::none;
    }
    case key_kind::mac: {
        mac_address mac{};
        for (std::size_t i = 0; i < mac.size(); ++i)
            mac[i] = std::to_integer<std::uint8_t>(v[i]);
        const bool all_zero = std::all_of(mac.begin(), mac.end(), [](std::uint8_t b) { return b == 0; });
        if (all_zero || (mac[0] & 1u) != 0)
            return control_error::bad_mac;
        f.mac = mac;
        return control_error::none;
    }
    case key_kind::mtu: {
        const std::uint32_t mtu = le32(v);
        if (mtu < min_mtu || mtu > max_mtu)
            return control_error::bad_mtu;
        f.mtu = mtu;
        return control_error::none;
    }
    }
    return control_error::unknown_feature;
}

// ------------------------------------------------------------------ body parsers

parse_result fail(control_error e) noexcept
{
    parse_result r;
    r.error = e;
    return r;
}

parse_result ok(message m) noexcept
{
    parse_result r;
    r.msg = std::move(m);
    return r;
}

parse_result parse_hello(reader& in) noexcept
{
    hello_msg h;
    if (!in.u16(h.min_version) || !in.u16(h.max_version))
        return fail(control_error::truncated);
    if (in.left() != 0)
        return fail(control_error::trailing_bytes);
    if (h.min_version == 0 || h.min_version > h.max_version)
        return fail(control_error::bad_version);
    return ok(h);
}

parse_result parse_features(reader& in) noexcept
{
    std::uint16_t count = 0;
    if (!in.u16(count))
        return fail(control_error::truncated);
    if (count > max_feature_entries)
        return fail(control_error::too_many_entries);
    features_msg m;
    std::array<bool, keys.size()> seen{};
    for (std::uint16_t i = 0; i < count; ++i) {
        std::uint8_t key_len = 0;
        std::span<const std::byte> key;
        std::uint8_t value_len = 0;
        std::span<const std::byte> value;
        if (!in.u8(key_len) || !in.bytes(key_len, key) || !in.u8(value_len) || !in.bytes(value_len, value))
            return fail(control_error::truncated);
        if (key_len == 0 || key_len > max_key_bytes)
            return fail(control_error::unknown_feature);
        const std::string_view name(reinterpret_cast<const char*>(key.data()), key.size());
        std::size_t k = 0;
        while (k < keys.size() && keys[k].name != name)
            ++k;
        if (k == keys.size())
            return fail(control_error::unknown_feature);
        if (seen[k])
            return fail(control_error::duplicate_feature);
        seen[k] = true;
        if (const control_error e = set_feature(m.features, k, value); e != control_error::none)
            return fail(e);
    }
    if (in.left() != 0)
        return fail(control_error::trailing_bytes);
    return ok(std::move(m));
}

parse_result parse_memory(reader& in, fd_list& fds) noexcept
{
    if (fds.size() != 1)
        return fail(control_error::wrong_fd_count);
    memory_msg m;
    if (!in.u64(m.bytes))
        return fail(control_error::truncated);
    if (in.left() != 0)
        return fail(control_error::trailing_bytes);
    if (m.bytes == 0 || m.bytes % page_bytes != 0 || m.bytes > max_region_bytes)
        return fail(control_error::bad_region_size);
    m.fd = fds.take(0);
    return ok(std::move(m));
}

bool read_area(reader& in, grant_area& a) noexcept
{
    return in.u64(a.offset) && in.u32(a.refs) && in.u32(a.pages);
}

bool area_ok(const grant_area& a) noexcept
{
    return a.offset % page_bytes == 0 && a.offset <= max_region_bytes && a.refs >= 1 &&
           a.refs <= max_grant_area_entries && a.pages >= 1 && a.pages <= max_grant_area_entries;
}

parse_result parse_queue(reader& in, fd_list& fds) noexcept
{
    queue_msg q;
    std::uint8_t reserved = 0;
    if (!in.u16(q.index) || !in.u8(q.event_channels) || !in.u8(reserved) || !in.u64(q.tx_ring_offset) ||
        !in.u64(q.rx_ring_offset) || !read_area(in, q.tx_grants) || !read_area(in, q.rx_grants))
        return fail(control_error::truncated);
    if (in.left() != 0)
        return fail(control_error::trailing_bytes);
    if (reserved != 0)
        return fail(control_error::reserved_not_zero);
    if (q.index >= max_queues)
        return fail(control_error::bad_queue_index);
    if (q.event_channels != 1 && q.event_channels != 2)
        return fail(control_error::bad_event_channels);
    const auto ring_ok = [](std::uint64_t off) { return off % page_bytes == 0 && off <= max_region_bytes; };
    if (!ring_ok(q.tx_ring_offset) || !ring_ok(q.rx_ring_offset) || !area_ok(q.tx_grants) || !area_ok(q.rx_grants))
        return fail(control_error::bad_layout);
    if (fds.size() != q.fd_count())
        return fail(control_error::wrong_fd_count);
    for (std::size_t i = 0; i < q.fd_count(); ++i)
        q.event_fds[i] = fds.take(i);
    return ok(std::move(q));
}

parse_result parse_state(reader& in) noexcept
{
    std::uint8_t s = 0;
    std::uint8_t r0 = 0, r1 = 0, r2 = 0;
    if (!in.u8(s) || !in.u8(r0) || !in.u8(r1) || !in.u8(r2))
        return fail(control_error::truncated);
    if (in.left() != 0)
        return fail(control_error::trailing_bytes);
    if ((r0 | r1 | r2) != 0)
        return fail(control_error::reserved_not_zero);
    if (s < static_cast<std::uint8_t>(xenbus_state::initialising) ||
        s > static_cast<std::uint8_t>(xenbus_state::closed))
        return fail(control_error::bad_state);
    return ok(state_msg{static_cast<xenbus_state>(s)});
}

parse_result parse_error(reader& in) noexcept
{
    error_msg m;
    std::uint16_t len = 0;
    std::span<const std::byte> text;
    if (!in.u16(m.code) || !in.u16(len))
        return fail(control_error::truncated);
    if (len > max_error_text)
        return fail(control_error::bad_text);
    if (!in.bytes(len, text))
        return fail(control_error::truncated);
    if (in.left() != 0)
        return fail(control_error::trailing_bytes);
    for (std::size_t i = 0; i < len; ++i) {
        const char c = static_cast<char>(std::to_integer<std::uint8_t>(text[i]));
        if (!printable(c))
            return fail(control_error::bad_text);
        m.text[i] = c;
    }
    m.length = len;
    return ok(m);
}

} // namespace

parse_result parse(std::span<const std::byte> frame, fd_list fds) noexcept
{
    // `fds` is owned here: whatever the outcome, descriptors not moved into the message are
    // closed when it goes out of scope.
    reader head(frame);
    std::uint32_t length = 0;
    std::uint16_t type = 0;
    std::uint16_t reserved = 0;
    if (!head.u32(length) || !head.u16(type) || !head.u16(reserved))
        return fail(control_error::truncated);
    if (length > max_body_bytes)
        return fail(control_error::oversize);
    if (frame.size() - header_bytes < length)
        return fail(control_error::truncated);
    if (frame.size() - header_bytes > length)
        return fail(control_error::trailing_bytes);
    if (reserved != 0)
        return fail(control_error::reserved_not_zero);

    reader body(frame.subspan(header_bytes));
    switch (static_cast<message_type>(type)) {
    case message_type::hello:
    case message_type::features:
    case message_type::state:
    case message_type::error:
        if (!fds.empty())
            return fail(control_error::unexpected_fds);
        break;
    case message_type::memory:
    case message_type::queue:
        break;
    default:
        return fail(control_error::unknown_type);
    }
    switch (static_cast<message_type>(type)) {
    case message_type::hello:
        return parse_hello(body);
    case message_type::features:
        return parse_features(body);
    case message_type::memory:
        return parse_memory(body, fds);
    case message_type::queue:
        return parse_queue(body, fds);
    case message_type::state:
        return parse_state(body);
    case message_type::error:
        return parse_error(body);
    }
    return fail(control_error::unknown_type);
}

namespace {

void encode_feature(writer& out, std::size_t k, std::span<const std::byte> value) noexcept
{
    out.u8(static_cast<std::uint8_t>(keys[k].name.size()));
    out.text(keys[k].name);
    out.u8(static_cast<std::uint8_t>(value.size()));
    out.bytes(value);
}

void encode_features(writer& out, const feature_set& f) noexcept
{
    const std::size_t count_at = out.pos();
    out.u16(0);
    std::uint16_t count = 0;
    const std::optional<bool>* bools[] = {&f.sg, &f.gso_tcpv4, &f.gso_tcpv6, &f.rx_copy, &f.split_event_channels};
    for (std::size_t k = 0; k < 5; ++k) {
        if (bools[k]->has_value()) {
            const std::byte v{static_cast<std::uint8_t>(**bools[k] ? 1 : 0)};
            encode_feature(out, k, std::span(&v, 1));
            ++count;
        }
    }
    auto put32 = [&](std::size_t k, std::uint32_t x) {
        std::array<std::byte, 4> v;
        for (std::size_t i = 0; i < 4; ++i)
            v[i] = static_cast<std::byte>((x >> (8 * i)) & 0xFF);
        encode_feature(out, k, v);
        ++count;
    };
    if (f.max_queues)
        put32(5, *f.max_queues);
    if (f.num_queues)
        put32(6, *f.num_queues);
    if (f.mac) {
        std::array<std::byte, 6> v;
        for (std::size_t i = 0; i < 6; ++i)
            v[i] = std::byte{(*f.mac)[i]};
        encode_feature(out, 7, v);
        ++count;
    }
    if (f.mtu)
        put32(8, *f.mtu);
    const std::size_t end = out.pos();
    out.seek(count_at);
    out.u16(count);
    out.seek(end);
}

void encode_area(writer& out, const grant_area& a) noexcept
{
    out.u64(a.offset);
    out.u32(a.refs);
    out.u32(a.pages);
}

struct body_encoder {
    writer& out;
    void operator()(const hello_msg& h) const noexcept
    {
        out.u16(h.min_version);
        out.u16(h.max_version);
    }
    void operator()(const features_msg& f) const noexcept { encode_features(out, f.features); }
    void operator()(const memory_msg& m) const noexcept { out.u64(m.bytes); }
    void operator()(const queue_msg& q) const noexcept
    {
        out.u16(q.index);
        out.u8(q.event_channels);
        out.u8(0);
        out.u64(q.tx_ring_offset);
        out.u64(q.rx_ring_offset);
        encode_area(out, q.tx_grants);
        encode_area(out, q.rx_grants);
    }
    void operator()(const state_msg& s) const noexcept
    {
        out.u8(static_cast<std::uint8_t>(s.state));
        out.u8(0);
        out.u8(0);
        out.u8(0);
    }
    void operator()(const error_msg& e) const noexcept
    {
        out.u16(e.code);
        const std::uint16_t len = std::min<std::uint16_t>(e.length, static_cast<std::uint16_t>(max_error_text));
        out.u16(len);
        out.text({e.text.data(), len});
    }
};

} // namespace

std::size_t encode(const message& m, std::span<std::byte, max_frame_bytes> out) noexcept
{
    writer w(out);
    w.seek(header_bytes);
    std::visit(body_encoder{w}, m);
    const std::size_t end = w.pos();
    w.seek(0);
    w.u32(static_cast<std::uint32_t>(end - header_bytes));
    w.u16(static_cast<std::uint16_t>(type_of(m)));
    w.u16(0);
    return end;
}

fd_refs fds_of(const message& m) noexcept
{
    fd_refs r;
    if (const auto* mem = std::get_if<memory_msg>(&m)) {
        r.fds[0] = mem->fd.get();
        r.count = 1;
    } else if (const auto* q = std::get_if<queue_msg>(&m)) {
        r.count = std::min<std::size_t>(q->fd_count(), q->event_fds.size());
        for (std::size_t i = 0; i < r.count; ++i)
            r.fds[i] = q->event_fds[i].get();
    }
    return r;
}

} // namespace xnv::example::control
