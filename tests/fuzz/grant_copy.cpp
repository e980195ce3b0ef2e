// SPDX-License-Identifier: MIT
// Fuzz target grant_copy: xnv::mem::grant_copier (and, in mode 1, the granting side's
// grant_table) over grant entries whose contents a hostile peer controls, driven by copies and
// mappings with arbitrary references, offsets, lengths, directions and domains.
//
// Input:
//   byte 0      bit 0: mode 1 (a grant_table grants and ends over the same entries; else the
//               entries are the fuzzer's bytes and only the copier acts)
//   byte 1      grant references: 1 + b % 64
//   byte 2      pages in the pool: 1 + b % 8
//   bytes 3-4   the copier's own domain id (u16)
//   mode 0      refs * 16 bytes: the initial entry array
//   then        a script (grant_format::op), one byte per step plus operands
//
// The entry array and the page pool are separate allocations of exactly their size, so an
// access one byte outside either is an AddressSanitizer report.
//
// Invariants (any violation aborts): every status is the one a model of the documented checks
// predicts from the entry as it is (first pin: type, domain, permission, frame, window; later
// pins: the private copy taken at the first one, Xen's active entry); the shared header is
// what the model expects, its in-use bits set while pins are held and cleared by the last unpin;
// a successful copy moves exactly the bytes asked between the local buffer and the page, a
// refused one moves nothing, and the pool ends each input holding exactly what the model wrote;
// a mapping covers exactly its window and a moved-from one none; a batch reports each copy's
// status; on the granting side an end is refused while in use (XSA-396), pages are refused
// while granted and zeroed when freed, and the counters agree with the model.

#include "fuzz_formats.hpp"
#include "fuzz_support.hpp"

#include <xnv/mem/grant_table.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

namespace {

using namespace xnv::mem;
using namespace xnv::fuzz::grant_format;
using xnv::fuzz::input;

constexpr std::size_t page_bytes = grant_page_bytes;
constexpr std::array<std::byte, page_bytes> zero_page{};

std::uint8_t pattern(std::size_t i) noexcept
{
    return static_cast<std::uint8_t>((i * 2654435761u) >> 13);
}

class driver {
public:
    driver(bool table_mode, std::uint32_t refs, std::uint32_t pages, domain_id self, input& in)
        : refs_(refs), pages_n_(pages), self_(self), entries_(std::size_t{refs} * sizeof(grant_entry), 8),
          pages_(std::size_t{pages} * page_bytes, 64), active_(refs), granted_(refs), frame_grants_(pages),
          allocated_(pages)
    {
        if (table_mode) {
            table_.emplace(entries_.span(), pages_.span());
            for (std::uint32_t r = 0; r < refs; ++r) {
                XNV_FUZZ_CHECK(header(r) == 0);
                expect_header_[r] = 0;
            }
        } else {
            in.fill(entries_.data(), entries_.size());
            // Pages with recognisable contents, so a copy from the wrong place shows.
            static const std::vector<std::byte> contents = [] {
                std::vector<std::byte> v(8 * page_bytes);
                for (std::size_t i = 0; i < v.size(); ++i)
                    v[i] = std::byte{pattern(i)};
                return v;
            }();
            std::memcpy(pages_.data(), contents.data(), pages_.size());
        }
        pool_model_.assign(pages_.data(), pages_.data() + pages_.size());
        copier_ = std::make_unique<grant_copier>(entries_.span(), pages_.span(), self);
        XNV_FUZZ_CHECK(copier_->capacity() == refs && copier_->page_count() == pages && copier_->self() == self);
    }

