#pragma once
/// @file
/// The fast dense int8 path: u8 inputs x s8 weights -> s32, bit-exact with linear_reference and
/// conv2d_reference whenever the weights are int8 and 255·Σ_k|w[c, k]| fits int32 (then no partial sum
/// can overflow int32, whatever order the kernel adds the products in).
///
/// Three implementations behind one entry point, dense_gemm_u8s8, chosen by the ISA the weights were
/// packed for:
///  - avx512_vnni: vpdpbusd (4 u8·s8 products summed into each s32 lane) in a register-blocked tile of
///    up to 4 samples x 64 channels; weights packed in 4-byte k-groups per 16-channel block so that one
///    aligned 64-byte load feeds 16 channels, inputs broadcast 4 bytes at a time;
///  - avx2: inputs widened to int16 and multiplied with vpmaddwd (2 products per s32 lane, exact), not
///    vpmaddubsw, whose int16 sums saturate;
///  - portable: plain loops.

#include "a2q/core/tensor.hpp"
#include "a2q/engine/cpu_features.hpp"
#include "a2q/engine/reference_kernels.hpp"
#include "a2q/engine/u8_gemm_lowering.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#ifdef A2Q_X86_KERNELS
#include <immintrin.h>
#endif

namespace a2q::engine {

/// Int8 weights [C, K] checked and packed for dense_gemm_u8s8 on one ISA.
///
/// Layout: channels are grouped in blocks of channel_block() and the dot-product index k in groups of
/// k_group(); block b holds padded_depth()·channel_block() bytes, in which group g holds, for each
/// channel of the block in turn, its k_group() consecutive weights. Channels past C and k past K are
/// zero. Portable: 1 x 1 (plain [C, K]); AVX2: 8 channels x 2 (one vpmaddwd pair); AVX-512 VNNI:
/// 16 channels x 4 (one vpdpbusd quad).
class PackedDenseWeights {
public:
  /// @param weights integer weights [C, K], or [C_out, C_in, kh, kw] (flattened to K = C_in·kh·kw)
  /// @param isa layout and kernel to use; at most detected_isa()
  /// @throws config_error if a weight is outside int8, if 255·Σ_k|w[c, k]| does not fit int32 for some
  ///         channel (use the reference kernels then), or if the CPU lacks `isa`
  explicit PackedDenseWeights(const Tensor<std::int32_t>& weights, KernelIsa isa = active_isa()) : isa_(isa) {
    if (static_cast<int>(isa) > static_cast<int>(detected_isa()))
      throw config_error(std::string("PackedDenseWeights: ISA ") + to_string(isa) +
                         " is not supported by this CPU (at most " + to_string(detected_isa()) + ")");
    a2q::detail::Int8WeightSummary summary =
        a2q::detail::summarize_int8_weights("PackedDenseWeights", weights);
    channels_ = summary.channels;
    depth_ = summary.depth;
    row_sums_ = std::move(summary.row_sums);
    const int cb = channel_block();
    const int kg = k_group();
    padded_depth_ = (depth_ + kg - 1) / kg * kg;
    const std::int64_t blocks = (channels_ + cb - 1) / cb;
    packed_.assign(static_cast<std::size_t>(blocks * cb * padded_depth_), 0);
    for (std::int64_t c = 0; c < channels_; ++c)
      for (std::int64_t k = 0; k < depth_; ++k)
        packed_[static_cast<std::size_t>(offset(c, k))] = static_cast<std::int8_t>(weights[c * depth_ + k]);
  }

