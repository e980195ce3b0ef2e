// SPDX-License-Identifier: MIT
#pragma once

// One-way streams of 8-byte items: the same four operations over each implementation.
//
// Every implementation below is a `stream_queue`: a `shared` object built once, a `producer`
// and a `consumer` built from it on their own threads, with
//   producer: bool try_push(item), std::uint32_t try_push_n(const item*, n)
//   consumer: bool try_pop(item&),  std::uint32_t try_pop_n(item*, n)
// Each maps onto the calls its library documents for that job, and nothing else.

#include "harness.hpp"

#include <xnv/ring/ring.hpp>

#include <boost/lockfree/spsc_queue.hpp>

#include <concepts>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <span>
#include <string_view>

#if XNV_BENCH_HAVE_DPDK
#include <rte_ring.h>
#include <rte_ring_elem.h>
#endif
#if XNV_BENCH_HAVE_RWQ
#include <readerwriterqueue.h>
#endif

namespace xnv_bench {

using item = std::uint64_t;

/// Items every stream queue holds (rte_ring: one less, its documented power-of-two sizing).
inline constexpr std::uint32_t stream_capacity = 1024;

template <class Q>
concept stream_queue = requires(typename Q::shared& s, typename Q::producer& p, typename Q::consumer& c, item v,
                                item* out, const item* in, std::uint32_t n) {
    { Q::name } -> std::convertible_to<std::string_view>;
    typename Q::producer;
    typename Q::consumer;
    requires std::constructible_from<typename Q::producer, typename Q::shared&>;
    requires std::constructible_from<typename Q::consumer, typename Q::shared&>;
    { p.try_push(v) } -> std::same_as<bool>;
    { p.try_push_n(in, n) } -> std::same_as<std::uint32_t>;
    { c.try_pop(v) } -> std::same_as<bool>;
    { c.try_pop_n(out, n) } -> std::same_as<std::uint32_t>;
    { p.failed() } -> std::same_as<bool>;
    { c.failed() } -> std::same_as<bool>;
};

// ---------------------------------------------------------------------------------- xnv
//
// The ring used as a one-way stream, the way its protocol allows: the front end produces
// requests; the back end consumes them and gives the slots back by committing as many
// responses without writing their contents (commit(n) + publish()); the front end takes the
// slots back with discard() when it finds the ring full, never reading those responses.
template <class Layout>
struct xnv_stream {
    static constexpr std::string_view name = std::same_as<Layout, xnv::layout::padded> ? "xnv_padded" : "xnv_xen_abi";
    static constexpr std::size_t bytes = xnv::ring_bytes_for<item, item, Layout>(stream_capacity);

    struct shared {
        aligned_buffer mem{bytes};
        shared() { xnv::init_shared_ring<item, item, Layout>(mem.first(bytes)); }
    };

    class producer {
    public:
        explicit producer(shared& s) : ring_(s.mem.first(bytes)) {}
        bool try_push(item v) noexcept
        {
            if (ring_.full() && ring_.discard().count == 0)
                return false;
            (void)ring_.try_produce(v);
            ring_.publish();
            return true;
        }
        std::uint32_t try_push_n(const item* v, std::uint32_t n) noexcept
        {
            if (ring_.free_slots() < n)
                (void)ring_.discard();
            const std::uint32_t done = ring_.produce(std::span<const item>(v, n));
            if (done != 0)
                ring_.publish();
            return done;
        }
        [[nodiscard]] bool failed() const noexcept { return ring_.error() != xnv::ring_error::none; }

    private:
        xnv::front_ring<item, item, Layout> ring_;
    };

    class consumer {
    public:
        explicit consumer(shared& s) : ring_(s.mem.first(bytes)) {}
        bool try_pop(item& v) noexcept
        {
            if (ring_.try_consume(v).count == 0)
                return false;
            ring_.commit(1);
            ring_.publish();
            return true;
        }
        std::uint32_t try_pop_n(item* v, std::uint32_t n) noexcept
        {
            const std::uint32_t got = ring_.consume(std::span<item>(v, n)).count;
            if (got != 0) {
                ring_.commit(got);
                ring_.publish();
            }
            return got;
        }
        [[nodiscard]] bool failed() const noexcept { return ring_.error() != xnv::ring_error::none; }

    private:
        xnv::back_ring<item, item, Layout> ring_;
    };
};

// ---------------------------------------------------------------------------- Boost
//
// spsc_queue with its capacity fixed at compile time (the faster of its two forms), the
// single-element push/pop and the array push/pop overloads for batches.
struct boost_spsc_stream {
    static constexpr std::string_view name = "boost_spsc";
    using queue = boost::lockfree::spsc_queue<item, boost::lockfree::capacity<stream_capacity>>;