    void run(input& in)
    {
        while (!in.empty()) {
            const std::uint8_t b = in.u8();
            step(static_cast<op>(b & 0x0F), static_cast<std::uint32_t>(b >> 4), in);
            check_headers();
        }
        while (!held_.empty())
            release(held_.size() - 1, false);
        check_headers();
        for (const active& a : active_)
            XNV_FUZZ_CHECK(a.pins == 0 && a.write_pins == 0);
        // No byte of the pool changed but those the model wrote.
        XNV_FUZZ_CHECK(std::memcmp(pool_model_.data(), pages_.data(), pages_.size()) == 0);
    }

private:
    // Xen's active grant entry, as the model keeps it.
    struct active {
        std::uint32_t pins = 0;
        std::uint32_t write_pins = 0;
        std::uint32_t frame = 0;
        std::uint16_t win_offset = 0;
        std::uint16_t win_length = 0;
    };
    struct held {
        grant_mapping m;
        grant_ref ref;
        bool write;
    };

    [[nodiscard]] std::uint32_t word(grant_ref r, std::size_t off) const noexcept
    {
        std::uint32_t v;
        std::memcpy(&v, entries_.data() + std::size_t{r} * sizeof(grant_entry) + off, sizeof v);
        return v;
    }
    [[nodiscard]] std::uint16_t half(grant_ref r, std::size_t off) const noexcept
    {
        std::uint16_t v;
        std::memcpy(&v, entries_.data() + std::size_t{r} * sizeof(grant_entry) + off, sizeof v);
        return v;
    }
    void set_word(grant_ref r, std::size_t off, std::uint32_t v) noexcept
    {
        std::memcpy(entries_.data() + std::size_t{r} * sizeof(grant_entry) + off, &v, sizeof v);
    }
    [[nodiscard]] std::uint32_t header(grant_ref r) const noexcept { return word(r, offsetof(grant_entry, header)); }
    void set_header(grant_ref r, std::uint32_t v) noexcept { set_word(r, offsetof(grant_entry, header), v); }

    // The status a pin of `ref` must get, applying its effect on the model and on the expected
    // header; `out` receives the pinned frame and window.
    grant_status model_pin(grant_ref ref, bool write, active& out)
    {
        if (ref >= refs_)
            return grant_status::bad_ref;
        active& a = active_[ref];
        if (a.pins == 0xFFFF)
            return grant_status::too_many_pins;
        if (a.pins == 0 || (write && a.write_pins == 0)) {
            // The header as it will be when the copier gets there: the model's own expectation
            // where it has one, since in a batch the earlier copies run before this one does
            // (and may clear in-use bits a peer set), while the model looks at them all first.
            const std::uint32_t h = expect_header_[ref] ? *expect_header_[ref] : header(ref);
            const std::uint16_t flags = header_flags(h);
            if ((flags & gtf::type_mask) != gtf::permit_access)
                return grant_status::not_granted;
            if (header_domain(h) != self_)
                return grant_status::wrong_domain;
            if (write && (flags & gtf::readonly) != 0)
                return grant_status::read_only;
            expect_header_[ref] = h | gtf::reading | (write ? gtf::writing : 0u);
            if (a.pins == 0) {
                const std::uint32_t frame = word(ref, offsetof(grant_entry, frame));
                std::uint16_t off = 0;
                std::uint16_t len = page_bytes;
                if ((flags & gtf::sub_page) != 0) {
                    off = half(ref, offsetof(grant_entry, sub_offset));
                    len = half(ref, offsetof(grant_entry, sub_length));
                }
                grant_status bad = grant_status::okay;
                if (frame >= pages_n_)
                    bad = grant_status::bad_frame;
                else if (len == 0 || std::size_t{off} + len > page_bytes)
                    bad = grant_status::bad_window;
                if (bad != grant_status::okay) {
                    *expect_header_[ref] &= ~std::uint32_t{gtf::in_use};
                    return bad;
                }
                a.frame = frame;
                a.win_offset = off;
                a.win_length = len;
            }
        }
        ++a.pins;
        if (write)
            ++a.write_pins;
        out = a;
        return grant_status::okay;
    }

    void model_unpin(grant_ref ref, bool write)
    {
        active& a = active_[ref];
        XNV_FUZZ_CHECK(a.pins != 0 && (!write || a.write_pins != 0));
        --a.pins;
        std::uint32_t clear = 0;
        if (write && --a.write_pins == 0)
            clear |= gtf::writing;
        if (a.pins == 0)
            clear |= gtf::reading;
        if (expect_header_[ref])
            *expect_header_[ref] &= ~clear;
    }

