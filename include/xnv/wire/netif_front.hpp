// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The frontend (netfront) half of the Xen netif protocol as pure logic over ring endpoints:
///
/// - `tx_frontend`: turns a packet (a list of granted buffers, or a length and a callback that
///   grants page-sized chunks) into a TX slot chain with ids from a fixed free list and the GSO
///   extra-info slot (Linux's `xennet_start_xmit`), and reclaims ids on TX responses, checking
///   every response (`xennet_tx_buf_gc`): a hostile backend cannot corrupt its state.
/// - `rx_frontend`: keeps track of posted RX buffers and reassembles packets from the RX
///   responses (`xennet_poll`, `xennet_get_responses`, `xennet_get_extras`), handing every
///   buffer back exactly once, in a delivered packet or recycled.
///
/// No I/O, no threads, no allocation; `noexcept` throughout except constructors (which throw
/// only on the caller's bad configuration). See docs/netif.md.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include <xnv/ring/error.hpp>
#include <xnv/ring/layout.hpp>
#include <xnv/ring/ring.hpp>
#include <xnv/wire/detail/netif_common.hpp>
#include <xnv/wire/netif.hpp>

namespace xnv::netif {

// ==================================================================================== TX side

/// A granted buffer holding part of a packet: `size` bytes at `offset` in the page granted as
/// `gref`. `cookie` is the caller's handle, returned when the slot completes.
struct tx_buffer {
    grant_ref gref = 0;
    std::uint16_t offset = 0;
    std::uint16_t size = 0;
    std::uint32_t cookie = 0;
};

/// Per-packet metadata: `txf::csum_blank` and/or `txf::data_validated`, and GSO parameters.
struct tx_meta {
    std::uint16_t flags = 0;
    gso_info gso{};
};

/// What the backend negotiated with this frontend.
struct tx_front_config {
    /// Data slots per packet: `nr_slots_min` with `feature-sg`, 1 without. 1 .. `nr_slots_min`.
    unsigned max_slots = nr_slots_min;
    /// The backend advertised `feature-gso-tcpv4` / `feature-gso-tcpv6`.
    bool gso_tcpv4 = true;
    bool gso_tcpv6 = true;
};

/// Why `tx_frontend` did not queue a packet. `no_room` is transient (reclaim, then retry);
/// `broken` means the backend was found hostile; the rest are the caller's mistakes.
enum class tx_submit_error : std::uint8_t {
    none = 0,
    no_room,              ///< not enough free ring slots or ids now
    broken,               ///< a response violated the protocol: disconnect
    no_buffers,           ///< empty buffer list
    too_many_slots,       ///< more buffers than `max_slots` (linearise the packet)
    bad_buffer,           ///< a buffer of size 0 or crossing its page, or a grant callback's bad chunk
    packet_too_large,     ///< more than 65535 bytes (`max_tx_size`)
    packet_too_short,     ///< fewer than `eth_hlen` bytes
    first_slot_too_short, ///< first buffer holds fewer than `eth_hlen` bytes (netback would drop it)
    bad_flags,            ///< flags other than `txf::csum_blank`/`txf::data_validated`
    gso_not_negotiated,   ///< GSO of a type the backend did not advertise, or an unknown type
    gso_size_zero,        ///< GSO with MSS 0
};

[[nodiscard]] constexpr std::string_view to_string(tx_submit_error e) noexcept
{
    switch (e) {
    case tx_submit_error::none:
        return "none";
    case tx_submit_error::no_room:
        return "no free TX ring slot or id";
    case tx_submit_error::broken:
        return "backend violated the protocol";
    case tx_submit_error::no_buffers:
        return "packet without buffers";
    case tx_submit_error::too_many_slots:
        return "packet needs more slots than allowed";
    case tx_submit_error::bad_buffer:
        return "buffer empty or crossing its page";
    case tx_submit_error::packet_too_large:
        return "packet larger than 65535 bytes";
    case tx_submit_error::packet_too_short:
        return "packet shorter than an Ethernet header";
    case tx_submit_error::first_slot_too_short:
        return "first buffer shorter than an Ethernet header";
    case tx_submit_error::bad_flags:
        return "TX flags other than csum_blank/data_validated";
    case tx_submit_error::gso_not_negotiated:
        return "GSO type not negotiated";
    case tx_submit_error::gso_size_zero:
        return "GSO size 0";
    }
    return "unknown submit error";
}

/// The outcome of a submission: `slots` ring slots written (data + extra-info), the first
/// slot's id, and for `try_submit_chunks` how many chunks the callback granted (on an error
/// after granting, the caller ends those grants).
struct tx_submit_result {
    tx_submit_error error = tx_submit_error::none;
    std::uint32_t slots = 0;
    std::uint16_t first_id = 0;
    std::uint32_t granted = 0;
    [[nodiscard]] constexpr bool ok() const noexcept { return error == tx_submit_error::none; }
};

/// One TX slot answered by the backend. Its id is free again; `cookie`/`gref` are the caller's
/// (end the grant, free the buffer). `packet_done` marks the last slot of its packet to
/// complete, and `packet_status` the packet's worst status (the first non-okay one seen).
struct tx_completion {
    std::uint16_t id = 0;
    std::uint32_t cookie = 0;
    grant_ref gref = 0;
    std::int16_t status = status::okay;
    bool packet_done = false;
    std::int16_t packet_status = status::okay;
};

/// What a TX response (or the response ring) said that a backend must not say.
/// Every value other than `none` is a protocol violation: disconnect the backend.
enum class tx_front_error : std::uint8_t {
    none = 0,
    ring_index_backwards, ///< `rsp_prod` moved backwards
    ring_index_overrun,   ///< `rsp_prod` beyond the requests published (XSA-39's mirror)
    id_out_of_range,      ///< id not below the ring size (Linux: "Response has incorrect id")
    id_not_in_flight,     ///< id never submitted (Linux: "Response for inactive request")
    duplicate_response,   ///< id already answered and not resubmitted since
    unexpected_null,      ///< a `status::null` response with no extra-info slot outstanding
    bad_status,           ///< status other than okay/error/dropped/null
};

[[nodiscard]] constexpr std::string_view to_string(tx_front_error e) noexcept
{
    switch (e) {
    case tx_front_error::none:
        return "none";
    case tx_front_error::ring_index_backwards:
        return "rsp_prod moved backwards";
    case tx_front_error::ring_index_overrun:
        return "rsp_prod beyond the requests published";
    case tx_front_error::id_out_of_range:
        return "TX response id out of range";
    case tx_front_error::id_not_in_flight:
        return "TX response for an id never submitted";
    case tx_front_error::duplicate_response:
        return "duplicate TX response";
    case tx_front_error::unexpected_null:
        return "NULL TX response without an extra-info slot";
    case tx_front_error::bad_status:
        return "unknown TX response status";
    }
    return "unknown tx response error";
}

/// The outcome of `tx_frontend::reclaim`.
struct tx_reclaim_result {
    tx_front_error error = tx_front_error::none;
    std::uint32_t responses = 0; ///< responses consumed (NULL ones included)
    std::uint32_t completed = 0; ///< data slots completed (ids freed)
    std::uint32_t packets = 0;   ///< packets whose last slot completed
    [[nodiscard]] constexpr bool ok() const noexcept { return error == tx_front_error::none; }
};

/// Number of page-sized chunks a packet of `len` bytes spans when its first byte is at
/// `first_offset` in its first page (what `try_submit_chunks` asks the grant callback for).
[[nodiscard]] constexpr std::uint32_t tx_chunks(std::uint32_t len, std::uint16_t first_offset) noexcept
{
    if (len == 0)
        return 0;
    const std::uint32_t off = first_offset % page_size;
    return (off + len + page_size - 1) / page_size;
}

/// A callback granting one chunk of a packet: given the chunk's index, its offset in the packet
/// and its length, it copies or maps those bytes into a page shared with the backend and
/// returns where (`size` must equal the length asked for; `offset + size <= page_size`).
template <class F>
concept tx_grant_source =
    std::is_invocable_r_v<tx_buffer, F&, std::uint32_t /*chunk*/, std::uint32_t /*packet_offset*/, std::uint16_t>;

/// Called once per completed TX slot.
template <class F>
concept tx_completion_handler = std::is_invocable_v<F&, const tx_completion&>;

/// The frontend's view of one TX ring.
///
/// Ids come from a fixed free list (capacity `MaxIds`, at least the ring size); each data slot
/// in flight holds one, an extra-info slot none. A packet's first id is held until every slot of
/// the packet has been answered, so its bookkeeping cannot be overwritten by a reuse.
///
/// Every response is checked before it changes anything; the first violation makes the object
/// `broken` (sticky): it stops reading responses and refuses submissions, the caller
/// disconnects and returns every buffer still in flight with `drain`.
///
/// @pre The ring is produced and consumed only through this object.
/// Thread safety: one thread at a time. Progress: wait-free.
template <ring_layout Layout = layout::xen_abi, std::size_t MaxIds = 256> class tx_frontend {
public:
    using ring_type = front_ring<tx_request, tx_response, Layout>;
    static_assert(MaxIds >= 1 && MaxIds <= 65536, "TX ids are 16-bit");

    /// @throws std::invalid_argument if the ring has more slots than `MaxIds` or the config is
    ///         out of range.
    explicit tx_frontend(ring_type& ring, const tx_front_config& config = {})
        : ring_(&ring), config_(config), nids_(ring.size())
    {
        if (ring.size() > MaxIds)
            throw std::invalid_argument("xnv: tx_frontend with " + std::to_string(MaxIds) +
                                        " ids cannot serve a ring of " + std::to_string(ring.size()) + " slots");
        if (config.max_slots < 1 || config.max_slots > nr_slots_min)
            throw std::invalid_argument("xnv: tx_front_config::max_slots must be in 1.." +
                                        std::to_string(nr_slots_min) + ", got " + std::to_string(config.max_slots));
        // LIFO free list, lowest id on top.
        for (std::uint32_t i = 0; i < nids_; ++i)
            free_[i] = static_cast<std::uint16_t>(nids_ - 1 - i);
        nfree_ = nids_;
    }

    [[nodiscard]] ring_type& ring() const noexcept { return *ring_; }
    [[nodiscard]] const tx_front_config& config() const noexcept { return config_; }

    /// Queue one packet made of `bufs` (one slot each, in order). Nothing is written unless the
    /// whole chain fits. Not published: call `push` once per batch.
    [[nodiscard]] tx_submit_result try_submit(std::span<const tx_buffer> bufs, const tx_meta& meta = {}) noexcept
    {
        if (broken_ != tx_front_error::none)
            return {tx_submit_error::broken};
        if (bufs.empty())
            return {tx_submit_error::no_buffers};
        if (bufs.size() > config_.max_slots)
            return {tx_submit_error::too_many_slots};
        std::uint32_t total = 0;
        for (const tx_buffer& b : bufs) {
            if (b.size == 0 || std::uint32_t{b.offset} + b.size > page_size)
                return {tx_submit_error::bad_buffer};
            total += b.size;
        }
        if (const tx_submit_error e = check_packet(total, bufs[0].size, meta); e != tx_submit_error::none)
            return {e};
        const auto n = static_cast<std::uint32_t>(bufs.size());
        const std::uint32_t slots = n + (meta.gso.present() ? 1u : 0u);
        if (ring_->free_slots() < slots || nfree_ < n)
            return {tx_submit_error::no_room};

        std::array<tx_request, nr_slots_min + 1> req{};
        std::uint32_t k = 0;
        const std::uint16_t head = free_[nfree_ - 1];
        for (std::uint32_t i = 0; i < n; ++i) {
            const std::uint16_t id = free_[--nfree_];
            id_state& s = ids_[id];
            s = id_state{bufs[i].cookie, bufs[i].gref, head, 0, status::okay, state::in_flight};
            std::uint16_t flags = i + 1 < n ? txf::more_data : std::uint16_t{0};
            std::uint16_t size = bufs[i].size;
            if (i == 0) {
                // The first slot carries the packet's total size and its metadata (netif.h).
                flags = static_cast<std::uint16_t>(flags | meta.flags | (meta.gso.present() ? txf::extra_info : 0));
                size = static_cast<std::uint16_t>(total);
            }
            req[k++] = tx_request{bufs[i].gref, bufs[i].offset, flags, id, size};
            if (i == 0 && meta.gso.present())
                req[k++] = detail::slot_from_extra<tx_request>(detail::make_gso_extra(meta.gso));
        }
        ids_[head].remaining = static_cast<std::uint16_t>(n);
        extras_outstanding_ += slots - n;
        const std::uint32_t written = ring_->produce(std::span<const tx_request>(req.data(), k));
        // Cannot fall short: free_slots() was checked above and nothing ran in between.
        return {written == k ? tx_submit_error::none : tx_submit_error::no_room, written, head, 0};
    }

    /// Queue one packet of `len` bytes whose first byte sits at `first_offset` in its first
    /// page: `grant(chunk, packet_offset, chunk_len)` is called for each of the
    /// `tx_chunks(len, first_offset)` page-sized chunks, in order, only once the chain is known
    /// to fit. If it returns a bad chunk the packet is not queued and `granted` says how many
    /// chunks were granted (including the bad one), for the caller to end.
    template <tx_grant_source Grant>
    [[nodiscard]] tx_submit_result try_submit_chunks(std::uint32_t len, std::uint16_t first_offset, const tx_meta& meta,
                                                     Grant&& grant) noexcept
    {
        if (broken_ != tx_front_error::none)
            return {tx_submit_error::broken};
        if (len == 0)
            return {tx_submit_error::no_buffers};
        if (len > max_tx_size)
            return {tx_submit_error::packet_too_large};
        const std::uint32_t off0 = first_offset % page_size;
        const std::uint32_t n = tx_chunks(len, first_offset);
        if (n > config_.max_slots)
            return {tx_submit_error::too_many_slots};
        const std::uint32_t first_len = std::min(len, page_size - off0);
        if (const tx_submit_error e = check_packet(len, first_len, meta); e != tx_submit_error::none)
            return {e};
        const std::uint32_t slots = n + (meta.gso.present() ? 1u : 0u);
        if (ring_->free_slots() < slots || nfree_ < n)
            return {tx_submit_error::no_room};
        std::array<tx_buffer, nr_slots_min> bufs{};
        std::uint32_t done = 0;
        for (std::uint32_t i = 0; i < n; ++i) {
            const std::uint32_t chunk_len = i == 0 ? first_len : std::min(page_size, len - done);
            const auto want = static_cast<std::uint16_t>(chunk_len);
            bufs[i] = grant(i, done, want);
            if (bufs[i].size != want || std::uint32_t{bufs[i].offset} + bufs[i].size > page_size)
                return {tx_submit_error::bad_buffer, 0, 0, i + 1};
            done += chunk_len;
        }
        tx_submit_result r = try_submit(std::span<const tx_buffer>(bufs.data(), n), meta);
        r.granted = n;
        return r;
    }

    /// Publish the requests written so far; true if the backend must be notified.
    [[nodiscard]] bool push() noexcept { return ring_->push(); }

    /// Consume up to `budget` responses, calling `done` for each completed data slot. Stops at
    /// the first violation, which it returns (and keeps returning): nothing that response said
    /// was applied.
    template <tx_completion_handler Done>
    tx_reclaim_result reclaim(Done&& done, std::uint32_t budget = std::numeric_limits<std::uint32_t>::max()) noexcept
    {
        tx_reclaim_result r;
        if (broken_ != tx_front_error::none) {
            r.error = broken_;
            return r;
        }
        std::array<tx_response, 32> batch{};
        while (budget != 0) {
            const std::uint32_t want = std::min<std::uint32_t>(budget, batch.size());
            const ring_count c = ring_->consume(std::span<tx_response>(batch.data(), want));
            if (!c.ok()) {
                r.error = broken_ = c.error == ring_error::index_backwards ? tx_front_error::ring_index_backwards
                                                                           : tx_front_error::ring_index_overrun;
                return r;
            }
            if (c.count == 0)
                break;
            budget -= c.count;
            for (std::uint32_t i = 0; i < c.count; ++i) {
                ++r.responses;
                if (const tx_front_error e = apply(batch[i], r, done); e != tx_front_error::none) {
                    r.error = broken_ = e;
                    return r;
                }
            }
        }
        return r;
    }

    /// Teardown after a disconnect: hand every buffer still in flight to `f(cookie, gref)` and
    /// make every id free. The ring must not be used afterwards (the backend may still hold the
    /// requests; end the grants before reusing the pages).
    template <class F>
    requires std::is_invocable_v<F&, std::uint32_t, grant_ref>
    void drain(F&& f) noexcept
    {
        nfree_ = 0;
        for (std::uint32_t i = nids_; i-- > 0;) {
            id_state& s = ids_[i];
            if (s.st == state::in_flight)
                f(s.cookie, s.gref);
            if (s.st == state::in_flight || s.st == state::answered_head)
                s.st = state::answered;
            free_[nfree_++] = static_cast<std::uint16_t>(i);
        }
        extras_outstanding_ = 0;
    }

    /// Ids free for new slots.
    [[nodiscard]] std::uint32_t ids_free() const noexcept { return nfree_; }
    /// Data slots submitted and not yet answered.
    [[nodiscard]] std::uint32_t in_flight() const noexcept
    {
        std::uint32_t n = 0;
        for (std::uint32_t i = 0; i < nids_; ++i)
            n += ids_[i].st == state::in_flight ? 1u : 0u;
        return n;
    }
    /// Ids the free list can hold: the ring size.
    [[nodiscard]] std::uint32_t ids_total() const noexcept { return nids_; }
    /// The sticky violation, or `tx_front_error::none`.
    [[nodiscard]] tx_front_error error() const noexcept { return broken_; }

    /// O(ids) self-check for tests and fuzzers: every id is exactly once either free or held
    /// (in flight, or a first id waiting for the rest of its packet), and every packet's
    /// outstanding count matches its slots in flight.
    [[nodiscard]] bool check_invariants() const noexcept
    {
        std::array<std::uint8_t, MaxIds> seen{};
        for (std::uint32_t i = 0; i < nfree_; ++i) {
            const std::uint16_t id = free_[i];
            if (id >= nids_ || seen[id] != 0 || ids_[id].st == state::in_flight || ids_[id].st == state::answered_head)
                return false;
            seen[id] = 1;
        }
        std::array<std::uint16_t, MaxIds> pending_of{};
        for (std::uint32_t i = 0; i < nids_; ++i) {
            const id_state& s = ids_[i];
            const bool held = s.st == state::in_flight || s.st == state::answered_head;
            if (held == (seen[i] != 0))
                return false;
            if (s.st == state::in_flight) {
                if (s.head >= nids_)
                    return false;
                ++pending_of[s.head];
            }
        }
        for (std::uint32_t i = 0; i < nids_; ++i) {
            const id_state& s = ids_[i];
            const bool is_head = (s.st == state::in_flight && s.head == i) || s.st == state::answered_head;
            if (is_head ? s.remaining != pending_of[i] || s.remaining == 0 : pending_of[i] != 0)
                return false;
        }
        return true;
    }

private:
    enum class state : std::uint8_t {
        never_used,    // free, never submitted: a response for it was never requested
        answered,      // free, last use answered: a response for it is a duplicate
        in_flight,     // submitted, awaiting its response
        answered_head, // a packet's first id, answered, held until the rest of its packet is
    };
    struct id_state {
        std::uint32_t cookie = 0;
        grant_ref gref = 0;
        std::uint16_t head = 0;      // the packet's first id
        std::uint16_t remaining = 0; // at the head: the packet's slots not yet answered
        std::int16_t pkt_status = status::okay;
        state st = state::never_used;
    };

    [[nodiscard]] tx_submit_error check_packet(std::uint32_t total, std::uint32_t first_size,
                                               const tx_meta& meta) const noexcept
    {
        if (total > max_tx_size)
            return tx_submit_error::packet_too_large;
        if (total < eth_hlen)
            return tx_submit_error::packet_too_short;
        if (first_size < eth_hlen)
            return tx_submit_error::first_slot_too_short;
        if ((meta.flags & ~(txf::csum_blank | txf::data_validated)) != 0)
            return tx_submit_error::bad_flags;
        if (meta.gso.present()) {
            const bool negotiated = (meta.gso.type == gso_type::tcpv4 && config_.gso_tcpv4) ||
                                    (meta.gso.type == gso_type::tcpv6 && config_.gso_tcpv6);
            if (!negotiated)
                return tx_submit_error::gso_not_negotiated;
            if (meta.gso.size == 0)
                return tx_submit_error::gso_size_zero;
        }
        return tx_submit_error::none;
    }

    template <class Done> tx_front_error apply(const tx_response& rsp, tx_reclaim_result& r, Done& done) noexcept
    {
        if (rsp.status == status::null) {
            // The answer to an extra-info slot: it frees nothing, but there must be one owed.
            if (extras_outstanding_ == 0)
                return tx_front_error::unexpected_null;
            --extras_outstanding_;
            return tx_front_error::none;
        }
        if (rsp.id >= nids_)
            return tx_front_error::id_out_of_range;
        id_state& s = ids_[rsp.id];
        if (s.st != state::in_flight)
            return s.st == state::never_used ? tx_front_error::id_not_in_flight : tx_front_error::duplicate_response;
        if (rsp.status != status::okay && rsp.status != status::error && rsp.status != status::dropped)
            return tx_front_error::bad_status;

        const std::uint16_t head = s.head;
        id_state& h = ids_[head];
        if (rsp.status != status::okay && h.pkt_status == status::okay)
            h.pkt_status = rsp.status;
        --h.remaining;
        const bool packet_done = h.remaining == 0;
        done(tx_completion{rsp.id, s.cookie, s.gref, rsp.status, packet_done, h.pkt_status});
        ++r.completed;
        if (rsp.id != head || packet_done)
            release(rsp.id);
        else
            s.st = state::answered_head;
        if (packet_done && rsp.id != head)
            release(head);
        if (packet_done)
            ++r.packets;
        return tx_front_error::none;
    }

    void release(std::uint16_t id) noexcept
    {
        ids_[id].st = state::answered;
        free_[nfree_++] = id;
    }

    ring_type* ring_;
    tx_front_config config_;
    std::uint32_t nids_;
    std::array<id_state, MaxIds> ids_{};
    std::array<std::uint16_t, MaxIds> free_{};
    std::uint32_t nfree_ = 0;
    std::uint32_t extras_outstanding_ = 0;
    tx_front_error broken_ = tx_front_error::none;
};

// ==================================================================================== RX side

/// A buffer to post: the page granted as `gref` (writable by the backend), and the caller's
/// handle for it.
struct rx_buffer {
    grant_ref gref = 0;
    std::uint32_t cookie = 0;
    friend constexpr bool operator==(const rx_buffer&, const rx_buffer&) = default;
};

/// One filled buffer of a received packet: `size` bytes at `offset` in the buffer `cookie`.
struct rx_fragment {
    std::uint32_t cookie = 0;
    grant_ref gref = 0;
    std::uint16_t offset = 0;
    std::uint16_t size = 0;
};

/// A reassembled packet. Its buffers belong to the caller once the handler is called.
struct rx_packet {
    std::array<rx_fragment, nr_slots_min> frags{};
    std::uint32_t nr_frags = 0;
    std::uint32_t total = 0;
    /// `rxf::csum_blank` and/or `rxf::data_validated` from the first response.
    std::uint16_t flags = 0;
    gso_info gso{};
};

/// What the frontend accepts from the backend.
struct rx_front_config {
    /// Data slots per packet, 1 .. `nr_slots_min` (Linux netfront: `XEN_NETIF_NR_SLOTS_MIN`).
    unsigned max_slots = nr_slots_min;
};

/// Why a received packet was dropped, or why the RX ring is unusable.
enum class rx_front_error : std::uint8_t {
    none = 0,
    // -- the packet is dropped, its buffers recycled; the backend may carry on
    slot_error,   ///< a negative status: the backend reports a failed slot (counted)
    empty_packet, ///< a packet of 0 bytes
    // -- the packet is dropped, its buffers recycled; a violation (`is_violation`)
    id_out_of_range,    ///< response id not below the ring size
    id_not_posted,      ///< response id names no posted buffer (a duplicate, or never posted)
    id_out_of_order,    ///< response id names a posted buffer at another ring position
    bad_offset,         ///< offset + size beyond the page
    too_many_slots,     ///< more data slots than `max_slots`
    too_many_extras,    ///< more than `max_extras` extra-info slots chained
    extra_type_unknown, ///< extra-info type 0 or >= `extra_type::max`
    gso_size_zero,      ///< GSO extra-info with size 0
    gso_type_unknown,   ///< GSO extra-info with an unknown type
    chain_truncated,    ///< a chain still open when every posted buffer has been answered
    // -- fatal: the ring is unusable, disconnect
    ring_index_backwards, ///< `rsp_prod` moved backwards
    ring_index_overrun,   ///< `rsp_prod` beyond the buffers posted
    unposted_slot,        ///< a response at a ring position this object never posted (ring misuse)
};

inline constexpr std::size_t rx_front_error_count = static_cast<std::size_t>(rx_front_error::unposted_slot) + 1;

[[nodiscard]] constexpr std::string_view to_string(rx_front_error e) noexcept
{
    switch (e) {
    case rx_front_error::none:
        return "none";
    case rx_front_error::slot_error:
        return "backend reported an RX slot error";
    case rx_front_error::empty_packet:
        return "empty RX packet";
    case rx_front_error::id_out_of_range:
        return "RX response id out of range";
    case rx_front_error::id_not_posted:
        return "RX response id names no posted buffer";
    case rx_front_error::id_out_of_order:
        return "RX response id out of ring order";
    case rx_front_error::bad_offset:
        return "RX offset + size beyond the page";
    case rx_front_error::too_many_slots:
        return "RX packet uses too many slots";
    case rx_front_error::too_many_extras:
        return "too many chained RX extra-info slots";
    case rx_front_error::extra_type_unknown:
        return "unknown RX extra-info type";
    case rx_front_error::gso_size_zero:
        return "RX GSO size 0";
    case rx_front_error::gso_type_unknown:
        return "unknown RX GSO type";
    case rx_front_error::chain_truncated:
        return "RX chain open with no buffer left to finish it";
    case rx_front_error::ring_index_backwards:
        return "rsp_prod moved backwards";
    case rx_front_error::ring_index_overrun:
        return "rsp_prod beyond the buffers posted";
    case rx_front_error::unposted_slot:
        return "RX response at a position never posted";
    }
    return "unknown rx error";
}

/// True for the reasons a well-behaved backend never causes (the caller may disconnect on them).
[[nodiscard]] constexpr bool is_violation(rx_front_error e) noexcept
{
    return e != rx_front_error::none && e != rx_front_error::slot_error && e != rx_front_error::empty_packet;
}
/// True for the reasons that leave the ring unusable (sticky; disconnect).
[[nodiscard]] constexpr bool is_fatal(rx_front_error e) noexcept
{
    return e == rx_front_error::ring_index_backwards || e == rx_front_error::ring_index_overrun ||
           e == rx_front_error::unposted_slot;
}

/// Counters kept by `rx_frontend`.
struct rx_front_stats {
    std::uint64_t responses = 0;                             ///< responses consumed
    std::uint64_t packets = 0;                               ///< packets delivered
    std::uint64_t bytes = 0;                                 ///< bytes delivered
    std::uint64_t extra_slots = 0;                           ///< extra-info slots seen (their buffers recycled)
    std::uint64_t recycled = 0;                              ///< buffers handed back without data
    std::array<std::uint64_t, rx_front_error_count> drops{}; ///< packets dropped, by reason

