// SPDX-License-Identifier: MIT
// A hostile backend against netfront (docs/security.md): a netfront vif is started with its
// generator, and the test plays netback by writing its response rings by hand. A response that
// breaks the protocol stops the netfront with a reason, or (where the protocol lets a frontend
// drop a packet) costs one dropped packet whose buffer is posted again; after `stop()` every
// grant the netfront made has been ended, whatever the backend wrote.

#include "hostile_support.hpp"

using namespace hostile;

namespace {

struct scripted_back {
    std::unique_ptr<netfront_vif> vif;
    control::front_layout plan;
    mem::shared_region region;

    explicit scripted_back(std::uint64_t count)
    {
        generator_config g;
        g.mac = mac_a;
        g.peer = mac_b;
        g.count = count;
        g.size_min = g.size_max = 60;
        g.dist = size_dist::fixed;
        std::vector<std::unique_ptr<frame_port>> p;
        p.push_back(std::make_unique<traffic_port>(g, 0, 1));
        vif = std::make_unique<netfront_vif>(params_for(mac_a), netfront_config{}, std::move(p));
        plan = vif->plan();
        mem::map_options mo;
        mo.expected_bytes = plan.memory_bytes;
        mem::map_result m = mem::shared_region::try_map(dup_fd(plan.memory_fd), mo);
        REQUIRE(m.ok());
        region = std::move(m.region);
    }
    ~scripted_back() { vif->stop(); }
    scripted_back(const scripted_back&) = delete;
    scripted_back& operator=(const scripted_back&) = delete;

    [[nodiscard]] std::byte* ring(bool tx) const
    {
        return region.data() + (tx ? plan.queues[0].tx_ring_offset : plan.queues[0].rx_ring_offset);
    }
    // Acquire pairs with netfront's release of req_prod: the requests below it are readable.
    [[nodiscard]] std::uint32_t req_prod(bool tx) const
    {
        return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(ring(tx) + L::req_prod_offset))
            .load(std::memory_order_acquire);
    }
    [[nodiscard]] netif::tx_request tx_req(std::uint32_t i) const
    {
        netif::tx_request r{};
        std::memcpy(&r, ring(true) + L::header_bytes + (i % ring_slots) * tx_slot_bytes, sizeof r);
        return r;
    }
    [[nodiscard]] netif::rx_request rx_req(std::uint32_t i) const
    {
        netif::rx_request r{};
        std::memcpy(&r, ring(false) + L::header_bytes + (i % ring_slots) * rx_slot_bytes, sizeof r);
        return r;
    }
    void put_tx_rsp(std::uint32_t i, netif::tx_response r) const
    {
        std::memcpy(ring(true) + L::header_bytes + (i % ring_slots) * tx_slot_bytes, &r, sizeof r);
    }
    void put_rx_rsp(std::uint32_t i, netif::rx_response r) const
    {
        std::memcpy(ring(false) + L::header_bytes + (i % ring_slots) * rx_slot_bytes, &r, sizeof r);
    }
    // Release pairs with netfront's acquire of rsp_prod: the responses written above are
    // visible once the index is.
    void publish(bool tx, std::uint32_t prod) const
    {
        std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(ring(tx) + L::rsp_prod_offset))
            .store(prod, std::memory_order_release);
        const std::uint64_t one = 1;
        REQUIRE(::write(plan.queues[0].event_fds[tx ? 1 : 3], &one, sizeof one) == sizeof one);
    }

    /// Wait for `p` (netfront's threads run on their own).
    template <class Pred>
    static bool wait(Pred p, std::chrono::seconds limit = std::chrono::seconds(20))
    {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!p()) {
            if (std::chrono::steady_clock::now() > deadline)
                return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return true;
    }

    /// Stop the netfront; every grant entry of both areas must have been ended.
    void expect_every_grant_ended()
    {
        vif->stop();
        for (const control::grant_area& a : {plan.queues[0].tx_grants, plan.queues[0].rx_grants}) {
            std::uint32_t still = 0;
            for (std::uint32_t r = 0; r < a.refs; ++r) {
                const std::uint32_t h = std::atomic_ref<std::uint32_t>(
                                            *reinterpret_cast<std::uint32_t*>(region.data() + a.offset + std::size_t{r} * 16))
                                            .load(std::memory_order_acquire);
                if ((mem::header_flags(h) & mem::gtf::permit_access) != 0)
                    ++still;
            }
            CHECK(still == 0);
        }
    }

    [[nodiscard]] nf_queue_stats stats() const { return vif->stats()[0]; }
};

constexpr std::uint32_t frames = 16;

} // namespace

TEST_CASE("hostile backend: TX responses with bad ids or indices stop netfront, which then ends every grant")
{
    scripted_back s(frames);
    s.vif->start();
    REQUIRE(scripted_back::wait([&] { return s.req_prod(true) >= 2; }));
    const netif::tx_request r0 = s.tx_req(0);
    std::uint32_t rsp_prod = 1;
    std::string expected;
    SUBCASE("an id beyond the ring")
    {
        s.put_tx_rsp(0, netif::tx_response{300, netif::status::okay});
        expected = "id";
    }
    SUBCASE("an id answered twice")
    {
        s.put_tx_rsp(0, netif::tx_response{r0.id, netif::status::okay});
        s.put_tx_rsp(1, netif::tx_response{r0.id, netif::status::okay});
        rsp_prod = 2;
        expected = "response";
    }
    SUBCASE("an id never requested")
    {
        s.put_tx_rsp(0, netif::tx_response{200, netif::status::okay});
        expected = "response";
    }
    SUBCASE("a status no backend writes")
    {
        s.put_tx_rsp(0, netif::tx_response{r0.id, 77});
        expected = "status";
    }
    SUBCASE("rsp_prod beyond the requests published")
    {
        rsp_prod = s.req_prod(true) + 5;
        expected = "rsp_prod";
    }
    s.publish(true, rsp_prod);
    REQUIRE(scripted_back::wait([&] { return s.vif->failed(); }));
    const std::string why = s.vif->failure();
    INFO("reason: " << why);
    CHECK(why.find("netback sent a bad TX response") != std::string::npos);
    CHECK(why.find(expected) != std::string::npos);
    s.expect_every_grant_ended();
}

