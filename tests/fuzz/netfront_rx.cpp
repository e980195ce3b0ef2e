// SPDX-License-Identifier: MIT
// Fuzz target netfront_rx: netfront's view of a hostile netback (xnv/wire/netif_front.hpp), the
// RX response handling first and the TX response handling with it.
//
// Input:
//   byte 0      bits 0-1: mode (below); bit 2: layout::padded (else xen_abi)
//   bytes 1-4   start: the rings' initial indices (u32)
//   mode 0      run_rx_frontend_on_responses: u16 buffers posted, u32 rsp_count, u8 max_slots,
//               then the responses (8 bytes each)
//   mode 1      run_tx_frontend_on_responses: u32 rsp_count, u8 n, n packet bytes, then the
//               responses (4 bytes each)
//   mode 2      a byte: the RX ring has 2^(1 + b % 8) slots; a byte: max_slots; then a script
//               of backend writes and rx_frontend calls (netfront_format::rx_op)
//   mode 3      the same for TX: ring size byte, a byte of config bits (max_slots 1 + b % 18
//               from bits 0-4, feature-gso-tcpv4 bit 5, -tcpv6 bit 6), script (tx_op)
//
// Invariants (any violation aborts): the entry points report no defect; every posted RX buffer
// and every submitted TX buffer comes back exactly once (delivered, recycled, completed or
// drained), with its own grant; the buffers the frontend holds are exactly those posted and not
// yet returned; delivered packets lie within their pages and add up; each TX id completes the
// buffer it was given to, a packet completes once, after its last slot, with its worst status;
// submissions are refused only for the reasons that apply; a well-behaved backend's traffic is
// delivered intact, without a drop or a violation; a fatal verdict is sticky.

#include "fuzz_formats.hpp"
#include "fuzz_support.hpp"

#include <xnv/ring/ring.hpp>
#include <xnv/wire/netif_front.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <vector>

