// SPDX-License-Identifier: MIT
#pragma once

// netback's RX backlog of one destination queue: the frames switched to that queue wait here,
// already copied out of the sender's granted pages, until the queue's RX tasklet copies them
// into buffers the destination guest posted. It is a byte ring of a fixed capacity (the
// `--rx-queue-bytes` cap), allocated once: the memory a vif queue can pin in netback is exactly
// that, whatever its guest does.
//
// Producers are the TX tasklets of every vif that switches a frame here, on any worker; they
// are serialised by a short spin lock held while one frame is copied in (Linux netback's
// rx_queue takes a spin lock per skb too). The consumer is the queue's RX tasklet alone and
// takes no lock. A producer that finds no room registers itself as a waiter and is scheduled
// again by the consumer once it has freed space: back-pressure, not drops.
//
// Records are `header_bytes` of metadata then the frame, rounded up to `align` bytes; a record
// never wraps around the end of the ring: when the space left before the end is too small, a
// pad record fills it and the frame goes to the start.
//
// Memory-order edges:
//  B1 producer: the record's bytes (header and frame), then a release store of `tail_`.
//  B2 consumer: acquire load of `tail_` (pairs with B1) before reading records up to it.
//  B3 consumer: after it has read a record, a seq_cst store of `head_` (release semantics)...
//  B4 producer: ...paired with the acquire (seq_cst) load of `head_` before it reuses the space,
//     so a frame is never overwritten while the RX tasklet still copies it.
//  B5 waiters (a Dekker pair): the producer sets its waiter bit (seq_cst RMW) then re-loads
//     `head_` (seq_cst); the consumer stores `head_` (B3, seq_cst) then loads the waiter words
//     (seq_cst). In the single total order of seq_cst operations one side sees the other: either
//     the producer sees the freed space and retries, or the consumer sees the bit and wakes it.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace xnv::example {

/// What travels with a frame through the backlog.
struct backlog_meta {
    std::uint32_t size = 0;      ///< frame bytes, 1..65535
    std::uint16_t flags = 0;     ///< netif rxf:: checksum flags to report to the receiver
    std::uint8_t gso_type = 0;   ///< netif gso_type::, none when not a GSO frame
    std::uint16_t gso_size = 0;  ///< the MSS of a GSO frame
    std::uint64_t enqueued_ns = 0; ///< when it was queued (for `--rx-expire-ms`)
};

/// One queued frame as the consumer sees it: metadata and the bytes, valid until `pop`.
struct backlog_frame {
    backlog_meta meta;
    const std::byte* data = nullptr;
};

/// Outcome of `rx_backlog::try_enqueue`.
enum class enqueue_status : std::uint8_t {
    queued,      ///< the frame is in the backlog
    no_room,     ///< not enough space now: register with `wait_for_room` and retry when woken
    fill_failed, ///< the fill callback reported failure (a bad grant): nothing was queued
    too_large,   ///< larger than any frame the backlog accepts (caller's mistake)
};

/// A bounded byte ring of frames: many producers (serialised by a spin lock), one consumer.
///
/// Thread safety: `try_enqueue` and `wait_for_room` from any thread; `front`, `pop` and
/// `take_waiters` from one consumer thread at a time (the RX tasklet, which never runs
/// concurrently with itself); `bytes_queued`/`empty` are approximate from any thread.
/// Progress: the consumer side is wait-free; producers spin only on each other.
class rx_backlog {
public:
    static constexpr std::size_t align = 32;
    static constexpr std::size_t header_bytes = 32;
    static constexpr std::size_t max_frame = 65535;
    /// The largest record: header plus the largest frame, rounded up.
    static constexpr std::size_t max_record = (header_bytes + max_frame + align - 1) / align * align;
    /// The smallest capacity: twice the largest record, so that an empty backlog always takes a
    /// frame, wherever its free space starts (the pad before the end plus the record fit).
    static constexpr std::size_t min_capacity = 2 * max_record;

