#include "a2q/optim/optimizer.hpp"
#include "a2q/optim/adam.hpp"
#include "a2q/optim/sgd.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

using Catch::Matchers::Contains;
using Catch::Matchers::WithinRel;

namespace {

a2q::Tensor<float> ramp(const a2q::Shape& shape, float start, float delta) {
  a2q::Tensor<float> t(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i)
    t[i] = start + delta * static_cast<float>(i);
  return t;
}

/// A small model: a weight, a bias and a scale, with values that differ per element.
struct Params {
  a2q::Var weight{ramp(a2q::Shape{3, 2}, -1.0f, 0.4f), true};
  a2q::Var bias{ramp(a2q::Shape{3}, 0.5f, -0.3f), true};
  a2q::Var scale{a2q::Tensor<float>(a2q::Shape{1}, 2.0f), true};

  Params() = default;
  /// Independent parameters holding copies of `other`'s values.
  explicit Params(const Params& other, int)
      : weight(other.weight.value(), true), bias(other.bias.value(), true), scale(other.scale.value(), true) {
  }

  std::vector<a2q::ParamGroup> groups() const {
    return {a2q::ParamGroup{{weight}, 0.01, 1.0, "decay"},
            a2q::ParamGroup{{bias, scale}, 0.0, 0.5, "no_decay"}};
  }

  /// Gradients for step k; the scale gets none on odd steps.
  void set_grads(int k) {
    weight.grad() = ramp(weight.shape(), 0.3f * static_cast<float>(k) - 0.5f, 0.25f);
    bias.grad() = ramp(bias.shape(), std::sin(static_cast<float>(k)), -0.6f);
    if (k % 2 == 0)
      scale.grad() = a2q::Tensor<float>(scale.shape(), 0.1f * static_cast<float>(k + 1));
    else
      scale.zero_grad();
  }

  bool operator==(const Params& o) const {
    return weight.value() == o.weight.value() && bias.value() == o.bias.value() &&
           scale.value() == o.scale.value();
  }
};

enum class Kind { sgd, sgd_nesterov, adam, adamw };

std::unique_ptr<a2q::Optimizer> make(Kind kind, std::vector<a2q::ParamGroup> groups) {
  switch (kind) {
  case Kind::sgd:
    return std::make_unique<a2q::SGD>(std::move(groups), a2q::SGDOptions{0.1, 0.9, false, 0.1});
  case Kind::sgd_nesterov:
    return std::make_unique<a2q::SGD>(std::move(groups), a2q::SGDOptions{0.1, 0.9, true});
  case Kind::adam:
    return std::make_unique<a2q::Adam>(std::move(groups), a2q::AdamOptions{0.05});
  case Kind::adamw:
    return std::make_unique<a2q::AdamW>(std::move(groups), a2q::AdamOptions{0.05});
  }
  return nullptr;
}

const a2q::Tensor<float>* find(const a2q::OptimizerState& st, const std::string& name) {
  for (const auto& [n, t] : st)
    if (n == name)
      return &t;
  return nullptr;
}

} // namespace

TEST_CASE("optimizers are polymorphic through a2q::Optimizer", "[optim][optimizer]") {
  STATIC_REQUIRE(std::is_abstract_v<a2q::Optimizer>);
  STATIC_REQUIRE(std::has_virtual_destructor_v<a2q::Optimizer>);
  STATIC_REQUIRE(std::is_base_of_v<a2q::Optimizer, a2q::SGD>);
  STATIC_REQUIRE(std::is_base_of_v<a2q::Optimizer, a2q::AdamW>);
  STATIC_REQUIRE_FALSE(std::is_constructible_v<a2q::Optimizer>);
}

