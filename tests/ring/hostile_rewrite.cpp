// SPDX-License-Identifier: MIT
// A hostile peer that keeps rewriting slots it has already published while the consumer reads
// them (the XSA-155 double-fetch scenario). The consumer copies each entry out once and
// validates the copy; every copy must be made of words someone wrote whole, and only copies the
// producer wrote whole may pass validation.

#include <doctest/doctest.h>

#include "support.hpp"

#include <atomic>
#include <thread>
#include <vector>

namespace {

// Two self-checking 8-byte words: the value in the high half, a check of (value, lane) in the
// low half. Each word is written with one 8-byte store; the entry as a whole is not atomic.
struct guarded {
    std::uint64_t a;
    std::uint64_t b;
};

constexpr std::uint32_t check_of(std::uint32_t value, unsigned lane) noexcept
{
    return (value * 0x9E3779B1u) ^ (lane ? 0xA5A5A5A5u : 0x5A5A5A5Au);
}
constexpr std::uint64_t word_of(std::uint32_t value, unsigned lane) noexcept
{
    return (std::uint64_t{value} << 32) | check_of(value, lane);
}
constexpr std::uint32_t value_of(std::uint64_t w) noexcept
{
    return static_cast<std::uint32_t>(w >> 32);
}
constexpr bool word_valid(std::uint64_t w, unsigned lane) noexcept
{
    return static_cast<std::uint32_t>(w) == check_of(value_of(w), lane);
}

// The consumer's rule, applied to its private copy only.
constexpr bool accept(const guarded& copy) noexcept
{
    return word_valid(copy.a, 0) && word_valid(copy.b, 1) && value_of(copy.a) == value_of(copy.b);
}

// Attacker words carry the top bit in their value; a third of them have a corrupted check.
constexpr std::uint64_t attacker_word(std::uint32_t counter, unsigned lane) noexcept
{
    const std::uint32_t value = 0x80000000u | (counter & 0x7FFFFFFFu);
    const std::uint64_t w = word_of(value, lane);
    return counter % 3 == 0 ? w ^ 1u : w;
}
constexpr bool is_attacker_word(std::uint64_t w, unsigned lane) noexcept
{
    return (value_of(w) & 0x80000000u) != 0 && (word_valid(w, lane) || word_valid(w ^ 1u, lane));
}

constexpr std::uint32_t batch = 8;
// Positions the attacker never touches: those copies must always pass.
constexpr bool attacked(std::uint32_t seq) noexcept
{
    return seq % 4 != 0;
}

struct record {
    guarded copy;
    bool accepted;
    bool changed_after_copy;
};

template <class L> void run_rewrite_attack(std::uint32_t start, std::uint32_t batches)
{
    constexpr std::uint32_t entries = 16;
    xnv_test::aligned_region mem(xnv::ring_bytes_for<guarded, guarded, L>(entries));
    xnv::front_ring<guarded, guarded, L> front(xnv::ring_init, mem.span(), start);
    xnv::back_ring<guarded, guarded, L> back(mem.span(), start);
    auto slot_word = [&](std::uint32_t seq, unsigned lane) {
        std::byte* slot = mem.data() + L::header_bytes + ((start + seq) & (entries - 1)) * sizeof(guarded);
        return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(slot + 8 * lane));
    };

    std::atomic<std::uint32_t> published{0}, attacked_batches{0}, consumed_batches{0};
    std::atomic<bool> failed{false};
    std::vector<record> log(std::size_t{batches} * batch);
    std::uint32_t attacker_writes = 0;

    std::thread producer([&] {
        for (std::uint32_t b = 0; b < batches && !failed; ++b) {
            while (front.free_slots() < batch && !failed) {
                if (!front.discard().ok())
                    failed = true;
                std::this_thread::yield();
            }
            for (std::uint32_t i = 0; i < batch; ++i) {
                const std::uint32_t seq = b * batch + i;
                if (!front.try_produce(guarded{word_of(seq, 0), word_of(seq, 1)}))
                    failed = true;
            }
            (void)front.push();
            published.store(b + 1, std::memory_order_release);
        }
    });