    /// @param capacity bytes of the ring, a multiple of `align`, at least `min_capacity`
    /// @param waiters  producer ids `wait_for_room` accepts: 0 .. waiters-1
    /// @throws std::invalid_argument on a capacity outside those rules or zero waiters
    rx_backlog(std::size_t capacity, std::uint32_t waiters)
        : cap_(capacity), words_((waiters + 63) / 64), nwaiters_(waiters)
    {
        if (capacity < min_capacity || capacity % align != 0)
            throw std::invalid_argument("rx_backlog: capacity must be a multiple of " + std::to_string(align) +
                                        " bytes and at least " + std::to_string(min_capacity) + ", got " +
                                        std::to_string(capacity));
        if (waiters == 0)
            throw std::invalid_argument("rx_backlog: needs room for at least one waiter");
        // Zero-filled once here: the whole ring is touched up front, so the process's resident
        // memory does not creep up later as the ring is used for the first time.
        buf_ = std::make_unique<std::byte[]>(cap_);
        waiting_ = std::make_unique<std::atomic<std::uint64_t>[]>(words_);
        for (std::size_t i = 0; i < words_; ++i)
            waiting_[i].store(0, std::memory_order_relaxed);
    }

    rx_backlog(const rx_backlog&) = delete;
    rx_backlog& operator=(const rx_backlog&) = delete;

    [[nodiscard]] std::size_t capacity() const noexcept { return cap_; }

    /// Bytes a frame of `size` bytes occupies in the ring.
    [[nodiscard]] static constexpr std::size_t record_bytes(std::size_t size) noexcept
    {
        return (header_bytes + size + align - 1) / align * align;
    }

    // ------------------------------------------------------------------ producers

    /// Queue a frame of `meta.size` bytes whose bytes `fill(std::span<std::byte>)` writes (it
    /// returns false if it could not, e.g. a grant copy failed; nothing is queued then). The
    /// lock is held while `fill` runs: keep it to one copy.
    template <class Fill>
    [[nodiscard]] enqueue_status try_enqueue(const backlog_meta& meta, Fill&& fill) noexcept(noexcept(fill(std::span<std::byte>{})))
    {
        if (meta.size == 0 || meta.size > max_frame)
            return enqueue_status::too_large;
        const std::size_t rec = record_bytes(meta.size);
        lock();
        const std::uint64_t tail = tail_.load(std::memory_order_relaxed); // only producers write it, under the lock
        const std::uint64_t head = head_.load(std::memory_order_seq_cst); // B4
        const std::size_t pos = static_cast<std::size_t>(tail % cap_);
        const std::size_t end_room = cap_ - pos;
        const std::size_t need = end_room >= rec ? rec : end_room + rec;
        if (cap_ - static_cast<std::size_t>(tail - head) < need) {
            unlock();
            return enqueue_status::no_room;
        }
        std::size_t at = pos;
        std::uint64_t new_tail = tail;
        if (end_room < rec) {
            write_header(pos, record_header{static_cast<std::uint32_t>(end_room), 0, 0, kind_pad, 0, 0, 0});
            at = 0;
            new_tail += end_room;
        }
        if (!fill(std::span<std::byte>(buf_.get() + at + header_bytes, meta.size))) {
            // The pad (if any) is not published either: tail does not move.
            unlock();
            return enqueue_status::fill_failed;
        }
        write_header(at, record_header{meta.size, meta.flags, meta.gso_size, kind_frame, meta.gso_type, 0,
                                       meta.enqueued_ns});
        new_tail += rec;
        tail_.store(new_tail, std::memory_order_release); // B1
        unlock();
        return enqueue_status::queued;
    }

    /// After `no_room`: register producer `id` to be handed back by `take_waiters` once the
    /// consumer frees space. Returns true if a frame of `size` bytes fits already (the space
    /// was freed in between): retry at once (the registration stays; a spare wake-up is
    /// harmless). @pre `id` < the constructor's `waiters`.
    [[nodiscard]] bool wait_for_room(std::uint32_t id, std::uint32_t size) noexcept
    {
        if (id >= nwaiters_)
            return true; // not registrable: let the caller retry rather than sleep forever
        waiting_[id / 64].fetch_or(std::uint64_t{1} << (id % 64), std::memory_order_seq_cst); // B5
        const std::uint64_t head = head_.load(std::memory_order_seq_cst);                   // B5
        const std::uint64_t tail = tail_.load(std::memory_order_relaxed); // a hint: producers may race
        const std::size_t rec = record_bytes(size);
        const std::size_t end_room = cap_ - static_cast<std::size_t>(tail % cap_);
        const std::size_t need = end_room >= rec ? rec : end_room + rec;
        return cap_ - static_cast<std::size_t>(tail - head) >= need;
    }

