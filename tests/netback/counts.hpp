// SPDX-License-Identifier: MIT
#pragma once

// Iteration counts per build: the sanitizer builds run several times slower, so long runs
// use smaller counts there (tests/netback/CMakeLists.txt defines XNV_TEST_SANITIZED in them).

#include <cstdint>
#include <cstdlib>

namespace xnv::test {

#ifdef XNV_TEST_SANITIZED
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif
#ifdef XNV_TEST_TSAN
inline constexpr bool thread_sanitized = true;
#else
inline constexpr bool thread_sanitized = false;
#endif

/// `normal` in the plain build, `reduced` in the sanitizer builds (`tsan` under
/// ThreadSanitizer, which slows these multi-process runs far more than AddressSanitizer does);
/// the environment variable `name`, when set, overrides them all (to run the full count under a
/// sanitizer, or less anywhere).
inline std::uint64_t scaled_count(const char* name, std::uint64_t normal, std::uint64_t reduced,
                                  std::uint64_t tsan = 0)
{
    if (const char* v = std::getenv(name); v != nullptr && *v != '\0')
        return std::strtoull(v, nullptr, 10);
    if (thread_sanitized && tsan != 0)
        return tsan;
    return sanitized ? reduced : normal;
}

} // namespace xnv::test
