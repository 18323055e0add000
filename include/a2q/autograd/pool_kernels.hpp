#pragma once
/// @file
/// The kernels of max and average pooling, one image plane at a time: the plan of a pooling window, the
/// window visitors, and max pooling's forward pass (value and argmax) and backward pass per plane, which
/// pool.ipp and the fused convolution + ReLU + pooling (conv_pool.ipp) share.

#include "a2q/autograd/lane_pairs.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/shape.hpp"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

namespace a2q::detail {

/// A validated pooling window over [N, C, H, W].
struct Pool2dPlan {
  std::int64_t planes = 0; ///< N * C
  std::int64_t height = 0;
  std::int64_t width = 0;
  std::int64_t kernel = 1;
  std::int64_t stride = 1;
  std::int64_t padding = 0;
  std::int64_t out_h = 0;
  std::int64_t out_w = 0;
};

/// Checks the arguments of a pooling operation `op` and derives its plan. Padding may be at most
/// kernel / 2 (as in PyTorch), so that every window overlaps the image.
inline Pool2dPlan pool2d_plan(const char* op, const Shape& x, int kernel, int stride, int padding) {
  const std::string name(op);
  if (kernel < 1)
    throw config_error(name + ": kernel must be >= 1, got " + std::to_string(kernel));
  if (stride < 1)
    throw config_error(name + ": stride must be >= 1, got " + std::to_string(stride));
  if (padding < 0 || 2 * padding > kernel)
    throw config_error(name + ": padding must be in [0, kernel / 2] = [0, " + std::to_string(kernel / 2) +
                       "], got " + std::to_string(padding));
  if (x.rank() != 4)
    throw shape_error(name + ": input must be [N, C, H, W], got " + x.to_string());
  if (x[2] + 2 * std::int64_t{padding} < kernel || x[3] + 2 * std::int64_t{padding} < kernel)
    throw shape_error(name + ": kernel " + std::to_string(kernel) + " is larger than the padded input " +
                      x.to_string() + " (padding " + std::to_string(padding) + ")");
  Pool2dPlan p;
  p.planes = x[0] * x[1];
  p.height = x[2];
  p.width = x[3];
  p.kernel = kernel;
  p.stride = stride;
  p.padding = padding;
  p.out_h = (x[2] + 2 * p.padding - p.kernel) / p.stride + 1;
  p.out_w = (x[3] + 2 * p.padding - p.kernel) / p.stride + 1;
  return p;
}

/// pool2d_plan for max pooling, whose argmax is an int32 index into its plane.
inline Pool2dPlan max_pool2d_plan(const char* op, const Shape& x, int kernel, int stride, int padding) {
  const Pool2dPlan p = pool2d_plan(op, x, kernel, stride, padding);
  if (p.height * p.width > std::numeric_limits<std::int32_t>::max())
    throw shape_error(std::string(op) + ": image " + x.to_string() + " has more than 2^31 pixels per plane");
  return p;
}

// Pooling windows are tiny (4 or 9 elements): loops with runtime bounds that short get vectorised into
// slow code, and a compare-and-branch per element mispredicts on random data. So the common kernel sizes
// 2 and 3 are compile-time constants (the loops unroll), and every update is a branch-free select.

/// Calls f(index, valid) for the elements of the window whose top-left corner is (hs, ws) (possibly in the
/// padding), in row-major order; index is the element's offset in the plane, valid whether it is inside
/// the image. K > 0 is the kernel size known at compile time: every K x K position is visited, positions in
/// the padding with valid == false and a clamped (in-range) index; with inside == true none is in the
/// padding. K == 0 visits only the image part of the window, with runtime bounds.
template <int K, class F>
inline void visit_window(const Pool2dPlan& p, std::int64_t hs, std::int64_t ws, bool inside, F&& f) {
  if constexpr (K > 0) {
    if (inside) {
      for (int i = 0; i < K; ++i)
        for (int j = 0; j < K; ++j)
          f((hs + i) * p.width + ws + j, true);
    } else {
      for (int i = 0; i < K; ++i)
        for (int j = 0; j < K; ++j) {
          const std::int64_t h = hs + i;
          const std::int64_t w = ws + j;
          const bool valid = h >= 0 && h < p.height && w >= 0 && w < p.width;
          f(std::clamp<std::int64_t>(h, 0, p.height - 1) * p.width +
                std::clamp<std::int64_t>(w, 0, p.width - 1),
            valid);
        }
    }
  } else {
    const std::int64_t h0 = std::max<std::int64_t>(hs, 0);
    const std::int64_t h1 = std::min(hs + p.kernel, p.height);
    const std::int64_t w0 = std::max<std::int64_t>(ws, 0);
    const std::int64_t w1 = std::min(ws + p.kernel, p.width);
    for (std::int64_t h = h0; h < h1; ++h)
      for (std::int64_t w = w0; w < w1; ++w)
        f(h * p.width + w, true);
  }
}

/// Calls f(o, hs, ws, inside, fixed) for every output o of a plane: (hs, ws) is the top-left corner of its
/// window (negative in the padding), inside whether the window lies in the image, and fixed a
/// std::integral_constant<int, K> to pass to visit_window (K = 2 or 3 for those kernel sizes, else 0).
template <class F>
inline void for_each_window(const Pool2dPlan& p, F&& f) {
  auto run = [&](auto fixed) {
    for (std::int64_t oh = 0; oh < p.out_h; ++oh) {
      const std::int64_t hs = oh * p.stride - p.padding;
      const bool rows_inside = hs >= 0 && hs + p.kernel <= p.height;
      for (std::int64_t ow = 0; ow < p.out_w; ++ow) {
        const std::int64_t ws = ow * p.stride - p.padding;
        f(oh * p.out_w + ow, hs, ws, rows_inside && ws >= 0 && ws + p.kernel <= p.width, fixed);
      }
    }
  };
  if (p.kernel == 2)
    run(std::integral_constant<int, 2>{});
  else if (p.kernel == 3)
    run(std::integral_constant<int, 3>{});
  else
    run(std::integral_constant<int, 0>{});
}

/// Maximum of a window and the plane index of its first occurrence in row-major order; a NaN wins (the
/// first NaN). Padding never wins: a window always holds an image element (padding <= kernel / 2). Any
/// window; max_pool_row is the fast path for runs of windows inside the image.
template <int K>
inline void window_max_any(const Pool2dPlan& p, const float* xp, std::int64_t hs, std::int64_t ws,
                           bool inside, float& best_out, std::int32_t& index_out) {
  float best = -std::numeric_limits<float>::infinity();
  bool nan = false;
  visit_window<K>(p, hs, ws, inside, [&](std::int64_t k, bool valid) {
    const float v = valid ? xp[k] : -std::numeric_limits<float>::infinity();
    best = v > best ? v : best;
    nan = nan | (v != v);
  });
  best = nan ? std::numeric_limits<float>::quiet_NaN() : best;
  std::int64_t index = std::numeric_limits<std::int64_t>::max();
  visit_window<K>(p, hs, ws, inside, [&](std::int64_t k, bool valid) {
    const bool hit = valid && (nan ? xp[k] != xp[k] : !(xp[k] < best));
    index = hit ? std::min(index, k) : index;
  });
  best_out = best;
  index_out = static_cast<std::int32_t>(index);
}

/// Max pooling of `count` consecutive outputs of one row whose K x K windows lie inside the image, the first
/// window's top-left corner at (hs, ws), the next ones `stride` columns apart. A tight loop with the
/// kernel size known at compile time: the maximum, then the first element equal to it. The hit test !(v <
/// best) equals v == best for the maximum but is a single flag test; the hits go into a bit mask rather than
/// a chain of selects, which the compiler would turn into branches (they mispredict on random data). Returns
/// whether a NaN was seen; the caller then redoes the row with window_max_any, which gives NaN its exact
/// semantics.
template <int K>
inline bool max_pool_row(const float* xp, std::int64_t width, std::int64_t stride, std::int64_t hs,
                         std::int64_t ws, std::int64_t count, float* y, std::int32_t* argmax) {
  bool nan = false;
  const float* row = xp + hs * width + ws;
  for (std::int64_t n = 0; n < count; ++n) {
    const float* base = row + n * stride;
    float best = base[0];
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < K; ++j) {
        const float v = base[i * width + j];
        best = v > best ? v : best;
        nan = nan | (v != v);
      }
    // Bit k of `hits` marks window element k (row-major) equal to the maximum; the lowest set bit is the
    // first occurrence. Independent compares and one bit scan: no dependency chain, no branches.
    unsigned hits = 0;
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < K; ++j)
        hits |= static_cast<unsigned>(!(base[i * width + j] < best)) << (i * K + j);
    const int first = std::countr_zero(hits);
    y[n] = best;
    argmax[n] = static_cast<std::int32_t>((hs + first / K) * width + ws + n * stride + first % K);
  }
  return nan;
}

