// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The backend (netback) half of the Xen netif protocol as pure logic over ring endpoints:
///
/// - `tx_backend`: reads a packet's slot chain (first slot, extra-info segments, more-data
///   slots) out of the TX ring, validates it as Linux's xen-netback does
///   (`xenvif_tx_build_gops`, `xenvif_get_extras`, `xenvif_count_requests`,
///   `xenvif_set_skb_gso`), and writes the TX responses (`make_tx_response`).
/// - `rx_backend`: takes guest RX buffers for a packet and writes the RX response chain
///   (`xenvif_rx_skb`: data slots, the GSO extra-info slot after the first one).
///
/// No I/O, no threads, no allocation: every structure has a fixed capacity, every member is
/// `noexcept` except constructors (which throw only on the caller's bad configuration), and
/// everything the peer wrote is judged by a returned verdict, never by an exception or UB.
/// See docs/netif.md for the validation table.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
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

/// Linux's `fatal_skb_slots` default: a packet using more slots than this is malicious and its
/// frontend is disconnected.
inline constexpr unsigned fatal_slots_default = 20;
/// The largest fatal threshold `tx_limits` accepts (it sizes `tx_packet::ids`).
inline constexpr unsigned max_fatal_slots = 64;

/// What the backend accepts from a frontend's TX ring. Slot counts are data slots of one packet
/// (the first slot and its more-data slots; extra-info segments are not counted).
struct tx_limits {
    /// More data slots than this: the packet is dropped (every slot answered with an error).
    /// Xen's `XEN_NETIF_NR_SLOTS_MIN`; at most `nr_slots_min`.
    unsigned max_slots = nr_slots_min;
    /// More data slots than this: the frontend is disconnected (Linux's `fatal_skb_slots`).
    /// Between `max_slots` and `max_fatal_slots`.
    unsigned fatal_slots = fatal_slots_default;
    /// Bytes the first slot must carry, else the packet is dropped: an Ethernet header.
    /// Between 1 and `page_size`.
    std::uint32_t min_first_slot = eth_hlen;
};

/// Whether `l` is a configuration `tx_backend` accepts (its constructor throws otherwise).
[[nodiscard]] constexpr bool valid(const tx_limits& l) noexcept
{
    return l.max_slots >= 1 && l.max_slots <= nr_slots_min && l.fatal_slots >= l.max_slots &&
           l.fatal_slots <= max_fatal_slots && l.min_first_slot >= 1 && l.min_first_slot <= page_size;
}

/// The outcome of parsing one packet.
enum class tx_verdict : std::uint8_t {
    /// A data packet: its fragments are in the descriptor; answer it with `respond`.
    ok,
    /// A multicast control request (an `mcast_add`/`mcast_del` extra-info segment, Linux's
    /// `xenvif_mcast_add/del`): act on `tx_packet::mcast_*`, answer with `respond`.
    control,
    /// A malformed but harmless packet: its slots are consumed; answer them all with
    /// `respond(pkt, status::error)`, count the drop, and go on.
    drop,
    /// A protocol violation: disconnect the frontend. Sticky: every later `parse` says the same.
    fatal,
    /// The chain continues past the published `req_prod`: nothing is answered; parse again when
    /// the frontend notifies. The slots read so far are held in the parser's private copy.
    incomplete,
    /// No request pending.
    empty,
};

/// Why a packet was dropped, the frontend disconnected, or the chain is incomplete.
enum class tx_error : std::uint8_t {
    none = 0,
    // -- drop: Linux answers XEN_NETIF_RSP_ERROR to every slot and carries on
    too_many_slots,         ///< more data slots than `max_slots` (Linux: "Too many slots")
    fragment_exceeds_total, ///< later slots add up to more than the first slot's total size
    zero_length_fragment,   ///< a later slot of size 0 (xnv is stricter than Linux here)
    first_slot_too_short,   ///< first slot holds fewer than `min_first_slot` bytes (total 0 included)
    // -- fatal: Linux calls xenvif_fatal_tx_err
    slot_limit_exceeded,  ///< more data slots than `fatal_slots` ("Malicious frontend")
    slot_crosses_page,    ///< offset + size beyond the 4096-byte page ("Cross page boundary")
    extra_type_unknown,   ///< extra-info type 0 or >= `extra_type::max` ("Invalid extra type")
    too_many_extras,      ///< more than `max_extras` extra-info segments chained
    gso_size_zero,        ///< GSO extra-info with size 0 ("GSO size must not be zero")
    gso_type_unknown,     ///< GSO extra-info type neither TCPv4 nor TCPv6 ("Bad GSO type")
    chain_exceeds_ring,   ///< an unfinished chain already fills the whole ring: it can never end
    ring_index_backwards, ///< `req_prod` moved backwards (the ring's `ring_error`)
    ring_index_overrun,   ///< `req_prod` beyond what the ring can hold (XSA-39)
    // -- incomplete
    chain_incomplete, ///< a more-data chain runs past `req_prod`
    extra_incomplete, ///< an extra-info chain runs past `req_prod`
};

