#pragma once
/// @file
/// The fast path for grouped convolutions (depthwise ones above all, K = 9 per channel), which the u8
/// GEMM lowering (groups = 1) does not take: direct loops that add each weight times a shifted copy of
/// its padded input plane (split by stride phase, so every tap reads contiguous values) into an int32
/// plane of sums, the whole plane in one pass, so the compiler vectorises it; zero weights are skipped.
/// Bit-exact with conv2d_reference whenever the weights are int8, the inputs within ±255 and 255·Σ_k|w[c, k]|
/// fits int32: then every partial sum fits int32, in any order.

#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/engine/reference_kernels.hpp"
#include "a2q/engine/u8_gemm_lowering.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace a2q::engine {

/// Int8 weights of a grouped convolution, [C_out, C_in / groups, kh, kw], checked against the int32
/// contract of conv2d_grouped.
class GroupedConvWeights {
public:
  /// @param weights integer weights [C_out, C_in / groups · kh · kw] (or 4-D with that layout)
  /// @param in_per_group C_in / groups
  /// @param kh kernel height
  /// @param kw kernel width
  /// @param groups number of groups (divides C_out)
  /// @throws shape_error if the sizes do not fit; config_error if a weight is outside int8 or
  ///         255·Σ_k|w[c, k]| does not fit int32 for some channel
  GroupedConvWeights(const Tensor<std::int32_t>& weights, std::int64_t in_per_group, std::int64_t kh,
                     std::int64_t kw, std::int64_t groups)
      : in_per_group_(in_per_group), kh_(kh), kw_(kw), groups_(groups) {
    const a2q::detail::Int8WeightSummary summary =
        a2q::detail::summarize_int8_weights("GroupedConvWeights", weights);
    out_channels_ = summary.channels;
    if (in_per_group < 1 || kh < 1 || kw < 1 || groups < 1 || summary.depth != in_per_group * kh * kw ||
        out_channels_ % groups != 0)
      throw shape_error("GroupedConvWeights: weights " + weights.shape().to_string() + " are not [C_out, " +
                        std::to_string(in_per_group) + " x " + std::to_string(kh) + " x " +
                        std::to_string(kw) + "] with C_out a multiple of " + std::to_string(groups) +
                        " groups");
    weights_.assign(weights.begin(), weights.end());
  }

  std::int64_t out_channels() const { return out_channels_; }
  std::int64_t in_per_group() const { return in_per_group_; }
  std::int64_t kernel_h() const { return kh_; }
  std::int64_t kernel_w() const { return kw_; }
  std::int64_t groups() const { return groups_; }
  /// w[co, ci, ky, kx] at ((co · in_per_group + ci) · kh + ky) · kw + kx.
  const std::int32_t* data() const { return weights_.data(); }

private:
  std::int64_t out_channels_ = 0;
  std::int64_t in_per_group_ = 0;
  std::int64_t kh_ = 0;
  std::int64_t kw_ = 0;
  std::int64_t groups_ = 0;
  std::vector<std::int32_t> weights_;
};

namespace detail {

/// The padded input plane split by stride phase, so that every tap of a strided convolution reads
/// contiguous values: phase (rh, rw) holds padded[sh·y + rh][sw·x + rw] at [y][x], in planes of
/// rows x pitch (zeros past the input, and one spare row, so that whole-plane passes stay inside).
struct PhasePlanes {
  std::int64_t H = 0, W = 0, pad_w = 0;
  std::int64_t rows = 0, pitch = 0, sh = 1, sw = 1;
  std::vector<std::int32_t> values;   ///< sh·sw planes of (rows + 1)·pitch, then one vector of zeros
  std::vector<std::int64_t> row_at;   ///< where input row iy goes in the planes of column phase 0
  std::vector<std::int64_t> first_ix; ///< per column phase rw: the first input column in it
  std::vector<std::int64_t> first_px; ///< and where it goes in its phase row
  std::int32_t lo = 0, hi = 0;        ///< the smallest and largest input written so far (and 0)

