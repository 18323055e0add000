#include "a2q/autograd/pool.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/gradcheck.hpp"

#include "close.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;

using a2q_test::require_close;

namespace {

struct PoolCase {
  std::int64_t n, c, h, w;
  int kernel, stride, padding;
};

const std::vector<PoolCase>& pool_cases() {
  static const std::vector<PoolCase> cases = {
      {1, 1, 4, 4, 2, 2, 0},   {2, 3, 5, 7, 2, 2, 0},  {2, 2, 5, 7, 3, 2, 1},
      {1, 2, 6, 5, 3, 1, 1},   {2, 1, 7, 6, 3, 3, 0},  {1, 2, 4, 6, 4, 2, 2},
      {3, 4, 12, 11, 2, 2, 0}, {2, 3, 11, 9, 3, 2, 1}, {2, 2, 9, 8, 2, 1, 1},
  };
  return cases;
}

/// Values of each [H, W] plane distinct and at least 0.05 apart, in random order: no ties in a window, and a
/// finite-difference step of 0.01 never changes which element of a window is the maximum. Each plane has its
/// own permutation, so that values stay within +-0.025 * H * W: with one permutation over the whole tensor
/// (up to +-20 here) the probe's float sum was too coarse for its finite differences, and a release build's
/// summation order failed the gradient check by 0.002.
Tensor<float> distinct_values(const Shape& shape, a2q::Rng& rng) {
  Tensor<float> t = Tensor<float>::uninitialized(shape);
  const std::int64_t plane = shape[2] * shape[3];
  for (std::int64_t first = 0; first < t.numel(); first += plane) {
    const std::vector<std::int64_t> order = rng.permutation(plane);
    for (std::int64_t i = 0; i < plane; ++i)
      t[first + i] = 0.05f * static_cast<float>(order[static_cast<std::size_t>(i)] - plane / 2);
  }
  return t;
}

/// Naive pooling: max (padding never wins) or average over each window, straight from the definition.
Tensor<float> reference_pool(const Tensor<float>& x, const PoolCase& p, bool max, bool count_include_pad) {
  const std::int64_t oh_n = (p.h + 2 * p.padding - p.kernel) / p.stride + 1;
  const std::int64_t ow_n = (p.w + 2 * p.padding - p.kernel) / p.stride + 1;
  Tensor<float> y(Shape{p.n, p.c, oh_n, ow_n});
  for (std::int64_t n = 0; n < p.n; ++n)
    for (std::int64_t c = 0; c < p.c; ++c)
      for (std::int64_t oh = 0; oh < oh_n; ++oh)
        for (std::int64_t ow = 0; ow < ow_n; ++ow) {
          double best = -std::numeric_limits<double>::infinity(), total = 0.0;
          int inside = 0;
          for (int i = 0; i < p.kernel; ++i)
            for (int j = 0; j < p.kernel; ++j) {
              const std::int64_t ih = oh * p.stride - p.padding + i, iw = ow * p.stride - p.padding + j;
              if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w)
                continue;
              best = std::max(best, double{x(n, c, ih, iw)});
              total += x(n, c, ih, iw);
              ++inside;
            }
          const double divisor = count_include_pad ? p.kernel * p.kernel : inside;
          y(n, c, oh, ow) = static_cast<float>(max ? best : total / divisor);
        }
  return y;
}

/// Gradient of naive max pooling: dy of each output goes to the first maximum of its window.
Tensor<float> reference_max_pool_grad(const Tensor<float>& x, const Tensor<float>& dy, const PoolCase& p) {
  Tensor<float> dx(x.shape());
  for (std::int64_t n = 0; n < p.n; ++n)
    for (std::int64_t c = 0; c < p.c; ++c)
      for (std::int64_t oh = 0; oh < dy.dim(2); ++oh)
        for (std::int64_t ow = 0; ow < dy.dim(3); ++ow) {
          std::int64_t bh = -1, bw = -1;
          for (int i = 0; i < p.kernel; ++i)
            for (int j = 0; j < p.kernel; ++j) {
              const std::int64_t ih = oh * p.stride - p.padding + i, iw = ow * p.stride - p.padding + j;
              if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w)
                continue;
              if (bh < 0 || x(n, c, ih, iw) > x(n, c, bh, bw)) {
                bh = ih;
                bw = iw;
              }
            }
          dx(n, c, bh, bw) += dy(n, c, oh, ow);
        }
  return dx;
}

void require_gradcheck(const std::function<Var(const Var&)>& op, const Var& x, a2q::Rng& rng) {
  const Var r(Tensor<float>::uniform(op(x).shape(), -1.0f, 1.0f, rng));
  const auto result =
      a2q::gradcheck([&](const std::vector<Var>& v) { return a2q::sum(a2q::mul(op(v[0]), r)); }, {x});
  INFO(result.worst);
  REQUIRE(result.ok);
}

} // namespace

