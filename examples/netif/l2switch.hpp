// SPDX-License-Identifier: MIT
#pragma once

// A learning Ethernet switch table, as a Xen bridge or Linux bridge keeps one: source MACs are
// learned per port with a timestamp, destinations are looked up, entries older than the ageing
// time are ignored and reclaimed, unknown unicast and broadcast/multicast are flooded.
// Fixed capacity, open addressing: no allocation after construction.

#include <xnv/clock.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

namespace xnv::example {

struct mac_addr {
    std::array<std::uint8_t, 6> b{};

    [[nodiscard]] bool is_group() const noexcept { return (b[0] & 1u) != 0; } // broadcast or multicast
    [[nodiscard]] bool is_zero() const noexcept { return (b[0] | b[1] | b[2] | b[3] | b[4] | b[5]) == 0; }
    [[nodiscard]] std::uint64_t key() const noexcept
    {
        std::uint64_t k = 0;
        for (auto x : b)
            k = (k << 8) | x;
        return k;
    }
    friend bool operator==(const mac_addr&, const mac_addr&) = default;

    static mac_addr from(std::span<const std::byte> six) noexcept
    {
        mac_addr m;
        std::memcpy(m.b.data(), six.data(), 6);
        return m;
    }
};

inline constexpr mac_addr broadcast_mac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

/// Where a frame goes: to one port, or flooded to every port but the ingress one.
struct forward_decision {
    static constexpr std::uint32_t flood = UINT32_MAX;
    std::uint32_t port = flood;
    [[nodiscard]] bool flooded() const noexcept { return port == flood; }
};

struct switch_counters {
    std::uint64_t learned = 0;    // new entries
    std::uint64_t moved = 0;      // a MAC seen on another port than its entry says
    std::uint64_t aged_out = 0;   // entries found expired and reclaimed
    std::uint64_t table_full = 0; // learning refused: no free or expired slot in the probe window
    std::uint64_t flooded = 0;
    std::uint64_t unicast = 0;
    std::uint64_t hairpin = 0;    // destination learned on the ingress port: dropped, as a bridge does
};

/// Times are passed in (from any xnv::clock_source), so tests drive ageing on a virtual clock.
class mac_table {
public:
    /// @param capacity  slots, rounded up to a power of two (at least 16)
    /// @param max_age   an entry not refreshed for this long is treated as unknown
    /// @throws std::invalid_argument on a zero ageing time
    explicit mac_table(std::size_t capacity = 4096, nanos max_age = std::chrono::seconds(300))
        : slots_(round_up(capacity)), mask_(slots_.size() - 1), max_age_(max_age)
    {
        if (max_age <= nanos::zero())
            throw std::invalid_argument("mac_table: the ageing time must be positive");
    }

    /// Learn `src` on `port` at `now`, then decide where a frame to `dst` goes.
    /// Group source addresses are never learned (they are not a station's address).
    forward_decision forward(const mac_addr& src, const mac_addr& dst, std::uint32_t port, nanos now) noexcept
    {
        if (!src.is_group() && !src.is_zero())
            learn(src, port, now);
        if (dst.is_group()) {
            ++counters_.flooded;
            return {};
        }
        if (auto p = lookup(dst, now)) {
            if (*p == port) {
                ++counters_.hairpin;
                return {port};
            }
            ++counters_.unicast;
            return {*p};
        }
        ++counters_.flooded;
        return {};
    }

    void learn(const mac_addr& m, std::uint32_t port, nanos now) noexcept
    {
        const std::uint64_t k = m.key();
        entry* reuse = nullptr;
        for (std::size_t i = 0, h = hash(k); i < probe_limit; ++i, h = (h + 1) & mask_) {
            entry& e = slots_[h];
            if (e.used && e.key == k) {
                if (e.port != port)
                    ++counters_.moved;
                e.port = port;
                e.seen = now;
                return;
            }
            if (!reuse && (!e.used || expired(e, now)))
                reuse = &e;
        }
        if (!reuse) {
            ++counters_.table_full;
            return;
        }
        if (reuse->used)
            ++counters_.aged_out;
        *reuse = entry{k, now, port, true};
        ++counters_.learned;
    }

    [[nodiscard]] std::optional<std::uint32_t> lookup(const mac_addr& m, nanos now) const noexcept
    {
        const std::uint64_t k = m.key();
        for (std::size_t i = 0, h = hash(k); i < probe_limit; ++i, h = (h + 1) & mask_) {
            const entry& e = slots_[h];
            if (e.used && e.key == k)
                return expired(e, now) ? std::nullopt : std::optional<std::uint32_t>(e.port);
        }
        return std::nullopt;
    }

    /// A port went away (its vif was torn down): forget everything learned on it.
    void forget_port(std::uint32_t port) noexcept
    {
        for (auto& e : slots_)
            if (e.used && e.port == port)
                e.used = false;
    }

    [[nodiscard]] std::size_t size(nanos now) const noexcept
    {
        std::size_t n = 0;
        for (const auto& e : slots_)
            n += (e.used && !expired(e, now)) ? 1 : 0;
        return n;
    }
    [[nodiscard]] const switch_counters& counters() const noexcept { return counters_; }
    [[nodiscard]] std::size_t capacity() const noexcept { return slots_.size(); }

private:
    struct entry {
        std::uint64_t key = 0;
        nanos seen{};
        std::uint32_t port = 0;
        bool used = false;
    };
    // Bounded probing: a lookup or learn touches at most this many slots, whatever the table
    // holds, so a guest sending frames from random source MACs cannot make switching slow.
    static constexpr std::size_t probe_limit = 16;

    static std::size_t round_up(std::size_t n)
    {
        std::size_t p = 16;
        while (p < n)
            p <<= 1;
        return p;
    }
    [[nodiscard]] std::size_t hash(std::uint64_t k) const noexcept
    {
        k ^= k >> 29;
        k *= 0xBF58476D1CE4E5B9ull;
        k ^= k >> 32;
        return static_cast<std::size_t>(k) & mask_;
    }
    [[nodiscard]] bool expired(const entry& e, nanos now) const noexcept { return now - e.seen > max_age_; }

    std::vector<entry> slots_;
    std::size_t mask_;
    nanos max_age_;
    switch_counters counters_;
};

} // namespace xnv::example
