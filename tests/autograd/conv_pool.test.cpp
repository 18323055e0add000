#include "a2q/autograd/conv_pool.hpp"
#include "a2q/autograd/conv.hpp"
#include "a2q/autograd/conv_plan.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/image_slices.hpp"
#include "a2q/autograd/pool.hpp"
#include "a2q/autograd/pooled_conv_grad.hpp"
#include "a2q/autograd/tile_pool.hpp"
#include "a2q/core/parallel.hpp"

#include "close.hpp"
#include "conv_pool_cases.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;

using a2q_test::BackendRestorer;
using a2q_test::conv_pool_cases;
using a2q_test::ConvPoolCase;
using a2q_test::require_close;
using a2q_test::require_close_to_scale;

namespace {

Tensor<float> uniform(const Shape& shape, a2q::Rng& rng) {
  return Tensor<float>::uniform(shape, -1.0f, 1.0f, rng);
}

/// Output, input gradient (empty unless need_dx), weight gradient and bias gradient (empty without bias)
/// of the fused operation or of its composition, with the output gradient r.
std::vector<Tensor<float>> run(const ConvPoolCase& c, bool fused, const Tensor<float>& xt,
                               const Tensor<float>& wt, const Tensor<float>& bt, Tensor<float>& r,
                               a2q::Rng& rng, bool need_dx = true) {
  const Var x(xt, need_dx), w(wt, true), b = c.bias ? Var(bt, true) : Var();
  const Var y =
      fused ? a2q::conv2d_relu_max_pool2d(x, w, b, c.conv, c.pool_kernel, c.pool_stride, c.pool_padding)
            : a2q::max_pool2d(a2q::relu(a2q::conv2d(x, w, b, c.conv)), c.pool_kernel, c.pool_stride,
                              c.pool_padding);
  if (r.numel() != y.value().numel())
    r = uniform(y.shape(), rng);
  a2q::sum(a2q::mul(y, Var(r))).backward();
  return {y.value(), need_dx ? x.grad() : Tensor<float>(), w.grad(), c.bias ? b.grad() : Tensor<float>()};
}

void require_same(const std::vector<Tensor<float>>& fused, const std::vector<Tensor<float>>& composed) {
  require_close(fused[0], composed[0], 1e-5f);
  if (fused[1].numel() > 0)
    require_close(fused[1], composed[1], 1e-5f);
  // Summed over slices in another order.
  require_close_to_scale(fused[2], composed[2], 1e-5f);
  if (composed[3].numel() > 0)
    require_close_to_scale(fused[3], composed[3], 1e-5f);
}

} // namespace

TEST_CASE("conv2d_relu_max_pool2d equals conv2d, relu and max_pool2d in value and gradient",
          "[autograd][conv][pool]") {
  BackendRestorer restore;
  a2q::Rng rng(211);
  int pooled_grads = 0, weight_only_pooled_grads = 0, tile_pools = 0;
  for (const ConvPoolCase& c : conv_pool_cases()) {
    const Tensor<float> xt = uniform(Shape{c.n, c.c_in, c.h, c.w}, rng);
    const Tensor<float> wt = uniform(Shape{c.c_out, c.c_in / c.conv.groups, c.k, c.k}, rng);
    const Tensor<float> bt = uniform(Shape{c.c_out}, rng);
    const a2q::detail::Conv2dPlan plan = a2q::detail::conv2d_plan(xt.shape(), wt.shape(), c.conv);
    REQUIRE(a2q::detail::conv_pool_slice_images(plan) < c.n); // several slices
    const a2q::detail::Pool2dPlan pool = a2q::detail::max_pool2d_plan(
        "test", plan.output_shape(), c.pool_kernel, c.pool_stride, c.pool_padding);
    pooled_grads += a2q::detail::pooled_conv_grad_pays(plan, pool, true) ? 1 : 0;
    weight_only_pooled_grads += a2q::detail::pooled_conv_grad_pays(plan, pool, false) ? 1 : 0;
    std::vector<a2q::FloatBackend> backends{a2q::FloatBackend::eigen};
    if constexpr (a2q::onednn_available)
      backends.push_back(a2q::FloatBackend::onednn);
    for (const a2q::FloatBackend backend : backends) {
      a2q::set_float_backend(backend);
      if (backend == a2q::FloatBackend::eigen) // where Winograd runs in every build
        tile_pools += a2q::detail::tile_pool_pays(plan, pool) ? 1 : 0;
      INFO(c.name << (backend == a2q::FloatBackend::eigen ? " (Eigen)" : " (oneDNN)"));
      Tensor<float> r;
      const std::vector<Tensor<float>> composed = run(c, false, xt, wt, bt, r, rng);
      const std::vector<Tensor<float>> fused = run(c, true, xt, wt, bt, r, rng);
      require_same(fused, composed);
      // Without an input gradient (as for an image's first layer), which one input channel allows.
      require_same(run(c, true, xt, wt, bt, r, rng, false), composed);
      // A ReLU really ran: some windows' maxima were negative and came out as 0.
      std::int64_t zeros = 0;
      for (float v : fused[0])
        zeros += v == 0.0f ? 1 : 0;
      CHECK(zeros > 0);
    }
  }
  // The cases take the gradients from the windows' argmax (with 4, 8 or 16 lanes) as well as densely,
  // and the first layer's single input channel takes them when there is no input gradient.
  // Some cases pool Winograd's output tiles as they are made, others the stored convolution output.
  CHECK(tile_pools >= 1);
  CHECK(tile_pools < static_cast<int>(conv_pool_cases().size()));
  CHECK(pooled_grads >= 1);
  CHECK(weight_only_pooled_grads > pooled_grads);
  CHECK(weight_only_pooled_grads < static_cast<int>(conv_pool_cases().size()));
}

