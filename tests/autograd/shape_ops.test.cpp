#include "a2q/autograd/shape_ops.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/gradcheck.hpp"
#include "a2q/core/pixel_shuffle.hpp"

#include <catch2/catch.hpp>

#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;

TEST_CASE("flatten and reshape keep the elements in order", "[autograd][shape_ops]") {
  a2q::Rng rng(501);
  const Var x(Tensor<float>::uniform(Shape{2, 3, 4, 5}, -1.0f, 1.0f, rng), true);
  const Var f = a2q::flatten(x);
  CHECK(f.shape() == Shape{2, 60});
  CHECK(f.value().span().size() == 120);
  CHECK(std::equal(f.value().begin(), f.value().end(), x.value().begin()));
  CHECK(a2q::flatten(Var(Tensor<float>(Shape{7}))).shape() == Shape{7, 1});
  CHECK(a2q::flatten(Var(Tensor<float>(Shape{3, 5}))).shape() == Shape{3, 5});

  const Var r = a2q::reshape(x, Shape{6, 20});
  CHECK(r.shape() == Shape{6, 20});
  CHECK(std::equal(r.value().begin(), r.value().end(), x.value().begin()));
  // The input is not changed by the view.
  CHECK(x.shape() == Shape{2, 3, 4, 5});
}

TEST_CASE("flatten and reshape pass the gradient check", "[autograd][shape_ops]") {
  a2q::Rng rng(502);
  const Var x(Tensor<float>::uniform(Shape{2, 3, 2, 2}, -1.0f, 1.0f, rng), true);
  const Var r1(Tensor<float>::uniform(Shape{2, 12}, -1.0f, 1.0f, rng));
  const Var r2(Tensor<float>::uniform(Shape{4, 6}, -1.0f, 1.0f, rng));
  for (const auto& check :
       {a2q::gradcheck([&](const std::vector<Var>& v) { return a2q::sum(a2q::mul(a2q::flatten(v[0]), r1)); },
                       {x}),
        a2q::gradcheck(
            [&](const std::vector<Var>& v) {
              return a2q::sum(a2q::mul(a2q::reshape(v[0], Shape{4, 6}), r2));
            },
            {x}),
        // The gradient is reshaped back even when it arrives from two uses.
        a2q::gradcheck(
            [&](const std::vector<Var>& v) {
              const Var flat = a2q::flatten(v[0]);
              return a2q::add(a2q::sum(a2q::mul(flat, r1)), a2q::sum(a2q::mul(flat, flat)));
            },
            {x})}) {
    INFO(check.worst);
    CHECK(check.ok);
  }
  a2q::sum(a2q::mul(a2q::flatten(x), r1)).backward();
  CHECK(x.grad().shape() == x.shape());
}

TEST_CASE("reshape rejects a different element count", "[autograd][shape_ops]") {
  const Var x(Tensor<float>(Shape{2, 3}));
  CHECK_THROWS_AS(a2q::reshape(x, Shape{4, 2}), a2q::shape_error);
  CHECK_THROWS_WITH(a2q::reshape(x, Shape{4, 2}), Catch::Contains("[2, 3]") && Catch::Contains("[4, 2]"));
  CHECK_THROWS_AS(a2q::flatten(Var(Tensor<float>(Shape{}))), a2q::shape_error);
}

TEST_CASE(
    "pixel shuffle follows PyTorch's order, is undone by pixel unshuffle, and passes the gradient check",
    "[autograd][shape_ops][pixel_shuffle]") {
  // PyTorch: out[n, c, h*r + i, w*r + j] = in[n, c*r*r + i*r + j, h, w]; one hand-worked case.
  Tensor<float> x(Shape{1, 4, 1, 2});
  for (std::int64_t k = 0; k < x.numel(); ++k)
    x[k] = static_cast<float>(k); // channel c holds 2c, 2c + 1
  const Tensor<float> y = a2q::pixel_shuffle(x, 2);
  REQUIRE(y.shape() == Shape{1, 1, 2, 4});
  // Row 0: (i = 0) channels 0 and 1 interleaved; row 1: channels 2 and 3.
  const std::vector<float> expected = {0, 2, 1, 3, 4, 6, 5, 7};
  CHECK(std::equal(y.begin(), y.end(), expected.begin()));
  a2q::Rng rng(503);
  const auto q = Tensor<std::int32_t>::uniform(Shape{2, 18, 3, 4}, -100, 100, rng);
  CHECK(a2q::pixel_unshuffle(a2q::pixel_shuffle(q, 3), 3) == q);
  CHECK_THROWS_WITH(a2q::pixel_shuffle(q, 4), Catch::Contains("divisible by 16"));
  CHECK_THROWS_AS(a2q::pixel_unshuffle(q, 2), a2q::shape_error); // 3 x 4 is not divisible by 2

  const Var v(Tensor<float>::uniform(Shape{2, 8, 2, 3}, -1.0f, 1.0f, rng), true);
  const Var w(Tensor<float>::uniform(Shape{2, 2, 4, 6}, -1.0f, 1.0f, rng));
  const auto check = a2q::gradcheck(
      [&](const std::vector<Var>& in) { return a2q::sum(a2q::mul(a2q::pixel_shuffle(in[0], 2), w)); }, {v});
  INFO(check.worst);
  CHECK(check.ok);
}
