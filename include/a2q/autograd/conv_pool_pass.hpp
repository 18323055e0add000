#pragma once
/// @file
/// The pass behind conv2d_relu_max_pool2d and its quantized twin: a convolution whose output goes, a slice
/// of a few images at a time, through a per-plane pooling step (an "epilogue") while it is in the cache.
/// The epilogue decides what happens between the convolution and the pooling (a ReLU, or a ReLU and a fake
/// quantizer) and may own one extra input, a scale, whose gradient it sums per plane.
///
/// An epilogue E provides:
/// - `static constexpr bool has_scale`: whether the operation has a last input whose gradient E gives;
/// - `void forward_plane(const Pool2dPlan&, int thread, std::int64_t plane, const float* conv, float* y,
///   std::int32_t* argmax)`: pools the convolution's output plane `conv` (plane = image · C_out + channel
///   over the batch) into y and argmax (indices into the plane); `thread` < num_threads() names the
///   caller's scratch;
/// - `double window_grads(const Pool2dPlan&, std::int64_t plane, const float* y, float* dy,
///   const std::int32_t* argmax) const`: turns the plane's output gradient dy, in place, into each
///   window's gradient, which pooling hands to the window's argmax alone; returns the plane's part of the
///   scale's gradient (0 without one);
/// - `void finish(detail::Node& self, std::size_t scale_input, double scale_grad) const` (has_scale only):
///   hands the scale its gradient, the planes' parts summed in plane order;
/// - `static constexpr bool pools_tiles`, and if true `void forward_tiles(int thread, std::int64_t plane,
///   std::int64_t output, std::int32_t first, std::int32_t width, const PlaneFloats& y00, const
///   PlaneFloats& y01, const PlaneFloats& y10, const PlaneFloats& y11, std::int64_t count, float* y,
///   std::int32_t* argmax)`: as forward_plane for the outputs [output, output + count) of the plane's y
///   and argmax, given as a vector of 2x2 windows by their values (tile_pool.hpp), lane i's window starting
///   at plane index first + 2 i in rows of `width`.

#include "a2q/autograd/conv_kernels.hpp"
#include "a2q/autograd/conv_options.hpp"
#include "a2q/autograd/conv_plan.hpp"
#include "a2q/autograd/image_slices.hpp"
#include "a2q/autograd/pool_kernels.hpp"
#include "a2q/autograd/pooled_conv_grad.hpp"
#include "a2q/autograd/tile_pool.hpp"
#include "a2q/autograd/variable.hpp"
#include "a2q/core/parallel.hpp"
#include "a2q/core/tensor.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace a2q::detail {

/// ReLU then max pooling (conv2d_relu_max_pool2d): no scale.
struct ReluPoolEpilogue {
  static constexpr bool has_scale = false;
  static constexpr bool pools_tiles = true;

  void forward_plane(const Pool2dPlan& p, int, std::int64_t, const float* conv, float* y,
                     std::int32_t* argmax) const {
    max_pool_plane_forward(p, true, conv, y, argmax);
  }
  void forward_tiles(int, std::int64_t, std::int64_t output, std::int32_t first, std::int32_t width,
                     const PlaneFloats& y00, const PlaneFloats& y01, const PlaneFloats& y10,
                     const PlaneFloats& y11, std::int64_t count, float* y, std::int32_t* argmax) const {
    PlaneFloats m;
    PlaneInts index;
    max_pool_tiles(y00, y01, y10, y11, first, width, m, index);
    const PlaneFloats zero{};
    store_first(y + output, m > zero ? m : zero, count);
    store_first(argmax + output, index, count);
  }
  double window_grads(const Pool2dPlan& p, std::int64_t, const float* y, float* dy,
                      const std::int32_t*) const {
    for (std::int64_t o = 0; o < p.out_h * p.out_w; ++o)
      dy[o] = y[o] > 0.0f ? dy[o] : 0.0f;
    return 0.0;
  }
  void finish(Node&, std::size_t, double) const {}
};

/// db[k] = the sum of the window gradients g [batch, K, windows] of output channel k (its bias gradient),
/// in vectors of lanes: a float sum in order would wait on each addition.
inline void window_grad_sums(std::int64_t batch, std::int64_t K, std::int64_t windows, const float* g,
                             float* db) {
  for (std::int64_t k = 0; k < K; ++k) {
    PlaneFloats lanes{};
    float rest = 0.0f;
    for (std::int64_t n = 0; n < batch; ++n) {
      const float* plane = g + (n * K + k) * windows;
      std::int64_t o = 0;
      for (; o + plane_lanes <= windows; o += plane_lanes)
        lanes += load_lanes(plane + o);
      for (; o < windows; ++o)
        rest += plane[o];
    }
    for (std::int64_t lane = 0; lane < plane_lanes; ++lane)
      rest += lanes[lane];
    db[k] = rest;
  }
}

/// The plan of a convolution followed by max pooling, both checked; `op` names the operation in errors.
struct ConvPoolPlan {
  Conv2dPlan conv;
  Pool2dPlan pool;
  bool has_bias = false;

