#pragma once
/// @file
/// Library version. CMake parses these three lines, so they are the single source of truth.

#define A2Q_VERSION_MAJOR 0
#define A2Q_VERSION_MINOR 1
#define A2Q_VERSION_PATCH 0

#define A2Q_VERSION_STRING_HELPER(x) #x
#define A2Q_VERSION_STRING_EXPAND(a, b, c)                                                                   \
  A2Q_VERSION_STRING_HELPER(a) "." A2Q_VERSION_STRING_HELPER(b) "." A2Q_VERSION_STRING_HELPER(c)
#define A2Q_VERSION_STRING A2Q_VERSION_STRING_EXPAND(A2Q_VERSION_MAJOR, A2Q_VERSION_MINOR, A2Q_VERSION_PATCH)

namespace a2q {
/// Version as one number: major * 10000 + minor * 100 + patch.
inline constexpr int version = A2Q_VERSION_MAJOR * 10000 + A2Q_VERSION_MINOR * 100 + A2Q_VERSION_PATCH;
} // namespace a2q
