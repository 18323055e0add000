#pragma once
/// @file
/// The fast sparse int8 path, for the weights A2Q produces: mostly zeros (often > 90%) and, at P = 16,
/// so small that 255·Σ_k|w[c, k]| <= 32767 for every channel. Then every partial sum of a u8 dot
/// product, in any order, fits int16, and the kernel accumulates in int16 lanes. Otherwise (up to the
/// same int32 limit as the dense path) it accumulates in int32 lanes. Bit-exact with linear_reference
/// and conv2d_reference, like the dense path.
///
/// The kernel vectorises across samples: the inputs are transposed to [K, N] once per call (that cost is
/// part of the kernel), and each output channel adds up the input rows of its nonzero weights, for
/// blocks of samples at a time. Several samples share each lane: two per 16-bit lane (the even one in
/// the low byte, the odd one in the high byte, summed apart by a shift), or four per 32-bit lane, so one
/// 64-byte load serves 64 samples and no byte is ever widened. The nonzeros are grouped by magnitude
/// (with A2Q's small L1 norms most are ±1 or ±2): within a group the rows are only added or subtracted,
/// and one multiplication per group applies the magnitude. Exact because wrap-around arithmetic is exact
/// modulo 2^16 (2^32) and the final sums are known to fit.
///
/// For weights with few zeros use the dense path: this one costs per nonzero and per distinct magnitude.

#include "a2q/core/tensor.hpp"
#include "a2q/engine/cpu_features.hpp"
#include "a2q/engine/kernel_transpose.hpp"
#include "a2q/engine/reference_kernels.hpp"
#include "a2q/engine/u8_gemm_lowering.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace a2q::engine {

/// Int8 weights [C, K] checked and stored as the nonzeros of each output channel, grouped by magnitude,
/// for sparse_gemm_u8s8 on one ISA.
class PackedSparseWeights {
public:
  /// The nonzeros of one channel with one magnitude m: weight +m at the inputs
  /// k_index()[plus_begin, minus_begin) and -m at k_index()[minus_begin, end), each sorted by k.
  struct Run {
    std::int32_t magnitude;
    std::int64_t plus_begin;
    std::int64_t minus_begin;
    std::int64_t end;
  };

  /// @param weights integer weights [C, K], or [C_out, C_in, kh, kw] (flattened to K = C_in·kh·kw)
  /// @param isa kernel to use; at most detected_isa()
  /// @throws config_error if a weight is outside int8, if 255·Σ_k|w[c, k]| does not fit int32 for some
  ///         channel (use the reference kernels then), or if the CPU lacks `isa`
  explicit PackedSparseWeights(const Tensor<std::int32_t>& weights, KernelIsa isa = active_isa())
      : isa_(isa) {
    if (static_cast<int>(isa) > static_cast<int>(detected_isa()))
      throw config_error(std::string("PackedSparseWeights: ISA ") + to_string(isa) +
                         " is not supported by this CPU (at most " + to_string(detected_isa()) + ")");
    a2q::detail::Int8WeightSummary summary =
        a2q::detail::summarize_int8_weights("PackedSparseWeights", weights);
    channels_ = summary.channels;
    depth_ = summary.depth;
    if (depth_ >= std::numeric_limits<std::int32_t>::max()) // input indices are stored as int32
      throw shape_error("PackedSparseWeights: K = " + std::to_string(depth_) +
                        " is too long for int32 indices");
    row_sums_ = std::move(summary.row_sums);
    int16_lanes_ = 255 * summary.max_l1_norm <= 32767;
    channel_runs_.push_back(0);
    for (std::int64_t c = 0; c < channels_; ++c) {
      const std::int32_t* row = weights.data() + c * depth_;
      std::vector<std::int32_t> magnitudes; // the distinct |w| of this channel, ascending
      for (std::int64_t k = 0; k < depth_; ++k)
        if (row[k] != 0)
          magnitudes.push_back(row[k] < 0 ? -row[k] : row[k]);
      std::sort(magnitudes.begin(), magnitudes.end());
      magnitudes.erase(std::unique(magnitudes.begin(), magnitudes.end()), magnitudes.end());
      for (const std::int32_t m : magnitudes) {
        Run run{.magnitude = m, .plus_begin = nonzeros(), .minus_begin = 0, .end = 0};
        for (std::int64_t k = 0; k < depth_; ++k)
          if (row[k] == m)
            k_index_.push_back(static_cast<std::int32_t>(k));
        run.minus_begin = nonzeros();
        for (std::int64_t k = 0; k < depth_; ++k)
          if (row[k] == -m)
            k_index_.push_back(static_cast<std::int32_t>(k));
        run.end = nonzeros();
        runs_.push_back(run);
      }
      channel_runs_.push_back(static_cast<std::int64_t>(runs_.size()));
    }
  }