[[nodiscard]] constexpr std::string_view to_string(tx_verdict v) noexcept
{
    switch (v) {
    case tx_verdict::ok:
        return "ok";
    case tx_verdict::control:
        return "control";
    case tx_verdict::drop:
        return "drop";
    case tx_verdict::fatal:
        return "fatal";
    case tx_verdict::incomplete:
        return "incomplete";
    case tx_verdict::empty:
        return "empty";
    }
    return "unknown tx verdict";
}

[[nodiscard]] constexpr std::string_view to_string(tx_error e) noexcept
{
    switch (e) {
    case tx_error::none:
        return "none";
    case tx_error::too_many_slots:
        return "packet uses more slots than the drop threshold";
    case tx_error::fragment_exceeds_total:
        return "fragments add up to more than the packet's total size";
    case tx_error::zero_length_fragment:
        return "zero-length fragment";
    case tx_error::first_slot_too_short:
        return "first slot shorter than an Ethernet header";
    case tx_error::slot_limit_exceeded:
        return "packet uses more slots than the fatal threshold";
    case tx_error::slot_crosses_page:
        return "slot crosses its page (offset + size > 4096)";
    case tx_error::extra_type_unknown:
        return "unknown extra-info type";
    case tx_error::too_many_extras:
        return "too many chained extra-info segments";
    case tx_error::gso_size_zero:
        return "GSO size 0";
    case tx_error::gso_type_unknown:
        return "unknown GSO type";
    case tx_error::chain_exceeds_ring:
        return "unfinished slot chain fills the whole ring";
    case tx_error::ring_index_backwards:
        return "req_prod moved backwards";
    case tx_error::ring_index_overrun:
        return "req_prod beyond what the ring can hold";
    case tx_error::chain_incomplete:
        return "slot chain continues past req_prod";
    case tx_error::extra_incomplete:
        return "extra-info chain continues past req_prod";
    }
    return "unknown tx error";
}

/// The verdict each reason belongs to (`none` maps to `ok`).
[[nodiscard]] constexpr tx_verdict verdict_of(tx_error e) noexcept
{
    switch (e) {
    case tx_error::none:
        return tx_verdict::ok;
    case tx_error::too_many_slots:
    case tx_error::fragment_exceeds_total:
    case tx_error::zero_length_fragment:
    case tx_error::first_slot_too_short:
        return tx_verdict::drop;
    case tx_error::chain_incomplete:
    case tx_error::extra_incomplete:
        return tx_verdict::incomplete;
    default:
        return tx_verdict::fatal;
    }
}

/// One slot of a packet's data: `size` bytes at `offset` in the page granted as `gref`.
struct tx_fragment {
    grant_ref gref = 0;
    std::uint16_t offset = 0;
    std::uint16_t size = 0;
    friend constexpr bool operator==(const tx_fragment&, const tx_fragment&) = default;
};

/// A parsed TX packet. Filled by `tx_backend::parse` for every verdict that consumed slots
/// (`ok`, `control`, `drop`); `ids`/`nr_ids`/`nr_extras` are what `respond` answers.
struct tx_packet {
    /// Data in slot order; `frags[0]` is the first slot with its own size (the total minus the
    /// later slots). Valid for `ok` only.
    std::array<tx_fragment, nr_slots_min> frags{};
    std::uint32_t nr_frags = 0;
    /// The packet's length (the first slot's `size`), 1..65535. Valid for `ok` only.
    std::uint32_t total = 0;
    /// `txf::csum_blank` and/or `txf::data_validated` from the first slot.
    std::uint16_t flags = 0;
    /// GSO type and MSS when the packet carried a GSO extra-info segment.
    gso_info gso{};
    /// `extra_type::mcast_add` or `mcast_del` for a `control` verdict, else `extra_type::none`.
    std::uint8_t mcast_op = extra_type::none;
    std::array<std::uint8_t, 6> mcast_addr{};
    /// The hash extra-info segment if one was sent (`hash.type == extra_type::hash`), else zeroed.
    extra_info hash{};
    /// Request ids of the data slots in ring order (the first slot's first), dropped slots
    /// included; `nr_ids` data slots and `nr_extras` extra-info slots were consumed.
    std::array<std::uint16_t, max_fatal_slots> ids{};
    std::uint32_t nr_ids = 0;
    std::uint32_t nr_extras = 0;

    /// Responses this packet needs: one per consumed slot.
    [[nodiscard]] constexpr std::uint32_t slots() const noexcept { return nr_ids + nr_extras; }

    /// Reset every count and scalar; array entries beyond the counts keep stale values and are
    /// never read (cheaper per packet than zeroing the arrays).
    constexpr void clear() noexcept
    {
        nr_frags = 0;
        total = 0;
        flags = 0;
        gso = gso_info{};
        mcast_op = extra_type::none;
        hash = extra_info{};
        nr_ids = 0;
        nr_extras = 0;
    }
};

/// The verdict on one packet, why, and how many ring slots it consumed.
struct tx_parse_result {
    tx_verdict verdict = tx_verdict::empty;
    tx_error error = tx_error::none;
    std::uint32_t slots = 0;
    friend constexpr bool operator==(const tx_parse_result&, const tx_parse_result&) = default;
};