    [[nodiscard]] constexpr std::uint64_t dropped(rx_front_error e) const noexcept
    {
        return drops[static_cast<std::size_t>(e)];
    }
};

/// The outcome of `rx_frontend::poll`.
struct rx_poll_result {
    rx_front_error fatal = rx_front_error::none;     ///< the sticky ring failure, if any
    rx_front_error last_drop = rx_front_error::none; ///< the reason of the last packet dropped
    std::uint32_t responses = 0;
    std::uint32_t packets = 0;
    std::uint32_t drops = 0;
    std::uint32_t violations = 0; ///< drops for which `is_violation` holds
    [[nodiscard]] constexpr bool ok() const noexcept { return fatal == rx_front_error::none; }
};

template <class F>
concept rx_packet_handler = std::is_invocable_v<F&, const rx_packet&>;
template <class F>
concept rx_recycle_handler = std::is_invocable_v<F&, const rx_buffer&>;

/// The frontend's view of one RX ring.
///
/// Buffers are posted with id = ring index & (size - 1), as Linux's netfront does, and looked up
/// by the ring position of their response: the backend answers RX requests in order, one
/// response per request, and an extra-info response (which has no id) uses up the buffer posted
/// at its position. Every data response's id is checked against that position.
///
/// Each response is copied out of shared memory exactly once and consumed at once; a packet
/// whose chain continues past `rsp_prod` stays under assembly (its buffers held) until the
/// rest arrives. Every posted buffer is handed back exactly once: as a fragment of a delivered
/// packet (`on_packet`), or recycled without data (`on_recycle`: extra-info slots, dropped
/// packets, `drain`).
///
/// @pre The ring is produced and consumed only through this object.
/// Thread safety: one thread at a time. Progress: wait-free; `poll` does at most `budget`
/// responses.
template <ring_layout Layout = layout::xen_abi, std::size_t MaxSlots = 256> class rx_frontend {
public:
    using ring_type = front_ring<rx_request, rx_response, Layout>;
    static_assert(MaxSlots >= 1 && MaxSlots <= 65536, "RX ids are 16-bit");

    /// @throws std::invalid_argument if the ring has more slots than `MaxSlots` or the config is
    ///         out of range.
    explicit rx_frontend(ring_type& ring, const rx_front_config& config = {})
        : ring_(&ring), config_(config), nslots_(ring.size()), mask_(ring.size() - 1)
    {
        if (ring.size() > MaxSlots)
            throw std::invalid_argument("xnv: rx_frontend for " + std::to_string(MaxSlots) +
                                        " slots cannot serve a ring of " + std::to_string(ring.size()) + " slots");
        if (config.max_slots < 1 || config.max_slots > nr_slots_min)
            throw std::invalid_argument("xnv: rx_front_config::max_slots must be in 1.." +
                                        std::to_string(nr_slots_min) + ", got " + std::to_string(config.max_slots));
    }

    [[nodiscard]] ring_type& ring() const noexcept { return *ring_; }

    /// Post one buffer; false if the ring has no free slot (or the ring is broken).
    /// Not published: call `push` once per batch.
    [[nodiscard]] bool try_post(const rx_buffer& buf) noexcept
    {
        if (broken_ != rx_front_error::none || ring_->free_slots() == 0)
            return false;
        const std::uint32_t s = ring_->produced() & mask_;
        // Cannot hold a buffer: positions [rsp_cons, req_prod_pvt) are distinct modulo the ring
        // size and a consumed response clears its slot.
        if (slot_[s].posted)
            return false;
        if (!ring_->try_produce(rx_request{static_cast<std::uint16_t>(s), 0, buf.gref}))
            return false;
        slot_[s] = slot_state{buf, true};
        ++posted_;
        return true;
    }

    /// Publish the buffers posted so far; true if the backend must be notified.
    [[nodiscard]] bool push() noexcept { return ring_->push(); }

    /// Consume up to `budget` responses: deliver complete packets to `on_packet` and hand
    /// buffers that carry no delivered data to `on_recycle`.
    template <rx_packet_handler OnPacket, rx_recycle_handler OnRecycle>
    rx_poll_result poll(OnPacket&& on_packet, OnRecycle&& on_recycle,
                        std::uint32_t budget = std::numeric_limits<std::uint32_t>::max()) noexcept
    {
        rx_poll_result r;
        if (broken_ != rx_front_error::none) {
            r.fatal = broken_;
            return r;
        }
        std::array<rx_response, 32> batch{};
        bool drained = false;
        while (budget != 0) {
            const std::uint32_t want = std::min<std::uint32_t>(budget, batch.size());
            const std::uint32_t first = ring_->consumed();
            const ring_count c = ring_->consume(std::span<rx_response>(batch.data(), want));
            if (!c.ok()) {
                r.fatal = broken_ = c.error == ring_error::index_backwards ? rx_front_error::ring_index_backwards
                                                                           : rx_front_error::ring_index_overrun;
                return r;
            }
            budget -= c.count;
            for (std::uint32_t i = 0; i < c.count; ++i) {
                ++r.responses;
                ++stats_.responses;
                if (!handle(first + i, batch[i], r, on_packet, on_recycle)) {
                    r.fatal = broken_ = rx_front_error::unposted_slot;
                    return r;
                }
            }
            if (c.count < want) {
                drained = true;
                break;
            }
        }
        // Linux's "Need more slots": a chain still open with no posted buffer left can never be
        // finished by the backend, so the packet is dropped rather than waited for.
        if (drained && phase_ != phase::idle && posted_ == 0) {
            mark(rx_front_error::chain_truncated, on_recycle);
            finish(r, on_packet, on_recycle);
        }
        return r;
    }

    /// Teardown after a disconnect: hand every posted buffer and every buffer of a packet under
    /// assembly to `on_recycle`; the object is then empty. The ring must not be used afterwards.
    template <rx_recycle_handler OnRecycle> void drain(OnRecycle&& on_recycle) noexcept
    {
        for (std::uint32_t s = 0; s < nslots_; ++s)
            if (slot_[s].posted) {
                slot_[s].posted = false;
                give_back(slot_[s].buf, on_recycle);
            }
        posted_ = 0;
        for (std::uint32_t i = 0; i < cur_.nr_frags; ++i)
            give_back(rx_buffer{cur_.frags[i].gref, cur_.frags[i].cookie}, on_recycle);
        cur_ = rx_packet{};
        phase_ = phase::idle;
    }

    /// Buffers posted and not yet answered.
    [[nodiscard]] std::uint32_t posted() const noexcept { return posted_; }
    /// Buffers answered and held in a packet still under assembly.
    [[nodiscard]] std::uint32_t assembling() const noexcept { return cur_.nr_frags; }
    [[nodiscard]] const rx_front_stats& stats() const noexcept { return stats_; }
    /// The sticky ring failure, or `rx_front_error::none`.
    [[nodiscard]] rx_front_error error() const noexcept { return broken_; }

    /// O(slots) self-check for tests and fuzzers: the posted count matches the posted slots,
    /// which are exactly the positions the backend still owes a response.
    [[nodiscard]] bool check_invariants() const noexcept
    {
        std::uint32_t n = 0;
        for (std::uint32_t s = 0; s < nslots_; ++s)
            n += slot_[s].posted ? 1u : 0u;
        const std::uint32_t owed = ring_->produced() - ring_->consumed();
        return n == posted_ && owed == posted_ && cur_.nr_frags <= config_.max_slots;
    }

private:
    enum class phase : std::uint8_t { idle, extras, data };
    struct slot_state {
        rx_buffer buf{};
        bool posted = false;
    };

    template <class OnRecycle> void give_back(const rx_buffer& b, OnRecycle& on_recycle) noexcept
    {
        ++stats_.recycled;
        on_recycle(b);
    }

    // The first problem found decides the packet's fate; its buffers so far go back at once,
    // the rest as they arrive.
    template <class OnRecycle> void mark(rx_front_error e, OnRecycle& on_recycle) noexcept
    {
        if (drop_ != rx_front_error::none)
            return;
        drop_ = e;
        for (std::uint32_t i = 0; i < cur_.nr_frags; ++i)
            give_back(rx_buffer{cur_.frags[i].gref, cur_.frags[i].cookie}, on_recycle);
        cur_.nr_frags = 0;
        cur_.total = 0;
    }

    template <class OnPacket, class OnRecycle>
    void finish(rx_poll_result& r, OnPacket& on_packet, OnRecycle& on_recycle) noexcept
    {
        phase_ = phase::idle;
        // Every fragment empty: nothing to deliver, the buffers go back.
        if (drop_ == rx_front_error::none && cur_.total == 0)
            mark(rx_front_error::empty_packet, on_recycle);
        if (drop_ != rx_front_error::none) {
            ++r.drops;
            ++stats_.drops[static_cast<std::size_t>(drop_)];
            r.last_drop = drop_;
            if (is_violation(drop_))
                ++r.violations;
            return;
        }
        ++r.packets;
        ++stats_.packets;
        stats_.bytes += cur_.total;
        on_packet(static_cast<const rx_packet&>(cur_));
        cur_.nr_frags = 0;
    }

    // A data response at slot `s` holding `buf`.
    template <class OnRecycle>
    void data_slot(std::uint32_t s, const rx_buffer& buf, const rx_response& rsp, OnRecycle& on_recycle) noexcept
    {
        ++ndata_;
        if (drop_ == rx_front_error::none) {
            if (rsp.id >= nslots_)
                mark(rx_front_error::id_out_of_range, on_recycle);
            else if (rsp.id != s)
                mark(slot_[rsp.id].posted ? rx_front_error::id_out_of_order : rx_front_error::id_not_posted,
                     on_recycle);
            else if (rsp.status < 0)
                mark(rx_front_error::slot_error, on_recycle);
            else if (std::uint32_t{rsp.offset} + static_cast<std::uint32_t>(rsp.status) > page_size)
                mark(rx_front_error::bad_offset, on_recycle);
            else if (ndata_ > config_.max_slots)
                mark(rx_front_error::too_many_slots, on_recycle);
        }
        if (drop_ != rx_front_error::none) {
            give_back(buf, on_recycle);
            return;
        }
        const auto size = static_cast<std::uint16_t>(rsp.status);
        cur_.frags[cur_.nr_frags++] = rx_fragment{buf.cookie, buf.gref, rsp.offset, size};
        cur_.total += size;
    }

    template <class OnPacket, class OnRecycle>
    bool handle(std::uint32_t idx, const rx_response& rsp, rx_poll_result& r, OnPacket& on_packet,
                OnRecycle& on_recycle) noexcept
    {
        const std::uint32_t s = idx & mask_;
        if (!slot_[s].posted)
            return false;
        const rx_buffer buf = slot_[s].buf;
        slot_[s].posted = false;
        --posted_;

        switch (phase_) {
        case phase::idle:
            cur_ = rx_packet{};
            drop_ = rx_front_error::none;
            ndata_ = 0;
            nextras_ = 0;
            cur_.flags = static_cast<std::uint16_t>(rsp.flags & (rxf::csum_blank | rxf::data_validated));
            more_after_extras_ = (rsp.flags & rxf::more_data) != 0;
            data_slot(s, buf, rsp, on_recycle);
            if ((rsp.flags & rxf::extra_info) != 0)
                phase_ = phase::extras;
            else if ((rsp.flags & rxf::more_data) != 0)
                phase_ = phase::data;
            else
                finish(r, on_packet, on_recycle);
            break;
        case phase::extras: {
            // An extra-info response carries no data: its buffer goes straight back.
            const extra_info e = detail::extra_from_slot(rsp);
            ++stats_.extra_slots;
            give_back(buf, on_recycle);
            if (++nextras_ > max_extras)
                mark(rx_front_error::too_many_extras, on_recycle);
            else if (!extra_type_known(e.type))
                mark(rx_front_error::extra_type_unknown, on_recycle);
            else if (e.type == extra_type::gso) {
                if (e.u.gso.size == 0)
                    mark(rx_front_error::gso_size_zero, on_recycle);
                else if (!gso_type_known(e.u.gso.type))
                    mark(rx_front_error::gso_type_unknown, on_recycle);
                else
                    cur_.gso = gso_info{e.u.gso.type, e.u.gso.size};
            }
            if ((e.flags & extra_flag_more) == 0) {
                if (more_after_extras_)
                    phase_ = phase::data;
                else
                    finish(r, on_packet, on_recycle);
            }
            break;
        }
        case phase::data:
            data_slot(s, buf, rsp, on_recycle);
            if ((rsp.flags & rxf::more_data) == 0)
                finish(r, on_packet, on_recycle);
            break;
        }
        return true;
    }

    ring_type* ring_;
    rx_front_config config_;
    std::uint32_t nslots_;
    std::uint32_t mask_;
    std::array<slot_state, MaxSlots> slot_{};
    std::uint32_t posted_ = 0;
    rx_packet cur_{};
    phase phase_ = phase::idle;
    rx_front_error drop_ = rx_front_error::none;
    std::uint32_t ndata_ = 0;
    std::uint32_t nextras_ = 0;
    bool more_after_extras_ = false;
    rx_front_stats stats_{};
    rx_front_error broken_ = rx_front_error::none;
};

// ============================================================================ fuzzing entries

namespace detail {

// Write what a backend would into a front ring's page: `entries` into the slots from `start`
// on, and `prod` into the response producer index. Raw stores: the caller owns the page and runs
// single-threaded.
template <ring_layout Layout, class Req, class Rsp>
void backend_writes(std::span<std::byte> page, std::uint32_t size, std::uint32_t start, std::span<const Rsp> entries,
                    std::uint32_t prod) noexcept
{
    const std::size_t n = std::min<std::size_t>(entries.size(), size);
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t slot = (start + static_cast<std::uint32_t>(k)) & (size - 1);
        std::memcpy(page.data() + Layout::header_bytes + slot * sizeof(ring_slot<Req, Rsp>), &entries[k], sizeof(Rsp));
    }
    std::memcpy(page.data() + Layout::rsp_prod_offset, &prod, sizeof prod);
}

} // namespace detail

