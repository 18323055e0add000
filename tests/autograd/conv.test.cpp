#include "a2q/autograd/conv.hpp"
#include "a2q/autograd/conv_plan.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/gradcheck.hpp"
#include "a2q/autograd/winograd_conv.hpp"
#include "a2q/core/parallel.hpp"

#include "close.hpp"
#include "conv_reference.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <utility>
#include <vector>

using a2q::Conv2dOptions;
using a2q::Shape;
using a2q::Tensor;
using a2q::Var;

using a2q_test::BackendRestorer;
using a2q_test::reference_bias_grad;
using a2q_test::reference_conv;
using a2q_test::reference_conv_grads;
using a2q_test::require_close;
using a2q_test::require_close_to_scale;

namespace {

/// One convolution configuration: input [n, c_in, h, w], weight [c_out, c_in / groups, kh, kw].
struct ConvCase {
  const char* name;
  std::int64_t n, c_in, h, w, c_out, kh, kw;
  Conv2dOptions opt;
  bool bias;
};

Tensor<float> uniform(const Shape& shape, a2q::Rng& rng) {
  return Tensor<float>::uniform(shape, -1.0f, 1.0f, rng);
}

Shape weight_shape(const ConvCase& c) {
  return Shape{c.c_out, c.c_in / c.opt.groups, c.kh, c.kw};
}

using a2q::detail::WinogradMode;

/// Sets when 3x3 convolutions run as Winograd, and restores the setting on exit.
struct WinogradSetting {
  WinogradMode saved = a2q::detail::winograd_mode().load();
  explicit WinogradSetting(WinogradMode mode) { a2q::detail::winograd_mode().store(mode); }
  ~WinogradSetting() { a2q::detail::winograd_mode().store(saved); }
  WinogradSetting(const WinogradSetting&) = delete;
  WinogradSetting& operator=(const WinogradSetting&) = delete;
};

/// Convolutions that take the Winograd path (3x3, stride 1, ungrouped, at least 8 channels on each side),
/// with odd sizes whose last tile row and column are cut off, every padding it takes, and rows of tiles
/// longer than a vector.
const std::vector<ConvCase>& winograd_cases() {
  static const std::vector<ConvCase> cases = {
      {"the example CNN's second layer", 3, 16, 14, 14, 32, 3, 3, {1, 1, 1}, true},
      {"odd sizes, padding 1", 2, 8, 7, 9, 11, 3, 3, {1, 1, 1}, true},
      {"no padding, 9 input channels", 2, 9, 6, 7, 8, 3, 3, {1, 0, 1}, false},
      {"padding 2", 2, 8, 5, 6, 13, 3, 3, {1, 2, 1}, true},
      {"the smallest output, 2x2", 3, 8, 2, 2, 8, 3, 3, {1, 1, 1}, true},
      {"a long row of tiles", 1, 8, 5, 41, 9, 3, 3, {1, 1, 1}, true},
      {"more input than output channels", 2, 21, 6, 6, 10, 3, 3, {1, 1, 1}, false},
  };
  return cases;
}

// Small cases that exercise every path: the identity (1x1) lowering, padding, strides, non-square images
// and kernels, groups, depthwise (direct loops; the strided forward pass takes the GEMM path) and a
// depthwise multiplier (GEMM path).
const std::vector<ConvCase>& gradcheck_cases() {
  static const std::vector<ConvCase> cases = {
      {"batch 1, 1x1 kernel", 1, 3, 4, 5, 2, 1, 1, {1, 0, 1}, true},
      {"1x1 kernel, stride 2", 2, 2, 5, 4, 3, 1, 1, {2, 0, 1}, false},
      {"3x3, padding 1, 5x7 image", 2, 2, 5, 7, 3, 3, 3, {1, 1, 1}, true},
      {"3x2 kernel, stride 2, padding 1", 2, 2, 5, 7, 2, 3, 2, {2, 1, 1}, true},
      {"padding 2, no bias", 1, 2, 3, 4, 2, 2, 3, {1, 2, 1}, false},
      {"groups 2, c_in 4", 2, 4, 5, 6, 6, 3, 3, {1, 1, 2}, true},
      {"depthwise", 2, 3, 5, 7, 3, 3, 3, {1, 1, 3}, true},
      {"depthwise, stride 2, 2x3 kernel", 2, 3, 6, 7, 3, 2, 3, {2, 1, 3}, false},
      {"depthwise, no padding, 3x2 kernel", 2, 4, 5, 6, 4, 3, 2, {1, 0, 4}, true},
      {"depthwise multiplier 2", 1, 2, 4, 5, 4, 3, 3, {1, 1, 2}, true},
  };
  return cases;
}

} // namespace