namespace {

using namespace xnv::netif;
using namespace xnv::fuzz::netfront_format;
using xnv::fuzz::input;
using xnv::fuzz::load_word;
using xnv::fuzz::store_word;

// ==================================================================== modes 0 and 1

template <class Layout> void run_rx_entry(std::uint32_t start, input& in)
{
    const std::uint32_t posted = in.u16();
    const std::uint32_t rsp_count = in.u32();
    rx_front_config config;
    config.max_slots = in.u8();
    const auto raw = in.rest();
    std::vector<rx_response> rsp(raw.size() / sizeof(rx_response));
    if (!rsp.empty())
        std::memcpy(rsp.data(), raw.data(), rsp.size() * sizeof(rx_response));
    const rx_front_image_report rep = run_rx_frontend_on_responses<Layout>(start, posted, rsp_count, rsp, config);
    XNV_FUZZ_CHECK(rep.attached == (config.max_slots >= 1 && config.max_slots <= nr_slots_min));
    XNV_FUZZ_CHECK(rep.defects == 0);
    if (!rep.attached)
        return;
    XNV_FUZZ_CHECK(rep.posted == std::min(posted, xnv::ring_entries_for<rx_request, rx_response, Layout>(page_size)));
    XNV_FUZZ_CHECK(rep.delivered_buffers + rep.recycled_buffers == rep.posted);
    XNV_FUZZ_CHECK(rep.violations <= rep.drops);
    // More responses than buffers is the ring's verdict; anything else is judged per packet.
    if (rsp_count > rep.posted)
        XNV_FUZZ_CHECK(rep.fatal == rx_front_error::ring_index_overrun ||
                       rep.fatal == rx_front_error::ring_index_backwards);
    else
        XNV_FUZZ_CHECK(rep.fatal == rx_front_error::none);
}

template <class Layout> void run_tx_entry(std::uint32_t start, input& in)
{
    const std::uint32_t rsp_count = in.u32();
    const auto packets = in.bytes(in.u8());
    const auto raw = in.rest();
    std::vector<tx_response> rsp(raw.size() / sizeof(tx_response));
    if (!rsp.empty())
        std::memcpy(rsp.data(), raw.data(), rsp.size() * sizeof(tx_response));
    const tx_front_image_report rep = run_tx_frontend_on_responses<Layout>(start, packets, rsp_count, rsp);
    XNV_FUZZ_CHECK(rep.defects == 0);
    XNV_FUZZ_CHECK(rep.packets <= packets.size());
    XNV_FUZZ_CHECK(rep.completed <= rep.slots && rep.packets_done <= rep.packets);
    const bool ring_error =
        rep.error == tx_front_error::ring_index_overrun || rep.error == tx_front_error::ring_index_backwards;
    XNV_FUZZ_CHECK(ring_error == (rsp_count > rep.slots));
}

// ==================================================================== shared

// A front ring of 2^k slots at `start`, with the backend's side played by the fuzzer.
template <class Req, class Rsp, class Layout> struct rig {
    static constexpr std::size_t slot_bytes = sizeof(xnv::ring_slot<Req, Rsp>);

    rig(std::uint32_t slots, std::uint32_t start)
        : mem(xnv::ring_bytes_for<Req, Rsp, Layout>(slots), Layout::required_alignment),
          ring(xnv::ring_init, mem.span(), start), back_pvt(start)
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
    template <class T> void write(const T& v) noexcept
    {
        std::memcpy(slot(back_pvt), &v, sizeof v);
        ++back_pvt;
    }
    void set_rsp_prod(std::uint32_t v) noexcept { store_word(mem.span(), Layout::rsp_prod_offset, v); }
    [[nodiscard]] std::uint32_t rsp_prod() const noexcept { return load_word(mem.span(), Layout::rsp_prod_offset); }

    xnv::fuzz::exact_buffer mem;
    xnv::front_ring<Req, Rsp, Layout> ring;
    std::uint32_t back_pvt; // the backend's private response producer index
};

// Each buffer handed to the frontend has a cookie of its own; its state is tracked here.
class buffers {
public:
    enum class state : std::uint8_t { out, back };

