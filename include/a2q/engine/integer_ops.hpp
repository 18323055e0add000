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
/// - PixelShuffleOp: a float or quantized value [N, C·r², H, W] -> [N, C, H·r, W·r] (core/pixel_shuffle.hpp);
///   an accumulator is dequantized first, since its channels carry different factors.
/// - DequantizeOp: accumulator -> float, a_c · v + b_c (the logits).

#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/engine/reference_kernels.hpp"
#include "a2q/engine/requantizer.hpp"
#include "a2q/nn/integer_layer.hpp"
#include "a2q/quant/fake_quantize.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace a2q::engine {

class PackedDenseWeights;  // dense_kernel.hpp
class PackedSparseWeights; // sparse_kernel.hpp
class GroupedConvWeights;  // grouped_kernel.hpp

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
  /// beyond 8 bits, sums that could leave int32). Convolutions with groups = 1 get `dense` and `sparse`,
  /// grouped ones `grouped`.
  std::shared_ptr<const PackedDenseWeights> dense;
  std::shared_ptr<const PackedSparseWeights> sparse;
  std::shared_ptr<const GroupedConvWeights> grouped;
  /// layer.required_bits(), the exact worst case, computed once by pack_fast_kernels (0 before).
  int required_bits = 0;
  /// layer.required_inner_bits() of a tiled layer, likewise (0 before, and for an untiled layer).
  int required_inner_bits = 0;
};

/// Packs `op`'s weights for the fast kernels where they apply (see LayerOp), and records its worst case.
A2Q_DECL void pack_fast_kernels(LayerOp& op);

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

struct PixelShuffleOp {
  std::int64_t factor = 2;
};

struct DequantizeOp {
  std::vector<double> scale;  ///< a_c
  std::vector<double> offset; ///< b_c
};

using IntegerOp = std::variant<QuantizeInput, LayerOp, RequantizeOp, ReluOp, MaxPoolOp, SumPoolOp, FlattenOp,
                               PixelShuffleOp, DequantizeOp>;

/// One step of the program: op applied to the values in `inputs`, result stored in `output`.
struct IntegerStep {
  std::string name; ///< the module it came from ("fc1", "block1_1.conv2", "block1_1.add", ...)
  IntegerOp op;
  std::vector<int> inputs;
  int output = 0;
  Shape shape{}; ///< the output's shape for one sample (without the batch dimension)
};

/// Max pooling on integers.
A2Q_DECL Tensor<std::int32_t> max_pool_integer(const Tensor<std::int32_t>& x, const MaxPoolOp& op);

/// Window sums of an average pool, in int64: [N, C, H_out, W_out], or [N, C] when global (op.kernel == 0).
A2Q_DECL Tensor<std::int64_t> sum_pool_integer(const Tensor<std::int32_t>& x, const SumPoolOp& op);

/// Elements per channel per sample of a [N, C, ...] tensor.
A2Q_DECL std::int64_t channel_plane(const Shape& s);

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
A2Q_DECL Tensor<float> dequantize_integer(const DequantizeOp& op, const Tensor<std::int64_t>& v);

} // namespace a2q::engine

#if A2Q_HEADER_ONLY
#include "a2q/engine/integer_ops.ipp"
#endif
