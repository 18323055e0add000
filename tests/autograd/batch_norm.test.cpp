#include "a2q/autograd/batch_norm.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/gradcheck.hpp"

#include "close.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;

using a2q_test::require_close;

namespace {

Tensor<float> uniform(const Shape& shape, a2q::Rng& rng, float lo = -1.0f, float hi = 1.0f) {
  return Tensor<float>::uniform(shape, lo, hi, rng);
}

/// y = gamma (x - mean) / sqrt(var + eps) + beta over [N, C, inner], in double, with the given statistics.
Tensor<float> reference_normalize(const Tensor<float>& x, const std::vector<double>& mean,
                                  const std::vector<double>& var, const Tensor<float>& gamma,
                                  const Tensor<float>& beta, double eps) {
  const std::int64_t n_ = x.dim(0), c_ = x.dim(1), inner = x.numel() / (n_ * c_);
  Tensor<float> y = Tensor<float>::uninitialized(x.shape());
  for (std::int64_t n = 0; n < n_; ++n)
    for (std::int64_t c = 0; c < c_; ++c)
      for (std::int64_t k = 0; k < inner; ++k) {
        const std::int64_t i = (n * c_ + c) * inner + k;
        const auto cu = static_cast<std::size_t>(c);
        y[i] = static_cast<float>(gamma[c] * (x[i] - mean[cu]) / std::sqrt(var[cu] + eps) + beta[c]);
      }
  return y;
}

/// Per-channel mean and biased variance over [N, C, inner], in double.
void reference_stats(const Tensor<float>& x, std::vector<double>& mean, std::vector<double>& var) {
  const std::int64_t n_ = x.dim(0), c_ = x.dim(1), inner = x.numel() / (n_ * c_);
  mean.assign(static_cast<std::size_t>(c_), 0.0);
  var.assign(static_cast<std::size_t>(c_), 0.0);
  for (int pass = 0; pass < 2; ++pass)
    for (std::int64_t n = 0; n < n_; ++n)
      for (std::int64_t c = 0; c < c_; ++c)
        for (std::int64_t k = 0; k < inner; ++k) {
          const double v = x[(n * c_ + c) * inner + k];
          const auto cu = static_cast<std::size_t>(c);
          if (pass == 0)
            mean[cu] += v / static_cast<double>(n_ * inner);
          else
            var[cu] += (v - mean[cu]) * (v - mean[cu]) / static_cast<double>(n_ * inner);
        }
}

/// batch_norm2d for rank 4, batch_norm1d otherwise.
Var bn(const Var& x, const Var& gamma, const Var& beta, Tensor<float>& rm, Tensor<float>& rv, bool training) {
  if (x.shape().rank() == 4)
    return a2q::batch_norm2d(x, gamma, beta, rm, rv, training);
  return a2q::batch_norm1d(x, gamma, beta, rm, rv, training);
}

const std::vector<Shape>& shapes() {
  static const std::vector<Shape> s = {Shape{3, 2, 2, 3}, Shape{1, 3, 2, 3}, Shape{5, 3}, Shape{2, 3, 4}};
  return s;
}

/// shapes() plus inputs large enough for the multithreaded loops (forward checks only).
std::vector<Shape> forward_shapes() {
  std::vector<Shape> s = shapes();
  s.push_back(Shape{8, 4, 32, 33});
  s.push_back(Shape{4096, 9});
  return s;
}

} // namespace