/// The backend's view of one TX ring: parses packets out of it and writes their responses.
///
/// Requests are copied out of shared memory exactly once, in batches (`consume`), into a
/// private staging FIFO; every decision reads only those copies (XSA-155). An incomplete chain
/// stays in the staging FIFO, so the ring has nothing pending and the caller can arm the event
/// index with `ring.final_check()` and sleep until the frontend publishes the rest; the next
/// `parse` resumes from the copies without reading any slot twice. No response is written for
/// a packet until the caller answers it.
///
/// @pre The ring is consumed only through this object, and its responses are written only
///      through `respond` (or the ring's `produce` for exactly the slots `parse` handed out).
/// Thread safety: one thread at a time (like the ring endpoint it wraps).
/// Progress: every member is wait-free; `parse` reads at most `stage_capacity` requests.
template <ring_layout Layout = layout::xen_abi> class tx_backend {
public:
    using ring_type = back_ring<tx_request, tx_response, Layout>;
    /// Requests the staging FIFO holds: enough for the longest chain (`max_extras` +
    /// `max_fatal_slots`), so a chain is always judged before the FIFO fills.
    static constexpr std::uint32_t stage_capacity = 128;
    static_assert(stage_capacity >= 1 + max_extras + max_fatal_slots);
    static_assert((stage_capacity & (stage_capacity - 1)) == 0, "the staging FIFO indexes with a mask");

    /// @throws std::invalid_argument if `!valid(limits)`.
    explicit tx_backend(ring_type& ring, const tx_limits& limits = {}) : ring_(&ring), limits_(limits)
    {
        if (!valid(limits))
            throw std::invalid_argument("xnv: tx_limits needs 1 <= max_slots <= " + std::to_string(nr_slots_min) +
                                        ", max_slots <= fatal_slots <= " + std::to_string(max_fatal_slots) +
                                        " and 1 <= min_first_slot <= " + std::to_string(page_size) +
                                        "; got max_slots " + std::to_string(limits.max_slots) + ", fatal_slots " +
                                        std::to_string(limits.fatal_slots) + ", min_first_slot " +
                                        std::to_string(limits.min_first_slot));
    }

    [[nodiscard]] const tx_limits& limits() const noexcept { return limits_; }
    [[nodiscard]] ring_type& ring() const noexcept { return *ring_; }

    /// Parse the next packet into `out` (see `tx_verdict` for what to do with each outcome).
    /// `out` is cleared for every verdict and filled as far as the parse got.
    [[nodiscard]] tx_parse_result parse(tx_packet& out) noexcept
    {
        out.clear();
        if (fatal_ != tx_error::none)
            return {tx_verdict::fatal, fatal_, 0};
        if (const auto f = fetch(0); f != fetched::yes)
            return f == fetched::no ? tx_parse_result{tx_verdict::empty, tx_error::none, 0} : ring_failure();

        const tx_request first = at(0);
        std::uint32_t pos = 1; // staged slots this packet has used so far
        out.ids[0] = first.id;
        out.nr_ids = 1;

        // Extra-info segments follow the first slot (xenvif_get_extras); a later one of the same
        // type replaces an earlier one, as in Linux.
        bool has_gso = false;
        extra_info gso_extra{};
        if ((first.flags & txf::extra_info) != 0) {
            bool more = true;
            while (more) {
                if (out.nr_extras == max_extras)
                    return fail(tx_error::too_many_extras);
                if (const auto f = fetch(pos); f != fetched::yes)
                    return f == fetched::no ? wait(tx_error::extra_incomplete, pos) : ring_failure();
                const extra_info e = detail::extra_from_slot(at(pos));
                ++pos;
                ++out.nr_extras;
                if (!extra_type_known(e.type))
                    return fail(tx_error::extra_type_unknown);
                switch (e.type) {
                case extra_type::gso:
                    has_gso = true;
                    gso_extra = e;
                    break;
                case extra_type::mcast_add:
                case extra_type::mcast_del:
                    // Linux looks at mcast_add first and answers the request after either one.
                    if (out.mcast_op != extra_type::mcast_add)
                        out.mcast_op = e.type;
                    if (out.mcast_op == e.type)
                        std::copy(std::begin(e.u.mcast.addr), std::end(e.u.mcast.addr), out.mcast_addr.begin());
                    break;
                default:
                    out.hash = e;
                    break;
                }
                more = (e.flags & extra_flag_more) != 0;
            }
        }

        if (out.mcast_op != extra_type::none) {
            // A control request carries no data: Linux answers it without looking at the first
            // slot's size or more-data flag, and so does this parser.
            release(pos);
            return {tx_verdict::control, tx_error::none, pos};
        }

        // The data chain (xenvif_count_requests). `remaining` is what the first slot keeps of
        // the packet's total once the later slots have claimed theirs.
        std::uint32_t remaining = first.size;
        tx_error drop = tx_error::none;
        bool more = (first.flags & txf::more_data) != 0;
        std::uint32_t n = 1; // data slots seen
        while (more) {
            // A further slot exists: judge the count before reading it, as Linux does.
            if (n >= limits_.fatal_slots)
                return fail(tx_error::slot_limit_exceeded);
            if (n >= limits_.max_slots && drop == tx_error::none)
                drop = tx_error::too_many_slots;
            if (const auto f = fetch(pos); f != fetched::yes)
                return f == fetched::no ? wait(tx_error::chain_incomplete, pos) : ring_failure();
            const tx_request t = at(pos);
            ++pos;
            out.ids[n] = t.id;
            if (drop == tx_error::none) {
                // Linux: "slot size > remaining size" (a frontend whose total overflowed 16 bits
                // shows up here); dropped, not fatal, because buggy frontends do it.
                if (t.size > remaining)
                    drop = tx_error::fragment_exceeds_total;
                else if (t.size == 0)
                    drop = tx_error::zero_length_fragment;
            }
            // Checked even on a packet already being dropped, as Linux does.
            if (std::uint32_t{t.offset} + t.size > page_size)
                return fail(tx_error::slot_crosses_page);
            if (drop == tx_error::none) {
                out.frags[n] = tx_fragment{t.gref, t.offset, t.size};
                remaining -= t.size;
            }
            ++n;
            more = (t.flags & txf::more_data) != 0;
        }
        out.nr_ids = n;

        if (drop == tx_error::none && remaining < limits_.min_first_slot)
            drop = tx_error::first_slot_too_short;
        if (drop != tx_error::none) {
            release(pos);
            return {tx_verdict::drop, drop, pos};
        }
        if (std::uint32_t{first.offset} + remaining > page_size)
            return fail(tx_error::slot_crosses_page);
        if (has_gso) {
            if (gso_extra.u.gso.size == 0)
                return fail(tx_error::gso_size_zero);
            if (!gso_type_known(gso_extra.u.gso.type))
                return fail(tx_error::gso_type_unknown);
            out.gso = gso_info{gso_extra.u.gso.type, gso_extra.u.gso.size};
        }
        out.frags[0] = tx_fragment{first.gref, first.offset, static_cast<std::uint16_t>(remaining)};
        out.nr_frags = n;
        out.total = first.size;
        out.flags = static_cast<std::uint16_t>(first.flags & (txf::csum_blank | txf::data_validated));
        release(pos);
        return {tx_verdict::ok, tx_error::none, pos};
    }

    /// Write the responses for a packet `parse` handed out, every data slot with `status` and
    /// every extra-info slot with `status::null`, in Linux's order (first slot, its extra-info
    /// slots, the later slots). Not published: call `push` once per batch.
    /// @return false, writing nothing, if the packet has no slots or more than are still owed
    ///         a response (a packet answered twice).
    [[nodiscard]] bool respond(const tx_packet& pkt, std::int16_t status) noexcept
    {
        return respond_impl(pkt, [status](std::uint32_t) { return status; });
    }

    /// As above with one status per data slot (`data_status.size() == pkt.nr_ids`), for a
    /// packet whose slots fared differently (a bad grant in one slot).
    [[nodiscard]] bool respond(const tx_packet& pkt, std::span<const std::int16_t> data_status) noexcept
    {
        if (data_status.size() != pkt.nr_ids)
            return false;
        return respond_impl(pkt, [data_status](std::uint32_t i) { return data_status[i]; });
    }

    /// Publish the responses written so far; true if the frontend must be notified.
    [[nodiscard]] bool push() noexcept { return ring_->push(); }

    /// Requests copied out of the ring and not yet handed out as a packet (a partial chain, or
    /// packets read ahead in the last batch).
    [[nodiscard]] std::uint32_t staged() const noexcept { return count_; }
    /// Slots handed out by `parse` and not yet answered by `respond`.
    [[nodiscard]] std::uint32_t owed() const noexcept { return owed_; }
    /// The sticky fatal reason, or `tx_error::none`.
    [[nodiscard]] tx_error error() const noexcept { return fatal_; }

private:
    enum class fetched : std::uint8_t { yes, no, ring_error };

    // Make staged request `k` (counted from the head of the FIFO) available, copying a batch out
    // of the ring if needed. The caller bounds `k` below `stage_capacity`.
    fetched fetch(std::uint32_t k) noexcept
    {
        while (k >= count_) {
            const std::uint32_t tail = (head_ + count_) & mask;
            const std::uint32_t room = std::min(stage_capacity - count_, stage_capacity - tail);
            const ring_count c = ring_->consume(std::span<tx_request>(stage_.data() + tail, room));
            if (!c.ok())
                return fetched::ring_error;
            if (c.count == 0)
                return fetched::no;
            count_ += c.count;
        }
        return fetched::yes;
    }

    [[nodiscard]] const tx_request& at(std::uint32_t k) const noexcept { return stage_[(head_ + k) & mask]; }

    void release(std::uint32_t n) noexcept
    {
        head_ = (head_ + n) & mask;
        count_ -= n;
        owed_ += n;
    }

    tx_parse_result fail(tx_error e) noexcept
    {
        fatal_ = e;
        return {tx_verdict::fatal, e, 0};
    }

    tx_parse_result ring_failure() noexcept
    {
        return fail(ring_->error() == ring_error::index_backwards ? tx_error::ring_index_backwards
                                                                  : tx_error::ring_index_overrun);
    }

    // The chain needs more than is published. If it already holds every slot of the ring, the
    // frontend can never publish the rest (each further request needs an answered slot).
    tx_parse_result wait(tx_error why, std::uint32_t used) noexcept
    {
        if (used >= ring_->size())
            return fail(tx_error::chain_exceeds_ring);
        return {tx_verdict::incomplete, why, 0};
    }

    template <class StatusOf> bool respond_impl(const tx_packet& pkt, StatusOf status_of) noexcept
    {
        const std::uint32_t n = pkt.slots();
        if (n == 0 || n > owed_ || pkt.nr_ids == 0 || pkt.nr_ids > max_fatal_slots || pkt.nr_extras > max_extras ||
            ring_->free_slots() < n)
            return false;
        std::array<tx_response, max_fatal_slots + max_extras> rsp{};
        std::uint32_t k = 0;
        rsp[k++] = tx_response{pkt.ids[0], status_of(0)};
        // Linux leaves the id of a NULL response unset; xnv writes 0 so no stale bytes leak.
        for (std::uint32_t e = 0; e < pkt.nr_extras; ++e)
            rsp[k++] = tx_response{0, status::null};
        for (std::uint32_t i = 1; i < pkt.nr_ids; ++i)
            rsp[k++] = tx_response{pkt.ids[i], status_of(i)};
        const std::uint32_t written = ring_->produce(std::span<const tx_response>(rsp.data(), k));
        owed_ -= written;
        return written == k;
    }

    static constexpr std::uint32_t mask = stage_capacity - 1;

    ring_type* ring_;
    tx_limits limits_;
    std::array<tx_request, stage_capacity> stage_{};
    std::uint32_t head_ = 0;
    std::uint32_t count_ = 0;
    std::uint32_t owed_ = 0;
    tx_error fatal_ = tx_error::none;
};

