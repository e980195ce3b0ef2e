// SPDX-License-Identifier: MIT
// The negotiation state machines, fed messages in one process: the happy path on both sides,
// and every rule netback enforces on a netfront (and netfront on netback) with its reason.

#include "control_session.hpp"
#include "control_test_util.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace xnv::example::control;
using xnv::mem::shared_region;
using xnv::test::new_eventfd;
using xnv::test::open_fd_count;

namespace {

constexpr mac_address front_mac{0x00, 0x16, 0x3e, 0x0a, 0x0b, 0x0c};

feature_set front_features(std::uint32_t queues = 2)
{
    feature_set f;
    f.sg = true;
    f.gso_tcpv4 = true;
    f.gso_tcpv6 = false;
    f.rx_copy = true;
    f.split_event_channels = true;
    f.num_queues = queues;
    f.mac = front_mac;
    f.mtu = 9000;
    return f;
}

queue_msg queue_from(const queue_plan& p, std::uint16_t index, std::uint8_t channels = 2)
{
    queue_msg q;
    q.index = index;
    q.event_channels = channels;
    q.tx_ring_offset = p.tx_ring_offset;
    q.rx_ring_offset = p.rx_ring_offset;
    q.tx_grants = p.tx_grants;
    q.rx_grants = p.rx_grants;
    for (std::size_t i = 0; i < q.fd_count(); ++i)
        q.event_fds[i] = new_eventfd();
    return q;
}

// netback's session, driven to a chosen point of the handshake.
struct back_fixture {
    back_session session{back_offer{}};
    xnv::test::region_plan plan = xnv::test::plan_region(2);
    shared_region region = shared_region::create(plan.bytes);

    step feed(message m) { return session.on_message(std::move(m)); }

    void through_hello() { REQUIRE(feed(hello_msg{}).ok()); }
    void through_features(feature_set f = front_features())
    {
        through_hello();
        REQUIRE(feed(features_msg{f}).ok());
    }
    void through_memory(feature_set f = front_features())
    {
        through_features(f);
        REQUIRE(feed(memory_msg{region.size(), region.duplicate_fd()}).ok());
    }
};

void expect_error(const step& s, control_error want)
{
    INFO("got: " << to_string(s.error) << " (" << s.detail << "), want: " << to_string(want));
    CHECK(s.error == want);
    CHECK(s.replies.empty());
    CHECK_FALSE(s.connected);
}

} // namespace

// ------------------------------------------------------------------ netback: the happy path

TEST_CASE("netback session: hello, offer, features, memory, queues, initialised -> connected")
{
    back_fixture b;
    const step hello = b.feed(hello_msg{});
    REQUIRE(hello.ok());
    REQUIRE(hello.replies.size() == 3);
    CHECK(type_of(hello.replies[0]) == message_type::hello);
    const auto& offer = std::get<features_msg>(hello.replies[1]).features;
    CHECK(offer == back_offer{}.features());
    CHECK(offer.rx_copy == true);
    CHECK(std::get<state_msg>(hello.replies[2]).state == xenbus_state::init_wait);
    CHECK(b.session.state() == xenbus_state::init_wait);

    CHECK(b.feed(features_msg{front_features()}).ok());
    CHECK(b.feed(memory_msg{b.region.size(), b.region.duplicate_fd()}).ok());
    // Queues may come in any order.
    CHECK(b.feed(queue_from(b.plan.queues[1], 1)).ok());
    CHECK(b.feed(queue_from(b.plan.queues[0], 0)).ok());
    const step init = b.feed(state_msg{xenbus_state::initialised});
    REQUIRE(init.ok());
    CHECK(init.connected);
    REQUIRE(init.replies.size() == 1);
    CHECK(std::get<state_msg>(init.replies[0]).state == xenbus_state::connected);
    CHECK(b.session.state() == xenbus_state::connected);

    auto& c = b.session.connection();
    CHECK(c.params.sg);
    CHECK(c.params.gso_tcpv4);
    CHECK_FALSE(c.params.gso_tcpv6);
    CHECK(c.params.split_event_channels);
    CHECK(c.params.queues == 2);
    CHECK(c.params.mac == front_mac);
    CHECK(c.params.mtu == 9000);
    CHECK(c.region.size() == b.region.size());
    REQUIRE(c.queues.size() == 2);
    CHECK(c.queues[1].rx_grants == b.plan.queues[1].rx_grants);
    for (const auto& q : c.queues)
        for (const auto& fd : q.event_fds)
            CHECK(fd.valid());
    // The mapping is the netfront's memory.
    b.region.data()[100] = std::byte{0x42};
    CHECK(c.region.data()[100] == std::byte{0x42});

    const step confirmed = b.feed(state_msg{xenbus_state::connected}); // netfront follows into connected
    CHECK(confirmed.ok());
    CHECK(confirmed.peer_connected);
    CHECK(confirmed.replies.empty());
    const step closing = b.feed(state_msg{xenbus_state::closing});
    REQUIRE(closing.ok());
    CHECK(closing.closed);
    REQUIRE(closing.replies.size() == 1);
    CHECK(std::get<state_msg>(closing.replies[0]).state == xenbus_state::closed);
}