TEST_CASE("conv2d matches a direct convolution", "[autograd][conv]") {
  a2q::Rng rng(101);
  std::vector<ConvCase> cases = gradcheck_cases();
  cases.push_back({"larger, stride 2, padding 2", 3, 8, 11, 9, 12, 5, 3, {2, 2, 1}, true});
  cases.push_back({"larger grouped", 3, 8, 9, 10, 12, 3, 3, {1, 1, 4}, true});
  cases.push_back({"larger depthwise, padding 2", 3, 8, 9, 10, 8, 5, 5, {1, 2, 8}, true});
  cases.push_back({"kernel covers the image", 2, 3, 3, 4, 5, 3, 4, {1, 0, 1}, true});
  for (const ConvCase& c : cases) {
    INFO(c.name);
    const Tensor<float> x = uniform(Shape{c.n, c.c_in, c.h, c.w}, rng);
    const Tensor<float> w = uniform(weight_shape(c), rng);
    const Tensor<float> b = uniform(Shape{c.c_out}, rng);
    const Var y = a2q::conv2d(Var(x), Var(w), c.bias ? Var(b) : Var(), c.opt);
    require_close(y.value(), reference_conv(x, w, c.bias ? &b : nullptr, c.opt), 1e-5f);
  }
}

// Every kernel choice: the direct loops (one input channel per output: depthwise with 3x3 and other
// kernels and strides, a channel multiplier, a one-channel first layer with 3x3 or 5x5 kernels), and the
// GEMM or oneDNN path, on images wide enough for whole vectors and their remainders.
TEST_CASE("conv2d's gradients match sums over every output", "[autograd][conv]") {
  const BackendRestorer restore;
  a2q::Rng rng(108);
  const std::vector<ConvCase> cases = {
      {"one input channel, 3x3, 16 outputs", 3, 1, 28, 27, 16, 3, 3, {1, 1, 1}, true},
      {"one input channel, 3x3, 6 outputs (four together, two alone)", 2, 1, 9, 11, 6, 3, 3, {1, 1, 1}, true},
      {"one input channel, 5x5", 2, 1, 14, 13, 8, 5, 5, {1, 2, 1}, true},
      {"one input channel, stride 2", 2, 1, 15, 16, 4, 3, 3, {2, 1, 1}, false},
      {"depthwise 3x3", 3, 16, 14, 14, 16, 3, 3, {1, 1, 16}, true},
      {"depthwise 5x5", 2, 8, 13, 12, 8, 5, 5, {1, 2, 8}, false},
      {"depthwise 3x3, stride 2", 2, 8, 14, 15, 8, 3, 3, {2, 1, 8}, true},
      {"depthwise 3x3, padding 3 (> kernel - 1)", 2, 4, 6, 7, 4, 3, 3, {1, 3, 4}, true},
      {"channel multiplier 3", 2, 4, 12, 11, 12, 3, 3, {1, 1, 4}, true},
      {"channel multiplier 5", 2, 2, 10, 9, 10, 3, 3, {1, 1, 2}, true},
      {"ungrouped", 2, 16, 10, 9, 8, 3, 3, {1, 1, 1}, true},
  };
  std::vector<a2q::FloatBackend> backends{a2q::FloatBackend::eigen};
  if constexpr (a2q::onednn_available)
    backends.push_back(a2q::FloatBackend::onednn);
  for (const ConvCase& c : cases)
    for (const a2q::FloatBackend backend : backends) {
      INFO(c.name << (backend == a2q::FloatBackend::eigen ? " (Eigen)" : " (oneDNN)"));
      a2q::set_float_backend(backend);
      const Tensor<float> xt = uniform(Shape{c.n, c.c_in, c.h, c.w}, rng);
      const Tensor<float> wt = uniform(weight_shape(c), rng);
      const Tensor<float> bt = uniform(Shape{c.c_out}, rng);
      const Var x(xt, true), w(wt, true), b(bt, true);
      const Var y = a2q::conv2d(x, w, c.bias ? b : Var(), c.opt);
      require_close(y.value(), reference_conv(xt, wt, c.bias ? &bt : nullptr, c.opt), 1e-5f);
      const Tensor<float> dy = uniform(y.shape(), rng);
      y.backward(dy);
      const auto [dx, dw] = reference_conv_grads(xt, wt, dy, c.opt);
      require_close(x.grad(), dx, 1e-5f);
      require_close(w.grad(), dw, 1e-4f); // sums of up to 2268 float products
      if (c.bias) {
        Tensor<float> db(Shape{c.c_out});
        for (std::int64_t i = 0; i < dy.numel(); ++i)
          db[i / (dy.dim(2) * dy.dim(3)) % c.c_out] += dy[i];
        require_close(b.grad(), db, 1e-4f);
      }
    }
}

