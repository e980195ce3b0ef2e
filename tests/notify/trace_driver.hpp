// SPDX-License-Identifier: MIT
#pragma once

// A deterministic, single-threaded model of one ring direction on a virtual clock: a producer
// publishes bursts at given times through a `coalescer`, and a consumer, driven by a
// `napi_poller`, sleeps until a notification reaches it (`wake_latency` after it was sent) or
// its poller's deadline. Processing takes no virtual time. At equal times the producer acts
// first (publication, then its timer), then the consumer. The consumer answers every request
// with a response and the producer reclaims the slots, as on a real Xen ring.

#include <xnv/clock.hpp>
#include <xnv/notify/coalescer.hpp>
#include <xnv/notify/counting_fake.hpp>
#include <xnv/notify/poller.hpp>
#include <xnv/ring/ring.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <vector>

namespace xnv_test {

using xnv::nanos;

// Trivial (no default member initialisers): the ring copies it word by word.
struct item {
    std::uint32_t seq;
    std::uint32_t pad;
};

struct burst {
    nanos at;
    std::uint32_t items;
};

struct trace_options {
    std::uint32_t start_index = 0;
    nanos wake_latency{0};
    std::uint32_t budget = 64;
    std::uint64_t bytes_per_item = 0;
    xnv::notify::backoff_config backoff{};
};

inline constexpr nanos never = xnv::notify::no_deadline;
inline constexpr nanos not_delivered{-1};

template <xnv::notify::coalescing_policy P>
class trace_driver {
public:
    using clock_type = xnv::clock_ref<xnv::virtual_clock>;
    using fake_type = xnv::notify::counting_fake<clock_type>;
    using front = xnv::front_ring<item, item>;
    using back = xnv::back_ring<item, item>;
    static constexpr std::uint32_t ring_slots = 256;

    explicit trace_driver(P policy, trace_options o = {})
        : opt_(o), memory_(new(std::align_val_t{64}) std::byte[bytes]), fake_(clock_type(clock_)),
          prod_(xnv::ring_init, std::span<std::byte>(memory_.get(), bytes), o.start_index),
          cons_(std::span<std::byte>(memory_.get(), bytes), o.start_index),
          co_(prod_, fake_, policy, counters_, clock_type(clock_)),
          poller_(cons_, policy, counters_, xnv::notify::poller_config{.budget = o.budget, .backoff = o.backoff}, clock_type(clock_))
    {
    }

    /// Play `trace` (times non-decreasing) and everything it causes, up to time `until`.
    void run(std::span<const burst> trace, nanos until)
    {
        delivered_.assign(delivered_.size() + total_items(trace), not_delivered);
        consume(xnv::notify::wake_reason::continued); // the consumer arms before traffic starts
        std::size_t next = 0;
        for (;;) {
            const nanos t_pub = next < trace.size() ? trace[next].at : never;
            const nanos t_timer = co_.next_deadline();
            const nanos t = std::min({t_pub, t_timer, wake_at_});
            if (t == never || t > until)
                break;
            clock_.advance_to(t);
            if (t == t_pub) {
                publish(trace[next++].items);
            } else if (t == t_timer) {
                (void)co_.on_timer();
            } else {
                const std::uint64_t n = fake_.try_consume();
                consume(listening_ && n != 0 ? xnv::notify::wake_reason::notification
                                             : xnv::notify::wake_reason::timer);
            }
            if (listening_ && fake_.pending() != 0)
                wake_at_ = std::min(wake_at_, clock_.now() + opt_.wake_latency);
        }
    }

    [[nodiscard]] std::vector<nanos> notifications() const
    {
        return {fake_.notifications().begin(), fake_.notifications().end()};
    }
    /// Virtual time at which each item (by sequence number) was handed to the consumer.
    [[nodiscard]] const std::vector<nanos>& delivered() const noexcept { return delivered_; }
    [[nodiscard]] xnv::notify::counters_snapshot counters() const noexcept { return counters_.snapshot(); }
    [[nodiscard]] P& producer_policy() noexcept { return co_.policy(); }
    [[nodiscard]] P& consumer_policy() noexcept { return poller_.policy(); }
    [[nodiscard]] std::uint32_t consumer_event_index() const noexcept
    {
        std::uint32_t v = 0;
        std::memcpy(&v, memory_.get() + xnv::layout::xen_abi::req_event_offset, sizeof v);
        return v;
    }

private:
    static constexpr std::size_t bytes = xnv::ring_bytes_for<item, item>(ring_slots);

    struct aligned_delete {
        void operator()(std::byte* p) const noexcept { ::operator delete[](p, std::align_val_t{64}); }
    };

    static std::size_t total_items(std::span<const burst> trace)
    {
        std::size_t n = 0;
        for (const burst& b : trace)
            n += b.items;
        return n;
    }

    void publish(std::uint32_t n)
    {
        (void)prod_.discard(); // reclaim answered slots
        for (std::uint32_t k = 0; k < n; ++k)
            if (!prod_.try_produce(item{seq_++, 0}))
                throw std::logic_error("trace overfills the ring: keep bursts below the ring size");
        (void)co_.publish(std::uint64_t{n} * opt_.bytes_per_item);
    }

    void consume(xnv::notify::wake_reason why)
    {
        for (;;) {
            const auto r = poller_.poll(why, [this](std::span<const item> batch) {
                for (const item& it : batch) {
                    delivered_.at(it.seq) = clock_.now();
                    (void)cons_.try_produce(it);
                }
            });
            cons_.publish();
            switch (r.state) {
            case xnv::notify::poll_state::keep_polling:
                why = xnv::notify::wake_reason::continued;
                continue;
            case xnv::notify::poll_state::armed:
                listening_ = true;
                wake_at_ = r.deadline;
                return;
            case xnv::notify::poll_state::backing_off:
                listening_ = false;
                wake_at_ = r.deadline;
                return;
            case xnv::notify::poll_state::peer_error: throw std::logic_error("ring error in a trace");
            }
        }
    }

    trace_options opt_;
    xnv::virtual_clock clock_;
    std::unique_ptr<std::byte[], aligned_delete> memory_;
    fake_type fake_;
    front prod_;
    back cons_;
    xnv::notify::channel_counters counters_;
    xnv::notify::coalescer<front, fake_type, P, clock_type> co_;
    xnv::notify::napi_poller<back, P, clock_type> poller_;
    std::vector<nanos> delivered_;
    std::uint32_t seq_ = 0;
    nanos wake_at_ = never;
    bool listening_ = false;
};

/// `n` bursts of `items` each, `gap` apart, from `first`.
inline std::vector<burst> periodic(nanos first, nanos gap, std::size_t n, std::uint32_t items = 1)
{
    std::vector<burst> t;
    for (std::size_t i = 0; i < n; ++i)
        t.push_back({first + gap * static_cast<long>(i), items});
    return t;
}

inline std::vector<burst> concat(std::vector<burst> a, const std::vector<burst>& b)
{
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

} // namespace xnv_test