    // Headers the model touched must read what it expects (the rest are the peer's).
    void check_headers()
    {
        for (std::size_t r = 0; r < refs_; ++r) {
            const active& a = active_[r];
            const std::uint32_t h = header(static_cast<grant_ref>(r));
            if (expect_header_[r])
                XNV_FUZZ_CHECK(h == *expect_header_[r]);
            // While pinned the entry says so (unless the peer has since scribbled it; a peer may
            // also have set the bits itself, which the copier leaves alone).
            if (a.pins != 0 && expect_header_[r])
                XNV_FUZZ_CHECK((h & gtf::reading) != 0 && (a.write_pins == 0 || (h & gtf::writing) != 0));
        }
    }

    // A peer write to a header: the model no longer knows what it holds.
    void peer_wrote(grant_ref r) { expect_header_[r].reset(); }

    struct copy_request {
        grant_copy_op op;
        std::unique_ptr<xnv::fuzz::exact_buffer> local;
    };

    // Operands: u8 bits (0: to_grant, 1: no local buffer, 2: a u32 reference, else u8), the
    // reference, u16 offset, u16 length.
    copy_request read_copy(input& in)
    {
        copy_request c;
        const std::uint8_t bits = in.u8();
        c.op.direction = (bits & 1) != 0 ? copy_direction::to_grant : copy_direction::from_grant;
        c.op.ref = (bits & 4) != 0 ? in.u32() : in.u8();
        c.op.offset = in.u16();
        c.op.length = in.u16();
        c.op.status = grant_status::busy; // overwritten by every copy
        if ((bits & 2) == 0) {
            c.local = std::make_unique<xnv::fuzz::exact_buffer>(c.op.length, 1);
            c.op.local = c.local->data();
            std::memcpy(c.op.local, local_pattern(c.op), c.op.length);
        }
        return c;
    }

    // The model's verdict on a copy, and the bytes the page must hold after it.
    grant_status model_copy(const grant_copy_op& op, active& pinned)
    {
        if (op.length != 0 && op.local == nullptr)
            return grant_status::bad_argument;
        if (op.offset > page_bytes || op.length > page_bytes - op.offset)
            return grant_status::bad_offset;
        const bool write = op.direction == copy_direction::to_grant;
        const grant_status s = model_pin(op.ref, write, pinned);
        if (s != grant_status::okay)
            return s;
        const bool inside = op.offset >= pinned.win_offset &&
                            std::size_t{op.offset} + op.length <= std::size_t{pinned.win_offset} + pinned.win_length;
        model_unpin(op.ref, write);
        return inside ? grant_status::okay : grant_status::outside_grant;
    }

    // What a local buffer holds before a copy: a pattern that depends on the reference, so a
    // copy from or to the wrong place shows. Filled and checked with memcpy/memcmp: per-byte
    // loops over 64 KiB buffers would dominate the run time under coverage instrumentation.
    [[nodiscard]] static const std::byte* local_pattern(const grant_copy_op& op) noexcept
    {
        static const std::array<std::byte, 0x10000 + 0x100> table = [] {
            std::array<std::byte, 0x10000 + 0x100> t{};
            for (std::size_t i = 0; i < t.size(); ++i)
                t[i] = std::byte{static_cast<std::uint8_t>(0xA5 ^ i)};
            return t;
        }();
        return table.data() + (op.ref & 0xFF);
    }

    // The pool as the model says it must be: what was there, plus every write the model allowed.
    [[nodiscard]] std::byte* expected(std::uint32_t frame, std::size_t offset) noexcept
    {
        return pool_model_.data() + std::size_t{frame} * page_bytes + offset;
    }