TEST_CASE("batch norm updates the running statistics like PyTorch", "[autograd][batch_norm]") {
  // One channel holding 1, 2, 3, 4: mean 2.5, biased variance 1.25, unbiased 5/3.
  const Var x(Tensor<float>(Shape{2, 1, 1, 2}, {1, 2, 3, 4}));
  Tensor<float> rm(Shape{1}, 0.0f), rv(Shape{1}, 1.0f);
  const Var y = a2q::batch_norm2d(x, Var(), Var(), rm, rv, true, 0.1f, 1e-5f);
  CHECK_THAT(rm[0], Catch::Matchers::WithinRel(0.25f, 1e-6f));
  CHECK_THAT(rv[0], Catch::Matchers::WithinRel(0.9f + 0.1f * 5.0f / 3.0f, 1e-6f));
  // Normalised with the biased variance.
  const float s = 1.0f / std::sqrt(1.25f + 1e-5f);
  require_close(y.value(), Tensor<float>(Shape{2, 1, 1, 2}, {-1.5f * s, -0.5f * s, 0.5f * s, 1.5f * s}));

  // Momentum 1 replaces the running statistics; momentum 0 keeps them.
  a2q::batch_norm2d(x, Var(), Var(), rm, rv, true, 1.0f);
  CHECK_THAT(rm[0], Catch::Matchers::WithinRel(2.5f, 1e-6f));
  CHECK_THAT(rv[0], Catch::Matchers::WithinRel(5.0f / 3.0f, 1e-6f));
  a2q::batch_norm2d(Var(Tensor<float>(Shape{2, 1, 1, 2}, {7, 8, 9, 10})), Var(), Var(), rm, rv, true, 0.0f);
  CHECK_THAT(rm[0], Catch::Matchers::WithinRel(2.5f, 1e-6f));
}

TEST_CASE("batch norm forward matches the definition", "[autograd][batch_norm]") {
  a2q::Rng rng(401);
  for (const Shape& shape : forward_shapes()) {
    INFO("input " << shape.to_string());
    const std::int64_t c = shape[1];
    const Tensor<float> xt = uniform(shape, rng, -2.0f, 3.0f);
    const Var gamma(uniform(Shape{c}, rng, 0.5f, 1.5f)), beta(uniform(Shape{c}, rng));
    const Tensor<float> rm0 = uniform(Shape{c}, rng), rv0 = uniform(Shape{c}, rng, 0.5f, 2.0f);
    std::vector<double> mean, var;
    reference_stats(xt, mean, var);

    // Training: batch statistics, running statistics updated with the unbiased variance.
    Tensor<float> rm = rm0, rv = rv0;
    const Var y = bn(Var(xt), gamma, beta, rm, rv, true);
    require_close(y.value(), reference_normalize(xt, mean, var, gamma.value(), beta.value(), 1e-5));
    const double count = static_cast<double>(xt.numel() / c);
    for (std::int64_t k = 0; k < c; ++k) {
      const auto ku = static_cast<std::size_t>(k);
      CHECK_THAT(rm[k], Catch::Matchers::WithinAbs(0.9 * rm0[k] + 0.1 * mean[ku], 1e-6));
      CHECK_THAT(rv[k], Catch::Matchers::WithinAbs(0.9 * rv0[k] + 0.1 * var[ku] * count / (count - 1), 1e-6));
    }

    // Evaluation: running statistics, which stay as they are.
    const Tensor<float> rm1 = rm, rv1 = rv;
    const Var z = bn(Var(xt), gamma, beta, rm, rv, false);
    std::vector<double> rmd(rm.begin(), rm.end()), rvd(rv.begin(), rv.end());
    require_close(z.value(), reference_normalize(xt, rmd, rvd, gamma.value(), beta.value(), 1e-5));
    CHECK(rm == rm1);
    CHECK(rv == rv1);
  }
}

TEST_CASE("batch norm passes the gradient check", "[autograd][batch_norm]") {
  a2q::Rng rng(402);
  for (const Shape& shape : shapes()) {
    const std::int64_t c = shape[1];
    for (bool training : {true, false}) {
      INFO("input " << shape.to_string() << (training ? ", training" : ", evaluation"));
      const Var x(uniform(shape, rng, -2.0f, 2.0f), true);
      const Var gamma(uniform(Shape{c}, rng, 0.5f, 1.5f), true), beta(uniform(Shape{c}, rng), true);
      Tensor<float> rm = uniform(Shape{c}, rng), rv = uniform(Shape{c}, rng, 0.5f, 2.0f);
      const Var r(uniform(shape, rng));
      auto f = [&](const std::vector<Var>& v) {
        return a2q::sum(a2q::mul(bn(v[0], v[1], v[2], rm, rv, training), r));
      };
      const auto result = a2q::gradcheck(f, {x, gamma, beta});
      INFO(result.worst);
      REQUIRE(result.ok);

      // Without the affine transform.
      auto g = [&](const std::vector<Var>& v) {
        return a2q::sum(a2q::mul(bn(v[0], Var(), Var(), rm, rv, training), r));
      };
      const auto plain = a2q::gradcheck(g, {x});
      INFO(plain.worst);
      REQUIRE(plain.ok);
    }
  }
}

