// SPDX-License-Identifier: MIT
#pragma once
// A source whose order can be checked: a producer thread streams sequence numbers through an
// xnv ring (netfront's side) to a tasklet (netback's side) that checks each arrives exactly once
// and in order, answering each with a response so the producer gets its slots back.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <thread>

#include <xnv/ring/ring.hpp>
#include <xnv/sched/tasklet.hpp>

namespace sched_test {

using xnv::poll_result;
using xnv::tasklet;

using seq_ring_front = xnv::front_ring<std::uint64_t, std::uint64_t>;
using seq_ring_back = xnv::back_ring<std::uint64_t, std::uint64_t>;

struct sequenced_source {
    alignas(64) std::array<std::byte, 4096> page{};
    seq_ring_front front{xnv::ring_init, std::span(page)};
    seq_ring_back back{std::span(page)};
    std::uint64_t expected = 0; // written only by the tasklet (one run at a time)
    std::atomic<std::uint64_t> consumed{0};
    std::atomic<std::uint64_t> errors{0};
    std::unique_ptr<tasklet> task;

    poll_result poll(std::uint32_t budget)
    {
        std::uint32_t done = 0;
        while (done < budget) {
            std::uint64_t v = 0;
            if (back.try_consume(v).count == 0)
                break;
            if (v != expected)
                errors.fetch_add(1, std::memory_order_relaxed);
            expected = v + 1;
            (void)back.try_produce(v);
            ++done;
        }
        (void)back.push();
        consumed.fetch_add(done, std::memory_order_relaxed);
        if (done == budget || back.final_check().count != 0)
            return poll_result::more(done);
        return poll_result::finished(done);
    }

    void produce(std::uint64_t n)
    {
        std::uint64_t next = 0;
        while (next < n) {
            (void)front.discard();
            while (next < n && front.try_produce(next))
                ++next;
            if (front.push())
                task->schedule();
            if (front.full())
                std::this_thread::yield();
        }
    }
};

} // namespace sched_test