    // After a copy with status `s`: a successful one moved exactly the bytes asked (a write is
    // applied to the model, a read must have produced the model's bytes); any other leaves the
    // local buffer as it was. The pool itself is compared with the model at the end of the input.
    void settle(const grant_copy_op& op, grant_status s, const active& pinned)
    {
        const bool read_ok = s == grant_status::okay && op.direction == copy_direction::from_grant;
        if (s == grant_status::okay && op.length != 0) {
            if (read_ok)
                XNV_FUZZ_CHECK(std::memcmp(op.local, expected(pinned.frame, op.offset), op.length) == 0);
            else
                std::memcpy(expected(pinned.frame, op.offset), op.local, op.length);
        }
        if (!read_ok && op.local != nullptr)
            XNV_FUZZ_CHECK(std::memcmp(op.local, local_pattern(op), op.length) == 0);
    }

    void one_copy(copy_request& c)
    {
        active pinned;
        const grant_status want = model_copy(c.op, pinned);
        const grant_status got = copier_->copy(c.op);
        XNV_FUZZ_CHECK(got == want && c.op.status == want);
        settle(c.op, want, pinned);
    }

    void batch(std::uint32_t n, input& in)
    {
        std::vector<copy_request> reqs;
        for (std::uint32_t i = 0; i < n; ++i)
            reqs.push_back(read_copy(in));
        // The copies are independent and run in order: the model runs them in order too.
        std::vector<grant_status> want;
        std::vector<active> pinned(n);
        std::size_t ok = 0;
        for (std::uint32_t i = 0; i < n; ++i) {
            want.push_back(model_copy(reqs[i].op, pinned[i]));
            ok += want.back() == grant_status::okay ? 1 : 0;
        }
        std::vector<grant_copy_op> ops;
        for (const copy_request& c : reqs)
            ops.push_back(c.op);
        XNV_FUZZ_CHECK(copier_->copy(ops) == ok);
        for (std::uint32_t i = 0; i < n; ++i) {
            XNV_FUZZ_CHECK(ops[i].status == want[i]);
            settle(ops[i], want[i], pinned[i]);
        }
    }

    void map(grant_ref ref, bool write)
    {
        if (held_.size() == 4)
            return;
        active pinned;
        const grant_status want = model_pin(ref, write, pinned);
        grant_mapping m = copier_->try_map(ref, write ? grant_access::read_write : grant_access::read_only);
        XNV_FUZZ_CHECK(m.status() == want && m.ok() == (want == grant_status::okay));
        if (!m.ok()) {
            XNV_FUZZ_CHECK(m.bytes().empty());
            return;
        }
        XNV_FUZZ_CHECK(m.ref() == ref && m.window_offset() == pinned.win_offset);
        XNV_FUZZ_CHECK(m.bytes().data() == pages_.data() + std::size_t{pinned.frame} * page_bytes + pinned.win_offset);
        XNV_FUZZ_CHECK(m.bytes().size() == pinned.win_length);
        // Touch every byte of the window: any of it outside the pool is an ASan report.
        std::uint32_t sum = 0;
        for (std::byte x : m.bytes())
            sum += std::to_integer<std::uint32_t>(x);
        if (write) {
            std::memset(m.bytes().data(), static_cast<int>(sum & 0xFF), m.bytes().size());
            std::memset(expected(pinned.frame, pinned.win_offset), static_cast<int>(sum & 0xFF), m.bytes().size());
        }
        held_.push_back(held{std::move(m), ref, write});
    }

    void release(std::size_t i, bool by_move)
    {
        if (by_move && held_.size() >= 2) {
            // Move-assigning j onto i unpins i's grant; j's pin now lives in i.
            const std::size_t j = i == 0 ? 1 : 0;
            model_unpin(held_[i].ref, held_[i].write);
            held_[i].m = std::move(held_[j].m);
            held_[i].ref = held_[j].ref;
            held_[i].write = held_[j].write;
            XNV_FUZZ_CHECK(held_[j].m.bytes().empty());
            held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(j));
            XNV_FUZZ_CHECK(held_[i == 0 ? 0 : i - 1].m.ok());
            return;
        }
        model_unpin(held_[i].ref, held_[i].write);
        held_[i].m.unpin();
        XNV_FUZZ_CHECK(held_[i].m.bytes().empty());
        held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
    }

