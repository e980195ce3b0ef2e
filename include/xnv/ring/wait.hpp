// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <ctime>
#include <thread>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace xnv {

/// What a consumer does while its ring is empty.
///
/// `wait(word, seen, timeout)` may return at any time (spuriously, after a pause, on wake-up);
/// the caller re-checks the ring. `wake(word)` is called by the producer after a publication
/// that its notification hold-off says the consumer must hear about. `sleeps` says whether
/// the policy can block: only then does the consumer arm its event index before waiting.
template <class W>
concept wait_policy =
    requires(W w, std::uint32_t* word, std::uint32_t seen, std::chrono::nanoseconds timeout) {
        { w.wait(word, seen, timeout) } noexcept;
        { w.wake(word) } noexcept;
        { W::sleeps } -> std::convertible_to<bool>;
    };

/// One CPU relaxation hint (`pause` on x86, `yield` on AArch64).
inline void cpu_relax() noexcept
{
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

namespace detail {
inline long futex(std::uint32_t* word, int op, std::uint32_t val, const timespec* ts) noexcept
{
    return ::syscall(SYS_futex, word, op, val, ts, nullptr, 0);
}
} // namespace detail

namespace wait {

/// Busy-poll with nothing in between: the lowest wake-up latency, one CPU burned.
struct spin {
    static constexpr bool sleeps = false;
    void wait(std::uint32_t*, std::uint32_t, std::chrono::nanoseconds) noexcept {}
    void wake(std::uint32_t*) noexcept {}
};

/// Busy-poll with a CPU pause per check, yielding the CPU every `yield_every` checks (0: never)
/// so a consumer sharing a core with its producer still lets it run.
struct spin_pause {
    static constexpr bool sleeps = false;
    unsigned yield_every = 1024;
    unsigned checks = 0;
    void wait(std::uint32_t*, std::uint32_t, std::chrono::nanoseconds) noexcept
    {
        cpu_relax();
        // A compare instead of a modulo: no division per check, and none by zero.
        if (++checks == yield_every) {
            checks = 0;
            std::this_thread::yield();
        }
    }
    void wake(std::uint32_t*) noexcept {}
};

/// Sleep in the kernel on the peer's 32-bit producer index in the shared page (a futex, not
/// process-private, so it works across processes mapping the same memory) after spinning
/// `spins` times. The producer wakes it when its push says the consumer must be notified.
/// `std::atomic::wait` is not used: libstdc++ issues process-private futex calls.
struct futex {
    static constexpr bool sleeps = true;
    unsigned spins = 64;
    unsigned checks = 0;
    void wait(std::uint32_t* word, std::uint32_t seen, std::chrono::nanoseconds timeout) noexcept
    {
        if (checks++ < spins) {
            cpu_relax();
            return;
        }
        checks = 0;
        if (timeout <= std::chrono::nanoseconds::zero())
            return;
        timespec ts{};
        ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
        // Returns at once if *word != seen (EAGAIN): the publication already happened.
        detail::futex(word, FUTEX_WAIT, seen, &ts);
    }
    void wake(std::uint32_t* word) noexcept { detail::futex(word, FUTEX_WAKE, INT32_MAX, nullptr); }
};

} // namespace wait

static_assert(wait_policy<wait::spin>);
static_assert(wait_policy<wait::spin_pause>);
static_assert(wait_policy<wait::futex>);

} // namespace xnv
