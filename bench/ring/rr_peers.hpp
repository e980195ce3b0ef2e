// SPDX-License-Identifier: MIT
#pragma once

// Request/response over Xen netif TX types (12-byte request, 4-byte response): the front
// end keeps up to a ring's worth of requests outstanding, the back end answers each one.
//
// Every implementation is an `rr_pair` with
//   front: std::uint32_t send(max, next_id)                 produce up to `max` requests, publish once
//          std::uint32_t receive(max, expect_id, bad)       consume up to `max` responses, check ids
//   back:  std::uint32_t serve(max)                         consume up to `max` requests, answer, publish once
// Both sides move whole batches: copy the requests out, then write the responses in place.

#include "harness.hpp"

#include <xnv/ring/ring.hpp>
#include <xnv/wire/netif.hpp>

#include <boost/lockfree/spsc_queue.hpp>

#include <algorithm>
#include <array>
#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#if XNV_BENCH_HAVE_XEN
// Xen's public headers leave the barriers to the includer. These are the definitions Xen's
// own user-space library (xenctrl.h) uses on x86: loads are not reordered with loads nor
// stores with stores, so read and write barriers only restrain the compiler; the full
// barrier (used before sleeping, not in a polled ring) is mfence.
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#if defined(__x86_64__) || defined(__i386__)
#define xen_mb() asm volatile("mfence" ::: "memory")
#define xen_rmb() asm volatile("" ::: "memory")
#define xen_wmb() asm volatile("" ::: "memory")
#else
#define xen_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif
#include <xen/io/netif.h>
#endif

namespace xnv_bench {

using rr_request = xnv::netif::tx_request;
using rr_response = xnv::netif::tx_response;

/// One 4 KiB page per ring, as a Xen netif TX ring: 256 slots in both xnv layouts.
inline constexpr std::size_t rr_page = 4096;
inline constexpr std::uint32_t rr_window = 256;
/// The most entries either side moves per publication (Linux NAPI's per-poll budget).
inline constexpr std::uint32_t rr_budget = 64;

static_assert(xnv::ring_entries_for<rr_request, rr_response, xnv::layout::xen_abi>(rr_page) == rr_window);
static_assert(xnv::ring_entries_for<rr_request, rr_response, xnv::layout::padded>(rr_page) == rr_window);

inline rr_request make_request(std::uint16_t id) noexcept
{
    return rr_request{.gref = 7u, .offset = 0, .flags = 0, .id = id, .size = 60};
}

template <class P>
concept rr_pair = requires(typename P::shared& s, typename P::front& f, typename P::back& b, std::uint32_t n,
                           std::uint16_t& id, bool& bad) {
    { P::name } -> std::convertible_to<std::string_view>;
    requires std::constructible_from<typename P::front, typename P::shared&>;
    requires std::constructible_from<typename P::back, typename P::shared&>;
    { f.send(n, id) } -> std::same_as<std::uint32_t>;
    { f.receive(n, id, bad) } -> std::same_as<std::uint32_t>;
    { b.serve(n) } -> std::same_as<std::uint32_t>;
    { f.failed() } -> std::same_as<bool>;
    { b.failed() } -> std::same_as<bool>;
};

// ---------------------------------------------------------------------------------- xnv
template <class Layout>
struct xnv_rr {
    static constexpr std::string_view name = std::same_as<Layout, xnv::layout::padded> ? "xnv_padded" : "xnv_xen_abi";

    struct shared {
        aligned_buffer mem{rr_page};
        shared() { xnv::init_shared_ring<rr_request, rr_response, Layout>(mem.first(rr_page)); }
    };

    class front {
    public:
        explicit front(shared& s) : ring_(s.mem.first(rr_page)) {}
        std::uint32_t send(std::uint32_t max, std::uint16_t& next_id) noexcept
        {
            const std::uint32_t n = std::min(max, ring_.free_slots());
            if (n == 0)
                return 0;
            for (std::uint32_t k = 0; k < n; ++k)
                *ring_.reserve_slot(k) = make_request(next_id++);
            ring_.commit(n);
            ring_.publish();
            return n;
        }
        std::uint32_t receive(std::uint32_t max, std::uint16_t& expect_id, bool& bad) noexcept
        {
            std::array<rr_response, rr_budget> rsp;
            const auto got = ring_.consume(std::span<rr_response>(rsp.data(), std::min(max, rr_budget))).count;
            for (std::uint32_t k = 0; k < got; ++k)
                bad |= rsp[k].id != expect_id++ || rsp[k].status != 0;
            return got;
        }
        [[nodiscard]] bool failed() const noexcept { return ring_.error() != xnv::ring_error::none; }

