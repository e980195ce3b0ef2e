// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// A grant table over shared memory, modelled on Xen's v1 grant table. The granting side
/// (`grant_table`, a netfront) owns a pool of pages and an array of grant entries, both in a
/// region the peer maps; it grants a page, or a window of one, to a peer domain, read-only or
/// read-write, and ends the grant later. The other side (`grant_copier`, a netback) copies from
/// and to granted pages by reference, in batches with a status per operation like
/// `GNTTABOP_copy`, or pins a grant for direct access (`try_map`).
///
/// The entries live in memory the peer can write, so the copier takes a private copy of an
/// entry exactly once, when it first pins it, and checks every reference, offset, length,
/// permission and domain id against that copy. While a grant is pinned its shared entry carries
/// Xen's `GTF_reading`/`GTF_writing` bits, set and cleared with atomic read-modify-writes;
/// ending a grant whose entry carries them is refused and reported (XSA-396), never silently
/// reused. Pages are zeroed when they return to the granting side's free list, so nothing a
/// grant exposed or received survives into the next use of the page.
///
/// Memory-order edges (see docs/control-channel.md, "Grant table"):
///  - G1 granting side, `try_grant`: the entry's frame and window (relaxed stores), and the
///    page contents written before the grant, are ordered before the release store of the
///    entry header that sets `GTF_permit_access`.
///  - G2 copying side, first pin: the compare-exchange that sets `GTF_reading` is an acquire;
///    reading G1's header value, it makes everything before G1 visible to the copy.
///  - G3 copying side, last unpin: the fetch_and that clears `GTF_reading`/`GTF_writing` is a
///    release, ordering every access the copy made to the page before it.
///  - G4 granting side, `try_end`: the acquire load/compare-exchange of the header pairs with
///    G3, so once an end succeeds the copier's writes into the page are visible (a receive
///    buffer can be read) and zeroing the page cannot race with a copy still in flight.
///
/// Threat model: the table enforces the protocol against a peer's wrong references, stale
/// grants and bad offsets, which is what Xen's advisories are about. It is not an isolation
/// boundary here: both processes map the whole region, so a peer that ignores the protocol can
/// read or write the pages directly; what the checks guarantee is that nothing the peer writes
/// into the entries makes this side access memory outside the page pool, loop unboundedly, or
/// reuse a page that is still being copied.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <xnv/mem/index_allocator.hpp>

