// SPDX-License-Identifier: MIT
// netback's RX backlog (examples/netif/ref_backlog.hpp): order, wrap-around with pad records,
// the byte cap, failed fills, waiter registration and wake-up, and many producers against one
// consumer with every frame checked.

#include "counts.hpp"
#include "ref_backlog.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <array>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace xnv::example;

namespace {

// Fill a frame with bytes derived from a tag, and check them back.
auto filler(std::uint32_t tag)
{
    return [tag](std::span<std::byte> b) noexcept {
        for (std::size_t i = 0; i < b.size(); ++i)
            b[i] = static_cast<std::byte>((tag * 31 + i) & 0xFF);
        return true;
    };
}
bool holds(const backlog_frame& f, std::uint32_t tag)
{
    for (std::size_t i = 0; i < f.meta.size; ++i)
        if (f.data[i] != static_cast<std::byte>((tag * 31 + i) & 0xFF))
            return false;
    return true;
}
backlog_meta meta(std::uint32_t size, std::uint64_t at = 0) { return backlog_meta{size, 0, 0, 0, at}; }

} // namespace

TEST_CASE("backlog: a capacity below two maximal frames, or unaligned, or without waiters is refused")
{
    CHECK_THROWS_AS(rx_backlog(rx_backlog::min_capacity - rx_backlog::align, 1), std::invalid_argument);
    CHECK_THROWS_AS(rx_backlog(rx_backlog::min_capacity + 1, 1), std::invalid_argument);
    CHECK_THROWS_AS(rx_backlog(rx_backlog::min_capacity, 0), std::invalid_argument);
    CHECK_NOTHROW(rx_backlog(rx_backlog::min_capacity, 1));
}

TEST_CASE("backlog: frames come out in order with their metadata and bytes")
{
    rx_backlog b(rx_backlog::min_capacity, 4);
    CHECK(b.front().data == nullptr);
    CHECK(b.empty());
    for (std::uint32_t i = 0; i < 10; ++i) {
        backlog_meta m{60 + i, static_cast<std::uint16_t>(i), 1, static_cast<std::uint16_t>(1400 + i), 1000 + i};
        REQUIRE(b.try_enqueue(m, filler(i)) == enqueue_status::queued);
    }
    for (std::uint32_t i = 0; i < 10; ++i) {
        const backlog_frame f = b.front();
        REQUIRE(f.data != nullptr);
        CHECK(f.meta.size == 60 + i);
        CHECK(f.meta.flags == i);
        CHECK(f.meta.gso_type == 1);
        CHECK(f.meta.gso_size == 1400 + i);
        CHECK(f.meta.enqueued_ns == 1000 + i);
        CHECK(holds(f, i));
        b.pop();
    }
    CHECK(b.front().data == nullptr);
    CHECK(b.bytes_queued() == 0);
}

TEST_CASE("backlog: empty and oversized frames are refused without queuing")
{
    rx_backlog b(rx_backlog::min_capacity, 1);
    CHECK(b.try_enqueue(meta(0), filler(0)) == enqueue_status::too_large);
    CHECK(b.try_enqueue(meta(65536), filler(0)) == enqueue_status::too_large);
    CHECK(b.empty());
}

TEST_CASE("backlog: a failed fill queues nothing, even when it would have needed a pad")
{
    rx_backlog b(rx_backlog::min_capacity, 1);
    // Move the write position near the end so the next large frame needs a pad record.
    REQUIRE(b.try_enqueue(meta(65535), filler(1)) == enqueue_status::queued);
    REQUIRE(b.try_enqueue(meta(60000), filler(2)) == enqueue_status::queued);
    b.pop();
    const std::size_t before = b.bytes_queued();
    CHECK(b.try_enqueue(meta(65535), [](std::span<std::byte>) noexcept { return false; }) ==
          enqueue_status::fill_failed);
    CHECK(b.bytes_queued() == before);
    const backlog_frame f = b.front();
    REQUIRE(f.data != nullptr);
    CHECK(f.meta.size == 60000);
    CHECK(holds(f, 2));
}

TEST_CASE("backlog: the byte cap holds, frames wrap with a pad record and come out intact")
{
    rx_backlog b(rx_backlog::min_capacity, 1);
    std::uint32_t in = 0, out = 0;
    // Sizes chosen so records rarely fit exactly before the end: every wrap needs a pad.
    const std::uint32_t sizes[] = {40000, 1, 65535, 777, 30000, 4097, 64, 65000};
    for (int round = 0; round < 200; ++round) {
        const std::uint32_t sz = sizes[static_cast<std::size_t>(round) % 8];
        while (b.try_enqueue(meta(sz), filler(in)) != enqueue_status::queued) {
            // Full: the cap is respected and the consumer makes room.
            CHECK(b.bytes_queued() + rx_backlog::record_bytes(sz) > b.capacity() - rx_backlog::max_record);
            const backlog_frame f = b.front();
            REQUIRE(f.data != nullptr);
            CHECK(holds(f, out));
            ++out;
            b.pop();
        }
        ++in;
        CHECK(b.bytes_queued() <= b.capacity());
    }
    while (b.front().data != nullptr) {
        CHECK(holds(b.front(), out));
        ++out;
        b.pop();
    }
    CHECK(in == out);
}

