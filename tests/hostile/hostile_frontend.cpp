// SPDX-License-Identifier: MIT
// A hostile frontend against netback's data path (docs/security.md): each case runs two
// well-behaved netfronts exchanging test frames through the engine next to a scripted
// frontend that writes its rings and grants by hand. A protocol violation disconnects the
// scripted vif with a reason; a packet the protocol lets netback drop is answered with errors
// and counted; in every case the two others get every frame, in order, intact.

#include "hostile_support.hpp"

#include <string_view>

using namespace hostile;

namespace {

struct slot {
    bool extra = false;
    netif::tx_request req{};
    netif::extra_info ext{};
};

slot data(netif::grant_ref g, std::uint16_t offset, std::uint16_t size, std::uint16_t flags, std::uint16_t id)
{
    slot s;
    s.req = netif::tx_request{g, offset, flags, id, size};
    return s;
}

slot extra(std::uint8_t type, std::uint8_t flags = 0)
{
    slot s;
    s.extra = true;
    s.ext.type = type;
    s.ext.flags = flags;
    return s;
}

slot gso(std::uint16_t mss, std::uint8_t type)
{
    slot s = extra(netif::extra_type::gso);
    s.ext.u.gso.size = mss;
    s.ext.u.gso.type = type;
    return s;
}

struct scenario {
    std::uint64_t n;
    netback_engine nb;
    good_front a;
    good_front b;
    scripted_front h;
    std::uint32_t ida = 0;
    std::uint32_t idb = 0;
    std::uint32_t idh = 0;
    std::uint32_t prod = 0; // the scripted frontend's TX req_prod
    bool hostile_removed = false;
    std::vector<netback_engine::failure> failures;

    explicit scenario(const netback_config& cfg = small_config())
        : n(xnv::test::scaled_count("XNV_TEST_HOSTILE_FRAMES", 2000, 400, 150)), nb(cfg), a(mac_a, mac_b, n),
          b(mac_b, mac_a, n), h(mac_h)
    {
        ida = nb.add_vif(connection_of(*a.vif), "a");
        idb = nb.add_vif(connection_of(*b.vif), "b");
        idh = nb.add_vif(h.connection(), "hostile");
        a.vif->start();
        b.vif->start();
    }
    ~scenario()
    {
        a.vif->stop();
        b.vif->stop();
    }
    scenario(const scenario&) = delete;
    scenario& operator=(const scenario&) = delete;

    void collect()
    {
        for (auto& f : nb.take_failures())
            failures.push_back(std::move(f));
    }

    /// Write `slots` from the current req_prod on; publish them (or `publish` of them) and kick.
    void post(const std::vector<slot>& slots, std::size_t publish = SIZE_MAX)
    {
        for (std::size_t i = 0; i < slots.size(); ++i) {
            const auto at = prod + static_cast<std::uint32_t>(i);
            if (slots[i].extra)
                h.put_extra(at, slots[i].ext);
            else
                h.put_tx(at, slots[i].req);
        }
        prod += static_cast<std::uint32_t>(std::min(publish, slots.size()));
        h.publish_tx(prod);
        h.kick(0);
    }

    /// A one-slot broadcast frame of `len` bytes.
    void post_good(std::uint16_t len, std::uint16_t id)
    {
        const auto f = broadcast_frame(mac_h, len);
        post({data(h.grant_tx(f), 0, len, 0, id)});
    }

    /// Wait until netback answered up to `upto`; the statuses of responses [from, upto).
    std::vector<std::int16_t> answers(std::uint32_t from, std::uint32_t upto)
    {
        REQUIRE(eventually(nb, [&] { return static_cast<std::int32_t>(h.tx_rsp_prod() - upto) >= 0; }));
        std::vector<std::int16_t> s;
        for (std::uint32_t i = from; i != upto; ++i)
            s.push_back(h.tx_rsp(i).status);
        return s;
    }