    [[nodiscard]] domain_id read_domain(input& in) const noexcept
    {
        const std::uint8_t d = in.u8();
        return d == 0 ? self_ : static_cast<domain_id>(d - 1);
    }

    void step(op o, std::uint32_t arg, input& in)
    {
        switch (o) {
        case op_copy: {
            copy_request c = read_copy(in);
            one_copy(c);
            break;
        }
        case op_copy_batch:
            batch(arg + 1, in);
            break;
        case op_map:
            map(in.u8(), (arg & 1) != 0);
            break;
        case op_unmap:
            if (!held_.empty())
                release(arg % held_.size(), (arg & 4) != 0);
            break;
        case op_scribble: {
            const grant_ref r = in.u8() % refs_;
            const std::uint8_t w = in.u8() % 4;
            set_word(r, w * 4u, in.u32());
            if (w == 0)
                peer_wrote(r);
            dirty_ = true;
            break;
        }
        case op_set_header: {
            const grant_ref r = in.u8() % refs_;
            const std::uint16_t flags = in.u16();
            set_header(r, grant_header(flags, read_domain(in)));
            peer_wrote(r);
            dirty_ = true;
            break;
        }
        case op_alloc_page:
            if (table_)
                allocate();
            break;
        case op_grant:
            if (table_)
                do_grant(in, (arg & 1) != 0);
            break;
        case op_end:
            if (table_)
                do_end(in.u8());
            break;
        case op_free_page:
            if (table_)
                do_free(in.u8());
            break;
        }
    }

    // ------------------------------------------------------------ granting side (mode 1)

    void allocate()
    {
        const std::optional<std::uint32_t> f = table_->try_allocate_page();
        std::uint32_t free = 0;
        for (bool a : allocated_)
            free += a ? 0 : 1;
        XNV_FUZZ_CHECK(f.has_value() == (free != 0));
        if (!f)
            return;
        XNV_FUZZ_CHECK(*f < pages_n_ && !allocated_[*f]);
        allocated_[*f] = true;
        // A page comes out zeroed, unless a peer rewrote a grant so that a copy landed in a page
        // that was not granted (the threat model's limit: the region is not an isolation boundary).
        if (!dirty_)
            XNV_FUZZ_CHECK(std::memcmp(table_->page(*f).data(), zero_page.data(), page_bytes) == 0);
        XNV_FUZZ_CHECK(table_->free_pages() == free - 1);
    }

    void do_grant(input& in, bool read_only)
    {
        const std::uint8_t pick = in.u8();
        const std::uint16_t off = in.u16();
        const std::uint16_t len = in.u16();
        const domain_id peer = read_domain(in);
        const auto frame = static_cast<std::uint32_t>(pick % (pages_n_ + 1)); // one beyond the pool too
        const grant_access access = read_only ? grant_access::read_only : grant_access::read_write;
        const bool whole = len == 0;
        std::uint32_t used = 0;
        for (const auto& g : granted_)
            used += g ? 1 : 0;
        grant_status want = grant_status::okay;
        if (!whole && std::size_t{off} + len > page_bytes)
            want = grant_status::bad_argument;
        else if (frame >= pages_n_ || !allocated_[frame])
            want = grant_status::bad_page;
        else if (used == refs_)
            want = grant_status::no_free_refs;
        const grant_table::grant_result r =
            whole ? table_->try_grant(peer, frame, access) : table_->try_grant(peer, frame, access, off, len);
        XNV_FUZZ_CHECK(r.status == want);
        if (!r.ok())
            return;
        XNV_FUZZ_CHECK(r.ref < refs_ && !granted_[r.ref] && table_->is_granted(r.ref));
        const bool pinned = active_[r.ref].pins != 0; // only after a peer made a free entry look granted
        granted_[r.ref] = frame;
        ++frame_grants_[frame];
        XNV_FUZZ_CHECK(table_->grants_of(frame) == frame_grants_[frame]);
        std::uint16_t flags = gtf::permit_access;
        if (read_only)
            flags |= gtf::readonly;
        const bool window = !whole && (off != 0 || len != page_bytes);
        if (window)
            flags |= gtf::sub_page;
        if (pinned)
            expect_header_[r.ref].reset();
        else
            expect_header_[r.ref] = grant_header(flags, peer);
        XNV_FUZZ_CHECK(word(r.ref, offsetof(grant_entry, frame)) == frame);
        if (window)
            XNV_FUZZ_CHECK(half(r.ref, offsetof(grant_entry, sub_offset)) == off &&
                           half(r.ref, offsetof(grant_entry, sub_length)) == len);
    }

