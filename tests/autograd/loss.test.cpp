#include "a2q/autograd/loss.hpp"
#include "a2q/autograd/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

TEST_CASE("softmax_cross_entropy matches a hand-computed value", "[autograd][loss]") {
  // Row 0: logsumexp(1, 2, 3) = 3 + log(1 + e^-1 + e^-2) = 3.4076059644; label 2 -> 0.4076059644.
  // Row 1: logsumexp(1, 1, 1) = 1 + log 3; label 0 -> log 3 = 1.0986122887.
  const Var logits(Tensor<float>(Shape{2, 3}, {1, 2, 3, 1, 1, 1}), true);
  const std::vector<std::int32_t> labels{2, 0};
  Var loss = a2q::softmax_cross_entropy(logits, labels);
  CHECK(loss.shape() == Shape{});
  CHECK_THAT(loss.value()[0], WithinRel(0.5f * (0.4076059644f + 1.0986122887f), 1e-6f));

  // The gradient is (softmax - one_hot) / N.
  loss.backward();
  const Tensor<float> p = a2q::softmax(logits.value());
  const float expected[] = {p[0] / 2, p[1] / 2, (p[2] - 1) / 2, (p[3] - 1) / 2, p[4] / 2, p[5] / 2};
  for (int i = 0; i < 6; ++i)
    CHECK_THAT(logits.grad()[i], WithinAbs(expected[i], 1e-7));

  // Label smoothing 0.1 with K = 3: target 0.9 one_hot + 0.1 / 3, so loss_n = lse - 0.9 z_y - 0.1 mean(z).
  // Row 0: 3.4076059644 - 2.7 - 0.2; row 1: 2.0986122887 - 0.9 - 0.1.
  const Var smoothed = a2q::softmax_cross_entropy(logits, labels, 0.1f);
  CHECK_THAT(smoothed.value()[0], WithinRel(0.5f * (0.5076059644f + 1.0986122887f), 1e-6f));
}

TEST_CASE("softmax_cross_entropy is stable for large logits", "[autograd][loss]") {
  const Var logits(Tensor<float>(Shape{2, 2}, {1000.0f, 0.0f, -1000.0f, 50.0f}), true);
  const std::vector<std::int32_t> wrong{1, 0}, right{0, 1};
  Var loss = a2q::softmax_cross_entropy(logits, wrong);
  CHECK_THAT(loss.value()[0], WithinRel(0.5f * (1000.0f + 1050.0f), 1e-6f));
  CHECK_THAT(a2q::softmax_cross_entropy(logits, right).value()[0], WithinAbs(0.0, 1e-6));
  loss.backward();
  for (float g : logits.grad())
    CHECK(std::isfinite(g));
  const Tensor<float> p = a2q::softmax(logits.value());
  CHECK(p == Tensor<float>(Shape{2, 2}, {1, 0, 0, 1}));
}

TEST_CASE("softmax_cross_entropy passes the gradient check", "[autograd][loss]") {
  a2q::Rng rng(701);
  const Var logits(Tensor<float>::normal(Shape{4, 5}, 0.0, 2.0, rng), true);
  const std::vector<std::int32_t> labels{0, 4, 2, 2};
  for (float smoothing : {0.0f, 0.1f, 1.0f}) {
    INFO("label smoothing " << smoothing);
    const auto result = a2q::gradcheck(
        [&](const std::vector<Var>& v) { return a2q::softmax_cross_entropy(v[0], labels, smoothing); },
        {logits});
    INFO(result.worst);
    CHECK(result.ok);
  }
  // Batch of one, two classes.
  const Var single(Tensor<float>(Shape{1, 2}, {0.3f, -0.7f}), true);
  const std::vector<std::int32_t> one{1};
  const auto result = a2q::gradcheck(
      [&](const std::vector<Var>& v) { return a2q::softmax_cross_entropy(v[0], one); }, {single});
  INFO(result.worst);
  CHECK(result.ok);
}

