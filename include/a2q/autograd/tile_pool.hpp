#pragma once
/// @file
/// Max pooling over 2x2 windows, stride 2, taken straight from the output tiles of Winograd's F(2x2, 3x3):
/// when the convolution's output has even sides, its tiles are the pooling windows, so the fused
/// convolution + pooling (conv_pool_pass.hpp) pools each vector of tiles as the output transform makes it,
/// instead of storing the convolution's output and reading it back. Results equal max_pool_2x2_row's: the
/// largest of a window's four values, the first (row-major) that reaches it, and NaN's semantics.

#include "a2q/autograd/conv_plan.hpp"
#include "a2q/autograd/direct_conv.hpp"
#include "a2q/autograd/pool_kernels.hpp"
#include "a2q/autograd/winograd_conv.hpp"

#include <cstdint>
#include <cstring>

namespace a2q::detail {

/// Whether convolution `p` runs on Winograd's tiles and pooling `q` takes exactly those tiles as windows.
inline bool tile_pool_pays(const Conv2dPlan& p, const Pool2dPlan& q) {
  return !direct_forward_pays(p) && winograd_pays(p) && q.kernel == 2 && q.stride == 2 && q.padding == 0 &&
         p.out_h % 2 == 0 && p.out_w % 2 == 0;
}

/// The maxima m of plane_lanes 2x2 windows, given as their rows' values y00, y01 (top) and y10, y11
/// (bottom), and in `index` the plane index of each one's first element that reaches it: lane i's window
/// starts at plane index first + 2 i, in rows of `width`. A window with a NaN gets NaN and the index of its
/// first NaN (window_max_any).
inline void max_pool_tiles(const PlaneFloats& y00, const PlaneFloats& y01, const PlaneFloats& y10,
                           const PlaneFloats& y11, std::int32_t first, std::int32_t width, PlaneFloats& m,
                           PlaneInts& index) {
  PlaneInts nan{};
  max_pool_2x2_select(y00, y01, y10, y11, first, width, m, index, nan);
  PlaneInts none{};
  if (std::memcmp(&nan, &none, sizeof nan) == 0)
    return;
  for (std::int64_t i = 0; i < plane_lanes; ++i) {
    if (nan[i] == 0)
      continue;
    const float values[4] = {y00[i], y01[i], y10[i], y11[i]};
    const std::int32_t offsets[4] = {0, 1, width, width + 1};
    int k = 0;
    while (values[k] == values[k]) // some value is NaN
      ++k;
    m[i] = values[k];
    index[i] = first + 2 * static_cast<std::int32_t>(i) + offsets[k];
  }
}

/// to[i] = v[i] for the first `count` lanes (1 <= count <= plane_lanes).
template <class T, class Vector>
inline void store_first(T* to, const Vector& v, std::int64_t count) {
  static_assert(sizeof(Vector) == plane_lanes * sizeof(T));
  if (count == plane_lanes) {
    std::memcpy(to, &v, sizeof v);
    return;
  }
  for (std::int64_t i = 0; i < count; ++i)
    to[i] = v[i];
}

} // namespace a2q::detail