TEST_CASE("netback session: the defaults of absent keys")
{
    back_fixture b;
    feature_set f;
    f.rx_copy = true;
    f.num_queues = 1;
    f.mac = front_mac;
    b.through_features(f);
    // No split: one event channel per queue; no SG: MTU 1500.
    CHECK(b.feed(memory_msg{b.region.size(), b.region.duplicate_fd()}).ok());
    CHECK(b.feed(queue_from(b.plan.queues[0], 0, 1)).ok());
    REQUIRE(b.feed(state_msg{xenbus_state::initialised}).connected);
    const auto& p = b.session.connection().params;
    CHECK_FALSE(p.sg);
    CHECK_FALSE(p.split_event_channels);
    CHECK(p.mtu == 1500);
}

TEST_CASE("netback session: netback closes, netfront acknowledges")
{
    back_fixture b;
    b.through_hello();
    const auto msgs = b.session.close();
    REQUIRE(msgs.size() == 1);
    CHECK(std::get<state_msg>(msgs[0]).state == xenbus_state::closing);
    CHECK(b.session.close().empty());
    const step s = b.feed(state_msg{xenbus_state::closed});
    CHECK(s.ok());
    CHECK(s.closed);
    CHECK(s.replies.empty());
}

// ------------------------------------------------------------------ netback: rejections

TEST_CASE("netback session: protocol order")
{
    back_fixture b;
    SUBCASE("features before hello")
    {
        expect_error(b.feed(features_msg{front_features()}), control_error::unexpected_message);
    }
    SUBCASE("hello twice")
    {
        b.through_hello();
        expect_error(b.feed(hello_msg{}), control_error::unexpected_message);
    }
    SUBCASE("queue before memory")
    {
        b.through_features();
        expect_error(b.feed(queue_from(b.plan.queues[0], 0)), control_error::unexpected_message);
    }
    SUBCASE("memory twice")
    {
        b.through_memory();
        expect_error(b.feed(memory_msg{b.region.size(), b.region.duplicate_fd()}), control_error::unexpected_message);
    }
    SUBCASE("connected from netfront before netback connected")
    {
        b.through_memory();
        expect_error(b.feed(state_msg{xenbus_state::connected}), control_error::unexpected_message);
    }
    SUBCASE("init-wait is netback's state")
    {
        b.through_hello();
        expect_error(b.feed(state_msg{xenbus_state::init_wait}), control_error::unexpected_message);
    }
    SUBCASE("initialised before features")
    {
        b.through_hello();
        expect_error(b.feed(state_msg{xenbus_state::initialised}), control_error::missing_feature);
    }
    SUBCASE("initialised before memory")
    {
        b.through_features();
        expect_error(b.feed(state_msg{xenbus_state::initialised}), control_error::missing_memory);
    }
    SUBCASE("initialised before every queue")
    {
        b.through_memory();
        CHECK(b.feed(queue_from(b.plan.queues[0], 0)).ok());
        expect_error(b.feed(state_msg{xenbus_state::initialised}), control_error::missing_queue);
    }
    SUBCASE("anything after connected but a state")
    {
        b.through_memory();
        CHECK(b.feed(queue_from(b.plan.queues[0], 0)).ok());
        CHECK(b.feed(queue_from(b.plan.queues[1], 1)).ok());
        CHECK(b.feed(state_msg{xenbus_state::initialised}).connected);
        expect_error(b.feed(queue_from(b.plan.queues[1], 1)), control_error::unexpected_message);
        expect_error(b.feed(features_msg{front_features()}), control_error::unexpected_message);
    }
}

TEST_CASE("netback session: version")
{
    back_fixture b;
    expect_error(b.feed(hello_msg{2, 5}), control_error::version_mismatch);
    back_fixture c;
    const step s = c.feed(hello_msg{1, 9}); // a newer netfront that still speaks version 1
    CHECK(s.ok());
}

