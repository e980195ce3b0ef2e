// SPDX-License-Identifier: MIT
#pragma once

// Helpers shared by the ring tests: owned aligned memory, a memfd region shared across fork(),
// a child process that is always reaped, stamped payloads and direct access to the shared
// header words (the tests play the peer by writing them).

#include <xnv/ring/ring.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace xnv_test {

/// Zeroed memory with the given alignment, freed on destruction. `span()` is exactly `bytes`
/// long, so a ring built over it derives its entry count from `bytes` alone.
class aligned_region {
public:
    explicit aligned_region(std::size_t bytes, std::size_t align = 4096) : bytes_(bytes)
    {
        const std::size_t rounded = (bytes + align - 1) / align * align;
        data_ = static_cast<std::byte*>(std::aligned_alloc(align, rounded == 0 ? align : rounded));
        if (data_ == nullptr)
            throw std::bad_alloc();
        std::memset(data_, 0, rounded == 0 ? align : rounded);
    }
    aligned_region(const aligned_region&) = delete;
    aligned_region& operator=(const aligned_region&) = delete;
    ~aligned_region() { std::free(data_); }

    [[nodiscard]] std::byte* data() const noexcept { return data_; }
    [[nodiscard]] std::span<std::byte> span() const noexcept { return {data_, bytes_}; }

private:
    std::byte* data_;
    std::size_t bytes_;
};

/// A MAP_SHARED mapping of an anonymous memfd: what two processes share after fork(). The fd is
/// closed at once (the mapping keeps the memory alive); the mapping is removed on destruction.
class shared_region {
public:
    explicit shared_region(std::size_t bytes) : bytes_(bytes)
    {
        const int fd = ::memfd_create("xnv-ring-test", MFD_CLOEXEC);
        if (fd < 0)
            throw std::runtime_error(std::string("memfd_create: ") + std::strerror(errno));
        if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
            const int err = errno;
            ::close(fd);
            throw std::runtime_error(std::string("ftruncate: ") + std::strerror(err));
        }
        void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        const int err = errno;
        ::close(fd);
        if (p == MAP_FAILED)
            throw std::runtime_error(std::string("mmap: ") + std::strerror(err));
        data_ = static_cast<std::byte*>(p);
    }
    shared_region(const shared_region&) = delete;
    shared_region& operator=(const shared_region&) = delete;
    ~shared_region() { ::munmap(data_, bytes_); }

    [[nodiscard]] std::byte* data() const noexcept { return data_; }
    [[nodiscard]] std::span<std::byte> span(std::size_t offset, std::size_t bytes) const noexcept
    {
        return {data_ + offset, bytes};
    }

private:
    std::byte* data_;
    std::size_t bytes_;
};

/// A forked child running `body()`; its return value is the exit status. The child never
/// returns into the test framework (it leaves with _exit). The destructor kills and reaps a
/// child that was not joined, so a failing test leaves no process behind.
class child_process {
public:
    template <class F> explicit child_process(F&& body)
    {
        pid_ = ::fork();
        if (pid_ < 0)
            throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
        if (pid_ == 0) {
            int rc = 70;
            try {
                rc = std::forward<F>(body)();
            } catch (...) {
                rc = 71;
            }
            ::_exit(rc);
        }
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    ~child_process()
    {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
    }

    /// Wait up to `limit` for the child to exit; kill it if it does not. Returns its exit
    /// status, or -1 if it had to be killed or died of a signal.
    int join(std::chrono::milliseconds limit)
    {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        int status = 0;
        for (;;) {
            const pid_t r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_)
                break;
            if (r < 0 && errno != EINTR) {
                pid_ = -1;
                return -1;
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                pid_ = -1;
                return -1;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

private:
    pid_t pid_ = -1;
};

/// A 16-byte test request and response: a sequence number and a stamp derived from it, so a
/// torn, lost, duplicated or reordered entry is seen by the consumer.
struct stamped {
    std::uint64_t seq;
    std::uint64_t stamp;
};
constexpr std::uint64_t stamp_of(std::uint64_t seq) noexcept
{
    return (seq + 1) * 0x9E3779B97F4A7C15ull ^ 0xD1B54A32D192ED03ull;
}
constexpr stamped stamped_request(std::uint64_t seq) noexcept
{
    return {seq, stamp_of(seq)};
}
// Responses use a different stamp so a request echoed unchanged is not taken for a response.
constexpr stamped stamped_response(std::uint64_t seq) noexcept
{
    return {seq, ~stamp_of(seq)};
}

/// A front and a back end over one region of `Entries` 16-byte slots, both attached at `start`
/// (the front initialises the header, as Xen's front end does).
template <class L, std::uint32_t Entries = 8> struct ring_pair {
    static constexpr std::uint32_t entries = Entries;
    aligned_region mem{xnv::ring_bytes_for<stamped, stamped, L>(Entries)};
    xnv::front_ring<stamped, stamped, L> front;
    xnv::back_ring<stamped, stamped, L> back;
    explicit ring_pair(std::uint32_t start = 0) : front(xnv::ring_init, mem.span(), start), back(mem.span(), start) {}
};

/// The shared 32-bit word at `offset` in the ring header, as the peer would write it.
inline std::atomic_ref<std::uint32_t> header_word(std::span<std::byte> ring, std::size_t offset) noexcept
{
    return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(ring.data() + offset));
}

/// Xen's hold-off rule stated independently of how ring.hpp computes it: the peer must be
/// notified iff its event index lies in the half-open window (old, new] of indices just
/// published, in modular 32-bit arithmetic.
constexpr bool event_in_window(std::uint32_t old_idx, std::uint32_t new_idx, std::uint32_t event) noexcept
{
    const std::uint32_t published = new_idx - old_idx;
    const std::uint32_t event_offset = event - old_idx - 1u; // 0 for old + 1
    return event_offset < published;
}

/// A small deterministic generator (SplitMix64) so every run sees the same sequence.
class splitmix {
public:
    explicit constexpr splitmix(std::uint64_t seed) noexcept : s_(seed) {}
    constexpr std::uint64_t next() noexcept
    {
        std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    constexpr std::uint32_t next32() noexcept { return static_cast<std::uint32_t>(next() >> 32); }
    /// Uniform in [0, bound) (bound > 0; the slight modulo bias does not matter here).
    constexpr std::uint32_t below(std::uint32_t bound) noexcept { return next32() % bound; }

private:
    std::uint64_t s_;
};

} // namespace xnv_test

// Failed checks on ring_count values print the count and the error, not "{?}".
template <> struct doctest::StringMaker<xnv::ring_count> {
    static doctest::String convert(const xnv::ring_count& c)
    {
        const std::string s = "{" + std::to_string(c.count) + ", " + std::string(xnv::to_string(c.error)) + "}";
        return doctest::String(s.c_str());
    }
};
