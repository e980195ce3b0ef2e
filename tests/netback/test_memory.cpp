// SPDX-License-Identifier: MIT
// The memory bound: netback's resident memory (VmRSS) stops growing once its vifs are set up
// and traffic flows. Two netfronts with two queues each exchange random-size frames as fast as
// they can; netback's VmRSS and the shared part of it (RssShmem: the netfronts' regions, whose
// pages count once netback has touched them) are sampled every 100 ms. After the warm-up (the
// first third of the run):
//  - netback's own memory (VmRSS - RssShmem: heap, stacks, backlogs) rises by at most 512 KiB:
//    everything it allocates per vif is allocated when the vif connects, nothing per frame;
//  - VmRSS as a whole stays below its warm-up value plus the netfronts' shared regions, which
//    netback maps and touches only as far as frames use their pages.
// Under ThreadSanitizer every application page netback touches, shared ones included, gets
// private shadow memory four times its size, and the runs are slow enough that the shared
// pages are still being touched for the first time after the warm-up: there both bounds allow
// that shadow of the regions too. Under AddressSanitizer freed heap blocks are held in a
// quarantine (256 MiB by default) instead of being reused, so any allocation on a periodic path
// (the dispatcher's samples, say) shows as growth; netback runs there with a 1 MiB quarantine,
// so that what is measured is netback's memory rather than the allocator's.

#include "e2e_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

using namespace xnv::test;

TEST_CASE("memory: netback's resident memory does not grow after warm-up")
{
    temp_dir dir;
    const auto seconds = static_cast<int>(scaled_count("XNV_TEST_MEMORY_SECONDS", 15, 6));
    if (sanitized && !thread_sanitized) {
        const char* asan = std::getenv("ASAN_OPTIONS");
        const std::string opts = std::string(asan != nullptr ? asan : "") + ":quarantine_size_mb=1";
        REQUIRE(::setenv("ASAN_OPTIONS", opts.c_str(), 1) == 0); // inherited by netback
    }
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
    std::vector<long> own;
    const auto start = std::chrono::steady_clock::now();
    while (!a.proc().exited()) {
        const long total = vm_rss_kib(nb.proc().pid());
        const long shared = proc_status_kib(nb.proc().pid(), "RssShmem");
        if (total > 0 && shared >= 0) {
            rss.push_back(total);
            own.push_back(total - shared);
        }
        if (std::chrono::steady_clock::now() - start > std::chrono::seconds(seconds + 60))
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const json ja = a.finish(std::chrono::seconds(60));
    const json jb = b.finish(std::chrono::seconds(60));
    const json jn = nb.finish(std::chrono::seconds(60));
    check_clean(ja);
    check_clean(jb);
    REQUIRE(rss.size() >= 20);
    const std::size_t warm = rss.size() / 3;
    const auto after = [warm](const std::vector<long>& v) {
        return *std::max_element(v.begin() + static_cast<std::ptrdiff_t>(warm), v.end());
    };
    // Both vifs' regions: 2 queues each of 2 121 728 bytes (docs/netback.md, "Shared memory").
    const long regions_kib = 2 * 2 * 2121728 / 1024;
    const long shadow_kib = thread_sanitized ? 4 * regions_kib : 0;
    MESSAGE("netback VmRSS: start " << rss.front() << " KiB, after warm-up " << rss[warm] << " KiB, peak after "
                                    << after(rss) << " KiB; own (VmRSS - RssShmem): after warm-up " << own[warm]
                                    << " KiB, peak after " << after(own) << " KiB; " << rss.size()
                                    << " samples, frames A->B " << ja["sent"].u());
    CHECK(after(own) - own[warm] <= 512 + shadow_kib);
    CHECK(after(rss) <= rss[warm] + regions_kib + shadow_kib);
    CHECK(jn["vifs"].size() == 2);
}
