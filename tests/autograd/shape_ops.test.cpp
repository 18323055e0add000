#include "a2q/autograd/shape_ops.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/gradcheck.hpp"

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