namespace xnv::mem {

/// A grant reference: an index into the grant entry array (Xen's `grant_ref_t`).
using grant_ref = std::uint32_t;
/// A domain id (Xen's `domid_t`): who a grant is for.
using domain_id = std::uint16_t;

/// The unit a grant covers; offsets and lengths are relative to it.
inline constexpr std::size_t grant_page_bytes = 4096;

/// Flag bits of a grant entry header, with Xen's `GTF_*` values.
namespace gtf {
inline constexpr std::uint16_t permit_access = 1u << 0; ///< the entry grants access
inline constexpr std::uint16_t type_mask = 3u;          ///< entry type: only `permit_access` is supported
inline constexpr std::uint16_t readonly = 1u << 2;      ///< the grantee may only read
inline constexpr std::uint16_t reading = 1u << 3;       ///< in use by the grantee (set by it)
inline constexpr std::uint16_t writing = 1u << 4;       ///< in use for writing by the grantee (set by it)
inline constexpr std::uint16_t sub_page = 1u << 8;      ///< only `[sub_offset, sub_offset + sub_length)` is granted
inline constexpr std::uint16_t in_use = reading | writing;
} // namespace gtf

/// One shared grant entry. The header word is Xen's v1 `{uint16 flags; domid_t domid;}` pair as
/// one 32-bit word (flags in bits 0-15, the grantee in 16-31), so both are set and tested by a
/// single atomic operation, as Xen's `cmpxchg` on the pair does. `frame` is Xen's v1 frame,
/// here a page index into the page pool; the sub-page window is v2's `GTF_sub_page` extension.
struct grant_entry {
    std::uint32_t header;
    std::uint32_t frame;
    std::uint16_t sub_offset;
    std::uint16_t sub_length;
    std::uint32_t reserved;
};
static_assert(sizeof(grant_entry) == 16 && offsetof(grant_entry, frame) == 4 && offsetof(grant_entry, sub_offset) == 8,
              "grant_entry is part of the shared-memory protocol: 16 bytes, fixed offsets");

[[nodiscard]] constexpr std::uint32_t grant_header(std::uint16_t flags, domain_id grantee) noexcept
{
    return std::uint32_t{flags} | (std::uint32_t{grantee} << 16);
}
[[nodiscard]] constexpr std::uint16_t header_flags(std::uint32_t header) noexcept
{
    return static_cast<std::uint16_t>(header & 0xFFFFu);
}
[[nodiscard]] constexpr domain_id header_domain(std::uint32_t header) noexcept
{
    return static_cast<domain_id>(header >> 16);
}

/// What a grant allows the grantee to do.
enum class grant_access : std::uint8_t { read_only, read_write };

/// Direction of a grant copy, seen from the copying side.
enum class copy_direction : std::uint8_t {
    from_grant, ///< read the granted page into local memory (netback TX)
    to_grant,   ///< write local memory into the granted page (netback RX); needs a read-write grant
};

/// The outcome of a grant operation, with the closest Xen `GNTST_*` code in the comment.
enum class grant_status : std::uint8_t {
    okay = 0,      ///< GNTST_okay
    bad_ref,       ///< reference beyond the table (GNTST_bad_gntref)
    not_granted,   ///< entry does not permit access: never granted, or ended (GNTST_general_error)
    wrong_domain,  ///< granted to another domain (GNTST_permission_denied)
    read_only,     ///< write through a read-only grant (GNTST_permission_denied)
    bad_offset,    ///< offset + length beyond the page (GNTST_bad_copy_arg)
    outside_grant, ///< range outside the granted sub-page window (GNTST_bad_copy_arg)
    bad_frame,     ///< the entry names a page beyond the page pool (GNTST_bad_page)
    bad_window,    ///< the entry's sub-page window is empty or extends beyond the page (GNTST_general_error)
    busy,          ///< the entry changed under every attempt to pin it: retry later (GNTST_eagain)
    in_use,        ///< end refused: the grantee is copying from or to the page (XSA-396)
    no_free_refs,  ///< every grant reference is in use (GNTST_no_space)
    no_free_pages, ///< every page of the pool is allocated
    page_granted,  ///< page not freed: active grants still name it
    bad_page,      ///< page index beyond the pool or not allocated
    bad_argument,  ///< null local buffer for a non-empty copy, or an empty sub-page grant
    too_many_pins, ///< 65535 concurrent pins of one reference
};

[[nodiscard]] constexpr std::string_view to_string(grant_status s) noexcept
{
    switch (s) {
    case grant_status::okay:
        return "okay";
    case grant_status::bad_ref:
        return "grant reference beyond the grant table";
    case grant_status::not_granted:
        return "grant reference not granted (never granted, or ended)";
    case grant_status::wrong_domain:
        return "grant is for another domain";
    case grant_status::read_only:
        return "write through a read-only grant";
    case grant_status::bad_offset:
        return "offset and length extend beyond the page";
    case grant_status::outside_grant:
        return "range outside the granted part of the page";
    case grant_status::bad_frame:
        return "grant entry names a page beyond the page pool";
    case grant_status::bad_window:
        return "grant entry's sub-page window is empty or beyond the page";
    case grant_status::busy:
        return "grant entry kept changing while being pinned";
    case grant_status::in_use:
        return "grant still in use by the peer: end refused";
    case grant_status::no_free_refs:
        return "no free grant reference";
    case grant_status::no_free_pages:
        return "no free page in the pool";
    case grant_status::page_granted:
        return "page still granted: not freed";
    case grant_status::bad_page:
        return "page index beyond the pool or not allocated";
    case grant_status::bad_argument:
        return "bad argument (null buffer or empty sub-page grant)";
    case grant_status::too_many_pins:
        return "too many concurrent pins of one grant";
    }
    return "unknown grant status";
}

/// Sizes of a grant area: the entry array (rounded up to whole pages) followed by the page
/// pool. Both sides derive the same spans from the same geometry and area.
struct grant_geometry {
    std::uint32_t refs = 0;
    std::uint32_t pages = 0;

