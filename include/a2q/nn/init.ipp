#pragma once
/// @file
/// Definitions for init.hpp (see a2q/core/config.hpp).

#include "a2q/nn/init.hpp"

#include "a2q/core/rng.hpp"
#include "a2q/core/tensor.hpp"

#include <cmath>
#include <string>

namespace a2q::nn::init {

std::int64_t fan_in(const Shape& weight) {
  if (weight.rank() < 2)
    throw shape_error("fan-in needs a weight of rank >= 2, got " + weight.to_string());
  return weight.numel() / weight[0];
}

std::int64_t fan_out(const Shape& weight) {
  return weight.numel() / weight[1];
}

void kaiming_uniform(Tensor<float>& w, Rng& rng, double gain) {
  const double bound = gain * std::sqrt(3.0 / static_cast<double>(fan_in(w.shape())));
  w = Tensor<float>::uniform(w.shape(), static_cast<float>(-bound), static_cast<float>(bound), rng);
}

void kaiming_normal(Tensor<float>& w, Rng& rng, double gain) {
  w = Tensor<float>::normal(w.shape(), 0.0, gain / std::sqrt(static_cast<double>(fan_in(w.shape()))), rng);
}

void xavier_uniform(Tensor<float>& w, Rng& rng, double gain) {
  const auto fans = static_cast<double>(fan_in(w.shape()) + fan_out(w.shape()));
  const double bound = gain * std::sqrt(6.0 / fans);
  w = Tensor<float>::uniform(w.shape(), static_cast<float>(-bound), static_cast<float>(bound), rng);
}

void xavier_normal(Tensor<float>& w, Rng& rng, double gain) {
  const auto fans = static_cast<double>(fan_in(w.shape()) + fan_out(w.shape()));
  w = Tensor<float>::normal(w.shape(), 0.0, gain * std::sqrt(2.0 / fans), rng);
}

} // namespace a2q::nn::init
