#pragma once
/// @file
/// Definitions for conv_pool.hpp (see a2q/core/config.hpp).

#include "a2q/autograd/conv_pool.hpp"

#include "a2q/autograd/conv_kernels.hpp"
#include "a2q/autograd/conv_plan.hpp"
#include "a2q/autograd/image_slices.hpp"
#include "a2q/autograd/pool_kernels.hpp"
#include "a2q/autograd/variable.hpp"
#include "a2q/core/parallel.hpp"
#include "a2q/core/tensor.hpp"

#include <cstdint>
#include <utility>

namespace a2q {

Var conv2d_relu_max_pool2d(const Var& x, const Var& weight, const Var& bias, const Conv2dOptions& conv,
                           int kernel, int stride, int padding) {
  const char* op = "conv2d_relu_max_pool2d";
  const detail::Conv2dPlan plan = detail::conv2d_plan(x.shape(), weight.shape(), conv);
  const bool has_bias = bias.defined();
  if (has_bias)
    detail::check_conv2d_bias(op, plan, bias.shape(), weight.shape());
  const detail::Pool2dPlan pool = detail::max_pool2d_plan(op, plan.output_shape(), kernel, stride, padding);
  const Shape out_shape{plan.batch, plan.out_channels, pool.out_h, pool.out_w};
  Tensor<float> out = Tensor<float>::uninitialized(out_shape);
  Tensor<std::int32_t> argmax = Tensor<std::int32_t>::uninitialized(out_shape);
  const std::int64_t slice = detail::conv_pool_slice_images(plan);
  const std::int64_t pooled_size = plan.out_channels * pool.out_h * pool.out_w; // per image
  const std::int64_t pooled_plane = pool.out_h * pool.out_w;
  Tensor<float> conv_out = Tensor<float>::uninitialized(Shape{num_threads() * slice * plan.out_size()});
  const float* xv = x.value().data();
  const float* wv = weight.value().data();
  const float* bv = has_bias ? bias.value().data() : nullptr;
  detail::for_each_slice(plan.batch, slice, [&](int thread, std::int64_t begin, std::int64_t end) {
    detail::Conv2dPlan part = plan;
    part.batch = end - begin;
    float* y = conv_out.data() + thread * slice * plan.out_size();
    detail::conv2d_forward(part, xv + begin * plan.in_size(), wv, bv, y);
    for (std::int64_t plane = 0; plane < part.batch * plan.out_channels; ++plane) {
      const std::int64_t at = begin * pooled_size + plane * pooled_plane;
      detail::max_pool_plane_forward(pool, true, y + plane * plan.positions, out.data() + at,
                                     argmax.data() + at);
    }
  });
  auto backward = [plan, pool, slice, has_bias, argmax = std::move(argmax)](detail::Node& self) {
    const detail::Node& xn = detail::input(self, 0);
    const detail::Node& wn = detail::input(self, 1);
    const bool need_dx = xn.requires_grad;
    const bool need_dw = wn.requires_grad;
    const bool need_db = has_bias && detail::input(self, 2).requires_grad;
    const std::int64_t w_size = wn.value.numel();
    const std::int64_t pooled_plane_ = pool.out_h * pool.out_w;
    const std::int64_t pooled_size_ = plan.out_channels * pooled_plane_;
    const int threads = num_threads();
    Tensor<float> dx = need_dx ? Tensor<float>::uninitialized(xn.value.shape()) : Tensor<float>();
    // Per thread: the slice's convolution output gradient, then its weight and bias gradients.
    const std::int64_t scratch_size = slice * plan.out_size() + w_size + plan.out_channels;
    Tensor<float> scratch = Tensor<float>::uninitialized(Shape{threads * scratch_size});
    // Per thread: the sums over its slices of the weight and bias gradients.
    Tensor<double> sums(Shape{threads * (w_size + plan.out_channels)}); // zero-filled
    const float* y = self.value.data();
    float* dy = self.grad.data(); // the ReLU's zeros go in place: the tape frees self.grad after this
    const std::int32_t* ai = argmax.data();
    detail::for_each_slice(plan.batch, slice, [&](int thread, std::int64_t begin, std::int64_t end) {
      detail::Conv2dPlan part = plan;
      part.batch = end - begin;
      float* dconv = scratch.data() + thread * scratch_size;
      float* dw = dconv + slice * plan.out_size();
      float* db = dw + w_size;
      for (std::int64_t plane = 0; plane < part.batch * plan.out_channels; ++plane) {
        const std::int64_t at = begin * pooled_size_ + plane * pooled_plane_;
        detail::max_pool_plane_backward(pool, true, y + at, dy + at, ai + at, dconv + plane * plan.positions);
      }
      detail::conv2d_backward(part, xn.value.data() + begin * plan.in_size(), wn.value.data(), dconv,
                              need_dx ? dx.data() + begin * plan.in_size() : nullptr, need_dw ? dw : nullptr,
                              need_db ? db : nullptr);
      double* sum = sums.data() + thread * (w_size + plan.out_channels);
      if (need_dw)
        for (std::int64_t i = 0; i < w_size; ++i)
          sum[i] += dw[i];
      if (need_db)
        for (std::int64_t c = 0; c < plan.out_channels; ++c)
          sum[w_size + c] += db[c];
    });
    // The threads' sums, in thread order.
    const auto total = [&](std::int64_t i) {
      double s = 0.0;
      for (int t = 0; t < threads; ++t)
        s += sums[t * (w_size + plan.out_channels) + i];
      return static_cast<float>(s);
    };
    if (need_dx)
      detail::accumulate_grad(self, 0, std::move(dx));
    if (need_dw) {
      Tensor<float> dw = Tensor<float>::uninitialized(wn.value.shape());
      for (std::int64_t i = 0; i < w_size; ++i)
        dw[i] = total(i);
      detail::accumulate_grad(self, 1, std::move(dw));
    }
    if (need_db) {
      Tensor<float> db = Tensor<float>::uninitialized(Shape{plan.out_channels});
      for (std::int64_t c = 0; c < plan.out_channels; ++c)
        db[c] = total(w_size + c);
      detail::accumulate_grad(self, 2, std::move(db));
    }
  };
  if (has_bias)
    return detail::make_result(std::move(out), {x, weight, bias}, op, std::move(backward));
  return detail::make_result(std::move(out), {x, weight}, op, std::move(backward));
}

} // namespace a2q