TEST_CASE("parameters without a gradient are left untouched", "[optim][optimizer]") {
  const Kind kind = GENERATE(Kind::sgd, Kind::sgd_nesterov, Kind::adam, Kind::adamw);
  CAPTURE(static_cast<int>(kind));
  Params p;
  const a2q::Tensor<float> bias_before = p.bias.value();
  auto opt = make(kind, p.groups());
  p.weight.grad() = a2q::Tensor<float>(p.weight.shape(), 1.0f);
  opt->step();
  opt->step();
  CHECK(p.bias.value() == bias_before);
  CHECK_FALSE(p.weight.value() == ramp(a2q::Shape{3, 2}, -1.0f, 0.4f));
  const a2q::OptimizerState st = opt->state();
  REQUIRE(find(st, "group0.param0.step") != nullptr);
  CHECK((*find(st, "group0.param0.step"))[0] == 2.0f);
  CHECK((*find(st, "group1.param0.step"))[0] == 0.0f);
  CHECK((*find(st, "step"))[0] == 2.0f);
  CHECK(opt->step_count() == 2);
  for (const auto& [name, t] : st)
    CHECK((name.rfind("group1.", 0) != 0 || name.ends_with(".step")));
}

TEST_CASE("zero_grad drops every gradient and step restores grad mode", "[optim][optimizer]") {
  Params p;
  a2q::SGD sgd(p.groups(), a2q::SGDOptions{0.1});
  p.set_grads(0);
  REQUIRE(p.scale.has_grad());
  {
    a2q::NoGradGuard outer;
    sgd.step();
    CHECK_FALSE(a2q::grad_enabled());
  }
  sgd.step();
  CHECK(a2q::grad_enabled());
  CHECK(std::string(p.weight.op()) == "leaf");
  sgd.zero_grad();
  CHECK_FALSE(p.weight.has_grad());
  CHECK_FALSE(p.bias.has_grad());
  CHECK_FALSE(p.scale.has_grad());
}

TEST_CASE("set_lr takes effect at the next step and lr_scale scales per group", "[optim][optimizer]") {
  a2q::Var a(a2q::Tensor<float>(a2q::Shape{2}, 1.0f), true);
  a2q::Var b(a2q::Tensor<float>(a2q::Shape{2}, 1.0f), true);
  a2q::SGD sgd({a2q::ParamGroup{{a}}, a2q::ParamGroup{{b}, 0.0, 0.25}}, a2q::SGDOptions{0.4});
  CHECK(sgd.lr() == 0.4);
  auto grads = [&] {
    a.grad() = a2q::Tensor<float>(a2q::Shape{2}, 1.0f);
    b.grad() = a2q::Tensor<float>(a2q::Shape{2}, 1.0f);
  };
  grads();
  sgd.step();
  CHECK_THAT(a.value()[0], WithinRel(0.6f, 1e-6f));
  CHECK_THAT(b.value()[0], WithinRel(0.9f, 1e-6f));
  sgd.set_lr(0.04);
  CHECK(sgd.lr() == 0.04);
  grads();
  sgd.step();
  CHECK_THAT(a.value()[1], WithinRel(0.56f, 1e-6f));
  CHECK_THAT(b.value()[1], WithinRel(0.89f, 1e-6f));
  sgd.set_lr(0.0);
  grads();
  sgd.step();
  CHECK_THAT(a.value()[1], WithinRel(0.56f, 1e-6f));
  CHECK_THROWS_WITH(sgd.set_lr(-0.5), Contains("-0.5"));
  CHECK_THROWS_AS(sgd.set_lr(INFINITY), a2q::config_error);
  CHECK(sgd.lr() == 0.0);
}

TEST_CASE("groups() exposes the groups with their settings", "[optim][optimizer]") {
  Params p;
  a2q::AdamW adamw(p.groups());
  REQUIRE(adamw.groups().size() == 2);
  CHECK(adamw.groups()[0].name == "decay");
  CHECK(adamw.groups()[0].weight_decay == 0.01);
  CHECK(adamw.groups()[1].lr_scale == 0.5);
  CHECK(adamw.groups()[1].params[1].node() == p.scale.node());
}

