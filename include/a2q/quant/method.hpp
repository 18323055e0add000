#pragma once
/// @file
/// How a layer's weights are represented: float, baseline quantization (accumulator sized by the
/// data-type bound), A2Q (L1 bound T), A2Q+ (zero-centred, bound Z) or A2Q-split (no centring; each
/// channel's norm bounded by the exact sign-split worst case of its own direction, spec §3).

#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"

#include <array>
#include <string>
#include <string_view>

namespace a2q::quant {

enum class QuantMethod { none, baseline, a2q, a2q_plus, a2q_split };

/// Every method, in the order help texts list them.
inline constexpr std::array<QuantMethod, 5> all_quant_methods{QuantMethod::none, QuantMethod::baseline,
                                                              QuantMethod::a2q, QuantMethod::a2q_plus,
                                                              QuantMethod::a2q_split};

/// "float", "baseline", "a2q", "a2q+", "a2q-split": the names the examples, the CLI and exported files use.
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
  case QuantMethod::a2q_split:
    return "a2q-split";
  }
  return "?";
}

A2Q_DECL QuantMethod parse_quant_method(std::string_view name);

/// True for the methods that constrain weights to an accumulator width.
inline bool is_accumulator_aware(QuantMethod m) {
  return m == QuantMethod::a2q || m == QuantMethod::a2q_plus || m == QuantMethod::a2q_split;
}

} // namespace a2q::quant

#if A2Q_HEADER_ONLY
#include "a2q/quant/method.ipp"
#endif