  PhasePlanes(std::int64_t height, std::int64_t width, const Conv2dGeometry& g)
      : H(height), W(width), pad_w(g.pad_w), rows((H + 2 * g.pad_h + g.stride_h - 1) / g.stride_h),
        pitch((W + 2 * g.pad_w + g.stride_w - 1) / g.stride_w), sh(g.stride_h), sw(g.stride_w),
        values(static_cast<std::size_t>(sh * sw * (rows + 1) * pitch + 8), 0) {
    for (std::int64_t iy = 0; iy < H; ++iy) {
      const std::int64_t py = iy + g.pad_h;
      row_at.push_back((py % sh) * sw * plane_size() + (py / sh) * pitch);
    }
    for (std::int64_t rw = 0; rw < sw; ++rw) { // the input columns of phase rw: ix ≡ rw - pad_w (mod sw)
      first_ix.push_back(((rw - pad_w) % sw + sw) % sw);
      first_px.push_back((first_ix.back() + pad_w) / sw);
    }
  }

  std::int64_t plane_size() const { return (rows + 1) * pitch; }
  /// Where tap (ky, kx) starts reading, from values.data(): its phase plane, shifted by the tap.
  std::int64_t tap_offset(std::int64_t ky, std::int64_t kx) const {
    return ((ky % sh) * sw + kx % sw) * plane_size() + (ky / sh) * pitch + kx / sw;
  }

  /// Writes the H x W input `in`, padded; the padding positions keep their 0.
  void fill(const std::int32_t* in) {
    for (std::int64_t i = 0; i < H * W; ++i) { // branch-free, so it vectorises
      lo = std::min(lo, in[i]);
      hi = std::max(hi, in[i]);
    }
    for (std::int64_t iy = 0; iy < H; ++iy) {
      const std::int32_t* row = in + iy * W;
      std::int32_t* phase_row = values.data() + row_at[static_cast<std::size_t>(iy)];
      if (sw == 1) {
        std::copy(row, row + W, phase_row + pad_w);
        continue;
      }
      for (std::int64_t rw = 0; rw < sw; ++rw) {
        std::int32_t* dst = phase_row + rw * plane_size();
        const std::int64_t first = first_ix[static_cast<std::size_t>(rw)];
        for (std::int64_t ix = first, px = first_px[static_cast<std::size_t>(rw)]; ix < W; ix += sw, ++px)
          dst[px] = row[ix];
      }
    }
  }
};

/// One nonzero weight and where its tap reads (PhasePlanes::tap_offset).
struct GroupedTap {
  std::int64_t offset;
  std::uint32_t weight; ///< the int8 weight's bits: unsigned lanes wrap, and exact sums fit int32
};

/// sums[i] += Σ_t taps[t].weight · values[taps[t].offset + i] for i in [0, count rounded up to 8), eight
/// sums per vector kept in a register across the taps. Every lane, also those of dropped columns, sums
/// at most K products of inputs within ±255, so none leaves int32.
inline void add_taps(std::uint32_t* sums, const std::int32_t* values, std::span<const GroupedTap> taps,
                     std::int64_t count) {
  typedef std::uint32_t u32x8 __attribute__((vector_size(32)));
  for (std::int64_t i = 0; i < count; i += 8) {
    u32x8 acc;
    std::memcpy(&acc, sums + i, sizeof acc);
    for (const GroupedTap& t : taps) {
      u32x8 v;
      std::memcpy(&v, values + t.offset + i, sizeof v);
      acc += t.weight * v;
    }
    std::memcpy(sums + i, &acc, sizeof acc);
  }
}

} // namespace detail

