// SPDX-License-Identifier: MIT
// Fuzz target ring_consumer: a ring endpoint (xnv::front_ring or xnv::back_ring over the netif
// TX or RX entry types, in either layout) attached to a shared page whose every byte comes from
// the fuzzer, then driven by a fuzzer-chosen script of endpoint calls and peer writes.
//
// Input:
//   byte 0      bit 0: layout::padded (else xen_abi); bit 1: back end (else front end);
//               bit 2: RX entry types (else TX); bit 3: the four header words are offsets from
//               `start` (else absolute values)
//   bytes 1-4   start: the endpoint's private indices (u32)
//   bytes 5-6   L: length of the script (u16)
//   L bytes     the script: one byte per step, the low nibble the operation (`op` below), the high
//               nibble its argument; some operations read further bytes from the script
//   the rest    the page image, header then entries; the ring has as many slots as fit (a power
//               of two), and memory that holds no slot is refused by the constructor
//
// Invariants (any violation aborts):
//   - every loop over consume/discard/wait ends within the ring size;
//   - no count exceeds the ring size or what the peer may legitimately have published, and the
//     endpoint's indices stay within one ring of each other;
//   - a ring_error is sticky: once set, every call returns it with a count of 0 and nothing moves;
//   - a producer index within the legitimate window is never flagged, and with layout::xen_abi
//     (which re-reads the index on every call) one outside it always is, with the right name;
//   - entries copied out equal the slot bytes, entries produced land in the right slots, and
//     push()'s notification decision is Xen's hold-off rule.

#include "fuzz_formats.hpp"
#include "fuzz_support.hpp"

#include <xnv/ring/ring.hpp>
#include <xnv/wire/netif.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace {

using xnv::fuzz::input;
using xnv::fuzz::load_word;
using xnv::fuzz::store_word;
using namespace xnv::fuzz::ring_format;