/// What `check_tx_packet` found wrong with a descriptor `parse` produced (for tests and fuzzers:
/// any value other than `none` is a bug in this header, never the peer's fault).
enum class tx_packet_defect : std::uint8_t {
    none = 0,
    slot_count,     ///< slots consumed differ from the descriptor's, or exceed a limit
    fragment_count, ///< ok packet whose fragment count differs from its data slots
    fragment_page,  ///< a fragment crosses its page, or a later fragment is empty
    total_mismatch, ///< fragments do not add up to the total, or the total is out of range
    first_short,    ///< ok packet whose first fragment is below `min_first_slot`
    gso_invalid,    ///< GSO present with size 0 or an unknown type
};

/// Check the invariants every descriptor of verdict `r` must satisfy under `limits`.
[[nodiscard]] constexpr tx_packet_defect check_tx_packet(const tx_packet& p, const tx_parse_result& r,
                                                         const tx_limits& limits) noexcept
{
    if (r.verdict != tx_verdict::ok && r.verdict != tx_verdict::control && r.verdict != tx_verdict::drop)
        return r.slots == 0 ? tx_packet_defect::none : tx_packet_defect::slot_count;
    if (r.slots != p.slots() || p.nr_ids == 0 || p.nr_ids > limits.fatal_slots || p.nr_extras > max_extras)
        return tx_packet_defect::slot_count;
    if (r.verdict != tx_verdict::ok)
        return tx_packet_defect::none;
    if (p.nr_frags != p.nr_ids || p.nr_frags > limits.max_slots)
        return tx_packet_defect::fragment_count;
    std::uint32_t sum = 0;
    for (std::uint32_t i = 0; i < p.nr_frags; ++i) {
        const tx_fragment& f = p.frags[i];
        if (std::uint32_t{f.offset} + f.size > page_size || (i > 0 && f.size == 0))
            return tx_packet_defect::fragment_page;
        sum += f.size;
    }
    if (sum != p.total || p.total == 0 || p.total > max_tx_size)
        return tx_packet_defect::total_mismatch;
    if (p.frags[0].size < limits.min_first_slot)
        return tx_packet_defect::first_short;
    if (p.gso.present() && (p.gso.size == 0 || !gso_type_known(p.gso.type)))
        return tx_packet_defect::gso_invalid;
    return tx_packet_defect::none;
}