    [[nodiscard]] constexpr std::size_t entries_bytes() const noexcept
    {
        const std::size_t raw = std::size_t{refs} * sizeof(grant_entry);
        return (raw + grant_page_bytes - 1) / grant_page_bytes * grant_page_bytes;
    }
    [[nodiscard]] constexpr std::size_t pages_bytes() const noexcept { return std::size_t{pages} * grant_page_bytes; }
    [[nodiscard]] constexpr std::size_t total_bytes() const noexcept { return entries_bytes() + pages_bytes(); }

    /// The entry array within `area` (which must hold `total_bytes()`).
    [[nodiscard]] std::span<std::byte> entries_of(std::span<std::byte> area) const
    {
        check(area);
        return area.first(std::size_t{refs} * sizeof(grant_entry));
    }
    /// The page pool within `area`.
    [[nodiscard]] std::span<std::byte> pages_of(std::span<std::byte> area) const
    {
        check(area);
        return area.subspan(entries_bytes(), pages_bytes());
    }

private:
    void check(std::span<std::byte> area) const
    {
        if (area.size() < total_bytes())
            throw std::invalid_argument("xnv: grant area of " + std::to_string(area.size()) +
                                        " bytes is smaller than " + std::to_string(total_bytes()) + " bytes for " +
                                        std::to_string(refs) + " references and " + std::to_string(pages) + " pages");
    }
};

namespace detail {

// Attempts at the compare-exchange on an entry header before giving up with `busy` (Xen's
// grant code gives up after 4 too): only a peer rewriting the header continuously makes all
// of them fail, and that peer must not be able to keep us looping.
inline constexpr int grant_cas_attempts = 4;

inline void check_grant_spans(std::span<std::byte> entries, std::span<std::byte> pages)
{
    if (reinterpret_cast<std::uintptr_t>(entries.data()) % alignof(std::uint64_t) != 0)
        throw std::invalid_argument("xnv: grant entries must be 8-byte aligned");
    if (entries.size() < sizeof(grant_entry))
        throw std::invalid_argument("xnv: grant entry area holds no entry");
    if (entries.size() / sizeof(grant_entry) > UINT32_MAX)
        throw std::invalid_argument("xnv: grant entry area holds more than 2^32-1 entries");
    if (pages.size() < grant_page_bytes)
        throw std::invalid_argument("xnv: grant page pool holds no page");
    if (pages.size() / grant_page_bytes > UINT32_MAX)
        throw std::invalid_argument("xnv: grant page pool holds more than 2^32-1 pages");
}

[[nodiscard]] inline std::atomic_ref<std::uint32_t> entry_word(std::byte* entries, grant_ref ref,
                                                               std::size_t offset) noexcept
{
    return std::atomic_ref<std::uint32_t>(
        *reinterpret_cast<std::uint32_t*>(entries + std::size_t{ref} * sizeof(grant_entry) + offset));
}
[[nodiscard]] inline std::atomic_ref<std::uint16_t> entry_half(std::byte* entries, grant_ref ref,
                                                               std::size_t offset) noexcept
{
    return std::atomic_ref<std::uint16_t>(
        *reinterpret_cast<std::uint16_t*>(entries + std::size_t{ref} * sizeof(grant_entry) + offset));
}

inline void cpu_relax() noexcept
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

} // namespace detail

/// The granting side: grants pages of its pool to a peer and ends grants.
///
/// Thread safety: none; one thread at a time (use one table per queue and direction). The
/// peer's copier runs concurrently in another thread or process. Progress: wait-free, except
/// that `try_end` makes a bounded number of compare-exchange attempts.
class grant_table {
public:
    /// Take over `entries` (cleared here: no reference is granted) and the page pool `pages`
    /// (left as is: pages are zeroed when freed, fresh memfd memory is already zero).
    /// @throws std::invalid_argument if the entries are misaligned or either area is empty
    grant_table(std::span<std::byte> entries, std::span<std::byte> pages)
        : entries_(entries.data()), pages_(pages.data()), refs_(entry_count(entries, pages)),
          page_pool_(static_cast<std::uint32_t>(pages.size() / grant_page_bytes)),
          granted_(std::make_unique<granted_entry[]>(refs_.capacity())),
          frame_grants_(std::make_unique<std::uint32_t[]>(page_pool_.capacity()))
    {
        for (grant_ref r = 0; r < refs_.capacity(); ++r) {
            detail::entry_word(entries_, r, offsetof(grant_entry, frame)).store(0, std::memory_order_relaxed);
            detail::entry_half(entries_, r, offsetof(grant_entry, sub_offset)).store(0, std::memory_order_relaxed);
            detail::entry_half(entries_, r, offsetof(grant_entry, sub_length)).store(0, std::memory_order_relaxed);
            detail::entry_word(entries_, r, offsetof(grant_entry, reserved)).store(0, std::memory_order_relaxed);
            detail::entry_word(entries_, r, offsetof(grant_entry, header)).store(0, std::memory_order_release);
        }
    }

