// SPDX-License-Identifier: MIT
// The reference programs' helpers: MAC and CPU-list parsing, policy names, the run-time
// coalescing policy, the vif memory layout, and the generator and sink (traffic_port).

#include "netfront_engine.hpp"
#include "ref_format.hpp"
#include "ref_layout.hpp"
#include "ref_policy.hpp"
#include "ref_program.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

using namespace xnv::example;

namespace {

std::string what_of(auto&& f)
{
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return {};
}

constexpr mac_bytes mac_a{0x02, 0, 0, 0, 0, 0x0a};
constexpr mac_bytes mac_b{0x02, 0, 0, 0, 0, 0x0b};

generator_config gen_cfg()
{
    generator_config g;
    g.mac = mac_a;
    g.peer = mac_b;
    return g;
}

// Pull frames from a generator until it has produced `n` test frames (announcements skipped).
std::vector<std::vector<std::byte>> pull(traffic_port& p, std::size_t n, std::vector<frame_meta>* metas = nullptr)
{
    std::vector<std::vector<std::byte>> frames;
    std::vector<std::byte> buf(65536);
    xnv::nanos now{1'000'000'000};
    for (int guard = 0; frames.size() < n && guard < 1000000; ++guard) {
        if (p.next_due(now) > now) {
            now += std::chrono::milliseconds(1);
            continue;
        }
        frame_meta m;
        const std::size_t len = p.next_frame(buf, m, now);
        if (len == 0)
            break;
        const std::uint16_t type = static_cast<std::uint16_t>(std::to_integer<unsigned>(buf[12]) << 8 |
                                                              std::to_integer<unsigned>(buf[13]));
        if (type == 0x88B6)
            continue; // the announcement
        frames.emplace_back(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
        if (metas != nullptr)
            metas->push_back(m);
    }
    return frames;
}

} // namespace

TEST_CASE("mac: parsed in either case, formatted in lower case")
{
    CHECK(parse_mac("02:AB:cd:00:ff:10") == mac_bytes{0x02, 0xab, 0xcd, 0x00, 0xff, 0x10});
    CHECK(format_mac(mac_bytes{0x02, 0xab, 0xcd, 0x00, 0xff, 0x10}) == "02:ab:cd:00:ff:10");
}

TEST_CASE("mac: wrong length, bad digits and bad separators are errors naming the input")
{
    for (const char* bad : {"", "02:00:00:00:00", "02:00:00:00:00:0g", "02-00-00-00-00-01", "02:00:00:00:00:001"}) {
        CAPTURE(bad);
        const std::string w = what_of([&] { (void)parse_mac(bad); });
        CHECK(w.find("six hex pairs") != std::string::npos);
        CHECK(w.find(std::string("'") + bad + "'") != std::string::npos);
    }
}

TEST_CASE("cpu list: numbers separated by commas, anything else an error")
{
    CHECK(parse_cpu_list("0") == std::vector<unsigned>{0});
    CHECK(parse_cpu_list("3,1,2") == std::vector<unsigned>{3, 1, 2});
    for (const char* bad : {"", ",", "0,", ",1", "a", "0,,1", "-1", "1 2", "99999"}) {
        CAPTURE(bad);
        CHECK(what_of([&] { (void)parse_cpu_list(bad); }).find("CPU list") != std::string::npos);
    }
}

TEST_CASE("policy names: every listed name parses back, others are errors")
{
    for (const auto& n : coalesce_names())
        CHECK(to_string(parse_coalesce(n)) == n);
    for (const auto& n : dispatch_names())
        CHECK(to_string(parse_dispatch(n)) == n);
    CHECK(what_of([] { (void)parse_coalesce("sometimes"); }).find("sometimes") != std::string::npos);
    CHECK(what_of([] { (void)parse_dispatch("fastest"); }).find("fastest") != std::string::npos);
}

TEST_CASE("runtime policy: behaves as the policy chosen")
{
    using xnv::notify::publication;
    const xnv::nanos t0{0};
    runtime_policy always(coalesce_settings{coalesce_choice::always});
    CHECK(always.chosen() == "always");
    CHECK(always.on_publish(publication{1, 0, false}, t0));
    runtime_policy idx(coalesce_settings{coalesce_choice::event_idx});
    CHECK(idx.chosen() == "event_idx");
    CHECK_FALSE(idx.on_publish(publication{1, 0, false}, t0));
    CHECK(idx.on_publish(publication{1, 0, true}, t0));
    runtime_policy fu(coalesce_settings{coalesce_choice::frames_usecs, 4, std::chrono::microseconds(10)});
    CHECK(fu.chosen() == "frames_usecs");
    CHECK_FALSE(fu.on_publish(publication{1, 0, true}, t0));
    CHECK(fu.next_deadline() == xnv::nanos(std::chrono::microseconds(10)));
    CHECK(fu.on_timer(xnv::nanos(std::chrono::microseconds(10))));
    runtime_policy ad(coalesce_settings{coalesce_choice::adaptive});
    CHECK(ad.chosen() == "adaptive");
}

TEST_CASE("runtime policy: settings the chosen policy rejects are errors")
{
    CHECK_THROWS_AS(runtime_policy(coalesce_settings{coalesce_choice::frames_usecs, 0, std::chrono::microseconds(0)}),
                    std::invalid_argument);
}

TEST_CASE("vif layout: page-aligned parts, no overlap, sized for the queues")
{
    for (std::uint32_t queues : {1u, 2u, 16u}) {
        const vif_layout l = make_vif_layout(queues);
        REQUIRE(l.queues.size() == queues);
        std::vector<std::pair<std::uint64_t, std::uint64_t>> parts;
        for (const auto& q : l.queues) {
            parts.emplace_back(q.tx_ring_offset, ring_bytes);
            parts.emplace_back(q.rx_ring_offset, ring_bytes);
            parts.emplace_back(q.tx_grants.offset, q.tx_grants.bytes());
            parts.emplace_back(q.rx_grants.offset, q.rx_grants.bytes());
            CHECK(q.tx_grants.pages >= 256); // a page per TX ring slot
            CHECK(q.rx_grants.pages >= 256); // a page per RX ring slot
        }
        std::sort(parts.begin(), parts.end());
        for (std::size_t i = 0; i < parts.size(); ++i) {
            CHECK(parts[i].first % 4096 == 0);
            if (i + 1 < parts.size())
                CHECK(parts[i].first + parts[i].second <= parts[i + 1].first);
        }
        CHECK(parts.back().first + parts.back().second == l.bytes);
    }
}

TEST_CASE("vif layout: zero queues or more than the control channel allows are errors")
{
    CHECK(what_of([] { (void)make_vif_layout(0); }).find("1..16") != std::string::npos);
    CHECK(what_of([] { (void)make_vif_layout(17); }).find("got 17") != std::string::npos);
}

TEST_CASE("generator: queue 0 announces the vif first with a broadcast frame")
{
    traffic_port p(gen_cfg(), 0, 1);
    std::vector<std::byte> buf(65536);
    frame_meta m;
    const xnv::nanos now{5};
    REQUIRE(p.next_due(now) <= now);
    const std::size_t len = p.next_frame(buf, m, now);
    REQUIRE(len == 60);
    for (int i = 0; i < 6; ++i)
        CHECK(buf[static_cast<std::size_t>(i)] == std::byte{0xFF});
    CHECK(std::memcmp(buf.data() + 6, mac_a.data(), 6) == 0);
    CHECK(p.generated() == 0);
}

TEST_CASE("generator: fixed, uniform and log-uniform sizes stay in range and follow their shape")
{
    generator_config g = gen_cfg();
    g.size_min = 38;
    g.size_max = 65535;
    SUBCASE("uniform")
    {
        g.dist = size_dist::uniform;
        traffic_port p(g, 0, 1);
        double sum = 0;
        for (int i = 0; i < 20000; ++i) {
            const std::uint32_t s = p.draw_size();
            REQUIRE(s >= 38);
            REQUIRE(s <= 65535);
            sum += s;
        }
        CHECK(std::abs(sum / 20000 - (38 + 65535) / 2.0) < 1000);
    }
    SUBCASE("log-uniform: every doubling about equally likely")
    {
        g.dist = size_dist::log_uniform;
        traffic_port p(g, 0, 1);
        int below_1500 = 0;
        std::uint32_t lo = 65535, hi = 0;
        for (int i = 0; i < 20000; ++i) {
            const std::uint32_t s = p.draw_size();
            REQUIRE(s >= 38);
            REQUIRE(s <= 65535);
            lo = std::min(lo, s);
            hi = std::max(hi, s);
            below_1500 += s < 1500 ? 1 : 0;
        }
        // ln(1500/38) / ln(65536/38) = 0.49 of the draws.
        CHECK(below_1500 > 9000);
        CHECK(below_1500 < 10600);
        CHECK(lo < 45);
        CHECK(hi > 60000);
    }
    SUBCASE("fixed")
    {
        g.dist = size_dist::fixed;
        g.size_min = g.size_max = 1514;
        traffic_port p(g, 0, 1);
        for (auto& f : pull(p, 10))
            CHECK(f.size() == 1514);
    }
}

TEST_CASE("generator: the count is split over the queues and then it is done")
{
    generator_config g = gen_cfg();
    g.count = 10;
    std::size_t total = 0;
    for (std::uint32_t q = 0; q < 3; ++q) {
        traffic_port p(g, q, 3);
        const auto frames = pull(p, 100);
        CHECK(frames.size() == (q == 0 ? 4u : 3u));
        CHECK(p.tx_done());
        total += frames.size();
    }
    CHECK(total == 10);
}

TEST_CASE("generator: with a peer to wait for, only announcements until a frame from it arrives")
{
    generator_config g = gen_cfg();
    g.peer_seen = std::make_shared<std::atomic<bool>>(false);
    traffic_port p(g, 0, 1);
    std::vector<std::byte> buf(65536);
    frame_meta m;
    xnv::nanos now{1'000'000};
    CHECK(p.next_frame(buf, m, now) == 60); // the announcement
    CHECK(p.next_due(now) > now);           // the next one, 100 ms later: no test frame meanwhile
    CHECK(p.next_frame(buf, m, now) == 0);
    // A frame from the peer arrives.
    std::vector<std::byte> from_peer(60);
    std::memcpy(from_peer.data(), mac_a.data(), 6);
    std::memcpy(from_peer.data() + 6, mac_b.data(), 6);
    p.deliver(from_peer, frame_meta{});
    CHECK(g.peer_seen->load());
    CHECK(p.next_due(now) <= now);
    CHECK(p.next_frame(buf, m, now) > 60);
    CHECK(p.generated() == 1);
}

TEST_CASE("sink: frames from another generator check out per flow; foreign, misaddressed and damaged ones are counted apart")
{
    generator_config ga = gen_cfg();
    ga.size_min = 60;
    ga.size_max = 3000;
    ga.dist = size_dist::uniform;
    traffic_port a(ga, 2, 4);
    generator_config gb = gen_cfg();
    gb.mac = mac_b;
    gb.peer = mac_a;
    traffic_port b(gb, 0, 1);
    auto frames = pull(a, 50);
    REQUIRE(frames.size() == 50);
    for (auto& f : frames)
        b.deliver(f, frame_meta{});
    // A misaddressed copy, a foreign frame and a damaged one.
    auto wrong = frames[0];
    wrong[5] = std::byte{0x77};
    b.deliver(wrong, frame_meta{});
    auto foreign = frames[1];
    foreign[12] = std::byte{0x08};
    foreign[13] = std::byte{0x06};
    b.deliver(foreign, frame_meta{});
    auto damaged = frames[2];
    damaged[100 % damaged.size()] ^= std::byte{1};
    b.deliver(damaged, frame_meta{});
    const sink_stats s = b.stats();
    CHECK(s.records == 50);
    CHECK(s.not_mine == 1);
    CHECK(s.other == 1);
    CHECK(s.corrupted + s.truncated == 1);
    CHECK(s.lost == 0);
    CHECK(s.duplicated == 0);
    const auto flows = b.flows();
    REQUIRE(flows.size() == 1);
    CHECK(flows[0].src == mac_a);
    CHECK(flows[0].flow == 2);
    CHECK(flows[0].received == 50);
    CHECK(flows[0].next_expected == 50);
}

TEST_CASE("sink: a gap is loss, a late frame reordering, a repeat duplication")
{
    traffic_port a(gen_cfg(), 0, 1);
    generator_config gb = gen_cfg();
    gb.mac = mac_b;
    traffic_port b(gb, 0, 1);
    auto frames = pull(a, 6);
    for (int i : {0, 1, 3, 5, 2, 5})
        b.deliver(frames[static_cast<std::size_t>(i)], frame_meta{});
    const sink_stats s = b.stats();
    CHECK(s.records == 6);
    CHECK(s.lost == 1); // frame 4 never came
    CHECK(s.reordered == 1);
    CHECK(s.duplicated == 1);
}

TEST_CASE("generator: TCP framing carries records the sink reads back, GSO above the MTU, LRO-merged too")
{
    generator_config ga = gen_cfg();
    ga.proto = gen_proto::tcp;
    ga.mtu = 1500;
    ga.gso = true;
    ga.size_min = 78;
    ga.size_max = 9000;
    ga.dist = size_dist::uniform;
    traffic_port a(ga, 1, 2);
    generator_config gb = gen_cfg();
    gb.mac = mac_b;
    traffic_port b(gb, 0, 1);
    std::vector<frame_meta> metas;
    auto frames = pull(a, 200, &metas);
    REQUIRE(frames.size() == 200);
    std::size_t gso = 0;
    for (std::size_t i = 0; i < frames.size(); ++i) {
        const bool big = frames[i].size() > 1514;
        CHECK(metas[i].gso.present() == big);
        if (big) {
            CHECK(metas[i].gso.type == xnv::netif::gso_type::tcpv4);
            CHECK(metas[i].gso.size == 1460);
        }
        gso += big ? 1 : 0;
        b.deliver(frames[i], frame_meta{});
    }
    CHECK(gso > 100);
    CHECK(b.stats().records == 200);
    CHECK(b.stats().lost == 0);

    // Fixed-size segments merged by netfront's LRO: one frame, several records.
    generator_config gc = ga;
    gc.size_min = gc.size_max = 1514;
    gc.dist = size_dist::fixed;
    traffic_port c(gc, 0, 1);
    traffic_port d(gb, 0, 1);
    lro_engine lro;
    std::size_t merged_frames = 0;
    for (auto& f : pull(c, 40))
        lro.receive(f, true, [&](std::span<const std::byte> out, const lro_meta& m) {
            merged_frames += m.segments > 1 ? 1 : 0;
            d.deliver(out, frame_meta{0, {}, m.segments});
        });
    lro.flush([&](std::span<const std::byte> out, const lro_meta& m) {
        merged_frames += m.segments > 1 ? 1 : 0;
        d.deliver(out, frame_meta{0, {}, m.segments});
    });
    CHECK(merged_frames > 0);
    CHECK(d.stats().records == 40);
    CHECK(d.stats().lost == 0);
    CHECK(d.stats().corrupted == 0);
}
