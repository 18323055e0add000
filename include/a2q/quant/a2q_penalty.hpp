#pragma once
/// @file
/// The A2Q regulariser λ·Σ_c ReLU(g_c - s_c·B_c) (spec §4). min(g/s, B) stops g's gradient while g is
/// above the bound, so without this term g could drift upward for ever; with it, g is pulled back to
/// where the weights' gradient reaches it again.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"

#include <cmath>
#include <numbers>
#include <span>
#include <vector>

namespace a2q::quant {

/// Σ_c ReLU(2^log2_g_c - 2^log2_s_c · budget_c) as a scalar Var (multiply by λ outside).
/// @param log2_s [C] or [1]; @param budget per-channel L1 budgets (T or Z, less bias reservations)
A2Q_DECL Var a2q_penalty(const Var& log2_g, const Var& log2_s, std::span<const double> budget);

} // namespace a2q::quant

#if A2Q_HEADER_ONLY
#include "a2q/quant/a2q_penalty.ipp"
#endif