TEST_CASE("conv2d passes the gradient check", "[autograd][conv]") {
  a2q::Rng rng(102);
  for (const ConvCase& c : gradcheck_cases()) {
    INFO(c.name);
    const Var x(uniform(Shape{c.n, c.c_in, c.h, c.w}, rng), true);
    const Var w(uniform(weight_shape(c), rng), true);
    const Var b = c.bias ? Var(uniform(Shape{c.c_out}, rng), true) : Var();
    const Conv2dOptions opt = c.opt;
    // Probe the output with a fixed random projection so that every output element matters.
    const Var probe = a2q::conv2d(x, w, b, opt);
    const Var r(uniform(probe.shape(), rng));
    auto f = [&](const std::vector<Var>& v) {
      return a2q::sum(a2q::mul(a2q::conv2d(v[0], v[1], c.bias ? v[2] : Var(), opt), r));
    };
    std::vector<Var> inputs{x, w};
    if (c.bias)
      inputs.push_back(b);
    const auto result = a2q::gradcheck(f, inputs);
    INFO(result.worst);
    REQUIRE(result.ok);
  }
}

TEST_CASE("conv2d computes only the gradients that are needed", "[autograd][conv]") {
  a2q::Rng rng(103);
  for (const ConvCase& c : gradcheck_cases()) {
    INFO(c.name);
    const Tensor<float> xt = uniform(Shape{c.n, c.c_in, c.h, c.w}, rng);
    const Tensor<float> wt = uniform(weight_shape(c), rng);
    const Tensor<float> bt = uniform(Shape{c.c_out}, rng);
    // All three gradients at once, as the reference.
    const Var x(xt, true), w(wt, true), b(bt, true);
    const Var y = a2q::conv2d(x, w, b, c.opt);
    const Var r(uniform(y.shape(), rng));
    a2q::sum(a2q::mul(y, r)).backward();

    // A first layer: the input needs no gradient.
    const Var w1(wt, true), b1(bt, true);
    a2q::sum(a2q::mul(a2q::conv2d(Var(xt), w1, b1, c.opt), r)).backward();
    require_close(w1.grad(), w.grad(), 1e-6f);
    require_close(b1.grad(), b.grad(), 1e-6f);

    // Frozen weights and bias: only the input gradient.
    const Var x2(xt, true), w2(wt), b2(bt);
    a2q::sum(a2q::mul(a2q::conv2d(x2, w2, b2, c.opt), r)).backward();
    require_close(x2.grad(), x.grad(), 1e-6f);
    CHECK_FALSE(w2.has_grad());
    CHECK_FALSE(b2.has_grad());
  }
}

