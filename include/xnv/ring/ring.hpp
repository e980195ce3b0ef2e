// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The shared request/response ring of Xen's `public/io/ring.h`, as a template over the request
/// and response types and a layout policy, with a front view (produces requests, consumes
/// responses) and a back view (consumes requests, produces responses) over caller-provided
/// memory. See docs/ring.md for the memory-order edges E1..E4 cited below.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <xnv/ring/detail/shared_copy.hpp>
#include <xnv/ring/error.hpp>
#include <xnv/ring/layout.hpp>
#include <xnv/ring/wait.hpp>

namespace xnv {

/// Which side of the ring an endpoint is.
enum class ring_side : std::uint8_t { front, back };

/// Tag: initialise the shared header (Xen's `SHARED_RING_INIT`) before attaching.
struct ring_init_t {
    explicit ring_init_t() = default;
};
inline constexpr ring_init_t ring_init{};

/// Initialise the shared header in `memory`: both producer indices at `start`, both event
/// indices at `start + 1` (so the first publication in each direction notifies), padding
/// zeroed. Entries are left untouched.
template <ring_entry Req, ring_entry Rsp, ring_layout Layout = layout::xen_abi>
void init_shared_ring(std::span<std::byte> memory, std::uint32_t start = 0)
{
    if (memory.size() < Layout::header_bytes)
        throw std::invalid_argument("xnv: ring memory smaller than the ring header");
    std::memset(memory.data(), 0, Layout::header_bytes);
    auto put = [&](std::size_t off, std::uint32_t v) { std::memcpy(memory.data() + off, &v, sizeof v); };
    put(Layout::req_prod_offset, start);
    put(Layout::rsp_prod_offset, start);
    put(Layout::req_event_offset, start + 1);
    put(Layout::rsp_event_offset, start + 1);
}

/// One endpoint of a shared ring. Use the aliases `front_ring` and `back_ring`.
///
/// The endpoint produces `out_type` entries (requests for the front, responses for the back)
/// and consumes `in_type` entries. All indices are free-running 32-bit counters compared in
/// modular arithmetic, so they wrap across 2^32 correctly. Private state mirrors Xen's
/// `front_ring`/`back_ring`: `req_prod_pvt`/`rsp_cons` or `rsp_prod_pvt`/`req_cons`.
///
/// Thread safety: an endpoint is used by one thread at a time (its two directions share
/// private state: free slots depend on consumption); the peer endpoint runs concurrently in
/// another thread or process. Progress: every member is wait-free except `wait_pending`.
///
/// Hostile peer: every entry is copied out of shared memory once (`consume`), the peer's
/// producer index is validated before use, counts are clamped to what the ring can hold, and a
/// violation is reported as a sticky `ring_error`; nothing the peer writes causes undefined
/// behaviour or an unbounded loop here.
template <ring_entry Req, ring_entry Rsp, ring_layout Layout, ring_side Side>
class ring_endpoint {
public:
    using request_type = Req;
    using response_type = Rsp;
    using layout_type = Layout;
    using out_type = std::conditional_t<Side == ring_side::front, Req, Rsp>;
    using in_type = std::conditional_t<Side == ring_side::front, Rsp, Req>;
    static constexpr ring_side side = Side;
    static constexpr std::size_t slot_bytes = sizeof(ring_slot<Req, Rsp>);
    /// The alignment the memory must have: the layout's, or the entry types' if stricter (the
    /// slots follow the header at multiples of their size, so they inherit the base's alignment).
    static constexpr std::size_t required_alignment =
        std::max(Layout::required_alignment, alignof(ring_slot<Req, Rsp>));
    static_assert(Layout::header_bytes % alignof(ring_slot<Req, Rsp>) == 0,
                  "entry types aligned more strictly than the header size would leave the slots misaligned");