    /// The scripted vif was disconnected, the reason naming `what`; removed as netback's main
    /// loop removes it.
    void expect_disconnect(std::initializer_list<std::string_view> what)
    {
        REQUIRE(eventually(nb, [&] {
            collect();
            return !failures.empty();
        }));
        REQUIRE(failures.size() == 1);
        CHECK(failures[0].id == idh);
        const std::string& why = failures[0].reason;
        INFO("reason: " << why);
        bool named = false;
        for (auto w : what)
            named = named || why.find(w) != std::string::npos;
        CHECK(named);
        const nb_vif_stats s = nb.remove_vif(idh, why);
        hostile_removed = true;
        CHECK_FALSE(s.live);
        CHECK(s.close_reason == why);
    }

    /// The scripted vif's counters (it must still be connected).
    nb_queue_stats hostile_stats() const
    {
        for (const auto& v : nb.snapshot().vifs)
            if (v.id == idh)
                return v.total();
        FAIL("the scripted vif is no longer connected");
        return {};
    }

    /// Let netback look at the ring for a while; true if it disconnected nobody meanwhile.
    bool still_connected(std::chrono::milliseconds d = std::chrono::milliseconds(100))
    {
        const auto until = std::chrono::steady_clock::now() + d;
        (void)eventually(nb, [&] {
            collect();
            return !failures.empty() || std::chrono::steady_clock::now() > until;
        });
        for (const auto& f : failures)
            MESSAGE("failure of vif " << f.id << ": " << f.reason);
        return failures.empty();
    }

    /// The two well-behaved vifs got every frame, in order and intact, and nothing of theirs
    /// was dropped as malformed or disconnected.
    void expect_full_service()
    {
        const bool done = eventually(nb, [&] { return a.received() >= n && b.received() >= n && a.vif->tx_idle() && b.vif->tx_idle(); });
        INFO("a received " << a.received() << " idle " << a.vif->tx_idle() << ", b received " << b.received() << " idle "
                           << b.vif->tx_idle() << " of " << n);
        REQUIRE(done);
        collect();
        for (const auto& f : failures) {
            INFO("failure of vif " << f.id << ": " << f.reason);
            CHECK(f.id == idh);
        }
        // netback lets go first, as after netfront's orderly close: a netfront that ended its
        // grants under a live vif would be the one breaking the protocol.
        for (auto id : {ida, idb}) {
            const nb_vif_stats st = nb.remove_vif(id, "done");
            CHECK(st.close_reason == "done");
            CHECK(st.total().drops[static_cast<std::size_t>(nb_drop::tx_malformed)] == 0);
        }
        a.vif->stop();
        b.vif->stop();
        for (const good_front* f : {&a, &b}) {
            xnv::test::check_sink_clean(*f, n);
            CHECK_FALSE(f->vif->failed());
        }
    }
};

constexpr std::int16_t ok = netif::status::okay;
constexpr std::int16_t err = netif::status::error;

} // namespace

// ------------------------------------------------------------------ ring indices

TEST_CASE("hostile frontend: req_prod moving backwards disconnects it; the others carry on")
{
    scenario s;
    s.post_good(60, 0);
    CHECK(s.answers(0, 1) == std::vector<std::int16_t>{ok});
    s.h.publish_tx(0); // back below what netback already consumed
    s.h.kick(0);
    s.expect_disconnect({"backwards"});
    s.expect_full_service();
}

TEST_CASE("hostile frontend: req_prod jumping across the 2^32 wrap disconnects it; the others carry on")
{
    scenario s;
    s.post_good(60, 0);
    CHECK(s.answers(0, 1) == std::vector<std::int16_t>{ok});
    // From 1 to 2^32 - 100: read modulo 2^32 that is 101 requests backwards, or 2^32 - 101
    // ahead of a 256-slot ring; either way no frontend can have produced it.
    s.h.publish_tx(0xFFFFFF9Cu);
    s.h.kick(0);
    s.expect_disconnect({"backwards", "beyond"});
    s.expect_full_service();
}

// ------------------------------------------------------------------ double fetch

