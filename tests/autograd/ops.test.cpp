// The umbrella header on its own is enough for a whole network.
#include "a2q/autograd/ops.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;

namespace {

/// A small CNN through every operation: conv, batch norm, ReLU, max pool, depthwise conv, average pools,
/// dropout, flatten, linear, and cross-entropy with label smoothing.
Var tiny_cnn(const Var& x, const std::vector<Var>& p, Tensor<float>& rm, Tensor<float>& rv, bool training) {
  Var h = a2q::conv2d(x, p[0], p[1], {1, 1, 1});
  h = a2q::relu(a2q::batch_norm2d(h, p[2], p[3], rm, rv, training));
  h = a2q::max_pool2d(h, 2);
  h = a2q::conv2d(h, p[4], Var(), {1, 1, 4});
  h = a2q::avg_pool2d(h, 3, 1, 1);
  a2q::Rng mask_rng(5); // the same mask in every evaluation
  h = a2q::dropout(a2q::global_avg_pool2d(h), 0.25f, training, mask_rng);
  return a2q::linear(a2q::flatten(h), p[5], p[6]);
}

} // namespace

TEST_CASE("a small CNN built from every op passes the gradient check", "[autograd][ops]") {
  a2q::Rng rng(801);
  const Var x(Tensor<float>::normal(Shape{2, 2, 6, 5}, 0.0, 1.0, rng));
  auto param = [&](const Shape& s, double stddev) {
    return Var(Tensor<float>::normal(s, 0.0, stddev, rng), true);
  };
  const std::vector<Var> params{
      param(Shape{4, 2, 3, 3}, 0.5), param(Shape{4}, 0.1),          Var(Tensor<float>(Shape{4}, 1.0f), true),
      param(Shape{4}, 0.1),          param(Shape{4, 1, 3, 3}, 0.5), param(Shape{3, 4}, 0.5),
      param(Shape{3}, 0.1)};
  const std::vector<std::int32_t> labels{1, 2};
  Tensor<float> rm(Shape{4}), rv(Shape{4}, 1.0f);
  auto loss = [&](const std::vector<Var>& p) {
    return a2q::softmax_cross_entropy(tiny_cnn(x, p, rm, rv, true), labels, 0.1f);
  };
  const a2q::GradcheckResult result = a2q::gradcheck(loss, params);
  INFO(result.worst);
  CHECK(result.ok);
  for (const Var& p : params)
    CHECK(p.has_grad());

  // Evaluation mode: no dropout, running statistics, and no graph under NoGradGuard.
  a2q::NoGradGuard no_grad;
  const Var logits = tiny_cnn(x, params, rm, rv, false);
  CHECK(logits.shape() == Shape{2, 3});
  CHECK_FALSE(logits.requires_grad());
  for (float v : logits.value())
    CHECK(std::isfinite(v));
  CHECK(a2q::count_correct(logits.value(), labels) >= 0);
}
