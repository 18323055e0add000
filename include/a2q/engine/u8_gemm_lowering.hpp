#pragma once
/// @file
/// Lowering integer linear and conv2d layers onto a u8 x s8 -> s32 matrix product, the operation the
/// fast kernels (dense_kernel.hpp, sparse_kernel.hpp) implement. Shared by those kernels:
///  - weights must be int8 with a per-channel L1 norm small enough that 255·Σ|w| fits int32, so that no
///    partial sum of a u8 x s8 dot product can leave a 32-bit accumulator, in any order;
///  - inputs are either u8 ([0, 255], used as they are) or s8 ([-128, 127], stored as x + 128 and
///    corrected afterwards by subtracting 128·Σ_k w[c, k], exactly, in int64);
///  - convolutions go through im2col in the weights' (ci, ky, kx) order; padding is the input value 0,
///    so it is stored as the encoded zero (128 for s8 inputs) and the same correction stays exact;
///  - the s32 results become the reference kernels' int64 outputs with bias_start added in int64.

#include "a2q/core/aligned_allocator.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/engine/cpu_features.hpp"
#include "a2q/engine/kernel_transpose.hpp"
#include "a2q/engine/reference_kernels.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace a2q::detail {

/// Contiguous 64-byte aligned buffer for kernel operands; value-less construction leaves it unset.
template <class T>
using KernelBuffer = std::vector<T, AlignedAllocator<T>>;

/// How int32 inputs are stored as u8.
enum class U8Encoding {
  plain,     ///< inputs in [0, 255], stored as they are
  offset128, ///< inputs in [-128, 127], stored as x + 128
};

/// The stored value of an input 0 (what convolution padding becomes).
constexpr std::uint8_t encoded_zero(U8Encoding encoding) {
  return encoding == U8Encoding::plain ? std::uint8_t{0} : std::uint8_t{128};
}