TEST_CASE("hostile frontend: slots rewritten after publication never reach netback's decisions twice")
{
    // The frontend publishes a valid two-slot packet, then keeps rewriting those slots (sizes
    // beyond the total, offsets past the page, the chain flag, foreign grants) while netback
    // parses them. netback copies each request once (XSA-155): whichever version it read, it
    // answers every slot exactly once, with okay or error, or disconnects with a reason; it
    // never crashes or answers a slot twice, and the others are unaffected.
    scenario s;
    const auto f = broadcast_frame(mac_h, 100);
    const netif::grant_ref g0 = s.h.grant_tx(std::span(f).first(60));
    const netif::grant_ref g1 = s.h.grant_tx(std::span(f).subspan(60));
    const std::uint32_t rounds = 60;
    for (std::uint32_t r = 0; r < rounds && s.failures.empty(); ++r) {
        const std::uint32_t at = s.prod;
        s.post({data(g0, 0, 100, netif::txf::more_data, 0), data(g1, 0, 40, 0, 1)});
        for (std::uint16_t k = 0; k < 64; ++k) {
            s.h.put_tx(at, netif::tx_request{g0, static_cast<std::uint16_t>(k * 64), netif::txf::more_data, 0,
                                             static_cast<std::uint16_t>(100 + k * 61)});
            s.h.put_tx(at + 1, netif::tx_request{static_cast<netif::grant_ref>(k % 2 == 0 ? g1 : 400u + k),
                                                 static_cast<std::uint16_t>(4096 - k), netif::txf::more_data, 1,
                                                 static_cast<std::uint16_t>(k)});
        }
        // Give netback a moment with this packet (a version it read may still be waiting for
        // the rest of a chain, which the next packet's slots then continue).
        (void)s.still_connected(std::chrono::milliseconds(2));
    }
    // Whatever versions netback read, it never answered more than was published, and only
    // with okay or error.
    const std::uint32_t answered = s.h.tx_rsp_prod();
    CHECK(answered - 0u <= s.prod);
    for (std::uint32_t i = answered > 256 ? answered - 256 : 0; i < answered; ++i) {
        const std::int16_t st = s.h.tx_rsp(i).status;
        CHECK((st == ok || st == err || st == netif::status::null));
    }
    if (s.failures.empty()) {
        // End the scenario with a violation so the vif leaves.
        s.h.publish_tx(s.prod + 1000);
        s.h.kick(0);
    }
    s.expect_disconnect({"TX"});
    s.expect_full_service();
}

// ------------------------------------------------------------------ slot chains

TEST_CASE("hostile frontend: 19 slots are dropped with an error per slot, 21 disconnect")
{
    scenario s;
    auto chain = [&](std::uint16_t slots) {
        const auto f = broadcast_frame(mac_h, std::size_t{20} * slots);
        std::vector<slot> v;
        for (std::uint16_t i = 0; i < slots; ++i)
            v.push_back(data(s.h.grant_tx(std::span(f).subspan(std::size_t{20} * i, 20)), 0,
                             i == 0 ? static_cast<std::uint16_t>(20 * slots) : 20,
                             i + 1 < slots ? netif::txf::more_data : 0, i));
        return v;
    };
    s.post(chain(19));
    CHECK(s.answers(0, 19) == std::vector<std::int16_t>(19, err));
    CHECK(s.hostile_stats().drops[static_cast<std::size_t>(nb_drop::tx_malformed)] == 1);
    // Dropped, not disconnected (Linux netback's drop threshold): the next packet is served.
    s.post_good(60, 19);
    CHECK(s.answers(19, 20) == std::vector<std::int16_t>{ok});
    CHECK(s.still_connected());
    s.post(chain(21));
    s.expect_disconnect({"fatal threshold"});
    s.expect_full_service();
}

