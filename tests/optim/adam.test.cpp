#include "a2q/optim/adam.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/linear.hpp"
#include "a2q/core/rng.hpp"
#include "a2q/optim/schedule.hpp"
#include "least_squares.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

/// Deterministic gradient for step k, element i (magnitudes around 1, never exactly 0).
double gradient_at(int k, std::int64_t i) {
  return std::cos(0.9 * static_cast<double>(i) - 0.8 * k + 0.3) * (1.0 + 0.2 * k) - 0.1;
}

/// The textbook Adam/AdamW update (bias-corrected moments), element by element in double precision.
struct ReferenceAdam {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;
  std::vector<double> m, v;
  int t = 0;

  void step(std::vector<double>& p, const std::vector<double>& g) {
    if (m.empty()) {
      m.assign(p.size(), 0.0);
      v.assign(p.size(), 0.0);
    }
    ++t;
    for (std::size_t i = 0; i < p.size(); ++i) {
      double grad = g[i];
      if (decoupled)
        p[i] -= lr * weight_decay * p[i];
      else
        grad += weight_decay * p[i];
      m[i] = beta1 * m[i] + (1.0 - beta1) * grad;
      v[i] = beta2 * v[i] + (1.0 - beta2) * grad * grad;
      const double m_hat = m[i] / (1.0 - std::pow(beta1, t));
      const double v_hat = v[i] / (1.0 - std::pow(beta2, t));
      p[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  }
};

struct AdamCase {
  bool decoupled;
  double weight_decay;
  double beta1, beta2, eps;
};

std::unique_ptr<a2q::Optimizer> make_adam(bool decoupled, std::vector<a2q::ParamGroup> groups,
                                          const a2q::AdamOptions& o) {
  if (decoupled)
    return std::make_unique<a2q::AdamW>(std::move(groups), o);
  return std::make_unique<a2q::Adam>(std::move(groups), o);
}

} // namespace

TEST_CASE("Adam and AdamW match the reference formulas step by step", "[optim][adam]") {
  const AdamCase c = GENERATE(values<AdamCase>({{false, 0.0, 0.9, 0.999, 1e-8},
                                                {false, 0.1, 0.9, 0.999, 1e-8},
                                                {true, 0.0, 0.9, 0.999, 1e-8},
                                                {true, 0.1, 0.9, 0.999, 1e-8},
                                                {false, 0.05, 0.5, 0.9, 1e-3},
                                                {true, 0.3, 0.0, 0.99, 0.1}}));
  // 8 elements, and 4500: whole vector registers and a remainder, as in real layers.
  const std::int64_t columns = GENERATE(4, 2250);
  CAPTURE(c.decoupled, c.weight_decay, c.beta1, c.beta2, c.eps, columns);
  const double lr = 0.02;

  a2q::Tensor<float> start(a2q::Shape{2, columns});
  const std::vector<float> first{0.5f, -1.0f, 0.25f, 2.0f, -0.75f, 1.5f, 3.0f, -0.1f};
  for (std::int64_t i = 0; i < start.numel(); ++i)
    start[i] = i < 8 ? first[static_cast<std::size_t>(i)]
                     : static_cast<float>(2.0 * std::sin(0.37 * static_cast<double>(i)));
  a2q::Var w(start, true);
  auto adam = make_adam(c.decoupled, {a2q::ParamGroup{{w}, c.weight_decay}},
                        a2q::AdamOptions{lr, c.beta1, c.beta2, c.eps});
  ReferenceAdam ref{lr, c.beta1, c.beta2, c.eps, c.weight_decay, c.decoupled, {}, {}};
  std::vector<double> p(w.value().begin(), w.value().end());

  for (int k = 0; k < 10; ++k) {
    a2q::Tensor<float> g(w.shape());
    std::vector<double> gd(static_cast<std::size_t>(g.numel()));
    for (std::int64_t i = 0; i < g.numel(); ++i) {
      g[i] = static_cast<float>(gradient_at(k, i));
      gd[static_cast<std::size_t>(i)] = static_cast<double>(g[i]);
    }
    w.grad() = g;
    adam->step();
    ref.step(p, gd);
    for (std::int64_t i = 0; i < g.numel(); ++i)
      REQUIRE_THAT(w.value()[i], WithinAbs(p[static_cast<std::size_t>(i)], 1e-6) ||
                                     WithinRel(p[static_cast<std::size_t>(i)], 1e-6));
  }
  const a2q::OptimizerState st = adam->state();
  REQUIRE(st.size() == 4);
  CHECK(st[1].first == "group0.param0.step");
  CHECK(st[1].second[0] == 10.0f);
  CHECK(st[2].first == "group0.param0.exp_avg");
  CHECK(st[3].first == "group0.param0.exp_avg_sq");
  for (std::int64_t i = 0; i < w.value().numel(); ++i) {
    CHECK_THAT(st[2].second[i], WithinAbs(ref.m[static_cast<std::size_t>(i)], 1e-6));
    CHECK_THAT(st[3].second[i], WithinAbs(ref.v[static_cast<std::size_t>(i)], 1e-6));
  }
}

TEST_CASE("Adam's first update has size lr in every coordinate", "[optim][adam]") {
  a2q::Var w(a2q::Tensor<float>(a2q::Shape{3}, {1.0f, 1.0f, 1.0f}), true);
  a2q::Adam adam(std::vector<a2q::Var>{w}, a2q::AdamOptions{0.1});
  w.grad() = a2q::Tensor<float>(a2q::Shape{3}, {1e-3f, -5.0f, 200.0f});
  adam.step();
  // m_hat = g and v_hat = g^2 on the first step, so the update is lr * sign(g) (up to eps).
  CHECK_THAT(w.value()[0], WithinRel(0.9f, 1e-5f));
  CHECK_THAT(w.value()[1], WithinRel(1.1f, 1e-6f));
  CHECK_THAT(w.value()[2], WithinRel(0.9f, 1e-6f));
}

TEST_CASE("Adam's bias correction counts each parameter's own updates", "[optim][adam]") {
  // b gets its first gradient at the third step: its update must be a first update (size lr).
  a2q::Var a(a2q::Tensor<float>(a2q::Shape{2}, 0.0f), true);
  a2q::Var b(a2q::Tensor<float>(a2q::Shape{2}, 0.0f), true);
  a2q::Adam adam(std::vector<a2q::Var>{a, b}, a2q::AdamOptions{0.01});
  for (int k = 0; k < 2; ++k) {
    a.grad() = a2q::Tensor<float>(a2q::Shape{2}, 1.0f);
    adam.step();
  }
  CHECK(b.value() == a2q::Tensor<float>(a2q::Shape{2}, 0.0f));
  a.grad() = a2q::Tensor<float>(a2q::Shape{2}, 1.0f);
  b.grad() = a2q::Tensor<float>(a2q::Shape{2}, {3.0f, -0.5f});
  adam.step();
  CHECK_THAT(b.value()[0], WithinAbs(-0.01, 1e-8));
  CHECK_THAT(b.value()[1], WithinAbs(0.01, 1e-8));
  const a2q::OptimizerState st = adam.state();
  CHECK(st[0].second[0] == 3.0f);             // step() calls
  CHECK(st[1].first == "group0.param0.step"); // a: 3 updates
  CHECK(st[1].second[0] == 3.0f);
  CHECK(st[4].first == "group0.param1.step"); // b: 1 update
  CHECK(st[4].second[0] == 1.0f);
}

TEST_CASE("AdamW decays decoupled from the gradient", "[optim][adam]") {
  // With a zero gradient Adam's moments stay 0 (update 0), so only the decay p *= 1 - lr * wd acts.
  a2q::Var w(a2q::Tensor<float>(a2q::Shape{2}, {2.0f, -4.0f}), true);
  a2q::AdamW adamw({a2q::ParamGroup{{w}, 0.5}}, a2q::AdamOptions{0.1});
  w.grad() = a2q::Tensor<float>(a2q::Shape{2}, 0.0f);
  adamw.step();
  CHECK_THAT(w.value()[0], WithinRel(1.9f, 1e-6f));
  CHECK_THAT(w.value()[1], WithinRel(-3.8f, 1e-6f));

  // Adam with the same L2 weight decay treats it as a gradient: a full-size first step instead.
  a2q::Var u(a2q::Tensor<float>(a2q::Shape{2}, {2.0f, -4.0f}), true);
  a2q::Adam adam({a2q::ParamGroup{{u}, 0.5}}, a2q::AdamOptions{0.1});
  u.grad() = a2q::Tensor<float>(a2q::Shape{2}, 0.0f);
  adam.step();
  CHECK_THAT(u.value()[0], WithinRel(1.9f, 1e-6f));
  CHECK_THAT(u.value()[1], WithinRel(-3.9f, 1e-6f));
}

TEST_CASE("Adam rejects out-of-range options", "[optim][adam]") {
  STATIC_REQUIRE(std::is_base_of_v<a2q::Optimizer, a2q::Adam>);
  STATIC_REQUIRE(std::is_base_of_v<a2q::Adam, a2q::AdamW>);
  a2q::Var w(a2q::Tensor<float>(a2q::Shape{2}), true);
  auto make = [&](a2q::AdamOptions o) { return a2q::Adam(std::vector<a2q::Var>{w}, o); };
  CHECK_NOTHROW(make({}));
  CHECK_NOTHROW(make({1e-3, 0.0, 0.0, 0.0}));
  CHECK_THROWS_WITH(make({1e-3, 1.0}), Contains("Adam") && Contains("beta1") && Contains("1.0"));
  CHECK_THROWS_WITH(make({1e-3, 0.9, -0.1}), Contains("beta2") && Contains("-0.1"));
  CHECK_THROWS_WITH(make({1e-3, 0.9, 0.999, -1e-8}), Contains("eps"));
  CHECK_THROWS_WITH(make({-1.0}), Contains("learning rate") && Contains("-1.0"));
  CHECK_THROWS_WITH(a2q::AdamW(std::vector<a2q::Var>{w}, a2q::AdamOptions{1e-3, 2.0}), Contains("AdamW"));
}

TEST_CASE("Adam and AdamW minimise a least-squares problem", "[optim][adam]") {
  constexpr std::int64_t n = 32, in = 4, out = 3;
  a2q::Rng rng(11);
  const a2q::Tensor<float> x = a2q::Tensor<float>::normal(a2q::Shape{n, in}, 0.0, 1.0, rng);
  const a2q::Tensor<float> w_true = a2q::Tensor<float>::normal(a2q::Shape{out, in}, 0.0, 1.0, rng);
  const a2q::Tensor<float> b_true = a2q::Tensor<float>::normal(a2q::Shape{out}, 0.0, 1.0, rng);
  const a2q::Tensor<float> y = optim_test::affine(x, w_true, &b_true);
  const a2q::Var xv(x), yv(y);

  const bool decoupled = GENERATE(false, true);
  CAPTURE(decoupled);
  a2q::Var w(a2q::Tensor<float>(a2q::Shape{out, in}), true);
  a2q::Var b(a2q::Tensor<float>(a2q::Shape{out}), true);
  auto adam = make_adam(decoupled, {a2q::ParamGroup{{w, b}}}, a2q::AdamOptions{});
  // Adam's steps do not shrink with the gradient, so anneal the rate to settle at the optimum.
  const a2q::LRSchedule schedule = a2q::cosine_lr(0.1, 400, 1e-4);
  for (std::int64_t step = 0; step < 500; ++step) {
    adam->set_lr(schedule.lr_at(step));
    adam->zero_grad();
    const a2q::Var diff = a2q::sub(a2q::linear(xv, w, b), yv);
    a2q::mean(a2q::mul(diff, diff)).backward();
    adam->step();
  }
  for (std::int64_t i = 0; i < w_true.numel(); ++i)
    CHECK_THAT(w.value()[i], WithinAbs(w_true[i], 1e-3));
  for (std::int64_t i = 0; i < b_true.numel(); ++i)
    CHECK_THAT(b.value()[i], WithinAbs(b_true[i], 1e-3));
}

TEST_CASE("Adam with L2 weight decay converges to the ridge solution", "[optim][adam]") {
  constexpr std::int64_t n = 16, in = 3;
  const double weight_decay = 0.2;
  a2q::Rng rng(3);
  const a2q::Tensor<float> x = a2q::Tensor<float>::normal(a2q::Shape{n, in}, 0.0, 1.0, rng);
  const a2q::Tensor<float> y = a2q::Tensor<float>::normal(a2q::Shape{n, 1}, 0.0, 1.0, rng);
  const std::vector<double> w_opt =
      optim_test::ridge_solution(x, y, 2.0 / static_cast<double>(n), weight_decay);

  const a2q::Var xv(x), yv(y);
  a2q::Var w(a2q::Tensor<float>(a2q::Shape{1, in}), true);
  a2q::Adam adam({a2q::ParamGroup{{w}, weight_decay}}, a2q::AdamOptions{});
  const a2q::LRSchedule schedule = a2q::cosine_lr(0.05, 400, 1e-4);
  for (std::int64_t step = 0; step < 500; ++step) {
    adam.set_lr(schedule(step));
    adam.zero_grad();
    const a2q::Var diff = a2q::sub(a2q::linear(xv, w), yv);
    a2q::mean(a2q::mul(diff, diff)).backward();
    adam.step();
  }
  for (std::int64_t i = 0; i < in; ++i)
    CHECK_THAT(w.value()[i], WithinAbs(w_opt[static_cast<std::size_t>(i)], 1e-3));
}