/// What `run_rx_frontend_on_responses` saw.
struct rx_front_image_report {
    bool attached = false;               ///< false: `config` invalid, nothing run
    std::uint32_t posted = 0;            ///< buffers posted before the backend wrote
    std::uint32_t packets = 0;           ///< packets delivered
    std::uint32_t drops = 0;             ///< packets dropped
    std::uint32_t violations = 0;        ///< drops that were protocol violations
    std::uint32_t delivered_buffers = 0; ///< buffers handed back inside packets
    std::uint32_t recycled_buffers = 0;  ///< buffers handed back without data (drain included)
    rx_front_error fatal = rx_front_error::none;
    std::uint32_t defects = 0; ///< broken invariants (must be 0): a buffer lost or returned twice,
                               ///< a delivered fragment outside its page, a bad packet delivered
};

/// Fuzzing entry point for netfront's RX response handling: a one-page RX ring initialised at
/// `start`, `posted` buffers posted (clamped to the ring size; cookies 0, 1, ...), then an
/// arbitrary backend writes `responses` into the slots from `start` on and sets `rsp_prod` to
/// `start + rsp_count` (which may exceed what was posted). The frontend polls, then drains, and
/// every invariant is checked: each posted buffer comes back exactly once.
template <ring_layout Layout = layout::xen_abi>
[[nodiscard]] rx_front_image_report
run_rx_frontend_on_responses(std::uint32_t start, std::uint32_t posted, std::uint32_t rsp_count,
                             std::span<const rx_response> responses, const rx_front_config& config = {}) noexcept
{
    rx_front_image_report rep;
    if (config.max_slots < 1 || config.max_slots > nr_slots_min)
        return rep;
    alignas(64) std::array<std::byte, page_size> page{};
    // Cannot throw: the page is aligned and holds 256 slots of either layout.
    front_ring<rx_request, rx_response, Layout> ring(ring_init, page, start);
    rx_frontend<Layout> rx(ring, config);
    rep.attached = true;
    const std::uint32_t n = std::min(posted, ring.size());
    for (std::uint32_t i = 0; i < n; ++i)
        if (rx.try_post(rx_buffer{0x1000 + i, i}))
            ++rep.posted;
    (void)rx.push();
    detail::backend_writes<Layout, rx_request, rx_response>(page, ring.size(), start, responses, start + rsp_count);

    std::array<std::uint8_t, page_size / sizeof(ring_slot<rx_request, rx_response>)> returned{};
    auto give = [&](std::uint32_t cookie, grant_ref gref) {
        if (cookie >= rep.posted || gref != 0x1000 + cookie || returned[cookie]++ != 0)
            ++rep.defects;
    };
    auto on_packet = [&](const rx_packet& p) {
        std::uint32_t sum = 0;
        if (p.nr_frags == 0 || p.nr_frags > config.max_slots)
            ++rep.defects;
        for (std::uint32_t i = 0; i < p.nr_frags && i < p.frags.size(); ++i) {
            const rx_fragment& f = p.frags[i];
            if (std::uint32_t{f.offset} + f.size > page_size)
                ++rep.defects;
            sum += f.size;
            give(f.cookie, f.gref);
            ++rep.delivered_buffers;
        }
        if (sum != p.total || p.total == 0 || (p.gso.present() && (p.gso.size == 0 || !gso_type_known(p.gso.type))))
            ++rep.defects;
    };
    auto on_recycle = [&](const rx_buffer& b) {
        give(b.cookie, b.gref);
        ++rep.recycled_buffers;
    };
    for (int round = 0; round < 2; ++round) {
        const rx_poll_result r = rx.poll(on_packet, on_recycle);
        rep.packets += r.packets;
        rep.drops += r.drops;
        rep.violations += r.violations;
        rep.fatal = r.fatal;
        if (!r.ok())
            break;
    }
    if (rep.fatal == rx_front_error::none && !rx.check_invariants())
        ++rep.defects;
    rx.drain(on_recycle);
    for (std::uint32_t i = 0; i < rep.posted; ++i)
        if (returned[i] != 1)
            ++rep.defects;
    return rep;
}

