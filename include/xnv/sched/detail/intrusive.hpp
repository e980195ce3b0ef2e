// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The two intrusive lists a tasklet worker's run queues are built from: a multi-producer
/// hand-off stack that a consumer empties in one exchange (the shape of Linux's `llist`), and a
/// consumer-private FIFO. Both link nodes through one `T* T::*` member, so a node can be in at
/// most one list at a time; for tasklets the SCHED bit guarantees exactly that.

#include <atomic>

namespace xnv::detail {

/// A FIFO of nodes owned by one thread. No synchronisation: the owner alone touches it.
template <class T, T* T::*Next>
class intrusive_fifo {
public:
    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }

    void push_back(T* n) noexcept
    {
        n->*Next = nullptr;
        if (tail_ != nullptr)
            tail_->*Next = n;
        else
            head_ = n;
        tail_ = n;
    }

    [[nodiscard]] T* pop_front() noexcept
    {
        T* n = head_;
        if (n != nullptr) {
            head_ = n->*Next;
            if (head_ == nullptr)
                tail_ = nullptr;
        }
        return n;
    }

    /// Move every node of `other` behind this list's nodes, keeping their order.
    void splice_back(intrusive_fifo& other) noexcept
    {
        if (other.head_ == nullptr)
            return;
        if (tail_ != nullptr)
            tail_->*Next = other.head_;
        else
            head_ = other.head_;
        tail_ = other.tail_;
        other.head_ = other.tail_ = nullptr;
    }

    /// Append a chain linked newest-first (what `mpsc_stack::take_all` returns), reversing it so
    /// the oldest node comes out first.
    void append_reversed(T* newest_first) noexcept
    {
        intrusive_fifo batch;
        T* prev = nullptr;
        T* last = newest_first; // becomes the batch's tail once reversed
        while (newest_first != nullptr) {
            T* next = newest_first->*Next;
            newest_first->*Next = prev;
            prev = newest_first;
            newest_first = next;
        }
        batch.head_ = prev;
        batch.tail_ = last;
        splice_back(batch);
    }

private:
    T* head_ = nullptr;
    T* tail_ = nullptr;
};

/// Multi-producer, single-consumer hand-off: producers push one node each with a CAS loop
/// (lock-free); the consumer takes the whole chain with one exchange. There is no ABA hazard
/// because the consumer never pops a single node by CAS.
///
/// Memory order (edge H1): a push's successful CAS is a release (seq_cst, see below) that
/// publishes the node's link field and everything the pusher wrote before; `take_all`'s
/// exchange is an acquire that reads the newest head. Later pushes are RMWs on the same word,
/// so they extend the release sequence of earlier ones and the one acquire synchronises with
/// every push it collects.
///
/// The CAS is seq_cst, not merely release, because the worker's sleep protocol (edge W1 in
/// tasklet.hpp) needs a store-load pair: push the node, then load the worker's sleeping flag;
/// the sleeping worker stores its flag, then loads this head. With both sides seq_cst, one of
/// them sees the other's store, so a push never goes unnoticed by a worker about to sleep.
template <class T, T* T::*Next>
class mpsc_stack {
public:
    /// @pre `n` is in no other list. Any thread. Lock-free.
    void push(T* n) noexcept
    {
        T* head = head_.load(std::memory_order_relaxed);
        do {
            n->*Next = head;
        } while (!head_.compare_exchange_weak(head, n, std::memory_order_seq_cst, std::memory_order_relaxed));
    }

    /// Take every node pushed so far, newest first. Consumer thread only. Wait-free.
    [[nodiscard]] T* take_all() noexcept
    {
        if (head_.load(std::memory_order_relaxed) == nullptr)
            return nullptr;
        return head_.exchange(nullptr, std::memory_order_acquire); // H1: pairs with push's CAS
    }

    /// True if a push is visible. seq_cst: the load half of W1's store-load pair.
    [[nodiscard]] bool maybe_nonempty() const noexcept { return head_.load(std::memory_order_seq_cst) != nullptr; }

private:
    std::atomic<T*> head_{nullptr};
};

} // namespace xnv::detail