TEST_CASE("optimizers reject bad parameter groups", "[optim][optimizer]") {
  a2q::Var w(a2q::Tensor<float>(a2q::Shape{2, 2}), true);
  a2q::Var b(a2q::Tensor<float>(a2q::Shape{2}), true);
  const a2q::SGDOptions o{0.1};
  CHECK_THROWS_WITH(a2q::SGD({a2q::ParamGroup{{w}, -0.1, 1.0, "fc"}}, o),
                    Contains("group 0 'fc'") && Contains("weight_decay") && Contains("-0.1"));
  CHECK_THROWS_WITH(a2q::SGD({a2q::ParamGroup{{w}}, a2q::ParamGroup{{b}, 0.0, -2.0}}, o),
                    Contains("group 1") && Contains("lr_scale") && Contains("-2.0"));
  CHECK_THROWS_WITH(a2q::SGD({a2q::ParamGroup{{w, b}}, a2q::ParamGroup{{w}}}, o),
                    Contains("group 1") && Contains("[2, 2]") && Contains("more than once"));
  CHECK_THROWS_WITH(a2q::SGD(std::vector<a2q::Var>{b, a2q::Var()}, o),
                    Contains("parameter 1") && Contains("undefined"));
  CHECK_THROWS_WITH(a2q::Adam(std::vector<a2q::ParamGroup>{a2q::ParamGroup{}}), Contains("no parameters"));
  // An empty group among others is fine (e.g. a model without biases).
  CHECK_NOTHROW(a2q::SGD({a2q::ParamGroup{{w}}, a2q::ParamGroup{}}, o));
}

TEST_CASE("state()/load_state() resume training bit-identically", "[optim][optimizer][state]") {
  const Kind kind = GENERATE(Kind::sgd, Kind::sgd_nesterov, Kind::adam, Kind::adamw);
  CAPTURE(static_cast<int>(kind));
  Params a;
  auto opt_a = make(kind, a.groups());
  for (int k = 0; k < 3; ++k) {
    a.set_grads(k);
    opt_a->step();
  }
  // Checkpoint: parameter values and optimizer state, restored into fresh objects.
  Params b(a, 0);
  auto opt_b = make(kind, b.groups());
  opt_b->load_state(opt_a->state());
  CHECK(opt_b->step_count() == 3);
  for (int k = 3; k < 8; ++k) {
    a.set_grads(k);
    b.set_grads(k);
    opt_a->step();
    opt_b->step();
  }
  CHECK(a == b);
  const a2q::OptimizerState sa = opt_a->state(), sb = opt_b->state();
  REQUIRE(sa.size() == sb.size());
  for (std::size_t i = 0; i < sa.size(); ++i) {
    CHECK(sa[i].first == sb[i].first);
    CHECK(sa[i].second == sb[i].second);
  }

  // Without the restored state the continuation differs (the test can tell).
  Params c(a, 0);
  Params d(a, 0);
  auto opt_c = make(kind, c.groups());
  opt_c->load_state(opt_a->state());
  auto opt_d = make(kind, d.groups());
  c.set_grads(8);
  d.set_grads(8);
  opt_c->step();
  opt_d->step();
  CHECK_FALSE(c == d);
}

TEST_CASE("state() names every tensor", "[optim][optimizer][state]") {
  Params p;
  a2q::Adam adam(p.groups());
  p.set_grads(0);
  adam.step();
  std::vector<std::string> names;
  for (const auto& [name, t] : adam.state())
    names.push_back(name);
  CHECK(names == std::vector<std::string>{
                     "step", "group0.param0.step", "group0.param0.exp_avg", "group0.param0.exp_avg_sq",
                     "group1.param0.step", "group1.param0.exp_avg", "group1.param0.exp_avg_sq",
                     "group1.param1.step", "group1.param1.exp_avg", "group1.param1.exp_avg_sq"});
  CHECK(find(adam.state(), "group0.param0.exp_avg")->shape() == a2q::Shape{3, 2});
}

