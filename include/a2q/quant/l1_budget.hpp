#pragma once
/// @file
/// The per-channel L1 budget of A2Q and A2Q+ for a P-bit accumulator, when part of the accumulator's
/// range is already taken by a bias that initialises it (spec §2, §3):
///   A2Q:  T = (2^(P-1) - 1 - |bias|) · 2^(s_x - N)
///   A2Q+: Z = 2 · (2^(P-1) - 1 - |bias|) / (2^N - 1)   (each sign's sum may use half of it)
/// With no bias these are exactly a2q_l1_limit and a2q_plus_l1_limit. A2Q-split's budget depends on the
/// direction (sign_split_budget); its largest, reached by a balanced direction, is Z.

#include "a2q/quant/bounds.hpp"
#include "a2q/quant/method.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>

namespace a2q::quant {

/// Largest accumulator magnitude of a P-bit signed register, 2^(P-1) - 1.
inline std::int64_t accumulator_limit(int P) {
  if (P < 2 || P > 64)
    throw config_error("accumulator width P must be in [2, 64], got " + std::to_string(P));
  return P == 64 ? INT64_MAX : (std::int64_t{1} << (P - 1)) - 1;
}

/// The L1 budget of `method` (a2q, a2q+; a2q-split: its largest) with `reserved` accumulator units taken
/// by a bias.
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
  if (method == QuantMethod::a2q_plus || method == QuantMethod::a2q_split)
    return 2.0 * free / (std::ldexp(1.0, N) - 1.0);
  throw config_error("l1_budget: method " + std::string(to_string(method)) + " has no L1 budget");
}

/// The share A_u of a direction u = row/||row||_1 held by its positive entries (1/2 for an all-zero row).
template <class T>
double positive_share(std::span<const T> row) {
  double pos = 0.0, neg = 0.0;
  for (const T v : row)
    (v > 0 ? pos : neg) += std::abs(static_cast<double>(v));
  return pos + neg > 0.0 ? pos / (pos + neg) : 0.5;
}

/// A2Q-split's budget for one channel: the largest L1 norm g' such that any weights g'·u, for a direction
/// u (||u||_1 = 1) whose positive entries sum to `positive` and negative ones to 1 - `positive` in
/// magnitude, keep the exact worst case of spec §3 within the accumulator:
///   g' · max(hi·A_u - lo·B_u, -lo·A_u + hi·B_u) <= 2^(P-1) - 1 - reserved,   [lo, hi] the input range.
/// A balanced direction (positive = 1/2) gets A2Q+'s Z and a one-signed one at least A2Q's T, so it is
/// never below either for the same direction; unlike A2Q+ it does not force Σ u = 0, which keeps a
/// channel's mean (a depthwise 3x3 kernel that passes its input's local average).
inline double sign_split_budget(int P, int N, bool input_signed, double positive, std::int64_t reserved = 0) {
  const double largest = l1_budget(QuantMethod::a2q_split, P, N, input_signed, reserved); // checks P, N
  if (!(positive >= 0.0 && positive <= 1.0))
    throw config_error("sign_split_budget: the positive share " + std::to_string(positive) +
                       " is outside [0, 1]");
  const InputRange x = InputRange::of_bits(N, input_signed);
  const double hi = static_cast<double>(x.hi), lo = -static_cast<double>(x.lo);
  const double worst = std::max(hi * positive + lo * (1.0 - positive), lo * positive + hi * (1.0 - positive));
  const double free = static_cast<double>(accumulator_limit(P) - reserved);
  return worst > 0.0 ? free / worst : largest;
}

/// The budget B_c of one channel whose direction (before normalisation) is `direction`: T or Z, or for
/// A2Q-split the sign-split budget of that direction.
template <class T>
double channel_budget(QuantMethod method, int P, int N, bool input_signed, std::span<const T> direction,
                      std::int64_t reserved = 0) {
  if (method == QuantMethod::a2q_split)
    return sign_split_budget(P, N, input_signed, positive_share(direction), reserved);
  return l1_budget(method, P, N, input_signed, reserved);
}

} // namespace a2q::quant
