#pragma once
/// @file
/// The per-channel L1 budget of A2Q and A2Q+ for a P-bit accumulator, when part of the accumulator's
/// range is already taken by a bias that initialises it (spec §2, §3):
///   A2Q:  T = (2^(P-1) - 1 - |bias|) · 2^(s_x - N)
///   A2Q+: Z = 2 · (2^(P-1) - 1 - |bias|) / (2^N - 1)   (each sign's sum may use half of it)
/// With no bias these are exactly a2q_l1_limit and a2q_plus_l1_limit.

#include "a2q/quant/bounds.hpp"
#include "a2q/quant/method.hpp"

#include <cmath>
#include <cstdint>
#include <string>

namespace a2q::quant {

/// Largest accumulator magnitude of a P-bit signed register, 2^(P-1) - 1.
inline std::int64_t accumulator_limit(int P) {
  if (P < 2 || P > 64)
    throw config_error("accumulator width P must be in [2, 64], got " + std::to_string(P));
  return P == 64 ? INT64_MAX : (std::int64_t{1} << (P - 1)) - 1;
}

/// The L1 budget of `method` (a2q or a2q+) with `reserved` accumulator units taken by a bias.
inline double l1_budget(QuantMethod method, int P, int N, bool input_signed, std::int64_t reserved = 0) {
  if (N < 1 || N > 32)
    throw config_error("input bits N must be in [1, 32], got " + std::to_string(N));
  const std::int64_t limit = accumulator_limit(P);
  if (reserved < 0 || reserved > limit)
    throw config_error("bias reservation " + std::to_string(reserved) + " is outside [0, " +
                       std::to_string(limit) + "] for P = " + std::to_string(P));
  const double free = static_cast<double>(limit - reserved);
  if (method == QuantMethod::a2q)
    return free * std::ldexp(1.0, (input_signed ? 1 : 0) - N);
  if (method == QuantMethod::a2q_plus)
    return 2.0 * free / (std::ldexp(1.0, N) - 1.0);
  throw config_error("l1_budget: method " + std::string(to_string(method)) + " has no L1 budget");
}

} // namespace a2q::quant
