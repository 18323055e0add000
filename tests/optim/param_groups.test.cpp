#include "a2q/optim/param_groups.hpp"
#include "a2q/optim/adam.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

using Catch::Matchers::Contains;

namespace {
a2q::Var param(const a2q::Shape& shape) {
  return a2q::Var(a2q::Tensor<float>(shape), true);
}
} // namespace

TEST_CASE("decay_groups decays rank >= 2 weights only", "[optim][param_groups]") {
  const std::vector<std::pair<std::string, a2q::Var>> named{{"conv1.weight", param({8, 3, 3, 3})},
                                                            {"conv1.bias", param({8})},
                                                            {"bn1.weight", param({8})},
                                                            {"bn1.bias", param({8})},
                                                            {"fc.weight", param({10, 72})},
                                                            {"fc.bias", param({10})},
                                                            {"fc.weight_scale", param({10, 1})},
                                                            {"act.scale", param({1})},
                                                            {"fc.norm", param({10, 1})},
                                                            {"weight", param({2, 2})}};
  const std::vector<a2q::ParamGroup> groups = a2q::decay_groups(named, 5e-4);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].name == "decay");
  CHECK(groups[0].weight_decay == 5e-4);
  CHECK(groups[0].lr_scale == 1.0);
  CHECK(groups[1].name == "no_decay");
  CHECK(groups[1].weight_decay == 0.0);

  auto nodes = [](const a2q::ParamGroup& g) {
    std::vector<const a2q::detail::Node*> out;
    for (const a2q::Var& v : g.params)
      out.push_back(v.node().get());
    return out;
  };
  auto node_of = [&](std::size_t i) -> const a2q::detail::Node* { return named[i].second.node().get(); };
  CHECK(nodes(groups[0]) == std::vector<const a2q::detail::Node*>{node_of(0), node_of(4), node_of(9)});
  CHECK(nodes(groups[1]) == std::vector<const a2q::detail::Node*>{node_of(1), node_of(2), node_of(3),
                                                                  node_of(5), node_of(6), node_of(7),
                                                                  node_of(8)});
}

TEST_CASE("decay_groups always returns both groups and feeds an optimizer", "[optim][param_groups]") {
  const std::vector<std::pair<std::string, a2q::Var>> only_biases{{"fc.bias", param({3})}};
  const std::vector<a2q::ParamGroup> groups = a2q::decay_groups(only_biases, 0.1);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].params.empty());
  CHECK(groups[1].params.size() == 1);

  a2q::Var w = param({2, 2});
  a2q::Var b = param({2});
  a2q::AdamW adamw(a2q::decay_groups({{"fc.weight", w}, {"fc.bias", b}}, 0.5), a2q::AdamOptions{0.1});
  w.value().fill(1.0f);
  b.value().fill(1.0f);
  w.grad() = a2q::Tensor<float>(w.shape(), 0.0f);
  b.grad() = a2q::Tensor<float>(b.shape(), 0.0f);
  adamw.step();
  CHECK(w.value()[0] == 0.95f); // decayed: 1 - 0.1 * 0.5
  CHECK(b.value()[0] == 1.0f);  // not decayed
}

TEST_CASE("decay_groups rejects bad input", "[optim][param_groups]") {
  CHECK_THROWS_WITH(a2q::decay_groups({{"fc.weight", param({2, 2})}}, -1e-4),
                    Contains("weight_decay") && Contains("-0.0001"));
  CHECK_THROWS_WITH(a2q::decay_groups({{"fc.weight", a2q::Var()}}, 0.1), Contains("fc.weight"));
}