    private:
        xnv::front_ring<rr_request, rr_response, Layout> ring_;
    };

    class back {
    public:
        explicit back(shared& s) : ring_(s.mem.first(rr_page)) {}
        std::uint32_t serve(std::uint32_t max) noexcept
        {
            std::array<rr_request, rr_budget> req;
            const auto got = ring_.consume(std::span<rr_request>(req.data(), std::min(max, rr_budget))).count;
            if (got == 0)
                return 0;
            for (std::uint32_t k = 0; k < got; ++k)
                *ring_.reserve_slot(k) = rr_response{.id = req[k].id, .status = 0};
            ring_.commit(got);
            ring_.publish();
            return got;
        }
        [[nodiscard]] bool failed() const noexcept { return ring_.error() != xnv::ring_error::none; }

    private:
        xnv::back_ring<rr_request, rr_response, Layout> ring_;
    };
};

#if XNV_BENCH_HAVE_XEN
// ------------------------------------------------------------------- Xen's own macros
//
// A front end and a back end written the way Linux's netfront/netback use io/ring.h:
// requests built in place at RING_GET_REQUEST(req_prod_pvt) and published with
// RING_PUSH_REQUESTS; the back end takes the clamped count from
// XEN_RING_NR_UNCONSUMED_REQUESTS after netback's RING_REQUEST_PROD_OVERFLOW check, copies
// each request out once with RING_COPY_REQUEST and
// answers in place at RING_GET_RESPONSE(rsp_prod_pvt); the front end reads rsp_prod once per
// pass (then xen_rmb) and copies responses out with RING_COPY_RESPONSE.
struct xen_macros_rr {
    static constexpr std::string_view name = "xen_macros";

    struct shared {
        aligned_buffer mem{rr_page};
        netif_tx_sring_t* sring = reinterpret_cast<netif_tx_sring_t*>(mem.data());
        shared() { SHARED_RING_INIT(sring); }
    };

    class front {
    public:
        explicit front(shared& s) { FRONT_RING_INIT(&r_, s.sring, rr_page); }
        std::uint32_t send(std::uint32_t max, std::uint16_t& next_id) noexcept
        {
            const std::uint32_t n = std::min<std::uint32_t>(max, RING_FREE_REQUESTS(&r_));
            if (n == 0)
                return 0;
            for (std::uint32_t k = 0; k < n; ++k) {
                netif_tx_request_t* req = RING_GET_REQUEST(&r_, r_.req_prod_pvt);
                req->gref = 7u;
                req->offset = 0;
                req->flags = 0;
                req->id = next_id++;
                req->size = 60;
                ++r_.req_prod_pvt;
            }
            RING_PUSH_REQUESTS(&r_);
            return n;
        }
        std::uint32_t receive(std::uint32_t max, std::uint16_t& expect_id, bool& bad) noexcept
        {
            xen_rmb(); // a polled index is read afresh on every pass, never reused by the compiler
            const RING_IDX prod = r_.sring->rsp_prod;
            xen_rmb(); // read the responses only after reading the index that covers them
            if (RING_RESPONSE_PROD_OVERFLOW(&r_, prod)) {
                overflow_ = true;
                return 0;
            }
            const std::uint32_t n = std::min<std::uint32_t>({max, rr_budget, prod - r_.rsp_cons});
            for (std::uint32_t k = 0; k < n; ++k) {
                netif_tx_response_t rsp;
                RING_COPY_RESPONSE(&r_, r_.rsp_cons, &rsp);
                ++r_.rsp_cons;
                bad |= rsp.id != expect_id++ || rsp.status != 0;
            }
            return n;
        }
        [[nodiscard]] bool failed() const noexcept { return overflow_; }

    private:
        netif_tx_front_ring_t r_{};
        bool overflow_ = false;
    };

