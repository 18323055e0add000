#pragma once
/// @file
/// Definitions for pool.hpp (see a2q/core/config.hpp).

#include "a2q/autograd/pool.hpp"

#include "a2q/autograd/pool_kernels.hpp"
#include "a2q/autograd/variable.hpp"
#include "a2q/core/eigen_view.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/parallel.hpp"
#include "a2q/core/tensor.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

namespace a2q {

namespace detail {

/// Max pooling, followed in the same pass by a ReLU when `relu` is set (see relu_max_pool2d).
inline Var max_pool2d_pass(const Var& x, int kernel, int stride, int padding, bool relu) {
  const char* op = relu ? "relu_max_pool2d" : "max_pool2d";
  const Pool2dPlan p = max_pool2d_plan(op, x.shape(), kernel, stride, padding);
  const Shape out_shape{x.shape()[0], x.shape()[1], p.out_h, p.out_w};
  Tensor<float> out = Tensor<float>::uninitialized(out_shape);
  // Argmax of each output element, as an index into its input plane.
  Tensor<std::int32_t> argmax = Tensor<std::int32_t>::uninitialized(out_shape);
  const float* xv = x.value().data();
  float* yv = out.data();
  std::int32_t* av = argmax.data();
  const std::int64_t in_plane = p.height * p.width;
  const std::int64_t out_plane = p.out_h * p.out_w;
  // Threads only for enough work (~10 microseconds): a parallel region costs more than a tiny loop.
  [[maybe_unused]] const bool threaded = p.planes * in_plane >= 32768;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (threaded)
#endif
  for (std::int64_t plane = 0; plane < p.planes; ++plane)
    max_pool_plane_forward(p, relu, xv + plane * in_plane, yv + plane * out_plane, av + plane * out_plane);
  return make_result(std::move(out), {x}, op, [p, relu, argmax = std::move(argmax)](Node& self) {
    const std::int64_t out_plane_ = p.out_h * p.out_w;
    const std::int64_t in_plane_ = p.height * p.width;
    const float* y = self.value.data();
    float* dy = self.grad.data(); // the ReLU's zeros go in place: the tape frees self.grad after this
    Tensor<float> dx = Tensor<float>::uninitialized(input(self, 0).value.shape());
    const std::int32_t* ai = argmax.data();
    float* dxv = dx.data();
    [[maybe_unused]] const bool threaded_backward = p.planes * in_plane_ >= 32768;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (threaded_backward)
#endif
    for (std::int64_t plane = 0; plane < p.planes; ++plane)
      max_pool_plane_backward(p, relu, y + plane * out_plane_, dy + plane * out_plane_,
                              ai + plane * out_plane_, dxv + plane * in_plane_);
    accumulate_grad(self, 0, std::move(dx));
  });
}

} // namespace detail

Var max_pool2d(const Var& x, int kernel, int stride, int padding) {
  return detail::max_pool2d_pass(x, kernel, stride, padding, false);
}

Var relu_max_pool2d(const Var& x, int kernel, int stride, int padding) {
  return detail::max_pool2d_pass(x, kernel, stride, padding, true);
}

Var max_pool2d(const Var& x, int kernel) {
  return max_pool2d(x, kernel, kernel, 0);
}

Var avg_pool2d(const Var& x, int kernel, int stride, int padding, bool count_include_pad) {
  const detail::Pool2dPlan p = detail::pool2d_plan("avg_pool2d", x.shape(), kernel, stride, padding);
  Tensor<float> out = Tensor<float>::uninitialized(Shape{x.shape()[0], x.shape()[1], p.out_h, p.out_w});
  const std::int64_t in_plane = p.height * p.width;
  const std::int64_t out_plane = p.out_h * p.out_w;
  const float* xv = x.value().data();
  float* yv = out.data();
  // Threads only for enough work (~10 microseconds): a parallel region costs more than a tiny loop.
  [[maybe_unused]] const bool threaded = p.planes * p.out_h * p.out_w * p.kernel * p.kernel >= 32768;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (threaded)
#endif
  for (std::int64_t plane = 0; plane < p.planes; ++plane) {
    const float* xp = xv + plane * in_plane;
    float* yp = yv + plane * out_plane;
    detail::for_each_window(
        p, [&](std::int64_t o, std::int64_t hs, std::int64_t ws, bool inside, auto fixed) {
          float total = 0.0f;
          detail::visit_window<decltype(fixed)::value>(
              p, hs, ws, inside, [&](std::int64_t k, bool valid) { total += valid ? xp[k] : 0.0f; });
          yp[o] = total / detail::avg_divisor(p, count_include_pad, hs, ws);
        });
  }
  return detail::make_result(std::move(out), {x}, "avg_pool2d", [p, count_include_pad](detail::Node& self) {
    Tensor<float> dx(detail::input(self, 0).value.shape()); // zero-filled
    const std::int64_t in_plane_ = p.height * p.width;
    const std::int64_t out_plane_ = p.out_h * p.out_w;
    const float* dy = self.grad.data();
    float* dxv = dx.data();
    // Threads only for enough work (~10 microseconds): a parallel region costs more than a tiny loop.
    [[maybe_unused]] const bool threaded_backward =
        p.planes * p.out_h * p.out_w * p.kernel * p.kernel >= 32768;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (threaded_backward)
#endif
    for (std::int64_t plane = 0; plane < p.planes; ++plane) {
      float* dxp = dxv + plane * in_plane_;
      const float* dyp = dy + plane * out_plane_;
      detail::for_each_window(
          p, [&](std::int64_t o, std::int64_t hs, std::int64_t ws, bool inside, auto fixed) {
            const float g = dyp[o] / detail::avg_divisor(p, count_include_pad, hs, ws);
            // Positions in the padding add 0 to a clamped (in-image) element.
            detail::visit_window<decltype(fixed)::value>(
                p, hs, ws, inside, [&](std::int64_t k, bool valid) { dxp[k] += valid ? g : 0.0f; });
          });
    }
    detail::accumulate_grad(self, 0, std::move(dx));
  });
}

Var avg_pool2d(const Var& x, int kernel) {
  return avg_pool2d(x, kernel, kernel, 0);
}

Var global_avg_pool2d(const Var& x) {
  const Shape& s = x.shape();
  if (s.rank() != 4)
    throw shape_error("global_avg_pool2d: input must be [N, C, H, W], got " + s.to_string());
  if (s[2] * s[3] == 0)
    throw shape_error("global_avg_pool2d: empty image in " + s.to_string());
  const std::int64_t planes = s[0] * s[1];
  const std::int64_t pixels = s[2] * s[3];
  Tensor<float> out = Tensor<float>::uninitialized(Shape{s[0], s[1]});
  as_vector(out) = as_matrix(x.value(), planes, pixels).rowwise().mean();
  return detail::make_result(std::move(out), {x}, "global_avg_pool2d", [planes, pixels](detail::Node& self) {
    Tensor<float> dx = Tensor<float>::uninitialized(detail::input(self, 0).value.shape());
    as_matrix(dx, planes, pixels).colwise() = as_vector(self.grad) / static_cast<float>(pixels);
    detail::accumulate_grad(self, 0, std::move(dx));
  });
}

} // namespace a2q
