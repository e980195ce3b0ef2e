// SPDX-License-Identifier: MIT
// The memory bound: netback's resident memory (VmRSS) stops growing once its vifs are set up
// and traffic flows. Two netfronts exchange random-size frames as fast as they can; netback's
// VmRSS is sampled every 100 ms; after the warm-up (the first third of the run) it may not
// rise by more than 512 KiB. Everything netback allocates per vif is allocated when the vif
// connects (RX backlogs, grant bookkeeping, staging) and the shared pages it touches are the
// netfronts' fixed regions, so a leak or a per-frame allocation would show as steady growth.

#include "e2e_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

using namespace xnv::test;

TEST_CASE("memory: netback's resident memory does not grow after warm-up")
{
    temp_dir dir;
    const auto seconds = static_cast<int>(scaled_count("XNV_TEST_MEMORY_SECONDS", 15, 6));
    netback_process nb(dir, "nb", {"--exit-when-idle"});
    const std::vector<std::string> common{"--seconds", std::to_string(seconds), "--size-min", "38", "--size-max",
                                          "65535", "--queues", "2"};
    auto with = [&](std::vector<std::string> v) {
        v.insert(v.end(), common.begin(), common.end());
        return v;
    };
    netfront_process a(dir, nb, "a", with({"--mac", "02:00:00:00:00:01", "--peer-mac", "02:00:00:00:00:02"}));
    netfront_process b(dir, nb, "b", with({"--mac", "02:00:00:00:00:02", "--peer-mac", "02:00:00:00:00:01"}));
    std::vector<long> rss;
    const auto start = std::chrono::steady_clock::now();
    while (a.proc().running() && !a.proc().exited()) {
        const long kib = vm_rss_kib(nb.proc().pid());
        if (kib > 0)
            rss.push_back(kib);
        if (std::chrono::steady_clock::now() - start > std::chrono::seconds(seconds + 60))
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const json ja = a.finish(std::chrono::seconds(60));
    const json jb = b.finish(std::chrono::seconds(60));
    (void)nb.finish(std::chrono::seconds(60));
    check_clean(ja);
    check_clean(jb);
    REQUIRE(rss.size() >= 20);
    // Traffic runs for `seconds` after both connected; the warm-up is its first third.
    const std::size_t warm = rss.size() / 3;
    const long at_warm = rss[warm];
    const long peak = *std::max_element(rss.begin() + static_cast<std::ptrdiff_t>(warm), rss.end());
    MESSAGE("netback VmRSS: start " << rss.front() << " KiB, after warm-up " << at_warm << " KiB, peak after warm-up "
                                    << peak << " KiB, last " << rss.back() << " KiB, samples " << rss.size()
                                    << ", frames A->B " << ja["sent"].u());
    CHECK(peak - at_warm <= 512);
}