TEST_CASE("netback session: netfront's features")
{
    back_fixture b;
    b.through_hello();
    feature_set f = front_features();
    SUBCASE("netback's own key")
    {
        f.max_queues = 2;
        expect_error(b.feed(features_msg{f}), control_error::misplaced_feature);
    }
    SUBCASE("no rx-copy")
    {
        f.rx_copy.reset();
        expect_error(b.feed(features_msg{f}), control_error::rx_copy_required);
    }
    SUBCASE("rx-copy 0")
    {
        f.rx_copy = false;
        expect_error(b.feed(features_msg{f}), control_error::rx_copy_required);
    }
    SUBCASE("no queue count")
    {
        f.num_queues.reset();
        expect_error(b.feed(features_msg{f}), control_error::missing_feature);
    }
    SUBCASE("no MAC")
    {
        f.mac.reset();
        expect_error(b.feed(features_msg{f}), control_error::missing_feature);
    }
    SUBCASE("more queues than offered")
    {
        f.num_queues = 5;
        expect_error(b.feed(features_msg{f}), control_error::queues_above_max);
    }
    SUBCASE("MTU without SG")
    {
        f.sg = false;
        expect_error(b.feed(features_msg{f}), control_error::mtu_needs_sg);
    }
}

TEST_CASE("netback session: features not offered and MTU above netback's")
{
    back_offer offer;
    offer.sg = false;
    offer.gso_tcpv4 = false;
    offer.split_event_channels = false;
    offer.mtu = 1500;
    back_session s(offer);
    REQUIRE(s.on_message(hello_msg{}).ok());
    feature_set f;
    f.rx_copy = true;
    f.num_queues = 1;
    f.mac = front_mac;
    SUBCASE("sg")
    {
        f.sg = true;
        expect_error(s.on_message(features_msg{f}), control_error::feature_not_offered);
    }
    SUBCASE("gso")
    {
        f.gso_tcpv4 = true;
        expect_error(s.on_message(features_msg{f}), control_error::feature_not_offered);
    }
    SUBCASE("split")
    {
        f.split_event_channels = true;
        expect_error(s.on_message(features_msg{f}), control_error::feature_not_offered);
    }
    SUBCASE("disabled features are fine")
    {
        f.sg = false;
        f.gso_tcpv4 = false;
        CHECK(s.on_message(features_msg{f}).ok());
    }
    SUBCASE("mtu")
    {
        f.mtu = 1501;
        expect_error(s.on_message(features_msg{f}), control_error::mtu_above_peer);
    }
}

TEST_CASE("netback session: the shared memory descriptor is checked before it is mapped")
{
    const auto before = open_fd_count();
    {
        back_fixture b;
        b.through_features();
        SUBCASE("size differs from the announced size")
        {
            expect_error(b.feed(memory_msg{b.region.size() + 4096, b.region.duplicate_fd()}),
                         control_error::bad_memory);
        }
        SUBCASE("not sealed against shrinking")
        {
            auto unsealed = shared_region::create(b.plan.bytes, {.seals = xnv::mem::sealing::none});
            expect_error(b.feed(memory_msg{unsealed.size(), unsealed.duplicate_fd()}), control_error::bad_memory);
        }
        SUBCASE("an eventfd")
        {
            expect_error(b.feed(memory_msg{4096, new_eventfd()}), control_error::bad_memory);
        }
    }
    CHECK(open_fd_count() == before);
}

TEST_CASE("netback session: queue descriptions")
{
    const auto before = open_fd_count();
    {
        back_fixture b;
        b.through_memory();
        SUBCASE("index at the negotiated count")
        {
            expect_error(b.feed(queue_from(b.plan.queues[0], 2)), control_error::queue_out_of_range);
        }
        SUBCASE("same index twice")
        {
            CHECK(b.feed(queue_from(b.plan.queues[0], 0)).ok());
            expect_error(b.feed(queue_from(b.plan.queues[1], 0)), control_error::duplicate_queue);
        }
        SUBCASE("one event channel where split was negotiated")
        {
            expect_error(b.feed(queue_from(b.plan.queues[0], 0, 1)), control_error::bad_event_channels);
        }
        SUBCASE("an event channel descriptor that is not an eventfd")
        {
            auto q = queue_from(b.plan.queues[0], 0);
            auto other = shared_region::create(4096);
            q.event_fds[3] = other.duplicate_fd();
            expect_error(b.feed(std::move(q)), control_error::bad_event_fd);
        }
        SUBCASE("ring past the end of the region")
        {
            auto p = b.plan.queues[0];
            p.rx_ring_offset = b.plan.bytes;
            expect_error(b.feed(queue_from(p, 0)), control_error::layout_outside_region);
        }
        SUBCASE("grant area past the end of the region")
        {
            auto p = b.plan.queues[1];
            p.rx_grants.pages += 1;
            expect_error(b.feed(queue_from(p, 1)), control_error::layout_outside_region);
        }
        SUBCASE("TX and RX rings on one page")
        {
            auto p = b.plan.queues[0];
            p.rx_ring_offset = p.tx_ring_offset;
            expect_error(b.feed(queue_from(p, 0)), control_error::layout_overlap);
        }
        SUBCASE("ring inside a grant area")
        {
            auto p = b.plan.queues[0];
            p.tx_ring_offset = p.rx_grants.offset + 4096;
            expect_error(b.feed(queue_from(p, 0)), control_error::layout_overlap);
        }
        SUBCASE("queue 1 reusing queue 0's grant area")
        {
            CHECK(b.feed(queue_from(b.plan.queues[0], 0)).ok());
            auto p = b.plan.queues[1];
            p.tx_grants = b.plan.queues[0].tx_grants;
            expect_error(b.feed(queue_from(p, 1)), control_error::layout_overlap);
        }
    }
    CHECK(open_fd_count() == before);
}