    // ------------------------------------------------------------------ consumer

    /// The oldest frame, or a frame with `data == nullptr` when the backlog is empty. Skips
    /// (and frees) pad records. Consumer only.
    [[nodiscard]] backlog_frame front() noexcept
    {
        for (;;) {
            const std::uint64_t head = head_.load(std::memory_order_relaxed); // only the consumer writes it
            if (head == tail_.load(std::memory_order_acquire))               // B2
                return {};
            const std::size_t pos = static_cast<std::size_t>(head % cap_);
            const record_header h = read_header(pos);
            if (h.kind == kind_pad) {
                head_.store(head + h.size, std::memory_order_seq_cst); // B3
                continue;
            }
            return {backlog_meta{h.size, h.flags, h.gso_type, h.gso_size, h.enqueued_ns},
                    buf_.get() + pos + header_bytes};
        }
    }

    /// Free the frame `front` returned. Consumer only.
    void pop() noexcept
    {
        const std::uint64_t head = head_.load(std::memory_order_relaxed);
        const record_header h = read_header(static_cast<std::size_t>(head % cap_));
        head_.store(head + record_bytes(h.size), std::memory_order_seq_cst); // B3
    }

    /// Hand every registered waiter id to `wake(std::uint32_t)` and unregister it. Call after
    /// freeing space (B5). Consumer (or a teardown that owns the backlog).
    template <class Wake>
    void take_waiters(Wake&& wake)
    {
        for (std::size_t w = 0; w < words_; ++w) {
            if (waiting_[w].load(std::memory_order_seq_cst) == 0) // B5
                continue;
            std::uint64_t bits = waiting_[w].exchange(0, std::memory_order_seq_cst);
            while (bits != 0) {
                const int b = __builtin_ctzll(bits);
                bits &= bits - 1;
                wake(static_cast<std::uint32_t>(w * 64 + static_cast<std::size_t>(b)));
            }
        }
    }

    /// Whether any producer waits for room (approximate).
    [[nodiscard]] bool has_waiters() const noexcept
    {
        for (std::size_t w = 0; w < words_; ++w)
            if (waiting_[w].load(std::memory_order_relaxed) != 0)
                return true;
        return false;
    }

    /// Bytes occupied (records, pads included); approximate from any thread.
    [[nodiscard]] std::size_t bytes_queued() const noexcept
    {
        const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
        const std::uint64_t head = head_.load(std::memory_order_relaxed);
        return tail > head ? static_cast<std::size_t>(tail - head) : 0;
    }
    [[nodiscard]] bool empty() const noexcept { return bytes_queued() == 0; }

private:
    static constexpr std::uint8_t kind_frame = 1;
    static constexpr std::uint8_t kind_pad = 2;

    struct record_header {
        std::uint32_t size; // frame bytes, or the pad's length
        std::uint16_t flags;
        std::uint16_t gso_size;
        std::uint8_t kind;
        std::uint8_t gso_type;
        std::uint16_t reserved;
        std::uint64_t enqueued_ns;
    };
    static_assert(sizeof(record_header) <= header_bytes);

    void write_header(std::size_t pos, const record_header& h) noexcept
    {
        std::memcpy(buf_.get() + pos, &h, sizeof h);
    }
    [[nodiscard]] record_header read_header(std::size_t pos) const noexcept
    {
        record_header h;
        std::memcpy(&h, buf_.get() + pos, sizeof h);
        return h;
    }

    // The producer lock: a test-and-test-and-set spin lock. Its acquire/release pair orders one
    // producer's tail update before the next producer's read of it; the consumer never takes it.
    void lock() noexcept
    {
        while (locked_.exchange(true, std::memory_order_acquire))
            while (locked_.load(std::memory_order_relaxed))
                relax();
    }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }
    static void relax() noexcept
    {
#if defined(__x86_64__) || defined(__i386__)
        _mm_pause();
#endif
    }

    std::size_t cap_;
    std::unique_ptr<std::byte[]> buf_;
    std::size_t words_;
    std::uint32_t nwaiters_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> waiting_;
    alignas(64) std::atomic<bool> locked_{false};
    alignas(64) std::atomic<std::uint64_t> tail_{0};
    alignas(64) std::atomic<std::uint64_t> head_{0};
};

} // namespace xnv::example
