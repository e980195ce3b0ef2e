// SPDX-License-Identifier: MIT
// The control-channel parser, fed valid and malformed frames directly: every rejection comes
// with its reason, and every descriptor handed to the parser is either in the message or
// closed.

#include "control_message.hpp"
#include "control_test_util.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace xnv::example::control;
using xnv::test::bytes;
using xnv::test::encoded;
using xnv::test::frame;
using xnv::test::new_eventfd;
using xnv::test::open_fd_count;

namespace {

constexpr std::uint16_t t_hello = 1, t_features = 2, t_memory = 3, t_queue = 4, t_state = 5, t_error = 6;

fd_list eventfds(std::size_t n)
{
    fd_list l;
    for (std::size_t i = 0; i < n; ++i)
        REQUIRE(l.push(new_eventfd()));
    return l;
}

// Parse `f` with `nfds` fresh descriptors; the error must be `want`, and no descriptor may
// survive a rejection.
void expect_reject(const std::vector<std::byte>& f, control_error want, std::size_t nfds = 0)
{
    const auto before = open_fd_count();
    {
        parse_result r = parse(f, eventfds(nfds));
        INFO("got: " << to_string(r.error) << ", want: " << to_string(want));
        CHECK(r.error == want);
        CHECK_FALSE(r.ok());
    }
    CHECK(open_fd_count() == before);
}

bytes queue_body(std::uint16_t index = 0, std::uint8_t channels = 1, std::uint64_t tx = 0, std::uint64_t rx = 4096,
                 std::uint64_t tx_area = 8192, std::uint32_t tx_refs = 256, std::uint32_t tx_pages = 256,
                 std::uint64_t rx_area = 8192 + 4096 + 256 * 4096, std::uint32_t rx_refs = 256,
                 std::uint32_t rx_pages = 256, std::uint8_t reserved = 0)
{
    bytes b;
    b.u16(index).u8(channels).u8(reserved).u64(tx).u64(rx);
    b.u64(tx_area).u32(tx_refs).u32(tx_pages);
    b.u64(rx_area).u32(rx_refs).u32(rx_pages);
    return b;
}

bytes features_body(std::initializer_list<std::pair<std::string_view, std::initializer_list<std::uint8_t>>> entries)
{
    bytes b;
    b.u16(static_cast<std::uint16_t>(entries.size()));
    for (const auto& [k, v] : entries)
        b.feature(k, v);
    return b;
}

} // namespace

// ------------------------------------------------------------------ valid messages