/// What `run_tx_backend_on_image` saw.
struct tx_image_report {
    bool attached = false;               ///< false: the image was too small or misaligned, or limits invalid
    std::uint32_t packets = 0;           ///< `ok` verdicts
    std::uint32_t controls = 0;          ///< `control` verdicts
    std::uint32_t drops = 0;             ///< `drop` verdicts
    std::uint32_t responses = 0;         ///< responses written
    tx_verdict last = tx_verdict::empty; ///< the verdict that ended the run
    tx_error error = tx_error::none;     ///< and its reason
    std::uint32_t defects = 0;           ///< invariant violations found by `check_tx_packet` (must be 0)
};

/// Fuzzing entry point: treat `image` as a TX ring page written by an arbitrary frontend (the
/// header's `req_prod` and every slot are taken as they are), attach a backend whose private
/// indices are at `start`, and parse and answer packets until the ring is empty, incomplete or
/// the frontend is judged fatal. `image` must be aligned to `Layout::required_alignment` and hold
/// the header and at least one slot; otherwise nothing is read and `attached` is false.
/// Every descriptor is checked with `check_tx_packet`. The image's response slots, `rsp_prod`
/// and `req_event` are written as a backend would.
template <ring_layout Layout = layout::xen_abi>
[[nodiscard]] tx_image_report run_tx_backend_on_image(std::span<std::byte> image, std::uint32_t start = 0,
                                                      const tx_limits& limits = {}) noexcept
{
    tx_image_report rep;
    if (!valid(limits) || reinterpret_cast<std::uintptr_t>(image.data()) % Layout::required_alignment != 0 ||
        ring_entries_for<tx_request, tx_response, Layout>(image.size()) == 0)
        return rep;
    // Neither constructor can throw now: the memory and the limits were checked above.
    back_ring<tx_request, tx_response, Layout> ring(image, start);
    tx_backend<Layout> back(ring, limits);
    rep.attached = true;
    tx_packet pkt;
    // Each ok/control/drop consumes at least one slot and the ring can supply at most its size
    // plus the staged batch, so the loop ends; the bound is a second guarantee.
    for (std::uint32_t iter = 0; iter <= ring.size() + tx_backend<Layout>::stage_capacity; ++iter) {
        const tx_parse_result r = back.parse(pkt);
        if (check_tx_packet(pkt, r, limits) != tx_packet_defect::none)
            ++rep.defects;
        rep.last = r.verdict;
        rep.error = r.error;
        if (r.verdict == tx_verdict::ok || r.verdict == tx_verdict::control || r.verdict == tx_verdict::drop) {
            ++(r.verdict == tx_verdict::ok ? rep.packets : r.verdict == tx_verdict::control ? rep.controls : rep.drops);
            const std::int16_t st = r.verdict == tx_verdict::drop ? status::error : status::okay;
            if (back.respond(pkt, st))
                rep.responses += pkt.slots();
            else
                ++rep.defects;
            continue;
        }
        break;
    }
    (void)back.push();
    if (rep.last == tx_verdict::empty && back.owed() != 0)
        ++rep.defects;
    return rep;
}