TEST_CASE("netback session: an error message from netfront ends the session with its text")
{
    back_fixture b;
    b.through_hello();
    const step s = b.feed(error_msg::make(control_error::queues_above_max, "netfront gives up"));
    CHECK(s.error == control_error::peer_error);
    CHECK(s.detail == "netfront gives up");
    REQUIRE(b.session.peer_error().has_value());
    CHECK(b.session.peer_error()->code == static_cast<std::uint16_t>(control_error::queues_above_max));
    CHECK(b.session.state() == xenbus_state::closed);
}

TEST_CASE("netback offer: out-of-range values are caller mistakes")
{
    CHECK_THROWS_AS(back_session(back_offer{.max_queues = 0}), std::invalid_argument);
    CHECK_THROWS_AS(back_session(back_offer{.max_queues = max_queues + 1}), std::invalid_argument);
    CHECK_THROWS_AS(back_session(back_offer{.mtu = 10}), std::invalid_argument);
}

// ------------------------------------------------------------------ netfront

TEST_CASE("negotiate: netfront gets at most what netback offers")
{
    front_request want{.queues = 8, .mtu = 9000};
    back_offer offer{.gso_tcpv6 = false, .max_queues = 3, .mtu = 4000};
    const negotiation n = negotiate(want, offer.features());
    REQUIRE(n.error == control_error::none);
    CHECK(n.params.sg);
    CHECK(n.params.gso_tcpv4);
    CHECK_FALSE(n.params.gso_tcpv6);
    CHECK(n.params.split_event_channels);
    CHECK(n.params.queues == 3);
    CHECK(n.params.mtu == 4000);
    CHECK(n.params.mac == want.mac);

    back_offer no_sg{.sg = false};
    CHECK(negotiate(want, no_sg.features()).params.mtu == 1500);
    feature_set minimal;
    minimal.rx_copy = true;
    const negotiation m = negotiate(want, minimal);
    CHECK(m.params.queues == 1);
    CHECK_FALSE(m.params.sg);
    CHECK(m.params.mtu == 1500);
}

TEST_CASE("negotiate: netback's features that break the rules")
{
    const front_request want;
    feature_set f = back_offer{}.features();
    SUBCASE("netfront's queue key")
    {
        f.num_queues = 1;
        CHECK(negotiate(want, f).error == control_error::misplaced_feature);
    }
    SUBCASE("netfront's MAC key")
    {
        f.mac = front_mac;
        CHECK(negotiate(want, f).error == control_error::misplaced_feature);
    }
    SUBCASE("no rx-copy")
    {
        f.rx_copy.reset();
        CHECK(negotiate(want, f).error == control_error::rx_copy_required);
    }
    SUBCASE("rx-copy 0")
    {
        f.rx_copy = false;
        CHECK(negotiate(want, f).error == control_error::rx_copy_required);
    }
}