TEST_CASE("conv2d is deterministic and does not record a graph without gradients", "[autograd][conv]") {
  a2q::Rng rng(104);
  const Var x(uniform(Shape{5, 4, 6, 6}, rng), true), w(uniform(Shape{6, 4, 3, 3}, rng), true);
  const Var r(uniform(Shape{5, 6, 6, 6}, rng));
  const Conv2dOptions opt{1, 1, 1};
  a2q::sum(a2q::mul(a2q::conv2d(x, w, Var(), opt), r)).backward();
  const Tensor<float> dx = x.grad(), dw = w.grad();
  Var x2(x.value(), true), w2(w.value(), true);
  a2q::sum(a2q::mul(a2q::conv2d(x2, w2, Var(), opt), r)).backward();
  CHECK(x2.grad() == dx);
  CHECK(w2.grad() == dw);

  a2q::NoGradGuard no_grad;
  const Var y = a2q::conv2d(x, w, Var(), opt);
  CHECK_FALSE(y.requires_grad());
  CHECK(std::string(y.op()) == "leaf");
}

TEST_CASE("conv2d handles an empty batch", "[autograd][conv]") {
  a2q::Rng rng(105);
  const Var x(Tensor<float>(Shape{0, 2, 5, 5}), true);
  const Var w(uniform(Shape{3, 2, 3, 3}, rng), true);
  const Var y = a2q::conv2d(x, w, Var(), {2, 1, 1});
  CHECK(y.shape() == Shape{0, 3, 3, 3});
}

TEST_CASE("conv2d rejects arguments that do not fit", "[autograd][conv]") {
  a2q::Rng rng(106);
  const Var x(uniform(Shape{2, 4, 5, 5}, rng));
  const Var w(uniform(Shape{6, 4, 3, 3}, rng));
  // Wrong channel count.
  CHECK_THROWS_AS(a2q::conv2d(x, Var(uniform(Shape{6, 3, 3, 3}, rng)), Var()), a2q::shape_error);
  CHECK_THROWS_WITH(a2q::conv2d(x, Var(uniform(Shape{6, 3, 3, 3}, rng)), Var()),
                    Catch::Contains("[2, 4, 5, 5]") && Catch::Contains("[6, 3, 3, 3]"));
  // Groups not dividing the input or output channels, or mismatching the weight.
  CHECK_THROWS_AS(a2q::conv2d(x, Var(uniform(Shape{6, 1, 3, 3}, rng)), Var(), {1, 0, 3}), a2q::config_error);
  CHECK_THROWS_AS(a2q::conv2d(x, Var(uniform(Shape{5, 2, 3, 3}, rng)), Var(), {1, 0, 2}), a2q::config_error);
  CHECK_THROWS_AS(a2q::conv2d(x, w, Var(), {1, 0, 2}), a2q::shape_error);
  // Bad options.
  CHECK_THROWS_AS(a2q::conv2d(x, w, Var(), {0, 0, 1}), a2q::config_error);
  CHECK_THROWS_AS(a2q::conv2d(x, w, Var(), {1, -1, 1}), a2q::config_error);
  CHECK_THROWS_AS(a2q::conv2d(x, w, Var(), {1, 0, 0}), a2q::config_error);
  // Ranks, bias, and a kernel larger than the padded image.
  CHECK_THROWS_AS(a2q::conv2d(Var(uniform(Shape{4, 5, 5}, rng)), w, Var()), a2q::shape_error);
  CHECK_THROWS_AS(a2q::conv2d(x, Var(uniform(Shape{6, 36}, rng)), Var()), a2q::shape_error);
  CHECK_THROWS_AS(a2q::conv2d(x, w, Var(uniform(Shape{5}, rng))), a2q::shape_error);
  CHECK_THROWS_AS(a2q::conv2d(x, Var(uniform(Shape{6, 4, 7, 3}, rng)), Var()), a2q::shape_error);
  CHECK_NOTHROW(a2q::conv2d(x, Var(uniform(Shape{6, 4, 7, 3}, rng)), Var(), {1, 1, 1}));
}

