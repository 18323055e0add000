#pragma once
/// @file
/// ptq::quantize_group: the integer weights of one channel group of a layer (all of a linear layer, one
/// group of a grouped convolution) by one post-training method, from the float weights in units of each
/// channel's scale and the second moments of the layer's calibration inputs (layer_statistics.hpp).
///
/// Columns (the K inputs) are quantized in index order, all channels at once:
/// - GPFQ: q_t = Q(⟨X̃_t, Σ_{j<=t} w_j X_j - Σ_{j<t} q_j X̃_j⟩ / (‖X̃_t‖² + λ)), written with H = X̃ᵀX̃
///   and G = X̃ᵀX as (Σ_{j<=t} w_j G[t,j] - Σ_{j<t} q_j H[t,j]) / (H[t,t] + λ), so the cost is O(C·K²)
///   whatever the number of calibration rows; λ damps as in the AXE paper's GPFQ (1% of the mean of
///   diag H by default: it measured 85.3% instead of 82.6% on the MLP at P = 12);
/// - OPTQ: Cholesky factor U of (H + λI)⁻¹ (upper), q_t = Q(w_t), and the error (w_t - q_t)/U[t,t] spread
///   over the columns after t along row t of U (in blocks, as GPTQ does);
/// - AXE (Colbert et al. 2024, read in Brevitas' axe.py) changes Q: the argument is soft-thresholded by θ,
///   the threshold of the Euclidean projection of the channel's (tile's) mean-centred weights onto A2Q+'s
///   L1 ball Z = (2^P - 2 - 2|start|)/(hi - lo), and then clipped to what the channel's accumulator budget
///   has left (accumulator_budget.hpp) before it is rounded to nearest. OPTQ propagates only the rounding
///   error of the clipped value (as Brevitas does); GPFQ's feedback sees the weights actually chosen.
/// A column that no calibration row reaches (H[t,t] = 0, e.g. a dead ReLU) gets weight 0.

#include "a2q/core/config.hpp"
#include "a2q/core/eigen_view.hpp"
#include "a2q/ptq/accumulator_budget.hpp"
#include "a2q/ptq/method.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <vector>

namespace a2q::ptq {

/// One channel group of a layer to quantize.
struct GroupProblem {
  RowMatrix<double> target;            ///< [C, K]: each channel's float weights divided by its scale
  const Eigen::MatrixXd* H = nullptr;  ///< K x K, X̃ᵀX̃ (the greedy methods)
  const Eigen::MatrixXd* G = nullptr;  ///< K x K, X̃ᵀX (GPFQ)
  std::vector<AccumulatorSpec> budget; ///< per channel (the accumulator-aware methods)
  std::int64_t qmax = 127;             ///< weights lie in [-qmax, qmax]
  double damping = 0.01;               ///< λ of GPFQ and OPTQ as a fraction of the mean of diag(H)
};

/// The integer weights [C, K] (row-major) of `problem` by `method`.
/// @throws config_error for a problem that does not fit the method (missing statistics or budgets, shapes)
A2Q_DECL std::vector<std::int32_t> quantize_group(PtqMethod method, const GroupProblem& problem);

} // namespace a2q::ptq

#if A2Q_HEADER_ONLY
#include "a2q/ptq/group_quantizer.ipp"
#endif
