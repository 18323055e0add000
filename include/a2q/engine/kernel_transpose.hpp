#pragma once
/// @file
/// The two transposes around the SIMD sparse kernel (sparse_kernel.hpp), which vectorises across
/// samples and therefore wants its operands sample-minor: u8 inputs [N, K] -> [K, N_padded] before, and
/// its results [C, samples] (int32, or int16 pairs packed in int32) -> s32 out [N, C] after. Built from
/// 16 x 16 byte and 8 x 8 int32 register transposes (AVX2), since scalar transposes would cost as much
/// as the sparse product itself.

#include "a2q/engine/cpu_features.hpp"

#include <algorithm>
#include <cstdint>

#ifdef A2Q_X86_KERNELS
#include <immintrin.h>
#endif

namespace a2q::detail {

#ifdef A2Q_X86_KERNELS

/// In-register transpose of two 16 x 16 byte tiles at once, one per 128-bit lane: byte c of row i of
/// lane L becomes byte i of row c of lane L.
__attribute__((target("avx2"), always_inline)) inline void transpose_2x16x16_u8(__m256i r[16]) {
  __m256i t[16];
#pragma GCC unroll 16
  for (int j = 0; j < 8; ++j) { // rows 2j, 2j+1 interleaved: columns 0-7, 8-15
    t[2 * j] = _mm256_unpacklo_epi8(r[2 * j], r[2 * j + 1]);
    t[2 * j + 1] = _mm256_unpackhi_epi8(r[2 * j], r[2 * j + 1]);
  }
  __m256i u[16];
#pragma GCC unroll 16
  for (int q = 0; q < 4; ++q) // u[4q + i]: rows 4q..4q+3 of columns 4i..4i+3
#pragma GCC unroll 16
    for (int h = 0; h < 2; ++h) {
      u[4 * q + 2 * h] = _mm256_unpacklo_epi16(t[4 * q + h], t[4 * q + 2 + h]);
      u[4 * q + 2 * h + 1] = _mm256_unpackhi_epi16(t[4 * q + h], t[4 * q + 2 + h]);
    }
  __m256i v[16];
#pragma GCC unroll 16
  for (int o = 0; o < 2; ++o) // v[8o + m]: rows 8o..8o+7 of columns 2m, 2m+1
#pragma GCC unroll 16
    for (int i = 0; i < 4; ++i) {
      v[8 * o + 2 * i] = _mm256_unpacklo_epi32(u[8 * o + i], u[8 * o + 4 + i]);
      v[8 * o + 2 * i + 1] = _mm256_unpackhi_epi32(u[8 * o + i], u[8 * o + 4 + i]);
    }
#pragma GCC unroll 16
  for (int m = 0; m < 8; ++m) { // all 16 rows of columns 2m and 2m+1
    r[2 * m] = _mm256_unpacklo_epi64(v[m], v[8 + m]);
    r[2 * m + 1] = _mm256_unpackhi_epi64(v[m], v[8 + m]);
  }
}

/// xt[k·stride + n] = x[n·K + k] for n < N, and 0 for N <= n < stride.
/// @param stride a multiple of 16
__attribute__((target("avx2"))) inline void transpose_inputs_u8(const std::uint8_t* x, std::int64_t N,
                                                                std::int64_t K, std::uint8_t* xt,
                                                                std::int64_t stride) {
  alignas(32) static constexpr std::uint8_t zeros[32] = {};
  const std::int64_t K32 = K / 32 * 32;
  // 64 samples (one cache line of each xt row) at a time, so that xt is written in whole lines.
  for (std::int64_t n0 = 0; n0 < stride; n0 += 64) {
    const std::int64_t count = std::min<std::int64_t>(64, stride - n0);
    const std::uint8_t* rows[64]; // the input rows of samples n0.., null past N
    for (std::int64_t i = 0; i < count; ++i)
      rows[i] = n0 + i < N ? x + (n0 + i) * K : nullptr;
    for (std::int64_t k0 = 0; k0 < K32; k0 += 32)
      for (std::int64_t t = 0; t < count; t += 16) {
        __m256i r[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) {
          const std::uint8_t* src = rows[t + i] != nullptr ? rows[t + i] + k0 : zeros;
          r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
        }
        transpose_2x16x16_u8(r);
        std::uint8_t* dst = xt + k0 * stride + n0 + t;
#pragma GCC unroll 16
        for (int c = 0; c < 16; ++c) {
          _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + c * stride), _mm256_castsi256_si128(r[c]));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (16 + c) * stride),
                           _mm256_extracti128_si256(r[c], 1));
        }
      }
    for (std::int64_t k = K32; k < K; ++k) // the last columns
      for (std::int64_t i = 0; i < count; ++i)
        xt[k * stride + n0 + i] = rows[i] != nullptr ? rows[i][k] : std::uint8_t{0};
  }
}

