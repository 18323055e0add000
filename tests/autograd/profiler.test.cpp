#include "a2q/autograd/ops.hpp"

#include <catch2/catch.hpp>

#include <string>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;

namespace {

const a2q::OpTiming* find(const std::vector<a2q::OpTiming>& timings, const std::string& op) {
  for (const a2q::OpTiming& t : timings)
    if (t.op == op)
      return &t;
  return nullptr;
}

} // namespace

TEST_CASE("OpProfiler counts and times every operation, forward and backward", "[autograd][profiler]") {
  a2q::Rng rng(7);
  const Var w(Tensor<float>::uniform(Shape{4, 3}, -1.0f, 1.0f, rng), true);
  const Var x(Tensor<float>::uniform(Shape{5, 3}, -1.0f, 1.0f, rng));
  std::vector<a2q::OpTiming> timings;
  {
    a2q::OpProfiler profiler;
    for (int step = 0; step < 3; ++step) {
      profiler.mark();
      a2q::sum(a2q::relu(a2q::linear(x, w, Var()))).backward();
    }
    profiler.add("(optimizer)", 0.25, true);
    timings = profiler.timings();
  }
  for (const char* op : {"linear", "relu", "sum"}) {
    INFO(op);
    const a2q::OpTiming* t = find(timings, op);
    REQUIRE(t != nullptr);
    CHECK(t->forward_calls == 3);
    CHECK(t->backward_calls == 3);
    CHECK(t->forward_seconds >= 0.0);
    CHECK(t->backward_seconds >= 0.0);
  }
  // What the caller adds is kept, and the most expensive entry comes first.
  REQUIRE(find(timings, "(optimizer)") != nullptr);
  CHECK(find(timings, "(optimizer)")->backward_seconds == 0.25);
  CHECK(timings.front().op == "(optimizer)");
  CHECK(find(timings, "leaf") == nullptr);
}

TEST_CASE("OpProfiler records nothing when it is not alive, and does not nest", "[autograd][profiler]") {
  const Var a(Tensor<float>(Shape{2}, 1.0f), true);
  {
    a2q::OpProfiler profiler;
    CHECK_THROWS_AS(a2q::OpProfiler(), a2q::config_error);
    CHECK(profiler.timings().empty());
  }
  a2q::sum(a).backward(); // no profiler: must not touch the destroyed one
  a2q::OpProfiler later;
  CHECK(later.timings().empty());
  a2q::sum(a).backward();
  REQUIRE(later.timings().size() == 1);
  CHECK(later.timings()[0].op == "sum");
}