#ifdef _OPENMP
TEST_CASE("conv2d gives the same results on one and several threads", "[autograd][conv][threads]") {
  const int saved = a2q::num_threads();
  a2q::Rng rng(107);
  // Large enough for three chunks of work on three threads; groups 8 is depthwise.
  for (const Conv2dOptions& opt : {Conv2dOptions{1, 1, 1}, Conv2dOptions{2, 0, 2}, Conv2dOptions{1, 1, 8}}) {
    INFO("stride " << opt.stride << ", padding " << opt.padding << ", groups " << opt.groups);
    const Tensor<float> xt = uniform(Shape{8, 8, 24, 23}, rng);
    const Tensor<float> wt = uniform(Shape{8, 8 / opt.groups, 3, 3}, rng);
    const Tensor<float> bt = uniform(Shape{8}, rng);
    Tensor<float> r;
    std::vector<Tensor<float>> results[2];
    for (int threads : {1, 3}) {
      a2q::set_num_threads(threads);
      const Var x(xt, true), w(wt, true), b(bt, true);
      const Var y = a2q::conv2d(x, w, b, opt);
      if (r.numel() != y.value().numel())
        r = uniform(y.shape(), rng);
      a2q::sum(a2q::mul(y, Var(r))).backward();
      results[threads == 1 ? 0 : 1] = {y.value(), x.grad(), w.grad(), b.grad()};
    }
    a2q::set_num_threads(saved);
    for (std::size_t i = 0; i < results[0].size(); ++i)
      if (i == 2) // the weight gradient's sums are split at other points
        require_close_to_scale(results[1][i], results[0][i], 1e-5f);
      else
        require_close(results[1][i], results[0][i], 1e-5f);
  }
}
#endif

TEST_CASE("conv2d gives the same values and gradients on every backend", "[autograd][conv][onednn]") {
  const BackendRestorer restore;
  const WinogradSetting gemm_only(WinogradMode::off); // the 3x3 layers would run as Winograd on both
  if constexpr (!a2q::onednn_available) {
    // The negative control: a build without oneDNN refuses to select it.
    CHECK_THROWS_AS(a2q::set_float_backend(a2q::FloatBackend::onednn), a2q::config_error);
    CHECK(a2q::float_backend() == a2q::FloatBackend::eigen);
    return;
  }
  a2q::Rng rng(105);
  std::vector<ConvCase> cases = gradcheck_cases();
  cases.push_back({"the example CNN's first layer", 5, 1, 28, 28, 16, 3, 3, {1, 1, 1}, true});
  cases.push_back({"the example CNN's second layer", 4, 16, 14, 14, 32, 3, 3, {1, 1, 1}, true});
  cases.push_back({"ResNet shortcut, 1x1 stride 2", 3, 16, 8, 8, 32, 1, 1, {2, 0, 1}, false});
  cases.push_back({"odd image, stride 2, padding 2", 3, 8, 11, 9, 12, 5, 3, {2, 2, 1}, true});
  for (const ConvCase& c : cases) {
    INFO(c.name);
    const Tensor<float> xt = uniform(Shape{c.n, c.c_in, c.h, c.w}, rng);
    const Tensor<float> wt = uniform(weight_shape(c), rng);
    const Tensor<float> bt = uniform(Shape{c.c_out}, rng);
    Tensor<float> r;
    std::vector<Tensor<float>> results[2];
    for (const a2q::FloatBackend backend : {a2q::FloatBackend::eigen, a2q::FloatBackend::onednn}) {
      a2q::set_float_backend(backend);
      REQUIRE(a2q::float_backend() == backend);
      const Var x(xt, true), w(wt, true), b(bt, true);
      const Var y = a2q::conv2d(x, w, c.bias ? b : Var(), c.opt);
      require_close(y.value(), reference_conv(xt, wt, c.bias ? &bt : nullptr, c.opt), 1e-5f);
      if (r.numel() != y.value().numel())
        r = uniform(y.shape(), rng);
      a2q::sum(a2q::mul(y, Var(r))).backward();
      results[backend == a2q::FloatBackend::eigen ? 0 : 1] = {y.value(), x.grad(), w.grad()};
      if (c.bias)
        results[backend == a2q::FloatBackend::eigen ? 0 : 1].push_back(b.grad());
    }
    // The weight gradient sums N * positions products (3920 in the first layer) in another order.
    for (std::size_t i = 0; i < results[0].size(); ++i)
      require_close(results[1][i], results[0][i], 1e-4f);
  }
}