/// u8 if every input is in [0, 255], else s8 if every input is in [-128, 127].
/// @throws config_error naming the input range if it fits neither
inline U8Encoding choose_u8_encoding(const char* function, std::span<const std::int32_t> x) {
  if (x.empty())
    return U8Encoding::plain;
  std::int32_t lo = x[0], hi = x[0];
  for (const std::int32_t v : x) { // branch-free, so it vectorises (std::minmax_element does not)
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (lo >= 0 && hi <= 255)
    return U8Encoding::plain;
  if (lo >= -128 && hi <= 127)
    return U8Encoding::offset128;
  throw config_error(std::string(function) + ": inputs span [" + std::to_string(lo) + ", " +
                     std::to_string(hi) +
                     "], which is neither u8 [0, 255] nor s8 [-128, 127]; use the reference kernels");
}

/// x as u8 under `encoding` (the caller has checked the range with choose_u8_encoding).
inline KernelBuffer<std::uint8_t> encode_u8(std::span<const std::int32_t> x, U8Encoding encoding) {
  KernelBuffer<std::uint8_t> out(x.size());
  const std::int32_t offset = encoding == U8Encoding::plain ? 0 : 128;
  for (std::size_t i = 0; i < x.size(); ++i)
    out[i] = static_cast<std::uint8_t>(x[i] + offset);
  return out;
}

/// What a packed weight matrix tells the lowering: its shape, per-channel sums and ISA.
struct U8GemmWeights {
  std::int64_t channels = 0;                           ///< C (output channels)
  std::int64_t depth = 0;                              ///< K (dot-product length)
  std::span<const std::int64_t> row_sums;              ///< Σ_k w[c, k], for the s8 input correction
  engine::KernelIsa isa = engine::KernelIsa::portable; ///< the kernel's, also used around it
};

/// Per-channel facts about validated int8 weights.
struct Int8WeightSummary {
  std::int64_t channels = 0;
  std::int64_t depth = 0;
  std::vector<std::int64_t> row_sums; ///< Σ_k w[c, k]
  std::vector<std::int64_t> l1_norms; ///< Σ_k |w[c, k]|
  std::int64_t max_l1_norm = 0;
};

/// Checks that w ([C, K], or [C, ...] flattened to [C, K]) holds int8 values whose worst-case u8 dot
/// product fits int32, and returns its sums.
/// @throws shape_error if w has rank < 2 or no elements per channel; config_error naming the offending
///         weight or channel otherwise
inline Int8WeightSummary summarize_int8_weights(const char* who, const Tensor<std::int32_t>& w) {
  if (w.rank() < 2 || w.dim(0) < 1 || w.numel() / w.dim(0) < 1)
    throw shape_error(std::string(who) + ": weights " + w.shape().to_string() +
                      " are not [C, K] (or [C_out, C_in, kh, kw]) with C, K >= 1");
  Int8WeightSummary s;
  s.channels = w.dim(0);
  s.depth = w.numel() / s.channels;
  s.row_sums.assign(static_cast<std::size_t>(s.channels), 0);
  s.l1_norms.assign(static_cast<std::size_t>(s.channels), 0);
  for (std::int64_t c = 0; c < s.channels; ++c) {
    std::int64_t sum = 0;
    std::int64_t l1 = 0;
    for (std::int64_t k = 0; k < s.depth; ++k) {
      const std::int32_t v = w[c * s.depth + k];
      if (v < -128 || v > 127)
        throw config_error(std::string(who) + ": weight [" + std::to_string(c) + ", " + std::to_string(k) +
                           "] = " + std::to_string(v) + " is outside int8 [-128, 127]");
      sum += v;
      l1 += v < 0 ? -std::int64_t{v} : std::int64_t{v};
    }
    // |Σ w·x| <= 255·Σ|w| for u8 x (s8 inputs are offset to u8 first): that must fit int32.
    if (255 * l1 > std::numeric_limits<std::int32_t>::max())
      throw config_error(std::string(who) + ": channel " + std::to_string(c) + " has L1 norm " +
                         std::to_string(l1) + ", and 255 * " + std::to_string(l1) + " = " +
                         std::to_string(255 * l1) +
                         " does not fit a 32-bit accumulator; use the reference kernels");
    s.row_sums[static_cast<std::size_t>(c)] = sum;
    s.l1_norms[static_cast<std::size_t>(c)] = l1;
    s.max_l1_norm = std::max(s.max_l1_norm, l1);
  }
  return s;
}

/// What turns the s32 sums into the reference's outputs: out = start[c] + (acc - correction[c]), with
/// correction[c] = 128·Σ_k w[c, k] for s8 inputs (0 for u8). The bracket is the exact dot product, within
/// ±255·Σ|w|, so the sum is the proven accumulator value; start - correction alone can leave int64 (a
/// bias near ±2^63 at P = 64) where the output cannot.
struct OutputOffsets {
  std::vector<std::int64_t> start;
  std::vector<std::int64_t> correction;
};

inline OutputOffsets output_offsets(const U8GemmWeights& w, std::span<const std::int64_t> bias_start,
                                    U8Encoding encoding) {
  OutputOffsets o;
  for (std::int64_t c = 0; c < w.channels; ++c) {
    o.start.push_back(engine::detail::bias_at(bias_start, c));
    o.correction.push_back(encoding == U8Encoding::plain ? 0 : 128 * w.row_sums[static_cast<std::size_t>(c)]);
  }
  return o;
}

/// out[n, c] = bias_start[c] + Σ_k w[c, k] x[n, k] through gemm(const u8* x [N, K], N, s32* out [N, C]).
template <class Gemm>
Tensor<std::int64_t> linear_via_u8_gemm(const char* function, const Tensor<std::int32_t>& x,
                                        const U8GemmWeights& w, std::span<const std::int64_t> bias_start,
                                        Gemm&& gemm) {
  if (x.rank() != 2 || x.dim(1) != w.depth)
    throw shape_error(std::string(function) + ": inputs " + x.shape().to_string() + " are not [N, " +
                      std::to_string(w.depth) + "] for weights with K = " + std::to_string(w.depth));
  engine::detail::check_bias_start(function, bias_start, w.channels);
  const std::int64_t N = x.dim(0);
  const std::int64_t C = w.channels;
  const U8Encoding encoding = choose_u8_encoding(function, x.span());
  const KernelBuffer<std::uint8_t> xu8 = encode_u8(x.span(), encoding);
  KernelBuffer<std::int32_t> acc(static_cast<std::size_t>(N * C));
  if (N > 0)
    gemm(xu8.data(), N, acc.data());
  const OutputOffsets o = output_offsets(w, bias_start, encoding);
  Tensor<std::int64_t> out = Tensor<std::int64_t>::uninitialized({N, C});
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c) {
      const auto k = static_cast<std::size_t>(c);
      out[n * C + c] = o.start[k] + (acc[static_cast<std::size_t>(n * C + c)] - o.correction[k]);
    }
  return out;
}

