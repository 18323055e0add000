#pragma once
/// @file
/// Between 2L consecutive floats and their even and odd elements as two vectors of L lanes (the columns of
/// 2x2 pooling windows, of Winograd tiles): split and interleave. GCC lowers the generic shuffles of 8-float
/// AVX vectors to lane-crossing permutes (vpermd, vperm2f128), which Zen 1 runs as several micro-ops each;
/// 2x2 pooling then took 9% of a CNN epoch there. So with 8 lanes the floats move as 128-bit quarters q0..q3
/// (floats 0-3, 4-7, 8-11, 12-15) paired [q0 | q2] and [q1 | q3]: in-lane shuffles (vshufps) split them,
/// in-lane unpacks (vunpcklps, vunpckhps) interleave them. On a Zen 1 this made pooling a 28 x 28 plane
/// 1.6x faster and the CNN's float epoch 7-9% shorter (train_bench --model cnn).

#include <bit>
#include <cstring>
#include <utility>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace a2q::detail {

// The generic shuffles: of two vectors a, b (lanes 0 .. L - 1 of a, then L .. 2L - 1 of b), for any lane
// count L. Results go through references: without AVX, returning an 8-float vector would change the ABI.

/// The even and odd lanes of a, b.
template <class V, int... Lane>
inline void split_lanes(const V& a, const V& b, V& even, V& odd, std::integer_sequence<int, Lane...>) {
  even = __builtin_shufflevector(a, b, (2 * Lane)...);
  odd = __builtin_shufflevector(a, b, (2 * Lane + 1)...);
}

/// a and b interleaved (a0 b0 a1 b1 ...): the first L lanes in `low`, the next in `high`.
template <class V, int... Lane>
inline void interleave_lanes(const V& a, const V& b, V& low, V& high, std::integer_sequence<int, Lane...>) {
  constexpr int lanes = sizeof...(Lane);
  low = __builtin_shufflevector(a, b, ((Lane % 2) * lanes + Lane / 2)...);
  high = __builtin_shufflevector(a, b, ((Lane % 2) * lanes + lanes / 2 + Lane / 2)...);
}

#if defined(__AVX__)
/// The even and odd elements of 16 floats given as their quarters.
inline void split_quarters(__m128 q0, __m128 q1, __m128 q2, __m128 q3, __m256& even, __m256& odd) {
  const __m256 a = _mm256_insertf128_ps(_mm256_castps128_ps256(q0), q2, 1);
  const __m256 b = _mm256_insertf128_ps(_mm256_castps128_ps256(q1), q3, 1);
  even = _mm256_shuffle_ps(a, b, 0x88); // a0 a2 b0 b2 | a4 a6 b4 b6
  odd = _mm256_shuffle_ps(a, b, 0xDD);  // a1 a3 b1 b3 | a5 a7 b5 b7
}

/// The quarters of a and b interleaved (a0 b0 a1 b1 ... a7 b7).
inline void interleave_quarters(__m256 a, __m256 b, __m128 (&q)[4]) {
  const __m256 low = _mm256_unpacklo_ps(a, b);  // quarters 0 | 2
  const __m256 high = _mm256_unpackhi_ps(a, b); // quarters 1 | 3
  q[0] = _mm256_castps256_ps128(low);
  q[1] = _mm256_castps256_ps128(high);
  q[2] = _mm256_extractf128_ps(low, 1);
  q[3] = _mm256_extractf128_ps(high, 1);
}
#endif

/// even = from[0, 2, ..., 2L - 2] and odd = from[1, 3, ..., 2L - 1] for vectors V of L floats.
template <class V>
inline void load_even_odd(const float* from, V& even, V& odd) {
  constexpr int lanes = sizeof(V) / sizeof(float);
#if defined(__AVX__)
  if constexpr (lanes == 8) {
    __m256 e, o;
    split_quarters(_mm_loadu_ps(from), _mm_loadu_ps(from + 4), _mm_loadu_ps(from + 8),
                   _mm_loadu_ps(from + 12), e, o);
    even = std::bit_cast<V>(e);
    odd = std::bit_cast<V>(o);
    return;
  }
#endif
  V a, b;
  std::memcpy(&a, from, sizeof a);
  std::memcpy(&b, from + lanes, sizeof b);
  split_lanes(a, b, even, odd, std::make_integer_sequence<int, lanes>{});
}

/// Writes the 2L floats of a and b interleaved (a0 b0 a1 b1 ...) for vectors V of L floats.
template <class V>
inline void store_interleaved(float* to, const V& a, const V& b) {
  constexpr int lanes = sizeof(V) / sizeof(float);
#if defined(__AVX__)
  if constexpr (lanes == 8) {
    __m128 q[4];
    interleave_quarters(std::bit_cast<__m256>(a), std::bit_cast<__m256>(b), q);
    for (int i = 0; i < 4; ++i)
      _mm_storeu_ps(to + 4 * i, q[i]);
    return;
  }
#endif
  V low, high;
  interleave_lanes(a, b, low, high, std::make_integer_sequence<int, lanes>{});
  std::memcpy(to, &low, sizeof low);
  std::memcpy(to + lanes, &high, sizeof high);
}

} // namespace a2q::detail
