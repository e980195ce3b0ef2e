// SPDX-License-Identifier: MIT
#pragma once

// Counts this process's open file descriptors, so a test can check that everything it opened
// (and everything a rejected peer sent) was closed.

#include <cstddef>
#include <filesystem>

namespace xnv::test {

inline std::size_t open_fd_count()
{
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
        ++n;
    return n;
}

} // namespace xnv::test
