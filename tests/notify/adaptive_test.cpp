// SPDX-License-Identifier: MIT
// The DIM-style controller of `adaptive`, driven directly on a virtual timeline: one item per
// `gap`, a consumer that re-arms the moment it is notified (so the first publication after
// each notification crosses its event index), timers fired when due.

#include <xnv/notify/adaptive.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <vector>

using namespace std::chrono_literals;
using namespace xnv::notify;
using xnv::nanos;

namespace {

class rig {
public:
    explicit rig(adaptive_config c = {}) : p(c) {}

    /// Publish `items` single items `gap` apart; returns the profile index after every
    /// sample taken on the way.
    std::vector<std::size_t> run(nanos gap, std::size_t items, std::uint64_t bytes_per_item = 1500)
    {
        std::vector<std::size_t> after_sample;
        for (std::size_t i = 0; i < items; ++i) {
            const nanos t = now_ + gap;
            while (p.next_deadline() <= t) {
                const std::uint64_t before = p.samples();
                if (p.on_timer(p.next_deadline()))
                    armed_ = true;
                if (p.samples() != before)
                    after_sample.push_back(p.profile_index());
            }
            now_ = t;
            const std::uint64_t before = p.samples();
            const bool crossed = armed_;
            armed_ = false;
            if (p.on_publish(publication{1, bytes_per_item, crossed}, now_))
                armed_ = true;
            if (p.samples() != before)
                after_sample.push_back(p.profile_index());
        }
        return after_sample;
    }

    adaptive p;

private:
    nanos now_{0};
    bool armed_ = true;
};

using ix = std::vector<std::size_t>;

} // namespace

TEST_CASE("adaptive: a sample is 64 notifications")
{
    rig r;
    r.run(1us, 64); // profile 0 notifies every item: 64 events, the first starts the sample
    CHECK(r.p.samples() == 0);
    r.run(1us, 1);
    CHECK(r.p.samples() == 1);
}

TEST_CASE("adaptive: steady high load climbs to the most coalescing profile and parks there")
{
    // One item per microsecond. Each profile to the right sends fewer notifications for the
    // same items and bytes (8, 16, 32, 64 items each), so every sample is better than the
    // last; the step beyond the last profile hits the edge and parks.
    rig r;
    const auto seq = r.run(1us, 20000);
    REQUIRE(seq.size() >= 6);
    CHECK(ix(seq.begin(), seq.begin() + 6) == ix{1, 2, 3, 4, 4, 4});
    CHECK(r.p.profile_index() == 4);
    CHECK(r.p.tune() == dim_tune::parked_on_top);
    CHECK(r.p.profile_changes() == 4);
    CHECK(r.p.profile() == default_dim_profiles[4]);
}

TEST_CASE("adaptive: a trickle stays on the first profile (lone-item rule)")
{
    // 200 us between items: every profile notifies once per item. The first sample is better
    // than nothing and steps right; the next batches nothing (1 item per notification), so the
    // controller returns to profile 0 and parks; the steady trickle never moves it again.
    rig r;
    const auto seq = r.run(200us, 65 * 12);
    // 780 items, one notification each: samples end at events 65, 130 (after the change the
    // next event starts a new sample), 195, then every 64: twelve samples.
    CHECK(seq == ix{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    CHECK(r.p.tune() == dim_tune::parked_on_top);
    CHECK(r.p.profile_changes() == 2);
}

TEST_CASE("adaptive with the lone-item rule off follows net_dim: oscillates, tires, rests")
{
    // Every sample rates the same: turn, step, turn, step ... ten steps between profiles 0 and
    // 1, then too tired: rest ten samples, then leave parking and step right again.
    rig r(adaptive_config{.min_batch = 0});
    const auto seq = r.run(200us, 65 * 22);
    REQUIRE(seq.size() >= 21);
    CHECK(ix(seq.begin(), seq.begin() + 21) == ix{1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
}

TEST_CASE("adaptive: after a load drop the lone-item rule returns to the first profile")
{
    rig r;
    r.run(1us, 20000);
    REQUIRE(r.p.profile_index() == 4);
    // The first sample after the drop still holds the last high-load notifications (64 items
    // each): it rates worse and steps left. The next one is all lone items: back to 0.
    const auto seq = r.run(200us, 65 * 3);
    REQUIRE(seq.size() >= 2);
    CHECK(seq[0] == 3);
    CHECK(seq[1] == 0);
    CHECK(r.p.profile_index() == 0);
    CHECK(r.p.tune() == dim_tune::parked_on_top);
}

TEST_CASE("adaptive with the lone-item rule off keeps a high profile after a load drop (net_dim's blind spot)")
{
    rig r(adaptive_config{.min_batch = 0});
    r.run(1us, 20000);
    REQUIRE(r.p.profile_index() == 4);
    const auto seq = r.run(200us, 65 * 12);
    REQUIRE(seq.size() >= 10);
    for (std::size_t i : seq)
        CHECK(i >= 3);
}

TEST_CASE("adaptive: the dead band ignores a 5% change and acts on a 20% one")
{
    rig r;
    r.run(1us, 20000);
    REQUIRE(r.p.tune() == dim_tune::parked_on_top);
    const auto changes = r.p.profile_changes();
    r.run(1050ns, 64 * 65 * 3); // about 5% fewer items per millisecond
    CHECK(r.p.profile_index() == 4);
    CHECK(r.p.tune() == dim_tune::parked_on_top);
    CHECK(r.p.profile_changes() == changes);
    const auto seq = r.run(1250ns, 64 * 66); // 20% fewer: worse, leave parking to the left
    REQUIRE(!seq.empty());
    CHECK(seq.front() == 3);
}

TEST_CASE("adaptive without byte counts rates items instead")
{
    rig r;
    const auto seq = r.run(1us, 65 * 2, 0);
    REQUIRE(!seq.empty());
    CHECK(seq.front() == 1);
}

TEST_CASE("adaptive: a custom profile table and start profile are used")
{
    const std::array<dim_profile, 2> table{{{0us, 1}, {20us, 4}}};
    adaptive p(adaptive_config{.profiles = table, .start_profile = 1});
    CHECK(p.profile_index() == 1);
    CHECK(p.profile() == table[1]);
    // Profile 1 holds a crossing item back for 20 us or 4 items.
    CHECK_FALSE(p.on_publish(publication{1, 0, true}, 0us));
    CHECK(p.next_deadline() == nanos(20us));
    CHECK_FALSE(p.on_publish(publication{2, 0, false}, 5us));
    CHECK(p.on_publish(publication{1, 0, false}, 6us));
    CHECK(p.next_deadline() == no_deadline);
}