TEST_CASE("netfront session: the handshake from netfront's side")
{
    const auto before = open_fd_count();
    {
        front_session s(front_request{.queues = 2, .mac = front_mac, .mtu = 9000});
        CHECK(type_of(s.hello()) == message_type::hello);
        CHECK(s.on_message(hello_msg{}).ok());
        CHECK(s.on_message(features_msg{back_offer{}.features()}).ok());
        const step ready = s.on_message(state_msg{xenbus_state::init_wait});
        REQUIRE(ready.ok());
        CHECK(ready.ready);
        CHECK(s.params().queues == 2);

        auto plan = xnv::test::plan_region(2);
        auto region = shared_region::create(plan.bytes);
        std::vector<xnv::mem::unique_fd> own;
        for (auto& q : plan.queues)
            for (int k = 0; k < 4; ++k) {
                own.push_back(new_eventfd());
                q.event_fds[k] = own.back().get();
            }
        auto msgs = s.describe(region.fd(), region.size(), plan.queues);
        REQUIRE(msgs.size() == 5);
        const auto& f = std::get<features_msg>(msgs[0]).features;
        CHECK(f.num_queues == 2u);
        CHECK(f.mac == front_mac);
        CHECK(f.rx_copy == true);
        CHECK_FALSE(f.max_queues.has_value());
        const auto& m = std::get<memory_msg>(msgs[1]);
        CHECK(m.bytes == region.size());
        CHECK(m.fd.get() != region.fd()); // a duplicate: the caller keeps its own
        const auto& q1 = std::get<queue_msg>(msgs[3]);
        CHECK(q1.index == 1);
        CHECK(q1.event_channels == 2);
        CHECK(q1.event_fds[0].get() != plan.queues[1].event_fds[0]);
        CHECK(std::get<state_msg>(msgs[4]).state == xenbus_state::initialised);
        CHECK(s.state() == xenbus_state::initialised);

        const step conn = s.on_message(state_msg{xenbus_state::connected});
        CHECK(conn.connected);
        REQUIRE(conn.replies.size() == 1);
        CHECK(std::get<state_msg>(conn.replies[0]).state == xenbus_state::connected);

        const step closing = s.on_message(state_msg{xenbus_state::closing});
        CHECK(closing.closed);
        REQUIRE(closing.replies.size() == 1);
        CHECK(std::get<state_msg>(closing.replies[0]).state == xenbus_state::closed);
    }
    CHECK(open_fd_count() == before);
}

TEST_CASE("netfront session: rejections")
{
    front_session s(front_request{});
    SUBCASE("features before hello")
    {
        expect_error(s.on_message(features_msg{back_offer{}.features()}), control_error::unexpected_message);
    }
    SUBCASE("netback without a common version")
    {
        expect_error(s.on_message(hello_msg{3, 4}), control_error::version_mismatch);
    }
    SUBCASE("init-wait before features")
    {
        CHECK(s.on_message(hello_msg{}).ok());
        expect_error(s.on_message(state_msg{xenbus_state::init_wait}), control_error::unexpected_message);
    }
    SUBCASE("connected before netfront described its queues")
    {
        CHECK(s.on_message(hello_msg{}).ok());
        CHECK(s.on_message(features_msg{back_offer{}.features()}).ok());
        expect_error(s.on_message(state_msg{xenbus_state::connected}), control_error::unexpected_message);
    }
    SUBCASE("memory from netback")
    {
        expect_error(s.on_message(memory_msg{4096, new_eventfd()}), control_error::unexpected_message);
    }
    SUBCASE("netback's features break the rules")
    {
        CHECK(s.on_message(hello_msg{}).ok());
        feature_set f = back_offer{}.features();
        f.num_queues = 2;
        expect_error(s.on_message(features_msg{f}), control_error::misplaced_feature);
    }
    SUBCASE("error message")
    {
        const step e = s.on_message(error_msg::make(control_error::bad_mac, "your MAC"));
        CHECK(e.error == control_error::peer_error);
        CHECK(e.detail == "your MAC");
    }
}

TEST_CASE("netfront session: caller mistakes throw")
{
    CHECK_THROWS_AS(front_session(front_request{.queues = 0}), std::invalid_argument);
    CHECK_THROWS_AS(front_session(front_request{.queues = max_queues + 1}), std::invalid_argument);
    CHECK_THROWS_AS(front_session(front_request{.mtu = 67}), std::invalid_argument);
    CHECK_THROWS_AS(front_session(front_request{.mac = {1, 0, 0, 0, 0, 0}}), std::invalid_argument);
    CHECK_THROWS_AS(front_session(front_request{.mac = {0, 0, 0, 0, 0, 0}}), std::invalid_argument);

    front_session s(front_request{.queues = 2});
    auto plan = xnv::test::plan_region(1);
    CHECK_THROWS_AS(static_cast<void>(s.describe(-1, 4096, plan.queues)), std::logic_error);
    REQUIRE(s.on_message(hello_msg{}).ok());
    REQUIRE(s.on_message(features_msg{back_offer{}.features()}).ok());
    REQUIRE(s.on_message(state_msg{xenbus_state::init_wait}).ready);
    CHECK_THROWS_AS(static_cast<void>(s.describe(-1, 4096, plan.queues)), std::invalid_argument); // 1 plan, 2 queues
}
