#pragma once
/// @file
/// Definitions for integer_ops.hpp (see a2q/core/config.hpp).

#include "a2q/engine/dense_kernel.hpp"
#include "a2q/engine/grouped_kernel.hpp"

#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/engine/integer_ops.hpp"
#include "a2q/engine/reference_kernels.hpp"
#include "a2q/engine/requantizer.hpp"
#include "a2q/engine/sparse_kernel.hpp"
#include "a2q/nn/integer_layer.hpp"
#include "a2q/quant/fake_quantize.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace a2q::engine {

void pack_fast_kernels(LayerOp& op) {
  const nn::IntegerLayer& l = op.layer;
  op.required_bits = l.required_bits();
  op.required_inner_bits = l.required_inner_bits();
  if (l.input_bits > 8 || l.weight_bits > 8)
    return;
  try {
    if (op.geometry.groups != 1) {
      op.grouped = std::make_shared<const GroupedConvWeights>(
          l.weights, l.fan_in / (op.kernel_h * op.kernel_w), op.kernel_h, op.kernel_w, op.geometry.groups);
      return;
    }
    op.dense = std::make_shared<const PackedDenseWeights>(l.weights);
    op.sparse = std::make_shared<const PackedSparseWeights>(l.weights);
  } catch (const error&) { // weights or sums outside the fast kernels' int8 / int32 contract
    op.dense.reset();
    op.sparse.reset();
    op.grouped.reset();
  }
}

namespace detail {

/// Output size of a pooling window along one axis (PyTorch, ceil_mode off).
inline std::int64_t pooled_size(std::int64_t size, int kernel, int stride, int padding) {
  return (size + 2 * std::int64_t{padding} - kernel) / stride + 1;
}

inline void require_planes(const char* op, const Shape& s, int kernel, int padding) {
  if (s.rank() != 4)
    throw shape_error(std::string(op) + ": input " + s.to_string() + " is not [N, C, H, W]");
  if (kernel > 0 && (s[2] + 2 * std::int64_t{padding} < kernel || s[3] + 2 * std::int64_t{padding} < kernel))
    throw shape_error(std::string(op) + ": window " + std::to_string(kernel) + " does not fit input " +
                      s.to_string());
}

} // namespace detail

Tensor<std::int32_t> max_pool_integer(const Tensor<std::int32_t>& x, const MaxPoolOp& op) {
  detail::require_planes("max_pool_integer", x.shape(), op.kernel, op.padding);
  const std::int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const std::int64_t Ho = detail::pooled_size(H, op.kernel, op.stride, op.padding);
  const std::int64_t Wo = detail::pooled_size(W, op.kernel, op.stride, op.padding);
  Tensor<std::int32_t> y = Tensor<std::int32_t>::uninitialized({N, C, Ho, Wo});
  for (std::int64_t p = 0; p < N * C; ++p) {
    const std::int32_t* in = x.data() + p * H * W;
    std::int32_t* out = y.data() + p * Ho * Wo;
    if (op.padding == 0 && op.kernel == 2) { // the common 2x2 pool: every window inside, no tests
      for (std::int64_t oy = 0; oy < Ho; ++oy) {
        const std::int32_t* top = in + oy * op.stride * W;
        const std::int32_t* bottom = top + W;
        for (std::int64_t ox = 0; ox < Wo; ++ox) {
          const std::int64_t ix = ox * op.stride;
          out[oy * Wo + ox] = std::max(std::max(top[ix], top[ix + 1]), std::max(bottom[ix], bottom[ix + 1]));
        }
      }
      continue;
    }
    for (std::int64_t oy = 0; oy < Ho; ++oy)
      for (std::int64_t ox = 0; ox < Wo; ++ox) {
        std::int32_t best = std::numeric_limits<std::int32_t>::min();
        for (int ky = 0; ky < op.kernel; ++ky)
          for (int kx = 0; kx < op.kernel; ++kx) {
            const std::int64_t iy = oy * op.stride - op.padding + ky;
            const std::int64_t ix = ox * op.stride - op.padding + kx;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W)
              best = std::max(best, in[iy * W + ix]);
          }
        out[oy * Wo + ox] = best;
      }
  }
  return y;
}

Tensor<std::int64_t> sum_pool_integer(const Tensor<std::int32_t>& x, const SumPoolOp& op) {
  detail::require_planes("sum_pool_integer", x.shape(), op.kernel, op.padding);
  const std::int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const bool global = op.kernel == 0;
  const int kernel_h = global ? static_cast<int>(H) : op.kernel;
  const int kernel_w = global ? static_cast<int>(W) : op.kernel;
  const int stride = global ? 1 : op.stride;
  const int padding = global ? 0 : op.padding;
  const std::int64_t Ho = global ? 1 : detail::pooled_size(H, kernel_h, stride, padding);
  const std::int64_t Wo = global ? 1 : detail::pooled_size(W, kernel_w, stride, padding);
  Tensor<std::int64_t> y = global ? Tensor<std::int64_t>({N, C}) : Tensor<std::int64_t>({N, C, Ho, Wo});
  for (std::int64_t p = 0; p < N * C; ++p) {
    const std::int32_t* in = x.data() + p * H * W;
    std::int64_t* out = y.data() + p * Ho * Wo;
    for (std::int64_t oy = 0; oy < Ho; ++oy)
      for (std::int64_t ox = 0; ox < Wo; ++ox) {
        std::int64_t sum = 0;
        for (int ky = 0; ky < kernel_h; ++ky)
          for (int kx = 0; kx < kernel_w; ++kx) {
            const std::int64_t iy = oy * stride - padding + ky;
            const std::int64_t ix = ox * stride - padding + kx;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W)
              sum += in[iy * W + ix];
          }
        out[oy * Wo + ox] = sum;
      }
  }
  return y;
}

std::int64_t channel_plane(const Shape& s) {
  std::int64_t plane = 1;
  for (int d = 2; d < s.rank(); ++d)
    plane *= s[d];
  return plane;
}

Tensor<float> dequantize_integer(const DequantizeOp& op, const Tensor<std::int64_t>& v) {
  if (v.rank() < 2 || v.dim(1) != static_cast<std::int64_t>(op.scale.size()))
    throw shape_error("dequantize_integer: input " + v.shape().to_string() + " does not have " +
                      std::to_string(op.scale.size()) + " channels in dimension 1");
  const std::int64_t plane = channel_plane(v.shape());
  const std::int64_t C = v.dim(1);
  Tensor<float> y = Tensor<float>::uninitialized(v.shape());
  for (std::int64_t i0 = 0; i0 < v.numel(); i0 += C * plane)
    for (std::int64_t c = 0; c < C; ++c) {
      const double scale = op.scale[static_cast<std::size_t>(c)];
      const double offset = op.offset[static_cast<std::size_t>(c)];
      for (std::int64_t i = i0 + c * plane; i < i0 + (c + 1) * plane; ++i)
        y[i] = static_cast<float>(static_cast<double>(v[i]) * scale + offset);
    }
  return y;
}

} // namespace a2q::engine
