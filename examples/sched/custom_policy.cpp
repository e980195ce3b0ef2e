// SPDX-License-Identifier: MIT
// A dispatch policy of your own, and how to check it deterministically.
//
// `elephants_apart` keeps the many small sources ("mice") together on worker 0, where they
// share a warm cache, and gives every source whose load stays above a threshold ("elephants")
// a worker of its own, heaviest first. It satisfies `xnv::dispatch_policy`, so it plugs into
// `xnv::balanced_dispatcher` (and `xnv::tasklet_balancer`) like the built-in policies.
//
// main() drives it on a virtual clock with a scripted load, prints every decision, and checks
// the mapping at three points: the pattern of a unit test for a policy.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <xnv/clock.hpp>
#include <xnv/sched/dispatcher.hpp>

using namespace std::chrono_literals;

class elephants_apart {
public:
    static constexpr std::string_view name = "elephants_apart";

    /// `threshold`: the busy fraction above which a source is an elephant; `samples`: how
    /// many consecutive samples it must stay above (or below) before it moves.
    elephants_apart(double threshold, std::uint32_t samples) : threshold_(threshold), samples_(samples)
    {
        if (!(threshold > 0.0 && threshold < 1.0))
            throw std::invalid_argument("elephants_apart: threshold must be in (0, 1)");
        if (samples == 0)
            throw std::invalid_argument("elephants_apart: samples must be at least 1");
    }

    void bind(std::uint32_t workers)
    {
        if (workers < 2)
            throw std::invalid_argument("elephants_apart needs at least 2 workers");
        workers_ = workers;
    }

    // New sources start among the mice.
    [[nodiscard]] xnv::worker_id place(const xnv::dispatch_view&) const noexcept { return 0; }

    void on_sample(const xnv::dispatch_view& v, xnv::dispatch_plan& plan)
    {
        const auto& src = v.sources();
        streak_.resize(src.size(), 0);
        double total = 0.0;
        std::vector<xnv::source_id> calmed;
        std::vector<std::pair<double, xnv::source_id>> grown;
        for (xnv::source_id s = 0; s < src.size(); ++s) {
            if (!src[s].connected)
                continue;
            const double load = v.load(s, xnv::load_metric::busy);
            total += load;
            const bool elephant = plan.worker(s) != 0;
            // Consecutive samples arguing for a change of class; any other sample resets.
            const bool argues = elephant ? load < threshold_ : load > threshold_;
            streak_[s] = argues ? streak_[s] + 1 : 0;
            if (streak_[s] < samples_)
                continue;
            streak_[s] = 0;
            if (elephant)
                calmed.push_back(s);
            else
                grown.emplace_back(load, s);
        }
        plan.set_load(total);
        for (xnv::source_id s : calmed)
            plan.move(s, 0);
        // Heaviest newcomer first, each onto the worker (1..) with the fewest elephants.
        std::stable_sort(grown.begin(), grown.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
        auto elephants_on = [&](xnv::worker_id w) {
            std::uint32_t n = 0;
            for (xnv::source_id s = 0; s < src.size(); ++s)
                n += (src[s].connected && plan.worker(s) == w) ? 1U : 0U;
            return n;
        };
        for (const auto& g : grown) {
            xnv::worker_id best = 1;
            for (xnv::worker_id w = 2; w < workers_; ++w)
                if (elephants_on(w) < elephants_on(best))
                    best = w;
            plan.move(g.second, best);
        }
        active_ = 1;
        for (xnv::source_id s = 0; s < src.size(); ++s)
            if (src[s].connected)
                active_ = std::max(active_, plan.worker(s) + 1);
    }

    [[nodiscard]] std::uint32_t active_workers() const noexcept { return active_; }
    [[nodiscard]] xnv::nanos sample_interval() const noexcept { return 10ms; }

private:
    double threshold_;
    std::uint32_t samples_;
    std::uint32_t workers_ = 2;
    std::uint32_t active_ = 1;
    std::vector<std::uint32_t> streak_;
};

static_assert(xnv::dispatch_policy<elephants_apart>);

int main()
{
    xnv::virtual_clock clock;
    xnv::balanced_dispatcher d(4, elephants_apart(0.5, 3), xnv::clock_ref<xnv::virtual_clock>(clock));
    for (int i = 0; i < 6; ++i)
        d.connect();

    // Source 2 turns into an elephant for samples 10..29; source 4 for samples 15..39.
    auto load_of = [](xnv::source_id s, int k) {
        if (s == 2 && k >= 10 && k < 30)
            return 0.9;
        if (s == 4 && k >= 15 && k < 40)
            return 0.7;
        return 0.05;
    };
    bool ok = true;
    auto expect = [&](int k, std::vector<xnv::worker_id> want) {
        const std::vector<xnv::worker_id> got(d.routes().begin(), d.routes().end());
        if (got != want) {
            fmt::print("after sample {}: expected {}, got {}\n", k, want, got);
            ok = false;
        }
    };
    for (int k = 0; k < 50; ++k) {
        clock.advance(d.next_sample_at() - clock.now());
        std::vector<xnv::source_sample> sample;
        for (xnv::source_id s = 0; s < 6; ++s)
            sample.push_back({s, 0, 0, std::chrono::duration_cast<xnv::nanos>(10ms * load_of(s, k))});
        d.sample(sample);
        if (k == 14)
            expect(k, {0, 0, 1, 0, 0, 0}); // source 2 moved at its third high sample (k = 12)
        if (k == 20)
            expect(k, {0, 0, 1, 0, 2, 0}); // source 4 joined the elephants at k = 17
        if (k == 35)
            expect(k, {0, 0, 0, 0, 2, 0}); // source 2 calmed down for three samples (k = 32)
        if (k == 49)
            expect(k, {0, 0, 0, 0, 0, 0}); // and source 4 (k = 42)
    }
    auto show = [](const std::vector<xnv::worker_id>& m) {
        std::string out;
        for (auto w : m)
            out += w == xnv::no_worker ? '-' : static_cast<char>('0' + w);
        return out;
    };
    for (const auto& x : d.decisions())
        fmt::print("{:>6} ms  {:<10} active {} -> {}  load {:.2f}  {} -> {}\n", x.at / 1ms, xnv::to_string(x.reason),
                   x.active_before, x.active_after, x.load, show(x.before), show(x.after));
    fmt::print("{}\n", ok ? "elephants_apart behaves as specified" : "elephants_apart FAILED its checks");
    return ok ? 0 : 1;
}