    /// Attach to a ring whose header is already initialised, with private indices at `start`
    /// (Xen's `FRONT_RING_ATTACH`/`BACK_RING_ATTACH`).
    /// @throws std::invalid_argument if the memory is misaligned or too small for one slot.
    ring_endpoint(std::span<std::byte> memory, std::uint32_t start = 0)
        : base_(memory.data()), size_(ring_entries_for<Req, Rsp, Layout>(memory.size())), mask_(size_ - 1),
          out_{start, start}, in_cons_(start), in_seen_(start)
    {
        if (reinterpret_cast<std::uintptr_t>(memory.data()) % required_alignment != 0)
            throw std::invalid_argument("xnv: ring memory must be aligned to " + std::to_string(required_alignment) +
                                        " bytes");
        if (size_ == 0)
            throw std::invalid_argument("xnv: ring memory of " + std::to_string(memory.size()) +
                                        " bytes holds no slot after the " + std::to_string(Layout::header_bytes) +
                                        "-byte header");
    }

    /// Initialise the shared header at `start` (Xen's `SHARED_RING_INIT`), then attach.
    ring_endpoint(ring_init_t, std::span<std::byte> memory, std::uint32_t start = 0) : ring_endpoint(memory, start)
    {
        init_shared_ring<Req, Rsp, Layout>(memory, start);
    }

    /// Number of slots: a power of two.
    [[nodiscard]] std::uint32_t size() const noexcept { return size_; }

    // ---------------------------------------------------------------- producing

    /// Slots this endpoint may fill now. Front: slots not holding an unconsumed request or
    /// response. Back: requests consumed but not yet answered (a response needs a request).
    [[nodiscard]] std::uint32_t free_slots() const noexcept
    {
        if constexpr (Side == ring_side::front)
            return size_ - (out_.pvt - in_cons_);
        else
            return in_cons_ - out_.pvt;
    }
    [[nodiscard]] bool full() const noexcept { return free_slots() == 0; }

    /// Copy one entry into the next free slot; not visible to the peer until `publish`/`push`.
    [[nodiscard]] bool try_produce(const out_type& entry) noexcept
    {
        if (free_slots() == 0)
            return false;
        detail::store_shared<out_type, slot_bytes>(slot_ptr(out_.pvt), entry);
        ++out_.pvt;
        return true;
    }

    /// Copy as many of `entries` as fit; returns how many. One publication covers them all.
    std::uint32_t produce(std::span<const out_type> entries) noexcept
    {
        const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(free_slots(), entries.size()));
        // At most two runs of adjacent slots (up to the end of the array, then from its start),
        // so the copy steps a pointer instead of masking and scaling every index.
        const std::uint32_t run = std::min(n, size_ - (out_.pvt & mask_));
        store_run(slot_ptr(out_.pvt), entries.data(), run);
        store_run(slot_ptr(0), entries.data() + run, n - run);
        out_.pvt += n;
        return n;
    }

    /// Zero-copy: the slot that the `k`-th next produced entry goes to (`k < free_slots()`).
    /// Fill it in place, then `commit`. Exactly Xen's `RING_GET_REQUEST(r, req_prod_pvt + k)`.
    [[nodiscard]] out_type* reserve_slot(std::uint32_t k) noexcept
    {
        return reinterpret_cast<out_type*>(slot_ptr(out_.pvt + k));
    }

    /// Make `n` slots filled through `reserve_slot` part of the private production.
    /// @pre `n <= free_slots()`; larger values are clamped.
    void commit(std::uint32_t n) noexcept { out_.pvt += std::min(n, free_slots()); }

    /// Entries produced but not yet published.
    [[nodiscard]] std::uint32_t unpublished() const noexcept { return out_.pvt - out_.pub; }

    /// Publish the private producer index without a notification decision, for peers that
    /// poll. E1: the release store orders every slot write before it; it synchronises with the
    /// peer's acquire load of the same index (E2).
    void publish() noexcept
    {
        const std::uint32_t idx = out_.pvt;
        record_published(idx);
        prod_ref(out_prod_off).store(idx, std::memory_order_release);
    }

    /// Publish the private producer index and say whether the peer must be notified: Xen's
    /// `RING_PUSH_*_AND_CHECK_NOTIFY`, true iff `(new - event) < (new - old)`.
    /// E3: the seq_cst store of the index and seq_cst load of the peer's event index form a
    /// store-load pair against the peer's seq_cst event store and index re-read in
    /// `final_check` (E4): at least one side sees the other's store, so no wake-up is lost.
    /// The seq_cst store also carries release semantics (E1).
    [[nodiscard]] bool push() noexcept
    {
        const std::uint32_t old_idx = out_.pub;
        const std::uint32_t new_idx = out_.pvt;
        record_published(new_idx);
        prod_ref(out_prod_off).store(new_idx, std::memory_order_seq_cst);
        const std::uint32_t event = prod_ref(out_event_off).load(std::memory_order_seq_cst);
        return static_cast<std::uint32_t>(new_idx - event) < static_cast<std::uint32_t>(new_idx - old_idx);
    }

