#pragma once
/// @file
/// nn::BatchNorm2d: per-channel normalisation with learned affine parameters and running statistics.

#include "a2q/autograd/batch_norm.hpp"
#include "a2q/nn/module.hpp"

namespace a2q::nn {

/// Batch normalisation over [N, C, H, W] (or [N, C]) inputs.
class BatchNorm2d : public Module {
public:
  explicit BatchNorm2d(std::int64_t channels, float momentum = 0.1f, float eps = 1e-5f)
      : momentum_(momentum), eps_(eps) {
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

  Var forward(const Var& x) override {
    return batch_norm2d(x, gamma, beta, running_mean, running_var, training(), momentum_, eps_);
  }
  std::string type_name() const override { return "BatchNorm2d"; }
  float eps() const { return eps_; }

  Var gamma;
  Var beta;
  Tensor<float> running_mean;
  Tensor<float> running_var;

private:
  float momentum_;
  float eps_;
};

} // namespace a2q::nn
