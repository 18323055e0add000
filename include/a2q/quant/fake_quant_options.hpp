#pragma once
/// @file
/// The settings of a fake quantizer (quant::FakeQuantOptions) and LSQ's automatic gradient factor.

#include "a2q/core/rng.hpp"
#include "a2q/quant/int_format.hpp"
#include "a2q/quant/rounding.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace a2q::quant {

/// Settings of a fake quantizer.
struct FakeQuantOptions {
  IntFormat format; ///< the integer grid; must be set (the default IntFormat is invalid)
  RoundingMode rounding = RoundingMode::nearest_even;
  /// -1: one scale for the whole tensor (scale has 1 element). Otherwise the axis along which each
  /// index has its own scale (scale has dim(channel_axis) elements, in any shape, e.g. [C]).
  /// Other negative values are rejected: -1 never means "the last axis" here.
  int channel_axis = -1;
  /// Multiplies the scale gradient (LSQ's g). 0 = automatic: 1 / sqrt(numel_per_scale · qmax).
  double scale_grad_factor = 0.0;
  /// Source of randomness for RoundingMode::stochastic (required then, unused otherwise). Each call
  /// draws exactly one 64-bit word from it; element i's random number is a hash of (word, i).
  Rng* rng = nullptr;
};

/// LSQ's gradient scale g = 1 / sqrt(numel_per_scale · qmax) (Esser et al. 2020, section 2.2), which
/// keeps the scale's update comparable in size to the updates of the values it quantizes.
/// numel_per_scale below 1 is treated as 1.
inline double lsq_grad_factor(std::int64_t numel_per_scale, const IntFormat& format) {
  const double n = static_cast<double>(std::max<std::int64_t>(numel_per_scale, 1));
  return 1.0 / std::sqrt(n * static_cast<double>(format.qmax()));
}

} // namespace a2q::quant