// One register of floats or int32 as a GCC/Clang vector (16 lanes with AVX-512, else 8: one AVX2 register
// or two SSE ones), so the code needs no intrinsics. Not 16 lanes without AVX-512: the even/odd shuffles of
// a vector wider than the registers are lowered element by element, several times slower than scalar code.
#if defined(__AVX512F__)
inline constexpr std::int64_t pool_lanes = 16;
#else
inline constexpr std::int64_t pool_lanes = 8;
#endif
using PoolFloats = float __attribute__((vector_size(pool_lanes * sizeof(float))));
using PoolInts = std::int32_t __attribute__((vector_size(pool_lanes * sizeof(std::int32_t))));

#if defined(__AVX2__) && !defined(__AVX512F__)
// A row's last outputs (fewer than a vector: rows of 14 and 7 outputs are the common case) go through the
// same lanes: loaded with AVX's masked loads, which read no masked-off element, and stored in pieces of 4,
// 2 and 1 lanes. AVX's masked stores took longer than the scalar code (Zen 3 runs them as microcode), and
// copies through vector-sized buffers cost library calls and stall on store forwarding.

/// All bits set in the lanes below `count`, none above (count may be <= 0 or >= pool_lanes).
inline PoolInts lanes_below(std::int64_t count) {
  const PoolInts lane{0, 1, 2, 3, 4, 5, 6, 7};
  return lane < static_cast<std::int32_t>(std::clamp<std::int64_t>(count, 0, pool_lanes));
}