TEST_CASE("hostile backend: a bad RX response costs one dropped packet and its buffer is posted again")
{
    scripted_back s(0);
    s.vif->start();
    REQUIRE(scripted_back::wait([&] { return s.req_prod(false) >= ring_slots; }));
    const std::uint32_t posted = s.req_prod(false);
    const netif::rx_request b0 = s.rx_req(0);
    netif::rx_response bad{b0.id, 0, 0, 60};
    SUBCASE("offset + size beyond the page") { bad.offset = 4000; bad.status = 200; }
    SUBCASE("a size beyond the page") { bad.status = 5000; }
    SUBCASE("an error status") { bad.status = netif::status::error; }
    SUBCASE("an empty packet") { bad.status = 0; }
    SUBCASE("an id beyond the ring") { bad.id = 999; }
    SUBCASE("an id of a buffer posted elsewhere") { bad.id = s.rx_req(7).id; }
    s.put_rx_rsp(0, bad);
    s.publish(false, 1);
    REQUIRE(scripted_back::wait([&] { return s.stats().rx_drops == 1 && s.req_prod(false) == posted + 1; }));
    CHECK_FALSE(s.vif->failed());
    CHECK(s.stats().rx_packets == 0);
    s.expect_every_grant_ended();
}

TEST_CASE("hostile backend: RX rsp_prod beyond the buffers posted stops netfront, which then ends every grant")
{
    scripted_back s(0);
    s.vif->start();
    REQUIRE(scripted_back::wait([&] { return s.req_prod(false) >= ring_slots; }));
    s.publish(false, s.req_prod(false) + 3);
    REQUIRE(scripted_back::wait([&] { return s.vif->failed(); }));
    INFO("reason: " << s.vif->failure());
    CHECK(s.vif->failure().find("netback broke the RX ring") != std::string::npos);
    s.expect_every_grant_ended();
}

TEST_CASE("hostile backend: an event storm with nothing published changes nothing")
{
    scripted_back s(frames);
    s.vif->start();
    REQUIRE(scripted_back::wait([&] { return s.req_prod(true) >= 1; }));
    const std::uint64_t one = 1;
    for (int k = 0; k < 20000; ++k)
        for (std::size_t fd : {1u, 3u})
            (void)::write(s.plan.queues[0].event_fds[fd], &one, sizeof one);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK_FALSE(s.vif->failed());
    const nf_queue_stats st = s.stats();
    CHECK(st.rx_packets == 0);
    CHECK(st.rx_drops == 0);
    CHECK(s.req_prod(false) == ring_slots); // nothing consumed, nothing reposted
    s.expect_every_grant_ended();
}

TEST_CASE("a backend that dies holding a pin: release_ports hands the ports back, the pinned grant is counted, "
          "every other grant is ended")
{
    scripted_back s(frames);
    s.vif->start();
    // The RX buffers are posted at once; a backend pins the first one (as netback does for the
    // length of a grant copy) and never lets go: a killed process leaves its pin in the entry.
    REQUIRE(scripted_back::wait([&] { return s.req_prod(false) > 0 && s.req_prod(true) > 0; }));
    const control::grant_area& rx = s.plan.queues[0].rx_grants;
    mem::grant_copier copier(std::span<std::byte>(s.region.data() + rx.offset, rx.bytes()), geometry_of(rx),
                             backend_domain);
    mem::grant_mapping pin = copier.try_map(s.rx_req(0).gref, mem::grant_access::read_write);
    REQUIRE(pin.ok());

    frame_port* const before = &s.vif->port(0);
    std::vector<std::unique_ptr<frame_port>> ports = s.vif->release_ports();
    REQUIRE(ports.size() == 1);
    CHECK(ports[0].get() == before);
    CHECK(s.vif->grants_held() == 1);
    // Every grant but the pinned one was ended.
    std::uint32_t still = 0;
    for (const control::grant_area& a : {s.plan.queues[0].tx_grants, rx})
        for (std::uint32_t r = 0; r < a.refs; ++r) {
            const std::uint32_t h = std::atomic_ref<std::uint32_t>(
                                        *reinterpret_cast<std::uint32_t*>(s.region.data() + a.offset + std::size_t{r} * 16))
                                        .load(std::memory_order_acquire);
            still += (mem::header_flags(h) & mem::gtf::permit_access) != 0 ? 1u : 0u;
        }
    CHECK(still == 1);
    // A fresh vif carries on with the same port (netfront's reconnect).
    netfront_vif next(params_for(mac_a), netfront_config{}, std::move(ports));
    CHECK(&next.port(0) == before);
    CHECK(next.grants_held() == 0);
}
