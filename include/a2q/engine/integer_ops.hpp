#pragma once
/// @file
/// The operations of an engine::IntegerModel and their integer semantics. Every op reads one or two
/// values (slots) and writes one; a value is a float tensor (the model input and output), a quantized
/// tensor q (int32, real value scale · q on an N-bit grid) or an accumulator tensor (int64, real value
/// a_c · v + b_c per channel, the channel being dimension 1).
///
/// - QuantizeInput: float -> q, exactly the fake quantizer's code path (so the first layer sees the same
///   integers as in training).
/// - LayerOp: q -> accumulator, the linear or conv dot products in a P-bit accumulator.
/// - RequantizeOp: one or two accumulator/q values -> q through per-channel Requantizers (a layer's
///   output to the next layer's grid, ReLU folded into the lower clamp; a residual add of two branches).
/// - ReluOp, MaxPoolOp: q -> q on the integers (monotone, so exactly the float op on the grid).
/// - SumPoolOp: q -> accumulator, the window sums of an average pool (the 1/k² goes into the factor).
/// - FlattenOp: any value -> [N, rest].
/// - DequantizeOp: accumulator -> float, a_c · v + b_c (the logits).

#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/engine/dense_kernel.hpp"
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

/// One slot of the model's value file.
struct IntegerValue {
  enum class Kind { empty, real, quantized, accumulator };
  Kind kind = Kind::empty;
  Tensor<float> real;       ///< Kind::real
  Tensor<std::int32_t> q;   ///< Kind::quantized
  Tensor<std::int64_t> acc; ///< Kind::accumulator
  const Shape& shape() const {
    return kind == Kind::real ? real.shape() : kind == Kind::quantized ? q.shape() : acc.shape();
  }
};

struct QuantizeInput {
  quant::FakeQuantOptions options; ///< format and rounding of the input quantizer
  float scale = 1.0f;
};

struct LayerOp {
  nn::IntegerLayer layer;
  Conv2dGeometry geometry{}; ///< conv2d only
  std::int64_t kernel_h = 1; ///< conv2d only
  std::int64_t kernel_w = 1; ///< conv2d only
  /// The weights packed for the fast kernels; null when they do not apply (weights beyond int8, inputs
  /// beyond 8 bits, grouped convolutions, sums that could leave int32).
  std::shared_ptr<const PackedDenseWeights> dense;
  std::shared_ptr<const PackedSparseWeights> sparse;
  /// layer.required_bits(), the exact worst case, computed once by pack_fast_kernels (0 before).
  int required_bits = 0;
};

/// Packs `op`'s weights for the fast kernels where they apply (see LayerOp), and records its worst case.
inline void pack_fast_kernels(LayerOp& op) {
  const nn::IntegerLayer& l = op.layer;
  op.required_bits = l.required_bits();
  if (l.input_bits > 8 || l.weight_bits > 8 || op.geometry.groups != 1)
    return;
  try {
    op.dense = std::make_shared<const PackedDenseWeights>(l.weights);
    op.sparse = std::make_shared<const PackedSparseWeights>(l.weights);
  } catch (const config_error&) { // weights or sums outside the fast kernels' int8 / int32 contract
    op.dense.reset();
    op.sparse.reset();
  }
}

struct RequantizeOp {
  std::vector<Requantizer> channels; ///< one per channel (dimension 1 of the inputs)
  quant::IntFormat format;           ///< the output grid (for reports and export)
  float scale = 1.0f;                ///< the output scale
  bool relu = false;                 ///< the lower clamp is max(qmin, 0)
};

struct ReluOp {};

struct MaxPoolOp {
  int kernel = 2;
  int stride = 2;
  int padding = 0; ///< padded positions never win
};

struct SumPoolOp {
  int kernel = 2; ///< 0: global (the whole plane)
  int stride = 2;
  int padding = 0; ///< padded positions add 0 (the divisor, k², is in the next factor)
};

struct FlattenOp {};

struct DequantizeOp {
  std::vector<double> scale;  ///< a_c
  std::vector<double> offset; ///< b_c
};

using IntegerOp =
    std::variant<QuantizeInput, LayerOp, RequantizeOp, ReluOp, MaxPoolOp, SumPoolOp, FlattenOp, DequantizeOp>;

/// One step of the program: op applied to the values in `inputs`, result stored in `output`.
struct IntegerStep {
  std::string name; ///< the module it came from ("fc1", "block1_1.conv2", "block1_1.add", ...)
  IntegerOp op;
  std::vector<int> inputs;
  int output = 0;
  Shape shape{}; ///< the output's shape for one sample (without the batch dimension)
};

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

/// Max pooling on integers.
inline Tensor<std::int32_t> max_pool_integer(const Tensor<std::int32_t>& x, const MaxPoolOp& op) {
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

/// Window sums of an average pool, in int64: [N, C, H_out, W_out], or [N, C] when global (op.kernel == 0).
inline Tensor<std::int64_t> sum_pool_integer(const Tensor<std::int32_t>& x, const SumPoolOp& op) {
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

/// Elements per channel per sample of a [N, C, ...] tensor.
inline std::int64_t channel_plane(const Shape& s) {
  std::int64_t plane = 1;
  for (int d = 2; d < s.rank(); ++d)
    plane *= s[d];
  return plane;
}

/// Applies per-channel requantizers to one or two integer tensors of the same shape.
template <class A, class B = A>
Tensor<std::int32_t> requantize_integer(const RequantizeOp& op, const Tensor<A>& a,
                                        const Tensor<B>* b = nullptr) {
  if (a.rank() < 2 || a.dim(1) != static_cast<std::int64_t>(op.channels.size()))
    throw shape_error("requantize_integer: input " + a.shape().to_string() + " does not have " +
                      std::to_string(op.channels.size()) + " channels in dimension 1");
  if (b != nullptr && b->shape() != a.shape())
    throw shape_error("requantize_integer: branches " + a.shape().to_string() + " and " +
                      b->shape().to_string() + " differ");
  const std::int64_t plane = channel_plane(a.shape());
  const std::int64_t C = a.dim(1);
  Tensor<std::int32_t> y = Tensor<std::int32_t>::uninitialized(a.shape());
  if (b == nullptr) {
    const std::int64_t outer = C * plane == 0 ? 0 : a.numel() / (C * plane);
    RequantizerBank(op.channels).apply(a.data(), outer, plane, y.data());
    return y;
  }
  // A residual add: two terms, with the exact 128-bit sum.
  for (std::int64_t i0 = 0; i0 < a.numel(); i0 += C * plane)
    for (std::int64_t c = 0; c < C; ++c) {
      const Requantizer& r = op.channels[static_cast<std::size_t>(c)];
      for (std::int64_t i = i0 + c * plane; i < i0 + (c + 1) * plane; ++i)
        y[i] =
            static_cast<std::int32_t>(r(static_cast<std::int64_t>(a[i]), static_cast<std::int64_t>((*b)[i])));
    }
  return y;
}

/// a_c · v + b_c per element, channel in dimension 1.
inline Tensor<float> dequantize_integer(const DequantizeOp& op, const Tensor<std::int64_t>& v) {
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