    struct shared {
        std::unique_ptr<queue> q = std::make_unique<queue>();
    };

    class producer {
    public:
        explicit producer(shared& s) : q_(*s.q) {}
        bool try_push(item v) noexcept { return q_.push(v); }
        std::uint32_t try_push_n(const item* v, std::uint32_t n) noexcept
        {
            return static_cast<std::uint32_t>(q_.push(v, n));
        }
        [[nodiscard]] bool failed() const noexcept { return false; }

    private:
        queue& q_;
    };

    class consumer {
    public:
        explicit consumer(shared& s) : q_(*s.q) {}
        bool try_pop(item& v) noexcept { return q_.pop(v); }
        std::uint32_t try_pop_n(item* v, std::uint32_t n) noexcept { return static_cast<std::uint32_t>(q_.pop(v, n)); }
        [[nodiscard]] bool failed() const noexcept { return false; }

    private:
        queue& q_;
    };
};

#if XNV_BENCH_HAVE_DPDK
// ----------------------------------------------------------------------------- DPDK
//
// rte_ring in single-producer/single-consumer mode, initialised with rte_ring_init on memory
// allocated here (rte_ring_get_memsize), which needs no EAL. Items go through the element
// API with 8-byte elements, which is what the classic void* API expands to on 64-bit.
struct rte_ring_stream {
    static constexpr std::string_view name = "rte_ring";

    struct shared {
        std::unique_ptr<aligned_buffer> mem;
        rte_ring* r = nullptr;
        shared()
        {
            const ssize_t bytes = rte_ring_get_memsize(stream_capacity);
            if (bytes < 0)
                throw std::runtime_error("rte_ring_get_memsize failed");
            mem = std::make_unique<aligned_buffer>(static_cast<std::size_t>(bytes));
            r = reinterpret_cast<rte_ring*>(mem->data());
            if (rte_ring_init(r, "xnv-bench", stream_capacity, RING_F_SP_ENQ | RING_F_SC_DEQ) != 0)
                throw std::runtime_error("rte_ring_init failed");
        }
    };

    class producer {
    public:
        explicit producer(shared& s) : r_(s.r) {}
        bool try_push(item v) noexcept { return rte_ring_sp_enqueue_elem(r_, &v, sizeof v) == 0; }
        std::uint32_t try_push_n(const item* v, std::uint32_t n) noexcept
        {
            return rte_ring_sp_enqueue_burst_elem(r_, v, sizeof(item), n, nullptr);
        }
        [[nodiscard]] bool failed() const noexcept { return false; }

    private:
        rte_ring* r_;
    };

    class consumer {
    public:
        explicit consumer(shared& s) : r_(s.r) {}
        bool try_pop(item& v) noexcept { return rte_ring_sc_dequeue_elem(r_, &v, sizeof v) == 0; }
        std::uint32_t try_pop_n(item* v, std::uint32_t n) noexcept
        {
            return rte_ring_sc_dequeue_burst_elem(r_, v, sizeof(item), n, nullptr);
        }
        [[nodiscard]] bool failed() const noexcept { return false; }

    private:
        rte_ring* r_;
    };
};
#endif

#if XNV_BENCH_HAVE_RWQ
// ----------------------------------------------------------------------- moodycamel
//
// ReaderWriterQueue sized up front, used through try_enqueue (never allocates) and
// try_dequeue. It has no batch operations, so a batch is a loop of single operations.
struct rwq_stream {
    static constexpr std::string_view name = "moodycamel_rwq";
    using queue = moodycamel::ReaderWriterQueue<item>;

    struct shared {
        std::unique_ptr<queue> q = std::make_unique<queue>(stream_capacity);
    };

    class producer {
    public:
        explicit producer(shared& s) : q_(*s.q) {}
        bool try_push(item v) noexcept { return q_.try_enqueue(v); }
        std::uint32_t try_push_n(const item* v, std::uint32_t n) noexcept
        {
            std::uint32_t i = 0;
            while (i < n && q_.try_enqueue(v[i]))
                ++i;
            return i;
        }
        [[nodiscard]] bool failed() const noexcept { return false; }

    private:
        queue& q_;
    };

    class consumer {
    public:
        explicit consumer(shared& s) : q_(*s.q) {}
        bool try_pop(item& v) noexcept { return q_.try_dequeue(v); }
        std::uint32_t try_pop_n(item* v, std::uint32_t n) noexcept
        {
            std::uint32_t i = 0;
            while (i < n && q_.try_dequeue(v[i]))
                ++i;
            return i;
        }
        [[nodiscard]] bool failed() const noexcept { return false; }

    private:
        queue& q_;
    };
};
#endif

} // namespace xnv_bench