  KernelIsa isa() const { return isa_; }
  /// C, the number of output channels.
  std::int64_t channels() const { return channels_; }
  /// K, the dot-product length.
  std::int64_t depth() const { return depth_; }
  /// K rounded up to a multiple of k_group().
  std::int64_t padded_depth() const { return padded_depth_; }
  /// Σ_k w[c, k] per channel.
  std::span<const std::int64_t> row_sums() const { return row_sums_; }
  int channel_block() const { return isa_ == KernelIsa::avx512_vnni ? 16 : isa_ == KernelIsa::avx2 ? 8 : 1; }
  int k_group() const { return isa_ == KernelIsa::avx512_vnni ? 4 : isa_ == KernelIsa::avx2 ? 2 : 1; }
  /// Bytes from one channel block to the next.
  std::int64_t block_bytes() const { return padded_depth_ * channel_block(); }
  /// The packed weights (64-byte aligned).
  const std::int8_t* packed() const { return packed_.data(); }
  /// Position of w[c, k] in packed().
  std::int64_t offset(std::int64_t c, std::int64_t k) const {
    const int cb = channel_block();
    const int kg = k_group();
    return (c / cb) * block_bytes() + (k / kg) * kg * cb + (c % cb) * kg + k % kg;
  }
  /// What the lowering to a u8 GEMM needs (shape and row sums).
  a2q::detail::U8GemmWeights gemm_weights() const { return {channels_, depth_, row_sums_, isa_}; }

private:
  KernelIsa isa_;
  std::int64_t channels_ = 0;
  std::int64_t depth_ = 0;
  std::int64_t padded_depth_ = 0;
  std::vector<std::int64_t> row_sums_;
  a2q::detail::KernelBuffer<std::int8_t> packed_;
};

} // namespace a2q::engine

namespace a2q::detail {

/// out[n·C + c] = Σ_k w[c, k]·x[n·K + k] with plain loops: the portable path.
inline void dense_gemm_portable(const std::uint8_t* x, std::int64_t N, const engine::PackedDenseWeights& w,
                                std::int32_t* out) {
  const std::int64_t K = w.depth();
  const std::int64_t C = w.channels();
  const std::int8_t* weights = w.packed(); // [C, K] in the portable layout
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c) {
      std::int32_t acc = 0; // cannot overflow: 255·Σ|w| fits int32
      for (std::int64_t k = 0; k < K; ++k)
        acc += std::int32_t{weights[c * K + k]} * std::int32_t{x[n * K + k]};
      out[n * C + c] = acc;
    }
}

#ifdef A2Q_X86_KERNELS

/// One register tile of the SIMD kernels: up to MR samples x NB channel blocks, over the whole depth.
struct DenseTile {
  const void* x;              ///< first sample's inputs (u8 for VNNI, int16 for AVX2)
  std::int64_t x_stride;      ///< elements from one sample to the next
  const std::int8_t* w;       ///< first channel block of the tile
  std::int64_t block_bytes;   ///< bytes from one channel block to the next
  std::int64_t groups;        ///< k-groups (VNNI: 4 inputs) or k-pairs (AVX2) per row, the last maybe partial
  int last_group_bytes;       ///< inputs in the last k-group (VNNI: 1..4)
  std::int32_t* out;          ///< out[first sample, first channel of the tile]
  std::int64_t out_stride;    ///< C
  std::int64_t channels_left; ///< channels from the tile's first to C (may exceed the tile)
};

using DenseTileKernel = void (*)(const DenseTile&);

/// Table of tile kernels Kernel<mr, nb>::run for mr in [1, MR], nb in [1, NB], indexed (mr-1)·NB + nb-1,
/// so that the sample and channel tails run the same code with smaller register tiles.
template <int MR, int NB, template <int, int> class Kernel, std::size_t... I>
constexpr std::array<DenseTileKernel, sizeof...(I)> make_tile_table(std::index_sequence<I...>) {
  return {&Kernel<static_cast<int>(I) / NB + 1, static_cast<int>(I) % NB + 1>::run...};
}

