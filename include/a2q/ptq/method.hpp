#pragma once
/// @file
/// The post-training quantization methods a2q offers, and their names on the command line.
///
/// Accumulator-aware (every channel fits its P by construction):
/// - axe-gpfq, axe-optq: greedy column-by-column quantization with error feedback (GPFQ: Lybrand & Saab
///   2021, Zhang et al. 2023; OPTQ: Frantar et al. 2023) plus AXE's two constraints (Colbert et al. 2024):
///   a soft threshold from the Euclidean projection onto A2Q+'s L1 ball, and a strict per-channel budget
///   that clips each weight to what the accumulator has left;
/// - ep: the same soft threshold (A2Q+'s Euclidean-projection init) and round-toward-zero, no error
///   feedback;
/// - rtn: round to nearest, then clipped to the budget in index order (no error feedback, no threshold).
/// Not accumulator-aware (the negative controls: their models are proven only if the weights happen to fit):
/// - gpfq, optq: the plain greedy methods.

#include "a2q/core/error.hpp"

#include <array>
#include <string>
#include <string_view>

namespace a2q::ptq {

enum class PtqMethod { rtn, ep, gpfq, optq, axe_gpfq, axe_optq };

inline constexpr std::array<PtqMethod, 6> all_ptq_methods{PtqMethod::rtn,      PtqMethod::ep,
                                                          PtqMethod::gpfq,     PtqMethod::optq,
                                                          PtqMethod::axe_gpfq, PtqMethod::axe_optq};

inline std::string_view to_string(PtqMethod m) {
  switch (m) {
  case PtqMethod::rtn:
    return "rtn";
  case PtqMethod::ep:
    return "ep";
  case PtqMethod::gpfq:
    return "gpfq";
  case PtqMethod::optq:
    return "optq";
  case PtqMethod::axe_gpfq:
    return "axe-gpfq";
  case PtqMethod::axe_optq:
    return "axe-optq";
  }
  return "?";
}

/// @throws config_error naming the methods for an unknown name
inline PtqMethod parse_ptq_method(std::string_view name) {
  for (PtqMethod m : all_ptq_methods)
    if (to_string(m) == name)
      return m;
  throw config_error("unknown post-training quantization method '" + std::string(name) +
                     "' (expected axe-gpfq, axe-optq, ep, rtn, gpfq or optq)");
}

/// True for the methods whose every channel fits its accumulator by construction.
inline bool fits_by_construction(PtqMethod m) {
  return m != PtqMethod::gpfq && m != PtqMethod::optq;
}

/// GPFQ needs the float network's inputs beside the quantized network's.
inline bool uses_float_inputs(PtqMethod m) {
  return m == PtqMethod::gpfq || m == PtqMethod::axe_gpfq;
}

/// The greedy methods learn from calibration data; rtn and ep look at the weights alone.
inline bool uses_calibration(PtqMethod m) {
  return m == PtqMethod::gpfq || m == PtqMethod::optq || m == PtqMethod::axe_gpfq || m == PtqMethod::axe_optq;
}

} // namespace a2q::ptq
