// The kernels whose code depends on the vector target, built for a wider one than the other test programs
// (the dev and asan-ubsan presets compile for plain x86-64, 4-lane vectors): tests/CMakeLists.txt builds
// this file once with AVX2 + FMA (8 lanes, what release builds use on Zen 3) and once with AVX-512 (16
// lanes). The lane count changes the shuffles, the masks and the reductions, so each build checks
// - Winograd's convolution against the double reference, on shapes whose rows of tiles are shorter, as
//   long as and longer than a vector;
// - 2x2 max pooling (value, argmax and gradient) against a naive loop, on rows of every length up to two
//   vectors and more, whose last outputs take masked loads and stores;
// - a 3x3 convolution's gradients from its pooling windows' argmax (pooled_conv_grad.hpp) against the
//   double reference fed the dense output gradient.
//
// A plain main, not Catch: nothing may run before the CPU check, or a CPU without the instructions would
// stop on the first one. Exits 77 (CTest: skipped) on such a CPU, 1 on a mismatch.

#include "a2q/autograd/pool_kernels.hpp"
#include "a2q/autograd/pooled_conv_grad.hpp"
#include "a2q/autograd/winograd_conv.hpp"
#include "a2q/core/rng.hpp"

#include "conv_reference.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <vector>

namespace {

bool cpu_has_target() {
#if defined(__AVX512F__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("fma");
#elif defined(__AVX2__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return true;
#endif
}

/// Whether every element of `actual` is within tol * (1 + |e|) of `expected` (tol * (1 + max |e|) with
/// `to_scale`: Winograd's weight gradient cancels terms larger than itself); reports the first that is not.
bool close(const char* what, const a2q::Tensor<float>& actual, const a2q::Tensor<float>& expected,
           bool to_scale) {
  float scale = 0.0f;
  for (std::int64_t i = 0; i < expected.numel(); ++i)
    scale = std::max(scale, std::abs(expected[i]));
  for (std::int64_t i = 0; i < expected.numel(); ++i) {
    const float tol = 1e-5f * (1.0f + (to_scale ? scale : std::abs(expected[i])));
    if (!(std::abs(actual[i] - expected[i]) <= tol)) {
      std::printf("  %s: element %lld is %g, expected %g\n", what, static_cast<long long>(i),
                  static_cast<double>(actual[i]), static_cast<double>(expected[i]));
      return false;
    }
  }
  return true;
}

/// 2x2 max pooling with stride 2 of planes [h, w] (ties among zeros, as after a ReLU) against a naive loop:
/// the outputs, the argmax (first maximum in row-major order) and the input gradient. Returns the number of
/// widths with a mismatch.
int check_max_pool_2x2(a2q::Rng& rng) {
  int failures = 0;
  for (std::int64_t w = 2; w <= 4 * A2Q_SIMD_LANES + 3; ++w)
    for (const std::int64_t h : {std::int64_t{4}, std::int64_t{5}}) {
      const a2q::detail::Pool2dPlan p =
          a2q::detail::max_pool2d_plan("max_pool2d", a2q::Shape{1, 1, h, w}, 2, 2, 0);
      a2q::Tensor<float> x = a2q::Tensor<float>::uniform(a2q::Shape{h * w}, -1.0f, 1.0f, rng);
      for (float& v : x)
        v = std::max(v, 0.0f);
      const std::int64_t outputs = p.out_h * p.out_w;
      // Each buffer exactly its size, so that AddressSanitizer would see a read or write past it.
      std::vector<float> y(static_cast<std::size_t>(outputs)), dy(static_cast<std::size_t>(outputs));
      std::vector<float> dx(static_cast<std::size_t>(h * w), -7.0f);
      std::vector<std::int32_t> argmax(static_cast<std::size_t>(outputs));
      for (float& g : dy)
        g = static_cast<float>(rng.uniform(-1.0, 1.0));
      a2q::detail::max_pool_plane_forward(p, false, x.data(), y.data(), argmax.data());
      a2q::detail::max_pool_plane_backward(p, false, y.data(), dy.data(), argmax.data(), dx.data());
      std::vector<float> dx_ref(static_cast<std::size_t>(h * w), 0.0f);
      bool ok = true;
      for (std::int64_t oh = 0; oh < p.out_h; ++oh)
        for (std::int64_t ow = 0; ow < p.out_w; ++ow) {
          std::int64_t best = 2 * oh * w + 2 * ow;
          for (const std::int64_t at : {best + 1, best + w, best + w + 1})
            if (x[at] > x[best])
              best = at;
          const std::int64_t o = oh * p.out_w + ow;
          const auto out = static_cast<std::size_t>(o);
          ok = ok && y[out] == x[best] && argmax[out] == best;
          dx_ref[static_cast<std::size_t>(best)] = dy[out];
        }
      ok = ok && dx == dx_ref;
      if (!ok) {
        std::printf("mismatch: 2x2 max pooling of a %lldx%lld plane\n", static_cast<long long>(h),
                    static_cast<long long>(w));
        ++failures;
      }
    }
  return failures;
}

/// PooledConvGrad against the double reference given the same output gradient densely: each pooling
/// window's gradient at its argmax (the first largest convolution output in row-major order), zero
/// elsewhere. Returns the number of shapes with a mismatch.
int check_pooled_conv_grad(a2q::Rng& rng) {
  struct Layer {
    std::int64_t n, c, k, h, w;
    int stride, pad, pool;
  };
  // The CNN's second layer; stride 2 with 3x3 windows; ragged windows; one input channel (no input
  // gradient), as the CNN's first layer and with ragged windows.
  const Layer shapes[] = {{3, 16, 32, 14, 14, 1, 1, 2},
                          {2, 16, 12, 23, 19, 2, 1, 3},
                          {2, 32, 8, 9, 13, 1, 0, 2},
                          {3, 1, 16, 28, 28, 1, 1, 2},
                          {2, 1, 5, 17, 11, 1, 0, 3}};
  int failures = 0;
  for (const Layer& s : shapes) {
    const a2q::Conv2dOptions opt{s.stride, s.pad, 1};
    const a2q::Tensor<float> x =
        a2q::Tensor<float>::uniform(a2q::Shape{s.n, s.c, s.h, s.w}, -1.0f, 1.0f, rng);
    const a2q::Tensor<float> w = a2q::Tensor<float>::uniform(a2q::Shape{s.k, s.c, 3, 3}, -1.0f, 1.0f, rng);
    const a2q::detail::Conv2dPlan plan = a2q::detail::conv2d_plan(x.shape(), w.shape(), opt);
    const a2q::detail::Pool2dPlan pool =
        a2q::detail::max_pool2d_plan("max_pool2d", plan.output_shape(), s.pool, s.pool, 0);
    const bool need_dx = s.c > 1;
    if (!a2q::detail::pooled_conv_grad_pays(plan, pool, need_dx)) {
      std::printf("mismatch: the pooled gradients do not take a %lld-channel shape\n",
                  static_cast<long long>(s.c));
      ++failures;
      continue;
    }
    const a2q::Tensor<float> y = a2q_test::reference_conv(x, w, nullptr, opt);
    const std::int64_t windows = pool.out_h * pool.out_w;
    std::vector<std::int32_t> argmax(static_cast<std::size_t>(s.n * s.k * windows));
    std::vector<float> window_grads(argmax.size());
    a2q::Tensor<float> dconv(plan.output_shape()); // zero-filled
    for (std::int64_t plane = 0; plane < s.n * s.k; ++plane)
      for (std::int64_t oh = 0; oh < pool.out_h; ++oh)
        for (std::int64_t ow = 0; ow < pool.out_w; ++ow) {
          std::int64_t best = oh * s.pool * plan.out_w + ow * s.pool;
          for (std::int64_t i = 0; i < s.pool; ++i)
            for (std::int64_t j = 0; j < s.pool; ++j) {
              const std::int64_t at = (oh * s.pool + i) * plan.out_w + ow * s.pool + j;
              if (y[plane * plan.positions + at] > y[plane * plan.positions + best])
                best = at;
            }
          // Some windows pass no gradient, as where a ReLU zeroed them.
          const double g = rng.uniform(-1.0, 1.0);
          const auto window = static_cast<std::size_t>(plane * windows + oh * pool.out_w + ow);
          argmax[window] = static_cast<std::int32_t>(best);
          window_grads[window] = g < -0.7 ? 0.0f : static_cast<float>(g);
          dconv[plane * plan.positions + best] = window_grads[window];
        }
    a2q::Tensor<float> dx(x.shape()), dw(w.shape());
    a2q::detail::PooledConvGrad grads(plan, pool, s.n);
    grads.gather(s.n, argmax.data(), window_grads.data());
    grads.weight_grad(x.data(), dw.data());
    if (need_dx)
      grads.input_grad(w.data(), dx.data());
    const auto [dx_ref, dw_ref] = a2q_test::reference_conv_grads(x, w, dconv, opt);
    if (!((!need_dx || close("dx", dx, dx_ref, false)) & close("dw", dw, dw_ref, true))) {
      std::printf("mismatch: pooled gradients, %lld channels to %lld, stride %d, %dx%d windows\n",
                  static_cast<long long>(s.c), static_cast<long long>(s.k), s.stride, s.pool, s.pool);
      ++failures;
    }
  }
  return failures;
}

} // namespace