    /// Over `area` laid out by `geometry` (entries, then pages).
    grant_table(std::span<std::byte> area, const grant_geometry& geometry)
        : grant_table(geometry.entries_of(area), geometry.pages_of(area))
    {}

    grant_table(const grant_table&) = delete;
    grant_table& operator=(const grant_table&) = delete;

    [[nodiscard]] std::uint32_t capacity() const noexcept { return refs_.capacity(); }
    [[nodiscard]] std::uint32_t page_count() const noexcept { return page_pool_.capacity(); }
    [[nodiscard]] std::uint32_t free_refs() const noexcept { return refs_.available(); }
    [[nodiscard]] std::uint32_t free_pages() const noexcept { return page_pool_.available(); }
    /// Grants ended successfully / refused because the peer was using them.
    [[nodiscard]] std::uint64_t ends() const noexcept { return ends_; }
    [[nodiscard]] std::uint64_t end_refusals() const noexcept { return end_refusals_; }

    // ------------------------------------------------------------------ pages

    /// A zeroed page of the pool, if one is free.
    [[nodiscard]] std::optional<std::uint32_t> try_allocate_page() noexcept { return page_pool_.try_allocate(); }

    /// Zero `frame` and return it to the pool. Refused (`page_granted`) while any grant of it
    /// is active, so a page cannot be reused under a peer that may still copy it.
    [[nodiscard]] grant_status free_page(std::uint32_t frame) noexcept
    {
        if (!page_pool_.allocated(frame))
            return grant_status::bad_page;
        if (frame_grants_[frame] != 0)
            return grant_status::page_granted;
        // G4 ordered every copy into this page before the end that dropped its last grant,
        // so this memset races with nothing an honest peer does.
        std::memset(page_ptr(frame), 0, grant_page_bytes);
        const bool freed = page_pool_.free(frame);
        static_cast<void>(freed); // allocated() was checked above
        return grant_status::okay;
    }

    /// The memory of page `frame`. @pre `frame < page_count()`.
    [[nodiscard]] std::span<std::byte> page(std::uint32_t frame) const noexcept
    {
        return {page_ptr(frame), grant_page_bytes};
    }

    /// Active grants of page `frame` (0 for an out-of-range index).
    [[nodiscard]] std::uint32_t grants_of(std::uint32_t frame) const noexcept
    {
        return frame < page_count() ? frame_grants_[frame] : 0;
    }

    // ------------------------------------------------------------------ grants

    struct grant_result {
        grant_ref ref = 0;
        grant_status status = grant_status::okay;
        [[nodiscard]] bool ok() const noexcept { return status == grant_status::okay; }
    };

    /// Grant the whole of page `frame` (allocated from this table) to `peer`.
    [[nodiscard]] grant_result try_grant(domain_id peer, std::uint32_t frame, grant_access access) noexcept
    {
        return grant_window(peer, frame, access, 0, grant_page_bytes);
    }

    /// Grant `[offset, offset + length)` of page `frame` to `peer`; the peer's copies must
    /// stay inside it. A window of the whole page is an ordinary whole-page grant.
    [[nodiscard]] grant_result try_grant(domain_id peer, std::uint32_t frame, grant_access access, std::uint16_t offset,
                                         std::uint16_t length) noexcept
    {
        if (length == 0 || std::size_t{offset} + length > grant_page_bytes)
            return {0, grant_status::bad_argument};
        return grant_window(peer, frame, access, offset, length);
    }