TEST_CASE("hostile frontend: a chain running past req_prod is held unanswered; one that never ends disconnects")
{
    scenario s;
    const auto f = broadcast_frame(mac_h, 400);
    std::vector<slot> v;
    for (std::uint16_t i = 0; i < 4; ++i)
        v.push_back(data(s.h.grant_tx(std::span(f).subspan(std::size_t{100} * i, 100)), 0, i == 0 ? 400 : 100,
                         i < 3 ? netif::txf::more_data : 0, i));
    s.post(v, 3); // the third slot says more follows, req_prod stops there
    CHECK(s.still_connected());
    CHECK(s.h.tx_rsp_prod() == 0);
    s.h.publish_tx(++s.prod);
    s.h.kick(0);
    CHECK(s.answers(0, 4) == std::vector<std::int16_t>(4, ok));

    // A chain published a few slots at a time that never ends: cut off at the fatal threshold.
    const auto g = s.h.grant_tx(broadcast_frame(mac_h, 100));
    for (std::uint16_t i = 0; i < 24 && s.failures.empty(); ++i) {
        s.post({data(g, 0, 100, netif::txf::more_data, static_cast<std::uint16_t>(4 + i))});
        (void)s.still_connected(std::chrono::milliseconds(5));
    }
    s.expect_disconnect({"fatal threshold"});
    CHECK(s.h.tx_rsp_prod() == 4);
    s.expect_full_service();
}

TEST_CASE("hostile frontend: a slot crossing its page disconnects it")
{
    scenario s;
    const auto f = broadcast_frame(mac_h, 200);
    s.post({data(s.h.grant_tx(f, 3996), 3996, 200, 0, 0)});
    s.expect_disconnect({"crosses its page"});
    s.expect_full_service();
}

TEST_CASE("hostile frontend: a slot whose offset and length run past the grant's sub-page window disconnects it")
{
    scenario s;
    const auto f = broadcast_frame(mac_h, 200);
    const auto page = s.h.txg->try_allocate_page();
    REQUIRE(page.has_value());
    std::memcpy(s.h.txg->page(*page).data(), f.data(), f.size());
    const auto g = s.h.txg->try_grant(backend_domain, *page, mem::grant_access::read_only, 0, 64);
    REQUIRE(g.ok());
    s.post({data(g.ref, 0, 200, 0, 0)}); // 200 bytes through a 64-byte window
    s.expect_disconnect({"grant copy failed"});
    CHECK(s.answers(0, 1) == std::vector<std::int16_t>{err});
    s.expect_full_service();
}

TEST_CASE("hostile frontend: a first slot shorter than an Ethernet header is dropped with an error")
{
    scenario s;
    const auto f = broadcast_frame(mac_h, 10);
    s.post({data(s.h.grant_tx(f), 0, 10, 0, 0)});
    CHECK(s.answers(0, 1) == std::vector<std::int16_t>{err});
    CHECK(s.hostile_stats().drops[static_cast<std::size_t>(nb_drop::tx_malformed)] == 1);
    CHECK(s.still_connected());
    s.expect_full_service();
}

TEST_CASE("hostile frontend: a zero-length fragment drops its packet with an error per slot")
{
    scenario s;
    const auto f = broadcast_frame(mac_h, 60);
    const auto g = s.h.grant_tx(f);
    s.post({data(g, 0, 60, netif::txf::more_data, 0), data(g, 0, 0, netif::txf::more_data, 1), data(g, 0, 0, 0, 2)});
    CHECK(s.answers(0, 3) == std::vector<std::int16_t>(3, err));
    CHECK(s.hostile_stats().drops[static_cast<std::size_t>(nb_drop::tx_malformed)] == 1);
    CHECK(s.still_connected());
    s.expect_full_service();
}

TEST_CASE("hostile frontend: a fragment larger than the packet's total drops it with an error per slot")
{
    scenario s;
    const auto f = broadcast_frame(mac_h, 300);
    const auto g = s.h.grant_tx(f);
    s.post({data(g, 0, 100, netif::txf::more_data, 0), data(g, 0, 300, 0, 1)});
    CHECK(s.answers(0, 2) == std::vector<std::int16_t>(2, err));
    CHECK(s.hostile_stats().drops[static_cast<std::size_t>(nb_drop::tx_malformed)] == 1);
    CHECK(s.still_connected());
    s.expect_full_service();
}