inline PoolFloats load_lanes(const float* from, const PoolInts& mask) {
  return std::bit_cast<PoolFloats>(_mm256_maskload_ps(from, std::bit_cast<__m256i>(mask)));
}

inline PoolInts load_lanes(const std::int32_t* from, const PoolInts& mask) {
  return std::bit_cast<PoolInts>(
      _mm256_maskload_epi32(reinterpret_cast<const int*>(from), std::bit_cast<__m256i>(mask)));
}

/// Stores the first `count` lanes of v (none for count <= 0, all for count >= pool_lanes) and nothing past
/// them; T is v's element type.
template <class T, class Vector>
inline void store_first_lanes(T* to, const Vector& v, std::int64_t count) {
  static_assert(sizeof(Vector) == pool_lanes * sizeof(T));
  if (count <= 0)
    return;
  if (count >= pool_lanes) {
    std::memcpy(to, &v, sizeof v);
    return;
  }
  // Halves and quarters by in-lane moves: GCC turns a shuffle of the upper half into vperm2f128, which
  // Zen 1 runs as eight micro-ops.
  const auto all = std::bit_cast<__m256>(v);
  __m128 four = _mm256_castps256_ps128(all);
  if (count & 4) {
    std::memcpy(to, &four, sizeof four);
    four = _mm256_extractf128_ps(all, 1);
    to += 4;
  }
  if (count & 2) {
    std::memcpy(to, &four, 2 * sizeof(T));
    four = _mm_movehl_ps(four, four);
    to += 2;
  }
  if (count & 1)
    std::memcpy(to, &four, sizeof(T));
}
#endif