    // ---------------------------------------------------------------- consuming

    /// Entries the peer has published that this endpoint has not consumed, validated and
    /// clamped (Xen's `RING_HAS_UNCONSUMED_*`, plus the error XSA-39 says to act on).
    [[nodiscard]] ring_count pending() noexcept
    {
        if (error_ != ring_error::none)
            return {0, error_};
        if constexpr (Layout::cache_peer_index) {
            if (in_seen_ != in_cons_)
                return {in_seen_ - in_cons_, ring_error::none};
        }
        // E2: acquire pairs with the peer's release publication (E1): the slots up to the
        // index we read are fully written before we copy them.
        return validate(prod_ref(in_prod_off).load(std::memory_order_acquire));
    }

    /// Copy up to `out.size()` pending entries out of shared memory (each exactly once) and
    /// consume them. One acquire of the peer's index covers the whole batch. Nothing is
    /// consumed once the peer has violated the protocol.
    ring_count consume(std::span<in_type> out) noexcept
    {
        ring_count c = pending();
        if (!c.ok())
            return c;
        if constexpr (Layout::cache_peer_index) {
            // The cache may hold fewer than asked while more were published: refresh once.
            if (c.count < out.size() && c.count != 0) {
                c = validate(prod_ref(in_prod_off).load(std::memory_order_acquire));
                if (!c.ok())
                    return c;
            }
        }
        const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(c.count, out.size()));
        // Two runs of adjacent slots at most, as in produce().
        const std::uint32_t run = std::min(n, size_ - (in_cons_ & mask_));
        load_run(out.data(), slot_ptr(in_cons_), run);
        load_run(out.data() + run, slot_ptr(0), n - run);
        in_cons_ += n;
        return {n, ring_error::none};
    }

    /// Copy out and consume one entry, if any. Same outcome as `consume` with a one-entry span,
    /// without the batch bookkeeping.
    [[nodiscard]] ring_count try_consume(in_type& out) noexcept
    {
        const ring_count c = pending();
        if (c.count == 0)
            return c;
        detail::load_shared<in_type, slot_bytes>(out, slot_ptr(in_cons_));
        ++in_cons_;
        return {1, ring_error::none};
    }

    /// Consume up to `max` pending entries without reading them (a front end that only needs
    /// its slots back, a one-way stream).
    ring_count discard(std::uint32_t max = UINT32_MAX) noexcept
    {
        ring_count c = pending();
        if constexpr (Layout::cache_peer_index) {
            if (c.ok() && c.count < max)
                c = validate(prod_ref(in_prod_off).load(std::memory_order_acquire));
        }
        if (!c.ok())
            return c;
        const std::uint32_t n = std::min(c.count, max);
        in_cons_ += n;
        return {n, ring_error::none};
    }

    /// Zero-copy read of the `k`-th pending entry (`k < pending().count`) in shared memory.
    /// The peer may rewrite it while it is read: copy each field once and validate the copy,
    /// or use `consume`. Advance with `release_consumed`.
    [[nodiscard]] const in_type* peek_shared(std::uint32_t k) const noexcept
    {
        return reinterpret_cast<const in_type*>(slot_ptr(in_cons_ + k));
    }

    /// Consume `n` entries read through `peek_shared`. @pre `n <= pending().count` (clamped).
    /// Nothing is consumed once the peer has violated the protocol, as with `consume`.
    void release_consumed(std::uint32_t n) noexcept
    {
        // After a violation pending() reports 0: clamp to that, not to the entries validated
        // before it, so that an error freezes the consumer index on every path.
        if (error_ != ring_error::none)
            return;
        const std::uint32_t avail = in_seen_ - in_cons_;
        in_cons_ += std::min(n, avail);
    }

    /// Before sleeping: if nothing is pending, set the peer-visible event index to
    /// `consumed + ahead` (1 = wake me on the next entry, as Xen's `RING_FINAL_CHECK_FOR_*`;
    /// larger values batch wake-ups, as virtio's delayed re-arm), then check once more.
    /// A zero count means it is safe to sleep: the peer's next push crossing the event index
    /// returns true. E4: seq_cst event store then seq_cst index load, paired with E3.
    [[nodiscard]] ring_count final_check(std::uint32_t ahead = 1) noexcept
    {
        ring_count c = pending();
        if (c.count != 0 || !c.ok())
            return c;
        prod_ref(in_event_off).store(in_cons_ + std::max<std::uint32_t>(ahead, 1), std::memory_order_seq_cst);
        return validate(prod_ref(in_prod_off).load(std::memory_order_seq_cst));
    }

    /// Wait until entries are pending, the peer violates the protocol, or `timeout` passes,
    /// using wait policy `w`. Sleeping policies arm the event index with `final_check(ahead)`.
    /// `std::chrono::nanoseconds::max()` waits without a deadline.
    template <wait_policy W>
    ring_count wait_pending(W& w, std::chrono::nanoseconds timeout, std::uint32_t ahead = 1) noexcept
    {
        // A timeout beyond the clock's range (nanoseconds::max() for "no deadline") saturates
        // rather than overflowing the time point.
        using clock = std::chrono::steady_clock;
        const auto now = clock::now();
        const auto deadline = timeout >= clock::time_point::max() - now ? clock::time_point::max() : now + timeout;
        for (;;) {
            ring_count c = pending();
            if (c.count != 0 || !c.ok())
                return c;
            if constexpr (W::sleeps) {
                c = final_check(ahead);
                if (c.count != 0 || !c.ok())
                    return c;
            }
            const auto left = deadline - clock::now();
            if (left <= std::chrono::nanoseconds::zero())
                return c;
            w.wait(prod_word(in_prod_off), in_seen_, std::chrono::duration_cast<std::chrono::nanoseconds>(left));
        }
    }

    /// Wake a peer sleeping with wait policy `w` (call when `push` returned true).
    template <wait_policy W>
    void wake_peer(W& w) noexcept
    {
        w.wake(prod_word(out_prod_off));
    }

    // ---------------------------------------------------------------- observers

    /// The sticky protocol verdict on the peer.
    [[nodiscard]] ring_error error() const noexcept { return error_; }
    /// Private producer index (`req_prod_pvt` / `rsp_prod_pvt`).
    [[nodiscard]] std::uint32_t produced() const noexcept { return out_.pvt; }
    /// Last published producer index.
    [[nodiscard]] std::uint32_t published() const noexcept { return out_.pub; }
    /// Private consumer index (`rsp_cons` / `req_cons`).
    [[nodiscard]] std::uint32_t consumed() const noexcept { return in_cons_; }
    /// The shared word holding the peer's producer index (for futex waits, polling loops).
    [[nodiscard]] std::uint32_t* peer_index_word() const noexcept { return prod_word(in_prod_off); }
    /// The shared word holding this endpoint's producer index.
    [[nodiscard]] std::uint32_t* own_index_word() const noexcept { return prod_word(out_prod_off); }
    /// The shared event index this endpoint's pushes compare against (written by the peer).
    [[nodiscard]] std::uint32_t peer_event_approx() const noexcept
    {
        return prod_ref(out_event_off).load(std::memory_order_relaxed);
    }