template <class Req, class Rsp, class Layout, xnv::ring_side Side> class driver {
public:
    using ring_type = xnv::ring_endpoint<Req, Rsp, Layout, Side>;
    using in_type = typename ring_type::in_type;
    using out_type = typename ring_type::out_type;
    static constexpr bool is_front = Side == xnv::ring_side::front;
    static constexpr bool caches = Layout::cache_peer_index;
    static constexpr std::size_t slot_bytes = ring_type::slot_bytes;
    static constexpr std::size_t in_prod_off = is_front ? Layout::rsp_prod_offset : Layout::req_prod_offset;
    static constexpr std::size_t in_event_off = is_front ? Layout::rsp_event_offset : Layout::req_event_offset;
    static constexpr std::size_t out_prod_off = is_front ? Layout::req_prod_offset : Layout::rsp_prod_offset;
    static constexpr std::size_t out_event_off = is_front ? Layout::req_event_offset : Layout::rsp_event_offset;

    driver(std::span<std::byte> mem, std::uint32_t start) : mem_(mem), ring_(mem, start), seen_(start) {}

    void run(input& script)
    {
        check_state();
        while (!script.empty()) {
            const std::uint8_t b = script.u8();
            step(static_cast<op>(b & 0x0F), static_cast<std::uint32_t>(b >> 4), script);
            check_state();
        }
    }

private:
    [[nodiscard]] std::uint32_t size() const noexcept { return ring_.size(); }
    [[nodiscard]] std::byte* slot(std::uint32_t idx) const noexcept
    {
        return mem_.data() + Layout::header_bytes + std::size_t{idx & (size() - 1)} * slot_bytes;
    }
    [[nodiscard]] std::uint32_t peer_prod() const noexcept { return load_word(mem_, in_prod_off); }

    // How far beyond `seen_` the peer's index may legitimately be: front, up to the requests
    // published; back, up to a full ring beyond the responses produced.
    [[nodiscard]] std::uint32_t room() const noexcept
    {
        if constexpr (is_front)
            return ring_.published() - seen_;
        else
            return ring_.produced() + size() - seen_;
    }
    [[nodiscard]] bool legitimate(std::uint32_t prod) const noexcept { return prod - seen_ <= room(); }
    [[nodiscard]] xnv::ring_error expected_error(std::uint32_t prod) const noexcept
    {
        const std::uint32_t ahead = prod - seen_;
        return ahead - room() <= 0u - ahead ? xnv::ring_error::index_overrun : xnv::ring_error::index_backwards;
    }

    // Before a call that validates the peer's index (xen_abi: every call that reads it).
    struct before {
        xnv::ring_error error;
        std::uint32_t prod;
        std::uint32_t consumed;
        std::uint32_t produced;
        bool seen_known;
    };
    [[nodiscard]] before snapshot() const noexcept
    {
        return {ring_.error(), peer_prod(), ring_.consumed(), ring_.produced(), seen_known_};
    }

    // The verdict on the peer's index after a call that read it, against the window computed
    // independently from the endpoint's public indices.
    void check_verdict(const before& b, const xnv::ring_count& c, bool validated)
    {
        XNV_FUZZ_CHECK(c.count <= size());
        XNV_FUZZ_CHECK(c.ok() == (c.error == xnv::ring_error::none));
        XNV_FUZZ_CHECK(c.ok() || c.count == 0);
        XNV_FUZZ_CHECK(c.error == ring_.error());
        if (b.error != xnv::ring_error::none) {
            // Sticky: same error, nothing consumed.
            XNV_FUZZ_CHECK(ring_.error() == b.error);
            XNV_FUZZ_CHECK(ring_.consumed() == b.consumed);
            return;
        }
        if (ring_.error() != xnv::ring_error::none) {
            // A new verdict: only an index outside the window earns one, and nothing moved.
            XNV_FUZZ_CHECK(ring_.consumed() == b.consumed);
            if (b.seen_known) {
                XNV_FUZZ_CHECK(!legitimate(b.prod));
                XNV_FUZZ_CHECK(ring_.error() == expected_error(b.prod));
            }
            return;
        }
        if (!caches && validated) {
            // xen_abi re-reads the index on every call: an illegitimate one cannot pass.
            XNV_FUZZ_CHECK(legitimate(b.prod));
            seen_ = b.prod;
            seen_known_ = true;
        }
    }

    // Entries copied out must be the slot bytes, in ring order from `first`.
    void check_copies(std::uint32_t first, const in_type* out, std::uint32_t n) const
    {
        for (std::uint32_t i = 0; i < n; ++i)
            XNV_FUZZ_CHECK(std::memcmp(&out[i], slot(first + i), sizeof(in_type)) == 0);
    }

    // The peer-visible picture after every step.
    void check_state()
    {
        const std::uint32_t n = size();
        XNV_FUZZ_CHECK(n != 0 && (n & (n - 1)) == 0);
        if constexpr (is_front) {
            XNV_FUZZ_CHECK(ring_.produced() - ring_.consumed() <= n);
            XNV_FUZZ_CHECK(ring_.published() - ring_.consumed() <= n);
            XNV_FUZZ_CHECK(ring_.produced() - ring_.published() <= n);
            XNV_FUZZ_CHECK(ring_.free_slots() == n - (ring_.produced() - ring_.consumed()));
        } else {
            // Responses may go unpublished across several rounds of the ring: no bound on them.
            XNV_FUZZ_CHECK(ring_.consumed() - ring_.produced() <= n);
            XNV_FUZZ_CHECK(ring_.free_slots() == ring_.consumed() - ring_.produced());
        }
        XNV_FUZZ_CHECK(ring_.unpublished() == ring_.produced() - ring_.published());
        XNV_FUZZ_CHECK(ring_.full() == (ring_.free_slots() == 0));
        if (sticky_ != xnv::ring_error::none)
            XNV_FUZZ_CHECK(ring_.error() == sticky_);
        sticky_ = ring_.error();
        XNV_FUZZ_CHECK(ring_.peer_index_word() == reinterpret_cast<std::uint32_t*>(mem_.data() + in_prod_off));
        XNV_FUZZ_CHECK(ring_.own_index_word() == reinterpret_cast<std::uint32_t*>(mem_.data() + out_prod_off));
    }

    // A count the endpoint reported as pending must fit what the peer may have published.
    void check_pending_bound(const xnv::ring_count& c) const
    {
        if (!c.ok())
            return;
        if constexpr (is_front)
            XNV_FUZZ_CHECK(c.count <= ring_.published() - ring_.consumed());
        else
            XNV_FUZZ_CHECK(c.count <= size() - (ring_.consumed() - ring_.produced()));
    }

    // pending() and final_check() report the whole validated window: it says where `seen` is.
    void learn_seen(const xnv::ring_count& c)
    {
        if (c.ok()) {
            seen_ = ring_.consumed() + c.count;
            seen_known_ = true;
        }
    }

    [[nodiscard]] out_type stamp() noexcept
    {
        out_type e;
        std::array<std::uint8_t, sizeof(out_type)> bytes;
        for (auto& x : bytes)
            x = static_cast<std::uint8_t>(++stamp_ * 131u);
        std::memcpy(&e, bytes.data(), sizeof e);
        return e;
    }

    void step(op o, std::uint32_t arg, input& script)
    {
        switch (o) {
        case op_pending: {
            const before b = snapshot();
            const xnv::ring_count c = ring_.pending();
            check_verdict(b, c, true);
            check_pending_bound(c);
            if (!caches && c.ok())
                XNV_FUZZ_CHECK(c.count == b.prod - ring_.consumed());
            XNV_FUZZ_CHECK(ring_.consumed() == b.consumed);
            learn_seen(c);
            break;
        }
        case op_consume:
            consume_once(arg + 1);
            break;
        case op_drain: {
            const std::uint32_t first = ring_.consumed();
            std::uint32_t iterations = 0;
            while (consume_once(arg + 1) != 0)
                XNV_FUZZ_CHECK(++iterations <= size());
            XNV_FUZZ_CHECK(ring_.consumed() - first <= size());
            break;
        }
        case op_try_consume: {
            const before b = snapshot();
            in_type out;
            const xnv::ring_count c = ring_.try_consume(out);
            check_verdict(b, c, true);
            XNV_FUZZ_CHECK(c.count <= 1);
            XNV_FUZZ_CHECK(ring_.consumed() - b.consumed == c.count);
            if (c.count == 1)
                check_copies(b.consumed, &out, 1);
            seen_known_ = seen_known_ && !caches;
            break;
        }
        case op_discard: {
            const before b = snapshot();
            const std::uint32_t max = arg == 15 ? UINT32_MAX : arg;
            const xnv::ring_count c = ring_.discard(max);
            check_verdict(b, c, true);
            XNV_FUZZ_CHECK(c.count <= max);
            XNV_FUZZ_CHECK(ring_.consumed() - b.consumed == c.count);
            seen_known_ = seen_known_ && !caches;
            break;
        }
        case op_final_check: {
            const before b = snapshot();
            const xnv::ring_count c = ring_.final_check(arg);
            check_verdict(b, c, true);
            check_pending_bound(c);
            XNV_FUZZ_CHECK(ring_.consumed() == b.consumed);
            if (c.ok() && c.count == 0)
                XNV_FUZZ_CHECK(load_word(mem_, in_event_off) == ring_.consumed() + std::max<std::uint32_t>(arg, 1));
            learn_seen(c);
            break;
        }
        case op_produce: {
            std::array<out_type, 7> entries;
            const std::uint32_t want = arg & 7;
            for (std::uint32_t i = 0; i < want; ++i)
                entries[i] = stamp();
            const std::uint32_t free = ring_.free_slots();
            const std::uint32_t first = ring_.produced();
            const std::uint32_t n = ring_.produce(std::span<const out_type>(entries.data(), want));
            XNV_FUZZ_CHECK(n == std::min(free, want));
            XNV_FUZZ_CHECK(ring_.produced() - first == n);
            for (std::uint32_t i = 0; i < n; ++i)
                XNV_FUZZ_CHECK(std::memcmp(slot(first + i), &entries[i], sizeof(out_type)) == 0);
            if ((arg & 8) != 0)
                push();
            else
                publish();
            break;
        }
        case op_peek_release: {
            const before b = snapshot();
            const xnv::ring_count c = ring_.pending();
            check_verdict(b, c, true);
            check_pending_bound(c);
            learn_seen(c);
            for (std::uint32_t k = 0; k < c.count; ++k)
                XNV_FUZZ_CHECK(reinterpret_cast<const std::byte*>(ring_.peek_shared(k)) == slot(b.consumed + k));
            ring_.release_consumed(arg);
            XNV_FUZZ_CHECK(ring_.consumed() - b.consumed == (c.ok() ? std::min(arg, c.count) : 0u));
            if (c.ok())
                learn_seen({c.count - (ring_.consumed() - b.consumed), xnv::ring_error::none});
            break;
        }
        case op_peer_index_delta:
            store_word(mem_, in_prod_off, ring_.consumed() + script.u32());
            break;
        case op_peer_index_abs:
            store_word(mem_, in_prod_off, script.u32());
            break;
        case op_peer_rewrite_slot: {
            const std::uint32_t idx = script.u16();
            script.fill(slot(idx), slot_bytes);
            break;
        }
        case op_wait_spin: {
            xnv::wait::spin w;
            wait(w, arg);
            break;
        }
        case op_reserve_commit: {
            const std::uint32_t free = ring_.free_slots();
            const std::uint32_t first = ring_.produced();
            const std::uint32_t k = std::min(free, arg);
            for (std::uint32_t i = 0; i < k; ++i) {
                out_type* p = ring_.reserve_slot(i);
                XNV_FUZZ_CHECK(reinterpret_cast<std::byte*>(p) == slot(first + i));
                const out_type e = stamp();
                std::memcpy(static_cast<void*>(p), &e, sizeof e);
            }
            ring_.commit(arg);
            XNV_FUZZ_CHECK(ring_.produced() - first == k);
            break;
        }
        case op_peer_event:
            store_word(mem_, out_event_off, script.u32());
            break;
        case op_publish_unpublished:
            if ((arg & 1) != 0)
                push();
            else
                publish();
            break;
        case op_wait_futex: {
            xnv::wait::futex w;
            wait(w, arg);
            break;
        }
        }
    }

    // One consume() of up to `batch` entries; returns how many.
    std::uint32_t consume_once(std::uint32_t batch)
    {
        std::array<in_type, 16> out;
        const before b = snapshot();
        const xnv::ring_count c = ring_.consume(std::span<in_type>(out.data(), batch));
        check_verdict(b, c, true);
        XNV_FUZZ_CHECK(c.count <= batch);
        XNV_FUZZ_CHECK(ring_.consumed() - b.consumed == c.count);
        check_copies(b.consumed, out.data(), c.count);
        // The padded layout's consume may or may not refresh its cache: where `seen` is after
        // it is not known from the outside.
        seen_known_ = seen_known_ && !caches;
        return c.count;
    }

    template <class W> void wait(W& w, std::uint32_t ahead)
    {
        const before b = snapshot();
        const xnv::ring_count c = ring_.wait_pending(w, std::chrono::nanoseconds{0}, ahead);
        check_verdict(b, c, true);
        check_pending_bound(c);
        XNV_FUZZ_CHECK(ring_.consumed() == b.consumed);
        learn_seen(c);
    }

    void publish()
    {
        ring_.publish();
        XNV_FUZZ_CHECK(load_word(mem_, out_prod_off) == ring_.produced());
        XNV_FUZZ_CHECK(ring_.published() == ring_.produced());
    }

    void push()
    {
        const std::uint32_t old_idx = ring_.published();
        const std::uint32_t new_idx = ring_.produced();
        const std::uint32_t event = load_word(mem_, out_event_off);
        const bool notify = ring_.push();
        XNV_FUZZ_CHECK(notify == (new_idx - event < new_idx - old_idx));
        XNV_FUZZ_CHECK(load_word(mem_, out_prod_off) == new_idx);
        XNV_FUZZ_CHECK(ring_.published() == new_idx);
        XNV_FUZZ_CHECK(ring_.peer_event_approx() == event);
    }

    std::span<std::byte> mem_;
    ring_type ring_;
    // The last producer index of the peer that the endpoint accepted, when known from outside.
    std::uint32_t seen_;
    bool seen_known_ = true;
    xnv::ring_error sticky_ = xnv::ring_error::none;
    std::uint32_t stamp_ = 0;
};