/// A convolution checked and sized for im2col.
struct Conv2dLowering {
  std::int64_t N = 0, C_in = 0, H = 0, W = 0;
  std::int64_t C_out = 0, kh = 0, kw = 0;
  std::int64_t H_out = 0, W_out = 0;
  engine::Conv2dGeometry geometry{};

  std::int64_t positions() const { return H_out * W_out; }
  std::int64_t depth() const { return C_in * kh * kw; }
};

/// Checks a convolution of x [N, C_in, H, W] with kh x kw kernels against packed weights [C_out, K].
/// @throws config_error for bad strides or padding, or groups != 1; shape_error for shapes that do not fit
inline Conv2dLowering plan_conv2d(const char* function, const Tensor<std::int32_t>& x, const U8GemmWeights& w,
                                  const engine::Conv2dGeometry& g, std::int64_t kh, std::int64_t kw) {
  if (g.stride_h < 1 || g.stride_w < 1 || g.pad_h < 0 || g.pad_w < 0 || g.groups < 1)
    throw config_error(std::string(function) + ": stride " + std::to_string(g.stride_h) + "x" +
                       std::to_string(g.stride_w) + ", padding " + std::to_string(g.pad_h) + "x" +
                       std::to_string(g.pad_w) + ", groups " + std::to_string(g.groups) +
                       " (strides and groups must be >= 1, padding >= 0)");
  if (g.groups != 1)
    throw config_error(std::string(function) + ": groups = " + std::to_string(g.groups) +
                       "; the fast kernels support groups = 1 only, use conv2d_reference");
  if (x.rank() != 4)
    throw shape_error(std::string(function) + ": inputs " + x.shape().to_string() +
                      " are not [N, C_in, H, W]");
  Conv2dLowering p{.N = x.dim(0),
                   .C_in = x.dim(1),
                   .H = x.dim(2),
                   .W = x.dim(3),
                   .C_out = w.channels,
                   .kh = kh,
                   .kw = kw,
                   .geometry = g};
  const std::int64_t H_pad = p.H + 2 * g.pad_h;
  const std::int64_t W_pad = p.W + 2 * g.pad_w;
  if (kh < 1 || kw < 1 || kh > H_pad || kw > W_pad)
    throw shape_error(std::string(function) + ": kernel " + std::to_string(kh) + "x" + std::to_string(kw) +
                      " does not fit the padded input " + std::to_string(H_pad) + "x" +
                      std::to_string(W_pad));
  if (p.depth() != w.depth)
    throw shape_error(std::string(function) + ": inputs " + x.shape().to_string() + " with a " +
                      std::to_string(kh) + "x" + std::to_string(kw) + " kernel need K = " +
                      std::to_string(p.depth()) + ", the weights have K = " + std::to_string(w.depth));
  p.H_out = (H_pad - kh) / g.stride_h + 1;
  p.W_out = (W_pad - kw) / g.stride_w + 1;
  return p;
}

/// im2col of one input row: for every output column ox, the KW (or kw) bytes row[ox·stride + kx] go to
/// dst + ox·K. `row` is already padded: row[0] is input column -pad_w.
template <int KW>
void im2col_row(const std::uint8_t* row, std::int64_t W_out, std::int64_t stride, std::int64_t kw,
                std::int64_t K, std::uint8_t* dst) {
  for (std::int64_t ox = 0; ox < W_out; ++ox, dst += K, row += stride) {
    if constexpr (KW > 0) {
#pragma GCC unroll 8
      for (int kx = 0; kx < KW; ++kx)
        dst[kx] = row[kx];
    } else {
      for (std::int64_t kx = 0; kx < kw; ++kx)
        dst[kx] = row[kx];
    }
  }
}

