// SPDX-License-Identifier: MIT
// tasklet_balancer: the dispatcher driving a real scheduler. Load spreads sources over the
// workers and a quiet period packs them back; tasklets follow the routes; moves made while
// the rings stream keep every source's order; bad attachments are rejected.

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include <xnv/clock.hpp>
#include <xnv/sched/balancer.hpp>
#include <xnv/sched/policies.hpp>

#include "sequenced_source.hpp"

using namespace std::chrono_literals;
using xnv::poll_result;
using xnv::queue_kind;
using xnv::tasklet;
namespace dispatch = xnv::dispatch;

namespace {

template <class F>
bool eventually(F done)
{
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(200us);
    }
    return true;
}

// Moves every source to the next worker on every sample: the harshest mover there is.
struct rotate_every_sample {
    static constexpr std::string_view name = "rotate_every_sample";
    std::uint32_t workers = 1;
    void bind(std::uint32_t w) noexcept { workers = w; }
    [[nodiscard]] xnv::worker_id place(const xnv::dispatch_view&) const noexcept { return 0; }
    void on_sample(const xnv::dispatch_view& v, xnv::dispatch_plan& plan) const
    {
        for (xnv::source_id s = 0; s < v.sources().size(); ++s)
            if (v.sources()[s].connected)
                plan.move(s, (plan.worker(s) + 1) % workers);
    }
    [[nodiscard]] std::uint32_t active_workers() const noexcept { return workers; }
    [[nodiscard]] xnv::nanos sample_interval() const noexcept { return 500us; }
};
static_assert(xnv::dispatch_policy<rotate_every_sample>);

} // namespace

TEST_CASE("the balancer spreads flooding sources over the workers and packs them back when quiet")
{
    xnv::tasklet_scheduler sched(xnv::scheduler_config{.workers = 2});
    xnv::virtual_clock vc;
    dispatch::hysteresis_config c;
    c.metric = xnv::load_metric::items; // items per virtual second: any activity is "high"
    c.low_watermark = 1.0;
    c.high_watermark = 2.0;
    c.samples_to_grow = 2;
    c.samples_to_shrink = 3;
    c.min_dwell = 0ms;
    c.sample_interval = 10ms;
    xnv::tasklet_balancer bal(sched, dispatch::hysteresis_balanced(c), xnv::clock_ref<xnv::virtual_clock>(vc));

    std::atomic<bool> flooding{true};
    std::vector<std::unique_ptr<tasklet>> ts;
    for (int i = 0; i < 4; ++i)
        ts.push_back(std::make_unique<tasklet>(sched.worker(1), i % 2 == 0 ? queue_kind::tx : queue_kind::rx,
                                               [&](std::uint32_t b) {
                                                   return flooding.load(std::memory_order_relaxed)
                                                              ? poll_result::more(b)
                                                              : poll_result::finished(0);
                                               }));
    std::vector<xnv::source_id> ids;
    for (std::size_t i = 0; i < ts.size(); i += 2)
        ids.push_back(bal.attach({ts[i].get(), ts[i + 1].get()})); // a TX/RX pair per source
    for (auto& t : ts) {
        CHECK(&t->home() == &sched.worker(0)); // concentrated at connect
        t->schedule();
    }
    auto tick = [&] {
        std::this_thread::sleep_for(1ms); // let the workers run
        vc.advance(10ms);
        return bal.poll();
    };
    CHECK(eventually([&] {
        tick();
        return bal.dispatcher().active_workers() == 2;
    }));
    CHECK(bal.worker_of(ids[0]) != bal.worker_of(ids[1]));
    for (std::size_t s = 0; s < ids.size(); ++s) {
        CHECK(&ts[2 * s]->home() == &sched.worker(bal.worker_of(ids[s])));
        CHECK(&ts[2 * s + 1]->home() == &sched.worker(bal.worker_of(ids[s])));
    }
    CHECK(eventually([&] { return sched.stats(1).runs > 0; }));

    flooding.store(false);
    CHECK(eventually([&] {
        tick();
        return bal.dispatcher().active_workers() == 1;
    }));
    for (auto& t : ts)
        CHECK(&t->home() == &sched.worker(0));
    CHECK_FALSE(bal.dispatcher().decisions().empty());
    CHECK(bal.dispatcher().decisions().back().reason == xnv::decision_reason::shrink);
}

TEST_CASE("sources re-routed on every sample while their rings stream keep their order")
{
    xnv::tasklet_scheduler sched(xnv::scheduler_config{.workers = 3, .idle_spin = 5us});
    xnv::tasklet_balancer bal(sched, rotate_every_sample{});
    constexpr std::uint64_t items = 20000;
    std::array<sched_test::sequenced_source, 2> sources;
    for (auto& s : sources) {
        auto* sp = &s;
        s.task = std::make_unique<tasklet>(sched.worker(0), queue_kind::rx, [sp](std::uint32_t b) { return sp->poll(b); });
        bal.attach({s.task.get()});
    }
    std::vector<std::thread> producers;
    for (auto& s : sources)
        producers.emplace_back([&s] { s.produce(items); });
    const bool drained = eventually([&] {
        bal.poll();
        return std::all_of(sources.begin(), sources.end(), [](const auto& s) { return s.consumed.load() == items; });
    });
    for (auto& p : producers)
        p.join();
    CHECK(drained);
    CHECK(bal.dispatcher().moves().size() >= 2);
    for (auto& s : sources) {
        CHECK(s.consumed.load() == items);
        CHECK(s.errors.load() == 0);
        s.task->kill();
    }
}

TEST_CASE("bad attachments are rejected with clear errors")
{
    xnv::tasklet_scheduler sched(xnv::scheduler_config{.workers = 1});
    xnv::tasklet_balancer bal(sched, dispatch::round_robin{});
    CHECK_THROWS_WITH_AS(bal.attach({}), "xnv: tasklet_balancer::attach needs at least one tasklet",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(bal.attach({nullptr}), "xnv: tasklet_balancer::attach given a null tasklet",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(bal.detach(3), "xnv: disconnect of source 3, which is not connected", std::out_of_range);
    tasklet t(sched.worker(0), queue_kind::rx, [](std::uint32_t) { return poll_result::finished(0); });
    const auto s = bal.attach({&t});
    bal.detach(s);
    CHECK(bal.worker_of(s) == xnv::no_worker);
}