template <class Req, class Rsp, class Layout, xnv::ring_side Side>
void run(std::uint8_t config, std::uint32_t start, input& script, std::span<const std::uint8_t> image)
{
    using ring_type = xnv::ring_endpoint<Req, Rsp, Layout, Side>;
    xnv::fuzz::exact_buffer mem(image.size(), ring_type::required_alignment);
    if (!image.empty())
        std::memcpy(mem.data(), image.data(), image.size());
    if ((config & 8) != 0 && image.size() >= Layout::header_bytes) {
        for (std::size_t off :
             {Layout::req_prod_offset, Layout::req_event_offset, Layout::rsp_prod_offset, Layout::rsp_event_offset})
            store_word(mem.span(), off, start + load_word(mem.span(), off));
    }
    const bool fits = xnv::ring_entries_for<Req, Rsp, Layout>(image.size()) != 0;
    std::optional<driver<Req, Rsp, Layout, Side>> d;
    try {
        d.emplace(mem.span(), start);
    } catch (const std::invalid_argument&) {
        XNV_FUZZ_CHECK(!fits);
        return;
    }
    XNV_FUZZ_CHECK(fits);
    d->run(script);
}

template <class Req, class Rsp>
void run_types(std::uint8_t config, std::uint32_t start, input& script, std::span<const std::uint8_t> image)
{
    const bool padded = (config & 1) != 0;
    const bool back = (config & 2) != 0;
    if (padded && back)
        run<Req, Rsp, xnv::layout::padded, xnv::ring_side::back>(config, start, script, image);
    else if (padded)
        run<Req, Rsp, xnv::layout::padded, xnv::ring_side::front>(config, start, script, image);
    else if (back)
        run<Req, Rsp, xnv::layout::xen_abi, xnv::ring_side::back>(config, start, script, image);
    else
        run<Req, Rsp, xnv::layout::xen_abi, xnv::ring_side::front>(config, start, script, image);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    input in(data, size);
    const std::uint8_t config = in.u8();
    const std::uint32_t start = in.u32();
    const std::uint16_t script_len = in.u16();
    const std::span<const std::uint8_t> steps = in.bytes(script_len);
    input script(steps.data(), steps.size());
    const std::span<const std::uint8_t> image = in.rest();
    if ((config & 4) != 0)
        run_types<xnv::netif::rx_request, xnv::netif::rx_response>(config, start, script, image);
    else
        run_types<xnv::netif::tx_request, xnv::netif::tx_response>(config, start, script, image);
    return 0;
}
