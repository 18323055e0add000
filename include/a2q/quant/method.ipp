#pragma once
/// @file
/// Definitions for method.hpp (see a2q/core/config.hpp).

#include "a2q/quant/method.hpp"

#include "a2q/core/error.hpp"

#include <string>
#include <string_view>

namespace a2q::quant {

QuantMethod parse_quant_method(std::string_view name) {
  for (QuantMethod m : {QuantMethod::none, QuantMethod::baseline, QuantMethod::a2q, QuantMethod::a2q_plus})
    if (name == to_string(m))
      return m;
  throw config_error("unknown quantization method '" + std::string(name) +
                     "'; expected one of: float, baseline, a2q, a2q+");
}

} // namespace a2q::quant
