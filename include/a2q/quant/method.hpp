#pragma once
/// @file
/// How a layer's weights are represented: float, baseline quantization (accumulator sized by the
/// data-type bound), A2Q (L1 bound T) or A2Q+ (zero-centred, bound Z).

#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"

#include <string>
#include <string_view>

namespace a2q::quant {

enum class QuantMethod { none, baseline, a2q, a2q_plus };

/// "float", "baseline", "a2q", "a2q+": the names the examples, the CLI and exported files use.
inline std::string_view to_string(QuantMethod m) {
  switch (m) {
  case QuantMethod::none:
    return "float";
  case QuantMethod::baseline:
    return "baseline";
  case QuantMethod::a2q:
    return "a2q";
  case QuantMethod::a2q_plus:
    return "a2q+";
  }
  return "?";
}

A2Q_DECL QuantMethod parse_quant_method(std::string_view name);

/// True for the methods that constrain weights to an accumulator width.
inline bool is_accumulator_aware(QuantMethod m) {
  return m == QuantMethod::a2q || m == QuantMethod::a2q_plus;
}

} // namespace a2q::quant

#if A2Q_HEADER_ONLY
#include "a2q/quant/method.ipp"
#endif
