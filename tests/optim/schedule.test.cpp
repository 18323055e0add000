#include "a2q/optim/schedule.hpp"
#include "a2q/optim/sgd.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <type_traits>

using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

TEST_CASE("schedules are copyable values", "[optim][schedule]") {
  STATIC_REQUIRE(std::is_copy_constructible_v<a2q::LRSchedule>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<a2q::LRSchedule>);
  a2q::LRSchedule s = a2q::constant_lr(0.1);
  const a2q::LRSchedule copy = s;
  s = a2q::constant_lr(0.2);
  CHECK(copy.lr_at(5) == 0.1);
  CHECK(s(5) == 0.2);
  const a2q::LRSchedule custom([](std::int64_t step) { return 1.0 / static_cast<double>(step + 1); });
  CHECK(custom.lr_at(3) == 0.25);
  CHECK_THROWS_WITH(a2q::LRSchedule(std::function<double(std::int64_t)>()), Contains("empty"));
  CHECK_THROWS_WITH(custom.lr_at(-1), Contains("-1"));
}

TEST_CASE("constant_lr", "[optim][schedule]") {
  const a2q::LRSchedule s = a2q::constant_lr(0.05);
  CHECK(s.lr_at(0) == 0.05);
  CHECK(s.lr_at(1'000'000'000) == 0.05);
  CHECK_THROWS_WITH(a2q::constant_lr(-0.1), Contains("constant_lr") && Contains("-0.1"));
  CHECK_THROWS_AS(a2q::constant_lr(NAN), a2q::config_error);
}

TEST_CASE("step_lr decays by gamma at each boundary", "[optim][schedule]") {
  const a2q::LRSchedule s = a2q::step_lr(0.1, 30, 0.1);
  CHECK(s.lr_at(0) == 0.1);
  CHECK(s.lr_at(29) == 0.1);
  CHECK_THAT(s.lr_at(30), WithinRel(0.01, 1e-12));
  CHECK_THAT(s.lr_at(59), WithinRel(0.01, 1e-12));
  CHECK_THAT(s.lr_at(60), WithinRel(0.001, 1e-12));
  CHECK_THAT(a2q::step_lr(1.0, 1, 0.5).lr_at(10), WithinRel(1.0 / 1024.0, 1e-12));
  CHECK_THROWS_WITH(a2q::step_lr(0.1, 0, 0.1), Contains("step_size") && Contains("0"));
  CHECK_THROWS_WITH(a2q::step_lr(0.1, -3, 0.1), Contains("-3"));
  CHECK_THROWS_WITH(a2q::step_lr(0.1, 10, 0.0), Contains("gamma"));
  CHECK_THROWS_WITH(a2q::step_lr(-1.0, 10, 0.5), Contains("base") && Contains("-1.0"));
}

TEST_CASE("cosine_lr anneals from base to min_lr and stays there", "[optim][schedule]") {
  const double base = 0.1, min_lr = 0.002;
  const a2q::LRSchedule s = a2q::cosine_lr(base, 100, min_lr);
  CHECK(s.lr_at(0) == base);
  CHECK_THAT(s.lr_at(50), WithinRel((base + min_lr) / 2.0, 1e-12));
  CHECK_THAT(s.lr_at(25), WithinRel(min_lr + (base - min_lr) * (1.0 + std::sqrt(0.5)) / 2.0, 1e-12));
  CHECK_THAT(s.lr_at(99), WithinAbs(min_lr, 1e-4));
  CHECK(s.lr_at(99) > min_lr);
  CHECK(s.lr_at(100) == min_lr);
  CHECK(s.lr_at(10'000) == min_lr);
  for (std::int64_t step = 1; step <= 100; ++step)
    CHECK(s.lr_at(step) < s.lr_at(step - 1));
  CHECK_THAT(a2q::cosine_lr(1.0, 10).lr_at(5), WithinRel(0.5, 1e-12));
  CHECK(a2q::cosine_lr(1.0, 10).lr_at(10) == 0.0);
  CHECK_THROWS_WITH(a2q::cosine_lr(0.1, 0), Contains("total_steps") && Contains("0"));
  CHECK_THROWS_WITH(a2q::cosine_lr(0.1, 10, 0.2), Contains("min_lr") && Contains("0.2"));
  CHECK_THROWS_WITH(a2q::cosine_lr(0.1, 10, -0.01), Contains("min_lr") && Contains("-0.01"));
}

TEST_CASE("with_linear_warmup ramps up to the inner schedule", "[optim][schedule]") {
  const a2q::LRSchedule warm = a2q::with_linear_warmup(a2q::constant_lr(0.4), 4);
  CHECK_THAT(warm.lr_at(0), WithinRel(0.1, 1e-12));
  CHECK_THAT(warm.lr_at(1), WithinRel(0.2, 1e-12));
  CHECK_THAT(warm.lr_at(2), WithinRel(0.3, 1e-12));
  CHECK(warm.lr_at(3) == 0.4);
  CHECK(warm.lr_at(4) == 0.4);
  CHECK(warm.lr_at(100) == 0.4);

  // The inner schedule keeps its own clock: the cosine still ends at its total.
  const a2q::LRSchedule inner = a2q::cosine_lr(1.0, 100, 0.0);
  const a2q::LRSchedule cos_warm = a2q::with_linear_warmup(inner, 10);
  CHECK_THAT(cos_warm.lr_at(0), WithinRel(inner.lr_at(0) / 10.0, 1e-12));
  CHECK_THAT(cos_warm.lr_at(4), WithinRel(inner.lr_at(4) * 0.5, 1e-12));
  CHECK(cos_warm.lr_at(9) == inner.lr_at(9));
  CHECK(cos_warm.lr_at(50) == inner.lr_at(50));
  CHECK(cos_warm.lr_at(100) == 0.0);

  CHECK(a2q::with_linear_warmup(inner, 0).lr_at(0) == 1.0);
  CHECK_THROWS_WITH(a2q::with_linear_warmup(inner, -5), Contains("warmup_steps") && Contains("-5"));
  CHECK_THROWS_AS(cos_warm.lr_at(-1), a2q::config_error);
}

TEST_CASE("a schedule drives an optimizer per batch", "[optim][schedule]") {
  a2q::Var w(a2q::Tensor<float>(a2q::Shape{1}, 0.0f), true);
  a2q::SGD sgd(std::vector<a2q::Var>{w}, a2q::SGDOptions{1.0});
  const a2q::LRSchedule schedule = a2q::step_lr(1.0, 2, 0.5);
  double expected = 0.0;
  for (std::int64_t step = 0; step < 6; ++step) {
    sgd.set_lr(schedule.lr_at(step));
    w.grad() = a2q::Tensor<float>(a2q::Shape{1}, -1.0f);
    sgd.step();
    expected += schedule.lr_at(step);
  }
  CHECK_THAT(w.value()[0], WithinRel(expected, 1e-6)); // 1 + 1 + 0.5 + 0.5 + 0.25 + 0.25
  CHECK(expected == 3.5);
}
