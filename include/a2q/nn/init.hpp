#pragma once
/// @file
/// Weight initialisation from the seeded a2q::Rng (Kaiming/He and Xavier/Glorot).

#include "a2q/core/config.hpp"
#include "a2q/core/rng.hpp"
#include "a2q/core/tensor.hpp"

#include <cmath>
#include <string>

namespace a2q::nn::init {

/// Fan-in of a weight [out, in, ...]: in times the kernel size.
A2Q_DECL std::int64_t fan_in(const Shape& weight);

/// Fan-out of a weight [out, in, ...]: out times the kernel size.
A2Q_DECL std::int64_t fan_out(const Shape& weight);

/// He initialisation for ReLU networks: U(-b, b) with b = gain * sqrt(3 / fan_in), gain = sqrt(2).
A2Q_DECL void kaiming_uniform(Tensor<float>& w, Rng& rng, double gain = std::sqrt(2.0));

/// He initialisation, normal: N(0, gain^2 / fan_in).
A2Q_DECL void kaiming_normal(Tensor<float>& w, Rng& rng, double gain = std::sqrt(2.0));

/// Glorot initialisation: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).
A2Q_DECL void xavier_uniform(Tensor<float>& w, Rng& rng, double gain = 1.0);

/// Glorot initialisation, normal: N(0, gain^2 * 2 / (fan_in + fan_out)).
A2Q_DECL void xavier_normal(Tensor<float>& w, Rng& rng, double gain = 1.0);

} // namespace a2q::nn::init

#if A2Q_HEADER_ONLY
#include "a2q/nn/init.ipp"
#endif
