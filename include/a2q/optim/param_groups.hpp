#pragma once
/// @file
/// a2q::decay_groups: splits named parameters into a weight-decay group and a no-decay group.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/error.hpp"
#include "a2q/optim/optimizer.hpp"

#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace a2q {

/// Splits `named_params` into two groups, in this order:
///  - "decay": parameters whose name ends with "weight" and whose rank is >= 2 (dense and convolution
///    weights), with weight decay `weight_decay`;
///  - "no_decay": everything else (biases, normalisation weights of rank 1, quantizer scales, ...),
///    without weight decay.
/// Both groups are returned even when one is empty, so that optimizer state names stay stable.
/// Parameters keep their relative order within each group.
/// @param named_params (name, parameter) pairs as modules provide them; every Var must be defined.
/// @param weight_decay decay of the first group (finite, >= 0).
inline std::vector<ParamGroup> decay_groups(const std::vector<std::pair<std::string, Var>>& named_params,
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
