#pragma once
/// @file
/// The A2Q / A2Q+ weight quantizer as one fused autograd operation (spec §4, §5).
///
/// Per output channel c, with direction v_c, norm g_c = 2^log2_g_c and scale s_c = 2^log2_s_c:
///   v'_c = v_c                      (A2Q, A2Q-split)      or  v_c - mean(v_c)   (A2Q+, zero-centring)
///   u_c  = v'_c / ||v'_c||_1
///   g'_c = min(g_c / s_c, B_c)      B_c = T (A2Q), Z (A2Q+) or, for A2Q-split, the largest norm whose
///                                   sign-split worst case fits (sign_split_budget of u_c), less any bias
///                                   reservation
///   q_c  = clip(RTZ(g'_c u_c), -(2^(M-1)-1), 2^(M-1)-1)
///   w_c  = s_c q_c
/// Round toward zero never increases a magnitude, so ||q_c||_1 <= g'_c <= B_c at every step. With tiles,
/// each tile of g'_c u_c is first scaled down (if needed) to the exact worst case of its inner register. The
/// arithmetic runs in double and the integers are checked against the exact worst case afterwards
/// (bounds.hpp); the rare element that floating-point error would push over is moved one step toward
/// zero, so the guarantee is exact, not approximate.
///
/// Gradients: straight-through for the rounding; zero through the clip where it is active and through
/// min() to g and s where the norm is clamped (the penalty in a2q_penalty.hpp then pulls g back). A2Q-split's
/// B_c depends on the direction; like a tile's factor, it is a constant for the gradient.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"
#include "a2q/quant/bypass.hpp"
#include "a2q/quant/l1_budget.hpp"
#include "a2q/quant/rounding.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <span>
#include <vector>

namespace a2q::quant {

/// What the fused quantizer needs to know about its layer.
struct A2QWeightSpec {
  QuantMethod method = QuantMethod::a2q; ///< a2q, a2q_plus or a2q_split
  int weight_bits = 8;                   ///< M: integers in [-(2^(M-1)-1), 2^(M-1)-1]
  int input_bits = 8;                    ///< N of the layer's input
  bool input_signed = false;             ///< signedness of the layer's input
  int accumulator_bits = 16;             ///< P (the outer register with tiles)
  /// Multi-stage accumulation (spec §6): each tile of `tile` consecutive weights must also fit an
  /// inner_bits-bit register from 0. A tile whose share of g'u would not is scaled down to fit before the
  /// rounding (its factor is a constant for the gradient). 0: one register.
  std::int64_t tile = 0;
  int inner_bits = 0;
  /// Rounding of g'u. toward_zero is what makes the guarantee hold; other modes exist for the
  /// negative control (round-to-nearest does overflow) and are then not repaired.
  RoundingMode rounding = RoundingMode::toward_zero;

  void validate() const {
    if (!is_accumulator_aware(method))
      throw config_error("A2QWeightSpec: method must be a2q, a2q+ or a2q-split, got " +
                         std::string(to_string(method)));
    if (weight_bits < 2 || weight_bits > 16)
      throw config_error("weight bits M must be in [2, 16], got " + std::to_string(weight_bits));
    if (input_bits < 1 || input_bits > 16)
      throw config_error("input bits N must be in [1, 16], got " + std::to_string(input_bits));
    (void)accumulator_limit(accumulator_bits);
    if (tile < 0 || (tile > 0) != (inner_bits > 0) ||
        (tile > 0 && (inner_bits < 2 || inner_bits > accumulator_bits)))
      throw config_error("A2QWeightSpec: tile " + std::to_string(tile) + " with inner width " +
                         std::to_string(inner_bits) + " (both or neither; 2 <= P_i <= P)");
  }
  std::int64_t weight_max() const { return (std::int64_t{1} << (weight_bits - 1)) - 1; }
  InputRange input_range() const { return InputRange::of_bits(input_bits, input_signed); }
};

} // namespace a2q::quant

namespace a2q::detail {

/// Forward state of one call, kept for the backward pass.
struct A2QForward {
  std::int64_t channels = 0, fan_in = 0;
  std::vector<double> norm;    ///< ||v'_c||_1
  std::vector<double> ratio;   ///< g_c / s_c before the clamp
  std::vector<double> g_prime; ///< clamped g'_c
  std::vector<unsigned char> clamped;
  std::vector<std::int32_t> q;          ///< integer weights, [C, K]
  std::vector<unsigned char> saturated; ///< element clipped to +-(2^(M-1)-1)
  std::vector<double> centred;          ///< v'_c, [C, K]
  std::vector<double> tile_factor; ///< tiled: per element, its tile's scale-down factor (<= 1); else empty
  std::int64_t repairs = 0;        ///< elements moved toward zero by the exact check
};

/// The forward computation shared by the autograd op and the integer export.
/// @param scale per-channel (C elements) or per-tensor (1 element) positive scales
/// @param reserved per-channel accumulator units taken by the bias (empty: none)
A2Q_DECL A2QForward a2q_forward(const Tensor<float>& v, std::span<const float> norm_g,
                                std::span<const float> scale, const quant::A2QWeightSpec& spec,
                                std::span<const std::int64_t> reserved);

} // namespace a2q::detail

namespace a2q::quant {

/// Integer weights [C, ...] (same shape as v) for the given parameters, exactly those a2q_weight uses.
A2Q_DECL Tensor<std::int32_t> a2q_integer_weights(const Tensor<float>& v, std::span<const float> norm_g,
                                                  std::span<const float> scale, const A2QWeightSpec& spec,
                                                  std::span<const std::int64_t> reserved = {});

/// The fused autograd operation: returns w = s·q with the shape of v.
/// @param v direction [C, ...]; @param log2_g [C]; @param log2_s [C] or [1] (per-tensor scale)
/// @param reserved per-channel accumulator units taken by a bias that starts the accumulator
A2Q_DECL Var a2q_weight(const Var& v, const Var& log2_g, const Var& log2_s, const A2QWeightSpec& spec,
                        std::span<const std::int64_t> reserved = {});

} // namespace a2q::quant

#if A2Q_HEADER_ONLY
#include "a2q/quant/a2q_weight.ipp"
#endif