TEST_CASE("parse: every message type round-trips through encode")
{
    SUBCASE("hello")
    {
        auto r = parse(encoded(hello_msg{1, 3}), {});
        REQUIRE(r.ok());
        const auto& h = std::get<hello_msg>(r.msg);
        CHECK(h.min_version == 1);
        CHECK(h.max_version == 3);
    }
    SUBCASE("features, all keys")
    {
        feature_set f;
        f.sg = true;
        f.gso_tcpv4 = false;
        f.gso_tcpv6 = true;
        f.rx_copy = true;
        f.split_event_channels = false;
        f.max_queues = 16;
        f.num_queues = 3;
        f.mac = mac_address{0x00, 0x16, 0x3e, 0x01, 0x02, 0x03};
        f.mtu = 9000;
        auto r = parse(encoded(features_msg{f}), {});
        REQUIRE(r.ok());
        CHECK(std::get<features_msg>(r.msg).features == f);
    }
    SUBCASE("features, none")
    {
        auto r = parse(encoded(features_msg{}), {});
        REQUIRE(r.ok());
        CHECK(std::get<features_msg>(r.msg).features == feature_set{});
    }
    SUBCASE("memory carries its descriptor")
    {
        auto fds = eventfds(1);
        const int fd = fds.get(0);
        auto r = parse(encoded(memory_msg{1 << 20, {}}), std::move(fds));
        REQUIRE(r.ok());
        const auto& m = std::get<memory_msg>(r.msg);
        CHECK(m.bytes == (1u << 20));
        CHECK(m.fd.get() == fd);
    }
    SUBCASE("queue with split event channels carries four descriptors in order")
    {
        queue_msg q;
        q.index = 2;
        q.event_channels = 2;
        q.tx_ring_offset = 4096;
        q.rx_ring_offset = 8192;
        q.tx_grants = {12288, 256, 256};
        q.rx_grants = {12288 + 4096 * 257, 256, 256};
        auto fds = eventfds(4);
        const int third = fds.get(2);
        const grant_area tx = q.tx_grants, rx = q.rx_grants;
        auto r = parse(encoded(std::move(q)), std::move(fds));
        REQUIRE(r.ok());
        const auto& p = std::get<queue_msg>(r.msg);
        CHECK(p.index == 2);
        CHECK(p.event_channels == 2);
        CHECK(p.tx_ring_offset == 4096);
        CHECK(p.rx_ring_offset == 8192);
        CHECK(p.tx_grants == tx);
        CHECK(p.rx_grants == rx);
        CHECK(p.event_fds[2].get() == third);
        CHECK(p.event_fds[3].valid());
    }
    SUBCASE("state")
    {
        for (auto s : {xenbus_state::initialising, xenbus_state::init_wait, xenbus_state::initialised,
                       xenbus_state::connected, xenbus_state::closing, xenbus_state::closed}) {
            auto r = parse(encoded(state_msg{s}), {});
            REQUIRE(r.ok());
            CHECK(std::get<state_msg>(r.msg).state == s);
        }
    }
    SUBCASE("error")
    {
        auto r = parse(encoded(error_msg::make(control_error::too_many_queues, "17 queues")), {});
        REQUIRE(r.ok());
        const auto& e = std::get<error_msg>(r.msg);
        CHECK(e.code == static_cast<std::uint16_t>(control_error::too_many_queues));
        CHECK(e.message() == "17 queues");
    }
    SUBCASE("error: the data-path protocol violation that netback disconnects a vif for")
    {
        auto r = parse(encoded(error_msg::make(control_error::protocol_violation, "tx: req_prod beyond the ring")), {});
        REQUIRE(r.ok());
        const auto& e = std::get<error_msg>(r.msg);
        CHECK(e.code == 70);
        CHECK(static_cast<control_error>(e.code) == control_error::protocol_violation);
        CHECK(to_string(control_error::protocol_violation) == "data-path protocol violation");
        CHECK(e.message() == "tx: req_prod beyond the ring");
    }
}

TEST_CASE("error_msg::make cuts long text and masks unprintable bytes")
{
    const auto e = error_msg::make(control_error::io_error, std::string(300, 'x'));
    CHECK(e.length == max_error_text);
    const auto f = error_msg::make(control_error::io_error, "a\x1b[31mb\n");
    CHECK(f.message() == "a?[31mb?");
}

// ------------------------------------------------------------------ framing

TEST_CASE("parse: framing errors")
{
    SUBCASE("shorter than a header")
    {
        expect_reject(std::vector<std::byte>(7), control_error::truncated);
    }
    SUBCASE("empty")
    {
        expect_reject({}, control_error::truncated);
    }
    SUBCASE("body shorter than announced")
    {
        auto f = frame(t_hello, bytes{}.u16(1).u16(1));
        f.pop_back();
        expect_reject(f, control_error::truncated);
    }
    SUBCASE("bytes after the announced body")
    {
        auto f = frame(t_hello, bytes{}.u16(1).u16(1));
        f.push_back(std::byte{0});
        expect_reject(f, control_error::trailing_bytes);
    }
    SUBCASE("announced body above the maximum")
    {
        bytes f;
        f.u32(static_cast<std::uint32_t>(max_body_bytes + 1)).u16(t_hello).u16(0);
        expect_reject(f.get(), control_error::oversize);
        bytes g;
        g.u32(0xFFFFFFFF).u16(t_features).u16(0);
        expect_reject(g.get(), control_error::oversize);
    }
    SUBCASE("reserved header field set")
    {
        expect_reject(frame(t_hello, bytes{}.u16(1).u16(1), 1), control_error::reserved_not_zero);
    }
    SUBCASE("unknown types")
    {
        for (std::uint16_t t : {std::uint16_t{0}, std::uint16_t{7}, std::uint16_t{100}, std::uint16_t{0xFFFF}}) {
            INFO("type " << t);
            expect_reject(frame(t, bytes{}), control_error::unknown_type);
        }
    }
}

// ------------------------------------------------------------------ descriptors

TEST_CASE("parse: descriptors on messages that carry none are closed")
{
    expect_reject(encoded(hello_msg{}), control_error::unexpected_fds, 1);
    expect_reject(encoded(features_msg{}), control_error::unexpected_fds, 2);
    expect_reject(encoded(state_msg{xenbus_state::connected}), control_error::unexpected_fds, 1);
    expect_reject(encoded(error_msg::make(control_error::io_error, "x")), control_error::unexpected_fds, 3);
}

