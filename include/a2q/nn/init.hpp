#pragma once
/// @file
/// Weight initialisation from the seeded a2q::Rng (Kaiming/He and Xavier/Glorot).

#include "a2q/core/rng.hpp"
#include "a2q/core/tensor.hpp"

#include <cmath>
#include <string>

namespace a2q::nn::init {

/// Fan-in of a weight [out, in, ...]: in times the kernel size.
inline std::int64_t fan_in(const Shape& weight) {
  if (weight.rank() < 2)
    throw shape_error("fan-in needs a weight of rank >= 2, got " + weight.to_string());
  return weight.numel() / weight[0];
}
/// Fan-out of a weight [out, in, ...]: out times the kernel size.
inline std::int64_t fan_out(const Shape& weight) {
  return weight.numel() / weight[1];
}

/// He initialisation for ReLU networks: U(-b, b) with b = gain * sqrt(3 / fan_in), gain = sqrt(2).
inline void kaiming_uniform(Tensor<float>& w, Rng& rng, double gain = std::sqrt(2.0)) {
  const double bound = gain * std::sqrt(3.0 / static_cast<double>(fan_in(w.shape())));
  w = Tensor<float>::uniform(w.shape(), static_cast<float>(-bound), static_cast<float>(bound), rng);
}
/// He initialisation, normal: N(0, gain^2 / fan_in).
inline void kaiming_normal(Tensor<float>& w, Rng& rng, double gain = std::sqrt(2.0)) {
  w = Tensor<float>::normal(w.shape(), 0.0, gain / std::sqrt(static_cast<double>(fan_in(w.shape()))), rng);
}
/// Glorot initialisation: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).
inline void xavier_uniform(Tensor<float>& w, Rng& rng, double gain = 1.0) {
  const auto fans = static_cast<double>(fan_in(w.shape()) + fan_out(w.shape()));
  const double bound = gain * std::sqrt(6.0 / fans);
  w = Tensor<float>::uniform(w.shape(), static_cast<float>(-bound), static_cast<float>(bound), rng);
}
/// Glorot initialisation, normal: N(0, gain^2 * 2 / (fan_in + fan_out)).
inline void xavier_normal(Tensor<float>& w, Rng& rng, double gain = 1.0) {
  const auto fans = static_cast<double>(fan_in(w.shape()) + fan_out(w.shape()));
  w = Tensor<float>::normal(w.shape(), 0.0, gain * std::sqrt(2.0 / fans), rng);
}

} // namespace a2q::nn::init
