// SPDX-License-Identifier: MIT
// The long run: ten million generated frames (five million each way between two netfronts)
// of random sizes from 38 to 65535 bytes, drawn log-uniformly (every doubling of the size as
// likely, so the mean is about 8.8 KiB and the plain build finishes in about a minute), and
// not one of them lost, duplicated, reordered or corrupted: when a receiver is slow, netback
// holds the sender back (the TX ring fills up) instead of dropping. The AddressSanitizer
// build runs 100 000 frames, the ThreadSanitizer build 10 000 (it slows these processes by two
// orders of magnitude); XNV_TEST_STRESS_FRAMES overrides the count.

#include "e2e_util.hpp"

#include <doctest/doctest.h>

using namespace xnv::test;

TEST_CASE("stress: millions of random-size frames, zero loss and zero corruption, back-pressure not drops")
{
    temp_dir dir;
    const std::uint64_t total = scaled_count("XNV_TEST_STRESS_FRAMES", 10'000'000, 100'000, 10'000);
    const std::uint64_t per = total / 2;
    // Frames never expire here: the run is about integrity under back-pressure, and a
    // sanitizer build on a loaded machine may stall a receiver for longer than the default.
    netback_process nb(dir, "nb", {"--exit-when-idle", "--rx-expire-ms", "600000"});
    const std::vector<std::string> common{"--count",    std::to_string(per), "--expect",     std::to_string(per),
                                          "--size-min", "38",                "--size-max",   "65535",
                                          "--size-dist", "log",              "--linger-ms",  "60000"};
    auto with = [&](std::vector<std::string> v) {
        v.insert(v.end(), common.begin(), common.end());
        return v;
    };
    netfront_process a(dir, nb, "a",
                       with({"--mac", "02:00:00:00:00:01", "--peer-mac", "02:00:00:00:00:02", "--queues", "2", "--seed",
                             "11"}));
    netfront_process b(dir, nb, "b", with({"--mac", "02:00:00:00:00:02", "--peer-mac", "02:00:00:00:00:01", "--seed", "12"}));
    const json ja = a.finish(std::chrono::minutes(9));
    const json jb = b.finish(std::chrono::minutes(9));
    const json jn = nb.finish(std::chrono::minutes(1));
    check_clean(ja);
    check_clean(jb);
    CHECK(ja["sent"].u() == per);
    CHECK(jb["sent"].u() == per);
    CHECK(ja["received"].u() == per);
    CHECK(jb["received"].u() == per);
    const json& drops = jn["totals"]["drops"];
    CHECK(drops["tx_malformed"].u() == 0);
    CHECK(drops["tx_hairpin"].u() == 0);
    CHECK(drops["rx_expired"].u() == 0);
    CHECK(drops["rx_too_large"].u() == 0);
    // Only announcements broadcast before the other vif connected may find no destination.
    CHECK(drops["tx_no_destination"].u() < 100);
    CHECK(jn["totals"]["rx_packets"].u() >= total);
    MESSAGE("frames: " << total << ", tx blocked by full backlogs (back-pressure): " << jn["totals"]["tx_blocked"].u()
                       << ", multi-slot: " << jn["totals"]["tx_multislot"].u() << ", A->B "
                       << ja["tx_gbps"].num() << " Gb/s");
}