inline std::int32_t load_i32(const void* p) {
  std::int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

/// The first `bytes` (1..4) bytes at p, zero-extended.
inline std::int32_t load_i32_partial(const std::uint8_t* p, int bytes) {
  std::uint32_t v = 0;
  std::memcpy(&v, p, static_cast<std::size_t>(bytes));
  return static_cast<std::int32_t>(v);
}

/// Runs the tiles of a dense GEMM: channel panels of up to NB blocks, samples in steps of up to MR.
/// The tile holding the last sample runs from `last_tiles` (which may guard its reads of the inputs).
template <int MR, int NB>
void run_dense_tiles(const std::array<DenseTileKernel, MR * NB>& tiles,
                     const std::array<DenseTileKernel, MR * NB>& last_tiles, const void* x,
                     std::size_t x_elem, std::int64_t x_stride, std::int64_t N,
                     const engine::PackedDenseWeights& w, std::int64_t groups, int last_group_bytes,
                     std::int32_t* out) {
  const std::int64_t C = w.channels();
  const int cb = w.channel_block();
  const std::int64_t blocks = (C + cb - 1) / cb;
  for (std::int64_t b0 = 0; b0 < blocks; b0 += NB) {
    const auto nb = static_cast<int>(std::min<std::int64_t>(NB, blocks - b0));
    for (std::int64_t n0 = 0; n0 < N; n0 += MR) {
      const auto mr = static_cast<int>(std::min<std::int64_t>(MR, N - n0));
      const DenseTile tile{.x =
                               static_cast<const char*>(x) + static_cast<std::size_t>(n0 * x_stride) * x_elem,
                           .x_stride = x_stride,
                           .w = w.packed() + b0 * w.block_bytes(),
                           .block_bytes = w.block_bytes(),
                           .groups = groups,
                           .last_group_bytes = last_group_bytes,
                           .out = out + n0 * C + b0 * cb,
                           .out_stride = C,
                           .channels_left = C - b0 * cb};
      const auto index = static_cast<std::size_t>((mr - 1) * NB + nb - 1);
      (n0 + mr == N ? last_tiles : tiles)[index](tile);
    }
  }
}

/// AVX2 tile: int16 inputs, weights widened from int8, vpmaddwd (w0·x0 + w1·x1 per s32 lane, exact).
template <int MR, int NB>
struct DenseTileAvx2 {
  __attribute__((target("avx2"))) static void run(const DenseTile& t) {
    const auto* x = static_cast<const std::int16_t*>(t.x);
    __m256i acc[MR][NB];
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m)
#pragma GCC unroll 8
      for (int b = 0; b < NB; ++b)
        acc[m][b] = _mm256_setzero_si256();
    for (std::int64_t p = 0; p < t.groups; ++p) {
      __m256i wv[NB];
#pragma GCC unroll 8
      for (int b = 0; b < NB; ++b)
        wv[b] = _mm256_cvtepi8_epi16(
            _mm_load_si128(reinterpret_cast<const __m128i*>(t.w + b * t.block_bytes + p * 16)));
#pragma GCC unroll 8
      for (int m = 0; m < MR; ++m) {
        const __m256i xb = _mm256_set1_epi32(load_i32(x + m * t.x_stride + 2 * p));
#pragma GCC unroll 8
        for (int b = 0; b < NB; ++b)
          acc[m][b] = _mm256_add_epi32(acc[m][b], _mm256_madd_epi16(wv[b], xb));
      }
    }
#pragma GCC unroll 8
    for (int b = 0; b < NB; ++b) {
      const std::int64_t valid = std::min<std::int64_t>(8, t.channels_left - 8 * b);
#pragma GCC unroll 8
      for (int m = 0; m < MR; ++m) {
        std::int32_t* dst = t.out + m * t.out_stride + 8 * b;
        if (valid == 8) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), acc[m][b]);
        } else {
          alignas(32) std::int32_t lanes[8];
          _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc[m][b]);
          std::copy_n(lanes, valid, dst);
        }
      }
    }
  }
};

__attribute__((target("avx2"))) inline void dense_gemm_avx2(const std::uint8_t* x, std::int64_t N,
                                                            const engine::PackedDenseWeights& w,
                                                            std::int32_t* out) {
  constexpr int MR = 4; // 4 samples x 2 blocks of 8 channels: 8 accumulators, 2 weights, 1 input
  constexpr int NB = 2;
  static constexpr auto tiles = make_tile_table<MR, NB, DenseTileAvx2>(std::make_index_sequence<MR * NB>{});
  const std::int64_t K = w.depth();
  const std::int64_t Kp = w.padded_depth();
  // vpmaddwd multiplies int16: widen the inputs once per call (zero past K, like the weights).
  KernelBuffer<std::int16_t> xw(static_cast<std::size_t>(N * Kp));
  for (std::int64_t n = 0; n < N; ++n) {
    std::int16_t* row = xw.data() + n * Kp;
    for (std::int64_t k = 0; k < K; ++k)
      row[k] = static_cast<std::int16_t>(x[n * K + k]);
    std::fill(row + K, row + Kp, std::int16_t{0});
  }
  run_dense_tiles<MR, NB>(tiles, tiles, xw.data(), sizeof(std::int16_t), Kp, N, w, Kp / 2, 2, out);
}