/// A vector of outputs of max_pool_2x2_row from each window's elements, lane by lane: v0 and v1 the even and
/// odd columns of its first row, v2 and v3 of its second (lanes past the row's end hold zeros). The scalar
/// row's selects become lane-wise selects. `index` gets the plane index of each output's first maximum
/// (lane i's window starting at first + 2 i); `nan` collects the lanes that saw a NaN. Any vector width:
/// pooling's own (PoolFloats) and the Winograd tiles' (tile_pool.hpp).
template <class Floats, class Ints>
inline void max_pool_2x2_select(const Floats& v0, const Floats& v1, const Floats& v2, const Floats& v3,
                                std::int32_t first, std::int32_t width, Floats& m, Ints& index, Ints& nan) {
  constexpr auto lanes = static_cast<std::int32_t>(sizeof(Floats) / sizeof(float));
  Ints lane{};
  for (std::int32_t i = 0; i < lanes; ++i)
    lane[i] = 2 * i;
  const Floats m01 = v1 > v0 ? v1 : v0;
  const Floats m23 = v3 > v2 ? v3 : v2;
  m = m23 > m01 ? m23 : m01;
  nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);
  // The first of v0..v3 (row-major) that reaches the maximum: offset 0, 1, width or width + 1.
  const Ints zero{};
  const Ints after1 = v2 >= m ? zero + width : zero + (width + 1);
  const Ints after0 = v1 >= m ? zero + 1 : after1;
  index = first + lane + (v0 >= m ? zero : after0);
}

#if defined(__AVX2__) && !defined(__AVX512F__)
// The tails of rows with AVX2: quarters as in lane_pairs.hpp, masked.

/// Floats [4 q, 4 q + 4) of `row`, of which the first `count` may be read: the rest load as zeros, and a
/// quarter wholly past `count` reads nothing (its address stays within the row).
inline __m128 load_quarter(const float* row, std::int64_t count, std::int64_t q) {
  const std::int64_t begin = 4 * q;
  if (count >= begin + 4)
    return _mm_loadu_ps(row + begin);
  const auto readable = static_cast<int>(std::clamp<std::int64_t>(count - begin, 0, 4));
  const __m128i mask = _mm_cmpgt_epi32(_mm_set1_epi32(readable), _mm_setr_epi32(0, 1, 2, 3));
  return _mm_maskload_ps(row + std::min(begin, count), mask);
}

/// The even and odd elements of the 2 * pool_lanes floats at `row`, of which the first `count` are read
/// (the rest count as zeros).
inline void load_even_odd_first(const float* row, std::int64_t count, PoolFloats& even, PoolFloats& odd) {
  __m256 e, o;
  split_quarters(load_quarter(row, count, 0), load_quarter(row, count, 1), load_quarter(row, count, 2),
                 load_quarter(row, count, 3), e, o);
  even = std::bit_cast<PoolFloats>(e);
  odd = std::bit_cast<PoolFloats>(o);
}

/// Stores the first `count` floats (an even count, at most 2 * pool_lanes) of a and b interleaved.
inline void store_interleaved_first(float* to, const PoolFloats& a, const PoolFloats& b, std::int64_t count) {
  __m128 q[4];
  interleave_quarters(std::bit_cast<__m256>(a), std::bit_cast<__m256>(b), q);
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    const std::int64_t left = count - 4 * i;
    if (left >= 4)
      _mm_storeu_ps(to + 4 * i, q[i]);
    else if (left >= 2)
      _mm_storel_pi(reinterpret_cast<__m64*>(to + 4 * i), q[i]);
  }
}
#endif

