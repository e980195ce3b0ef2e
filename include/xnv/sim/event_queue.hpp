// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The discrete-event queue: events ordered by (time, sequence number), where the sequence
/// number is the order of `push` calls. Two events at the same time therefore come out in the
/// order they were pushed, on every platform and standard library, which is what makes a
/// simulation reproducible bit for bit.

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include <xnv/clock.hpp>

namespace xnv::sim {

/// A min-priority queue of `(time, payload)` keyed by `(time, push order)`.
///
/// Thread safety: none. Complexity: push and pop O(log n); storage grows to the largest number
/// of simultaneously pending events and is reused afterwards.
template <class Payload>
class event_queue {
public:
    struct entry {
        nanos time;
        std::uint64_t sequence;
        Payload payload;
    };

    /// Schedules `payload` at `time`. Ties with earlier pushes at the same time come after them.
    void push(nanos time, Payload payload)
    {
        heap_.push_back(entry{time, next_sequence_++, std::move(payload)});
        std::push_heap(heap_.begin(), heap_.end(), later{});
    }

    /// The earliest entry. @pre !empty().
    [[nodiscard]] const entry& top() const noexcept { return heap_.front(); }

    /// Removes and returns the earliest entry. @pre !empty().
    entry pop()
    {
        std::pop_heap(heap_.begin(), heap_.end(), later{});
        entry e = std::move(heap_.back());
        heap_.pop_back();
        return e;
    }

    [[nodiscard]] bool empty() const noexcept { return heap_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return heap_.size(); }
    /// How many events were ever pushed.
    [[nodiscard]] std::uint64_t pushed() const noexcept { return next_sequence_; }

private:
    // The heap is a max-heap under `later`, i.e. the earliest (time, sequence) sits on top.
    // The key is unique (sequence numbers never repeat), so the pop order is fully determined
    // by the keys, whatever order the heap algorithm shuffles entries in.
    struct later {
        bool operator()(const entry& a, const entry& b) const noexcept
        {
            return a.time != b.time ? a.time > b.time : a.sequence > b.sequence;
        }
    };

    std::vector<entry> heap_;
    std::uint64_t next_sequence_ = 0;
};

} // namespace xnv::sim