/// An aligned 64-byte load that stays a separate instruction. Under -mtune=znver* GCC otherwise folds
/// the weight loads into every vpdpbusd as memory operands: each weight vector is then loaded MR times
/// and the tile becomes load-bound (25% slower). Clang keeps them in registers on its own, and the empty
/// asm costs it a spill, so it is GCC only.
__attribute__((target("avx512f"), always_inline)) inline __m512i load_to_register(const std::int8_t* p) {
  __m512i v = _mm512_load_si512(p);
#if !defined(__clang__)
  asm("" : "+v"(v));
#endif
  return v;
}

/// AVX-512 VNNI tile: 4 input bytes broadcast to every lane, vpdpbusd against 16 channels' 4 weights.
/// Reading a whole 4-byte group at the end of a row may read up to 3 bytes of the next row; they meet
/// zero weights (K is padded with zeros), so only the last row of x must not be over-read: the tile
/// holding it runs with GuardLastRow and reads its last k-group byte by byte.
template <int MR, int NB, bool GuardLastRow>
struct DenseTileVnni {
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) static void run(const DenseTile& t) {
    const auto* x = static_cast<const std::uint8_t*>(t.x);
    __m512i acc[MR][NB];
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m)
#pragma GCC unroll 8
      for (int b = 0; b < NB; ++b)
        acc[m][b] = _mm512_setzero_si512();
    const std::int64_t whole = GuardLastRow && t.last_group_bytes < 4 ? t.groups - 1 : t.groups;
    // A pointer-stepping loop: an indexed one made GCC under -mtune=znver* rotate the accumulators
    // through other registers and the stack on every iteration.
    const std::int8_t* w = t.w;
    const std::int8_t* const w_end = t.w + whole * 64;
    for (; w != w_end; w += 64, x += 4) {
      __m512i wv[NB];
#pragma GCC unroll 8
      for (int b = 0; b < NB; ++b)
        wv[b] = load_to_register(w + b * t.block_bytes);
#pragma GCC unroll 8
      for (int m = 0; m < MR; ++m) {
        const __m512i xb = _mm512_set1_epi32(load_i32(x + m * t.x_stride));
#pragma GCC unroll 8
        for (int b = 0; b < NB; ++b)
          acc[m][b] = _mm512_dpbusd_epi32(acc[m][b], xb, wv[b]);
      }
    }
    if (whole < t.groups) { // GuardLastRow: the incomplete last group, read byte by byte
#pragma GCC unroll 8
      for (int b = 0; b < NB; ++b) {
        const __m512i wv = _mm512_load_si512(w + b * t.block_bytes);
#pragma GCC unroll 8
        for (int m = 0; m < MR; ++m) {
          const __m512i xb = _mm512_set1_epi32(load_i32_partial(x + m * t.x_stride, t.last_group_bytes));
          acc[m][b] = _mm512_dpbusd_epi32(acc[m][b], xb, wv);
        }
      }
    }
    // A partial channel block (a classifier's 10 outputs) is a masked store: a copy through a buffer
    // cost a memmove call per sample, a quarter of such a layer's time.
#pragma GCC unroll 8
    for (int b = 0; b < NB; ++b) {
      const std::int64_t valid = std::min<std::int64_t>(16, t.channels_left - 16 * b);
      const auto mask = static_cast<__mmask16>((1u << valid) - 1);
#pragma GCC unroll 8
      for (int m = 0; m < MR; ++m) {
        std::int32_t* dst = t.out + m * t.out_stride + 16 * b;
        if (valid == 16)
          _mm512_storeu_si512(dst, acc[m][b]);
        else
          _mm512_mask_storeu_epi32(dst, mask, acc[m][b]);
      }
    }
  }
};

