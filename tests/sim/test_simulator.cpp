// SPDX-License-Identifier: MIT
#include <xnv/sim/simulator.hpp>

#include "policies.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <string_view>

#include <xnv/sched/policies.hpp>

using namespace std::chrono_literals;
using namespace xnv::sim;
using namespace xnv::sim::testing;
using xnv::decision_reason;
using xnv::nanos;
using xnv::worker_id;

namespace {
// Round numbers, so outcomes can be worked out by hand.
constexpr cost_model simple_costs{.per_packet = 1000ns,
                                  .per_byte_ps = 1000,
                                  .per_notification = 500ns,
                                  .per_run = 200ns,
                                  .wakeup = 300ns,
                                  .source_switch = 100ns,
                                  .migration = 0ns};

constexpr xnv::notify::event_idx armed{};

std::string rejection(const scenario& sc)
{
    try {
        simulator sim(sc);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "accepted";
}

scenario two_source_trace()
{
    scenario sc;
    sc.cpus = 1;
    sc.duration = 10us;
    sc.costs = simple_costs;
    sc.recorded = parse_trace("0,0,1000\n0,1,500\n5000,0,100,2\n").value();
    return sc;
}

// A scenario that exercises every kind of source, both kinds of timer, moves and several CPUs.
scenario busy_mix(std::uint64_t seed)
{
    scenario sc;
    sc.cpus = 4;
    sc.seed = seed;
    sc.duration = 20ms;
    sc.warmup = 2ms;
    sc.sources = make_sources(mice_and_elephant{.mice = 6, .mouse_rate = rate::mbps(50)});
    sc.sources.push_back({"step", shapes::step{rate::mbps(100), rate::mbps(900), 8ms}, packet_sizes::uniform(64, 1500),
                          arrivals::poisson});
    sc.sources.push_back({"ramp", shapes::ramp{rate::mbps(10), rate::mbps(800), 2ms, 15ms}, packet_sizes::fixed(1500)});
    sc.sources.push_back({"square", shapes::square_wave{rate::mbps(20), rate::gbps(2), 3ms, 1ms},
                          packet_sizes::uniform(500, 9000), arrivals::poisson});
    sc.sources.push_back({"bursts", shapes::bursts{32, 500us, rate::gbps(10)}, packet_sizes::fixed(1500),
                          arrivals::poisson});
    sc.recorded = parse_trace("100000,0,1500\n100000,1,64\n2500000,0,9000,6\n9000000,1,1500\n").value();
    return sc;
}

// Odd sources: frames/usecs (producer timers); even ones: delayed re-arm (consumer timers).
struct mixed_coalescer {
    static constexpr std::string_view name = "mixed";
    explicit mixed_coalescer(std::uint32_t s)
        : odd(s % 2 == 1), fu({.frames = 4 + s % 8, .usecs = 50us}), dr(xnv::notify::fixed_batch{8}, 80us)
    {
    }
    bool odd;
    xnv::notify::frames_usecs fu;
    xnv::notify::delayed_rearm dr;
    [[nodiscard]] bool on_publish(const xnv::notify::publication& p, nanos t) noexcept
    {
        return odd ? fu.on_publish(p, t) : dr.on_publish(p, t);
    }
    [[nodiscard]] nanos next_deadline() const noexcept { return odd ? fu.next_deadline() : dr.next_deadline(); }
    [[nodiscard]] bool on_timer(nanos t) noexcept { return odd ? fu.on_timer(t) : dr.on_timer(t); }
    [[nodiscard]] xnv::notify::rearm on_consumer_idle(std::uint32_t o, nanos t) noexcept
    {
        return odd ? fu.on_consumer_idle(o, t) : dr.on_consumer_idle(o, t);
    }
};

sim_result run_busy_mix(std::uint64_t seed)
{
    simulator sim(busy_mix(seed));
    fixed_map d({}, 1ms);
    d.remap_at = 5;
    for (std::uint32_t s = 0; s < sim.sources(); ++s)
        d.remap_to.push_back((s * 3 + 1) % 4);
    return sim.run(d, [](std::uint32_t s) { return mixed_coalescer(s); });
}
} // namespace

TEST_CASE("simulator golden: one paced source on one CPU, every figure worked out by hand")
{
    scenario sc;
    sc.cpus = 1;
    sc.duration = 100us;
    sc.costs = simple_costs;
    sc.costs.per_byte_ps = 0;
    sc.sources.push_back({"a", shapes::constant{rate::gbps(1)}, packet_sizes::fixed(1500)});
    simulator sim(sc);
    const auto r = sim.run(fixed_map{}, armed);
    // Arrivals every 12 us from 12 us: 8 by 100 us. Each finds the consumer asleep (the event
    // index one ahead) and the CPU idle: notification 500 + wake-up 300, then a run of
    // 200 + 1000: done 2000 ns after arrival.
    REQUIRE(r.cpus.size() == 1);
    CHECK(r.cpus[0].busy == 16000ns);
    CHECK(r.cpus[0].notification_busy == 6400ns);
    CHECK(r.cpus[0].notifications == 8);
    CHECK(r.cpus[0].wakeups == 8);
    CHECK(r.cpus[0].runs == 8);
    CHECK(r.cpus[0].packets == 8);
    CHECK(r.cpus[0].source_switches == 0);
    CHECK(r.cpus[0].timer_polls == 0);
    CHECK(r.cpus[0].empty_runs == 0);
    CHECK(r.utilisation(0) == doctest::Approx(0.16));
    const auto& s = r.sources[0];
    CHECK(s.name == "a");
    CHECK(s.offered_packets == 8);
    CHECK(s.delivered_bytes == 8 * 1500);
    CHECK(s.dropped_packets == 0);
    CHECK(s.notifications_sent == 8);
    CHECK(s.notifications_suppressed == 0);
    CHECK(s.latency == latency_summary{8, 2000ns, 2000ns, 2000ns});
    CHECK(r.throughput_bps() == doctest::Approx(8 * 1500 * 8 / 100e-6));
    CHECK(r.events == 24);
    REQUIRE(r.decisions.size() == 1);
    CHECK(r.decisions[0].reason == decision_reason::connect);
    CHECK(r.moves_log.empty());
}

TEST_CASE("simulator golden: two trace sources sharing a CPU, worked out by hand")
{
    simulator sim(two_source_trace());
    const auto r = sim.run(fixed_map{}, armed);
    // t=0     both arrive; notification s0 (500 + wake-up 300) until 800
    // t=800   notification s1 until 1300
    // t=1300  run s0: 200 + 1000 + 1000 B -> 3500
    // t=3500  run s1: 200 + switch 100 + 1000 + 500 B -> 5300
    // t=5000  s0 gets 2 packets, 100 B: crosses the re-armed event index, notification queued
    // t=5300  notification s0 until 5800; run s0: 200 + 100 + 2000 + 100 -> 8200
    const auto& c = r.cpus[0];
    CHECK(c.busy == 8200ns);
    CHECK(c.notification_busy == 1800ns);
    CHECK(c.wakeups == 1);
    CHECK(c.runs == 3);
    CHECK(c.packets == 4);
    CHECK(c.notifications == 3);
    CHECK(c.source_switches == 2);
    REQUIRE(r.sources.size() == 2);
    CHECK(r.sources[0].name == "trace-0");
    CHECK(r.sources[0].latency == latency_summary{2, 3200ns, 3500ns, 3500ns});
    CHECK(r.sources[1].latency == latency_summary{1, 5300ns, 5300ns, 5300ns});
    CHECK(r.latency == latency_summary{3, 3500ns, 5300ns, 5300ns});
    CHECK(r.sources[0].delivered_packets == 3);
    CHECK(r.sources[0].delivered_bytes == 1100);
    CHECK(r.events == 9);
}

TEST_CASE("simulator: counters start at the warm-up; busy time is clipped to the window")
{
    auto sc = two_source_trace();
    sc.warmup = 4000ns;
    simulator sim(sc);
    const auto r = sim.run(fixed_map{}, armed);
    CHECK(r.window() == 6000ns);
    CHECK(r.cpus[0].busy == 1300ns + 500ns + 2400ns);
    CHECK(r.sources[0].offered_bytes == 100);
    CHECK(r.sources[1].offered_bytes == 0);
    CHECK(r.sources[1].delivered_bytes == 500); // completed in the window
    CHECK(r.sources[1].latency.samples == 0);   // but arrived before it
    CHECK(r.latency == latency_summary{1, 3200ns, 3200ns, 3200ns});
}

TEST_CASE("simulator: the same scenario twice gives identical results, to the last counter")
{
    const auto a = run_busy_mix(17), b = run_busy_mix(17);
    CHECK(a == b);
    // And the run did real work of every kind, so the comparison is not vacuous.
    CHECK(a.delivered_bytes() > 0);
    CHECK(a.moves() > 0);
    CHECK(a.notifications_sent() > 0);
    CHECK(a.notifications_suppressed() > 0);
    std::uint64_t timer_polls = 0;
    for (std::size_t c = 0; c < a.cpus.size(); ++c) {
        CHECK(a.cpus[c].busy > nanos::zero());
        timer_polls += a.cpus[c].timer_polls;
    }
    CHECK(timer_polls > 0);
    CHECK(a.decisions.size() > a.sources.size()); // the connects, then the remapping
}

TEST_CASE("simulator: another seed gives another run")
{
    CHECK_FALSE(run_busy_mix(17) == run_busy_mix(18));
}

TEST_CASE("simulator: every packet is accounted for: delivered, dropped or still queued")
{
    auto sc = busy_mix(3);
    sc.warmup = 0ns;
    sc.ring_slots = 32; // small rings, so the bursts overflow them
    simulator sim(sc);
    const auto r = sim.run(xnv::dispatch::all_on_first{}, armed);
    std::uint64_t dropped = 0;
    for (const auto& s : r.sources) {
        CAPTURE(s.name);
        CHECK(s.offered_packets == s.delivered_packets + s.dropped_packets + s.queued_packets);
        CHECK(s.queued_packets <= 32);
        dropped += s.dropped_packets;
    }
    CHECK(dropped > 0);
}

TEST_CASE("simulator: one CPU saturates at the rate its cost model allows and drops the rest")
{
    scenario sc;
    sc.cpus = 1;
    sc.duration = 50ms;
    sc.warmup = 5ms;
    sc.costs = simple_costs; // 1500 B: 1000 + 1500 ns per packet, 200 ns per run of 64
    for (int i = 0; i < 2; ++i)
        sc.sources.push_back({"s" + std::to_string(i), shapes::constant{rate::gbps(4)}, packet_sizes::fixed(1500)});
    simulator sim(sc);
    const auto r = sim.run(fixed_map{}, armed);
    CHECK(r.utilisation(0) == doctest::Approx(1.0).epsilon(0.001));
    // Per packet 2500 ns + (200 run + 100 switch) / 64: about 4.75 Gb/s.
    const double per_packet_ns = 2500.0 + 300.0 / 64;
    CHECK(r.throughput_bps() == doctest::Approx(1500 * 8 / per_packet_ns * 1e9).epsilon(0.01));
    CHECK(r.sources[0].dropped_packets > 0);
    CHECK(r.cpus[0].notifications < 10); // saturated: the consumer never sleeps
}

TEST_CASE("simulator: spreading sources over CPUs lifts a saturated CPU's throughput")
{
    scenario sc;
    sc.cpus = 4;
    sc.duration = 20ms;
    sc.warmup = 2ms;
    sc.costs = simple_costs;
    for (int i = 0; i < 4; ++i)
        sc.sources.push_back({"vif" + std::to_string(i), shapes::constant{rate::gbps(2)}, packet_sizes::fixed(1500)});
    simulator sim(sc);
    const auto one = sim.run(xnv::dispatch::all_on_first{}, armed);
    const auto four = sim.run(xnv::dispatch::round_robin{}, armed);
    CHECK(one.utilisation(0) > 0.99);
    CHECK(one.cpus[1].busy == nanos::zero());
    CHECK(four.throughput_bps() == doctest::Approx(8e9).epsilon(0.01)); // all offered load delivered
    CHECK(four.throughput_bps() / one.throughput_bps() > 1.6);
    for (std::size_t c = 0; c < 4; ++c)
        CHECK(four.utilisation(c) == doctest::Approx(four.utilisation(0)).epsilon(0.01));
}

TEST_CASE("simulator: notifying on every publication costs CPU time that event-index hold-off saves")
{
    scenario sc;
    sc.cpus = 1;
    sc.duration = 10ms;
    sc.costs = simple_costs;
    sc.sources.push_back({"p", shapes::constant{rate::mbps(1500)}, packet_sizes::fixed(1500), arrivals::poisson});
    simulator sim(sc);
    const auto held = sim.run(fixed_map{}, armed);
    const auto every = sim.run(fixed_map{}, xnv::notify::always{});
    CHECK(every.sources[0].notifications_suppressed == 0);
    CHECK(held.sources[0].notifications_suppressed > 0);
    CHECK(every.sources[0].notifications_spurious > 0);
    CHECK(every.sources[0].notifications_merged > 0);
    CHECK(every.sources[0].notifications_sent == every.sources[0].offered_packets);
    CHECK(held.sources[0].notifications_spurious == 0);
    CHECK(every.cpus[0].notification_busy > held.cpus[0].notification_busy);
    CHECK(every.cpus[0].busy > held.cpus[0].busy);
}

TEST_CASE("simulator: a producer-side deadline announces a lone packet exactly at its timeout")
{
    scenario sc;
    sc.cpus = 1;
    sc.duration = 1ms;
    sc.costs = simple_costs;
    sc.recorded = parse_trace("1000,0,100\n").value();
    simulator sim(sc);
    const auto r = sim.run(fixed_map{}, xnv::notify::frames_usecs({.frames = 0, .usecs = 40us}));
    // Held 40 us after arrival, then notification 500 + wake-up 300, run 200 + 1000 + 100.
    CHECK(r.sources[0].latency == latency_summary{1, 42100ns, 42100ns, 42100ns});
    CHECK(r.sources[0].notifications_sent == 1);
    CHECK(r.sources[0].notifications_suppressed == 1);
}

TEST_CASE("simulator: a consumer-side deadline polls a ring the producer did not announce")
{
    scenario sc;
    sc.cpus = 1;
    sc.duration = 200us;
    sc.costs = simple_costs;
    // The first packet is announced (the event index starts one ahead); the consumer then
    // re-arms 8 ahead with a 30 us deadline, so the second, lone packet waits for the timer.
    sc.recorded = parse_trace("0,0,100\n10000,0,100\n").value();
    simulator sim(sc);
    const auto r = sim.run(fixed_map{}, xnv::notify::delayed_rearm(xnv::notify::fixed_batch{8}, 30us));
    // First: notification 500 + wake-up 300, run 200 + 1000 + 100: idle at 2100, deadline 32100.
    // Second: timer poll at 32100 (500 + wake-up 300), run 1300: done at 34200.
    CHECK(r.sources[0].latency.max == 34200ns - 10000ns);
    CHECK(r.sources[0].notifications_sent == 1);
    CHECK(r.cpus[0].timer_polls >= 1);
    CHECK(r.cpus[0].notifications == 1);
}

TEST_CASE("simulator: a coalescer that never notifies strands the work, visibly")
{
    simulator sim(two_source_trace());
    const auto r = sim.run(fixed_map{}, never_notify{});
    CHECK(r.delivered_bytes() == 0);
    CHECK(r.sources[0].queued_packets == 3);
    CHECK(r.cpus[0].busy == nanos::zero());
}

TEST_CASE("simulator: the dispatcher is sampled at its interval with each source's handled load")
{
    scenario sc;
    sc.cpus = 2;
    sc.duration = 10ms;
    sc.costs = simple_costs;
    sc.sources.push_back({"a", shapes::constant{rate::mbps(120)}, packet_sizes::fixed(1500)});
    sc.sources.push_back({"b", shapes::constant{rate::mbps(12)}, packet_sizes::fixed(1500)});
    simulator sim(sc);
    fixed_map_log log;
    const auto r = sim.run(fixed_map({}, 2ms, &log), armed);
    CHECK(log.workers == 2);
    CHECK(log.sample_times == std::vector<nanos>{2ms, 4ms, 6ms, 8ms, 10ms});
    CHECK(log.last_elapsed == 2ms);
    REQUIRE(log.last.size() == 2);
    CHECK(log.last[0].items == 20); // 120 Mb/s, 1500 B: one per 100 us
    CHECK(log.last[0].bytes == 30000);
    CHECK(log.last[1].items == 2);
    CHECK(log.last[0].busy == 20 * 2000ns + 20 * 1500ns); // each: 500 + 300 + 200 + 1000 + 1500 B
    CHECK(r.sources[0].final_cpu == 0);
    CHECK(r.sources[1].final_cpu == 1);
    // The timeline has one entry per sample, with the interval's arrivals and handled work.
    REQUIRE(r.timeline.size() == 5);
    CHECK(r.timeline[4].at == 10ms);
    CHECK(r.timeline[4].offered_bytes == 33000);
    CHECK(r.timeline[4].handled_bytes == 33000);
    CHECK(r.timeline[4].busy == 20 * 3500ns + 2 * 3500ns);
    CHECK(r.timeline[4].active_workers == 2);
}

TEST_CASE("simulator: a policy without a sample interval is never sampled")
{
    simulator sim(two_source_trace());
    fixed_map_log log;
    const auto r = sim.run(fixed_map({}, nanos::zero(), &log), armed);
    CHECK(log.samples == 0);
    CHECK(r.timeline.empty());
    CHECK(r.decisions.size() == 2); // the two connects
}

TEST_CASE("simulator: an idle source moves at the decision")
{
    auto sc = two_source_trace();
    sc.cpus = 2;
    sc.duration = 3ms;
    simulator sim(sc);
    fixed_map d({0, 0}, 1ms);
    d.remap_at = 1;
    d.remap_to = {1, 0};
    const auto r = sim.run(d, armed);
    REQUIRE(r.moves_log.size() == 1);
    CHECK(r.moves_log[0] == move_record{0, 0, 1, 1ms, 1ms});
    CHECK(r.sources[0].moves == 1);
    CHECK(r.sources[0].final_cpu == 1);
    REQUIRE(r.decisions.size() == 3);
    CHECK(r.decisions[2].at == 1ms);
    CHECK(r.decisions[2].before == std::vector<worker_id>{0, 0});
    CHECK(r.decisions[2].after == std::vector<worker_id>{1, 0});
}

TEST_CASE("simulator: a loaded source moves only once its old CPU holds nothing more for it")
{
    scenario sc;
    sc.cpus = 2;
    sc.duration = 4ms;
    sc.costs = simple_costs;
    // Two sources overload CPU 0 (2.5 us per packet), so source 1's tasklet is always queued
    // or running there when the move is decided.
    for (int i = 0; i < 2; ++i)
        sc.sources.push_back({"s" + std::to_string(i), shapes::constant{rate::gbps(6)}, packet_sizes::fixed(1500)});
    simulator sim(sc);
    fixed_map d({0, 0}, 1ms);
    d.remap_at = 2;
    d.remap_to = {0, 1};
    struct recorder {
        std::vector<run_record> runs;
        void on_run(const run_record& r) { runs.push_back(r); }
    } log;
    const auto r = sim.run(d, armed, log);
    REQUIRE(r.moves_log.size() == 1);
    const auto& m = r.moves_log[0];
    CHECK(m.source == 1);
    CHECK(m.from == 0);
    CHECK(m.to == 1);
    CHECK(m.decided == 2ms);
    CHECK(m.effective > m.decided); // the run queued on CPU 0 went first
    // Source 1's runs: contiguous items, never overlapping in time; on CPU 0 up to the move,
    // on CPU 1 from it.
    std::uint64_t next_item = 0;
    nanos last_end{0};
    std::size_t on_old_after_decision = 0, on_new = 0;
    for (const auto& run : log.runs) {
        if (run.source != 1)
            continue;
        CHECK(run.first_item == next_item);
        CHECK(run.start >= last_end);
        next_item += run.items;
        last_end = run.end;
        if (run.cpu == 0) {
            CHECK(run.end <= m.effective);
            on_old_after_decision += run.end > m.decided ? 1 : 0;
        } else {
            CHECK(run.start >= m.effective);
            ++on_new;
        }
    }
    CHECK(on_old_after_decision == 1); // the run that was queued or running at the decision
    CHECK(on_new > 0);
    CHECK(r.cpus[1].migrations == 1);
    CHECK(r.cpus[1].packets > 0);
    CHECK(r.sources[1].final_cpu == 1);
}

TEST_CASE("simulator: a policy that places a source on a CPU that does not exist is reported")
{
    simulator sim(two_source_trace());
    CHECK_THROWS_WITH_AS(static_cast<void>(sim.run(fixed_map({0, 3}), armed)),
                         "xnv: dispatch policy fixed_map placed a source on worker 3 of 1", std::out_of_range);
}

TEST_CASE("simulator: a policy that rejects the CPU count is reported")
{
    simulator sim(two_source_trace());
    CHECK_THROWS_WITH_AS(static_cast<void>(sim.run(xnv::dispatch::hysteresis_balanced({.max_workers = 4}), armed)),
                         "xnv: hysteresis_config.max_workers (4) exceeds the dispatcher's 1 workers",
                         std::invalid_argument);
}

TEST_CASE("simulator: bad scenarios are rejected with the parameter named")
{
    const auto base = [] {
        scenario sc;
        sc.sources.push_back({"a", shapes::constant{rate::gbps(1)}});
        return sc;
    };
    auto sc = base();
    sc.cpus = 0;
    CHECK(rejection(sc) == "xnv::sim: scenario: cpus must be at least 1");
    sc = base();
    sc.cpus = 5000;
    CHECK(rejection(sc) == "xnv::sim: scenario: cpus must be at most 4096");
    sc = base();
    sc.duration = 0ns;
    CHECK(rejection(sc) == "xnv::sim: scenario: duration must be positive");
    sc = base();
    sc.duration = nanos(std::int64_t{2'000'000'000'000'000});
    CHECK(rejection(sc) == "xnv::sim: scenario: duration must be at most 10^15 ns");
    sc = base();
    sc.warmup = sc.duration;
    CHECK(rejection(sc) == "xnv::sim: scenario: warmup must be in [0, duration)");
    sc = base();
    sc.ring_slots = 0;
    CHECK(rejection(sc) == "xnv::sim: scenario: ring_slots must be at least 1");
    sc = base();
    sc.budget = 0;
    CHECK(rejection(sc) == "xnv::sim: scenario: budget must be at least 1");
    sc = base();
    sc.sources.clear();
    CHECK(rejection(sc) == "xnv::sim: scenario: no traffic sources (give synthetic sources, a trace, or both)");
    sc = base();
    sc.costs.per_packet = -1ns;
    CHECK(rejection(sc) == "xnv::sim: cost model: per_packet must not be negative");
    sc.costs = cost_model{};
    sc.costs.migration = -1ns;
    CHECK(rejection(sc) == "xnv::sim: cost model: migration must not be negative");
    sc.costs = cost_model{.per_packet = 0ns, .per_byte_ps = 0, .per_run = 0ns};
    CHECK(rejection(sc) == "xnv::sim: cost model: per_packet, per_byte_ps and per_run are all zero; a tasklet run "
                           "would take no time");
    sc.costs = cost_model{};
    sc.costs.wakeup = 2s;
    CHECK(rejection(sc) == "xnv::sim: cost model: a cost above one second per unit is not a model");
    sc.costs = cost_model{};
    sc.costs.per_byte_ps = 2'000'000;
    CHECK(rejection(sc) == "xnv::sim: scenario: cost model per_byte_ps must be at most 10^6 (one microsecond per byte)");
    sc = base();
    sc.sources[0].size = {0, 0};
    CHECK(rejection(sc) == "xnv::sim: source 'a': packet size must be at least 1 byte");
}