TEST_CASE("conv2d's Winograd kernels match a direct convolution and its gradients",
          "[autograd][conv][winograd]") {
  const WinogradSetting on(WinogradMode::always);
  a2q::Rng rng(108);
  for (const ConvCase& c : winograd_cases()) {
    INFO(c.name);
    const Tensor<float> xt = uniform(Shape{c.n, c.c_in, c.h, c.w}, rng);
    const Tensor<float> wt = uniform(weight_shape(c), rng);
    const Tensor<float> bt = uniform(Shape{c.c_out}, rng);
    REQUIRE(a2q::detail::winograd_pays(a2q::detail::conv2d_plan(xt.shape(), wt.shape(), c.opt)));
    const Var x(xt, true), w(wt, true), b(bt, true);
    const Var y = a2q::conv2d(x, w, c.bias ? b : Var(), c.opt);
    require_close(y.value(), reference_conv(xt, wt, c.bias ? &bt : nullptr, c.opt), 1e-5f);
    const Tensor<float> dy = uniform(y.shape(), rng);
    a2q::sum(a2q::mul(y, Var(dy))).backward();
    const auto [dx, dw] = reference_conv_grads(xt, wt, dy, c.opt);
    require_close(x.grad(), dx, 1e-5f);
    require_close_to_scale(w.grad(), dw, 1e-5f);
    if (c.bias)
      require_close(b.grad(), reference_bias_grad(dy), 1e-5f);
  }
}

TEST_CASE("conv2d's Winograd kernels pass the gradient check", "[autograd][conv][winograd]") {
  const WinogradSetting on(WinogradMode::always);
  a2q::Rng rng(109);
  const Var x(uniform(Shape{2, 8, 5, 7}, rng), true), w(uniform(Shape{9, 8, 3, 3}, rng), true);
  const Var b(uniform(Shape{9}, rng), true);
  const Conv2dOptions opt{1, 1, 1};
  const Var r(uniform(a2q::conv2d(x, w, b, opt).shape(), rng));
  auto f = [&](const std::vector<Var>& v) {
    return a2q::sum(a2q::mul(a2q::conv2d(v[0], v[1], v[2], opt), r));
  };
  const auto result = a2q::gradcheck(f, {x, w, b});
  INFO(result.worst);
  REQUIRE(result.ok);
}

TEST_CASE("Winograd blocks that end inside an image or span several give the same results",
          "[autograd][conv][winograd]") {
  a2q::Rng rng(110);
  // 7x9 images: 4 rows of 5 tiles. A budget of one tile row per block, and of three (blocks that end inside
  // an image and blocks that span two), against the default (the whole batch in one block).
  const Tensor<float> xt = uniform(Shape{3, 8, 7, 9}, rng);
  const Tensor<float> wt = uniform(Shape{11, 8, 3, 3}, rng);
  const Tensor<float> bt = uniform(Shape{11}, rng);
  const Conv2dOptions opt{1, 1, 1};
  const a2q::detail::Conv2dPlan plan = a2q::detail::conv2d_plan(xt.shape(), wt.shape(), opt);
  const Tensor<float> dy = uniform(plan.output_shape(), rng);
  const Tensor<float> y_ref = reference_conv(xt, wt, &bt, opt);
  const auto [dx_ref, dw_ref] = reference_conv_grads(xt, wt, dy, opt);
  const std::int64_t bytes_per_tile = 4 * a2q::detail::winograd_points * (8 + 11);
  const int saved = a2q::num_threads();
  for (const std::int64_t tiles : {std::int64_t{1}, std::int64_t{15}, std::int64_t{1000}}) {
    for (const int threads : {1, 3}) {
      INFO(tiles << " tiles per block, " << threads << " threads");
      a2q::set_num_threads(threads);
      const a2q::detail::WinogradTiling tiling(3, 8, 7, 9, 11, 7, 9, 1, 1, tiles * bytes_per_tile);
      CHECK(tiling.block_rows == std::min<std::int64_t>(std::max<std::int64_t>(tiles / 5, 1), 12));
      Tensor<float> y(plan.output_shape()), dx(xt.shape()), dw(wt.shape());
      a2q::detail::winograd_conv2d_forward(plan, xt.data(), wt.data(), bt.data(), y.data(),
                                           tiles * bytes_per_tile);
      a2q::detail::winograd_conv2d_backward(plan, xt.data(), wt.data(), dy.data(), dx.data(), dw.data(),
                                            tiles * bytes_per_tile);
      // Each gradient alone, as for a first layer or frozen weights.
      Tensor<float> dx_alone(xt.shape()), dw_alone(wt.shape());
      a2q::detail::winograd_conv2d_backward(plan, xt.data(), wt.data(), dy.data(), dx_alone.data(), nullptr,
                                            tiles * bytes_per_tile);
      a2q::detail::winograd_conv2d_backward(plan, xt.data(), wt.data(), dy.data(), nullptr, dw_alone.data(),
                                            tiles * bytes_per_tile);
      CHECK(dx_alone == dx);
      CHECK(dw_alone == dw);
      require_close(y, y_ref, 1e-5f);
      require_close(dx, dx_ref, 1e-5f);
      require_close_to_scale(dw, dw_ref, 1e-5f);
    }
  }
  a2q::set_num_threads(saved);
}