// ==================================================================================== RX side

/// A packet the backend is about to deliver into the guest's RX buffers.
struct rx_packet_info {
    /// Bytes, 1 .. `max_rx_size`.
    std::uint32_t size = 0;
    /// `rxf::csum_blank` and/or `rxf::data_validated` (Linux sets both for CHECKSUM_PARTIAL,
    /// `data_validated` for CHECKSUM_UNNECESSARY); no other bit.
    std::uint16_t flags = 0;
    /// GSO type and MSS, when the frontend negotiated GSO and the packet is a GSO one: costs a
    /// buffer of its own for the extra-info slot.
    gso_info gso{};
};

/// Largest packet one RX chain can carry: `nr_slots_min` full pages.
inline constexpr std::uint32_t max_rx_size = nr_slots_min * page_size;

/// RX buffers (ring slots) a packet of `size` bytes needs: one per page-sized chunk (at least
/// one), plus one for the GSO extra-info slot.
[[nodiscard]] constexpr std::uint32_t rx_slots_needed(std::uint32_t size, const gso_info& gso) noexcept
{
    const std::uint32_t data = size == 0 ? 1 : (size + page_size - 1) / page_size;
    return data + (gso.present() ? 1u : 0u);
}

/// What `rx_backend` reports.
enum class rx_back_error : std::uint8_t {
    none = 0,
    need_buffers,         ///< fewer RX buffers posted than the packet needs; nothing taken
    empty_packet,         ///< `size == 0` (caller's mistake)
    packet_too_large,     ///< `size > max_rx_size` (caller's mistake)
    bad_flags,            ///< flags other than `rxf::csum_blank`/`rxf::data_validated` (caller's mistake)
    gso_size_zero,        ///< GSO requested with MSS 0 (caller's mistake)
    gso_type_unknown,     ///< GSO type neither TCPv4 nor TCPv6 (caller's mistake)
    out_of_order,         ///< `respond` for a plan that is not the oldest unanswered (caller's mistake)
    ring_index_backwards, ///< the frontend's `req_prod` moved backwards: disconnect
    ring_index_overrun,   ///< the frontend's `req_prod` beyond what the ring can hold: disconnect
};