  KernelIsa isa() const { return isa_; }
  /// C, the number of output channels.
  std::int64_t channels() const { return channels_; }
  /// K, the dot-product length.
  std::int64_t depth() const { return depth_; }
  /// Σ_k w[c, k] per channel.
  std::span<const std::int64_t> row_sums() const { return row_sums_; }
  /// Number of nonzero weights.
  std::int64_t nonzeros() const { return static_cast<std::int64_t>(k_index_.size()); }
  /// Fraction of weights that are zero.
  double sparsity() const {
    return 1.0 - static_cast<double>(nonzeros()) / static_cast<double>(channels_ * depth_);
  }
  /// True when 255·Σ_k|w[c, k]| <= 32767 for every channel: the kernels accumulate in int16 lanes.
  bool int16_lanes() const { return int16_lanes_; }
  /// The runs of channel c, by ascending magnitude.
  std::span<const Run> runs(std::int64_t c) const {
    const auto first = static_cast<std::size_t>(channel_runs_[static_cast<std::size_t>(c)]);
    const auto last = static_cast<std::size_t>(channel_runs_[static_cast<std::size_t>(c) + 1]);
    return std::span<const Run>(runs_).subspan(first, last - first);
  }
  /// Input index k of every nonzero, run after run.
  const std::int32_t* k_index() const { return k_index_.data(); }
  /// What the lowering to a u8 GEMM needs (shape and row sums).
  a2q::detail::U8GemmWeights gemm_weights() const { return {channels_, depth_, row_sums_, isa_}; }

private:
  KernelIsa isa_;
  std::int64_t channels_ = 0;
  std::int64_t depth_ = 0;
  bool int16_lanes_ = false;
  std::vector<std::int64_t> row_sums_;
  std::vector<std::int64_t> channel_runs_; ///< runs of channel c: [channel_runs_[c], channel_runs_[c+1])
  std::vector<Run> runs_;
  std::vector<std::int32_t> k_index_;
};

} // namespace a2q::engine

