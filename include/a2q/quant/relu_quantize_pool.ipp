#pragma once
/// @file
/// Definitions for relu_quantize_pool.hpp (see a2q/core/config.hpp).

#include "a2q/quant/relu_quantize_pool.hpp"

#include "a2q/autograd/conv.hpp"
#include "a2q/autograd/conv_pool_pass.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/pool.hpp"
#include "a2q/autograd/pool_kernels.hpp"
#include "a2q/autograd/tile_pool.hpp"
#include "a2q/autograd/variable.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/parallel.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/quant/bypass.hpp"
#include "a2q/quant/fake_quant_plan.hpp"
#include "a2q/quant/fake_quantize.hpp"
#include "a2q/quant/rounding.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace a2q::detail {

/// The fake quantizer's plan for a per-tensor scale and a deterministic rounding mode, on an input of
/// `shape` (before pooling).
inline FakeQuantPlan relu_quantize_plan(const char* op, const Shape& shape, const Var& scale,
                                        const quant::FakeQuantOptions& opt) {
  if (opt.rounding == quant::RoundingMode::stochastic)
    throw config_error(std::string(op) + ": stochastic rounding is not supported; use fake_quantize");
  if (opt.channel_axis != -1)
    throw config_error(std::string(op) + ": the scale must be one per tensor (channel_axis = -1), got axis " +
                       std::to_string(opt.channel_axis));
  return plan_fake_quant(shape, scale.value(), opt, op);
}

/// ReLU, fake quantization with one scale and max pooling of a plane (see relu_quantize_pool.hpp), as an
/// epilogue of conv_pool_pass or on its own. It keeps the raw input value at each output's argmax, which
/// is all the backward pass needs.
template <quant::RoundingMode M>
class ReluQuantizePoolEpilogue {
public:
  static constexpr bool has_scale = true;
  static constexpr bool pools_tiles = true;

  ReluQuantizePoolEpilogue(const FakeQuantPlan& fq, float scale, const Pool2dPlan& pool, int threads)
      : scale_(scale), qmin_(fq.qmin), qmax_(fq.qmax), grad_factor_(fq.grad_factor),
        in_plane_(pool.height * pool.width), out_plane_(pool.out_h * pool.out_w),
        grid_(Tensor<float>::uninitialized(Shape{threads * in_plane_})),
        chosen_(Tensor<float>::uninitialized(Shape{pool.planes * out_plane_})) {}

  void forward_plane(const Pool2dPlan& p, int thread, std::int64_t plane, const float* __restrict x, float* y,
                     std::int32_t* argmax) {
    // The plane on the integer grid (times the scale), computed as relu() and fake_quantize() do, then
    // pooled: the argmax is the first of the largest quantized values.
    float* __restrict grid = grid_.data() + thread * in_plane_;
    const float s = scale_, qmin = qmin_, qmax = qmax_;
    const auto element = [=](std::int64_t i) {
      const float r = x[i] > 0.0f ? x[i] : 0.0f;
      grid[i] = s * fake_quant_clip(round_as<M>(r / s), qmin, qmax);
    };
    std::int64_t i = 0;
    for (; i + quant_vector_step <= in_plane_; i += quant_vector_step)
      for (int j = 0; j < quant_vector_step; ++j)
        element(i + j);
    for (; i < in_plane_; ++i)
      element(i);
    max_pool_plane_forward(p, false, grid, y, argmax);
    float* chosen = chosen_.data() + plane * out_plane_;
    for (std::int64_t o = 0; o < out_plane_; ++o)
      chosen[o] = x[argmax[o]];
  }

