// SPDX-License-Identifier: MIT
// How to unit-test a dispatch policy of your own with the simulator (quoted in docs/sim.md).
#include <xnv/notify/policy.hpp>
#include <xnv/sched/dispatch.hpp>
#include <xnv/sched/policies.hpp>
#include <xnv/sim/simulator.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <string_view>

using namespace std::chrono_literals;

// [policy]
// Give the heaviest source a worker of its own (the last one) and pack every other source on
// worker 0: mice are not queued behind the elephant.
class elephant_alone {
public:
    static constexpr std::string_view name = "elephant_alone";

    void bind(std::uint32_t workers)
    {
        if (workers < 2)
            throw std::invalid_argument("elephant_alone needs at least 2 workers");
        workers_ = workers;
    }
    [[nodiscard]] xnv::worker_id place(const xnv::dispatch_view&) const noexcept { return 0; }
    void on_sample(const xnv::dispatch_view& v, xnv::dispatch_plan& plan)
    {
        xnv::source_id heaviest = 0;
        for (xnv::source_id s = 1; s < v.sources().size(); ++s)
            if (v.load(s, xnv::load_metric::bytes) > v.load(heaviest, xnv::load_metric::bytes))
                heaviest = s;
        for (xnv::source_id s = 0; s < v.sources().size(); ++s)
            plan.move(s, s == heaviest ? workers_ - 1 : 0);
    }
    [[nodiscard]] std::uint32_t active_workers() const noexcept { return std::min(workers_, 2u); }
    [[nodiscard]] xnv::nanos sample_interval() const noexcept { return 10ms; }

private:
    std::uint32_t workers_ = 2;
};
static_assert(xnv::dispatch_policy<elephant_alone>);
// [policy]

// [test]
TEST_CASE("custom policy: the elephant gets a CPU of its own and the mice wait less")
{
    namespace sim = xnv::sim;
    sim::scenario sc;
    sc.cpus = 2;
    sc.duration = 300ms;
    sc.warmup = 50ms;
    sc.sources = sim::make_sources(sim::mice_and_elephant{.mice = 8, .elephant_rate = sim::rate::mbps(1500)});
    sim::simulator simulator(sc);

    const auto mine = simulator.run(elephant_alone{}, xnv::notify::event_idx{});
    const auto rr = simulator.run(xnv::dispatch::round_robin{}, xnv::notify::event_idx{});

    // The first sample (10 ms) moves the elephant (source 0) and nothing else, and the move
    // takes effect at once or after the run queued for it, never before the decision.
    REQUIRE(mine.moves_log.size() == 1);
    CHECK(mine.moves_log[0].source == 0);
    CHECK(mine.moves_log[0].to == 1);
    CHECK(mine.moves_log[0].decided == 10ms);
    CHECK(mine.moves_log[0].effective >= 10ms);
    CHECK(mine.sources[0].final_cpu == 1);
    for (std::size_t s = 1; s < mine.sources.size(); ++s)
        CHECK(mine.sources[s].final_cpu == 0);

    // Everything offered is delivered either way; the mice's worst latency is what changes.
    CHECK(mine.throughput_bps() == doctest::Approx(mine.offered_bps()).epsilon(0.01));
    CHECK(rr.throughput_bps() == doctest::Approx(rr.offered_bps()).epsilon(0.01));
    const auto worst_mouse_p99 = [](const sim::sim_result& r) {
        xnv::nanos worst{0};
        for (std::size_t s = 1; s < r.sources.size(); ++s)
            worst = std::max(worst, r.sources[s].latency.p99);
        return worst;
    };
    CHECK(worst_mouse_p99(mine) < worst_mouse_p99(rr));

    // And the run is reproducible: the same scenario and policy, the same result, bit for bit.
    CHECK(simulator.run(elephant_alone{}, xnv::notify::event_idx{}) == mine);
}
// [test]

TEST_CASE("custom policy: a policy's own configuration error surfaces from run")
{
    xnv::sim::scenario sc;
    sc.cpus = 1;
    sc.sources.push_back({"a", xnv::sim::shapes::constant{xnv::sim::rate::mbps(10)}});
    xnv::sim::simulator simulator(sc);
    CHECK_THROWS_WITH_AS(static_cast<void>(simulator.run(elephant_alone{}, xnv::notify::event_idx{})),
                         "elephant_alone needs at least 2 workers", std::invalid_argument);
}