    /// End grant `ref`: `okay` (the reference is free again and the peer can no longer pin
    /// it), `in_use` (refused: the peer holds it; nothing changed, retry later — counted in
    /// `end_refusals`), `busy` (the header kept changing), `not_granted`, or `bad_ref`.
    [[nodiscard]] grant_status try_end(grant_ref ref) noexcept
    {
        if (ref >= capacity())
            return grant_status::bad_ref;
        if (!refs_.allocated(ref))
            return grant_status::not_granted;
        auto header = detail::entry_word(entries_, ref, offsetof(grant_entry, header));
        // G4: acquire, pairs with the copier's release when it unpins (G3).
        std::uint32_t cur = header.load(std::memory_order_acquire);
        for (int attempt = 0; attempt < detail::grant_cas_attempts; ++attempt) {
            if ((header_flags(cur) & gtf::in_use) != 0) {
                ++end_refusals_;
                return grant_status::in_use;
            }
            // Whatever else the peer may have scribbled into the header, revoke it all.
            // G4 again on success: reading G3's value makes the copy's accesses visible.
            if (header.compare_exchange_strong(cur, 0, std::memory_order_acquire, std::memory_order_acquire)) {
                const std::uint32_t frame = granted_[ref].frame;
                --frame_grants_[frame];
                const bool freed = refs_.free(ref);
                static_cast<void>(freed); // allocated() was checked above
                ++ends_;
                return grant_status::okay;
            }
        }
        return grant_status::busy;
    }

    [[nodiscard]] bool is_granted(grant_ref ref) const noexcept { return refs_.allocated(ref); }

    /// The shared entry array (for the peer's copier, and for tests that play a hostile peer).
    [[nodiscard]] std::span<std::byte> shared_entries() const noexcept
    {
        return {entries_, std::size_t{capacity()} * sizeof(grant_entry)};
    }

private:
    // What this side granted: its own record, never read back from shared memory.
    struct granted_entry {
        std::uint32_t frame = 0;
    };

    static index_allocator entry_count(std::span<std::byte> entries, std::span<std::byte> pages)
    {
        detail::check_grant_spans(entries, pages);
        return index_allocator(static_cast<std::uint32_t>(entries.size() / sizeof(grant_entry)));
    }

    [[nodiscard]] std::byte* page_ptr(std::uint32_t frame) const noexcept
    {
        return pages_ + std::size_t{frame} * grant_page_bytes;
    }

    grant_result grant_window(domain_id peer, std::uint32_t frame, grant_access access, std::uint16_t offset,
                              std::size_t length) noexcept
    {
        if (!page_pool_.allocated(frame))
            return {0, grant_status::bad_page};
        const auto ref = refs_.try_allocate();
        if (!ref)
            return {0, grant_status::no_free_refs};
        std::uint16_t flags = gtf::permit_access;
        if (access == grant_access::read_only)
            flags |= gtf::readonly;
        if (offset != 0 || length != grant_page_bytes)
            flags |= gtf::sub_page;
        detail::entry_word(entries_, *ref, offsetof(grant_entry, frame)).store(frame, std::memory_order_relaxed);
        detail::entry_half(entries_, *ref, offsetof(grant_entry, sub_offset)).store(offset, std::memory_order_relaxed);
        detail::entry_half(entries_, *ref, offsetof(grant_entry, sub_length))
            .store(static_cast<std::uint16_t>(length), std::memory_order_relaxed);
        // G1: release; the copier's acquiring compare-exchange (G2) that reads this value sees
        // the frame, the window and the page contents written before it.
        detail::entry_word(entries_, *ref, offsetof(grant_entry, header))
            .store(grant_header(flags, peer), std::memory_order_release);
        granted_[*ref].frame = frame;
        ++frame_grants_[frame];
        return {*ref, grant_status::okay};
    }