TEST_CASE("conv2d_relu_max_pool2d pools NaN as max_pool2d does, then applies the ReLU",
          "[autograd][conv][pool]") {
  // A window with a NaN pools to NaN, which the ReLU makes 0, whichever element the NaN is and wherever
  // the window's largest number is. (relu() first would turn the NaN into 0 before pooling.)
  a2q::Rng rng(229);
  for (const ConvPoolCase& c : conv_pool_cases()) {
    INFO(c.name);
    Tensor<float> xt = uniform(Shape{c.n, c.c_in, c.h, c.w}, rng);
    for (std::int64_t i = 0; i < xt.numel(); i += 97)
      xt[i] = std::numeric_limits<float>::quiet_NaN();
    const Var x(xt), w(uniform(Shape{c.c_out, c.c_in / c.conv.groups, c.k, c.k}, rng));
    const Var b = c.bias ? Var(uniform(Shape{c.c_out}, rng)) : Var();
    const Tensor<float> fused =
        a2q::conv2d_relu_max_pool2d(x, w, b, c.conv, c.pool_kernel, c.pool_stride, c.pool_padding).value();
    const Tensor<float> conv = a2q::conv2d(x, w, b, c.conv).value();
    const Tensor<float> pooled =
        a2q::max_pool2d(Var(conv), c.pool_kernel, c.pool_stride, c.pool_padding).value();
    std::int64_t nan_windows = 0, mismatches = 0;
    for (std::int64_t i = 0; i < pooled.numel(); ++i) {
      nan_windows += std::isnan(pooled[i]) ? 1 : 0;
      const float expected = pooled[i] > 0.0f ? pooled[i] : 0.0f;
      mismatches += fused[i] == expected ? 0 : 1;
    }
    CHECK(nan_windows > 0);
    CHECK(mismatches == 0);
  }
}

#ifdef _OPENMP
TEST_CASE("conv2d_relu_max_pool2d gives the same results on one and several threads",
          "[autograd][conv][pool][threads]") {
  const int saved = a2q::num_threads();
  a2q::Rng rng(223);
  for (const ConvPoolCase& c : conv_pool_cases()) {
    INFO(c.name);
    const Tensor<float> xt = uniform(Shape{c.n, c.c_in, c.h, c.w}, rng);
    const Tensor<float> wt = uniform(Shape{c.c_out, c.c_in / c.conv.groups, c.k, c.k}, rng);
    const Tensor<float> bt = uniform(Shape{c.c_out}, rng);
    Tensor<float> r;
    a2q::set_num_threads(1);
    const std::vector<Tensor<float>> one = run(c, true, xt, wt, bt, r, rng);
    a2q::set_num_threads(3);
    const std::vector<Tensor<float>> three = run(c, true, xt, wt, bt, r, rng);
    a2q::set_num_threads(saved);
    require_same(three, one);
  }
  // The nested kernels ran on their thread alone, and the caller's thread count is untouched.
  CHECK(a2q::num_threads() == saved);
}
#endif

TEST_CASE("conv2d_relu_max_pool2d rejects what conv2d and max_pool2d reject", "[autograd][conv][pool]") {
  a2q::Rng rng(227);
  const Var x(uniform(Shape{2, 3, 8, 8}, rng));
  const Var w(uniform(Shape{4, 3, 3, 3}, rng));
  const auto message = [](const auto& call) {
    try {
      call();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string bias = message([&] {
    a2q::conv2d_relu_max_pool2d(x, w, Var(uniform(Shape{5}, rng)), {1, 1, 1}, 2, 2, 0);
  });
  CHECK(bias.find("conv2d_relu_max_pool2d: bias [5]") != std::string::npos);
  CHECK_THROWS_AS(a2q::conv2d_relu_max_pool2d(x, w, Var(uniform(Shape{5}, rng)), {1, 1, 1}, 2, 2, 0),
                  a2q::shape_error);
  CHECK_THROWS_AS(a2q::conv2d_relu_max_pool2d(x, w, Var(), {1, 1, 1}, 9, 1, 0), a2q::shape_error);
  CHECK_THROWS_AS(a2q::conv2d_relu_max_pool2d(x, w, Var(), {1, 1, 1}, 2, 2, 2), a2q::config_error);
  CHECK_THROWS_AS(
      a2q::conv2d_relu_max_pool2d(x, Var(uniform(Shape{4, 2, 3, 3}, rng)), Var(), {1, 1, 1}, 2, 2),
      a2q::shape_error);
  CHECK_NOTHROW(a2q::conv2d_relu_max_pool2d(x, w, Var(), {1, 1, 1}, 2, 2, 0));
}