int main() {
  if (!cpu_has_target()) {
    std::printf("this CPU lacks %s: skipped\n", A2Q_SIMD_TARGET);
    return 77;
  }
  if (a2q::detail::plane_lanes != A2Q_SIMD_LANES || a2q::detail::pool_lanes != A2Q_SIMD_LANES) {
    std::printf("built with %lld lanes, expected %d: the compile flags did not take\n",
                static_cast<long long>(a2q::detail::plane_lanes), A2Q_SIMD_LANES);
    return 1;
  }
  struct Case {
    std::int64_t n, c, k, h, w;
    int pad;
  };
  // Rows of 7, 4, 3, 21, 17 and 1 tiles; every padding; a block budget of one tile row and the default.
  const Case cases[] = {{3, 16, 32, 14, 14, 1}, {2, 8, 11, 7, 9, 1}, {2, 9, 8, 6, 7, 0},
                        {2, 8, 13, 5, 6, 2},    {1, 8, 9, 5, 41, 1}, {2, 12, 10, 17, 33, 1},
                        {3, 8, 8, 2, 2, 1}};
  a2q::Rng rng(112);
  int failures = 0;
  for (const Case& c : cases)
    for (const std::int64_t budget : {std::int64_t{1}, a2q::detail::winograd_block_bytes}) {
      const a2q::Conv2dOptions opt{1, c.pad, 1};
      const a2q::Tensor<float> x =
          a2q::Tensor<float>::uniform(a2q::Shape{c.n, c.c, c.h, c.w}, -1.0f, 1.0f, rng);
      const a2q::Tensor<float> w = a2q::Tensor<float>::uniform(a2q::Shape{c.k, c.c, 3, 3}, -1.0f, 1.0f, rng);
      const a2q::Tensor<float> b = a2q::Tensor<float>::uniform(a2q::Shape{c.k}, -1.0f, 1.0f, rng);
      const a2q::detail::Conv2dPlan plan = a2q::detail::conv2d_plan(x.shape(), w.shape(), opt);
      const a2q::Tensor<float> dy = a2q::Tensor<float>::uniform(plan.output_shape(), -1.0f, 1.0f, rng);
      a2q::Tensor<float> y(plan.output_shape()), dx(x.shape()), dw(w.shape());
      a2q::detail::winograd_conv2d_forward(plan, x.data(), w.data(), b.data(), y.data(), budget);
      a2q::detail::winograd_conv2d_backward(plan, x.data(), w.data(), dy.data(), dx.data(), dw.data(),
                                            budget);
      const auto [dx_ref, dw_ref] = a2q_test::reference_conv_grads(x, w, dy, opt);
      const bool ok = close("y", y, a2q_test::reference_conv(x, w, &b, opt), false) &
                      close("dx", dx, dx_ref, false) & close("dw", dw, dw_ref, true);
      if (!ok) {
        std::printf("mismatch: %lldx%lld images of %lld channels to %lld, padding %d, block budget %lld\n",
                    static_cast<long long>(c.h), static_cast<long long>(c.w), static_cast<long long>(c.c),
                    static_cast<long long>(c.k), c.pad, static_cast<long long>(budget));
        ++failures;
      }
    }
  std::printf("%s Winograd kernels (%d lanes): %d of %zu cases wrong\n", A2Q_SIMD_TARGET, A2Q_SIMD_LANES,
              failures, 2 * std::size(cases));
  const int pool_failures = check_max_pool_2x2(rng);
  std::printf("%s 2x2 max pooling (%d lanes): %d plane sizes wrong\n", A2Q_SIMD_TARGET, A2Q_SIMD_LANES,
              pool_failures);
  const int pooled_failures = check_pooled_conv_grad(rng);
  std::printf("%s gradients from pooling argmax (%d lanes): %d shapes wrong\n", A2Q_SIMD_TARGET,
              A2Q_SIMD_LANES, pooled_failures);
  return failures + pool_failures + pooled_failures == 0 ? 0 : 1;
}