    std::byte* entries_;
    std::byte* pages_;
    index_allocator refs_;
    index_allocator page_pool_;
    std::unique_ptr<granted_entry[]> granted_;
    std::unique_ptr<std::uint32_t[]> frame_grants_;
    std::uint64_t ends_ = 0;
    std::uint64_t end_refusals_ = 0;
};

/// One copy between local memory and a granted page (Xen's `struct gnttab_copy` with one side
/// a grant reference and the other local memory).
struct grant_copy_op {
    copy_direction direction = copy_direction::from_grant;
    grant_ref ref = 0;
    /// Offset within the granted page (not within the sub-page window) and byte count.
    std::uint16_t offset = 0;
    std::uint16_t length = 0;
    /// `length` bytes of this process's memory: the destination (from_grant) or source.
    std::byte* local = nullptr;
    /// Written by the copy.
    grant_status status = grant_status::okay;
};

class grant_copier;

/// A pinned grant: while it lives the entry carries `GTF_reading` (and `GTF_writing` for a
/// read-write pin), so the granting side cannot end the grant. Move-only; unpins on
/// destruction, and must not outlive the `grant_copier` that made it. Direct access bypasses
/// the copy discipline: the peer may change the bytes at any time, so read each field once and
/// validate the copy (the XSA-155 rule).
class grant_mapping {
public:
    grant_mapping() noexcept = default;
    grant_mapping(const grant_mapping&) = delete;
    grant_mapping& operator=(const grant_mapping&) = delete;
    // The moved-from mapping no longer holds the pin, so it must not keep a view of the page
    // either: `bytes()` is empty unless `ok()`.
    grant_mapping(grant_mapping&& o) noexcept
        : owner_(std::exchange(o.owner_, nullptr)), ref_(o.ref_), access_(o.access_),
          window_(std::exchange(o.window_, {})), window_offset_(o.window_offset_), status_(o.status_)
    {}
    grant_mapping& operator=(grant_mapping&& o) noexcept
    {
        if (this != &o) {
            unpin();
            owner_ = std::exchange(o.owner_, nullptr);
            ref_ = o.ref_;
            access_ = o.access_;
            window_ = std::exchange(o.window_, {});
            window_offset_ = o.window_offset_;
            status_ = o.status_;
        }
        return *this;
    }
    ~grant_mapping() { unpin(); }

    [[nodiscard]] grant_status status() const noexcept { return status_; }
    [[nodiscard]] bool ok() const noexcept { return status_ == grant_status::okay && owner_ != nullptr; }
    [[nodiscard]] grant_ref ref() const noexcept { return ref_; }
    /// The granted bytes (the whole page, or the sub-page window); empty unless `ok()`.
    [[nodiscard]] std::span<std::byte> bytes() const noexcept { return window_; }
    /// Where `bytes()` starts within the page.
    [[nodiscard]] std::uint16_t window_offset() const noexcept { return window_offset_; }

    /// Unpin now (the destructor does the same).
    void unpin() noexcept;

private:
    friend class grant_copier;
    grant_mapping(grant_status s) noexcept : status_(s) {}

    grant_copier* owner_ = nullptr;
    grant_ref ref_ = 0;
    grant_access access_ = grant_access::read_only;
    std::span<std::byte> window_;
    std::uint16_t window_offset_ = 0;
    grant_status status_ = grant_status::not_granted;
};

/// The copying side: copies from and to the pages a peer's `grant_table` granted to `self`.
///
/// Thread safety: every member may be called from several threads at once. Pins of one
/// reference are counted in a private per-reference record (Xen's active grant entry) guarded
/// by a spin lock that is held only to update the count and the shared in-use bits, never
/// across a copy; the peer cannot hold it. Progress: blocking only on another thread of this
/// process inside that short section; the peer can at most make a pin fail with `busy`.
class grant_copier {
public:
    /// Over the peer's entry array and page pool, acting as domain `self`.
    /// @throws std::invalid_argument if the entries are misaligned or either area is empty
    grant_copier(std::span<std::byte> entries, std::span<std::byte> pages, domain_id self)
        : entries_(entries.data()), pages_(pages.data()), refs_(checked_refs(entries, pages)),
          page_count_(static_cast<std::uint32_t>(pages.size() / grant_page_bytes)), self_(self),
          active_(std::make_unique<active_entry[]>(refs_))
    {}

    /// Over `area` laid out by `geometry` (entries, then pages).
    grant_copier(std::span<std::byte> area, const grant_geometry& geometry, domain_id self)
        : grant_copier(geometry.entries_of(area), geometry.pages_of(area), self)
    {}

    grant_copier(const grant_copier&) = delete;
    grant_copier& operator=(const grant_copier&) = delete;

    [[nodiscard]] std::uint32_t capacity() const noexcept { return refs_; }
    [[nodiscard]] std::uint32_t page_count() const noexcept { return page_count_; }
    [[nodiscard]] domain_id self() const noexcept { return self_; }

