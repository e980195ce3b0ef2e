// SPDX-License-Identifier: MIT
#pragma once

// The single source of xnv's version: CMakeLists.txt reads these three lines.
#define XNV_VERSION_MAJOR 0
#define XNV_VERSION_MINOR 1
#define XNV_VERSION_PATCH 0

namespace xnv {
inline constexpr int version_major = XNV_VERSION_MAJOR;
inline constexpr int version_minor = XNV_VERSION_MINOR;
inline constexpr int version_patch = XNV_VERSION_PATCH;
} // namespace xnv