TEST_CASE("hostile frontend: headers split into 1-byte slots are accepted and forwarded")
{
    scenario s;
    const auto f = broadcast_frame(mac_h, 31);
    std::vector<slot> v{data(s.h.grant_tx(std::span(f).first(14)), 0, 31, netif::txf::more_data, 0)};
    for (std::uint16_t i = 0; i < 17; ++i)
        v.push_back(data(s.h.grant_tx(std::span(f).subspan(14 + i, 1)), 0, 1, i < 16 ? netif::txf::more_data : 0,
                         static_cast<std::uint16_t>(1 + i)));
    s.post(v);
    CHECK(s.answers(0, 18) == std::vector<std::int16_t>(18, ok));
    const nb_queue_stats t = s.hostile_stats();
    CHECK(t.tx_packets == 1);
    CHECK(t.tx_bytes == 31);
    CHECK(t.tx_multislot == 1);
    CHECK(t.drops[static_cast<std::size_t>(nb_drop::tx_malformed)] == 0);
    CHECK(s.still_connected());
    s.expect_full_service();
}

// ------------------------------------------------------------------ extra-info

TEST_CASE("hostile frontend: a missing extra-info slot is waited for; an unknown type then disconnects")
{
    scenario s;
    const auto f = broadcast_frame(mac_h, 60);
    s.post({data(s.h.grant_tx(f), 0, 60, netif::txf::extra_info, 0), extra(0)}, 1);
    CHECK(s.still_connected());
    CHECK(s.h.tx_rsp_prod() == 0);
    s.h.publish_tx(++s.prod); // the extra-info slot, of type 0
    s.h.kick(0);
    s.expect_disconnect({"unknown extra-info type"});
    s.expect_full_service();
}

TEST_CASE("hostile frontend: an extra-info slot of an unknown type disconnects it")
{
    scenario s;
    const auto f = broadcast_frame(mac_h, 60);
    s.post({data(s.h.grant_tx(f), 0, 60, netif::txf::extra_info, 0), extra(netif::extra_type::max)});
    s.expect_disconnect({"unknown extra-info type"});
    s.expect_full_service();
}

TEST_CASE("hostile frontend: a GSO extra-info slot with size 0 disconnects it")
{
    scenario s;
    const auto f = broadcast_frame(mac_h, 60);
    s.post({data(s.h.grant_tx(f), 0, 60, netif::txf::extra_info, 0), gso(0, netif::gso_type::tcpv4)});
    s.expect_disconnect({"GSO size 0"});
    s.expect_full_service();
}

TEST_CASE("hostile frontend: a GSO extra-info slot of an unknown GSO type disconnects it")
{
    scenario s;
    const auto f = broadcast_frame(mac_h, 60);
    s.post({data(s.h.grant_tx(f), 0, 60, netif::txf::extra_info, 0), gso(1460, 7)});
    s.expect_disconnect({"unknown GSO type"});
    s.expect_full_service();
}

// ------------------------------------------------------------------ grants

TEST_CASE("hostile frontend: an invalid grant in the middle of a packet fails every slot and disconnects it")
{
    netif::grant_ref bad = 0;
    SUBCASE("a reference in the table, never granted") { bad = 500; }
    SUBCASE("a reference beyond the table") { bad = 100000; }
    scenario s;
    const auto f = broadcast_frame(mac_h, 300);
    s.post({data(s.h.grant_tx(std::span(f).first(100)), 0, 300, netif::txf::more_data, 0),
            data(bad, 0, 100, netif::txf::more_data, 1),
            data(s.h.grant_tx(std::span(f).subspan(200)), 0, 100, 0, 2)});
    s.expect_disconnect({"grant copy failed"});
    CHECK(s.answers(0, 3) == std::vector<std::int16_t>(3, err));
    s.expect_full_service();
}