    class back {
    public:
        explicit back(shared& s) { BACK_RING_INIT(&r_, s.sring, rr_page); }
        std::uint32_t serve(std::uint32_t max) noexcept
        {
            xen_rmb(); // a polled index is read afresh on every pass, never reused by the compiler
            if (RING_REQUEST_PROD_OVERFLOW(&r_, r_.sring->req_prod)) {
                overflow_ = true; // netback's "impossible number of requests": disconnect
                return 0;
            }
#if defined(__clang__)
#pragma clang diagnostic push
// Xen's macro is a GNU statement expression (GCC does not flag it, coming from a system header).
#pragma clang diagnostic ignored "-Wgnu-statement-expression"
#endif
            const std::uint32_t avail = XEN_RING_NR_UNCONSUMED_REQUESTS(&r_);
#if defined(__clang__)
#pragma clang diagnostic pop
#endif
            const std::uint32_t n = std::min<std::uint32_t>({max, rr_budget, avail});
            if (n == 0)
                return 0;
            xen_rmb(); // read the requests only after reading the index that covers them
            std::array<netif_tx_request_t, rr_budget> req;
            for (std::uint32_t k = 0; k < n; ++k) {
                RING_COPY_REQUEST(&r_, r_.req_cons, &req[k]);
                ++r_.req_cons;
            }
            for (std::uint32_t k = 0; k < n; ++k) {
                netif_tx_response_t* rsp = RING_GET_RESPONSE(&r_, r_.rsp_prod_pvt);
                rsp->id = req[k].id;
                rsp->status = NETIF_RSP_OKAY;
                ++r_.rsp_prod_pvt;
            }
            RING_PUSH_RESPONSES(&r_);
            return n;
        }
        [[nodiscard]] bool failed() const noexcept { return overflow_; }

    private:
        netif_tx_back_ring_t r_{};
        bool overflow_ = false;
    };
};
#endif

// ---------------------------------------------------------------------------- Boost
//
// A pair of spsc_queues (requests one way, responses the other) of the ring's size, moved
// with the array push/pop overloads.
struct boost_spsc_rr {
    static constexpr std::string_view name = "boost_spsc_pair";
    template <class T>
    using queue = boost::lockfree::spsc_queue<T, boost::lockfree::capacity<rr_window>>;

    struct shared {
        std::unique_ptr<queue<rr_request>> req = std::make_unique<queue<rr_request>>();
        std::unique_ptr<queue<rr_response>> rsp = std::make_unique<queue<rr_response>>();
    };

    class front {
    public:
        explicit front(shared& s) : s_(s) {}
        std::uint32_t send(std::uint32_t max, std::uint16_t& next_id) noexcept
        {
            const std::uint32_t n = std::min({max, rr_budget, rr_window - outstanding_});
            if (n == 0)
                return 0;
            std::array<rr_request, rr_budget> req;
            for (std::uint32_t k = 0; k < n; ++k)
                req[k] = make_request(static_cast<std::uint16_t>(next_id + k));
            const auto pushed = static_cast<std::uint32_t>(s_.req->push(req.data(), n));
            next_id = static_cast<std::uint16_t>(next_id + pushed);
            outstanding_ += pushed;
            return pushed;
        }
        std::uint32_t receive(std::uint32_t max, std::uint16_t& expect_id, bool& bad) noexcept
        {
            std::array<rr_response, rr_budget> rsp;
            const auto got = static_cast<std::uint32_t>(s_.rsp->pop(rsp.data(), std::min(max, rr_budget)));
            for (std::uint32_t k = 0; k < got; ++k)
                bad |= rsp[k].id != expect_id++ || rsp[k].status != 0;
            outstanding_ -= got;
            return got;
        }
        [[nodiscard]] bool failed() const noexcept { return false; }

    private:
        shared& s_;
        std::uint32_t outstanding_ = 0;
    };

    class back {
    public:
        explicit back(shared& s) : s_(s) {}
        std::uint32_t serve(std::uint32_t max) noexcept
        {
            std::array<rr_request, rr_budget> req;
            const auto got = static_cast<std::uint32_t>(s_.req->pop(req.data(), std::min(max, rr_budget)));
            if (got == 0)
                return 0;
            std::array<rr_response, rr_budget> rsp;
            for (std::uint32_t k = 0; k < got; ++k)
                rsp[k] = rr_response{.id = req[k].id, .status = 0};
            // The front end never has more than rr_window outstanding, so the answers fit.
            std::uint32_t done = 0;
            while (done < got)
                done += static_cast<std::uint32_t>(s_.rsp->push(rsp.data() + done, got - done));
            return got;
        }
        [[nodiscard]] bool failed() const noexcept { return false; }

    private:
        shared& s_;
    };
};

} // namespace xnv_bench