TEST_CASE("Winograd's scratch, kept between calls, carries nothing from one call to the next",
          "[autograd][conv][winograd]") {
  a2q::Rng rng(113);
  // 7x9 images (4 rows of 5 tiles), 3 tile rows per block: the last block of the 12 rows of 3 images is
  // full, that of the 8 rows of 2 images is not, so the first call's blocks write lanes that the second's
  // last block leaves alone. Both calls have the same layout, so the second reuses the first's buffers.
  const std::int64_t budget = 15 * 4 * a2q::detail::winograd_points * (8 + 11);
  const Conv2dOptions opt{1, 1, 1};
  const Tensor<float> wt = uniform(Shape{11, 8, 3, 3}, rng);
  const Tensor<float> bt = uniform(Shape{11}, rng);
  for (const float poison :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    INFO("first call's data all " << poison);
    const Tensor<float> x_bad(Shape{3, 8, 7, 9}, poison);
    const a2q::detail::Conv2dPlan bad = a2q::detail::conv2d_plan(x_bad.shape(), wt.shape(), opt);
    const Tensor<float> dy_bad(bad.output_shape(), poison);
    Tensor<float> y(bad.output_shape()), dx(x_bad.shape()), dw(wt.shape());
    a2q::detail::winograd_conv2d_forward(bad, x_bad.data(), wt.data(), bt.data(), y.data(), budget);
    a2q::detail::winograd_conv2d_backward(bad, x_bad.data(), wt.data(), dy_bad.data(), dx.data(), dw.data(),
                                          budget);
    CHECK(std::isnan(dw[0])); // the poison went through
    const Tensor<float> xt = uniform(Shape{2, 8, 7, 9}, rng);
    const a2q::detail::Conv2dPlan plan = a2q::detail::conv2d_plan(xt.shape(), wt.shape(), opt);
    REQUIRE(a2q::detail::WinogradTiling(2, 8, 7, 9, 11, 7, 9, 1, 1, budget).block_rows ==
            a2q::detail::WinogradTiling(3, 8, 7, 9, 11, 7, 9, 1, 1, budget).block_rows);
    const Tensor<float> dy = uniform(plan.output_shape(), rng);
    Tensor<float> y2(plan.output_shape()), dx2(xt.shape()), dw2(wt.shape());
    a2q::detail::winograd_conv2d_forward(plan, xt.data(), wt.data(), bt.data(), y2.data(), budget);
    a2q::detail::winograd_conv2d_backward(plan, xt.data(), wt.data(), dy.data(), dx2.data(), dw2.data(),
                                          budget);
    const auto [dx_ref, dw_ref] = reference_conv_grads(xt, wt, dy, opt);
    require_close(y2, reference_conv(xt, wt, &bt, opt), 1e-5f);
    require_close(dx2, dx_ref, 1e-5f);
    require_close_to_scale(dw2, dw_ref, 1e-5f);
  }
}