  Shape output_shape() const { return Shape{conv.batch, conv.out_channels, pool.out_h, pool.out_w}; }
};

inline ConvPoolPlan conv_pool_plan(const char* op, const Var& x, const Var& weight, const Var& bias,
                                   const Conv2dOptions& conv, int kernel, int stride, int padding) {
  ConvPoolPlan plan;
  plan.conv = conv2d_plan(x.shape(), weight.shape(), conv);
  plan.has_bias = bias.defined();
  if (plan.has_bias)
    check_conv2d_bias(op, plan.conv, bias.shape(), weight.shape());
  plan.pool = max_pool2d_plan(op, plan.conv.output_shape(), kernel, stride, padding);
  return plan;
}

/// Runs the operation `op` (see the file comment): x [N, C_in, H, W] and weight [C_out, C_in / groups, kh,
/// kw], bias [C_out] or undefined, and `scale` the epilogue's input when it has one. The weight and bias
/// gradients are summed per thread over its slices in double, then over threads in order.
template <class Epilogue>
Var conv_pool_pass(const char* op, const ConvPoolPlan& cp, const Var& x, const Var& weight, const Var& bias,
                   const Var& scale, Epilogue epilogue) {
  const Conv2dPlan& plan = cp.conv;
  const Pool2dPlan& pool = cp.pool;
  Tensor<float> out = Tensor<float>::uninitialized(cp.output_shape());
  Tensor<std::int32_t> argmax = Tensor<std::int32_t>::uninitialized(cp.output_shape());
  const std::int64_t slice = conv_pool_slice_images(plan);
  const std::int64_t pooled_plane = pool.out_h * pool.out_w;
  // Winograd's output tiles pooled as they are made, or the convolution's output stored a slice at a time.
  bool tiles = false;
  if constexpr (Epilogue::pools_tiles)
    tiles = tile_pool_pays(plan, pool);
  Tensor<float> conv_out =
      Tensor<float>::uninitialized(Shape{tiles ? 0 : num_threads() * slice * plan.out_size()});
  const float* xv = x.value().data();
  const float* wv = weight.value().data();
  const float* bv = cp.has_bias ? bias.value().data() : nullptr;
  for_each_slice(plan.batch, slice, [&](int thread, std::int64_t begin, std::int64_t end) {
    Conv2dPlan part = plan;
    part.batch = end - begin;
    if constexpr (Epilogue::pools_tiles)
      if (tiles) {
        const auto width = static_cast<std::int32_t>(plan.out_w);
        winograd_conv2d_forward_tiles(
            part, xv + begin * plan.in_size(), wv, bv,
            [&](std::int64_t n, std::int64_t k, std::int64_t ti, std::int64_t j, const PlaneFloats& y00,
                const PlaneFloats& y01, const PlaneFloats& y10, const PlaneFloats& y11) {
              const std::int64_t global = (begin + n) * plan.out_channels + k;
              epilogue.forward_tiles(
                  thread, global, ti * pool.out_w + j, static_cast<std::int32_t>(2 * ti * plan.out_w + 2 * j),
                  width, y00, y01, y10, y11, std::min(plane_lanes, pool.out_w - j),
                  out.data() + global * pooled_plane, argmax.data() + global * pooled_plane);
            });
        return;
      }
    float* y = conv_out.data() + thread * slice * plan.out_size();
    conv2d_forward(part, xv + begin * plan.in_size(), wv, bv, y);
    for (std::int64_t plane = 0; plane < part.batch * plan.out_channels; ++plane) {
      const std::int64_t global = begin * plan.out_channels + plane;
      epilogue.forward_plane(pool, thread, global, y + plane * plan.positions,
                             out.data() + global * pooled_plane, argmax.data() + global * pooled_plane);
    }
  });
  auto backward = [cp, slice, argmax = std::move(argmax), epilogue = std::move(epilogue)](Node& self) {
    const Conv2dPlan& plan_ = cp.conv;
    const Pool2dPlan& pool_ = cp.pool;
    const Node& xn = input(self, 0);
    const Node& wn = input(self, 1);
    const bool need_dx = xn.requires_grad;
    const bool need_dw = wn.requires_grad;
    const bool need_db = cp.has_bias && input(self, 2).requires_grad;
    const std::size_t scale_input = cp.has_bias ? 3 : 2;
    const bool need_ds = Epilogue::has_scale && input(self, scale_input).requires_grad;
    const std::int64_t w_size = wn.value.numel();
    const std::int64_t pooled_plane_ = pool_.out_h * pool_.out_w;
    const int threads = num_threads();
    Tensor<float> dx = need_dx ? Tensor<float>::uninitialized(xn.value.shape()) : Tensor<float>();
    // The weight and input gradients from the windows' argmax alone, where the pooling allows it; the
    // dense convolution-output gradient otherwise.
    const bool pooled = (need_dw || need_dx) && pooled_conv_grad_pays(plan_, pool_, need_dx);
    std::vector<PooledConvGrad> pooled_grads;
    if (pooled)
      for (int t = 0; t < threads; ++t)
        pooled_grads.emplace_back(plan_, pool_, slice);
    // Per thread: the slice's convolution output gradient (dense only), then its weight and bias gradients.
    const std::int64_t dconv_size = pooled ? 0 : slice * plan_.out_size();
    const std::int64_t scratch_size = dconv_size + w_size + plan_.out_channels;
    Tensor<float> scratch = Tensor<float>::uninitialized(Shape{threads * scratch_size});
    // Per thread: the sums over its slices of the weight and bias gradients.
    Tensor<double> sums(Shape{threads * (w_size + plan_.out_channels)}); // zero-filled
    // Per plane: its part of the scale's gradient, summed in plane order below (any thread count).
    std::vector<double> scale_parts(need_ds ? static_cast<std::size_t>(plan_.batch * plan_.out_channels) : 0);
    const float* y = self.value.data();
    float* dy = self.grad.data(); // window gradients in place: the tape frees self.grad after this
    const std::int32_t* ai = argmax.data();
    for_each_slice(plan_.batch, slice, [&](int thread, std::int64_t begin, std::int64_t end) {
      Conv2dPlan part = plan_;
      part.batch = end - begin;
      float* dconv = scratch.data() + thread * scratch_size;
      float* dw = dconv + dconv_size;
      float* db = dw + w_size;
      const std::int64_t first = begin * plan_.out_channels * pooled_plane_; // the slice's first window
      for (std::int64_t plane = 0; plane < part.batch * plan_.out_channels; ++plane) {
        const std::int64_t global = begin * plan_.out_channels + plane;
        const std::int64_t at = global * pooled_plane_;
        const double part_ds = epilogue.window_grads(pool_, global, y + at, dy + at, ai + at);
        if (need_ds)
          scale_parts[static_cast<std::size_t>(global)] = part_ds;
      }
      const float* x_part = xn.value.data() + begin * plan_.in_size();
      float* dx_part = need_dx ? dx.data() + begin * plan_.in_size() : nullptr;
      if (pooled) {
        PooledConvGrad& grads = pooled_grads[static_cast<std::size_t>(thread)];
        grads.gather(part.batch, ai + first, dy + first);
        if (need_dw)
          grads.weight_grad(x_part, dw);
        if (need_dx)
          grads.input_grad(wn.value.data(), dx_part);
        if (need_db) // each window's gradient reaches one output position
          window_grad_sums(part.batch, plan_.out_channels, pooled_plane_, dy + first, db);
      } else {
        for (std::int64_t plane = 0; plane < part.batch * plan_.out_channels; ++plane) {
          const std::int64_t at = first + plane * pooled_plane_;
          max_pool_plane_backward(pool_, false, y + at, dy + at, ai + at, dconv + plane * plan_.positions);
        }
        conv2d_backward(part, x_part, wn.value.data(), dconv, dx_part, need_dw ? dw : nullptr,
                        need_db ? db : nullptr);
      }
      double* sum = sums.data() + thread * (w_size + plan_.out_channels);
      if (need_dw)
        for (std::int64_t i = 0; i < w_size; ++i)
          sum[i] += dw[i];
      if (need_db)
        for (std::int64_t c = 0; c < plan_.out_channels; ++c)
          sum[w_size + c] += db[c];
    });
    // The threads' sums, in thread order.
    const auto total = [&](std::int64_t i) {
      double s = 0.0;
      for (int t = 0; t < threads; ++t)
        s += sums[t * (w_size + plan_.out_channels) + i];
      return static_cast<float>(s);
    };
    if (need_dx)
      accumulate_grad(self, 0, std::move(dx));
    if (need_dw) {
      Tensor<float> dw = Tensor<float>::uninitialized(wn.value.shape());
      for (std::int64_t i = 0; i < w_size; ++i)
        dw[i] = total(i);
      accumulate_grad(self, 1, std::move(dw));
    }
    if (need_db) {
      Tensor<float> db = Tensor<float>::uninitialized(Shape{plan_.out_channels});
      for (std::int64_t c = 0; c < plan_.out_channels; ++c)
        db[c] = total(w_size + c);
      accumulate_grad(self, 2, std::move(db));
    }
    if (need_ds) {
      double ds = 0.0;
      for (double part_ds : scale_parts)
        ds += part_ds;
      epilogue.finish(self, scale_input, ds);
    }
  };
  if constexpr (Epilogue::has_scale) {
    if (cp.has_bias)
      return make_result(std::move(out), {x, weight, bias, scale}, op, std::move(backward));
    return make_result(std::move(out), {x, weight, scale}, op, std::move(backward));
  } else {
    if (cp.has_bias)
      return make_result(std::move(out), {x, weight, bias}, op, std::move(backward));
    return make_result(std::move(out), {x, weight}, op, std::move(backward));
  }
}

} // namespace a2q::detail