/// Integer grouped 2-D convolution, equal to conv2d_reference when the reference cannot overflow.
/// @param x inputs [N, C_in, H, W], each within ±255; padding is the value 0
/// @param w checked weights (C_in = groups · in_per_group)
/// @param bias_start accumulator start per output channel, or empty
/// @param geometry stride and padding; geometry.groups must equal w.groups()
/// @returns [N, C_out, H_out, W_out]
/// @throws shape_error for shapes that do not fit; config_error for bad geometry or inputs beyond ±255
inline Tensor<std::int64_t> conv2d_grouped(const Tensor<std::int32_t>& x, const GroupedConvWeights& w,
                                           std::span<const std::int64_t> bias_start,
                                           const Conv2dGeometry& geometry) {
  const Conv2dGeometry& g = geometry;
  if (g.stride_h < 1 || g.stride_w < 1 || g.pad_h < 0 || g.pad_w < 0 || g.groups != w.groups())
    throw config_error("conv2d_grouped: stride " + std::to_string(g.stride_h) + "x" +
                       std::to_string(g.stride_w) + ", padding " + std::to_string(g.pad_h) + "x" +
                       std::to_string(g.pad_w) + ", groups " + std::to_string(g.groups) +
                       " (strides >= 1, padding >= 0, and the weights' " + std::to_string(w.groups()) +
                       " groups needed)");
  if (x.rank() != 4 || x.dim(1) != w.groups() * w.in_per_group())
    throw shape_error("conv2d_grouped: inputs " + x.shape().to_string() + " are not [N, " +
                      std::to_string(w.groups() * w.in_per_group()) + ", H, W]");
  detail::check_bias_start("conv2d_grouped", bias_start, w.out_channels());
  const std::int64_t N = x.dim(0), H = x.dim(2), W = x.dim(3);
  const std::int64_t kh = w.kernel_h(), kw = w.kernel_w();
  const std::int64_t Hp = H + 2 * g.pad_h, Wp = W + 2 * g.pad_w;
  if (kh > Hp || kw > Wp)
    throw shape_error("conv2d_grouped: kernel " + std::to_string(kh) + "x" + std::to_string(kw) +
                      " does not fit the padded input " + std::to_string(Hp) + "x" + std::to_string(Wp));
  const std::int64_t H_out = (Hp - kh) / g.stride_h + 1, W_out = (Wp - kw) / g.stride_w + 1;
  const std::int64_t plane = H_out * W_out;
  const std::int64_t in_per_group = w.in_per_group();
  const std::int64_t out_per_group = w.out_channels() / w.groups();
  const std::int64_t C_out = w.out_channels();
  Tensor<std::int64_t> out = Tensor<std::int64_t>::uninitialized({N, C_out, H_out, W_out});
  detail::PhasePlanes phases(H, W, g);
  // Sums in rows of the phase pitch: output (oy, ox) at oy·pitch + ox, so that each tap is one pass over
  // H_out·pitch values (the columns past W_out are computed and dropped) instead of H_out short rows.
  const std::int64_t pitch = phases.pitch;
  const std::int64_t span = (H_out * pitch + 7) / 8 * 8; // whole vectors (PhasePlanes has the slack)
  std::vector<std::uint32_t> sums(static_cast<std::size_t>(out_per_group * span));
  std::vector<detail::GroupedTap> taps;
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t group = 0; group < w.groups(); ++group) {
      std::fill(sums.begin(), sums.end(), 0u);
      for (std::int64_t ci = 0; ci < in_per_group; ++ci) {
        phases.fill(x.data() + ((n * x.dim(1)) + group * in_per_group + ci) * H * W);
        for (std::int64_t oc = 0; oc < out_per_group; ++oc) {
          const std::int32_t* weights =
              w.data() + ((group * out_per_group + oc) * in_per_group + ci) * kh * kw;
          taps.clear();
          for (std::int64_t ky = 0; ky < kh; ++ky)
            for (std::int64_t kx = 0; kx < kw; ++kx)
              if (const std::int32_t v = weights[ky * kw + kx]; v != 0) // A2Q's weights: mostly zeros
                taps.push_back({phases.tap_offset(ky, kx), static_cast<std::uint32_t>(v)});
          detail::add_taps(sums.data() + oc * span, phases.values.data(), taps, span);
        }
      }
      for (std::int64_t oc = 0; oc < out_per_group; ++oc) {
        const std::int64_t co = group * out_per_group + oc;
        const std::int64_t start = detail::bias_at(bias_start, co);
        std::int64_t* dst = out.data() + (n * C_out + co) * plane;
        const std::uint32_t* src = sums.data() + oc * span;
        for (std::int64_t oy = 0; oy < H_out; ++oy)
          for (std::int64_t ox = 0; ox < W_out; ++ox) // the bits of an exact int32 sum
            dst[oy * W_out + ox] = start + static_cast<std::int32_t>(src[oy * pitch + ox]);
      }
    }
  // Checked as the inputs were copied (a value beyond ±255 only made the unsigned lanes wrap).
  if (phases.lo < -255 || phases.hi > 255)
    throw config_error("conv2d_grouped: inputs span [" + std::to_string(phases.lo) + ", " +
                       std::to_string(phases.hi) + "], beyond ±255; use the reference kernels");
  return out;
}

} // namespace a2q::engine