[[nodiscard]] constexpr std::string_view to_string(rx_back_error e) noexcept
{
    switch (e) {
    case rx_back_error::none:
        return "none";
    case rx_back_error::need_buffers:
        return "not enough RX buffers posted";
    case rx_back_error::empty_packet:
        return "empty packet";
    case rx_back_error::packet_too_large:
        return "packet larger than one RX chain can carry";
    case rx_back_error::bad_flags:
        return "RX flags other than csum_blank/data_validated";
    case rx_back_error::gso_size_zero:
        return "GSO size 0";
    case rx_back_error::gso_type_unknown:
        return "unknown GSO type";
    case rx_back_error::out_of_order:
        return "RX plan answered out of reservation order";
    case rx_back_error::ring_index_backwards:
        return "req_prod moved backwards";
    case rx_back_error::ring_index_overrun:
        return "req_prod beyond what the ring can hold";
    }
    return "unknown rx error";
}

/// Where one data slot's bytes go: copy packet bytes [`packet_offset`, `packet_offset + size`)
/// to offset 0 of the page granted as `gref`.
struct rx_slot {
    std::uint16_t id = 0;
    grant_ref gref = 0;
    std::uint32_t packet_offset = 0;
    std::uint16_t size = 0;
    /// What the response will say: `size`, or `status::error` after `rx_plan::fail`.
    std::int16_t status = 0;
};

/// The buffers reserved for one packet, in response order, until `respond` writes the chain.
struct rx_plan {
    std::array<rx_slot, nr_slots_min> data{};
    std::uint32_t nr_data = 0;
    /// 1 when a GSO extra-info slot follows the first data slot.
    std::uint32_t nr_extras = 0;
    /// Ring index of the first buffer taken; the responses go to the same indices.
    std::uint32_t first_index = 0;
    std::uint32_t size = 0;
    std::uint16_t flags = 0;
    gso_info gso{};

    [[nodiscard]] constexpr std::uint32_t slots() const noexcept { return nr_data + nr_extras; }
    /// Report that copying into data slot `i` failed (a bad grant): its response carries
    /// `status::error`, and the frontend drops the packet (Linux's `xenvif_rx_copy_flush`).
    constexpr void fail(std::uint32_t i) noexcept
    {
        if (i < nr_data)
            data[i].status = status::error;
    }
};

/// The outcome of `rx_backend::reserve`/`deliver`: on `need_buffers`, `needed` buffers are
/// required and `available` are posted.
struct rx_reserve_result {
    rx_back_error error = rx_back_error::none;
    std::uint32_t needed = 0;
    std::uint32_t available = 0;
    [[nodiscard]] constexpr bool ok() const noexcept { return error == rx_back_error::none; }
};