/// In-register transpose of 8 x 8 int32.
__attribute__((target("avx2"), always_inline)) inline void transpose_8x8_i32(__m256i r[8]) {
  __m256i t[8];
#pragma GCC unroll 16
  for (int j = 0; j < 4; ++j) {
    t[2 * j] = _mm256_unpacklo_epi32(r[2 * j], r[2 * j + 1]);
    t[2 * j + 1] = _mm256_unpackhi_epi32(r[2 * j], r[2 * j + 1]);
  }
  __m256i u[8];
#pragma GCC unroll 16
  for (int q = 0; q < 2; ++q) // u[4q + i]: rows 4q..4q+3 of columns {i | i+4}
#pragma GCC unroll 16
    for (int h = 0; h < 2; ++h) {
      u[4 * q + 2 * h] = _mm256_unpacklo_epi64(t[4 * q + h], t[4 * q + 2 + h]);
      u[4 * q + 2 * h + 1] = _mm256_unpackhi_epi64(t[4 * q + h], t[4 * q + 2 + h]);
    }
#pragma GCC unroll 16
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x20);
    r[c + 4] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x31);
  }
}

/// rows[p][c] = tile[c·tile_stride + p] for c < channels and every position p < positions whose row is
/// not null: the kernel's channel-major results written into the [N, C] output, where rows[p] is the
/// output row of position p's sample. Row by row (8 at a time), so that the output is written in long
/// sequential runs.
/// @param positions a multiple of 8
__attribute__((target("avx2"))) inline void
store_tile_transposed(const std::int32_t* tile, std::int64_t tile_stride, std::int64_t channels,
                      std::int64_t positions, std::int32_t* const* rows) {
  const std::int64_t C8 = channels / 8 * 8;
  for (std::int64_t p0 = 0; p0 < positions; p0 += 8) {
    for (std::int64_t c0 = 0; c0 < C8; c0 += 8) {
      __m256i r[8];
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i)
        r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + (c0 + i) * tile_stride + p0));
      transpose_8x8_i32(r);
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j)
        if (rows[p0 + j] != nullptr)
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(rows[p0 + j] + c0), r[j]);
    }
    for (std::int64_t p = p0; p < p0 + 8; ++p) // the last channels
      if (rows[p] != nullptr)
        for (std::int64_t c = C8; c < channels; ++c)
          rows[p][c] = tile[c * tile_stride + p];
  }
}