namespace a2q::detail {

/// out[n·C + c] = Σ_k w[c, k]·x[n·K + k] with plain loops over the nonzeros: the portable path.
inline void sparse_gemm_portable(const std::uint8_t* x, std::int64_t N, const engine::PackedSparseWeights& w,
                                 std::int32_t* out) {
  const std::int64_t K = w.depth();
  const std::int64_t C = w.channels();
  const std::int32_t* k_index = w.k_index();
  for (std::int64_t n = 0; n < N; ++n) {
    const std::uint8_t* row = x + n * K;
    for (std::int64_t c = 0; c < C; ++c) {
      std::int32_t acc = 0; // cannot overflow: 255·Σ|w| fits int32
      for (const auto& run : w.runs(c)) {
        std::int32_t part = 0;
        for (std::int64_t i = run.plus_begin; i < run.minus_begin; ++i)
          part += row[k_index[i]];
        for (std::int64_t i = run.minus_begin; i < run.end; ++i)
          part -= row[k_index[i]];
        acc += run.magnitude * part;
      }
      out[n * C + c] = acc;
    }
  }
}

#ifdef A2Q_X86_KERNELS

// The SIMD kernels are written once with GCC/Clang vector extensions and compiled for AVX2 or AVX-512 by
// the target attribute of the entry function they are inlined into (sparse_gemm_avx2/avx512 below).
// Arithmetic is on unsigned lanes: wrap-around is defined, and exact modulo 2^16 (2^32).

/// The vector types of one register width (concrete typedefs: GCC drops vector attributes from
/// template arguments, so the width is chosen by passing one of these structs instead).
struct Vectors512 {
  typedef std::uint16_t u16 __attribute__((vector_size(64)));
  typedef std::uint32_t u32 __attribute__((vector_size(64)));
};
struct Vectors256 {
  typedef std::uint16_t u16 __attribute__((vector_size(32)));
  typedef std::uint32_t u32 __attribute__((vector_size(32)));
};

/// Int16 accumulation, two samples per 16-bit lane: read as W 16-bit lanes, the transposed u8 inputs
/// hold x_even + 256·x_odd for the sample pairs (2i, 2i+1). The kernel sums whole lanes and, separately,
/// the odd (high) bytes; the even samples' sums are then all - 256·odd, modulo 2^16. Both fit int16
/// (255·Σ|w| <= 32767), so they are exact, and one load feeds 2W samples.
template <class V>
struct PairedInt16Lanes {
  using vec = typename V::u16;
  static constexpr int lanes = static_cast<int>(sizeof(vec) / sizeof(std::uint16_t));
  static constexpr int samples = 2 * lanes;
  /// store() writes one int32 per sample pair: the even sample's int16 sum in the low half, the odd
  /// one's in the high half (the exact sums fit int16), so that the results are transposed as int32.
  static constexpr int samples_per_result = 2;
  struct Acc {
    vec all;  ///< Σ ±(x_even + 256·x_odd), modulo 2^16
    vec high; ///< Σ ±x_odd
  };

  /// The sample (from the vector's first) whose result store() writes at position p (in samples).
  static constexpr int sample_at(int p) { return p; }

  /// Keeps x in a register: otherwise GCC folds the load into both the add and the shift, and two loads
  /// per vector make the loop load-bound. (Clang rejects the constraint before inlining, and does not
  /// need it.)
  [[gnu::always_inline]] static void in_register([[maybe_unused]] vec& x) {
#if !defined(__clang__)
    asm("" : "+v"(x));
#endif
  }
  [[gnu::always_inline]] static void add(Acc& a, const std::uint8_t* p) {
    vec x;
    std::memcpy(&x, p, sizeof x);
    in_register(x);
    a.all += x;
    a.high += x >> 8;
  }
  [[gnu::always_inline]] static void subtract(Acc& a, const std::uint8_t* p) {
    vec x;
    std::memcpy(&x, p, sizeof x);
    in_register(x);
    a.all -= x;
    a.high -= x >> 8;
  }
  [[gnu::always_inline]] static void add_scaled(Acc& a, const Acc& part, std::int32_t magnitude) {
    const auto m = static_cast<std::uint16_t>(magnitude);
    a.all += part.all * m;
    a.high += part.high * m;
  }
  /// dst[i] for i < lanes: the sums of samples 2i (low half) and 2i + 1 (high half).
  [[gnu::always_inline]] static void store(const Acc& a, std::int32_t* dst) {
    const vec even = a.all - (a.high << 8);
    vec first, second;
    interleave<0>(even, a.high, first, std::make_index_sequence<lanes>{});
    interleave<lanes / 2>(even, a.high, second, std::make_index_sequence<lanes>{});
    std::memcpy(dst, &first, sizeof first);
    std::memcpy(dst + lanes / 2, &second, sizeof second);
  }

private:
  /// out = even[base], odd[base], even[base + 1], odd[base + 1], ... (lanes / 2 pairs).
  template <int Base, std::size_t... I>
  [[gnu::always_inline]] static void interleave(const vec& even, const vec& odd, vec& out,
                                                std::index_sequence<I...>) {
    out = __builtin_shufflevector(even, odd,
                                  (Base + static_cast<int>(I) / 2 + static_cast<int>(I % 2) * lanes)...);
  }
};

/// Int32 accumulation for weights whose sums need more than int16, four samples per 32-bit lane: read
/// as W 32-bit lanes, the transposed inputs hold x0 + 2^8·x1 + 2^16·x2 + 2^24·x3 for the samples
/// (4i, ..., 4i+3). The kernel sums whole lanes and the lanes shifted right by 8, 16 and 24 bits; then
/// Σ±x3 = s24, Σ±x2 = s16 - 2^8·s24, Σ±x1 = s8 - 2^8·s16 and Σ±x0 = all - 2^8·s8, all modulo 2^32 and
/// exact because each true sum fits int32 (255·Σ|w| does). No byte is widened, so one load feeds 4W
/// samples with only vector adds and shifts.
template <class V>
struct QuadInt32Lanes {
  using vec = typename V::u32;
  static constexpr int lanes = static_cast<int>(sizeof(vec) / sizeof(std::uint32_t));
  static constexpr int samples = 4 * lanes;
  static constexpr int samples_per_result = 1; ///< store() writes one int32 per sample
  struct Acc {
    vec all; ///< Σ ±x, modulo 2^32
    vec s8;  ///< Σ ±(x >> 8)
    vec s16; ///< Σ ±(x >> 16)
    vec s24; ///< Σ ±(x >> 24)
  };