/// max_pool_row for the most common pooling, kernel 2 and stride 2, with the stride known at compile time;
/// r0 and r1 are the two input rows (from the first window's column on), `first` the plane index of r0[0].
/// pool_lanes outputs at a time. The last few go through the same lanes too (short rows are the common
/// case: 28 pixels make 14 outputs): with AVX-512 by masked loads and stores, otherwise by copies (from four
/// outputs on; fewer take a scalar loop). A lane of `nan` becomes non-zero when a NaN is seen: the caller
/// redoes the row (or plane) with window_max_any.
inline void max_pool_2x2_row(const float* r0, const float* r1, std::int64_t count, std::int32_t first,
                             std::int32_t width, float* y, std::int32_t* argmax, PoolInts& nan) {
  PoolFloats m;
  PoolInts index;
  std::int64_t n = 0;
  for (; n + pool_lanes <= count; n += pool_lanes) {
    PoolFloats v0, v1, v2, v3;
    load_even_odd(r0 + 2 * n, v0, v1);
    load_even_odd(r1 + 2 * n, v2, v3);
    max_pool_2x2_select(v0, v1, v2, v3, first + 2 * static_cast<std::int32_t>(n), width, m, index, nan);
    std::memcpy(y + n, &m, sizeof m);
    std::memcpy(argmax + n, &index, sizeof index);
  }
#if defined(__AVX512F__)
  if (n < count) {
    const auto rest = static_cast<unsigned>(count - n); // 1..15 outputs, 2..30 floats per row
    const auto low = static_cast<__mmask16>(rest >= 8 ? 0xFFFFu : (1u << (2 * rest)) - 1u);
    const auto high = static_cast<__mmask16>(rest <= 8 ? 0u : (1u << (2 * rest - 16)) - 1u);
    const auto out = static_cast<__mmask16>((1u << rest) - 1u);
    constexpr auto lanes = std::make_integer_sequence<int, pool_lanes>{};
    const PoolFloats a0 = _mm512_maskz_loadu_ps(low, r0 + 2 * n);
    const PoolFloats b0 = _mm512_maskz_loadu_ps(high, r0 + 2 * n + 16);
    const PoolFloats a1 = _mm512_maskz_loadu_ps(low, r1 + 2 * n);
    const PoolFloats b1 = _mm512_maskz_loadu_ps(high, r1 + 2 * n + 16);
    PoolFloats v0, v1, v2, v3;
    split_lanes(a0, b0, v0, v1, lanes);
    split_lanes(a1, b1, v2, v3, lanes);
    max_pool_2x2_select(v0, v1, v2, v3, first + 2 * static_cast<std::int32_t>(n), width, m, index, nan);
    _mm512_mask_storeu_ps(y + n, out, m);
    _mm512_mask_storeu_epi32(argmax + n, out, reinterpret_cast<__m512i>(index));
    n = count;
  }
#elif defined(__AVX2__)
  if (n < count) {
    const std::int64_t rest = count - n; // 1..7 outputs, 2..14 floats per row
    // Masked-off lanes load as zeros, which are no NaN.
    PoolFloats v0, v1, v2, v3;
    load_even_odd_first(r0 + 2 * n, 2 * rest, v0, v1);
    load_even_odd_first(r1 + 2 * n, 2 * rest, v2, v3);
    max_pool_2x2_select(v0, v1, v2, v3, first + 2 * static_cast<std::int32_t>(n), width, m, index, nan);
    store_first_lanes(y + n, m, rest);
    store_first_lanes(argmax + n, index, rest);
    n = count;
  }
#else
  // Without masked loads the last outputs go through zero-filled copies of the rows' ends: rows of 28 and
  // 14 pixels would otherwise never reach the vector loop.
  if (count - n >= 4) {
    const std::int64_t rest = count - n;
    float tail0[2 * pool_lanes] = {};
    float tail1[2 * pool_lanes] = {};
    std::memcpy(tail0, r0 + 2 * n, static_cast<std::size_t>(2 * rest) * sizeof(float));
    std::memcpy(tail1, r1 + 2 * n, static_cast<std::size_t>(2 * rest) * sizeof(float));
    PoolFloats v0, v1, v2, v3;
    load_even_odd(tail0, v0, v1);
    load_even_odd(tail1, v2, v3);
    max_pool_2x2_select(v0, v1, v2, v3, first + 2 * static_cast<std::int32_t>(n), width, m, index, nan);
    std::memcpy(y + n, &m, static_cast<std::size_t>(rest) * sizeof(float));
    std::memcpy(argmax + n, &index, static_cast<std::size_t>(rest) * sizeof(std::int32_t));
    n = count;
  }
#endif
  for (; n < count; ++n) {
    const float v0 = r0[2 * n];
    const float v1 = r0[2 * n + 1];
    const float v2 = r1[2 * n];
    const float v3 = r1[2 * n + 1];
    const float m01 = v1 > v0 ? v1 : v0;
    const float m23 = v3 > v2 ? v3 : v2;
    const float best = m23 > m01 ? m23 : m01;
    nan[0] |= static_cast<std::int32_t>((v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3));
    // Offset of the first of v0..v3 equal to the maximum (0, 1, width or width + 1), as arithmetic on the
    // 0/1 hits: a chain of selects becomes branches, which mispredict on random data.
    const auto hit0 = static_cast<std::int32_t>(!(v0 < best));
    const auto hit1 = static_cast<std::int32_t>(!(v1 < best));
    const auto hit2 = static_cast<std::int32_t>(!(v2 < best));
    const std::int32_t after1 = width + 1 - hit2;             // width if v2 hits, else width + 1
    const std::int32_t after0 = after1 - hit1 * (after1 - 1); // 1 if v1 hits, else after1
    y[n] = best;
    argmax[n] = first + 2 * static_cast<std::int32_t>(n) + (1 - hit0) * after0;
  }
}

