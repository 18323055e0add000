#pragma once
/// @file
/// Definitions for rounding.hpp (see a2q/core/config.hpp).

#include "a2q/quant/rounding.hpp"

#include "a2q/core/error.hpp"
#include "a2q/core/rng.hpp"
#include "a2q/core/tensor.hpp"

#include <array>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace a2q::quant {

RoundingMode parse_rounding_mode(std::string_view name) {
  for (const RoundingMode mode : all_rounding_modes)
    if (to_string(mode) == name)
      return mode;
  std::string valid;
  for (const RoundingMode mode : all_rounding_modes) {
    if (!valid.empty())
      valid += ", ";
    valid += to_string(mode);
  }
  throw config_error("unknown rounding mode '" + std::string(name) + "'; valid modes are " + valid);
}

float round_value(float x, RoundingMode mode) {
  a2q::detail::require_deterministic_rounding(mode, "round_value");
  return a2q::detail::dispatch_rounding(mode, [x](auto m) -> float {
    if constexpr (decltype(m)::value == RoundingMode::stochastic)
      return x; // unreachable: rejected above
    else
      return a2q::detail::round_as<decltype(m)::value>(x);
  });
}

float round_value(float x, RoundingMode mode, Rng& rng) {
  if (mode != RoundingMode::stochastic)
    return round_value(x, mode);
  return a2q::detail::round_stochastic(x, rng.uniform01());
}

void round_inplace(std::span<float> values, RoundingMode mode) {
  a2q::detail::require_deterministic_rounding(mode, "round_inplace");
  float* v = values.data();
  const auto n = static_cast<std::int64_t>(values.size());
  a2q::detail::dispatch_rounding(mode, [v, n](auto m) {
    constexpr RoundingMode M = decltype(m)::value;
    if constexpr (M != RoundingMode::stochastic) {
      std::int64_t i = 0;
      for (; i + a2q::detail::quant_vector_step <= n; i += a2q::detail::quant_vector_step)
        for (int j = 0; j < a2q::detail::quant_vector_step; ++j)
          v[i + j] = a2q::detail::round_as<M>(v[i + j]);
      for (; i < n; ++i)
        v[i] = a2q::detail::round_as<M>(v[i]);
    }
  });
}

void round_inplace(std::span<float> values, RoundingMode mode, Rng& rng) {
  if (mode != RoundingMode::stochastic) {
    round_inplace(values, mode);
    return;
  }
  const std::uint64_t stream = rng();
  const auto n = static_cast<std::int64_t>(values.size());
  for (std::int64_t i = 0; i < n; ++i)
    values[static_cast<std::size_t>(i)] = a2q::detail::round_stochastic(
        values[static_cast<std::size_t>(i)], a2q::detail::stochastic_uniform(stream, i));
}

Tensor<float> round_tensor(const Tensor<float>& x, RoundingMode mode) {
  Tensor<float> out = x;
  round_inplace(out.span(), mode);
  return out;
}

Tensor<float> round_tensor(const Tensor<float>& x, RoundingMode mode, Rng& rng) {
  Tensor<float> out = x;
  round_inplace(out.span(), mode, rng);
  return out;
}

} // namespace a2q::quant