TEST_CASE("hostile frontend: RX buffers granted read-only disconnect it when netback has to write them")
{
    scenario s;
    // Post read-only buffers; the others' broadcast announcements flood to this vif.
    for (std::uint16_t i = 0; i < 8; ++i)
        s.h.put_rx(i, netif::rx_request{i, 0, s.h.grant_rx(mem::grant_access::read_only)});
    s.h.publish_rx(8);
    s.h.kick(1);
    s.expect_disconnect({"RX grant copy failed"});
    s.expect_full_service();
}

// ------------------------------------------------------------------ RX starvation

TEST_CASE("hostile frontend: no RX buffers, or always one fewer than a frame needs: the cap and expiry act")
{
    std::uint16_t posted = 0; // 9000-byte frames need 3 buffers
    SUBCASE("no buffer posted") { posted = 0; }
    SUBCASE("two buffers posted, one fewer than each frame needs") { posted = 2; }
    netback_config cfg = small_config();
    cfg.rx_expire = std::chrono::milliseconds(100);
    scenario s(cfg);
    // One broadcast frame from the starving vif: the switch learns where it is, so what is sent
    // to it goes there alone.
    s.post_good(60, 0);
    CHECK(s.answers(0, 1) == std::vector<std::int16_t>{ok});
    for (std::uint16_t i = 0; i < posted; ++i)
        s.h.put_rx(i, netif::rx_request{i, 0, s.h.grant_rx(mem::grant_access::read_write)});
    s.h.publish_rx(posted);
    s.h.kick(1);
    // A third guest sends 9000-byte frames to the starving one without waiting for it.
    const std::uint64_t to_starving = xnv::test::scaled_count("XNV_TEST_HOSTILE_STARVED", 200, 100, 60);
    good_front c(mac_c, mac_h, to_starving, {.wait_peer = false, .size_min = 9000, .size_max = 9000});
    const auto idc = s.nb.add_vif(connection_of(*c.vif), "c");
    c.vif->start();
    bool over_cap = false;
    REQUIRE(eventually(s.nb, [&] {
        for (const auto& v : s.nb.snapshot().vifs)
            for (const auto& q : v.queues)
                over_cap = over_cap || q.backlog_bytes > cfg.rx_queue_bytes;
        return c.vif->tx_idle();
    }));
    c.vif->stop();
    CHECK_FALSE(over_cap);
    const nb_vif_stats sc = s.nb.remove_vif(idc, "done");
    CHECK(sc.total().tx_packets >= to_starving); // the sender was never stalled for good
    REQUIRE(eventually(s.nb, [&] { return s.hostile_stats().drops[static_cast<std::size_t>(nb_drop::rx_expired)] > 0; }));
    const nb_queue_stats t = s.hostile_stats();
    // Only what fits the posted buffers whole was delivered (the others' one-slot broadcast
    // announcements); no frame was half-written into too few buffers.
    CHECK(t.rx_packets <= posted);
    CHECK(t.rx_bytes < std::uint64_t{posted} * 9000 / 3 + 1);
    CHECK(s.h.rx_rsp_prod() == t.rx_packets);
    CHECK(s.still_connected());
    s.expect_full_service();
}

// ------------------------------------------------------------------ event storm

TEST_CASE("hostile frontend: an event storm with no work costs the others nothing and is no violation")
{
    scenario s;
    const std::uint64_t one = 1;
    std::uint64_t written = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    while (std::chrono::steady_clock::now() < until) {
        for (int k = 0; k < 64; ++k)
            for (std::size_t ch = 0; ch < 2; ++ch)
                if (::write(s.h.efd[ch * 2].get(), &one, sizeof one) == sizeof one)
                    ++written;
        s.nb.tick();
    }
    CHECK(written > 0);
    CHECK(s.hostile_stats().kicks > 0);
    CHECK(s.hostile_stats().tx_packets == 0);
    CHECK(s.h.tx_rsp_prod() == 0);
    CHECK(s.still_connected());
    s.expect_full_service();
}