/// Whether any lane is non-zero.
inline bool any_lane(const PoolInts& lanes) {
  std::int32_t all = 0;
  for (std::int64_t i = 0; i < pool_lanes; ++i)
    all |= lanes[i];
  return all != 0;
}

/// Max pooling of one plane: interior runs of each row through max_pool_row<K>, windows that reach into the
/// padding (and every window when K == 0) through window_max_any<K>.
template <int K>
inline void max_pool_plane(const Pool2dPlan& p, const float* xp, float* yp, std::int32_t* ap) {
  // Outputs [ow_lo, ow_hi) have windows inside the image columns.
  const std::int64_t ow_lo = std::min(p.out_w, (p.padding + p.stride - 1) / p.stride);
  const std::int64_t ow_hi =
      std::max(ow_lo, std::min(p.out_w, (p.width + p.padding - p.kernel) / p.stride + 1));
  for (std::int64_t oh = 0; oh < p.out_h; ++oh) {
    const std::int64_t hs = oh * p.stride - p.padding;
    float* yrow = yp + oh * p.out_w;
    std::int32_t* arow = ap + oh * p.out_w;
    const bool rows_inside = hs >= 0 && hs + p.kernel <= p.height;
    auto any = [&](std::int64_t begin, std::int64_t end, bool inside) {
      for (std::int64_t ow = begin; ow < end; ++ow)
        window_max_any<K>(p, xp, hs, ow * p.stride - p.padding, inside, yrow[ow], arow[ow]);
    };
    if (K == 0 || !rows_inside) {
      any(0, p.out_w, false);
      continue;
    }
    any(0, ow_lo, false);
    const std::int64_t ws = ow_lo * p.stride - p.padding;
    bool nan = false;
    if (K == 2 && p.stride == 2) {
      const float* r0 = xp + hs * p.width + ws;
      PoolInts lanes{};
      max_pool_2x2_row(r0, r0 + p.width, ow_hi - ow_lo, static_cast<std::int32_t>(hs * p.width + ws),
                       static_cast<std::int32_t>(p.width), yrow + ow_lo, arow + ow_lo, lanes);
      nan = any_lane(lanes);
    } else if constexpr (K > 0) { // K == 0 never gets here; no max_pool_row<0> (it would divide by K)
      nan = max_pool_row<K>(xp, p.width, p.stride, hs, ws, ow_hi - ow_lo, yrow + ow_lo, arow + ow_lo);
    }
    if (nan)
      any(ow_lo, ow_hi, true);
    any(ow_hi, p.out_w, false);
  }
}