TEST_CASE("load_state rejects mismatched state and keeps the current one", "[optim][optimizer][state]") {
  Params p;
  a2q::Adam adam(p.groups());
  p.set_grads(0);
  adam.step();
  const a2q::OptimizerState good = adam.state();

  Params q;
  a2q::Adam target(q.groups());
  q.set_grads(1);
  target.step();
  const a2q::OptimizerState before = target.state();

  auto with = [&](auto edit) {
    a2q::OptimizerState st = good;
    edit(st);
    return st;
  };
  auto entry = [](a2q::OptimizerState& st, const std::string& name) -> a2q::Tensor<float>& {
    for (auto& [n, t] : st)
      if (n == name)
        return t;
    throw std::logic_error("no entry " + name);
  };

  SECTION("a buffer of the wrong shape") {
    const auto st =
        with([&](auto& s) { entry(s, "group1.param0.exp_avg") = a2q::Tensor<float>(a2q::Shape{4}); });
    CHECK_THROWS_WITH(target.load_state(st), Contains("group1.param0.exp_avg") && Contains("[4]") &&
                                                 Contains("[3]") && Contains("no_decay"));
  }
  SECTION("a missing entry") {
    const auto st = with([](auto& s) { s.erase(s.begin() + 3); });
    CHECK_THROWS_WITH(target.load_state(st), Contains("group0.param0.exp_avg_sq") && Contains("missing"));
    const auto st2 = with([](auto& s) { s.erase(s.begin() + 4); });
    CHECK_THROWS_WITH(target.load_state(st2), Contains("group1.param0.step") && Contains("missing"));
  }
  SECTION("an unexpected or repeated entry") {
    const auto st =
        with([](auto& s) { s.emplace_back("group2.param0.step", a2q::Tensor<float>(a2q::Shape{1})); });
    CHECK_THROWS_WITH(target.load_state(st), Contains("unexpected") && Contains("group2.param0.step"));
    const auto st2 = with([](auto& s) { s.push_back(s[1]); });
    CHECK_THROWS_WITH(target.load_state(st2), Contains("group0.param0.step") && Contains("more than once"));
  }
  SECTION("a bad counter") {
    const auto st = with([&](auto& s) { entry(s, "group0.param0.step")[0] = 1.5f; });
    CHECK_THROWS_WITH(target.load_state(st), Contains("group0.param0.step") && Contains("1.5"));
    const auto st2 = with([&](auto& s) { entry(s, "step") = a2q::Tensor<float>(a2q::Shape{2}); });
    CHECK_THROWS_WITH(target.load_state(st2), Contains("'step'") && Contains("[2]"));
    const auto st3 = with([&](auto& s) { entry(s, "group1.param1.step")[0] = 0.0f; });
    CHECK_THROWS_WITH(target.load_state(st3), Contains("group1.param1.exp_avg") && Contains("step' is 0"));
  }
  SECTION("state from another kind of optimizer") {
    Params r;
    a2q::SGD sgd(r.groups(), a2q::SGDOptions{0.1, 0.9});
    r.set_grads(0);
    sgd.step();
    CHECK_THROWS_AS(target.load_state(sgd.state()), a2q::config_error);
    CHECK_THROWS_WITH(sgd.load_state(good), Contains("momentum_buffer") || Contains("exp_avg"));
  }
  SECTION("state from a model with other parameters") {
    a2q::Var w(a2q::Tensor<float>(a2q::Shape{3, 2}), true);
    a2q::Adam small(std::vector<a2q::Var>{w});
    CHECK_THROWS_AS(target.load_state(small.state()), a2q::config_error);
  }
  const a2q::OptimizerState after = target.state();
  REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < after.size(); ++i)
    CHECK(after[i].second == before[i].second);
  CHECK(target.step_count() == 1);
}

TEST_CASE("a fresh optimizer's state loads into another fresh optimizer", "[optim][optimizer][state]") {
  Params p, q;
  a2q::SGD a(p.groups(), a2q::SGDOptions{0.1, 0.5});
  a2q::SGD b(q.groups(), a2q::SGDOptions{0.1, 0.5});
  CHECK(a.state().size() == 4);
  CHECK_NOTHROW(b.load_state(a.state()));
}