TEST_CASE("parse: wrong descriptor counts are rejected and closed")
{
    SUBCASE("memory without its descriptor")
    {
        expect_reject(encoded(memory_msg{4096, {}}), control_error::wrong_fd_count, 0);
    }
    SUBCASE("memory with two")
    {
        expect_reject(encoded(memory_msg{4096, {}}), control_error::wrong_fd_count, 2);
    }
    SUBCASE("queue, one channel, three descriptors")
    {
        expect_reject(frame(t_queue, queue_body(0, 1)), control_error::wrong_fd_count, 3);
    }
    SUBCASE("queue, one channel, none")
    {
        expect_reject(frame(t_queue, queue_body(0, 1)), control_error::wrong_fd_count, 0);
    }
    SUBCASE("queue, split channels, two descriptors")
    {
        expect_reject(frame(t_queue, queue_body(0, 2)), control_error::wrong_fd_count, 2);
    }
    SUBCASE("queue, split channels, eight descriptors")
    {
        expect_reject(frame(t_queue, queue_body(0, 2)), control_error::wrong_fd_count, 8);
    }
}

TEST_CASE("fd_list closes what it cannot hold")
{
    const auto before = open_fd_count();
    {
        fd_list l = eventfds(max_fds_per_message);
        CHECK_FALSE(l.push(new_eventfd()));
        CHECK(l.size() == max_fds_per_message);
    }
    CHECK(open_fd_count() == before);
}

// ------------------------------------------------------------------ field values

TEST_CASE("parse: hello with a bad version range")
{
    expect_reject(frame(t_hello, bytes{}.u16(0).u16(1)), control_error::bad_version);
    expect_reject(frame(t_hello, bytes{}.u16(3).u16(2)), control_error::bad_version);
    expect_reject(frame(t_hello, bytes{}.u16(1)), control_error::truncated);
    expect_reject(frame(t_hello, bytes{}.u16(1).u16(1).u8(0)), control_error::trailing_bytes);
}