/// The most common pooling, 2x2 with stride 2 and no padding, of one plane: every window lies inside the
/// image, so each row pair is one call of max_pool_2x2_row, and NaNs are looked for once per plane (the
/// plane is then redone window by window, which gives NaN its exact semantics).
inline void max_pool_plane_2x2(const Pool2dPlan& p, const float* xp, float* yp, std::int32_t* ap) {
  const auto width = static_cast<std::int32_t>(p.width);
  PoolInts nan{};
  for (std::int64_t oh = 0; oh < p.out_h; ++oh) {
    const float* r0 = xp + 2 * oh * p.width;
    max_pool_2x2_row(r0, r0 + p.width, p.out_w, static_cast<std::int32_t>(2 * oh * p.width), width,
                     yp + oh * p.out_w, ap + oh * p.out_w, nan);
  }
  if (!any_lane(nan))
    return;
  for (std::int64_t oh = 0; oh < p.out_h; ++oh)
    for (std::int64_t ow = 0; ow < p.out_w; ++ow)
      window_max_any<2>(p, xp, 2 * oh, 2 * ow, true, yp[oh * p.out_w + ow], ap[oh * p.out_w + ow]);
}

/// Divisor of the average-pooling window with top-left corner (hs, ws).
inline float avg_divisor(const Pool2dPlan& p, bool count_include_pad, std::int64_t hs, std::int64_t ws) {
  if (count_include_pad)
    return static_cast<float>(p.kernel * p.kernel);
  const std::int64_t rows = std::min(hs + p.kernel, p.height) - std::max<std::int64_t>(hs, 0);
  const std::int64_t cols = std::min(ws + p.kernel, p.width) - std::max<std::int64_t>(ws, 0);
  return static_cast<float>(rows * cols);
}