/// One sample's im2col: columns[pos, (ci, ky, kx)] for pos = oy·W_out + ox, `pad` outside the input.
/// Each input row is copied once into a padded row, and its windows are copied from there without any
/// bounds test (a 3x3 kernel's three bytes at a time).
/// @param sample u8 inputs [C_in, H, W]
/// @param columns output [H_out·W_out, C_in·kh·kw]
inline void im2col_u8(const std::uint8_t* sample, const Conv2dLowering& p, std::uint8_t pad,
                      std::uint8_t* columns) {
  const engine::Conv2dGeometry& g = p.geometry;
  const std::int64_t K = p.depth();
  // Input columns -pad_w .. the last any window reads; past the input they hold `pad`.
  const std::int64_t span = (p.W_out - 1) * g.stride_w + p.kw;
  const std::int64_t inside_begin = std::min(g.pad_w, span);
  const std::int64_t inside_end = std::clamp<std::int64_t>(g.pad_w + p.W, inside_begin, span);
  std::vector<std::uint8_t> padded(static_cast<std::size_t>(span), pad);
  for (std::int64_t ci = 0; ci < p.C_in; ++ci)
    for (std::int64_t ky = 0; ky < p.kh; ++ky)
      for (std::int64_t oy = 0; oy < p.H_out; ++oy) {
        const std::int64_t iy = oy * g.stride_h - g.pad_h + ky;
        if (iy < 0 || iy >= p.H)
          std::fill(padded.begin(), padded.end(), pad);
        else {
          std::fill(padded.begin(), padded.begin() + inside_begin, pad);
          std::copy(sample + (ci * p.H + iy) * p.W,
                    sample + (ci * p.H + iy) * p.W + (inside_end - inside_begin),
                    padded.begin() + inside_begin);
          std::fill(padded.begin() + inside_end, padded.end(), pad);
        }
        std::uint8_t* dst = columns + oy * p.W_out * K + (ci * p.kh + ky) * p.kw;
        if (p.kw == 3)
          im2col_row<3>(padded.data(), p.W_out, g.stride_w, 3, K, dst);
        else if (p.kw == 1)
          im2col_row<1>(padded.data(), p.W_out, g.stride_w, 1, K, dst);
        else
          im2col_row<0>(padded.data(), p.W_out, g.stride_w, p.kw, K, dst);
      }
}

/// dst[c·rows + r] = start[c] + (acc[r·C + c] - correction[c]): the GEMM's [rows, C] sums as the [C, rows]
/// plane.
inline void add_offsets_transposed(const std::int32_t* acc, std::int64_t rows, std::int64_t C,
                                   const OutputOffsets& o, std::int64_t* dst, engine::KernelIsa isa) {
#ifdef A2Q_X86_KERNELS
  if (isa != engine::KernelIsa::portable)
    return add_offsets_transposed_avx2(acc, rows, C, o.start.data(), o.correction.data(), dst);
#endif
  (void)isa;
  for (std::int64_t c = 0; c < C; ++c)
    for (std::int64_t r = 0; r < rows; ++r)
      dst[c * rows + r] =
          o.start[static_cast<std::size_t>(c)] + (acc[r * C + c] - o.correction[static_cast<std::size_t>(c)]);
}

/// conv2d_reference's result through im2col and gemm(const u8* x [rows, K], rows, s32* out [rows, C]),
/// one sample at a time (so the column buffer stays the size of one sample).
template <class Gemm>
Tensor<std::int64_t> conv2d_via_u8_gemm(const char* function, const Tensor<std::int32_t>& x,
                                        const U8GemmWeights& w, std::span<const std::int64_t> bias_start,
                                        const engine::Conv2dGeometry& geometry, std::int64_t kh,
                                        std::int64_t kw, Gemm&& gemm) {
  const Conv2dLowering p = plan_conv2d(function, x, w, geometry, kh, kw);
  engine::detail::check_bias_start(function, bias_start, p.C_out);
  const U8Encoding encoding = choose_u8_encoding(function, x.span());
  const KernelBuffer<std::uint8_t> xu8 = encode_u8(x.span(), encoding);
  const OutputOffsets offsets = output_offsets(w, bias_start, encoding);
  const std::int64_t positions = p.positions();
  KernelBuffer<std::uint8_t> columns(static_cast<std::size_t>(positions * p.depth()));
  KernelBuffer<std::int32_t> acc(static_cast<std::size_t>(positions * p.C_out));
  Tensor<std::int64_t> out = Tensor<std::int64_t>::uninitialized({p.N, p.C_out, p.H_out, p.W_out});
  for (std::int64_t n = 0; n < p.N; ++n) {
    im2col_u8(xu8.data() + n * p.C_in * p.H * p.W, p, encoded_zero(encoding), columns.data());
    gemm(columns.data(), positions, acc.data());
    add_offsets_transposed(acc.data(), positions, p.C_out, offsets, out.data() + n * p.C_out * positions,
                           w.isa);
  }
  return out;
}

} // namespace a2q::detail