TEST_CASE("pooling matches naive pooling", "[autograd][pool]") {
  a2q::Rng rng(301);
  std::vector<PoolCase> cases = pool_cases();
  // Rows of 14, 7 and 15 outputs: whole vectors and the copied or scalar last few of 2x2 pooling.
  cases.push_back({2, 3, 28, 28, 2, 2, 0});
  cases.push_back({2, 3, 14, 14, 2, 2, 0});
  cases.push_back({1, 2, 6, 31, 2, 2, 0});
  // Large enough for the multithreaded loops.
  cases.push_back({4, 8, 32, 33, 2, 2, 0});
  cases.push_back({4, 8, 33, 32, 3, 2, 1});
  for (const PoolCase& p : cases) {
    INFO("image " << p.h << "x" << p.w << ", kernel " << p.kernel << ", stride " << p.stride << ", padding "
                  << p.padding);
    const Var x(Tensor<float>::uniform(Shape{p.n, p.c, p.h, p.w}, -1.0f, 1.0f, rng), true);
    Var pooled = a2q::max_pool2d(x, p.kernel, p.stride, p.padding);
    require_close(pooled.value(), reference_pool(x.value(), p, true, true));
    const Tensor<float> dy = Tensor<float>::uniform(pooled.shape(), -1.0f, 1.0f, rng);
    pooled.backward(dy);
    require_close(x.grad(), reference_max_pool_grad(x.value(), dy, p));
    require_close(a2q::avg_pool2d(x, p.kernel, p.stride, p.padding).value(),
                  reference_pool(x.value(), p, false, true));
    require_close(a2q::avg_pool2d(x, p.kernel, p.stride, p.padding, false).value(),
                  reference_pool(x.value(), p, false, false));
  }
  // The stride defaults to the kernel size.
  const Var x(Tensor<float>::uniform(Shape{2, 3, 6, 7}, -1.0f, 1.0f, rng));
  CHECK(a2q::max_pool2d(x, 3).value() == a2q::max_pool2d(x, 3, 3).value());
  CHECK(a2q::avg_pool2d(x, 2).value() == a2q::avg_pool2d(x, 2, 2).value());
  CHECK(a2q::max_pool2d(x, 3).shape() == Shape{2, 3, 2, 2});
}

TEST_CASE("pooling passes the gradient check", "[autograd][pool]") {
  a2q::Rng rng(302);
  for (const PoolCase& p : pool_cases()) {
    INFO("image " << p.h << "x" << p.w << ", kernel " << p.kernel << ", stride " << p.stride << ", padding "
                  << p.padding);
    const Var x(distinct_values(Shape{p.n, p.c, p.h, p.w}, rng), true);
    require_gradcheck([&](const Var& v) { return a2q::max_pool2d(v, p.kernel, p.stride, p.padding); }, x,
                      rng);
    require_gradcheck([&](const Var& v) { return a2q::avg_pool2d(v, p.kernel, p.stride, p.padding); }, x,
                      rng);
    require_gradcheck([&](const Var& v) { return a2q::avg_pool2d(v, p.kernel, p.stride, p.padding, false); },
                      x, rng);
  }
  const Var x(Tensor<float>::uniform(Shape{2, 3, 5, 7}, -1.0f, 1.0f, rng), true);
  require_gradcheck([](const Var& v) { return a2q::global_avg_pool2d(v); }, x, rng);
}

