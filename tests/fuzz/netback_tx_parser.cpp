// SPDX-License-Identifier: MIT
// Fuzz target netback_tx_parser: netback's view of a hostile netfront (xnv/wire/netif_back.hpp).
//
// Input:
//   byte 0      bits 0-1: mode (below); bit 2: layout::padded (else xen_abi); bit 3 (mode 0): the
//               image's header words are offsets from `start`; bit 4: limits follow
//   bytes 1-4   start: the ring's initial indices (u32)
//   [4 bytes]   with bit 4: tx_limits {max_slots u8, fatal_slots u8, min_first_slot u16},
//               possibly invalid (then nothing may attach); else the defaults
//   mode 0      the rest is a TX ring page image as a frontend left it, given to the header's own
//               entry point run_tx_backend_on_image (its `defects` must be 0)
//   mode 1      a byte: the ring has 2^(1 + b % 8) slots; then a script of frontend writes and
//               tx_backend calls (enum tx_op), one byte per step plus operands
//   mode 2      as mode 1 for the RX ring and rx_backend (enum rx_op); mode 3 is mode 0
//
// Invariants beyond the entry point's own checks (any violation aborts):
//   TX: every descriptor passes check_tx_packet; its ids, fragments, total, flags and GSO are
//   those of the requests as they were when copied out of the ring, in order, even if the
//   frontend rewrote the slots since (XSA-155); verdict and reason agree; a fatal verdict is
//   sticky; every consumed request is staged, owed or answered; responses land in Linux's order
//   with the statuses given; a packet cannot be answered twice; `incomplete` and `empty` leave
//   nothing pending in the ring.
//   RX: reserve refuses exactly the caller mistakes the docs list, takes nothing on any error,
//   takes the posted buffers in order as copied (never re-read), cuts the packet at page
//   boundaries; respond writes the chain of xenvif_rx_skb at the buffers' indices and refuses
//   any plan but the oldest; a ring violation is sticky.

#include "fuzz_formats.hpp"
#include "fuzz_support.hpp"

#include <xnv/ring/ring.hpp>
#include <xnv/wire/netif_back.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <vector>