/// The backend's view of one RX ring: takes the guest's buffers for a packet and writes the
/// response chain Linux's netback writes: data slots filled from offset 0, `more_data` on all
/// but the last, checksum flags and `extra_info` on the first, and the GSO extra-info segment
/// written into the response slot right after the first (the slot whose request buffer it
/// uses, unfilled), so responses stay at the indices of the requests they answer, which a
/// Linux netfront relies on.
///
/// Posted buffers are copied out of the ring exactly once into a private stash (at most
/// `stash_capacity`). When a packet needs more than are posted, `reserve` reports
/// `need_buffers` and takes none; as the stash then holds everything posted, the caller can
/// arm the event index for the shortfall with `ring().final_check(needed - available)` and
/// sleep, or expire the packet.
///
/// @pre Plans are answered in the order they were reserved; the ring's responses are written
///      only through this object.
/// Thread safety: one thread at a time. Progress: wait-free.
template <ring_layout Layout = layout::xen_abi> class rx_backend {
public:
    using ring_type = back_ring<rx_request, rx_response, Layout>;
    static constexpr std::uint32_t stash_capacity = 256;

    explicit rx_backend(ring_type& ring) noexcept : ring_(&ring) {}

    [[nodiscard]] ring_type& ring() const noexcept { return *ring_; }

    /// Check `info` (the caller's own packet) for the errors `rx_back_error` lists as the
    /// caller's mistakes.
    [[nodiscard]] static constexpr rx_back_error check(const rx_packet_info& info) noexcept
    {
        if (info.size == 0)
            return rx_back_error::empty_packet;
        if (info.size > max_rx_size)
            return rx_back_error::packet_too_large;
        if ((info.flags & ~(rxf::csum_blank | rxf::data_validated)) != 0)
            return rx_back_error::bad_flags;
        if (info.gso.present()) {
            if (!gso_type_known(info.gso.type))
                return rx_back_error::gso_type_unknown;
            if (info.gso.size == 0)
                return rx_back_error::gso_size_zero;
        }
        return rx_back_error::none;
    }

    /// Take the buffers for `info` into `plan` (slot targets in order, statuses preset to each
    /// slot's size), or report why not; on any error nothing is taken.
    [[nodiscard]] rx_reserve_result reserve(const rx_packet_info& info, rx_plan& plan) noexcept
    {
        plan = rx_plan{};
        if (const rx_back_error e = check(info); e != rx_back_error::none)
            return {e, 0, 0};
        const std::uint32_t needed = rx_slots_needed(info.size, info.gso);
        if (const rx_back_error e = top_up(); e != rx_back_error::none)
            return {e, needed, count_};
        if (count_ < needed)
            return {rx_back_error::need_buffers, needed, count_};

        plan.first_index = ring_->consumed() - count_;
        plan.size = info.size;
        plan.flags = info.flags;
        plan.gso = info.gso;
        plan.nr_extras = info.gso.present() ? 1 : 0;
        plan.nr_data = needed - plan.nr_extras;
        std::uint32_t k = 0; // stash position
        for (std::uint32_t i = 0; i < plan.nr_data; ++i) {
            if (i == 1)
                k += plan.nr_extras; // the extra-info slot uses the buffer after the first
            const rx_request& req = stash_[(head_ + k) & mask];
            ++k;
            const std::uint32_t off = i * page_size;
            const auto len = static_cast<std::uint16_t>(std::min(page_size, info.size - off));
            plan.data[i] = rx_slot{req.id, req.gref, off, len, static_cast<std::int16_t>(len)};
        }
        if (plan.nr_data == 1)
            k += plan.nr_extras;
        head_ = (head_ + k) & mask;
        count_ -= k;
        return {rx_back_error::none, needed, count_ + k};
    }

    /// Write the response chain for `plan` (not published: `push` once per batch).
    /// @return `out_of_order`, writing nothing, unless `plan` is the oldest unanswered one.
    [[nodiscard]] rx_back_error respond(const rx_plan& plan) noexcept
    {
        const std::uint32_t n = plan.slots();
        if (n == 0 || plan.nr_data > nr_slots_min || plan.nr_extras > 1 || plan.first_index != ring_->produced() ||
            ring_->free_slots() - count_ < n)
            return rx_back_error::out_of_order;
        std::array<rx_response, nr_slots_min + 1> rsp{};
        std::uint32_t k = 0;
        for (std::uint32_t i = 0; i < plan.nr_data; ++i) {
            std::uint16_t flags = i + 1 < plan.nr_data ? rxf::more_data : 0;
            if (i == 0)
                flags = static_cast<std::uint16_t>(flags | plan.flags | (plan.nr_extras != 0 ? rxf::extra_info : 0));
            rsp[k++] = rx_response{plan.data[i].id, 0, flags, plan.data[i].status};
            if (i == 0 && plan.nr_extras != 0)
                rsp[k++] = detail::slot_from_extra<rx_response>(detail::make_gso_extra(plan.gso));
        }
        const std::uint32_t written = ring_->produce(std::span<const rx_response>(rsp.data(), k));
        return written == k ? rx_back_error::none : rx_back_error::out_of_order;
    }

    /// Reserve, copy and respond in one step: `copy(const rx_slot&)` puts the slot's bytes into
    /// the guest's buffer and returns false if it could not (that slot then answers
    /// `status::error`). Not published: `push` once per batch.
    template <class Copy>
    requires std::is_invocable_r_v<bool, Copy&, const rx_slot&>
    [[nodiscard]] rx_reserve_result deliver(const rx_packet_info& info, Copy&& copy) noexcept
    {
        rx_plan plan;
        rx_reserve_result r = reserve(info, plan);
        if (!r.ok())
            return r;
        for (std::uint32_t i = 0; i < plan.nr_data; ++i)
            if (!copy(static_cast<const rx_slot&>(plan.data[i])))
                plan.fail(i);
        r.error = respond(plan);
        return r;
    }

    /// Publish the responses written so far; true if the frontend must be notified.
    [[nodiscard]] bool push() noexcept { return ring_->push(); }

    /// Buffers posted and not yet taken: the stash plus what the ring has pending (copied into
    /// the stash by this call). A frontend ring error reads as 0; see `error()`.
    [[nodiscard]] std::uint32_t available() noexcept
    {
        (void)top_up();
        return count_;
    }
    /// Buffers already copied into the stash.
    [[nodiscard]] std::uint32_t stashed() const noexcept { return count_; }
    /// The frontend's ring violation, if any (sticky, from the ring endpoint).
    [[nodiscard]] rx_back_error error() const noexcept { return map(ring_->error()); }

private:
    static constexpr std::uint32_t mask = stash_capacity - 1;
    static_assert((stash_capacity & mask) == 0);

    static constexpr rx_back_error map(ring_error e) noexcept
    {
        switch (e) {
        case ring_error::none:
            return rx_back_error::none;
        case ring_error::index_backwards:
            return rx_back_error::ring_index_backwards;
        default:
            return rx_back_error::ring_index_overrun;
        }
    }

    rx_back_error top_up() noexcept
    {
        while (count_ < stash_capacity) {
            const std::uint32_t tail = (head_ + count_) & mask;
            const std::uint32_t room = std::min(stash_capacity - count_, stash_capacity - tail);
            const ring_count c = ring_->consume(std::span<rx_request>(stash_.data() + tail, room));
            if (!c.ok())
                return map(c.error);
            if (c.count == 0)
                break;
            count_ += c.count;
        }
        return rx_back_error::none;
    }

    ring_type* ring_;
    std::array<rx_request, stash_capacity> stash_{};
    std::uint32_t head_ = 0;
    std::uint32_t count_ = 0;
};

} // namespace xnv::netif
