#pragma once
/// @file
/// Definitions for activation.hpp (see a2q/core/config.hpp).

#include "a2q/nn/activation.hpp"

#include "a2q/autograd/dropout.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/shape_ops.hpp"
#include "a2q/nn/module.hpp"

namespace a2q::nn {

Dropout::Dropout(float p, std::uint64_t seed) : p_(p), seed_(seed), rng_(seed) {
  if (!(p >= 0.0f && p < 1.0f))
    throw config_error("Dropout: p must be in [0, 1), got " + std::to_string(p));
}

} // namespace a2q::nn
