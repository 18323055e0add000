#pragma once
/// @file
/// A validated 2-D convolution (every size derived from the input and weight shapes and the options) and
/// the batch split that the float convolution kernels share (conv.ipp, direct_conv.hpp).

#include "a2q/autograd/conv_options.hpp"
#include "a2q/autograd/im2col.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/parallel.hpp"
#include "a2q/core/shape.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

namespace a2q::detail {

/// A validated convolution: every size derived from the input and weight shapes and the options.
struct Conv2dPlan {
  std::int64_t batch = 0;
  std::int64_t in_channels = 0;
  std::int64_t out_channels = 0;
  std::int64_t groups = 1;
  std::int64_t in_per_group = 0;
  std::int64_t out_per_group = 0;
  Conv2dGeometry geometry; ///< the window over all input channels of one sample
  std::int64_t out_h = 0;
  std::int64_t out_w = 0;
  std::int64_t positions = 0;  ///< out_h * out_w: columns of each GEMM
  std::int64_t group_rows = 0; ///< in_per_group * kh * kw: inner dimension of each GEMM
  /// in_per_group == 1: each output channel reads a single input channel (depthwise, a channel
  /// multiplier, a first layer on one-channel images). These run as direct loops (direct_conv.hpp).
  bool single_input = false;

  std::int64_t in_size() const { return in_channels * geometry.height * geometry.width; }
  std::int64_t out_size() const { return out_channels * positions; }
  Shape output_shape() const { return Shape{batch, out_channels, out_h, out_w}; }
};

/// Checks input x [N, C_in, H, W] and weight [C_out, C_in / groups, kh, kw] against `opt` and derives
/// the plan. Throws config_error for bad options, shape_error for shapes that do not fit.
inline Conv2dPlan conv2d_plan(const Shape& x, const Shape& w, const Conv2dOptions& opt) {
  if (opt.stride < 1)
    throw config_error("conv2d: stride must be >= 1, got " + std::to_string(opt.stride));
  if (opt.padding < 0)
    throw config_error("conv2d: padding must be >= 0, got " + std::to_string(opt.padding));
  if (opt.groups < 1)
    throw config_error("conv2d: groups must be >= 1, got " + std::to_string(opt.groups));
  if (x.rank() != 4)
    throw shape_error("conv2d: input must be [N, C, H, W], got " + x.to_string());
  if (w.rank() != 4)
    throw shape_error("conv2d: weight must be [C_out, C_in / groups, kh, kw], got " + w.to_string());
  const std::int64_t groups = opt.groups;
  if (x[1] % groups != 0)
    throw config_error("conv2d: groups = " + std::to_string(groups) + " does not divide the " +
                       std::to_string(x[1]) + " input channels of " + x.to_string());
  if (w[0] % groups != 0)
    throw config_error("conv2d: groups = " + std::to_string(groups) + " does not divide the " +
                       std::to_string(w[0]) + " output channels of weight " + w.to_string());
  if (w[1] * groups != x[1])
    throw shape_error("conv2d: input " + x.to_string() + " has " + std::to_string(x[1]) +
                      " channels, weight " + w.to_string() + " with groups = " + std::to_string(groups) +
                      " expects " + std::to_string(w[1] * groups));
  if (w[2] < 1 || w[3] < 1)
    throw shape_error("conv2d: empty kernel in weight " + w.to_string());
  Conv2dPlan p;
  p.batch = x[0];
  p.in_channels = x[1];
  p.out_channels = w[0];
  p.groups = groups;
  p.in_per_group = w[1];
  p.out_per_group = w[0] / groups;
  p.geometry = Conv2dGeometry{x[1], x[2], x[3], w[2], w[3], opt.stride, opt.stride, opt.padding, opt.padding};
  p.out_h = p.geometry.out_h();
  p.out_w = p.geometry.out_w();
  if (x[2] + 2 * std::int64_t{opt.padding} < w[2] || x[3] + 2 * std::int64_t{opt.padding} < w[3])
    throw shape_error("conv2d: kernel " + std::to_string(w[2]) + "x" + std::to_string(w[3]) +
                      " is larger than the padded input " + x.to_string() + " (padding " +
                      std::to_string(opt.padding) + ")");
  p.positions = p.out_h * p.out_w;
  p.group_rows = p.in_per_group * w[2] * w[3];
  p.single_input = p.in_per_group == 1;
  return p;
}

/// Checks that a bias has one element per output channel of plan `p` (weight `w`); `op` names the caller.
inline void check_conv2d_bias(const char* op, const Conv2dPlan& p, const Shape& bias, const Shape& w) {
  if (bias.rank() != 1 || bias[0] != p.out_channels)
    throw shape_error(std::string(op) + ": bias " + bias.to_string() + " does not match the " +
                      std::to_string(p.out_channels) + " output channels of weight " + w.to_string());
}

/// Number of contiguous chunks `items` work items of about `work_per_item` multiply-adds each are split
/// into: one per thread, at most one per item, and one in all when the whole job is too small to be worth
/// waking threads for (tiny layers, gradient checks).
inline std::int64_t parallel_chunk_count(std::int64_t items, std::int64_t work_per_item) {
  constexpr std::int64_t min_work_per_chunk = std::int64_t{1} << 15; // ~10 microseconds
  const std::int64_t by_work = std::max<std::int64_t>(1, items * work_per_item / min_work_per_chunk);
  return std::clamp<std::int64_t>(num_threads(), 1, std::min(std::max<std::int64_t>(items, 1), by_work));
}

/// Runs body(chunk, begin, end) for `chunks` contiguous ranges covering [0, items), in parallel when
/// there is more than one chunk. With a single chunk no parallel region is opened, so Eigen may still
/// parallelise its own products. `body` must not throw.
template <class Body>
void for_each_chunk(std::int64_t items, std::int64_t chunks, Body&& body) {
  if (chunks <= 1) {
    body(std::int64_t{0}, std::int64_t{0}, items);
    return;
  }
  A2Q_PARALLEL_FOR
  for (std::int64_t chunk = 0; chunk < chunks; ++chunk)
    body(chunk, items * chunk / chunks, items * (chunk + 1) / chunks);
}

} // namespace a2q::detail