TEST_CASE("backlog: an empty backlog takes a maximal frame wherever its free space starts")
{
    rx_backlog b(rx_backlog::min_capacity, 1);
    for (std::uint32_t offset = 1; offset < 38; ++offset) {
        REQUIRE(b.try_enqueue(meta(offset * 1700), filler(offset)) == enqueue_status::queued);
        b.pop();
        CHECK(b.empty());
        REQUIRE(b.try_enqueue(meta(65535), filler(offset)) == enqueue_status::queued);
        CHECK(holds(b.front(), offset));
        b.pop();
    }
}

TEST_CASE("backlog: a producer that found no room is handed back once the consumer frees space")
{
    rx_backlog b(rx_backlog::min_capacity, 130);
    while (b.try_enqueue(meta(30000), filler(0)) == enqueue_status::queued) {
    }
    CHECK(b.try_enqueue(meta(30000), filler(0)) == enqueue_status::no_room);
    CHECK_FALSE(b.wait_for_room(7, 30000));
    CHECK_FALSE(b.wait_for_room(129, 30000));
    CHECK(b.has_waiters());
    std::set<std::uint32_t> woken;
    b.take_waiters([&](std::uint32_t id) { woken.insert(id); });
    CHECK(woken == std::set<std::uint32_t>{7, 129});
    CHECK_FALSE(b.has_waiters());
    woken.clear();
    b.take_waiters([&](std::uint32_t id) { woken.insert(id); });
    CHECK(woken.empty()); // handed back once
    b.pop();
    CHECK(b.wait_for_room(3, 30000)); // room now: retry at once
}

TEST_CASE("backlog: an id outside the waiter range is told to retry rather than left waiting forever")
{
    rx_backlog b(rx_backlog::min_capacity, 2);
    CHECK(b.wait_for_room(2, 100));
    CHECK_FALSE(b.has_waiters());
}

TEST_CASE("backlog: four producers and one consumer, every frame intact and in per-producer order")
{
    constexpr std::uint32_t producers = 4;
    const auto per = static_cast<std::uint32_t>(xnv::test::scaled_count("XNV_TEST_BACKLOG_FRAMES", 20000, 3000));
    rx_backlog b(rx_backlog::min_capacity, producers);
    std::atomic<std::uint32_t> wakeups{0};
    std::vector<std::thread> ts;
    std::atomic<bool> go{false};
    std::array<std::atomic<bool>, producers> wake_flag{};
    for (std::uint32_t p = 0; p < producers; ++p)
        ts.emplace_back([&, p] {
            while (!go.load())
                std::this_thread::yield();
            for (std::uint32_t i = 0; i < per;) {
                const std::uint32_t tag = p << 24 | i;
                const std::uint32_t size = 1 + (i * 7919 + p * 104729) % 9000;
                if (b.try_enqueue(meta(size), filler(tag)) == enqueue_status::queued) {
                    ++i;
                    continue;
                }
                if (b.wait_for_room(p, size))
                    continue;
                // Sleep until the consumer hands the registration back.
                while (!wake_flag[p].exchange(false))
                    std::this_thread::yield();
            }
        });
    std::array<std::uint32_t, producers> next{};
    std::uint32_t bad = 0;
    std::uint32_t total = 0;
    go = true;
    while (total < producers * per) {
        const backlog_frame f = b.front();
        if (f.data == nullptr) {
            std::this_thread::yield();
            continue;
        }
        std::uint32_t tag = 0;
        // The frame's first bytes identify it: recover the tag by trying the expected one.
        bool found = false;
        for (std::uint32_t p = 0; p < producers && !found; ++p) {
            const std::uint32_t t = p << 24 | next[p];
            const std::uint32_t size = 1 + (next[p] * 7919 + p * 104729) % 9000;
            if (next[p] < per && f.meta.size == size && holds(f, t)) {
                tag = t;
                ++next[p];
                found = true;
            }
        }
        bad += found ? 0u : 1u;
        static_cast<void>(tag);
        b.pop();
        ++total;
        b.take_waiters([&](std::uint32_t id) {
            wakeups.fetch_add(1);
            wake_flag[id].store(true);
        });
    }
    for (auto& t : ts)
        t.join();
    CHECK(bad == 0);
    for (std::uint32_t p = 0; p < producers; ++p)
        CHECK(next[p] == per);
    CHECK(b.empty());
}