/// store_tile_transposed for a tile whose int32 elements each hold two samples' int16 results, the
/// even sample (rows[2j]) in the low half and the odd one (rows[2j + 1]) in the high half: 8 x 8
/// element transposes, then the halves sign-extended by shifts (not shuffles, which the transposes
/// already keep busy). Each pass writes 16 adjacent output rows; channels go in chunks whose part of the
/// tile stays in L1 meanwhile.
/// @param pairs a multiple of 8; rows holds 2·pairs entries
__attribute__((target("avx2"))) inline void
store_pair_tile_transposed(const std::int32_t* tile, std::int64_t tile_stride, std::int64_t channels,
                           std::int64_t pairs, std::int32_t* const* rows) {
  constexpr std::int64_t chunk_bytes = 32 * 1024;
  const std::int64_t chunk = std::max<std::int64_t>(
      8, chunk_bytes / (tile_stride * static_cast<std::int64_t>(sizeof(std::int32_t))) / 8 * 8);
  const std::int64_t C8 = channels / 8 * 8;
  for (std::int64_t first = 0; first < C8; first += chunk) {
    const std::int64_t last = std::min(first + chunk, C8);
    for (std::int64_t j0 = 0; j0 < pairs; j0 += 8)
      for (std::int64_t c0 = first; c0 < last; c0 += 8) {
        __m256i r[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; ++i)
          r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + (c0 + i) * tile_stride + j0));
        transpose_8x8_i32(r); // r[j]: channels c0..c0+7 of pair j0 + j
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
          std::int32_t* even = rows[2 * (j0 + j)];
          std::int32_t* odd = rows[2 * (j0 + j) + 1];
          if (even != nullptr)
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(even + c0),
                                _mm256_srai_epi32(_mm256_slli_epi32(r[j], 16), 16));
          if (odd != nullptr)
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(odd + c0), _mm256_srai_epi32(r[j], 16));
        }
      }
  }
  for (std::int64_t j = 0; j < pairs; ++j) // the last channels
    for (std::int64_t c = C8; c < channels; ++c) {
      const std::int32_t packed = tile[c * tile_stride + j];
      if (rows[2 * j] != nullptr)
        rows[2 * j][c] = static_cast<std::int16_t>(packed & 0xffff);
      if (rows[2 * j + 1] != nullptr)
        rows[2 * j + 1][c] = packed >> 16;
    }
}

/// dst[c·rows + r] = start[c] + (acc[r·C + c] - correction[c]) for r < rows, c < C: a convolution's GEMM
/// results [positions, C] as its [C, positions] output plane, widened to int64 (the bracket first: it is the
/// exact dot product, and start - correction need not fit int64), through 8 x 8 register transposes (plain
/// loops gather the strided int32 one by one).
__attribute__((target("avx2"))) inline void
add_offsets_transposed_avx2(const std::int32_t* acc, std::int64_t rows, std::int64_t C,
                            const std::int64_t* start, const std::int64_t* correction, std::int64_t* dst) {
  const std::int64_t rows8 = rows / 8 * 8;
  const std::int64_t C8 = C / 8 * 8;
  const auto scalar = [&](std::int64_t c, std::int64_t row) {
    dst[c * rows + row] = start[c] + (acc[row * C + c] - correction[c]);
  };
  for (std::int64_t c0 = 0; c0 < C8; c0 += 8) {
    for (std::int64_t r0 = 0; r0 < rows8; r0 += 8) {
      __m256i r[8]; // rows r0..r0+7, channels c0..c0+7
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i)
        r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + (r0 + i) * C + c0));
      transpose_8x8_i32(r); // r[j]: channel c0 + j at rows r0..r0+7
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        const __m256i base = _mm256_set1_epi64x(start[c0 + j]);
        const __m256i minus = _mm256_set1_epi64x(correction[c0 + j]);
        std::int64_t* out = dst + (c0 + j) * rows + r0;
        const __m256i low = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(r[j]));
        const __m256i high = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(r[j], 1));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                            _mm256_add_epi64(base, _mm256_sub_epi64(low, minus)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 4),
                            _mm256_add_epi64(base, _mm256_sub_epi64(high, minus)));
      }
    }
    for (std::int64_t c = c0; c < c0 + 8; ++c) // the last rows
      for (std::int64_t row = rows8; row < rows; ++row)
        scalar(c, row);
  }
  for (std::int64_t c = C8; c < C; ++c) // the last channels
    for (std::int64_t row = 0; row < rows; ++row)
      scalar(c, row);
}

#endif // A2Q_X86_KERNELS

} // namespace a2q::detail