TEST_CASE("parse: features")
{
    SUBCASE("unknown key")
    {
        expect_reject(frame(t_features, features_body({{"feature-foo", {1}}})), control_error::unknown_feature);
    }
    SUBCASE("Xen key this protocol does not use")
    {
        expect_reject(frame(t_features, features_body({{"request-rx-copy", {1}}})), control_error::unknown_feature);
    }
    SUBCASE("empty key")
    {
        expect_reject(frame(t_features, features_body({{"", {1}}})), control_error::unknown_feature);
    }
    SUBCASE("key longer than any known")
    {
        const std::string key(100, 'k');
        expect_reject(frame(t_features, features_body({{key, {1}}})), control_error::unknown_feature);
    }
    SUBCASE("key repeated")
    {
        expect_reject(frame(t_features, features_body({{"feature-sg", {1}}, {"feature-sg", {1}}})),
                      control_error::duplicate_feature);
    }
    SUBCASE("boolean other than 0/1")
    {
        expect_reject(frame(t_features, features_body({{"feature-gso-tcpv4", {2}}})), control_error::bad_feature_value);
    }
    SUBCASE("boolean of two bytes")
    {
        expect_reject(frame(t_features, features_body({{"feature-sg", {1, 0}}})), control_error::bad_feature_value);
    }
    SUBCASE("count of two bytes")
    {
        expect_reject(frame(t_features, features_body({{"multi-queue-num-queues", {1, 0}}})),
                      control_error::bad_feature_value);
    }
    SUBCASE("MAC of five bytes")
    {
        expect_reject(frame(t_features, features_body({{"mac", {2, 0, 0, 0, 1}}})), control_error::bad_feature_value);
    }
    SUBCASE("zero queues")
    {
        expect_reject(frame(t_features, features_body({{"multi-queue-num-queues", {0, 0, 0, 0}}})),
                      control_error::zero_queues);
        expect_reject(frame(t_features, features_body({{"multi-queue-max-queues", {0, 0, 0, 0}}})),
                      control_error::zero_queues);
    }
    SUBCASE("too many queues")
    {
        expect_reject(frame(t_features, features_body({{"multi-queue-num-queues", {17, 0, 0, 0}}})),
                      control_error::too_many_queues);
        expect_reject(frame(t_features, features_body({{"multi-queue-max-queues", {0, 0, 0, 1}}})),
                      control_error::too_many_queues);
        feature_set f;
        f.num_queues = max_queues;
        CHECK(parse(encoded(features_msg{f}), {}).ok());
    }
    SUBCASE("multicast MAC")
    {
        expect_reject(frame(t_features, features_body({{"mac", {0x01, 0, 0x5e, 0, 0, 1}}})), control_error::bad_mac);
    }
    SUBCASE("broadcast MAC")
    {
        expect_reject(frame(t_features, features_body({{"mac", {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}})),
                      control_error::bad_mac);
    }
    SUBCASE("all-zero MAC")
    {
        expect_reject(frame(t_features, features_body({{"mac", {0, 0, 0, 0, 0, 0}}})), control_error::bad_mac);
    }
    SUBCASE("MTU too small")
    {
        expect_reject(frame(t_features, features_body({{"mtu", {67, 0, 0, 0}}})), control_error::bad_mtu);
    }
    SUBCASE("MTU too large")
    {
        expect_reject(frame(t_features, features_body({{"mtu", {0xF2, 0xFF, 0, 0}}})), control_error::bad_mtu);
    }
    SUBCASE("MTU bounds are accepted")
    {
        feature_set lo, hi;
        lo.mtu = min_mtu;
        hi.mtu = max_mtu;
        CHECK(parse(encoded(features_msg{lo}), {}).ok());
        CHECK(parse(encoded(features_msg{hi}), {}).ok());
    }
    SUBCASE("more entries than allowed")
    {
        bytes b;
        b.u16(static_cast<std::uint16_t>(max_feature_entries + 1));
        expect_reject(frame(t_features, b), control_error::too_many_entries);
    }
    SUBCASE("count says more entries than present")
    {
        bytes b;
        b.u16(2).feature("feature-sg", {1});
        expect_reject(frame(t_features, b), control_error::truncated);
    }
    SUBCASE("value runs past the body")
    {
        bytes b;
        b.u16(1).u8(10).text("feature-sg").u8(4).u8(1);
        expect_reject(frame(t_features, b), control_error::truncated);
    }
    SUBCASE("bytes after the last entry")
    {
        auto b = features_body({{"feature-sg", {1}}});
        b.u8(0);
        expect_reject(frame(t_features, b), control_error::trailing_bytes);
    }
}

TEST_CASE("parse: memory")
{
    expect_reject(frame(t_memory, bytes{}.u64(0)), control_error::bad_region_size, 1);
    expect_reject(frame(t_memory, bytes{}.u64(4097)), control_error::bad_region_size, 1);
    expect_reject(frame(t_memory, bytes{}.u64(max_region_bytes + page_bytes)), control_error::bad_region_size, 1);
    expect_reject(frame(t_memory, bytes{}.u32(4096)), control_error::truncated, 1);
    expect_reject(frame(t_memory, bytes{}.u64(4096).u8(0)), control_error::trailing_bytes, 1);
    CHECK(parse(frame(t_memory, bytes{}.u64(max_region_bytes)), eventfds(1)).ok());
}

TEST_CASE("parse: queue")
{
    SUBCASE("index above the protocol maximum")
    {
        expect_reject(frame(t_queue, queue_body(16)), control_error::bad_queue_index, 2);
    }
    SUBCASE("no event channel")
    {
        expect_reject(frame(t_queue, queue_body(0, 0)), control_error::bad_event_channels);
    }
    SUBCASE("three event channels")
    {
        expect_reject(frame(t_queue, queue_body(0, 3)), control_error::bad_event_channels, 6);
    }
    SUBCASE("reserved byte set")
    {
        expect_reject(frame(t_queue, queue_body(0, 1, 0, 4096, 8192, 256, 256, 8192 + 4096 + 256 * 4096, 256, 256, 9)),
                      control_error::reserved_not_zero, 2);
    }
    SUBCASE("ring not page-aligned")
    {
        expect_reject(frame(t_queue, queue_body(0, 1, 100)), control_error::bad_layout, 2);
    }
    SUBCASE("ring beyond any region")
    {
        expect_reject(frame(t_queue, queue_body(0, 1, 0, max_region_bytes + page_bytes)), control_error::bad_layout, 2);
    }
    SUBCASE("grant area not page-aligned")
    {
        expect_reject(frame(t_queue, queue_body(0, 1, 0, 4096, 8200)), control_error::bad_layout, 2);
    }
    SUBCASE("grant area without references")
    {
        expect_reject(frame(t_queue, queue_body(0, 1, 0, 4096, 8192, 0)), control_error::bad_layout, 2);
    }
    SUBCASE("grant area without pages")
    {
        expect_reject(frame(t_queue, queue_body(0, 1, 0, 4096, 8192, 256, 0)), control_error::bad_layout, 2);
    }
    SUBCASE("grant area too large")
    {
        expect_reject(frame(t_queue, queue_body(0, 1, 0, 4096, 8192, 256, 256, 8192, 256, max_grant_area_entries + 1)),
                      control_error::bad_layout, 2);
    }
    SUBCASE("truncated")
    {
        auto b = queue_body();
        auto v = b.get();
        v.pop_back();
        bytes t;
        t.raw(v);
        expect_reject(frame(t_queue, t), control_error::truncated, 2);
    }
    SUBCASE("trailing bytes")
    {
        expect_reject(frame(t_queue, queue_body().u8(0)), control_error::trailing_bytes, 2);
    }
}

TEST_CASE("parse: state")
{
    expect_reject(frame(t_state, bytes{}.u8(0).u8(0).u8(0).u8(0)), control_error::bad_state);
    expect_reject(frame(t_state, bytes{}.u8(7).u8(0).u8(0).u8(0)), control_error::bad_state);
    expect_reject(frame(t_state, bytes{}.u8(255).u8(0).u8(0).u8(0)), control_error::bad_state);
    expect_reject(frame(t_state, bytes{}.u8(4).u8(0).u8(1).u8(0)), control_error::reserved_not_zero);
    expect_reject(frame(t_state, bytes{}.u8(4)), control_error::truncated);
    expect_reject(frame(t_state, bytes{}.u8(4).u8(0).u8(0).u8(0).u8(0)), control_error::trailing_bytes);
}

TEST_CASE("parse: error message text")
{
    expect_reject(frame(t_error, bytes{}.u16(1).u16(257).text(std::string(257, 'a'))), control_error::bad_text);
    expect_reject(frame(t_error, bytes{}.u16(1).u16(3).text("a\nb")), control_error::bad_text);
    expect_reject(frame(t_error, bytes{}.u16(1).u16(3).text("a\x7f"
                                                            "b")),
                  control_error::bad_text);
    expect_reject(frame(t_error, bytes{}.u16(1).u16(5).text("abc")), control_error::truncated);
    expect_reject(frame(t_error, bytes{}.u16(1).u16(2).text("abc")), control_error::trailing_bytes);
    expect_reject(frame(t_error, bytes{}.u16(1)), control_error::truncated);
}

TEST_CASE("parse: arbitrary prefixes of valid frames never crash and never leak")
{
    const auto before = open_fd_count();
    queue_msg q;
    q.event_channels = 2;
    q.tx_grants = {8192, 1, 1};
    q.rx_grants = {16384, 1, 1};
    const std::vector<std::vector<std::byte>> frames = {
        encoded(hello_msg{}),
        encoded(features_msg{feature_set{true, true, true, true, true, 4, 2, mac_address{2, 0, 0, 0, 0, 1}, 1500}}),
        encoded(memory_msg{4096, {}}),
        encoded(std::move(q)),
        encoded(state_msg{xenbus_state::connected}),
        encoded(error_msg::make(control_error::bad_mac, "mac"))};
    for (const auto& f : frames) {
        for (std::size_t len = 0; len < f.size(); ++len) {
            auto r = parse(std::span(f).first(len), eventfds(len % 5));
            CHECK_FALSE(r.ok());
        }
    }
    CHECK(open_fd_count() == before);
}

TEST_CASE("every control error has a distinct description")
{
    std::vector<std::string_view> seen;
    for (int e = 0; e <= 80; ++e) {
        const auto text = to_string(static_cast<control_error>(e));
        if (text == "unknown control error")
            continue;
        CHECK(std::find(seen.begin(), seen.end(), text) == seen.end());
        seen.push_back(text);
    }
    CHECK(seen.size() == 47); // every enumerator
}

TEST_CASE("fd_list: a moved-from list is empty, an assigned-to list closes what it held")
{
    const auto before = open_fd_count();
    {
        fd_list a = eventfds(2);
        fd_list b(std::move(a));
        CHECK(a.empty());
        CHECK(b.size() == 2);
        fd_list c = eventfds(3);
        c = std::move(b);
        CHECK(c.size() == 2);
        CHECK(b.empty());
        CHECK(open_fd_count() == before + 2);
    }
    CHECK(open_fd_count() == before);
}
