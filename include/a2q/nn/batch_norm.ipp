#pragma once
/// @file
/// Definitions for batch_norm.hpp (see a2q/core/config.hpp).

#include "a2q/nn/batch_norm.hpp"

#include "a2q/autograd/batch_norm.hpp"
#include "a2q/nn/module.hpp"

namespace a2q::nn {

BatchNorm2d::BatchNorm2d(std::int64_t channels, float momentum, float eps) : momentum_(momentum), eps_(eps) {
  if (channels < 1)
    throw config_error("BatchNorm2d: channels must be >= 1, got " + std::to_string(channels));
  if (!(momentum >= 0.0f && momentum <= 1.0f) || !(eps > 0.0f))
    throw config_error("BatchNorm2d: momentum must be in [0, 1] and eps > 0, got momentum " +
                       std::to_string(momentum) + ", eps " + std::to_string(eps));
  gamma = Var(Tensor<float>(Shape{channels}, 1.0f), true);
  beta = Var(Tensor<float>(Shape{channels}), true);
  running_mean = Tensor<float>(Shape{channels});
  running_var = Tensor<float>(Shape{channels}, 1.0f);
  register_parameter("weight", gamma);
  register_parameter("bias", beta);
  register_buffer("running_mean", running_mean);
  register_buffer("running_var", running_var);
}

} // namespace a2q::nn