private:
    static constexpr bool is_front = Side == ring_side::front;
    static constexpr std::size_t out_prod_off = is_front ? Layout::req_prod_offset : Layout::rsp_prod_offset;
    static constexpr std::size_t out_event_off = is_front ? Layout::req_event_offset : Layout::rsp_event_offset;
    static constexpr std::size_t in_prod_off = is_front ? Layout::rsp_prod_offset : Layout::req_prod_offset;
    static constexpr std::size_t in_event_off = is_front ? Layout::rsp_event_offset : Layout::req_event_offset;

    // Copy `n` entries to or from adjacent slots starting at `slots` (the run must not wrap).
    static void store_run(std::byte* slots, const out_type* src, std::uint32_t n) noexcept
    {
        for (const out_type* end = src + n; src != end; ++src, slots += slot_bytes)
            detail::store_shared<out_type, slot_bytes>(slots, *src);
    }
    static void load_run(in_type* dst, const std::byte* slots, std::uint32_t n) noexcept
    {
        for (in_type* end = dst + n; dst != end; ++dst, slots += slot_bytes)
            detail::load_shared<in_type, slot_bytes>(*dst, slots);
    }

    // The private indices are only this thread's, so writing them before the shared store is
    // the same as after. Both are written with one 8-byte store: a produce-then-publish
    // sequence then leaves one private store (the compiler drops the produce's own store of the
    // private index as overwritten) instead of two. Stores leave the core in order, and while
    // the shared index's cache line is on its way back from the peer every later store queues
    // behind it, so each store per entry saved lets more entries through per exchange.
    void record_published(std::uint32_t idx) noexcept
    {
        const std::uint64_t both = (std::uint64_t{idx} << 32) | idx; // same value in each half
        std::memcpy(&out_, &both, sizeof both);
    }

    [[nodiscard]] std::byte* slot_ptr(std::uint32_t idx) const noexcept
    {
        return base_ + Layout::header_bytes + std::size_t{idx & mask_} * slot_bytes;
    }
    [[nodiscard]] std::uint32_t* prod_word(std::size_t off) const noexcept
    {
        return reinterpret_cast<std::uint32_t*>(base_ + off);
    }
    [[nodiscard]] std::atomic_ref<std::uint32_t> prod_ref(std::size_t off) const noexcept
    {
        return std::atomic_ref<std::uint32_t>(*prod_word(off));
    }

    // The most entries the peer may legitimately have published beyond our consumer index.
    // Front: responses only answer published requests. Back: requests fill at most the slots
    // not still owed a response (Xen clamps `RING_HAS_UNCONSUMED_REQUESTS` the same way).
    [[nodiscard]] std::uint32_t peer_bound() const noexcept
    {
        if constexpr (is_front)
            return out_.pub - in_cons_;
        else
            return size_ - (in_cons_ - out_.pvt);
    }

    ring_count validate(std::uint32_t prod) noexcept
    {
        // Legitimate iff in_seen_ <= prod <= in_cons_ + peer_bound() in modular order. Both ends
        // only move forward and are at most a ring (2^31 slots) apart, so one unsigned compare
        // of distances from in_seen_ decides, across the wrap and also for a full ring of 2^31
        // slots, whose distance a signed comparison would already read as negative.
        const std::uint32_t ahead = prod - in_seen_;
        const std::uint32_t room = in_cons_ + peer_bound() - in_seen_;
        if (ahead > room) {
            // Which way the index went only names the error: the nearer reading wins.
            const std::uint32_t past_bound = ahead - room;
            const std::uint32_t behind = 0u - ahead;
            error_ = past_bound <= behind ? ring_error::index_overrun : ring_error::index_backwards;
            return {0, error_};
        }
        in_seen_ = prod;
        return {prod - in_cons_, ring_error::none};
    }

    std::byte* base_;
    std::uint32_t size_;
    std::uint32_t mask_;
    // Adjacent and 8-byte aligned so that record_published() writes both at once.
    struct alignas(8) out_indices {
        std::uint32_t pvt; // req_prod_pvt (front) / rsp_prod_pvt (back)
        std::uint32_t pub; // last value stored to the shared producer index
    };
    static_assert(sizeof(out_indices) == sizeof(std::uint64_t) && std::is_trivially_copyable_v<out_indices>);
    out_indices out_;
    std::uint32_t in_cons_; // rsp_cons (front) / req_cons (back)
    std::uint32_t in_seen_; // last validated peer producer index (the private cache)
    ring_error error_ = ring_error::none;
};

/// The front end of a ring: produces `Req`, consumes `Rsp` (a Xen netfront's view).
template <ring_entry Req, ring_entry Rsp, ring_layout Layout = layout::xen_abi>
using front_ring = ring_endpoint<Req, Rsp, Layout, ring_side::front>;

/// The back end of a ring: consumes `Req`, produces `Rsp` (a Xen netback's view).
template <ring_entry Req, ring_entry Rsp, ring_layout Layout = layout::xen_abi>
using back_ring = ring_endpoint<Req, Rsp, Layout, ring_side::back>;

} // namespace xnv