TEST_CASE("max_pool2d routes the gradient to the first maximum", "[autograd][pool]") {
  // Overlapping windows (kernel 3, stride 1) share the maximum 9: it collects the gradient of each.
  const Var x(Tensor<float>(Shape{1, 1, 3, 4}, {1, 2, 3, 4, 5, 9, 6, 7, 8, 0, 1, 2}), true);
  Var y = a2q::max_pool2d(x, 3, 1);
  CHECK(y.value() == Tensor<float>(Shape{1, 1, 1, 2}, {9, 9}));
  y.backward(Tensor<float>(Shape{1, 1, 1, 2}, {1.0f, 10.0f}));
  CHECK(x.grad() == Tensor<float>(Shape{1, 1, 3, 4}, {0, 0, 0, 0, 0, 11, 0, 0, 0, 0, 0, 0}));

  // Ties: the first element of the window in row-major order.
  const Var flat(Tensor<float>(Shape{1, 1, 2, 4}, 1.0f), true);
  a2q::max_pool2d(flat, 2).backward(Tensor<float>(Shape{1, 1, 1, 2}, {2.0f, 3.0f}));
  CHECK(flat.grad() == Tensor<float>(Shape{1, 1, 2, 4}, {2, 0, 3, 0, 0, 0, 0, 0}));

  // A NaN propagates, like PyTorch, and takes the gradient (the first NaN of the window).
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Var with_nan(Tensor<float>(Shape{1, 1, 2, 2}, {1.0f, nan, 3.0f, nan}), true);
  Var pooled = a2q::max_pool2d(with_nan, 2);
  CHECK(std::isnan(pooled.value()[0]));
  pooled.backward(Tensor<float>(Shape{1, 1, 1, 1}, 5.0f));
  CHECK(with_nan.grad() == Tensor<float>(Shape{1, 1, 2, 2}, {0, 5, 0, 0}));
  // A 3x3 window inside the image.
  const Var inner_nan(Tensor<float>(Shape{1, 1, 3, 3}, {1, 2, 3, 4, nan, 6, nan, 8, 9}), true);
  Var inner = a2q::max_pool2d(inner_nan, 3);
  CHECK(std::isnan(inner.value()[0]));
  inner.backward(Tensor<float>(Shape{1, 1, 1, 1}, 2.0f));
  CHECK(inner_nan.grad() == Tensor<float>(Shape{1, 1, 3, 3}, {0, 0, 0, 0, 2, 0, 0, 0, 0}));
  // The same in windows that reach into the padding (kernel 3, padding 1: every window sees the NaN).
  const Var border_nan(Tensor<float>(Shape{1, 1, 2, 2}, {1.0f, 2.0f, nan, 3.0f}), true);
  Var border = a2q::max_pool2d(border_nan, 3, 1, 1);
  for (float v : border.value())
    CHECK(std::isnan(v));
  border.backward(Tensor<float>(Shape{1, 1, 2, 2}, 1.0f));
  CHECK(border_nan.grad() == Tensor<float>(Shape{1, 1, 2, 2}, {0, 0, 4, 0}));
  // Among the last outputs of a long row, which take their own path.
  Tensor<float> row(Shape{1, 1, 2, 28}, 1.0f);
  row[28 + 25] = nan;
  const Var long_row(row, true);
  Var long_pooled = a2q::max_pool2d(long_row, 2);
  for (std::int64_t i = 0; i < 14; ++i)
    CHECK(std::isnan(long_pooled.value()[i]) == (i == 12));
  long_pooled.backward(Tensor<float>(Shape{1, 1, 1, 14}, 1.0f));
  CHECK(long_row.grad()[28 + 25] == 1.0f);
  CHECK(long_row.grad()[24] == 0.0f);
}

TEST_CASE("max_pool2d never selects padding, even next to -infinity", "[autograd][pool]") {
  const float inf = std::numeric_limits<float>::infinity();
  const Var x(Tensor<float>(Shape{1, 1, 3, 3}, -inf), true);
  Var y = a2q::max_pool2d(x, 3, 2, 1);
  CHECK(y.value() == Tensor<float>(Shape{1, 1, 2, 2}, -inf));
  y.backward(Tensor<float>(Shape{1, 1, 2, 2}, {1.0f, 2.0f, 3.0f, 4.0f}));
  // Each window's first image element: (0, 0), (0, 1), (1, 0) and (1, 1).
  CHECK(x.grad() == Tensor<float>(Shape{1, 1, 3, 3}, {1, 2, 0, 3, 4, 0, 0, 0, 0}));
}

TEST_CASE("avg_pool2d padding semantics", "[autograd][pool]") {
  // A 2x2 image of ones, kernel 3, padding 1, stride 1: every window covers 4 pixels of 9 positions.
  const Var ones(Tensor<float>(Shape{1, 1, 2, 2}, 1.0f));
  CHECK(a2q::avg_pool2d(ones, 3, 1, 1).value() == Tensor<float>(Shape{1, 1, 2, 2}, 4.0f / 9.0f));
  CHECK(a2q::avg_pool2d(ones, 3, 1, 1, false).value() == Tensor<float>(Shape{1, 1, 2, 2}, 1.0f));
}

TEST_CASE("global_avg_pool2d averages each channel", "[autograd][pool]") {
  const Var x(Tensor<float>(Shape{2, 2, 1, 3}, {1, 2, 3, 4, 5, 6, -1, -2, -3, 0, 0, 3}), true);
  Var y = a2q::global_avg_pool2d(x);
  CHECK(y.value() == Tensor<float>(Shape{2, 2}, {2, 5, -2, 1}));
  y.backward(Tensor<float>(Shape{2, 2}, {3, 6, 9, 12}));
  CHECK(x.grad() == Tensor<float>(Shape{2, 2, 1, 3}, {1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4}));
}

