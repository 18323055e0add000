#include "a2q/optim/sgd.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/linear.hpp"
#include "a2q/core/rng.hpp"
#include "least_squares.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

/// Deterministic gradient for step k, element i (magnitudes around 1, never exactly 0).
double gradient_at(int k, std::int64_t i) {
  return std::sin(0.7 * static_cast<double>(i) + 1.3 * k + 0.2) * (1.0 + 0.1 * k) + 0.05;
}

/// torch.optim.SGD written out element by element in double precision.
struct ReferenceSGD {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;
  std::vector<double> buffer;
  bool has_buffer = false;

  void step(std::vector<double>& p, const std::vector<double>& g) {
    if (buffer.empty())
      buffer.assign(p.size(), 0.0);
    for (std::size_t i = 0; i < p.size(); ++i) {
      double d = g[i] + weight_decay * p[i];
      if (momentum != 0.0) {
        buffer[i] = has_buffer ? momentum * buffer[i] + (1.0 - dampening) * d : d;
        d = nesterov ? d + momentum * buffer[i] : buffer[i];
      }
      p[i] -= lr * d;
    }
    has_buffer = true;
  }
};

struct SGDCase {
  double momentum;
  double dampening;
  bool nesterov;
  double weight_decay;
};

} // namespace

TEST_CASE("SGD matches the PyTorch formulas step by step", "[optim][sgd]") {
  const SGDCase c = GENERATE(values<SGDCase>({{0.0, 0.0, false, 0.0},
                                              {0.0, 0.0, false, 0.1},
                                              {0.9, 0.0, false, 0.0},
                                              {0.9, 0.3, false, 0.05},
                                              {0.8, 0.0, true, 0.0},
                                              {0.9, 0.0, true, 0.01}}));
  CAPTURE(c.momentum, c.dampening, c.nesterov, c.weight_decay);
  const double lr = 0.05;

  a2q::Var w(a2q::Tensor<float>(a2q::Shape{2, 3}, {0.5f, -1.0f, 0.25f, 2.0f, -0.75f, 1.5f}), true);
  a2q::SGD sgd({a2q::ParamGroup{{w}, c.weight_decay}},
               a2q::SGDOptions{lr, c.momentum, c.nesterov, c.dampening});
  ReferenceSGD ref{lr, c.momentum, c.dampening, c.weight_decay, c.nesterov, {}};
  std::vector<double> p(w.value().begin(), w.value().end());

  for (int k = 0; k < 8; ++k) {
    a2q::Tensor<float> g(w.shape());
    std::vector<double> gd(static_cast<std::size_t>(g.numel()));
    for (std::int64_t i = 0; i < g.numel(); ++i) {
      gd[static_cast<std::size_t>(i)] = static_cast<double>(static_cast<float>(gradient_at(k, i)));
      g[i] = static_cast<float>(gradient_at(k, i));
    }
    w.grad() = g;
    sgd.step();
    ref.step(p, gd);
    for (std::int64_t i = 0; i < g.numel(); ++i)
      REQUIRE_THAT(w.value()[i], WithinAbs(p[static_cast<std::size_t>(i)], 1e-6) ||
                                     WithinRel(p[static_cast<std::size_t>(i)], 1e-6));
  }
}

TEST_CASE("SGD's momentum buffer starts as the first gradient", "[optim][sgd]") {
  a2q::Var w(a2q::Tensor<float>(a2q::Shape{2}, {1.0f, 2.0f}), true);
  a2q::SGD sgd(std::vector<a2q::Var>{w}, a2q::SGDOptions{0.1, 0.9, false, 0.5});
  w.grad() = a2q::Tensor<float>(a2q::Shape{2}, {1.0f, -2.0f});
  sgd.step();
  // No dampening and no momentum on the first step: buf = g.
  CHECK_THAT(w.value()[0], WithinRel(0.9f, 1e-6f));
  CHECK_THAT(w.value()[1], WithinRel(2.2f, 1e-6f));
  const a2q::OptimizerState st = sgd.state();
  REQUIRE(st.size() == 3);
  CHECK(st[2].first == "group0.param0.momentum_buffer");
  CHECK(st[2].second == a2q::Tensor<float>(a2q::Shape{2}, {1.0f, -2.0f}));
  w.grad() = a2q::Tensor<float>(a2q::Shape{2}, {1.0f, 1.0f});
  sgd.step();
  // buf = 0.9 * buf + 0.5 * g
  CHECK(sgd.state()[2].second == a2q::Tensor<float>(a2q::Shape{2}, {1.4f, -1.3f}));
}

