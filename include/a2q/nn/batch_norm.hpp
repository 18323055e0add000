#pragma once
/// @file
/// nn::BatchNorm2d: per-channel normalisation with learned affine parameters and running statistics.

#include "a2q/autograd/batch_norm.hpp"
#include "a2q/core/config.hpp"
#include "a2q/nn/module.hpp"

namespace a2q::nn {

/// Batch normalisation over [N, C, H, W] (or [N, C]) inputs.
class BatchNorm2d : public Module {
public:
  A2Q_DECL explicit BatchNorm2d(std::int64_t channels, float momentum = 0.1f, float eps = 1e-5f);

  Var forward(const Var& x) override {
    return batch_norm2d(x, gamma, beta, running_mean, running_var, training(), momentum_, eps_);
  }
  std::string type_name() const override { return "BatchNorm2d"; }
  float eps() const { return eps_; }
  float momentum() const { return momentum_; }
  std::int64_t channels() const { return gamma.shape().numel(); }

  Var gamma;
  Var beta;
  Tensor<float> running_mean;
  Tensor<float> running_var;

private:
  float momentum_;
  float eps_;
};

} // namespace a2q::nn

#if A2Q_HEADER_ONLY
#include "a2q/nn/batch_norm.ipp"
#endif
