#pragma once
/// @file
/// Definitions for linear.hpp (see a2q/core/config.hpp).

#include "a2q/nn/linear.hpp"

#include "a2q/autograd/linear.hpp"
#include "a2q/nn/init.hpp"
#include "a2q/nn/module.hpp"

namespace a2q::nn {

Linear::Linear(std::int64_t in_features, std::int64_t out_features, Rng& rng, bool with_bias)
    : in_features_(in_features), out_features_(out_features) {
  if (in_features < 1 || out_features < 1)
    throw config_error("Linear: features must be >= 1, got in " + std::to_string(in_features) + ", out " +
                       std::to_string(out_features));
  Tensor<float> w(Shape{out_features, in_features});
  init::kaiming_uniform(w, rng);
  weight = Var(std::move(w), true);
  register_parameter("weight", weight);
  if (with_bias) {
    this->bias = Var(Tensor<float>(Shape{out_features}), true);
    register_parameter("bias", this->bias);
  }
}

} // namespace a2q::nn