    [[nodiscard]] std::uint32_t give(bool reuse)
    {
        std::uint32_t c;
        if (reuse && !returned_.empty()) {
            c = returned_.back();
            returned_.pop_back();
        } else {
            c = static_cast<std::uint32_t>(states_.size());
            states_.push_back(state::back);
        }
        XNV_FUZZ_CHECK(states_[c] == state::back);
        states_[c] = state::out;
        ++out_;
        return c;
    }
    // A buffer was given back; it must be one that is out, with its own grant.
    void take(std::uint32_t cookie, grant_ref gref)
    {
        XNV_FUZZ_CHECK(cookie < states_.size());
        XNV_FUZZ_CHECK(states_[cookie] == state::out);
        XNV_FUZZ_CHECK(gref == gref_of(cookie));
        states_[cookie] = state::back;
        returned_.push_back(cookie);
        --out_;
    }
    [[nodiscard]] static grant_ref gref_of(std::uint32_t cookie) noexcept { return cookie * 3 + 7; }
    [[nodiscard]] std::uint32_t out() const noexcept { return out_; }

private:
    std::vector<state> states_;
    std::vector<std::uint32_t> returned_;
    std::uint32_t out_ = 0;
};

// ==================================================================== mode 2: RX

template <class Layout> class rx_driver {
public:
    using rig_type = rig<rx_request, rx_response, Layout>;

    rx_driver(std::uint32_t slots, std::uint32_t start, const rx_front_config& config)
        : r_(slots, start), front_(r_.ring, config), config_(config)
    {}

    void run(input& in)
    {
        while (!in.empty()) {
            const std::uint8_t b = in.u8();
            step(static_cast<rx_op>(b & 0x0F), static_cast<std::uint32_t>(b >> 4), in);
            check_state();
        }
        front_.drain([&](const rx_buffer& b) { recycled(b); });
        XNV_FUZZ_CHECK(bufs_.out() == 0 && front_.posted() == 0 && front_.assembling() == 0);
        XNV_FUZZ_CHECK(front_.stats().recycled == recycled_);
        XNV_FUZZ_CHECK(front_.stats().packets == delivered_);
    }

private:
    struct expected_packet {
        std::uint32_t size;
        gso_info gso;
        std::uint16_t flags;
    };

    void recycled(const rx_buffer& b)
    {
        bufs_.take(b.cookie, b.gref);
        ++recycled_;
    }

    void delivered(const rx_packet& p)
    {
        ++delivered_;
        ++in_poll_;
        XNV_FUZZ_CHECK(p.nr_frags >= 1 && p.nr_frags <= config_.max_slots);
        std::uint32_t sum = 0;
        for (std::uint32_t i = 0; i < p.nr_frags; ++i) {
            const rx_fragment& f = p.frags[i];
            XNV_FUZZ_CHECK(std::uint32_t{f.offset} + f.size <= page_size);
            sum += f.size;
            bufs_.take(f.cookie, f.gref);
        }
        XNV_FUZZ_CHECK(sum == p.total && p.total != 0);
        XNV_FUZZ_CHECK((p.flags & ~(rxf::csum_blank | rxf::data_validated)) == 0);
        if (p.gso.present())
            XNV_FUZZ_CHECK(p.gso.size != 0 && gso_type_known(p.gso.type));
        if (clean_) {
            XNV_FUZZ_CHECK(!expected_.empty());
            const expected_packet e = expected_.front();
            expected_.pop_front();
            XNV_FUZZ_CHECK(p.total == e.size && p.gso == e.gso && p.flags == e.flags);
            XNV_FUZZ_CHECK(p.nr_frags == (e.size + page_size - 1) / page_size);
        }
    }

    // A packet as Linux's netback writes it (xenvif_rx_skb): page-sized data slots at offset 0,
    // id = ring index, the GSO extra-info slot after the first. Bits: 0 GSO TCPv4, 1 GSO TCPv6,
    // 2 csum_blank, 3 data_validated.
    void write_packet(input& in)
    {
        const std::uint32_t size = 1 + in.u32() % (config_.max_slots * page_size);
        const std::uint8_t bits = in.u8();
        gso_info gso{};
        if ((bits & 3) != 0)
            gso = gso_info{(bits & 1) != 0 ? gso_type::tcpv4 : gso_type::tcpv6, 1448};
        const auto flags = static_cast<std::uint16_t>(((bits & 4) != 0 ? rxf::csum_blank : 0) |
                                                      ((bits & 8) != 0 ? rxf::data_validated : 0));
        const std::uint32_t data = (size + page_size - 1) / page_size;
        const std::uint32_t slots = data + (gso.present() ? 1 : 0);
        // Only into buffers the frontend has published.
        if (r_.ring.published() - r_.back_pvt > r_.ring.size() || r_.ring.published() - r_.back_pvt < slots)
            return;
        for (std::uint32_t i = 0; i < data; ++i) {
            std::uint16_t f = i + 1 < data ? rxf::more_data : 0;
            if (i == 0)
                f = static_cast<std::uint16_t>(f | flags | (gso.present() ? rxf::extra_info : 0));
            const auto len = static_cast<std::int16_t>(std::min(page_size, size - i * page_size));
            r_.write(rx_response{static_cast<std::uint16_t>(r_.back_pvt & (r_.ring.size() - 1)), 0, f, len});
            if (i == 0 && gso.present())
                r_.write(detail::slot_from_extra<rx_response>(detail::make_gso_extra(gso)));
        }
        expected_.push_back(expected_packet{size, gso, flags});
    }

    void poll(std::uint32_t budget)
    {
        in_poll_ = 0;
        const std::uint64_t recycled_before = recycled_;
        const rx_poll_result r =
            front_.poll([&](const rx_packet& p) { delivered(p); }, [&](const rx_buffer& b) { recycled(b); }, budget);
        XNV_FUZZ_CHECK(r.responses <= budget);
        XNV_FUZZ_CHECK(r.packets == in_poll_);
        XNV_FUZZ_CHECK(r.violations <= r.drops);
        if (fatal_ != rx_front_error::none) {
            XNV_FUZZ_CHECK(r.fatal == fatal_ && r.responses == 0 && recycled_ == recycled_before);
            return;
        }
        // Positions [consumed, published) are all posted: no response can land on another.
        XNV_FUZZ_CHECK(r.fatal != rx_front_error::unposted_slot);
        XNV_FUZZ_CHECK(r.fatal == rx_front_error::none || is_fatal(r.fatal));
        fatal_ = r.fatal;
        XNV_FUZZ_CHECK(front_.error() == fatal_);
        if (clean_)
            XNV_FUZZ_CHECK(r.ok() && r.drops == 0);
        last_responses_ = r.responses;
    }

    void step(rx_op o, std::uint32_t arg, input& in)
    {
        switch (o) {
        case rx_post: {
            for (std::uint32_t i = 0; i <= arg; ++i) {
                const std::uint32_t c = bufs_.give(true);
                if (!front_.try_post(rx_buffer{buffers::gref_of(c), c})) {
                    XNV_FUZZ_CHECK(fatal_ != rx_front_error::none || r_.ring.free_slots() == 0);
                    bufs_.take(c, buffers::gref_of(c)); // never handed over
                    break;
                }
            }
            (void)front_.push();
            break;
        }
        case rx_write_raw:
            for (std::uint32_t i = 0; i <= arg; ++i) {
                rx_response v;
                in.fill(&v, sizeof v);
                r_.write(v);
            }
            clean_ = false;
            break;
        case rx_write_packet:
            write_packet(in);
            break;
        case rx_publish:
            r_.set_rsp_prod(r_.back_pvt);
            break;
        case rx_rsp_prod:
            r_.set_rsp_prod(r_.ring.consumed() + in.u32());
            clean_ = false;
            break;
        case rx_poll:
            poll(arg == 0 ? std::numeric_limits<std::uint32_t>::max() : arg);
            break;
        case rx_poll_all:
            for (std::uint32_t i = 0;; ++i) {
                XNV_FUZZ_CHECK(i <= r_.ring.size() + 1);
                poll(arg + 1);
                if (last_responses_ == 0 || fatal_ != rx_front_error::none)
                    break;
            }
            break;
        }
    }

    void check_state()
    {
        // The frontend holds exactly the buffers out: posted, or in the packet being assembled.
        XNV_FUZZ_CHECK(bufs_.out() == front_.posted() + front_.assembling());
        if (fatal_ == rx_front_error::none)
            XNV_FUZZ_CHECK(front_.check_invariants());
        XNV_FUZZ_CHECK(front_.stats().recycled == recycled_);
        XNV_FUZZ_CHECK(front_.stats().packets == delivered_);
    }

    rig_type r_;
    rx_frontend<Layout> front_;
    rx_front_config config_;
    buffers bufs_;
    std::deque<expected_packet> expected_;
    bool clean_ = true; // every response so far is a well-formed one, published as written
    rx_front_error fatal_ = rx_front_error::none;
    std::uint64_t recycled_ = 0;
    std::uint64_t delivered_ = 0;
    std::uint32_t in_poll_ = 0;
    std::uint32_t last_responses_ = 0;
};

// ==================================================================== mode 3: TX

template <class Layout> class tx_driver {
public:
    using rig_type = rig<tx_request, tx_response, Layout>;

    tx_driver(std::uint32_t slots, std::uint32_t start, const tx_front_config& config)
        : r_(slots, start), front_(r_.ring, config), config_(config)
    {
        id_cookie_.fill(none);
    }

    void run(input& in)
    {
        while (!in.empty()) {
            const std::uint8_t b = in.u8();
            step(static_cast<tx_op>(b & 0x0F), static_cast<std::uint32_t>(b >> 4), in);
            XNV_FUZZ_CHECK(front_.check_invariants());
            XNV_FUZZ_CHECK(front_.ids_free() + front_.in_flight() <= front_.ids_total());
            XNV_FUZZ_CHECK(front_.in_flight() == in_flight_);
        }
        front_.drain([&](std::uint32_t cookie, grant_ref gref) {
            bufs_.take(cookie, gref);
            --in_flight_;
        });
        XNV_FUZZ_CHECK(bufs_.out() == 0 && in_flight_ == 0);
        XNV_FUZZ_CHECK(front_.check_invariants() && front_.ids_free() == front_.ids_total());
    }

private:
    static constexpr std::uint32_t none = 0xFFFFFFFFu;
    struct slot_rec {
        bool extra;
        std::uint16_t id;
    };
    struct packet_rec {
        std::uint32_t slots;
        std::uint32_t done = 0;
        std::int16_t status = status::okay;
    };

    // The reasons a submission may be refused for, from the docs (the order among several is
    // the implementation's business).
    struct reasons {
        std::array<bool, 16> set{};
        void add(tx_submit_error e) noexcept { set[static_cast<std::size_t>(e)] = true; }
        [[nodiscard]] bool has(tx_submit_error e) const noexcept { return set[static_cast<std::size_t>(e)]; }
        [[nodiscard]] bool any() const noexcept
        {
            for (bool b : set)
                if (b)
                    return true;
            return false;
        }
    };

    void packet_reasons(reasons& why, std::uint32_t total, std::uint32_t first, const tx_meta& meta) const
    {
        if (total > max_tx_size)
            why.add(tx_submit_error::packet_too_large);
        if (total < eth_hlen)
            why.add(tx_submit_error::packet_too_short);
        if (first < eth_hlen)
            why.add(tx_submit_error::first_slot_too_short);
        if ((meta.flags & ~(txf::csum_blank | txf::data_validated)) != 0)
            why.add(tx_submit_error::bad_flags);
        if (meta.gso.present()) {
            const bool ok = (meta.gso.type == gso_type::tcpv4 && config_.gso_tcpv4) ||
                            (meta.gso.type == gso_type::tcpv6 && config_.gso_tcpv6);
            if (!ok)
                why.add(tx_submit_error::gso_not_negotiated);
            if (meta.gso.size == 0)
                why.add(tx_submit_error::gso_size_zero);
        }
    }

    // Bits: 0 GSO, 1 TCPv6 (else v4), 2 MSS 0, 3 csum_blank, 4 a flag no packet may carry.
    [[nodiscard]] static tx_meta read_meta(std::uint8_t bits) noexcept
    {
        tx_meta m;
        m.flags = static_cast<std::uint16_t>(((bits & 8) != 0 ? txf::csum_blank : 0) |
                                             ((bits & 16) != 0 ? txf::more_data : 0));
        if ((bits & 1) != 0)
            m.gso = gso_info{(bits & 2) != 0 ? gso_type::tcpv6 : gso_type::tcpv4,
                             static_cast<std::uint16_t>((bits & 4) != 0 ? 0 : 1448)};
        return m;
    }

    // After an accepted submission: learn each slot's id from the ring (the frontend wrote
    // them), and hand the cookies over.
    void accepted(const tx_submit_result& r, std::uint32_t p0, std::span<const tx_buffer> bufs, const tx_meta& meta)
    {
        const std::uint32_t slots = static_cast<std::uint32_t>(bufs.size()) + (meta.gso.present() ? 1 : 0);
        XNV_FUZZ_CHECK(r.slots == slots);
        XNV_FUZZ_CHECK(r_.ring.produced() - p0 == slots);
        const std::uint32_t pkt = static_cast<std::uint32_t>(packets_.size());
        packets_.push_back(packet_rec{static_cast<std::uint32_t>(bufs.size())});
        std::uint32_t k = p0;
        for (std::size_t i = 0; i < bufs.size(); ++i) {
            const auto q = r_.template read<tx_request>(k++);
            XNV_FUZZ_CHECK(q.id < front_.ids_total() && id_cookie_[q.id] == none);
            XNV_FUZZ_CHECK(q.gref == bufs[i].gref && q.offset == bufs[i].offset);
            if (i == 0)
                XNV_FUZZ_CHECK(q.id == r.first_id);
            id_cookie_[q.id] = bufs[i].cookie;
            cookie_packet_.resize(std::max<std::size_t>(cookie_packet_.size(), bufs[i].cookie + 1));
            cookie_packet_[bufs[i].cookie] = pkt;
            unanswered_.push_back(slot_rec{false, q.id});
            if (i == 0 && meta.gso.present()) {
                ++k;
                unanswered_.push_back(slot_rec{true, 0});
            }
            ++in_flight_;
        }
    }

    void submit(input& in)
    {
        const std::uint32_t n = in.u8() % 21u;
        const std::uint8_t bits = in.u8();
        const std::uint16_t first = in.u16();
        const std::uint16_t later = in.u16();
        const std::uint16_t offset = in.u16() % 4200u;
        const tx_meta meta = read_meta(bits);
        std::array<tx_buffer, 20> b{};
        reasons why;
        std::uint32_t total = 0;
        for (std::uint32_t i = 0; i < n; ++i) {
            const std::uint16_t size = i == 0 ? first : later;
            b[i] = tx_buffer{0, offset, size, 0};
            if (size == 0 || std::uint32_t{offset} + size > page_size)
                why.add(tx_submit_error::bad_buffer);
            total += size;
        }
        if (n == 0)
            why.add(tx_submit_error::no_buffers);
        if (n > config_.max_slots)
            why.add(tx_submit_error::too_many_slots);
        if (n != 0)
            packet_reasons(why, total, first, meta);
        if (fatal_ != tx_front_error::none)
            why.add(tx_submit_error::broken);
        for (std::uint32_t i = 0; i < n; ++i) {
            b[i].cookie = bufs_.give(false);
            b[i].gref = buffers::gref_of(b[i].cookie);
        }
        const std::uint32_t slots = n + (meta.gso.present() ? 1 : 0);
        const bool room = r_.ring.free_slots() >= slots && front_.ids_free() >= n;
        const std::uint32_t p0 = r_.ring.produced();
        const tx_submit_result r = front_.try_submit(std::span<const tx_buffer>(b.data(), n), meta);
        judge(r, why, room);
        if (r.ok()) {
            accepted(r, p0, std::span<const tx_buffer>(b.data(), n), meta);
        } else {
            XNV_FUZZ_CHECK(r_.ring.produced() == p0);
            for (std::uint32_t i = 0; i < n; ++i)
                bufs_.take(b[i].cookie, b[i].gref);
        }
    }

    void submit_chunks(input& in)
    {
        const std::uint32_t len = in.u32() % 70000u;
        const std::uint16_t first_offset = in.u16();
        const tx_meta meta = read_meta(in.u8());
        const std::uint32_t bad = in.u8(); // the chunk the grant callback gets wrong, if any
        const std::uint32_t n = tx_chunks(len, first_offset);
        const std::uint32_t off0 = first_offset % page_size;
        reasons why;
        if (fatal_ != tx_front_error::none)
            why.add(tx_submit_error::broken);
        if (len == 0)
            why.add(tx_submit_error::no_buffers);
        if (len > max_tx_size)
            why.add(tx_submit_error::packet_too_large);
        if (n > config_.max_slots)
            why.add(tx_submit_error::too_many_slots);
        if (len != 0)
            packet_reasons(why, len, std::min(len, page_size - off0), meta);
        const std::uint32_t slots = n + (meta.gso.present() ? 1 : 0);
        const bool room = r_.ring.free_slots() >= slots && front_.ids_free() >= n;
        std::vector<tx_buffer> granted;
        std::uint32_t expect_offset = 0;
        const std::uint32_t p0 = r_.ring.produced();
        const tx_submit_result r = front_.try_submit_chunks(
            len, first_offset, meta, [&](std::uint32_t chunk, std::uint32_t at, std::uint16_t l) {
                XNV_FUZZ_CHECK(chunk == granted.size() && chunk < n);
                XNV_FUZZ_CHECK(at == expect_offset);
                expect_offset += l;
                const std::uint32_t c = bufs_.give(false);
                const auto off = static_cast<std::uint16_t>(chunk == 0 ? off0 : 0);
                tx_buffer t{buffers::gref_of(c), off, chunk == bad ? static_cast<std::uint16_t>(l + 1) : l, c};
                granted.push_back(t);
                return t;
            });
        if (bad < n && r.error == tx_submit_error::bad_buffer) {
            XNV_FUZZ_CHECK(r.granted == bad + 1 && granted.size() == bad + 1);
        } else {
            judge(r, why, room);
            XNV_FUZZ_CHECK(r.granted == (r.ok() ? n : 0));
        }
        if (r.ok()) {
            XNV_FUZZ_CHECK(granted.size() == n && expect_offset == len);
            accepted(r, p0, granted, meta);
        } else {
            XNV_FUZZ_CHECK(r_.ring.produced() == p0);
            for (const tx_buffer& t : granted)
                bufs_.take(t.cookie, t.gref);
        }
    }

    // The outcome must be one of the reasons that apply, `no_room` exactly when there is none
    // and the chain does not fit, success otherwise.
    void judge(const tx_submit_result& r, const reasons& why, bool room)
    {
        if (why.any()) {
            XNV_FUZZ_CHECK(!r.ok() && why.has(r.error));
            return;
        }
        XNV_FUZZ_CHECK(r.error == (room ? tx_submit_error::none : tx_submit_error::no_room));
    }

    void completed(const tx_completion& c)
    {
        XNV_FUZZ_CHECK(c.id < front_.ids_total() && id_cookie_[c.id] == c.cookie);
        id_cookie_[c.id] = none;
        bufs_.take(c.cookie, c.gref);
        --in_flight_;
        ++in_reclaim_;
        packet_rec& p = packets_[cookie_packet_[c.cookie]];
        ++p.done;
        if (c.status != status::okay && p.status == status::okay)
            p.status = c.status;
        XNV_FUZZ_CHECK(c.status == status::okay || c.status == status::error || c.status == status::dropped);
        XNV_FUZZ_CHECK(c.packet_done == (p.done == p.slots));
        XNV_FUZZ_CHECK(c.packet_status == p.status);
        if (c.packet_done)
            ++packets_in_reclaim_;
    }

    void reclaim(std::uint32_t budget)
    {
        in_reclaim_ = 0;
        packets_in_reclaim_ = 0;
        const tx_reclaim_result r = front_.reclaim([&](const tx_completion& c) { completed(c); }, budget);
        XNV_FUZZ_CHECK(r.responses <= budget);
        XNV_FUZZ_CHECK(r.completed == in_reclaim_ && r.packets == packets_in_reclaim_);
        XNV_FUZZ_CHECK(r.completed <= r.responses);
        if (fatal_ != tx_front_error::none) {
            XNV_FUZZ_CHECK(r.error == fatal_ && r.responses == 0);
            return;
        }
        fatal_ = r.error;
        XNV_FUZZ_CHECK(front_.error() == fatal_);
        if (clean_)
            XNV_FUZZ_CHECK(r.ok());
    }

    void answer(std::uint32_t k, std::uint32_t arg, bool swapped)
    {
        const std::int16_t st = arg % 3 == 0 ? status::okay : arg % 3 == 1 ? status::error : status::dropped;
        std::vector<tx_response> out;
        for (std::uint32_t i = 0; i < k && !unanswered_.empty(); ++i) {
            const slot_rec s = unanswered_.front();
            unanswered_.pop_front();
            out.push_back(s.extra ? tx_response{0, status::null} : tx_response{s.id, st});
        }
        if (swapped && out.size() == 2)
            std::swap(out[0], out[1]);
        for (const tx_response& v : out)
            r_.write(v);
    }

    void step(tx_op o, std::uint32_t arg, input& in)
    {
        switch (o) {
        case tx_submit:
            submit(in);
            break;
        case tx_submit_chunks:
            submit_chunks(in);
            break;
        case tx_push:
            (void)front_.push();
            break;
        case tx_write_raw:
            for (std::uint32_t i = 0; i <= arg; ++i) {
                tx_response v;
                in.fill(&v, sizeof v);
                r_.write(v);
            }
            clean_ = false;
            break;
        case tx_answer:
            answer(arg + 1, arg, false);
            break;
        case tx_answer_swapped:
            answer(2, arg, true);
            break;
        case tx_publish:
            // A well-behaved backend answers only what was published.
            if (r_.back_pvt - r_.ring.consumed() > r_.ring.published() - r_.ring.consumed())
                clean_ = false;
            r_.set_rsp_prod(r_.back_pvt);
            break;
        case tx_rsp_prod:
            r_.set_rsp_prod(r_.ring.consumed() + in.u32());
            clean_ = false;
            break;
        case tx_reclaim:
            reclaim(arg == 0 ? std::numeric_limits<std::uint32_t>::max() : arg);
            break;
        }
    }

    rig_type r_;
    tx_frontend<Layout> front_;
    tx_front_config config_;
    buffers bufs_;
    std::array<std::uint32_t, 256> id_cookie_{};
    std::vector<std::uint32_t> cookie_packet_;
    std::vector<packet_rec> packets_;
    std::deque<slot_rec> unanswered_; // submitted slots in ring order, not yet answered
    std::uint32_t in_flight_ = 0;
    std::uint32_t in_reclaim_ = 0;
    std::uint32_t packets_in_reclaim_ = 0;
    bool clean_ = true;
    tx_front_error fatal_ = tx_front_error::none;
};

template <class Layout> void run_mode(unsigned mode, std::uint32_t start, input& in)
{
    switch (mode) {
    case 0:
        run_rx_entry<Layout>(start, in);
        break;
    case 1:
        run_tx_entry<Layout>(start, in);
        break;
    case 2: {
        const std::uint32_t slots = 1u << (1 + in.u8() % 8);
        rx_front_config config;
        config.max_slots = 1 + in.u8() % nr_slots_min;
        rx_driver<Layout> d(slots, start, config);
        d.run(in);
        break;
    }
    default: {
        const std::uint32_t slots = 1u << (1 + in.u8() % 8);
        const std::uint8_t bits = in.u8();
        tx_front_config config;
        config.max_slots = 1 + (bits & 0x1Fu) % nr_slots_min;
        config.gso_tcpv4 = (bits & 0x20) != 0;
        config.gso_tcpv6 = (bits & 0x40) != 0;
        tx_driver<Layout> d(slots, start, config);
        d.run(in);
        break;
    }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    input in(data, size);
    const std::uint8_t config = in.u8();
    const std::uint32_t start = in.u32();
    if ((config & 4) != 0)
        run_mode<xnv::layout::padded>(config & 3u, start, in);
    else
        run_mode<xnv::layout::xen_abi>(config & 3u, start, in);
    return 0;
}