  /// The sample (from the vector's first) whose result store() writes at position p.
  static constexpr int sample_at(int p) { return 4 * (p % lanes) + p / lanes; }

  /// See PairedInt16Lanes::in_register.
  [[gnu::always_inline]] static void in_register([[maybe_unused]] vec& x) {
#if !defined(__clang__)
    asm("" : "+v"(x));
#endif
  }
  [[gnu::always_inline]] static void add(Acc& a, const std::uint8_t* p) {
    vec x;
    std::memcpy(&x, p, sizeof x);
    in_register(x);
    a.all += x;
    a.s8 += x >> 8;
    a.s16 += x >> 16;
    a.s24 += x >> 24;
  }
  [[gnu::always_inline]] static void subtract(Acc& a, const std::uint8_t* p) {
    vec x;
    std::memcpy(&x, p, sizeof x);
    in_register(x);
    a.all -= x;
    a.s8 -= x >> 8;
    a.s16 -= x >> 16;
    a.s24 -= x >> 24;
  }
  [[gnu::always_inline]] static void add_scaled(Acc& a, const Acc& part, std::int32_t magnitude) {
    const auto m = static_cast<std::uint32_t>(magnitude);
    a.all += part.all * m;
    a.s8 += part.s8 * m;
    a.s16 += part.s16 * m;
    a.s24 += part.s24 * m;
  }
  /// dst[0, samples): the sums of the samples 4i, then 4i+1, 4i+2 and 4i+3.
  [[gnu::always_inline]] static void store(const Acc& a, std::int32_t* dst) {
    const vec sums[4] = {a.all - (a.s8 << 8), a.s8 - (a.s16 << 8), a.s16 - (a.s24 << 8), a.s24};
    for (int j = 0; j < 4; ++j)
      std::memcpy(dst + j * lanes, &sums[j], sizeof(vec)); // the same bits, read as signed
  }
};

/// acc[b] += (or -=) the inputs at row k_index[i], for the nonzeros i in [begin, end): the inner loop.
template <class Lanes, int B, bool Subtract>
[[gnu::always_inline]] inline void add_rows(typename Lanes::Acc (&acc)[B], const std::uint8_t* xt,
                                            std::int64_t stride, const std::int32_t* k_index,
                                            std::int64_t begin, std::int64_t end) {
  for (std::int64_t i = begin; i < end; ++i) {
    const std::uint8_t* row = xt + k_index[i] * stride;
#pragma GCC unroll 8
    for (int b = 0; b < B; ++b) {
      if constexpr (Subtract)
        Lanes::subtract(acc[b], row + b * Lanes::samples);
      else
        Lanes::add(acc[b], row + b * Lanes::samples);
    }
  }
}

/// tile[c·tile_stride + j] = the result j (Lanes::store's order) of channel c for the samples from p0
/// on, for every channel and B vectors of samples: B vectors per channel, so that each nonzero's row index is
/// loaded once for B vector additions.
template <class Lanes, int B>
[[gnu::always_inline]] inline void sparse_block(const engine::PackedSparseWeights& w, const std::uint8_t* xt,
                                                std::int64_t stride, std::int64_t p0, std::int32_t* tile,
                                                std::int64_t tile_stride) {
  using Acc = typename Lanes::Acc;
  const std::int32_t* k_index = w.k_index();
  const std::uint8_t* x0 = xt + p0;
  for (std::int64_t c = 0; c < w.channels(); ++c) {
    Acc acc[B] = {};
    for (const auto& run : w.runs(c)) {
      if (run.magnitude == 1) { // the common case with small L1 norms: no multiplication at all
        add_rows<Lanes, B, false>(acc, x0, stride, k_index, run.plus_begin, run.minus_begin);
        add_rows<Lanes, B, true>(acc, x0, stride, k_index, run.minus_begin, run.end);
        continue;
      }
      Acc part[B] = {};
      add_rows<Lanes, B, false>(part, x0, stride, k_index, run.plus_begin, run.minus_begin);
      add_rows<Lanes, B, true>(part, x0, stride, k_index, run.minus_begin, run.end);
#pragma GCC unroll 8
      for (int b = 0; b < B; ++b)
        Lanes::add_scaled(acc[b], part[b], run.magnitude);
    }
#pragma GCC unroll 8
    for (int b = 0; b < B; ++b)
      Lanes::store(acc[b], tile + c * tile_stride + b * (Lanes::samples / Lanes::samples_per_result));
  }
}

/// sparse_block<Lanes, vectors> for a run-time vectors <= MaxB (the last, partial block of samples).
template <class Lanes, int MaxB>
[[gnu::always_inline]] inline void
sparse_block_upto(int vectors, const engine::PackedSparseWeights& w, const std::uint8_t* xt,
                  std::int64_t stride, std::int64_t p0, std::int32_t* tile, std::int64_t tile_stride) {
  if constexpr (MaxB > 1)
    if (vectors < MaxB)
      return sparse_block_upto<Lanes, MaxB - 1>(vectors, w, xt, stride, p0, tile, tile_stride);
  sparse_block<Lanes, MaxB>(w, xt, stride, p0, tile, tile_stride);
}

/// The SIMD sparse GEMM: transpose the inputs, then for each block of up to MaxB vectors of samples,
/// compute every channel into a channel-major tile and store the tile transposed into out.
template <class Lanes, int MaxB>
[[gnu::always_inline]] inline void sparse_gemm_simd(const std::uint8_t* x, std::int64_t N,
                                                    const engine::PackedSparseWeights& w, std::int32_t* out) {
  constexpr std::int64_t S = Lanes::samples;
  constexpr std::int64_t tile_stride = MaxB * S / Lanes::samples_per_result;
  // Tile rows a power of two apart would map to a few L1 sets and evict each other in the transposed
  // store; one cache line of padding spreads them.
  constexpr std::int64_t tile_pitch = tile_stride + 16;
  const std::int64_t K = w.depth();
  const std::int64_t C = w.channels();
  const std::int64_t quantum = std::max<std::int64_t>(S, 16); // whole vectors, whole transpose tiles
  const std::int64_t stride = (N + quantum - 1) / quantum * quantum;
  KernelBuffer<std::uint8_t> xt(static_cast<std::size_t>(K * stride));
  transpose_inputs_u8(x, N, K, xt.data(), stride);
  KernelBuffer<std::int32_t> tile(static_cast<std::size_t>(C * tile_pitch));
  std::int32_t* rows[MaxB * S]; // output row of each sample position (null past N)
  for (std::int64_t p0 = 0; p0 < stride; p0 += MaxB * S) {
    const auto vectors = static_cast<int>(std::min<std::int64_t>(MaxB, (stride - p0) / S));
    for (std::int64_t p = 0; p < vectors * S; ++p) {
      const std::int64_t n = p0 + p / S * S + Lanes::sample_at(static_cast<int>(p % S));
      rows[p] = n < N ? out + n * C : nullptr;
    }
    sparse_block_upto<Lanes, MaxB>(vectors, w, xt.data(), stride, p0, tile.data(), tile_pitch);
    if constexpr (Lanes::samples_per_result == 2)
      store_pair_tile_transposed(tile.data(), tile_pitch, C, vectors * S / 2, rows);
    else
      store_tile_transposed(tile.data(), tile_pitch, C, vectors * S, rows);
  }
}

__attribute__((target("avx2"))) inline void sparse_gemm_avx2(const std::uint8_t* x, std::int64_t N,
                                                             const engine::PackedSparseWeights& w,
                                                             std::int32_t* out) {
  if (w.int16_lanes())
    sparse_gemm_simd<PairedInt16Lanes<Vectors256>, 4>(x, N, w, out);
  else
    sparse_gemm_simd<QuadInt32Lanes<Vectors256>, 2>(x, N, w, out);
}

__attribute__((target("avx512f,avx512bw"))) inline void
sparse_gemm_avx512(const std::uint8_t* x, std::int64_t N, const engine::PackedSparseWeights& w,
                   std::int32_t* out) {
  if (w.int16_lanes())
    sparse_gemm_simd<PairedInt16Lanes<Vectors512>, 2>(x, N, w, out);
  else
    sparse_gemm_simd<QuadInt32Lanes<Vectors512>, 2>(x, N, w, out);
}

#endif // A2Q_X86_KERNELS

} // namespace a2q::detail

