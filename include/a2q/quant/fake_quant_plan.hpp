#pragma once
/// @file
/// How fake_quantize lays out its work, and the checks of its arguments: shared with the operations that
/// fuse a fake quantizer into another pass (relu_quantize_pool.hpp).

#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/quant/fake_quant_options.hpp"
#include "a2q/quant/int_format.hpp"
#include "a2q/quant/rounding.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace a2q::detail {

/// Elements per block of work (and per partial sum of the scale gradient).
inline constexpr std::int64_t fake_quant_block = 4096;

/// Tensors with more elements than this are processed in parallel.
inline constexpr std::int64_t fake_quant_parallel_threshold = 100000;

/// x viewed as [outer, channels, inner] with one scale per channel, cut into blocks of at most
/// fake_quant_block contiguous elements that share a scale.
struct FakeQuantPlan {
  std::int64_t outer = 1;
  std::int64_t channels = 1;
  std::int64_t inner = 0;
  std::int64_t pieces = 0; ///< blocks per row of `inner` elements
  std::int64_t blocks = 0;
  std::int64_t numel = 0;
  float qmin = 0.0f;
  float qmax = 0.0f;
  double grad_factor = 0.0;
  quant::RoundingMode rounding = quant::RoundingMode::nearest_even;

  std::int64_t channel(std::int64_t block) const { return (block / pieces) % channels; }
  std::int64_t begin(std::int64_t block) const {
    return (block / pieces) * inner + (block % pieces) * fake_quant_block;
  }
  std::int64_t length(std::int64_t block) const {
    return std::min(fake_quant_block, inner - (block % pieces) * fake_quant_block);
  }
  bool parallel() const { return numel > fake_quant_parallel_threshold && blocks > 1; }
};

/// Checks the options, shapes and scale values and lays out the work on an input of the given shape.
inline FakeQuantPlan plan_fake_quant(const Shape& shape, const Tensor<float>& scale,
                                     const quant::FakeQuantOptions& opt, const char* function) {
  const std::string fn(function);
  opt.format.validate();
  if (opt.rounding == quant::RoundingMode::stochastic && opt.rng == nullptr)
    throw config_error(fn + ": stochastic rounding needs FakeQuantOptions::rng (it is null)");
  if (!(std::isfinite(opt.scale_grad_factor) && opt.scale_grad_factor >= 0.0))
    throw config_error(fn + ": scale_grad_factor must be finite and >= 0 (0 = automatic), got " +
                       std::to_string(opt.scale_grad_factor));

  FakeQuantPlan plan;
  plan.numel = shape.numel();
  if (opt.channel_axis == -1) {
    if (scale.numel() != 1)
      throw shape_error(fn + ": a per-tensor scale (channel_axis = -1) must have 1 element, got shape " +
                        scale.shape().to_string());
    plan.inner = plan.numel;
  } else {
    if (opt.channel_axis < -1 || opt.channel_axis >= shape.rank())
      throw shape_error(fn + ": channel_axis " + std::to_string(opt.channel_axis) +
                        " is out of range for input shape " + shape.to_string() +
                        " (use -1 for one scale per tensor, or 0.." + std::to_string(shape.rank() - 1) + ")");
    const int axis = opt.channel_axis;
    plan.channels = shape[axis];
    plan.inner = 1;
    for (int d = 0; d < axis; ++d)
      plan.outer *= shape[d];
    for (int d = axis + 1; d < shape.rank(); ++d)
      plan.inner *= shape[d];
    if (scale.numel() != plan.channels)
      throw shape_error(fn + ": per-channel scales along axis " + std::to_string(axis) + " of input " +
                        shape.to_string() + " need " + std::to_string(plan.channels) +
                        " elements, got scale of shape " + scale.shape().to_string());
  }
  for (std::int64_t c = 0; c < scale.numel(); ++c) {
    const float s = scale[c];
    const std::string which =
        opt.channel_axis == -1 ? std::string("the scale") : "the scale of channel " + std::to_string(c);
    if (!std::isfinite(s))
      throw numeric_error(fn + ": " + which + " is " + std::to_string(s) +
                          "; scales must be finite (did training diverge?)");
    if (!(s > 0.0f))
      throw config_error(fn + ": " + which + " is " + std::to_string(s) + "; scales must be positive");
  }
  plan.pieces = plan.inner == 0 ? 0 : (plan.inner + fake_quant_block - 1) / fake_quant_block;
  plan.blocks = plan.outer * plan.channels * plan.pieces;
  plan.qmin = static_cast<float>(opt.format.qmin());
  plan.qmax = static_cast<float>(opt.format.qmax());
  plan.rounding = opt.rounding;
  const std::int64_t per_scale = plan.channels == 0 ? 0 : plan.numel / plan.channels;
  plan.grad_factor =
      opt.scale_grad_factor > 0.0 ? opt.scale_grad_factor : quant::lsq_grad_factor(per_scale, opt.format);
  return plan;
}

/// clip(r, lo, hi); NaN stays NaN.
inline float fake_quant_clip(float r, float lo, float hi) {
  r = r < lo ? lo : r;
  return r > hi ? hi : r;
}

} // namespace a2q::detail
