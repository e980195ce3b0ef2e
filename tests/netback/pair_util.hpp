// SPDX-License-Identifier: MIT
#pragma once

// What the program-level end-to-end tests share: three MACs, argument helpers, and a run of two
// netfronts exchanging frames through one netback, both sinks checked clean.

#include "e2e_util.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace xnv::test {

inline const std::string mac1 = "02:00:00:00:00:01";
inline const std::string mac2 = "02:00:00:00:00:02";
inline const std::string mac3 = "02:00:00:00:00:03";

inline std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b)
{
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

inline std::string n(std::uint64_t v) { return std::to_string(v); }

constexpr auto wait_long = std::chrono::seconds(120);

// Two netfronts sending `count` frames each to the other, both checked clean, with the
// netback summary returned (netback exits once both have left).
struct pair_run {
    json a, b, nb;
};
inline pair_run run_pair(const temp_dir& dir, const std::vector<std::string>& nb_args,
                  const std::vector<std::string>& a_args, const std::vector<std::string>& b_args, std::uint64_t count)
{
    netback_process nb(dir, "nb", cat({"--exit-when-idle"}, nb_args));
    netfront_process a(dir, nb, "a", cat({"--mac", mac1, "--peer-mac", mac2, "--count", n(count), "--expect", n(count),
                                          "--linger-ms", "20000"},
                                         a_args));
    netfront_process b(dir, nb, "b", cat({"--mac", mac2, "--peer-mac", mac1, "--count", n(count), "--expect", n(count),
                                          "--linger-ms", "20000"},
                                         b_args));
    pair_run r;
    r.a = a.finish(wait_long);
    r.b = b.finish(wait_long);
    r.nb = nb.finish(wait_long);
    check_clean(r.a);
    check_clean(r.b);
    CHECK(r.a["sent"].u() == count);
    CHECK(r.b["sent"].u() == count);
    CHECK(r.a["received"].u() == count);
    CHECK(r.b["received"].u() == count);
    return r;
}

inline const json& vif_by_mac(const json& nb, const std::string& mac)
{
    for (std::size_t i = 0; i < nb["vifs"].size(); ++i)
        if (nb["vifs"][i]["mac"].s() == mac)
            return nb["vifs"][i];
    FAIL("no vif with MAC " << mac);
    return nb;
}


} // namespace xnv::test