    /// Perform one copy; its status is stored in `op.status` and returned.
    grant_status copy(grant_copy_op& op) noexcept
    {
        op.status = copy_checked(op);
        return op.status;
    }

    /// Perform a batch of independent copies (like one `GNTTABOP_copy` hypercall): each
    /// gets its own status, a failed one does not stop the others. Returns how many succeeded.
    std::size_t copy(std::span<grant_copy_op> ops) noexcept
    {
        std::size_t ok = 0;
        for (auto& op : ops)
            ok += copy(op) == grant_status::okay ? 1u : 0u;
        return ok;
    }

    /// Pin grant `ref` for direct access (Xen's `GNTTABOP_map_grant_ref`): `read_write`
    /// needs a read-write grant. Check `ok()`/`status()` on the result.
    [[nodiscard]] grant_mapping try_map(grant_ref ref, grant_access access) noexcept
    {
        pinned p;
        const grant_status s = pin(ref, access == grant_access::read_write, p);
        if (s != grant_status::okay)
            return grant_mapping(s);
        grant_mapping m(grant_status::okay);
        m.owner_ = this;
        m.ref_ = ref;
        m.access_ = access;
        m.window_ = {page_ptr(p.frame) + p.win_offset, p.win_length};
        m.window_offset_ = p.win_offset;
        return m;
    }

private:
    friend class grant_mapping;

    // Xen's active grant entry: this side's private record of a pinned grant. `frame` and the
    // window are copied out of the shared entry once, on the first pin, and used for every
    // check and copy until the last unpin; the shared entry is not read again meanwhile.
    struct active_entry {
        std::atomic<bool> locked{false};
        std::uint16_t pins = 0;       // all pins; GTF_reading is set while non-zero
        std::uint16_t write_pins = 0; // read-write pins; GTF_writing is set while non-zero
        std::uint32_t frame = 0;
        std::uint16_t win_offset = 0;
        std::uint16_t win_length = 0;
    };

    struct pinned {
        std::uint32_t frame = 0;
        std::uint16_t win_offset = 0;
        std::uint16_t win_length = 0;
    };

    static std::uint32_t checked_refs(std::span<std::byte> entries, std::span<std::byte> pages)
    {
        detail::check_grant_spans(entries, pages);
        return static_cast<std::uint32_t>(entries.size() / sizeof(grant_entry));
    }

    [[nodiscard]] std::byte* page_ptr(std::uint32_t frame) const noexcept
    {
        return pages_ + std::size_t{frame} * grant_page_bytes;
    }

    // The per-reference lock only orders this process's threads against each other; the
    // acquire/release here pair with each other (the next locker sees the previous one's
    // pin counts and private copy), not with anything the peer does.
    static void lock(active_entry& a) noexcept
    {
        while (a.locked.exchange(true, std::memory_order_acquire))
            while (a.locked.load(std::memory_order_relaxed))
                detail::cpu_relax();
    }
    static void unlock(active_entry& a) noexcept { a.locked.store(false, std::memory_order_release); }

    // Set the in-use bits for a pin on the shared header, validating the header value the
    // compare-exchange succeeds on: the grant type, the grantee and (for writing) the
    // permission are those of the header at the instant the bits were set.
    grant_status mark_in_use(grant_ref ref, bool write, std::uint32_t& marked) noexcept
    {
        auto header = detail::entry_word(entries_, ref, offsetof(grant_entry, header));
        std::uint32_t cur = header.load(std::memory_order_relaxed); // validated and re-read by the CAS
        for (int attempt = 0; attempt < detail::grant_cas_attempts; ++attempt) {
            const std::uint16_t flags = header_flags(cur);
            if ((flags & gtf::type_mask) != gtf::permit_access)
                return grant_status::not_granted;
            if (header_domain(cur) != self_)
                return grant_status::wrong_domain;
            if (write && (flags & gtf::readonly) != 0)
                return grant_status::read_only;
            const std::uint32_t want = cur | gtf::reading | (write ? gtf::writing : 0u);
            // G2: acquire on success, pairs with the granting side's release store (G1).
            if (header.compare_exchange_strong(cur, want, std::memory_order_acquire, std::memory_order_relaxed)) {
                marked = want;
                return grant_status::okay;
            }
        }
        return grant_status::busy;
    }

