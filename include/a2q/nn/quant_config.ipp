#pragma once
/// @file
/// Definitions for quant_config.hpp (see a2q/core/config.hpp).

#include "a2q/nn/quant_config.hpp"

#include "a2q/quant/a2q_init.hpp"
#include "a2q/quant/method.hpp"
#include "a2q/quant/rounding.hpp"

#include <optional>
#include <string>

namespace a2q::nn {

quant::RoundingMode LayerQuantConfig::weight_rounding() const {
  if (rounding)
    return *rounding;
  return quant::is_accumulator_aware(method) ? quant::RoundingMode::toward_zero
                                             : quant::RoundingMode::nearest_even;
}

void LayerQuantConfig::validate() const {
  if (weight_bits < 2 || weight_bits > 16)
    throw config_error("weight bits must be in [2, 16], got " + std::to_string(weight_bits));
  if (accumulator_bits < 2 || accumulator_bits > 64)
    throw config_error("accumulator bits must be in [2, 64], got " + std::to_string(accumulator_bits));
  if (tile < 0 || (tile > 0) != (inner_bits > 0))
    throw config_error("a tile size (" + std::to_string(tile) + ") and an inner accumulator width (" +
                       std::to_string(inner_bits) + ") go together");
  if (tile > 0 && (inner_bits < 2 || inner_bits > accumulator_bits))
    throw config_error("the inner accumulator width " + std::to_string(inner_bits) +
                       " must be in [2, P = " + std::to_string(accumulator_bits) + "]");
  if (!(bias_fraction > 0.0 && bias_fraction < 1.0))
    throw config_error("bias_fraction must be in (0, 1), got " + std::to_string(bias_fraction));
  if (!(penalty_weight >= 0.0))
    throw config_error("penalty weight must be >= 0, got " + std::to_string(penalty_weight));
}

} // namespace a2q::nn
