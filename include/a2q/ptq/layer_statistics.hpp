#pragma once
/// @file
/// ptq::LayerStatistics: the second moments of one layer's inputs over calibration data that the greedy
/// PTQ methods work from, so that their cost does not grow with the number of calibration rows:
///   H = X̃ᵀX̃   the quantized network's inputs to the layer against themselves (OPTQ's Hessian, GPFQ's norms)
///   G = X̃ᵀX   the quantized network's inputs against the float network's (GPFQ's error feedback)
/// A row is one sample of a linear layer, or one output position's input patch of a convolution; a grouped
/// convolution keeps one pair per channel group (its own K x K block).

#include "a2q/autograd/im2col.hpp"
#include "a2q/core/config.hpp"
#include "a2q/core/tensor.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <vector>

namespace a2q::ptq {

/// How a layer turns its input into rows of K elements.
struct LayerInputGeometry {
  bool conv = false;
  std::int64_t fan_in = 0;    ///< K per group
  std::int64_t groups = 1;    ///< conv only
  detail::Conv2dGeometry map; ///< conv only: one group's window over one image (channels = C_in / groups)
};

struct LayerStatistics {
  std::vector<Eigen::MatrixXd> H; ///< per group, K x K
  std::vector<Eigen::MatrixXd> G; ///< per group, K x K; empty unless float inputs were given
  std::int64_t rows = 0;          ///< rows accumulated (per group)

  /// Starts empty sums for `groups` groups of K inputs, with G when `with_float` is set.
  A2Q_DECL LayerStatistics(std::int64_t groups, std::int64_t K, bool with_float);

  /// Adds one batch of the layer's inputs: `quantized` from the quantized network and, when G is kept,
  /// `float_input` (same shape) from the float network.
  /// @throws shape_error if the batch does not have the geometry's shape
  A2Q_DECL void add(const LayerInputGeometry& geometry, const Tensor<float>& quantized,
                    const Tensor<float>* float_input = nullptr);
};

} // namespace a2q::ptq

#if A2Q_HEADER_ONLY
#include "a2q/ptq/layer_statistics.ipp"
#endif
