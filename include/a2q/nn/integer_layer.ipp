#pragma once
/// @file
/// Definitions for integer_layer.hpp (see a2q/core/config.hpp).

#include "a2q/nn/integer_layer.hpp"

#include "a2q/core/tensor.hpp"
#include "a2q/quant/bounds.hpp"
#include "a2q/quant/method.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace a2q::nn {

int IntegerLayer::required_bits() const {
  int bits = 1;
  for (std::int64_t c = 0; c < out_channels; ++c)
    bits = std::max(bits, required_bits(c));
  return bits;
}

int IntegerLayer::required_inner_bits() const {
  int bits = 0;
  for (std::int64_t c = 0; tiled() && c < out_channels; ++c)
    bits = std::max(bits, required_inner_bits(c));
  return bits;
}

std::int64_t IntegerLayer::max_l1() const {
  std::int64_t best = 0;
  for (std::int64_t c = 0; c < out_channels; ++c) {
    std::int64_t l1 = 0;
    for (std::int32_t q : channel(c))
      l1 += std::abs(static_cast<std::int64_t>(q));
    best = std::max(best, l1);
  }
  return best;
}

double IntegerLayer::sparsity() const {
  if (weights.numel() == 0)
    return 0.0;
  return static_cast<double>(std::count(weights.begin(), weights.end(), 0)) /
         static_cast<double>(weights.numel());
}

} // namespace a2q::nn
