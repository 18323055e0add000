#include "a2q/autograd/dropout.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;

TEST_CASE("dropout zeroes a fraction p and keeps the expected value", "[autograd][dropout]") {
  a2q::Rng rng(601);
  const std::int64_t n = 200000;
  const Var ones(Tensor<float>(Shape{n}, 1.0f));
  for (float p : {0.1f, 0.5f, 0.8f}) {
    INFO("p = " << p);
    const Var y = a2q::dropout(ones, p, true, rng);
    std::int64_t zeros = 0, others = 0;
    double total = 0.0;
    for (float v : y.value()) {
      zeros += v == 0.0f ? 1 : 0;
      others +=
          v == 0.0f || std::abs(v - 1.0f / (1.0f - p)) < 1e-6f ? 0 : 1; // survivors are scaled by 1/(1-p)
      total += v;
    }
    CHECK(others == 0);
    // Binomial standard deviations: sqrt(p (1 - p) / n) <= 0.0012 for the fraction; 5 sigma bounds.
    const double fraction = static_cast<double>(zeros) / static_cast<double>(n);
    CHECK(std::abs(fraction - p) < 5.0 * std::sqrt(p * (1.0 - p) / static_cast<double>(n)));
    const double mean = total / static_cast<double>(n);
    CHECK(std::abs(mean - 1.0) < 5.0 * std::sqrt(p / (1.0 - p) / static_cast<double>(n)));
  }
}

TEST_CASE("dropout is the identity in evaluation and for p = 0", "[autograd][dropout]") {
  a2q::Rng rng(602);
  const Var x(Tensor<float>::uniform(Shape{3, 4}, -1.0f, 1.0f, rng), true);
  const a2q::Rng before = rng;
  const Var eval = a2q::dropout(x, 0.5f, false, rng);
  CHECK(eval.node() == x.node());
  CHECK(a2q::dropout(x, 0.0f, true, rng).node() == x.node());
  // No random numbers are drawn when dropout is off.
  a2q::Rng copy = before;
  CHECK(copy() == rng());
}

TEST_CASE("dropout is reproducible from the seed and passes the gradient check", "[autograd][dropout]") {
  a2q::Rng rng(603);
  Var x(Tensor<float>::uniform(Shape{4, 5}, -1.0f, 1.0f, rng), true);
  a2q::Rng a(7), b(7);
  CHECK(a2q::dropout(x, 0.3f, true, a).value() == a2q::dropout(x, 0.3f, true, b).value());

  // The same mask must be used in every evaluation of the check, so each one restarts the generator.
  const Var r(Tensor<float>::uniform(Shape{4, 5}, -1.0f, 1.0f, rng));
  const auto result = a2q::gradcheck(
      [&](const std::vector<Var>& v) {
        a2q::Rng mask_rng(8);
        return a2q::sum(a2q::mul(a2q::dropout(v[0], 0.4f, true, mask_rng), r));
      },
      {x});
  INFO(result.worst);
  CHECK(result.ok);

  // The gradient is the mask itself.
  a2q::Rng mask_rng(9);
  Var y = a2q::dropout(x, 0.5f, true, mask_rng);
  x.zero_grad();
  y.backward(Tensor<float>(y.shape(), 1.0f));
  for (std::int64_t i = 0; i < x.value().numel(); ++i)
    CHECK(x.grad()[i] == (y.value()[i] == 0.0f ? 0.0f : 2.0f));
}

TEST_CASE("dropout rejects p outside its range 0 <= p < 1", "[autograd][dropout]") {
  a2q::Rng rng(604);
  const Var x(Tensor<float>(Shape{3}));
  CHECK_THROWS_AS(a2q::dropout(x, 1.0f, true, rng), a2q::config_error);
  CHECK_THROWS_AS(a2q::dropout(x, -0.1f, true, rng), a2q::config_error);
  CHECK_THROWS_AS(a2q::dropout(x, std::nanf(""), false, rng), a2q::config_error);
  CHECK_THROWS_WITH(a2q::dropout(x, 1.5f, true, rng), Catch::Contains("1.5"));
}
