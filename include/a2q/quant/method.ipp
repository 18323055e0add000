#pragma once
/// @file
/// Definitions for method.hpp (see a2q/core/config.hpp).

#include "a2q/quant/method.hpp"

#include "a2q/core/error.hpp"

#include <string>
#include <string_view>

namespace a2q::quant {

QuantMethod parse_quant_method(std::string_view name) {
  std::string names;
  for (const QuantMethod m : all_quant_methods) {
    if (name == to_string(m))
      return m;
    names += (names.empty() ? "" : ", ") + std::string(to_string(m));
  }
  throw config_error("unknown quantization method '" + std::string(name) + "'; expected one of: " + names);
}

} // namespace a2q::quant
