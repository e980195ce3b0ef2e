// SPDX-License-Identifier: MIT
#pragma once

// Small text helpers shared by the reference programs: MAC addresses, rates, the status line.

#include <array>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

namespace xnv::example {

using mac_bytes = std::array<std::uint8_t, 6>;

[[nodiscard]] inline std::string format_mac(const mac_bytes& m)
{
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return buf;
}

/// Parse "aa:bb:cc:dd:ee:ff" (hex digits, either case).
/// @throws std::invalid_argument naming what is wrong
[[nodiscard]] inline mac_bytes parse_mac(std::string_view s)
{
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    };
    mac_bytes m{};
    if (s.size() != 17)
        throw std::invalid_argument("a MAC address is six hex pairs separated by ':' (aa:bb:cc:dd:ee:ff), got '" +
                                    std::string(s) + "'");
    for (std::size_t i = 0; i < 6; ++i) {
        const int hi = hex(s[i * 3]);
        const int lo = hex(s[i * 3 + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != ':'))
            throw std::invalid_argument("a MAC address is six hex pairs separated by ':' (aa:bb:cc:dd:ee:ff), got '" +
                                        std::string(s) + "'");
        m[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return m;
}

/// Packets per second in millions and bits per second in billions, from counts over seconds.
struct rate {
    double mpps = 0;
    double gbps = 0;
};
[[nodiscard]] inline rate rate_of(std::uint64_t packets, std::uint64_t bytes, double seconds) noexcept
{
    if (seconds <= 0)
        return {};
    return {static_cast<double>(packets) / seconds / 1e6, static_cast<double>(bytes) * 8.0 / seconds / 1e9};
}

[[nodiscard]] inline std::string fixed(double v, int decimals)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

} // namespace xnv::example
