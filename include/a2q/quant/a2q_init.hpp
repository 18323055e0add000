#pragma once
/// @file
/// Initial A2Q / A2Q+ parameters (v, log2 g, log2 s) from float weights.
///
/// The reference initialisation (spec §4) sets s = max|w|/(2^(M-1)-1) and g = ||w||_1. For a hidden
/// layer that gives g/s far above the bound (~100x for a 256-wide layer at P = 16), so min() clamps g'
/// to the bound, the budget is spread evenly over all K weights, and round-toward-zero turns almost
/// every weight into 0: training starts from a nearly empty layer.
///
/// a2q's default, `projection`, keeps the float weights' largest entries instead: each channel is
/// projected in the Euclidean sense onto the L1 ball of radius s·B (B = T or Z; Duchi et al. 2008,
/// soft-thresholding, spec §5) and g is set to the projected norm, so g' starts exactly at the budget and
/// the surviving weights round to meaningful integers. For A2Q+ this is the paper's EP-init; we use it for
/// A2Q too, both from scratch and from a float checkpoint. A2Q-split projects each sign's part onto its
/// own ball of radius s·Z/2 (project_sign_split), which keeps an uncentred channel's mean.

#include "a2q/core/config.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/quant/a2q_weight.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <span>
#include <vector>

namespace a2q::quant {

/// The soft threshold θ of the Euclidean projection onto the L1 ball of the given radius (Duchi et al.
/// 2008): 0 when ||v||_1 <= radius, otherwise the θ for which Σ max(|v_i| - θ, 0) = radius.
/// @throws config_error for a negative or NaN radius
A2Q_DECL double l1_ball_threshold(std::span<const double> v, double radius);

/// Euclidean projection of `v` onto the L1 ball of the given radius (Duchi et al. 2008): the identity
/// when ||v||_1 <= radius, otherwise sign(v_i)·max(|v_i| - θ, 0) with θ chosen so the result has
/// L1 norm exactly `radius`.
A2Q_DECL std::vector<double> project_l1_ball(std::span<const double> v, double radius);

/// Euclidean projection of `v` onto the set where its positive entries sum to at most `radius` and its
/// negative ones to at most `radius` in magnitude: each sign's part is soft-thresholded on its own.
A2Q_DECL std::vector<double> project_sign_split(std::span<const double> v, double radius);

/// How to derive A2Q parameters from float weights.
enum class A2QInitMode {
  reference, ///< s = max|w|/qmax, g = ||w||_1 (the paper's default; heavily clamped in hidden layers)
  projection ///< per channel, the scale s whose projected-and-rounded weights s·RTZ(P_B(w/s)) are closest
             ///< to w in L2 (searched between max|w|/qmax and ||w||_1/B), then w projected onto the L1
             ///< ball of radius s·B and g set to its norm (a2q's default)
};

/// Initial parameters of an A2Q / A2Q+ weight quantizer.
struct A2QParameters {
  Tensor<float> v;      ///< direction, shape of the weight
  Tensor<float> log2_g; ///< [C]
  Tensor<float> log2_s; ///< [C], or [1] with a per-tensor scale
};

/// Parameters from float weights w [C, ...] (fresh initialisation or a float checkpoint).
A2Q_DECL A2QParameters a2q_parameters_from_float(const Tensor<float>& w, const A2QWeightSpec& spec,
                                                 bool per_channel,
                                                 A2QInitMode mode = A2QInitMode::projection);

} // namespace a2q::quant

#if A2Q_HEADER_ONLY
#include "a2q/quant/a2q_init.ipp"
#endif
