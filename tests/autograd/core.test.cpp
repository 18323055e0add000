#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/gradcheck.hpp"
#include "a2q/autograd/linear.hpp"
#include "a2q/core/eigen_view.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;

namespace {

Var random_var(const Shape& shape, a2q::Rng& rng, bool requires_grad = true) {
  return Var(Tensor<float>::normal(shape, 0.0, 1.0, rng), requires_grad);
}

void require_gradcheck(const std::function<Var(const std::vector<Var>&)>& f, std::vector<Var> inputs) {
  const auto result = a2q::gradcheck(f, std::move(inputs));
  INFO(result.worst);
  REQUIRE(result.ok);
}

} // namespace

TEST_CASE("element-wise ops pass the gradient check", "[autograd][elementwise]") {
  a2q::Rng rng(11);
  const Shape shape{3, 5};
  const Var a = random_var(shape, rng), b = random_var(shape, rng);
  const Var r = random_var(shape, rng, false);
  require_gradcheck([&](const std::vector<Var>& v) { return a2q::sum(a2q::mul(a2q::add(v[0], v[1]), r)); },
                    {a, b});
  require_gradcheck([&](const std::vector<Var>& v) { return a2q::sum(a2q::mul(a2q::sub(v[0], v[1]), r)); },
                    {a, b});
  require_gradcheck([&](const std::vector<Var>& v) { return a2q::sum(a2q::mul(v[0], v[1])); }, {a, b});
  require_gradcheck(
      [&](const std::vector<Var>& v) { return a2q::mean(a2q::mul(a2q::scale(v[0], -2.5f), r)); }, {a});
  require_gradcheck([&](const std::vector<Var>& v) { return a2q::sum(a2q::mul(a2q::relu(v[0]), r)); }, {a});
}

TEST_CASE("a wrong gradient is caught by the gradient check", "[autograd][gradcheck]") {
  // Negative control: an op whose backward is off by a factor must fail the check.
  a2q::Rng rng(12);
  const Var a = random_var(Shape{4}, rng);
  auto broken_square = [](const Var& x) {
    Tensor<float> out = Tensor<float>::uninitialized(x.shape());
    as_vector(out) = as_vector(x.value()).cwiseProduct(as_vector(x.value()));
    return a2q::detail::make_result(std::move(out), {x}, "broken_square", [](a2q::detail::Node& self) {
      Tensor<float> d = Tensor<float>::uninitialized(self.grad.shape());
      as_vector(d) =
          as_vector(self.grad).cwiseProduct(as_vector(a2q::detail::input(self, 0).value)); // misses the 2
      a2q::detail::accumulate_grad(self, 0, std::move(d));
    });
  };
  const auto result =
      a2q::gradcheck([&](const std::vector<Var>& v) { return a2q::sum(broken_square(v[0])); }, {a});
  CHECK_FALSE(result.ok);
}

TEST_CASE("linear and matmul pass the gradient check, batch 1 included", "[autograd][linear]") {
  a2q::Rng rng(13);
  for (std::int64_t batch : {1, 4}) {
    const Var x = random_var(Shape{batch, 6}, rng);
    const Var w = random_var(Shape{3, 6}, rng);
    const Var b = random_var(Shape{3}, rng);
    const Var r = random_var(Shape{batch, 3}, rng, false);
    require_gradcheck(
        [&](const std::vector<Var>& v) { return a2q::sum(a2q::mul(a2q::linear(v[0], v[1], v[2]), r)); },
        {x, w, b});
    require_gradcheck(
        [&](const std::vector<Var>& v) { return a2q::sum(a2q::mul(a2q::linear(v[0], v[1]), r)); }, {x, w});
    const Var m = random_var(Shape{6, 3}, rng);
    require_gradcheck(
        [&](const std::vector<Var>& v) { return a2q::sum(a2q::mul(a2q::matmul(v[0], v[1]), r)); }, {x, m});
  }
}

TEST_CASE("linear computes x W^T + b", "[autograd][linear]") {
  const Var x(Tensor<float>(Shape{1, 2}, {1, 2}));
  const Var w(Tensor<float>(Shape{3, 2}, {1, 0, 0, 1, 1, 1}));
  const Var b(Tensor<float>(Shape{3}, {10, 20, 30}));
  const Var y = a2q::linear(x, w, b);
  CHECK(y.value() == Tensor<float>(Shape{1, 3}, {11, 22, 33}));
  CHECK_THROWS_AS(a2q::linear(x, Var(Tensor<float>(Shape{3, 4}))), a2q::shape_error);
  CHECK_THROWS_AS(a2q::linear(x, w, Var(Tensor<float>(Shape{2}))), a2q::shape_error);
}

TEST_CASE("gradients accumulate over uses and steps, and zero_grad clears them", "[autograd][variable]") {
  Var a(Tensor<float>(Shape{2}, {1, 2}), true);
  // a is used twice: d(sum(a + a))/da = 2.
  a2q::sum(a2q::add(a, a)).backward();
  CHECK(a.grad() == Tensor<float>(Shape{2}, {2, 2}));
  a2q::sum(a).backward();
  CHECK(a.grad() == Tensor<float>(Shape{2}, {3, 3}));
  a.zero_grad();
  CHECK_FALSE(a.has_grad());
}

TEST_CASE("the graph is freed after a step and nothing records under NoGradGuard", "[autograd][variable]") {
  a2q::Rng rng(14);
  Var w = random_var(Shape{4, 4}, rng);
  std::weak_ptr<a2q::detail::Node> hidden;
  {
    const Var x = random_var(Shape{2, 4}, rng, false);
    const Var h = a2q::relu(a2q::linear(x, w));
    hidden = h.node();
    a2q::sum(h).backward();
  }
  CHECK(hidden.expired()); // no graph bookkeeping leaks between steps
  CHECK(w.has_grad());
  CHECK(w.node().use_count() == 1);

  a2q::NoGradGuard no_grad;
  const Var y = a2q::relu(w);
  CHECK_FALSE(y.requires_grad());
  CHECK(std::string(y.op()) == "leaf");
}

TEST_CASE("backward checks its arguments", "[autograd][variable]") {
  const Var constant(Tensor<float>(Shape{}, 1.0f));
  CHECK_THROWS_AS(Var(constant).backward(), a2q::config_error);
  Var w(Tensor<float>(Shape{3}), true);
  CHECK_THROWS_AS(a2q::relu(w).backward(), a2q::shape_error);
  CHECK_THROWS_AS(a2q::relu(w).backward(Tensor<float>(Shape{2})), a2q::shape_error);
  CHECK_THROWS_AS(Var().value(), a2q::config_error);
  const Var loss = a2q::sum(a2q::relu(w));
  loss.backward();
  CHECK_THROWS_AS(loss.backward(), a2q::config_error);
  CHECK_THROWS_AS(a2q::add(w, Var(Tensor<float>(Shape{4}))), a2q::shape_error);
}

TEST_CASE("deep graphs back-propagate without recursion", "[autograd][variable]") {
  Var a(Tensor<float>(Shape{1}, {1.0f}), true);
  Var h = a;
  for (int i = 0; i < 20000; ++i)
    h = a2q::scale(h, 1.0f);
  a2q::sum(h).backward();
  CHECK(a.grad()[0] == 1.0f);
}