namespace a2q::engine {

/// Raw sparse kernel: out[n·C + c] = Σ_k w[c, k]·x[n·K + k], exact, using the ISA w was packed for.
/// @param x u8 inputs [N, K], rows contiguous
/// @param N number of samples (rows of x)
/// @param w packed sparse weights [C, K]
/// @param out s32 results [N, C]
inline void sparse_gemm_u8s8(const std::uint8_t* x, std::int64_t N, const PackedSparseWeights& w,
                             std::int32_t* out) {
  if (N <= 0)
    return;
  switch (w.isa()) {
#ifdef A2Q_X86_KERNELS
  case KernelIsa::avx512_vnni:
    a2q::detail::sparse_gemm_avx512(x, N, w, out);
    return;
  case KernelIsa::avx2:
    a2q::detail::sparse_gemm_avx2(x, N, w, out);
    return;
#endif
  default:
    a2q::detail::sparse_gemm_portable(x, N, w, out);
  }
}

/// Integer fully connected layer on sparse weights; same contract as linear_dense.
/// @param x inputs [N, K], all in [0, 255] or all in [-128, 127]
/// @param w packed sparse weights [C, K]
/// @param bias_start accumulator start per output channel, or empty
/// @returns [N, C] accumulator values, equal to linear_reference's
inline Tensor<std::int64_t> linear_sparse(const Tensor<std::int32_t>& x, const PackedSparseWeights& w,
                                          std::span<const std::int64_t> bias_start = {}) {
  return a2q::detail::linear_via_u8_gemm("linear_sparse", x, w.gemm_weights(), bias_start,
                                         [&w](const std::uint8_t* xs, std::int64_t rows, std::int32_t* out) {
                                           sparse_gemm_u8s8(xs, rows, w, out);
                                         });
}

/// Integer 2-D convolution on sparse weights through im2col; same contract as conv2d_dense.
/// @returns [N, C_out, H_out, W_out], equal to conv2d_reference's
inline Tensor<std::int64_t> conv2d_sparse(const Tensor<std::int32_t>& x, const PackedSparseWeights& w,
                                          std::span<const std::int64_t> bias_start,
                                          const Conv2dGeometry& geometry, std::int64_t kh, std::int64_t kw) {
  return a2q::detail::conv2d_via_u8_gemm("conv2d_sparse", x, w.gemm_weights(), bias_start, geometry, kh, kw,
                                         [&w](const std::uint8_t* xs, std::int64_t rows, std::int32_t* out) {
                                           sparse_gemm_u8s8(xs, rows, w, out);
                                         });
}

} // namespace a2q::engine