/// pool_lanes windows' worth of the gradient of 2x2 pooling with stride 2: the output gradients g go to the
/// window element that `argmax` names, zeros to the other three. `first` is the plane index of the first
/// window's top-left element; s receives the gradients of the windows' elements by position, lane by lane:
/// s[0] and s[1] for the even and odd columns of their first row, s[2] and s[3] of their second.
inline void max_pool_2x2_grad_select(const PoolFloats& g, const PoolInts& argmax, std::int32_t first,
                                     std::int32_t width, PoolFloats (&s)[4]) {
#if defined(__AVX512F__)
  const PoolInts lane{0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
#else
  const PoolInts lane{0, 2, 4, 6, 8, 10, 12, 14};
#endif
  const PoolInts offset = argmax - first - lane; // 0, 1, width or width + 1
  const PoolFloats zero{};
  s[0] = offset == 0 ? g : zero;
  s[1] = offset == 1 ? g : zero;
  s[2] = offset == width ? g : zero;
  s[3] = offset == width + 1 ? g : zero;
}

/// The gradient of one plane of 2x2 pooling with stride 2 and no padding, written row pair by row pair: each
/// input element lies in at most one window, so every element is stored once (no zero fill, no scatter),
/// with vector selects (scalar ones become branches, which mispredict). `dy` is the plane's output
/// gradient with the ReLU's zeros already applied.
inline void max_pool_2x2_plane_grad(const Pool2dPlan& p, const float* dy, const std::int32_t* argmax,
                                    float* dx) {
  const auto width = static_cast<std::int32_t>(p.width);
  for (std::int64_t oh = 0; oh < p.out_h; ++oh) {
    float* d0 = dx + 2 * oh * p.width;
    float* d1 = d0 + p.width;
    const float* g = dy + oh * p.out_w;
    const std::int32_t* a = argmax + oh * p.out_w;
    const auto row = static_cast<std::int32_t>(2 * oh * p.width);
    std::int64_t n = 0;
    for (; n + pool_lanes <= p.out_w; n += pool_lanes) {
      PoolFloats gv;
      PoolInts av;
      std::memcpy(&gv, g + n, sizeof gv);
      std::memcpy(&av, a + n, sizeof av);
      PoolFloats s[4];
      max_pool_2x2_grad_select(gv, av, row + 2 * static_cast<std::int32_t>(n), width, s);
      store_interleaved(d0 + 2 * n, s[0], s[1]);
      store_interleaved(d1 + 2 * n, s[2], s[3]);
    }
#if defined(__AVX2__) && !defined(__AVX512F__)
    if (n < p.out_w) {
      const std::int64_t rest = p.out_w - n;
      const PoolInts out = lanes_below(rest);
      PoolFloats s[4];
      max_pool_2x2_grad_select(load_lanes(g + n, out), load_lanes(a + n, out),
                               row + 2 * static_cast<std::int32_t>(n), width, s);
      store_interleaved_first(d0 + 2 * n, s[0], s[1], 2 * rest);
      store_interleaved_first(d1 + 2 * n, s[2], s[3], 2 * rest);
      n = p.out_w;
    }
#endif
    // Without AVX2, the last windows one by one: the gradient's bits masked by each position's hit, which
    // compiles without branches (copies into vector-sized buffers would cost library calls).
    for (; n < p.out_w; ++n) {
      const std::int32_t offset = a[n] - row - 2 * static_cast<std::int32_t>(n);
      const auto bits = std::bit_cast<std::uint32_t>(g[n]);
      const auto keep = [&](std::int32_t at) {
        return std::bit_cast<float>(bits & (0u - static_cast<std::uint32_t>(offset == at)));
      };
      d0[2 * n] = keep(0);
      d0[2 * n + 1] = keep(1);
      d1[2 * n] = keep(width);
      d1[2 * n + 1] = keep(width + 1);
    }
    if (p.width % 2 != 0) // the last column is in no window
      d0[p.width - 1] = d1[p.width - 1] = 0.0f;
  }
  if (p.height % 2 != 0)
    std::fill(dx + (p.height - 1) * p.width, dx + p.height * p.width, 0.0f);
}

/// Max pooling of one plane xp into yp, with each output's argmax (its index in the plane) in ap, followed
/// by a ReLU when `relu` is set (NaN becomes 0, as in relu()).
inline void max_pool_plane_forward(const Pool2dPlan& p, bool relu, const float* xp, float* yp,
                                   std::int32_t* ap) {
  if (p.kernel == 2 && p.stride == 2 && p.padding == 0)
    max_pool_plane_2x2(p, xp, yp, ap);
  else if (p.kernel == 2)
    max_pool_plane<2>(p, xp, yp, ap);
  else if (p.kernel == 3)
    max_pool_plane<3>(p, xp, yp, ap);
  else
    max_pool_plane<0>(p, xp, yp, ap);
  if (relu) // while the plane is in the cache
    for (std::int64_t o = 0; o < p.out_h * p.out_w; ++o)
      yp[o] = yp[o] > 0.0f ? yp[o] : 0.0f;
}

/// The input gradient dxp (overwritten) of one plane of max_pool_plane_forward, given its output yp, the
/// output gradient dyp and the argmax ap. With `relu` the ReLU's zeros are first applied to dyp in place.
inline void max_pool_plane_backward(const Pool2dPlan& p, bool relu, const float* yp, float* dyp,
                                    const std::int32_t* ap, float* dxp) {
  const std::int64_t out_plane = p.out_h * p.out_w;
  if (relu)
    for (std::int64_t o = 0; o < out_plane; ++o)
      dyp[o] = yp[o] > 0.0f ? dyp[o] : 0.0f;
  if (p.kernel == 2 && p.stride == 2 && p.padding == 0) {
    max_pool_2x2_plane_grad(p, dyp, ap, dxp);
    return;
  }
  // Zeroed just before the scatter into it, which then hits the cache.
  std::fill(dxp, dxp + p.height * p.width, 0.0f);
  for (std::int64_t o = 0; o < out_plane; ++o)
    dxp[ap[o]] += dyp[o];
}

} // namespace a2q::detail