TEST_CASE("batch norm in training mode is invariant to shifting its input", "[autograd][batch_norm]") {
  // A property of batch statistics: a per-batch constant offset disappears, and the gradient wrt x sums to
  // zero over each channel.
  a2q::Rng rng(403);
  const Tensor<float> xt = uniform(Shape{4, 3, 3, 3}, rng);
  Tensor<float> shifted = xt;
  for (float& v : shifted)
    v += 5.0f;
  Tensor<float> rm(Shape{3}), rv(Shape{3}, 1.0f);
  const Var gamma(Tensor<float>(Shape{3}, 1.0f)), beta(Tensor<float>(Shape{3}, 0.0f));
  const Var x(xt, true);
  const Var y = a2q::batch_norm2d(x, gamma, beta, rm, rv, true);
  require_close(a2q::batch_norm2d(Var(shifted), gamma, beta, rm, rv, true).value(), y.value(), 1e-4f);
  a2q::sum(a2q::mul(y, Var(uniform(y.shape(), rng)))).backward();
  for (std::int64_t c = 0; c < 3; ++c) {
    double total = 0.0;
    for (std::int64_t n = 0; n < 4; ++n)
      for (std::int64_t k = 0; k < 9; ++k)
        total += x.grad()[(n * 3 + c) * 9 + k];
    CHECK(std::abs(total) < 1e-5);
  }
}

TEST_CASE("batch norm rejects bad arguments", "[autograd][batch_norm]") {
  const Var x(Tensor<float>(Shape{2, 3, 2, 2}, 1.0f));
  const Var g3(Tensor<float>(Shape{3}, 1.0f)), b3(Tensor<float>(Shape{3})), g4(Tensor<float>(Shape{4}, 1.0f));
  Tensor<float> rm(Shape{3}), rv(Shape{3}, 1.0f), rm4(Shape{4});
  CHECK_NOTHROW(a2q::batch_norm2d(x, g3, b3, rm, rv, true));
  CHECK_THROWS_AS(a2q::batch_norm2d(x, g4, b3, rm, rv, true), a2q::shape_error);
  CHECK_THROWS_WITH(a2q::batch_norm2d(x, g4, b3, rm, rv, true),
                    Catch::Contains("[4]") && Catch::Contains("[3]"));
  CHECK_THROWS_AS(a2q::batch_norm2d(x, g3, b3, rm4, rv, true), a2q::shape_error);
  CHECK_THROWS_AS(a2q::batch_norm2d(x, g3, Var(), rm, rv, true), a2q::config_error);
  CHECK_THROWS_AS(a2q::batch_norm2d(x, g3, b3, rm, rv, true, 1.5f), a2q::config_error);
  CHECK_THROWS_AS(a2q::batch_norm2d(x, g3, b3, rm, rv, true, 0.1f, 0.0f), a2q::config_error);
  CHECK_THROWS_AS(a2q::batch_norm2d(Var(Tensor<float>(Shape{2, 3})), g3, b3, rm, rv, true), a2q::shape_error);
  CHECK_THROWS_AS(a2q::batch_norm1d(x, g3, b3, rm, rv, true), a2q::shape_error);
  // Training needs two or more values per channel; evaluation does not.
  const Var single(Tensor<float>(Shape{1, 3}, 1.0f));
  CHECK_THROWS_AS(a2q::batch_norm1d(single, g3, b3, rm, rv, true), a2q::shape_error);
  CHECK_NOTHROW(a2q::batch_norm1d(single, g3, b3, rm, rv, false));
}