  void forward_tiles(int, std::int64_t plane, std::int64_t output, std::int32_t first, std::int32_t width,
                     const PlaneFloats& y00, const PlaneFloats& y01, const PlaneFloats& y10,
                     const PlaneFloats& y11, std::int64_t count, float* y, std::int32_t* argmax) {
    // As forward_plane, on four vectors: each window's values on the grid, pooled; the raw value chosen.
    // The ReLU leaves no NaN on the grid.
    const float s = scale_, qmin = qmin_, qmax = qmax_;
    const PlaneFloats raw[4] = {y00, y01, y10, y11};
    PlaneFloats grid[4];
    for (int v = 0; v < 4; ++v)
      for (std::int64_t i = 0; i < plane_lanes; ++i) {
        const float r = raw[v][i] > 0.0f ? raw[v][i] : 0.0f;
        grid[v][i] = s * fake_quant_clip(round_as<M>(r / s), qmin, qmax);
      }
    PlaneFloats m;
    PlaneInts index;
    max_pool_tiles(grid[0], grid[1], grid[2], grid[3], first, width, m, index);
    const PlaneFloats chosen = grid[0] >= m ? raw[0] : grid[1] >= m ? raw[1] : grid[2] >= m ? raw[2] : raw[3];
    store_first(y + output, m, count);
    store_first(argmax + output, index, count);
    store_first(chosen_.data() + plane * out_plane_ + output, chosen, count);
  }

  double window_grads(const Pool2dPlan&, std::int64_t plane, const float*, float* dy,
                      const std::int32_t*) const {
    // Only each window's chosen element has a gradient: the scale's LSQ term and the input's mask (ReLU
    // and straight-through estimator) are taken there; pooling's backward pass then spreads dy. The LSQ
    // terms are summed in quant_vector_step float lanes (the loop vectorises), then in double.
    const float* __restrict chosen = chosen_.data() + plane * out_plane_;
    float* __restrict g = dy;
    const float s = scale_, qmin = qmin_, qmax = qmax_;
    const auto element = [=](std::int64_t o) {
      const float x = chosen[o];
      const float u = (x > 0.0f ? x : 0.0f) / s;
      const bool inside = (u >= qmin) & (u <= qmax);
      const float q = fake_quant_clip(round_as<M>(u), qmin, qmax);
      const float term = g[o] * (q - select_float(inside, u, 0.0f));
      g[o] = select_float((x > 0.0f) & inside, g[o], 0.0f);
      return term;
    };
    float lanes[quant_vector_step] = {};
    std::int64_t o = 0;
    for (; o + quant_vector_step <= out_plane_; o += quant_vector_step)
      for (int j = 0; j < quant_vector_step; ++j)
        lanes[j] += element(o + j);
    double total = 0.0;
    for (; o < out_plane_; ++o)
      total += static_cast<double>(element(o));
    for (float lane : lanes)
      total += static_cast<double>(lane);
    return total;
  }

  void finish(Node& self, std::size_t scale_input, double scale_grad) const {
    Tensor<float> ds = Tensor<float>::uninitialized(input(self, scale_input).value.shape());
    ds[0] = static_cast<float>(scale_grad * grad_factor_);
    accumulate_grad(self, scale_input, std::move(ds));
  }

private:
  float scale_;
  float qmin_;
  float qmax_;
  double grad_factor_;
  std::int64_t in_plane_;
  std::int64_t out_plane_;
  Tensor<float> grid_;   ///< per thread: one plane on the integer grid
  Tensor<float> chosen_; ///< per output: the raw input value at its argmax
};

} // namespace a2q::detail