TEST_CASE("A2Q_WINOGRAD's switch chooses between the Winograd and the GEMM kernels",
          "[autograd][conv][winograd]") {
  a2q::Rng rng(111);
  const BackendRestorer restore;
  const Tensor<float> xt = uniform(Shape{2, 16, 14, 14}, rng);
  const Tensor<float> wt = uniform(Shape{32, 16, 3, 3}, rng);
  const a2q::detail::Conv2dPlan plan = a2q::detail::conv2d_plan(xt.shape(), wt.shape(), {1, 1, 1});
  Tensor<float> results[2];
  for (const WinogradMode mode : {WinogradMode::off, WinogradMode::always}) {
    const WinogradSetting setting(mode);
    CHECK(a2q::detail::winograd_pays(plan) == (mode == WinogradMode::always));
    results[mode == WinogradMode::always ? 1 : 0] = a2q::conv2d(Var(xt), Var(wt), Var(), {1, 1, 1}).value();
  }
  // Both are right, and they differ in rounding: the switch really changes the kernel.
  require_close(results[1], results[0], 1e-5f);
  CHECK_FALSE(results[1] == results[0]);
  {
    // Automatic: Winograd unless a build without AVX2 would compete with oneDNN's run-time kernels.
    const WinogradSetting automatic(WinogradMode::automatic);
    a2q::set_float_backend(a2q::FloatBackend::eigen);
    CHECK(a2q::detail::winograd_pays(plan));
    if constexpr (a2q::onednn_available) {
      a2q::set_float_backend(a2q::FloatBackend::onednn);
      CHECK(a2q::detail::winograd_pays(plan) == a2q::detail::winograd_vectorised);
    }
  }
  // Only 3x3 kernels with stride 1, no groups, padding <= 2 and enough channels qualify.
  const WinogradSetting on(WinogradMode::always);
  CHECK_FALSE(a2q::detail::winograd_pays(a2q::detail::conv2d_plan(xt.shape(), wt.shape(), {2, 1, 1})));
  CHECK_FALSE(
      a2q::detail::winograd_pays(a2q::detail::conv2d_plan(xt.shape(), Shape{32, 8, 3, 3}, {1, 1, 2})));
  CHECK_FALSE(
      a2q::detail::winograd_pays(a2q::detail::conv2d_plan(xt.shape(), Shape{32, 16, 5, 5}, {1, 2, 1})));
  CHECK_FALSE(a2q::detail::winograd_pays(
      a2q::detail::conv2d_plan(Shape{2, 4, 14, 14}, Shape{32, 4, 3, 3}, {1, 1, 1})));
  CHECK_FALSE(a2q::detail::winograd_pays(a2q::detail::conv2d_plan(xt.shape(), wt.shape(), {1, 3, 1})));
}

TEST_CASE("A2Q_WINOGRAD takes 0, 1 or nothing", "[autograd][conv][winograd]") {
  const char* saved = std::getenv("A2Q_WINOGRAD");
  const std::string restore = saved != nullptr ? saved : "";
  const auto mode_for = [](const char* value) {
    ::setenv("A2Q_WINOGRAD", value, 1);
    return a2q::detail::winograd_mode_from_environment();
  };
  CHECK(mode_for("0") == WinogradMode::off);
  CHECK(mode_for("1") == WinogradMode::always);
  CHECK(mode_for("") == WinogradMode::automatic);
  CHECK_THROWS_WITH(mode_for("yes"), Catch::Contains("A2Q_WINOGRAD") && Catch::Contains("'yes'"));
  ::unsetenv("A2Q_WINOGRAD");
  CHECK(a2q::detail::winograd_mode_from_environment() == WinogradMode::automatic);
  if (saved != nullptr)
    ::setenv("A2Q_WINOGRAD", restore.c_str(), 1);
}
