// SPDX-License-Identifier: MIT
#pragma once

// One request in flight: the front end sends a sequence number, the back end echoes it, the
// front end waits for the echo before sending the next. Each implementation is a
// `pingpong_pair` with
//   front: void send(seq), bool try_receive(seq&)
//   back:  bool try_receive(seq&), void send(seq)

#include "harness.hpp"

#include <xnv/ring/ring.hpp>

#include <atomic>
#include <concepts>
#include <cstdint>
#include <string_view>

namespace xnv_bench {

/// Sent by the front end after its last round trip: the back end stops on it.
inline constexpr std::uint64_t pingpong_stop = ~std::uint64_t{0};
inline constexpr std::uint32_t pingpong_ring_entries = 256;

template <class P>
concept pingpong_pair = requires(typename P::shared& s, typename P::front& f, typename P::back& b, std::uint64_t v) {
    { P::name } -> std::convertible_to<std::string_view>;
    requires std::constructible_from<typename P::front, typename P::shared&>;
    requires std::constructible_from<typename P::back, typename P::shared&>;
    f.send(v);
    { f.try_receive(v) } -> std::same_as<bool>;
    b.send(v);
    { b.try_receive(v) } -> std::same_as<bool>;
};

// ---------------------------------------------------------------------------------- xnv
// A request is produced and published; the back end consumes it, writes its response into
// the ring and publishes that; the front end consumes the response.
template <class Layout>
struct xnv_pingpong {
    static constexpr std::string_view name = std::same_as<Layout, xnv::layout::padded> ? "xnv_padded" : "xnv_xen_abi";
    using msg = std::uint64_t;
    static constexpr std::size_t bytes = xnv::ring_bytes_for<msg, msg, Layout>(pingpong_ring_entries);

    struct shared {
        aligned_buffer mem{bytes};
        shared() { xnv::init_shared_ring<msg, msg, Layout>(mem.first(bytes)); }
    };

    template <xnv::ring_side Side>
    class endpoint {
    public:
        explicit endpoint(shared& s) : ring_(s.mem.first(bytes)) {}
        void send(std::uint64_t v) noexcept
        {
            (void)ring_.try_produce(v);
            ring_.publish();
        }
        bool try_receive(std::uint64_t& v) noexcept { return ring_.try_consume(v).count != 0; }
        [[nodiscard]] bool failed() const noexcept { return ring_.error() != xnv::ring_error::none; }

    private:
        xnv::ring_endpoint<msg, msg, Layout, Side> ring_;
    };
    using front = endpoint<xnv::ring_side::front>;
    using back = endpoint<xnv::ring_side::back>;
};

// ---------------------------------------------------------------------- physical floor
// Two atomics on cache lines of their own: each side stores to one and spins on the other.
// One cache-line transfer each way per round trip, nothing else: no ring can beat it.
struct raw_pingpong {
    static constexpr std::string_view name = "raw_cacheline";

    /// The value both lines start with: never a sequence number, never the stop message.
    static constexpr std::uint64_t no_message = std::uint64_t{1} << 63;

    // 128 bytes apart, not 64: CPUs that fetch cache lines in aligned pairs (the adjacent-line
    // prefetchers of x86) would otherwise make the two lines contend as one.
    struct shared {
        alignas(2 * cache_line) std::atomic<std::uint64_t> ping{no_message};
        alignas(2 * cache_line) std::atomic<std::uint64_t> pong{no_message};
        char tail_pad[2 * cache_line - sizeof(std::atomic<std::uint64_t>)]{};
    };

    class front {
    public:
        explicit front(shared& s) : s_(s) {}
        // Release/acquire: the floor orders the same way a ring publication does.
        void send(std::uint64_t v) noexcept { s_.ping.store(v, std::memory_order_release); }
        bool try_receive(std::uint64_t& v) noexcept
        {
            const std::uint64_t got = s_.pong.load(std::memory_order_acquire);
            if (got == last_)
                return false;
            last_ = got;
            v = got;
            return true;
        }
        [[nodiscard]] bool failed() const noexcept { return false; }

    private:
        shared& s_;
        std::uint64_t last_ = no_message;
    };

    class back {
    public:
        explicit back(shared& s) : s_(s) {}
        void send(std::uint64_t v) noexcept { s_.pong.store(v, std::memory_order_release); }
        bool try_receive(std::uint64_t& v) noexcept
        {
            const std::uint64_t got = s_.ping.load(std::memory_order_acquire);
            if (got == last_)
                return false;
            last_ = got;
            v = got;
            return true;
        }
        [[nodiscard]] bool failed() const noexcept { return false; }

    private:
        shared& s_;
        std::uint64_t last_ = no_message;
    };
};

} // namespace xnv_bench
