#pragma once
/// @file
/// ptq::quantize_with_scale_search: the integer weights and per-channel scales of one channel group.
///
/// Under a tight accumulator budget the scale decides how a channel spends it: max|w|/qmax keeps the
/// finest grid but leaves room for a handful of weights (W8A8 at P = 16: each sign's integers may sum to
/// 128 while one weight alone can be 127), a coarser scale keeps more weights on a coarser grid. The
/// greedy methods treat every channel on its own, so each channel tries a geometric grid of scales from
/// s_lo = max|w|/qmax up to the scale at which its float L1 norm fits half the budget (either sign could
/// then take all of it), runs the method at each, and keeps the one with the smallest error by the
/// method's own objective:
/// - GPFQ: ‖X̃·s·q - X·w‖² = s²·qᵀHq - 2s·qᵀGw + const (the float network's output);
/// - OPTQ: ‖X̃(s·q - w)‖² = (s·q - w)ᵀH(s·q - w);
/// - rtn and ep look at the weights alone: ‖s·q - w‖².
/// A channel whose max-abs integers already fit its budget keeps s_lo. With one scale for the whole tensor
/// (`shared`), the grid runs over one scale for every channel and the smallest total error wins. Scales are
/// rounded to what a layer stores (2 to the power of a float), so the integers found are the ones it keeps.

#include "a2q/core/config.hpp"
#include "a2q/ptq/group_quantizer.hpp"

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

namespace a2q::ptq {

struct ScaledWeights {
  std::vector<std::int32_t> q; ///< [C, K] row-major
  std::vector<double> scale;   ///< [C]
};

/// @param problem everything but the target (H, G, budgets, qmax, damping)
/// @param weights the float weights [C, K]
/// @param grid scales tried per channel (1: max|w|/qmax only)
/// @param shared one scale for every channel (a per-tensor scale)
/// @param start where a channel's accumulator starts at a given scale (a bias in the accumulator, whose
///   integer value depends on the scale); empty: each budget's own start
/// @throws config_error for shapes that do not agree, grid < 1, or what quantize_group refuses
A2Q_DECL ScaledWeights quantize_with_scale_search(
    PtqMethod method, GroupProblem problem, const RowMatrix<double>& weights, int grid, bool shared = false,
    const std::function<std::int64_t(std::int64_t channel, double scale)>& start = {});

/// A scale as a layer stores it: 2^(log2 s rounded to a float), in double.
inline double storable_scale(double s) {
  return static_cast<double>(std::exp2(static_cast<float>(std::log2(s))));
}

/// The method's error of channel c with integers q at scale s (see above; without its constant term).
A2Q_DECL double channel_objective(PtqMethod method, const GroupProblem& problem,
                                  const RowMatrix<double>& weights, std::int64_t c,
                                  std::span<const std::int32_t> q, double s);

} // namespace a2q::ptq

#if A2Q_HEADER_ONLY
#include "a2q/ptq/scale_search.ipp"
#endif