/// What `run_tx_frontend_on_responses` saw.
struct tx_front_image_report {
    std::uint32_t packets = 0;      ///< packets submitted
    std::uint32_t slots = 0;        ///< ring slots submitted (extra-info included)
    std::uint32_t completed = 0;    ///< data slots completed by responses
    std::uint32_t packets_done = 0; ///< packets whose every slot completed
    tx_front_error error = tx_front_error::none;
    std::uint32_t defects = 0; ///< broken invariants (must be 0): an id lost or freed twice, a
                               ///< buffer completed twice or never returned
};

/// Fuzzing entry point for netfront's TX response handling: a one-page TX ring initialised at
/// `start`; one packet is submitted per byte of `packets` until the ring is full (byte `b`:
/// `1 + (b & 0x1f) % 18` data slots of 64 bytes, a TCPv4 GSO extra-info slot when `b & 0x80`);
/// then an arbitrary backend writes `responses` into the slots from `start` on and sets
/// `rsp_prod` to `start + rsp_count`. The frontend reclaims, then drains, checking its
/// invariants: every buffer comes back exactly once, no id is lost.
template <ring_layout Layout = layout::xen_abi>
[[nodiscard]] tx_front_image_report
run_tx_frontend_on_responses(std::uint32_t start, std::span<const std::uint8_t> packets, std::uint32_t rsp_count,
                             std::span<const tx_response> responses) noexcept
{
    tx_front_image_report rep;
    alignas(64) std::array<std::byte, page_size> page{};
    // Cannot throw: the page is aligned, holds 256 slots, and the default config is valid.
    front_ring<tx_request, tx_response, Layout> ring(ring_init, page, start);
    tx_frontend<Layout> tx(ring);
    std::uint32_t cookies = 0;
    for (const std::uint8_t b : packets) {
        const std::uint32_t n = 1 + (b & 0x1fu) % nr_slots_min;
        std::array<tx_buffer, nr_slots_min> bufs{};
        for (std::uint32_t i = 0; i < n; ++i)
            bufs[i] = tx_buffer{0x2000 + cookies + i, static_cast<std::uint16_t>(64 * i), 64, cookies + i};
        const tx_meta meta{0, (b & 0x80u) != 0 ? gso_info{gso_type::tcpv4, 1448} : gso_info{}};
        const tx_submit_result r = tx.try_submit(std::span<const tx_buffer>(bufs.data(), n), meta);
        if (!r.ok())
            break;
        ++rep.packets;
        rep.slots += r.slots;
        cookies += n;
    }
    (void)tx.push();
    detail::backend_writes<Layout, tx_request, tx_response>(page, ring.size(), start, responses, start + rsp_count);

    std::array<std::uint8_t, page_size / sizeof(ring_slot<tx_request, tx_response>)> returned{};
    auto give = [&](std::uint32_t cookie, grant_ref gref) {
        if (cookie >= cookies || gref != 0x2000 + cookie || returned[cookie]++ != 0)
            ++rep.defects;
    };
    const tx_reclaim_result r = tx.reclaim([&](const tx_completion& c) {
        give(c.cookie, c.gref);
        ++rep.completed;
        rep.packets_done += c.packet_done ? 1u : 0u;
    });
    rep.error = r.error;
    if (!tx.check_invariants() || tx.ids_free() + tx.in_flight() > tx.ids_total())
        ++rep.defects;
    tx.drain(give);
    if (!tx.check_invariants() || tx.ids_free() != tx.ids_total() || tx.in_flight() != 0)
        ++rep.defects;
    for (std::uint32_t i = 0; i < cookies; ++i)
        if (returned[i] != 1)
            ++rep.defects;
    return rep;
}

} // namespace xnv::netif