namespace a2q::quant {

Var relu_quantize_max_pool2d(const Var& x, const Var& scale, const FakeQuantOptions& opt, int kernel,
                             int stride, int padding) {
  const char* op = "relu_quantize_max_pool2d";
  const detail::Pool2dPlan pool = detail::max_pool2d_plan(op, x.shape(), kernel, stride, padding);
  const detail::FakeQuantPlan fq = detail::relu_quantize_plan(op, x.shape(), scale, opt);
  if (quantization_bypassed()) // the composition has the bypass's semantics
    return max_pool2d(fake_quantize(relu(x), scale, opt), kernel, stride, padding);
  return detail::dispatch_rounding(opt.rounding, [&](auto mode) -> Var {
    constexpr RoundingMode M = decltype(mode)::value;
    if constexpr (M == RoundingMode::stochastic) {
      throw config_error(std::string(op) + ": stochastic rounding is not supported"); // checked above
    } else {
      const Shape out_shape{x.shape()[0], x.shape()[1], pool.out_h, pool.out_w};
      const std::int64_t in_plane = pool.height * pool.width;
      const std::int64_t out_plane = pool.out_h * pool.out_w;
      Tensor<float> out = Tensor<float>::uninitialized(out_shape);
      Tensor<std::int32_t> argmax = Tensor<std::int32_t>::uninitialized(out_shape);
      detail::ReluQuantizePoolEpilogue<M> epilogue(fq, scale.value()[0], pool, num_threads());
      const float* xv = x.value().data();
      // Threads only for enough work (~10 microseconds): a parallel region costs more than a tiny loop.
      [[maybe_unused]] const bool threaded = pool.planes * in_plane >= 32768;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (threaded)
#endif
      for (std::int64_t plane = 0; plane < pool.planes; ++plane)
        epilogue.forward_plane(pool, current_thread(), plane, xv + plane * in_plane,
                               out.data() + plane * out_plane, argmax.data() + plane * out_plane);
      auto backward = [pool, argmax = std::move(argmax), epilogue = std::move(epilogue)](detail::Node& self) {
        const std::int64_t in_plane_ = pool.height * pool.width;
        const std::int64_t out_plane_ = pool.out_h * pool.out_w;
        const bool need_dx = detail::input(self, 0).requires_grad;
        const bool need_ds = detail::input(self, 1).requires_grad;
        Tensor<float> dx = Tensor<float>::uninitialized(detail::input(self, 0).value.shape());
        std::vector<double> parts(static_cast<std::size_t>(pool.planes));
        const float* y = self.value.data();
        float* dy = self.grad.data(); // masked in place: the tape frees self.grad after this
        [[maybe_unused]] const bool threaded_backward = pool.planes * in_plane_ >= 32768;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (threaded_backward)
#endif
        for (std::int64_t plane = 0; plane < pool.planes; ++plane) {
          const std::int64_t at = plane * out_plane_;
          parts[static_cast<std::size_t>(plane)] =
              epilogue.window_grads(pool, plane, y + at, dy + at, argmax.data() + at);
          max_pool_plane_backward(pool, false, y + at, dy + at, argmax.data() + at,
                                  dx.data() + plane * in_plane_);
        }
        if (need_dx)
          detail::accumulate_grad(self, 0, std::move(dx));
        if (need_ds) {
          double ds = 0.0;
          for (double part : parts) // in plane order: the same sum on any number of threads
            ds += part;
          epilogue.finish(self, 1, ds);
        }
      };
      return detail::make_result(std::move(out), {x, scale}, op, std::move(backward));
    }
  });
}

Var conv2d_relu_quantize_max_pool2d(const Var& x, const Var& weight, const Var& bias,
                                    const Conv2dOptions& conv, const Var& scale, const FakeQuantOptions& opt,
                                    int kernel, int stride, int padding) {
  const char* op = "conv2d_relu_quantize_max_pool2d";
  const detail::ConvPoolPlan plan =
      detail::conv_pool_plan(op, x, weight, bias, conv, kernel, stride, padding);
  const detail::FakeQuantPlan fq = detail::relu_quantize_plan(op, plan.conv.output_shape(), scale, opt);
  if (quantization_bypassed())
    return max_pool2d(fake_quantize(relu(conv2d(x, weight, bias, conv)), scale, opt), kernel, stride,
                      padding);
  return detail::dispatch_rounding(opt.rounding, [&](auto mode) -> Var {
    constexpr RoundingMode M = decltype(mode)::value;
    if constexpr (M == RoundingMode::stochastic) {
      throw config_error(std::string(op) + ": stochastic rounding is not supported"); // checked above
    } else {
      return detail::conv_pool_pass(
          op, plan, x, weight, bias, scale,
          detail::ReluQuantizePoolEpilogue<M>(fq, scale.value()[0], plan.pool, num_threads()));
    }
  });
}

} // namespace a2q::quant
