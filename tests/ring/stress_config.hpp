// SPDX-License-Identifier: MIT
#pragma once

// Iteration counts for the stress tests: large in an optimised build, small under the
// sanitizers (ThreadSanitizer slows atomics by one to two orders of magnitude), so each
// executable stays at a few seconds on a 2-core machine in every build.

#include <cstdint>

namespace xnv_test {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif
#else
inline constexpr bool sanitized = false;
#endif

/// `full` in an optimised build, `full / divisor` under a sanitizer.
constexpr std::uint64_t scaled(std::uint64_t full, std::uint64_t divisor = 20) noexcept
{
    return sanitized ? full / divisor : full;
}

} // namespace xnv_test