    grant_status pin(grant_ref ref, bool write, pinned& out) noexcept
    {
        if (ref >= refs_)
            return grant_status::bad_ref;
        active_entry& a = active_[ref];
        lock(a);
        if (a.pins == UINT16_MAX) {
            unlock(a);
            return grant_status::too_many_pins;
        }
        if (a.pins == 0 || (write && a.write_pins == 0)) {
            std::uint32_t hdr = 0;
            const grant_status s = mark_in_use(ref, write, hdr);
            if (s != grant_status::okay) {
                unlock(a);
                return s;
            }
            if (a.pins == 0) {
                // Read the rest of the entry once, now that the in-use bit stops an honest
                // granter from ending (and so rewriting) it, as Xen reads the frame only
                // after setting GTF_reading.
                const std::uint32_t frame =
                    detail::entry_word(entries_, ref, offsetof(grant_entry, frame)).load(std::memory_order_relaxed);
                std::uint16_t off = 0;
                std::uint16_t len = static_cast<std::uint16_t>(grant_page_bytes);
                // The flags are those the compare-exchange validated, not a second read.
                if ((header_flags(hdr) & gtf::sub_page) != 0) {
                    off = detail::entry_half(entries_, ref, offsetof(grant_entry, sub_offset))
                              .load(std::memory_order_relaxed);
                    len = detail::entry_half(entries_, ref, offsetof(grant_entry, sub_length))
                              .load(std::memory_order_relaxed);
                }
                grant_status bad = grant_status::okay;
                if (frame >= page_count_)
                    bad = grant_status::bad_frame;
                else if (len == 0 || std::size_t{off} + len > grant_page_bytes)
                    bad = grant_status::bad_window;
                if (bad != grant_status::okay) {
                    // G3-style release of the bits just set; no page access happened.
                    detail::entry_word(entries_, ref, offsetof(grant_entry, header))
                        .fetch_and(~std::uint32_t{gtf::in_use}, std::memory_order_release);
                    unlock(a);
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
        out = {a.frame, a.win_offset, a.win_length};
        unlock(a);
        return grant_status::okay;
    }

    void unpin(grant_ref ref, bool write) noexcept
    {
        active_entry& a = active_[ref];
        lock(a);
        --a.pins;
        std::uint32_t clear = 0;
        if (write && --a.write_pins == 0)
            clear |= gtf::writing;
        if (a.pins == 0)
            clear |= gtf::reading;
        // G3: release, pairs with the granting side's acquire in try_end (G4): every access
        // this pin made to the page happens before the grant can be ended and the page reused.
        if (clear != 0)
            detail::entry_word(entries_, ref, offsetof(grant_entry, header))
                .fetch_and(~clear, std::memory_order_release);
        unlock(a);
    }

    grant_status copy_checked(const grant_copy_op& op) noexcept
    {
        if (op.length != 0 && op.local == nullptr)
            return grant_status::bad_argument;
        if (op.offset > grant_page_bytes || op.length > grant_page_bytes - op.offset)
            return grant_status::bad_offset;
        const bool write = op.direction == copy_direction::to_grant;
        pinned p;
        const grant_status s = pin(op.ref, write, p);
        if (s != grant_status::okay)
            return s;
        if (op.offset < p.win_offset || std::size_t{op.offset} + op.length > std::size_t{p.win_offset} + p.win_length) {
            unpin(op.ref, write);
            return grant_status::outside_grant;
        }
        std::byte* page = page_ptr(p.frame) + op.offset;
        if (op.length != 0) {
            if (write)
                std::memcpy(page, op.local, op.length);
            else
                std::memcpy(op.local, page, op.length);
        }
        unpin(op.ref, write);
        return grant_status::okay;
    }

    std::byte* entries_;
    std::byte* pages_;
    std::uint32_t refs_;
    std::uint32_t page_count_;
    domain_id self_;
    std::unique_ptr<active_entry[]> active_;
};

inline void grant_mapping::unpin() noexcept
{
    if (owner_ != nullptr)
        owner_->unpin(ref_, access_ == grant_access::read_write);
    owner_ = nullptr;
    window_ = {};
}

} // namespace xnv::mem