namespace {

using namespace xnv::netif;
using xnv::fuzz::input;
using xnv::fuzz::load_word;
using xnv::fuzz::store_word;
using namespace xnv::fuzz::netback_format;

// ==================================================================== mode 0: the entry point

template <class Layout>
void run_image(std::uint8_t config, std::uint32_t start, const tx_limits& limits, std::span<const std::uint8_t> img)
{
    xnv::fuzz::exact_buffer mem(img.size(), Layout::required_alignment);
    if (!img.empty())
        std::memcpy(mem.data(), img.data(), img.size());
    if ((config & 8) != 0 && img.size() >= Layout::header_bytes)
        for (std::size_t off :
             {Layout::req_prod_offset, Layout::req_event_offset, Layout::rsp_prod_offset, Layout::rsp_event_offset})
            store_word(mem.span(), off, start + load_word(mem.span(), off));
    const tx_image_report rep = run_tx_backend_on_image<Layout>(mem.span(), start, limits);
    const bool can_attach = valid(limits) && xnv::ring_entries_for<tx_request, tx_response, Layout>(img.size()) != 0;
    XNV_FUZZ_CHECK(rep.attached == can_attach);
    XNV_FUZZ_CHECK(rep.defects == 0);
    if (!rep.attached) {
        XNV_FUZZ_CHECK(rep.packets == 0 && rep.controls == 0 && rep.drops == 0 && rep.responses == 0);
        return;
    }
    // The run ends only when nothing more can be done now.
    XNV_FUZZ_CHECK(rep.last == tx_verdict::empty || rep.last == tx_verdict::incomplete ||
                   rep.last == tx_verdict::fatal);
    XNV_FUZZ_CHECK(rep.last == tx_verdict::empty ? rep.error == tx_error::none : verdict_of(rep.error) == rep.last);
    // Every answered slot was published as a response.
    XNV_FUZZ_CHECK(load_word(mem.span(), Layout::rsp_prod_offset) == start + rep.responses);
    XNV_FUZZ_CHECK(rep.packets + rep.controls + rep.drops <= rep.responses);
}

// ==================================================================== shared ring rig

// One ring of 2^k slots at `start`, with the frontend's side played by the fuzzer.
template <class Req, class Rsp, class Layout> struct rig {
    static constexpr std::size_t slot_bytes = sizeof(xnv::ring_slot<Req, Rsp>);

    rig(std::uint32_t slots, std::uint32_t start)
        : mem(xnv::ring_bytes_for<Req, Rsp, Layout>(slots), Layout::required_alignment),
          ring(xnv::ring_init, mem.span(), start), front_pvt(start)
    {}

    [[nodiscard]] std::byte* slot(std::uint32_t idx) const noexcept
    {
        return mem.data() + Layout::header_bytes + std::size_t{idx & (ring.size() - 1)} * slot_bytes;
    }
    template <class T> [[nodiscard]] T read(std::uint32_t idx) const noexcept
    {
        T v;
        std::memcpy(&v, slot(idx), sizeof v);
        return v;
    }
    void set_req_prod(std::uint32_t v) noexcept { store_word(mem.span(), Layout::req_prod_offset, v); }

    // What the slots hold now, for attributing what a call copies out of them.
    void snapshot() { shadow.assign(mem.data() + Layout::header_bytes, mem.data() + mem.size()); }
    template <class T> [[nodiscard]] T shadow_read(std::uint32_t idx) const noexcept
    {
        T v;
        std::memcpy(&v, shadow.data() + std::size_t{idx & (ring.size() - 1)} * slot_bytes, sizeof v);
        return v;
    }

    xnv::fuzz::exact_buffer mem;
    xnv::back_ring<Req, Rsp, Layout> ring;
    std::uint32_t front_pvt; // the frontend's private request producer index
    std::vector<std::byte> shadow;
};

// ==================================================================== mode 1: TX

template <class Layout> class tx_driver {
public:
    using rig_type = rig<tx_request, tx_response, Layout>;

    tx_driver(std::uint32_t slots, std::uint32_t start, const tx_limits& limits)
        : r_(slots, start), back_(r_.ring, limits), limits_(limits)
    {}

    void run(input& in)
    {
        while (!in.empty()) {
            const std::uint8_t b = in.u8();
            step(static_cast<tx_op>(b & 0x0F), static_cast<std::uint32_t>(b >> 4), in);
            check_accounting();
        }
        // Whatever is left ends: answer what is held, then every parse must say empty,
        // incomplete or fatal.
        while (!held_.empty())
            answer_held(0);
        parse_all(0);
        check_accounting();
    }

private:
    struct record {
        tx_request req;
    };
    struct held_packet {
        tx_packet pkt;
        tx_parse_result res;
    };

    void write_request(const tx_request& q)
    {
        std::memcpy(r_.slot(r_.front_pvt), &q, sizeof q);
        ++r_.front_pvt;
    }

    // A well-formed packet from a compact description: byte n (data slots 1 + n % 20), byte f
    // (bit 0: GSO extra with MSS 1448, bit 1: multicast-add extra, bit 2: csum_blank), u16 size
    // of each later slot (the first carries the total). Frames the fuzzer can then bend.
    void write_packet(input& in)
    {
        const std::uint32_t n = 1 + in.u8() % 20u;
        const std::uint8_t f = in.u8();
        const std::uint16_t later = in.u16() % 4097u;
        const std::uint16_t first_own = 64;
        const auto total = static_cast<std::uint16_t>(first_own + later * (n - 1));
        const std::uint16_t base_id = in.u16();
        std::uint16_t flags = (f & 4) != 0 ? txf::csum_blank : 0;
        if (n > 1)
            flags |= txf::more_data;
        if ((f & 3) != 0)
            flags |= txf::extra_info;
        write_request(tx_request{0x100, 0, flags, base_id, total});
        if ((f & 1) != 0)
            write_request(detail::slot_from_extra<tx_request>(detail::make_gso_extra(
                gso_info{gso_type::tcpv4, 1448}, (f & 2) != 0 ? extra_flag_more : std::uint8_t{0})));
        if ((f & 2) != 0) {
            extra_info e{};
            e.type = extra_type::mcast_add;
            e.u.mcast.addr[0] = 0x01;
            write_request(detail::slot_from_extra<tx_request>(e));
        }
        for (std::uint32_t i = 1; i < n; ++i)
            write_request(tx_request{0x100 + i, 0, static_cast<std::uint16_t>(i + 1 < n ? txf::more_data : 0),
                                     static_cast<std::uint16_t>(base_id + i), later});
    }

    void step(tx_op o, std::uint32_t arg, input& in)
    {
        switch (o) {
        case tx_write_raw:
            for (std::uint32_t i = 0; i <= arg; ++i) {
                tx_request q;
                in.fill(&q, sizeof q);
                write_request(q);
            }
            break;
        case tx_publish:
            r_.set_req_prod(r_.front_pvt);
            break;
        case tx_req_prod:
            r_.set_req_prod(r_.ring.consumed() + in.u32());
            break;
        case tx_rewrite:
            in.fill(r_.slot(r_.ring.consumed() - 1 - arg), sizeof(tx_request));
            break;
        case tx_parse_all:
            parse_all(arg);
            break;
        case tx_parse_one: {
            tx_packet pkt;
            const tx_parse_result res = parse(pkt);
            if (answerable(res))
                answer(pkt, res, arg);
            break;
        }
        case tx_parse_hold: {
            if (held_.size() == 4)
                break;
            held_packet h;
            h.res = parse(h.pkt);
            if (answerable(h.res))
                held_.push_back(h);
            break;
        }
        case tx_answer_held:
            if (!held_.empty())
                answer_held(arg % held_.size());
            break;
        case tx_answer_twice:
            if (last_answered_ && back_.owed() == 0) {
                const std::uint32_t before = r_.ring.produced();
                XNV_FUZZ_CHECK(!back_.respond(last_.pkt, status::okay));
                XNV_FUZZ_CHECK(r_.ring.produced() == before);
            }
            break;
        case tx_answer_badspan:
            if (!held_.empty()) {
                const tx_packet& p = held_.front().pkt;
                std::array<std::int16_t, max_fatal_slots + 1> st{};
                const std::uint32_t len = arg % 2 == 0 ? p.nr_ids + 1 : p.nr_ids - 1;
                const std::uint32_t before = r_.ring.produced();
                XNV_FUZZ_CHECK(!back_.respond(p, std::span<const std::int16_t>(st.data(), len)));
                XNV_FUZZ_CHECK(r_.ring.produced() == before);
            }
            break;
        case tx_final_check: {
            const xnv::ring_count c = r_.ring.final_check(arg);
            XNV_FUZZ_CHECK(c.count <= r_.ring.size());
            break;
        }
        case tx_write_packet:
            write_packet(in);
            break;
        }
    }

    [[nodiscard]] static bool answerable(const tx_parse_result& r) noexcept
    {
        return r.verdict == tx_verdict::ok || r.verdict == tx_verdict::control || r.verdict == tx_verdict::drop;
    }

    void parse_all(std::uint32_t arg)
    {
        // Every answerable verdict consumes a slot: a ring's worth plus the staging FIFO bounds
        // the loop; going past it means parse stopped making progress.
        for (std::uint32_t i = 0;; ++i) {
            XNV_FUZZ_CHECK(i <= r_.ring.size() + tx_backend<Layout>::stage_capacity + 1);
            tx_packet pkt;
            const tx_parse_result res = parse(pkt);
            if (!answerable(res))
                break;
            answer(pkt, res, arg);
        }
        (void)back_.push();
        XNV_FUZZ_CHECK(load_word(r_.mem.span(), Layout::rsp_prod_offset) == r_.ring.produced());
    }

    // One parse, checked against the requests as they were when the parser copied them.
    tx_parse_result parse(tx_packet& pkt)
    {
        r_.snapshot();
        const std::uint32_t c0 = r_.ring.consumed();
        const tx_parse_result res = back_.parse(pkt);
        for (std::uint32_t i = c0; i != r_.ring.consumed(); ++i)
            fetched_.push_back(record{r_.template shadow_read<tx_request>(i)});

        XNV_FUZZ_CHECK(check_tx_packet(pkt, res, limits_) == tx_packet_defect::none);
        switch (res.verdict) {
        case tx_verdict::ok:
        case tx_verdict::control:
        case tx_verdict::empty:
            XNV_FUZZ_CHECK(res.error == tx_error::none);
            break;
        default:
            XNV_FUZZ_CHECK(verdict_of(res.error) == res.verdict);
        }
        if (fatal_ != tx_error::none)
            XNV_FUZZ_CHECK(res.verdict == tx_verdict::fatal && res.error == fatal_ && res.slots == 0);
        if (res.verdict == tx_verdict::fatal) {
            fatal_ = res.error;
            XNV_FUZZ_CHECK(back_.error() == res.error);
        }
        if (res.verdict == tx_verdict::incomplete || res.verdict == tx_verdict::empty) {
            // The parser holds everything published; the ring has nothing left to read.
            const xnv::ring_count c = r_.ring.pending();
            XNV_FUZZ_CHECK(c.ok() && c.count == 0);
            XNV_FUZZ_CHECK((res.verdict == tx_verdict::empty) == (back_.staged() == 0));
        }
        if (answerable(res))
            check_against_copies(pkt, res);
        XNV_FUZZ_CHECK(fetched_.size() == back_.staged());
        XNV_FUZZ_CHECK(back_.staged() <= tx_backend<Layout>::stage_capacity);
        return res;
    }

    // XSA-155: the descriptor is made of the copies, in ring order, whatever the slots hold now.
    void check_against_copies(const tx_packet& pkt, const tx_parse_result& res)
    {
        XNV_FUZZ_CHECK(res.slots <= fetched_.size());
        std::vector<tx_request> recs;
        for (std::uint32_t i = 0; i < res.slots; ++i) {
            recs.push_back(fetched_.front().req);
            fetched_.pop_front();
        }
        const tx_request& first = recs[0];
        XNV_FUZZ_CHECK(pkt.ids[0] == first.id);
        XNV_FUZZ_CHECK(((first.flags & txf::extra_info) != 0) == (pkt.nr_extras != 0));
        bool saw_gso = false, saw_mcast = false;
        extra_info gso{};
        for (std::uint32_t e = 0; e < pkt.nr_extras; ++e) {
            const extra_info x = detail::extra_from_slot(recs[1 + e]);
            XNV_FUZZ_CHECK(extra_type_known(x.type));
            XNV_FUZZ_CHECK(((x.flags & extra_flag_more) != 0) == (e + 1 < pkt.nr_extras));
            if (x.type == extra_type::gso) {
                saw_gso = true;
                gso = x;
            }
            saw_mcast = saw_mcast || x.type == extra_type::mcast_add || x.type == extra_type::mcast_del;
        }
        XNV_FUZZ_CHECK((res.verdict == tx_verdict::control) == saw_mcast);
        for (std::uint32_t i = 1; i < pkt.nr_ids; ++i) {
            const tx_request& t = recs[pkt.nr_extras + i];
            XNV_FUZZ_CHECK(pkt.ids[i] == t.id);
            // Each data slot but the last continues the chain, the last ends it.
            XNV_FUZZ_CHECK(((recs[i == 1 ? 0 : pkt.nr_extras + i - 1].flags & txf::more_data) != 0));
            XNV_FUZZ_CHECK(i + 1 < pkt.nr_ids || (t.flags & txf::more_data) == 0);
        }
        if (pkt.nr_ids == 1 && res.verdict != tx_verdict::control)
            XNV_FUZZ_CHECK((first.flags & txf::more_data) == 0);
        if (res.verdict != tx_verdict::ok)
            return;
        XNV_FUZZ_CHECK(pkt.total == first.size);
        XNV_FUZZ_CHECK(pkt.flags == (first.flags & (txf::csum_blank | txf::data_validated)));
        XNV_FUZZ_CHECK(pkt.frags[0].gref == first.gref && pkt.frags[0].offset == first.offset);
        for (std::uint32_t i = 1; i < pkt.nr_frags; ++i) {
            const tx_request& t = recs[pkt.nr_extras + i];
            XNV_FUZZ_CHECK(pkt.frags[i] == (tx_fragment{t.gref, t.offset, t.size}));
        }
        XNV_FUZZ_CHECK(pkt.gso.present() == saw_gso);
        if (saw_gso)
            XNV_FUZZ_CHECK(pkt.gso.type == gso.u.gso.type && pkt.gso.size == gso.u.gso.size);
    }

    void answer(const tx_packet& pkt, const tx_parse_result& res, std::uint32_t arg)
    {
        const std::uint32_t p0 = r_.ring.produced();
        std::array<std::int16_t, max_fatal_slots> st{};
        bool ok = false;
        if ((arg & 1) != 0 && pkt.nr_ids <= st.size()) {
            // Per-slot statuses: one bad grant in the middle, say.
            for (std::uint32_t i = 0; i < pkt.nr_ids; ++i)
                st[i] = (i + arg) % 3 == 0 ? status::error : status::okay;
            ok = back_.respond(pkt, std::span<const std::int16_t>(st.data(), pkt.nr_ids));
        } else {
            const std::int16_t s = res.verdict == tx_verdict::drop ? status::error : status::okay;
            st.fill(s);
            ok = back_.respond(pkt, s);
        }
        XNV_FUZZ_CHECK(ok);
        XNV_FUZZ_CHECK(r_.ring.produced() - p0 == pkt.slots());
        // Linux's order: the first slot, its extra-info slots (NULL), then the later slots.
        std::uint32_t k = p0;
        const auto expect = [&](std::uint16_t id, std::int16_t s) {
            const auto rsp = r_.template read<tx_response>(k++);
            XNV_FUZZ_CHECK(rsp.id == id && rsp.status == s);
        };
        expect(pkt.ids[0], st[0]);
        for (std::uint32_t e = 0; e < pkt.nr_extras; ++e)
            expect(0, status::null);
        for (std::uint32_t i = 1; i < pkt.nr_ids; ++i)
            expect(pkt.ids[i], st[i]);
        last_ = held_packet{pkt, res};
        last_answered_ = true;
    }

    void answer_held(std::size_t i)
    {
        const held_packet h = held_[i];
        held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
        answer(h.pkt, h.res, 0);
        (void)back_.push();
    }

    // Every request consumed from the ring is staged, owed a response, or answered.
    void check_accounting()
    {
        std::uint32_t held_slots = 0;
        for (const held_packet& h : held_)
            held_slots += h.pkt.slots();
        XNV_FUZZ_CHECK(back_.owed() == held_slots);
        XNV_FUZZ_CHECK(r_.ring.consumed() - r_.ring.produced() == back_.staged() + back_.owed());
        XNV_FUZZ_CHECK(back_.error() == fatal_);
    }

    rig_type r_;
    tx_backend<Layout> back_;
    tx_limits limits_;
    std::deque<record> fetched_; // copies the parser holds, in ring order
    std::vector<held_packet> held_;
    held_packet last_{};
    bool last_answered_ = false;
    tx_error fatal_ = tx_error::none;
};

// ==================================================================== mode 2: RX

template <class Layout> class rx_driver {
public:
    using rig_type = rig<rx_request, rx_response, Layout>;

    rx_driver(std::uint32_t slots, std::uint32_t start) : r_(slots, start), back_(r_.ring) {}

    void run(input& in)
    {
        while (!in.empty()) {
            const std::uint8_t b = in.u8();
            step(static_cast<rx_op>(b & 0x0F), static_cast<std::uint32_t>(b >> 4), in);
            check_accounting();
        }
        while (!plans_.empty())
            respond_oldest(0);
        check_accounting();
    }

private:
    struct record {
        std::uint32_t index; // ring index the request was posted at
        rx_request req;
    };

    void post(const rx_request& q)
    {
        std::memcpy(r_.slot(r_.front_pvt), &q, sizeof q);
        ++r_.front_pvt;
    }

    [[nodiscard]] static rx_packet_info read_info(input& in) noexcept
    {
        rx_packet_info info;
        const std::uint32_t raw = in.u32();
        // Mostly sizes that fit a chain, sometimes anything.
        info.size = (raw & 0x80000000u) != 0 ? raw & 0x7FFFFFFFu : raw % (max_rx_size + 2);
        info.flags = in.u8();
        if ((info.flags & 0x80) == 0)
            info.flags &= rxf::csum_blank | rxf::data_validated;
        info.gso.type = in.u8();
        info.gso.size = in.u16();
        return info;
    }

    // The caller mistakes, as docs/netif.md lists them, in its order.
    [[nodiscard]] static rx_back_error expected_check(const rx_packet_info& i) noexcept
    {
        if (i.size == 0)
            return rx_back_error::empty_packet;
        if (i.size > nr_slots_min * page_size)
            return rx_back_error::packet_too_large;
        if ((i.flags & ~(rxf::csum_blank | rxf::data_validated)) != 0)
            return rx_back_error::bad_flags;
        if (i.gso.type != gso_type::none && i.gso.type != gso_type::tcpv4 && i.gso.type != gso_type::tcpv6)
            return rx_back_error::gso_type_unknown;
        if (i.gso.type != gso_type::none && i.gso.size == 0)
            return rx_back_error::gso_size_zero;
        return rx_back_error::none;
    }

    void step(rx_op o, std::uint32_t arg, input& in)
    {
        switch (o) {
        case rx_post_raw:
            for (std::uint32_t i = 0; i <= arg; ++i) {
                rx_request q;
                in.fill(&q, sizeof q);
                post(q);
            }
            break;
        case rx_post_good:
            for (std::uint32_t i = 0; i <= arg; ++i)
                post(rx_request{static_cast<std::uint16_t>(r_.front_pvt & (r_.ring.size() - 1)), 0,
                                0x4000 + r_.front_pvt});
            break;
        case rx_publish:
            r_.set_req_prod(r_.front_pvt);
            break;
        case rx_req_prod:
            r_.set_req_prod(r_.ring.consumed() + in.u32());
            break;
        case rx_rewrite:
            in.fill(r_.slot(r_.ring.consumed() - 1 - arg), sizeof(rx_request));
            break;
        case rx_reserve: {
            const rx_packet_info info = read_info(in);
            if (plans_.size() == 4)
                break;
            rx_plan plan;
            if (reserve(info, plan))
                plans_.push_back(plan);
            break;
        }
        case rx_respond:
            if (!plans_.empty())
                respond_oldest(arg);
            break;
        case rx_respond_wrong:
            if (plans_.size() >= 2) {
                const std::uint32_t p0 = r_.ring.produced();
                XNV_FUZZ_CHECK(back_.respond(plans_[1 + arg % (plans_.size() - 1)]) == rx_back_error::out_of_order);
                XNV_FUZZ_CHECK(r_.ring.produced() == p0);
            }
            break;
        case rx_deliver: {
            const rx_packet_info info = read_info(in);
            if (!plans_.empty())
                break; // deliver answers at once: only in order when nothing is held
            r_.snapshot();
            const std::uint32_t c0 = r_.ring.consumed();
            const std::uint32_t p0 = r_.ring.produced();
            const std::size_t before = fetched_.size();
            std::uint32_t calls = 0;
            std::array<rx_slot, nr_slots_min> seen{};
            const rx_reserve_result res = back_.deliver(info, [&](const rx_slot& s) {
                XNV_FUZZ_CHECK(calls < nr_slots_min);
                seen[calls] = s;
                return ((arg >> (calls++ % 4)) & 1) == 0;
            });
            note_fetched(c0);
            check_reserve_result(info, res, before);
            if (res.ok()) {
                // Rebuild the plan the copies imply and check what was written against it.
                rx_plan plan = expected_plan(info);
                for (std::uint32_t i = 0; i < plan.nr_data; ++i) {
                    XNV_FUZZ_CHECK(seen[i].id == plan.data[i].id && seen[i].gref == plan.data[i].gref &&
                                   seen[i].packet_offset == plan.data[i].packet_offset &&
                                   seen[i].size == plan.data[i].size);
                    if (((arg >> (i % 4)) & 1) != 0)
                        plan.fail(i);
                }
                XNV_FUZZ_CHECK(calls == plan.nr_data);
                pop_fetched(plan.slots());
                check_responses(plan, p0);
                (void)back_.push();
            } else {
                XNV_FUZZ_CHECK(calls == 0 && r_.ring.produced() == p0);
            }
            break;
        }
        case rx_available: {
            r_.snapshot();
            const std::uint32_t c0 = r_.ring.consumed();
            const std::uint32_t n = back_.available();
            note_fetched(c0);
            XNV_FUZZ_CHECK(n == back_.stashed() && n == fetched_.size());
            XNV_FUZZ_CHECK(n <= rx_backend<Layout>::stash_capacity);
            if (arg != 0 && n < arg) {
                const xnv::ring_count c = r_.ring.final_check(arg - n);
                XNV_FUZZ_CHECK(c.count <= r_.ring.size());
            }
            // Both calls read req_prod: a violation they find is the ring's sticky verdict.
            if (ring_error_ == rx_back_error::none)
                ring_error_ = back_.error();
            XNV_FUZZ_CHECK(ring_error_ == rx_back_error::none || ring_error_ == rx_back_error::ring_index_backwards ||
                           ring_error_ == rx_back_error::ring_index_overrun);
            break;
        }
        }
    }

    void note_fetched(std::uint32_t c0)
    {
        for (std::uint32_t i = c0; i != r_.ring.consumed(); ++i)
            fetched_.push_back(record{i, r_.template shadow_read<rx_request>(i)});
    }
    void pop_fetched(std::uint32_t n)
    {
        XNV_FUZZ_CHECK(n <= fetched_.size());
        fetched_.erase(fetched_.begin(), fetched_.begin() + n);
    }

    // The plan the docs promise for `info` over the stashed copies.
    [[nodiscard]] rx_plan expected_plan(const rx_packet_info& info) const
    {
        rx_plan p;
        p.nr_extras = info.gso.present() ? 1 : 0;
        p.nr_data = (info.size + page_size - 1) / page_size;
        p.first_index = fetched_.front().index;
        p.size = info.size;
        p.flags = info.flags;
        p.gso = info.gso;
        for (std::uint32_t i = 0; i < p.nr_data; ++i) {
            const record& rec = fetched_[i == 0 ? 0 : i + p.nr_extras];
            const std::uint32_t off = i * page_size;
            const auto len = static_cast<std::uint16_t>(std::min(page_size, info.size - off));
            p.data[i] = rx_slot{rec.req.id, rec.req.gref, off, len, static_cast<std::int16_t>(len)};
        }
        return p;
    }

    void check_reserve_result(const rx_packet_info& info, const rx_reserve_result& res, std::size_t stash_before)
    {
        const rx_back_error mistake = expected_check(info);
        XNV_FUZZ_CHECK(rx_backend<Layout>::check(info) == mistake);
        if (mistake != rx_back_error::none) {
            XNV_FUZZ_CHECK(res.error == mistake);
            XNV_FUZZ_CHECK(fetched_.size() == stash_before);
            return;
        }
        if (ring_error_ != rx_back_error::none)
            XNV_FUZZ_CHECK(res.error == ring_error_);
        if (res.error == rx_back_error::ring_index_backwards || res.error == rx_back_error::ring_index_overrun) {
            ring_error_ = res.error;
            XNV_FUZZ_CHECK(back_.error() == res.error);
            return;
        }
        XNV_FUZZ_CHECK(res.needed == rx_slots_needed(info.size, info.gso));
        XNV_FUZZ_CHECK(res.available == fetched_.size());
        if (res.error == rx_back_error::need_buffers) {
            XNV_FUZZ_CHECK(res.needed > res.available);
            XNV_FUZZ_CHECK(back_.stashed() == fetched_.size());
            return;
        }
        XNV_FUZZ_CHECK(res.error == rx_back_error::none);
        XNV_FUZZ_CHECK(res.needed <= res.available);
    }

    bool reserve(const rx_packet_info& info, rx_plan& plan)
    {
        r_.snapshot();
        const std::uint32_t c0 = r_.ring.consumed();
        const std::size_t before = fetched_.size();
        const rx_reserve_result res = back_.reserve(info, plan);
        note_fetched(c0);
        check_reserve_result(info, res, before);
        if (!res.ok()) {
            XNV_FUZZ_CHECK(plan.slots() == 0);
            return false;
        }
        const rx_plan want = expected_plan(info);
        XNV_FUZZ_CHECK(plan.nr_data == want.nr_data && plan.nr_extras == want.nr_extras);
        XNV_FUZZ_CHECK(plan.first_index == want.first_index && plan.size == info.size && plan.flags == info.flags &&
                       plan.gso == info.gso);
        std::uint32_t sum = 0;
        for (std::uint32_t i = 0; i < plan.nr_data; ++i) {
            const rx_slot& s = plan.data[i];
            const rx_slot& w = want.data[i];
            XNV_FUZZ_CHECK(s.id == w.id && s.gref == w.gref && s.packet_offset == w.packet_offset && s.size == w.size &&
                           s.status == w.status);
            XNV_FUZZ_CHECK(s.size >= 1 && s.size <= page_size);
            sum += s.size;
        }
        XNV_FUZZ_CHECK(sum == info.size);
        pop_fetched(plan.slots());
        XNV_FUZZ_CHECK(back_.stashed() == fetched_.size());
        return true;
    }

    void respond_oldest(std::uint32_t fail_bits)
    {
        rx_plan plan = plans_.front();
        plans_.erase(plans_.begin());
        for (std::uint32_t i = 0; i < plan.nr_data; ++i)
            if (((fail_bits >> (i % 4)) & 1) != 0)
                plan.fail(i);
        const std::uint32_t p0 = r_.ring.produced();
        XNV_FUZZ_CHECK(back_.respond(plan) == rx_back_error::none);
        check_responses(plan, p0);
        (void)back_.push();
        XNV_FUZZ_CHECK(load_word(r_.mem.span(), Layout::rsp_prod_offset) == r_.ring.produced());
    }

    // xenvif_rx_skb's chain at the buffers' own indices.
    void check_responses(const rx_plan& plan, std::uint32_t p0)
    {
        XNV_FUZZ_CHECK(p0 == plan.first_index);
        XNV_FUZZ_CHECK(r_.ring.produced() - p0 == plan.slots());
        std::uint32_t k = p0;
        for (std::uint32_t i = 0; i < plan.nr_data; ++i) {
            const auto rsp = r_.template read<rx_response>(k++);
            std::uint16_t flags = i + 1 < plan.nr_data ? rxf::more_data : 0;
            if (i == 0)
                flags = static_cast<std::uint16_t>(flags | plan.flags | (plan.nr_extras != 0 ? rxf::extra_info : 0));
            XNV_FUZZ_CHECK(rsp.id == plan.data[i].id && rsp.offset == 0 && rsp.flags == flags &&
                           rsp.status == plan.data[i].status);
            if (i == 0 && plan.nr_extras != 0) {
                const extra_info e = detail::extra_from_slot(r_.template read<rx_response>(k++));
                XNV_FUZZ_CHECK(e.type == extra_type::gso && e.flags == 0 && e.u.gso.type == plan.gso.type &&
                               e.u.gso.size == plan.gso.size);
            }
        }
    }

    // Every request consumed is stashed, reserved in a held plan, or answered.
    void check_accounting()
    {
        std::uint32_t held = 0;
        for (const rx_plan& p : plans_)
            held += p.slots();
        XNV_FUZZ_CHECK(back_.stashed() == fetched_.size());
        XNV_FUZZ_CHECK(r_.ring.consumed() - r_.ring.produced() == back_.stashed() + held);
        XNV_FUZZ_CHECK(back_.error() == ring_error_);
    }

    rig_type r_;
    rx_backend<Layout> back_;
    std::deque<record> fetched_; // the stash as the docs describe it: copies, in ring order
    std::vector<rx_plan> plans_;
    rx_back_error ring_error_ = rx_back_error::none;
};

template <class Layout> void run_mode(std::uint8_t config, std::uint32_t start, const tx_limits& limits, input& in)
{
    const unsigned mode = config & 3u;
    if (mode == 0 || mode == 3) {
        run_image<Layout>(config, start, limits, in.rest());
        return;
    }
    const std::uint32_t slots = 1u << (1 + in.u8() % 8);
    if (mode == 1) {
        if (!valid(limits))
            return; // the constructor's refusal is the unit tests' business
        tx_driver<Layout> d(slots, start, limits);
        d.run(in);
    } else {
        rx_driver<Layout> d(slots, start);
        d.run(in);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    input in(data, size);
    const std::uint8_t config = in.u8();
    const std::uint32_t start = in.u32();
    tx_limits limits;
    if ((config & 0x10) != 0) {
        limits.max_slots = in.u8();
        limits.fatal_slots = in.u8();
        limits.min_first_slot = in.u16();
    }
    if ((config & 4) != 0)
        run_mode<xnv::layout::padded>(config, start, limits, in);
    else
        run_mode<xnv::layout::xen_abi>(config, start, limits, in);
    return 0;
}