TEST_CASE("softmax_cross_entropy checks its labels", "[autograd][loss]") {
  const Var logits(Tensor<float>(Shape{3, 4}));
  const std::vector<std::int32_t> bad{0, 4, 1}, negative{0, 1, -1}, short_labels{0, 1};
  CHECK_THROWS_AS(a2q::softmax_cross_entropy(logits, bad), a2q::shape_error);
  CHECK_THROWS_WITH(a2q::softmax_cross_entropy(logits, bad),
                    Catch::Contains("label 4") && Catch::Contains("sample 1") && Catch::Contains("[0, 4)"));
  CHECK_THROWS_WITH(a2q::softmax_cross_entropy(logits, negative),
                    Catch::Contains("label -1") && Catch::Contains("sample 2"));
  CHECK_THROWS_AS(a2q::softmax_cross_entropy(logits, short_labels), a2q::shape_error);
  CHECK_THROWS_AS(a2q::softmax_cross_entropy(Var(Tensor<float>(Shape{12})), short_labels), a2q::shape_error);
  const std::vector<std::int32_t> good{0, 3, 1};
  CHECK_THROWS_AS(a2q::softmax_cross_entropy(logits, good, -0.1f), a2q::config_error);
  CHECK_THROWS_AS(a2q::softmax_cross_entropy(logits, good, 1.5f), a2q::config_error);
  CHECK_THROWS_AS(a2q::count_correct(logits.value(), bad), a2q::shape_error);
  CHECK_THROWS_AS(a2q::count_correct(logits.value(), short_labels), a2q::shape_error);
}

TEST_CASE("softmax and count_correct", "[autograd][loss]") {
  const Tensor<float> logits(Shape{3, 3}, {1, 2, 3, 0, 0, 0, 5, -1, 4});
  const Tensor<float> p = a2q::softmax(logits);
  for (std::int64_t n = 0; n < 3; ++n) {
    double total = 0.0;
    for (std::int64_t k = 0; k < 3; ++k)
      total += p(n, k);
    CHECK_THAT(total, WithinAbs(1.0, 1e-6));
  }
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  CHECK_THAT(p(0, 0), WithinRel(static_cast<float>(std::exp(1.0) / z), 1e-6f));
  CHECK_THAT(p(1, 2), WithinRel(1.0f / 3.0f, 1e-6f));
  // Argmax per row: 2, 0 (first of a tie), 0.
  const std::vector<std::int32_t> labels{2, 0, 1};
  CHECK(a2q::count_correct(logits, labels) == 2);
  CHECK_THROWS_AS(a2q::softmax(Tensor<float>(Shape{2, 2, 2})), a2q::shape_error);
}

TEST_CASE("mse_loss value and gradients", "[autograd][loss]") {
  const Var pred(Tensor<float>(Shape{2, 2}, {1, 2, 3, 4}), true);
  const Var target(Tensor<float>(Shape{2, 2}, {1, 0, 4, 1}), true);
  Var loss = a2q::mse_loss(pred, target);
  CHECK_THAT(loss.value()[0], WithinRel((0.0f + 4.0f + 1.0f + 9.0f) / 4.0f, 1e-6f));
  loss.backward();
  CHECK(pred.grad() == Tensor<float>(Shape{2, 2}, {0.0f, 1.0f, -0.5f, 1.5f}));
  CHECK(target.grad() == Tensor<float>(Shape{2, 2}, {0.0f, -1.0f, 0.5f, -1.5f}));

  a2q::Rng rng(702);
  const Var a(Tensor<float>::normal(Shape{3, 4}, 0.0, 1.0, rng), true),
      b(Tensor<float>::normal(Shape{3, 4}, 0.0, 1.0, rng), true);
  const auto result =
      a2q::gradcheck([](const std::vector<Var>& v) { return a2q::mse_loss(v[0], v[1]); }, {a, b});
  INFO(result.worst);
  CHECK(result.ok);
  CHECK_THROWS_AS(a2q::mse_loss(a, Var(Tensor<float>(Shape{4, 3}))), a2q::shape_error);
}