template <int MR, int NB>
using DenseTileVnniInner = DenseTileVnni<MR, NB, false>;
template <int MR, int NB>
using DenseTileVnniLast = DenseTileVnni<MR, NB, true>;

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline void
dense_gemm_vnni(const std::uint8_t* x, std::int64_t N, const engine::PackedDenseWeights& w,
                std::int32_t* out) {
  const std::int64_t K = w.depth();
  const std::int64_t groups = (K + 3) / 4;
  const auto last_group_bytes = static_cast<int>(K - 4 * (groups - 1));
  if (w.channels() <= 16) {
    // One channel block (a classifier): 8 samples at a time, so that 8 independent vpdpbusd chains
    // hide its latency; 4 would leave the unit idle half the time.
    constexpr int MR = 8;
    static constexpr auto inner = make_tile_table<MR, 1, DenseTileVnniInner>(std::make_index_sequence<MR>{});
    static constexpr auto last = make_tile_table<MR, 1, DenseTileVnniLast>(std::make_index_sequence<MR>{});
    run_dense_tiles<MR, 1>(inner, last, x, sizeof(std::uint8_t), K, N, w, groups, last_group_bytes, out);
    return;
  }
  constexpr int MR = 4; // 4 samples x 4 blocks of 16 channels: 16 accumulators, 4 weights, 1 input
  constexpr int NB = 4;
  static constexpr auto inner =
      make_tile_table<MR, NB, DenseTileVnniInner>(std::make_index_sequence<MR * NB>{});
  static constexpr auto last =
      make_tile_table<MR, NB, DenseTileVnniLast>(std::make_index_sequence<MR * NB>{});
  run_dense_tiles<MR, NB>(inner, last, x, sizeof(std::uint8_t), K, N, w, groups, last_group_bytes, out);
}

#endif // A2Q_X86_KERNELS

} // namespace a2q::detail

namespace a2q::engine {

/// Raw dense kernel: out[n·C + c] = Σ_k w[c, k]·x[n·K + k], exact, using the ISA w was packed for.
/// @param x u8 inputs [N, K], rows contiguous
/// @param N number of samples (rows of x)
/// @param w packed weights [C, K]
/// @param out s32 results [N, C]
inline void dense_gemm_u8s8(const std::uint8_t* x, std::int64_t N, const PackedDenseWeights& w,
                            std::int32_t* out) {
  if (N <= 0)
    return;
  switch (w.isa()) {
#ifdef A2Q_X86_KERNELS
  case KernelIsa::avx512_vnni:
    a2q::detail::dense_gemm_vnni(x, N, w, out);
    return;
  case KernelIsa::avx2:
    a2q::detail::dense_gemm_avx2(x, N, w, out);
    return;
#endif
  default:
    a2q::detail::dense_gemm_portable(x, N, w, out);
  }
}

/// Integer fully connected layer, equal to linear_reference(x, w, bias_start, P, policy) for every P
/// and policy under which the reference cannot overflow (e.g. P = 32 and above).
/// @param x inputs [N, K], all in [0, 255] or all in [-128, 127] (s8 inputs are offset by 128 and
///          corrected exactly)
/// @param w packed weights [C, K]
/// @param bias_start accumulator start per output channel, or empty
/// @returns [N, C] accumulator values (bias_start added in int64)
/// @throws shape_error for mismatched shapes; config_error for inputs outside both ranges
inline Tensor<std::int64_t> linear_dense(const Tensor<std::int32_t>& x, const PackedDenseWeights& w,
                                         std::span<const std::int64_t> bias_start = {}) {
  return a2q::detail::linear_via_u8_gemm("linear_dense", x, w.gemm_weights(), bias_start,
                                         [&w](const std::uint8_t* xs, std::int64_t rows, std::int32_t* out) {
                                           dense_gemm_u8s8(xs, rows, w, out);
                                         });
}

/// Integer 2-D convolution through im2col, equal to conv2d_reference when the reference cannot overflow.
/// @param x inputs [N, C_in, H, W] (u8 or s8 values, as for linear_dense); padding is the value 0
/// @param w packed weights [C_out, C_in·kh·kw] in (ci, ky, kx) order
/// @param bias_start accumulator start per output channel, or empty
/// @param geometry stride and padding; groups must be 1
/// @param kh kernel height
/// @param kw kernel width
/// @returns [N, C_out, H_out, W_out]
/// @throws shape_error for shapes that do not fit; config_error for bad geometry, groups != 1, or
///         inputs outside both ranges
inline Tensor<std::int64_t> conv2d_dense(const Tensor<std::int32_t>& x, const PackedDenseWeights& w,
                                         std::span<const std::int64_t> bias_start,
                                         const Conv2dGeometry& geometry, std::int64_t kh, std::int64_t kw) {
  return a2q::detail::conv2d_via_u8_gemm("conv2d_dense", x, w.gemm_weights(), bias_start, geometry, kh, kw,
                                         [&w](const std::uint8_t* xs, std::int64_t rows, std::int32_t* out) {
                                           dense_gemm_u8s8(xs, rows, w, out);
                                         });
}

} // namespace a2q::engine