    void do_end(std::uint32_t ref)
    {
        grant_status want = grant_status::okay;
        if (ref >= refs_)
            want = grant_status::bad_ref;
        else if (!granted_[ref])
            want = grant_status::not_granted;
        else if ((header_flags(header(ref)) & gtf::in_use) != 0)
            want = grant_status::in_use;
        const std::uint64_t ends = table_->ends();
        const std::uint64_t refusals = table_->end_refusals();
        XNV_FUZZ_CHECK(table_->try_end(ref) == want);
        XNV_FUZZ_CHECK(table_->ends() == ends + (want == grant_status::okay ? 1 : 0));
        XNV_FUZZ_CHECK(table_->end_refusals() == refusals + (want == grant_status::in_use ? 1 : 0));
        if (want != grant_status::okay)
            return;
        // XSA-396: an end succeeds only when no pin holds it, unless a peer scribbled the bits away.
        if (expect_header_[ref])
            XNV_FUZZ_CHECK(active_[ref].pins == 0);
        --frame_grants_[*granted_[ref]];
        XNV_FUZZ_CHECK(table_->grants_of(*granted_[ref]) == frame_grants_[*granted_[ref]]);
        granted_[ref].reset();
        if (active_[ref].pins != 0)
            expect_header_[ref].reset();
        else
            expect_header_[ref] = 0;
        XNV_FUZZ_CHECK(!table_->is_granted(ref));
    }

    void do_free(std::uint32_t pick)
    {
        const std::uint32_t frame = pick % (pages_n_ + 1);
        grant_status want = grant_status::okay;
        if (frame >= pages_n_ || !allocated_[frame])
            want = grant_status::bad_page;
        else if (frame_grants_[frame] != 0)
            want = grant_status::page_granted;
        XNV_FUZZ_CHECK(table_->free_page(frame) == want);
        if (want != grant_status::okay)
            return;
        allocated_[frame] = false;
        XNV_FUZZ_CHECK(std::memcmp(pages_.data() + std::size_t{frame} * page_bytes, zero_page.data(), page_bytes) == 0);
        std::memset(expected(frame, 0), 0, page_bytes);
    }

    std::uint32_t refs_;
    std::uint32_t pages_n_;
    domain_id self_;
    xnv::fuzz::exact_buffer entries_;
    xnv::fuzz::exact_buffer pages_;
    std::optional<grant_table> table_;
    std::unique_ptr<grant_copier> copier_;
    std::vector<active> active_;
    std::vector<std::optional<std::uint32_t>> expect_header_ = std::vector<std::optional<std::uint32_t>>(refs_);
    std::vector<held> held_;
    // Granting side model: the frame each granted reference names, grants per frame, pages out.
    std::vector<std::optional<std::uint32_t>> granted_;
    std::vector<std::uint32_t> frame_grants_;
    std::vector<bool> allocated_;
    bool dirty_ = false; // a peer has written an entry
    std::vector<std::byte> pool_model_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    input in(data, size);
    const bool table_mode = (in.u8() & 1) != 0;
    const std::uint32_t refs = 1 + in.u8() % 64u;
    const std::uint32_t pages = 1 + in.u8() % 8u;
    const domain_id self = in.u16();
    driver d(table_mode, refs, pages, self, in);
    d.run(in);
    return 0;
}