TEST_CASE("SGD without momentum keeps no buffer", "[optim][sgd]") {
  a2q::Var w(a2q::Tensor<float>(a2q::Shape{3}, 1.0f), true);
  a2q::SGD sgd(std::vector<a2q::Var>{w}, a2q::SGDOptions{0.5});
  w.grad() = a2q::Tensor<float>(a2q::Shape{3}, 2.0f);
  sgd.step();
  CHECK(w.value() == a2q::Tensor<float>(a2q::Shape{3}, 0.0f));
  const a2q::OptimizerState st = sgd.state();
  REQUIRE(st.size() == 2);
  CHECK(st[0].first == "step");
  CHECK(st[1].first == "group0.param0.step");
  CHECK(st[1].second[0] == 1.0f);
}

TEST_CASE("SGD rejects inconsistent options", "[optim][sgd]") {
  a2q::Var w(a2q::Tensor<float>(a2q::Shape{2}), true);
  auto make = [&](a2q::SGDOptions o) { return a2q::SGD(std::vector<a2q::Var>{w}, o); };
  CHECK_NOTHROW(make({0.1, 0.9, true, 0.0}));
  CHECK_THROWS_AS(make({0.1, 0.0, true, 0.0}), a2q::config_error);
  CHECK_THROWS_WITH(make({0.1, 0.9, true, 0.1}), Contains("nesterov") && Contains("dampening 0.1"));
  CHECK_THROWS_WITH(make({0.1, 1.0}), Contains("momentum") && Contains("1.0"));
  CHECK_THROWS_WITH(make({0.1, -0.5}), Contains("momentum") && Contains("-0.5"));
  CHECK_THROWS_WITH(make({0.1, 0.5, false, 1.5}), Contains("dampening") && Contains("1.5"));
  CHECK_THROWS_WITH(make({-0.1}), Contains("learning rate") && Contains("-0.1"));
  CHECK_THROWS_AS(make({std::nan("")}), a2q::config_error);
}

TEST_CASE("SGD minimises a least-squares problem, with L2 weight decay to the ridge solution",
          "[optim][sgd]") {
  constexpr std::int64_t n = 32, in = 4, out = 3;
  a2q::Rng rng(7);
  const a2q::Tensor<float> x = a2q::Tensor<float>::normal(a2q::Shape{n, in}, 0.0, 1.0, rng);
  const a2q::Tensor<float> w_true = a2q::Tensor<float>::normal(a2q::Shape{out, in}, 0.0, 1.0, rng);
  const a2q::Tensor<float> y = optim_test::affine(x, w_true);
  const a2q::Var xv(x), yv(y);

  const double weight_decay = GENERATE(0.0, 0.1);
  const bool nesterov = GENERATE(false, true);
  CAPTURE(weight_decay, nesterov);

  // Stationary point of mean((x W^T - y)^2) + wd/2 ||W||^2 in double precision.
  const std::vector<double> w_opt =
      optim_test::ridge_solution(x, y, 2.0 / static_cast<double>(n * out), weight_decay);

  a2q::Var w(a2q::Tensor<float>(a2q::Shape{out, in}), true);
  a2q::SGD sgd({a2q::ParamGroup{{w}, weight_decay}}, a2q::SGDOptions{0.5, 0.9, nesterov});
  for (int step = 0; step < 300; ++step) {
    sgd.zero_grad();
    const a2q::Var diff = a2q::sub(a2q::linear(xv, w), yv);
    a2q::mean(a2q::mul(diff, diff)).backward();
    sgd.step();
  }
  for (std::int64_t i = 0; i < w.value().numel(); ++i)
    CHECK_THAT(w.value()[i], WithinAbs(w_opt[static_cast<std::size_t>(i)], 1e-4));
}
