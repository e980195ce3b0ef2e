// SPDX-License-Identifier: MIT
// xnv-netback with xnv-netfronts, as separate processes: the handshake and feature
// negotiation, multi-slot (SG) frames, GSO frames and LRO. (test_programs_switching.cpp has
// the switching, dispatch and reconnect cases.) Every run checks the sinks' verdicts: nothing
// lost, duplicated, reordered or corrupted.

#include "pair_util.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

using namespace xnv::test;

TEST_CASE("handshake and negotiation: each side gets the smaller offer and both agree on it")
{
    temp_dir dir;
    const std::uint64_t count = scaled_count("XNV_TEST_E2E_FRAMES", 20000, 2000);
    const pair_run r = run_pair(dir, {"--max-queues", "2", "--mtu", "9000", "--no-split-event-channels"},
                                {"--queues", "4", "--size", "9014"}, {"--queues", "1", "--size", "64"}, count);
    for (const json* j : {&r.a, &r.b}) {
        CHECK((*j)["negotiated"]["mtu"].u() == 9000);
        CHECK((*j)["negotiated"]["feature-sg"].b());
        CHECK((*j)["negotiated"]["feature-gso-tcpv4"].b());
        CHECK_FALSE((*j)["negotiated"]["feature-split-event-channels"].b());
    }
    CHECK(r.a["negotiated"]["queues"].u() == 2); // asked for 4, netback offers 2
    CHECK(r.b["negotiated"]["queues"].u() == 1);
    const json& va = vif_by_mac(r.nb, mac1);
    const json& vb = vif_by_mac(r.nb, mac2);
    CHECK(va["queues"].u() == 2);
    CHECK(vb["queues"].u() == 1);
    CHECK(va["mtu"].u() == 9000);
    CHECK_FALSE(va["features"]["feature-split-event-channels"].b());
    CHECK(va["per_queue"].size() == 2);
    // The generator splits its frames over both queues; both carried traffic.
    CHECK(va["per_queue"][0]["tx_packets"].u() > 0);
    CHECK(va["per_queue"][1]["tx_packets"].u() > 0);
    CHECK(va["close_reason"].s() == "netfront closed the connection");
    CHECK(r.nb["totals"]["vifs_connected"].u() == 2);
    // Every frame crossed netback once: what A and B sent (and their announcements) went in.
    CHECK(r.nb["totals"]["rx_packets"].u() >= 2 * count);
    CHECK(r.nb["totals"]["drops"]["rx_expired"].u() == 0);
}

TEST_CASE("SG: random frame sizes up to 65535 bytes travel as multi-slot chains")
{
    temp_dir dir;
    const std::uint64_t count = scaled_count("XNV_TEST_E2E_FRAMES", 20000, 2000);
    const std::vector<std::string> sizes{"--size-min", "38", "--size-max", "65535", "--size-dist", "log"};
    const pair_run r = run_pair(dir, {}, cat(sizes, {"--seed", "7"}), cat(sizes, {"--seed", "8"}), count);
    CHECK(r.nb["totals"]["tx_multislot"].u() > count / 4);
    CHECK(r.nb["totals"]["tx_gso"].u() == 0);
    CHECK(r.a["negotiated"]["mtu"].u() == 65521);
}

TEST_CASE("GSO: TCP frames above the MTU carry a GSO extra-info slot both ways")
{
    temp_dir dir;
    const std::uint64_t count = scaled_count("XNV_TEST_E2E_FRAMES", 20000, 2000);
    const std::vector<std::string> tcp{"--proto", "tcp", "--mtu", "1500", "--size-min", "78", "--size-max", "65535"};
    const pair_run r = run_pair(dir, {}, tcp, tcp, count);
    CHECK(r.nb["totals"]["tx_gso"].u() > count / 2);
    CHECK(r.nb["totals"]["rx_gso"].u() == r.nb["totals"]["tx_gso"].u());
    CHECK(r.a["negotiated"]["mtu"].u() == 1500);
}

TEST_CASE("LRO: in-order TCP segments are merged before the sink, and every record still checks out")
{
    temp_dir dir;
    const std::uint64_t count = scaled_count("XNV_TEST_E2E_FRAMES", 20000, 2000);
    const std::vector<std::string> tcp{"--proto", "tcp", "--mtu", "1500", "--size", "1514"};
    const pair_run r = run_pair(dir, {}, tcp, cat(tcp, {"--no-lro"}), count);
    CHECK(r.a["config"]["lro"].b());
    CHECK(r.a["lro_frames"].u() > 0);
    CHECK(r.a["lro_merged"].u() > 0);
    CHECK_FALSE(r.b["config"]["lro"].b());
    CHECK(r.b["lro_frames"].u() == 0);
}


TEST_CASE("notification policies: every policy on both sides delivers every frame")
{
    const std::uint64_t count = scaled_count("XNV_TEST_E2E_FRAMES", 20000, 2000) / 2;
    for (const char* policy : {"always", "event_idx", "adaptive", "frames_usecs"}) {
        CAPTURE(policy);
        temp_dir dir;
        const std::vector<std::string> p{"--coalesce", policy, "--size-min", "60", "--size-max", "9000"};
        const pair_run r = run_pair(dir, {"--coalesce", policy}, p, p, count);
        CHECK(r.nb["config"]["coalesce"].s() == policy);
        CHECK(r.a["config"]["coalesce"].s() == policy);
        CHECK(r.nb["totals"]["notifications_sent"].u() > 0);
    }
}