    std::thread attacker([&] {
        std::uint32_t counter = 1;
        for (std::uint32_t b = 0; b < batches && !failed; ++b) {
            while (published.load(std::memory_order_acquire) <= b && !failed)
                std::this_thread::yield();
            // Keep rewriting batch b until the consumer has finished with it; the first full
            // pass happens before the consumer starts, every later one races with its reads.
            for (bool first = true; first || consumed_batches.load(std::memory_order_acquire) <= b; first = false) {
                if (failed)
                    return;
                for (std::uint32_t i = 0; i < batch; ++i) {
                    const std::uint32_t seq = b * batch + i;
                    if (!attacked(seq))
                        continue;
                    const unsigned lane = counter % 2;
                    slot_word(seq, lane).store(attacker_word(counter, lane), std::memory_order_relaxed);
                    ++counter;
                    ++attacker_writes;
                }
                if (first)
                    attacked_batches.store(b + 1, std::memory_order_release);
                std::this_thread::yield(); // two cores, three threads: let the others run
            }
        }
    });

    std::thread consumer([&] {
        for (std::uint32_t b = 0; b < batches && !failed; ++b) {
            while (attacked_batches.load(std::memory_order_acquire) <= b && !failed)
                std::this_thread::yield();
            for (std::uint32_t i = 0; i < batch; ++i) {
                record& r = log[b * batch + i];
                const xnv::ring_count c = back.try_consume(r.copy);
                if (c.count != 1) {
                    failed = true;
                    return;
                }
                r.accepted = accept(r.copy);
                // The shared slot may already hold something else: the verdict stands on the copy.
                const std::uint32_t seq = b * batch + i;
                r.changed_after_copy = slot_word(seq, 0).load(std::memory_order_relaxed) != r.copy.a ||
                                       slot_word(seq, 1).load(std::memory_order_relaxed) != r.copy.b;
                std::this_thread::yield();
            }
            consumed_batches.store(b + 1, std::memory_order_release);
            back.commit(batch); // answer without writing: the front only needs its slots back
            (void)back.push();
        }
    });

    producer.join();
    attacker.join();
    consumer.join();
    REQUIRE_FALSE(failed.load());

    std::uint32_t torn = 0, wrongly_accepted = 0, wrongly_rejected = 0, changed = 0, accepted_n = 0;
    for (std::uint32_t seq = 0; seq < batches * batch; ++seq) {
        const record& r = log[seq];
        const bool a_ok = r.copy.a == word_of(seq, 0) || is_attacker_word(r.copy.a, 0);
        const bool b_ok = r.copy.b == word_of(seq, 1) || is_attacker_word(r.copy.b, 1);
        torn += !(a_ok && b_ok);
        const bool producers_whole = r.copy.a == word_of(seq, 0) && r.copy.b == word_of(seq, 1);
        wrongly_accepted += r.accepted && !producers_whole;
        // Untouched positions must pass; attacked ones had an attacker word in place before
        // the consumer started, and nothing ever writes the producer's word back.
        wrongly_rejected += !r.accepted && !attacked(seq);
        wrongly_accepted += r.accepted && attacked(seq);
        changed += r.changed_after_copy;
        accepted_n += r.accepted;
    }
    MESSAGE("attacker writes: " << attacker_writes << ", slots rewritten right after being copied: " << changed);
    CHECK(torn == 0);
    CHECK(wrongly_accepted == 0);
    CHECK(wrongly_rejected == 0);
    CHECK(accepted_n == batches * batch / 4);
    CHECK(back.error() == xnv::ring_error::none);
}

TEST_CASE_TEMPLATE("a peer rewriting published slots cannot get an inconsistent copy accepted", L, xnv::layout::xen_abi,
                   xnv::layout::padded)
{
    SUBCASE("from index 0")
    {
        run_rewrite_attack<L>(0, 150);
    }
    SUBCASE("across the 2^32 wrap")
    {
        run_rewrite_attack<L>(0xFFFFFF00u, 150);
    }
}

} // namespace
