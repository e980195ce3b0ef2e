// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <string_view>

namespace xnv {

/// What a ring endpoint found wrong with what its peer wrote into shared memory.
/// Every such finding is a protocol violation: the caller is expected to disconnect
/// that peer (Xen's netback does the same on XSA-39-style index corruption).
enum class ring_error : std::uint8_t {
    none = 0,
    /// The peer's producer index moved backwards relative to a value it published before.
    index_backwards,
    /// The peer's producer index claims more entries than the ring can legitimately hold
    /// (beyond the ring size for requests, beyond the requests outstanding for responses).
    index_overrun,
};

[[nodiscard]] constexpr std::string_view to_string(ring_error e) noexcept
{
    switch (e) {
    case ring_error::none: return "none";
    case ring_error::index_backwards: return "peer producer index moved backwards";
    case ring_error::index_overrun: return "peer producer index beyond what the ring can hold";
    }
    return "unknown ring error";
}

/// A count of entries together with the verdict on the peer's indices. `count` never exceeds
/// what the ring can legitimately hold, and is 0 whenever `error != ring_error::none`.
/// `count` is always clamped to what the ring can legitimately hold, so a loop bounded by
/// it terminates even when `error != ring_error::none`.
struct ring_count {
    std::uint32_t count = 0;
    ring_error error = ring_error::none;

    [[nodiscard]] constexpr bool ok() const noexcept { return error == ring_error::none; }
    friend constexpr bool operator==(const ring_count&, const ring_count&) = default;
};

} // namespace xnv
