#pragma once
/// @file
/// Definitions for param_groups.hpp (see a2q/core/config.hpp).

#include "a2q/optim/param_groups.hpp"

#include "a2q/autograd/variable.hpp"
#include "a2q/core/error.hpp"
#include "a2q/optim/optimizer.hpp"

#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace a2q {

std::vector<ParamGroup> decay_groups(const std::vector<std::pair<std::string, Var>>& named_params,
                                     double weight_decay) {
  if (!std::isfinite(weight_decay) || weight_decay < 0.0)
    throw config_error("decay_groups: weight_decay must be finite and >= 0, got " +
                       std::to_string(weight_decay));
  ParamGroup decay{{}, weight_decay, 1.0, "decay"};
  ParamGroup no_decay{{}, 0.0, 1.0, "no_decay"};
  constexpr std::string_view suffix = "weight";
  for (const auto& [name, param] : named_params) {
    if (!param.defined())
      throw config_error("decay_groups: parameter '" + name + "' is an undefined Var");
    const bool is_weight = std::string_view(name).ends_with(suffix);
    if (is_weight && param.shape().rank() >= 2)
      decay.params.push_back(param);
    else
      no_decay.params.push_back(param);
  }
  return {std::move(decay), std::move(no_decay)};
}

} // namespace a2q