TEST_CASE("pooling rejects bad arguments", "[autograd][pool]") {
  const Var x(Tensor<float>(Shape{1, 2, 5, 5}));
  CHECK_THROWS_AS(a2q::max_pool2d(x, 0), a2q::config_error);
  CHECK_THROWS_AS(a2q::max_pool2d(x, 2, 0), a2q::config_error);
  CHECK_THROWS_AS(a2q::max_pool2d(x, 3, 1, 2), a2q::config_error); // padding > kernel / 2
  CHECK_THROWS_AS(a2q::avg_pool2d(x, 2, 2, -1), a2q::config_error);
  CHECK_THROWS_AS(a2q::max_pool2d(x, 6), a2q::shape_error);
  CHECK_THROWS_AS(a2q::avg_pool2d(Var(Tensor<float>(Shape{2, 5, 5})), 2), a2q::shape_error);
  CHECK_THROWS_AS(a2q::global_avg_pool2d(Var(Tensor<float>(Shape{2, 5}))), a2q::shape_error);
  CHECK_THROWS_WITH(a2q::max_pool2d(x, 3, 1, 2), Catch::Contains("padding") && Catch::Contains("2"));
  CHECK_NOTHROW(a2q::max_pool2d(x, 6, 1, 3));
}

TEST_CASE("max_pool2d 2x2 takes the first maximum among ties on short and long rows", "[autograd][pool]") {
  // After ReLU most windows hold several zeros: ties are the common case, and the vector path (16 windows
  // at a time, the last ones masked) must route each gradient where the naive loop does.
  a2q::Rng rng(303);
  for (const std::int64_t width : {2, 6, 28, 32, 34, 35, 64, 70}) {
    const PoolCase p{2, 3, width % 2 == 0 ? 6 : 7, width, 2, 2, 0}; // odd sizes leave a row and a column out
    INFO("width " << width);
    Tensor<float> values = Tensor<float>::uniform(Shape{p.n, p.c, p.h, p.w}, -1.0f, 1.0f, rng);
    for (float& v : values)
      v = std::max(v, 0.0f);
    const Var x(values, true);
    Var pooled = a2q::max_pool2d(x, 2);
    require_close(pooled.value(), reference_pool(values, p, true, true));
    const Tensor<float> dy = Tensor<float>::uniform(pooled.shape(), -1.0f, 1.0f, rng);
    pooled.backward(dy);
    require_close(x.grad(), reference_max_pool_grad(values, dy, p));
  }
}

TEST_CASE("relu_max_pool2d equals ReLU and max pooling in either order, values and gradients",
          "[autograd][pool]") {
  a2q::Rng rng(304);
  std::vector<PoolCase> cases = pool_cases();
  cases.push_back({2, 3, 28, 28, 2, 2, 0});
  cases.push_back({4, 8, 33, 32, 3, 2, 1}); // threaded, with padding
  cases.push_back({4, 8, 31, 33, 2, 2, 0}); // threaded, odd rows and columns outside every window
  for (const PoolCase& p : cases) {
    INFO("image " << p.h << "x" << p.w << ", kernel " << p.kernel << ", stride " << p.stride << ", padding "
                  << p.padding);
    // Few levels, half of them negative: ties, all-negative windows and windows whose maximum is exactly 0.
    Tensor<float> values = Tensor<float>::uniform(Shape{p.n, p.c, p.h, p.w}, -1.0f, 1.0f, rng);
    for (float& v : values)
      v = std::round(v * 3.0f) / 3.0f;
    const Var fused_in(values, true), after_in(values, true), before_in(values, true);
    Var fused = a2q::relu_max_pool2d(fused_in, p.kernel, p.stride, p.padding);
    Var after = a2q::relu(a2q::max_pool2d(after_in, p.kernel, p.stride, p.padding));
    Var before = a2q::max_pool2d(a2q::relu(before_in), p.kernel, p.stride, p.padding);
    CHECK(std::string(fused.op()) == "relu_max_pool2d");
    REQUIRE(fused.value() == after.value());
    REQUIRE(fused.value() == before.value());
    const Tensor<float> dy = Tensor<float>::uniform(fused.shape(), -1.0f, 1.0f, rng);
    fused.backward(dy);
    after.backward(dy);
    before.backward(dy);
    REQUIRE(fused_in.grad() == after_in.grad());
    REQUIRE(fused_in.grad() == before_in.grad());
  }
}

TEST_CASE("relu_max_pool2d passes the gradient check", "[autograd][pool]") {
  a2q::Rng rng(305);
  for (const PoolCase& p : pool_cases()) {
    INFO("image " << p.h << "x" << p.w << ", kernel " << p.kernel << ", stride " << p.stride << ", padding "
                  << p.padding);
    // Distinct values, none within 0.025 of ReLU's kink at 0.
    Tensor<float> values = distinct_values(Shape{p.n, p.c, p.h, p.w}, rng);
    for (float& v : values)
      v += 0.025f;
    const Var x(values, true);
    require_gradcheck([&](const Var& v) { return a2q::relu_max_pool2d(v, p.kernel, p.stride, p.padding); }, x,
                      rng);
  }
}
