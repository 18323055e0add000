#pragma once
/// @file
/// hardware::mvau_luts: an estimate of the FPGA LUTs of one layer as a FINN matrix-vector-activation unit
/// (MVAU), so that an accumulator width can be judged in LUTs as the A2Q paper does.
///
/// The cost model is FINN's own (Xilinx/finn, commit 39f0c9a, src/finn/custom_op/fpgadataflow/hls/
/// matrixvectoractivation_hls.py, lut_estimation), which cites FINN-R (Blott et al., "FINN-R: An
/// End-to-End Deep-Learning Framework for Fast Exploration of Quantized Neural Networks", 2018); its
/// accumulator term cites the A2Q paper. With PE rows and SIMD columns computed in parallel, weights of
/// M bits, inputs of N bits, a P-bit accumulator and, when an activation follows, 2^B - 1 thresholds:
///
///     multipliers  = SIMD · (2·ceil((M + N) / 6) - 1) · (M + N)      (LUT multipliers, resType lut/auto)
///     adder tree   = (M + N) · (2·SIMD - 1)
///     accumulator  = P
///     thresholds   = (2^B - 1) · P · ceil((MH / PE) / 64)             (threshold memory in LUTRAM)
///     comparators  = (2^B - 1) · P
///     LUTs         = 300 + 1.1 · PE · (sum of the above)
///
/// What a2q chooses, where FINN leaves it to settings:
/// - thresholds are counted (FINN's ram_style_thresholds = "distributed"); FINN's default "auto" leaves
///   them out, which removes most of what P costs;
/// - weights stay in block RAM (FINN's default internal_decoupled memory), so they add no LUTs;
/// - P is the accumulator the layer is provisioned with (FINN takes the narrowest width its weights
///   need, capped by the data-type bound); a tiled layer (multi-stage accumulation, which FINN's MVAU
///   does not have) counts an inner and an outer register, P_i + P_o, and compares against P_o;
/// - PE and SIMD are the largest divisors of the layer's rows and columns not above the requested ones
///   (FINN requires divisors), 1 and 1 by default (FINN's unfolded starting point).

#include "a2q/core/error.hpp"
#include "a2q/nn/integer_layer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace a2q::hardware {

/// One layer as an MVAU.
struct MvauLayer {
  std::int64_t rows = 1;    ///< MH: output channels
  std::int64_t columns = 1; ///< MW: dot-product length K
  int weight_bits = 8;      ///< M
  int input_bits = 8;       ///< N
  int accumulator_bits = 32;
  int inner_bits = 0;  ///< P_i of a tiled layer (0: one register)
  int output_bits = 0; ///< B of the thresholding activation that follows (0: none, e.g. the last layer)
  std::int64_t pe = 1;
  std::int64_t simd = 1;
};

/// The estimate, term by term (LUTs).
struct MvauLuts {
  std::int64_t pe = 1, simd = 1; ///< the folding used
  double multipliers = 0.0;
  double adder_tree = 0.0;
  double accumulator = 0.0;
  double thresholds = 0.0;
  double comparators = 0.0;
  double total = 0.0;
};

/// The largest divisor of n that is at most `limit` (>= 1).
inline std::int64_t largest_divisor_at_most(std::int64_t n, std::int64_t limit) {
  for (std::int64_t d = std::min(n, std::max<std::int64_t>(limit, 1)); d > 1; --d)
    if (n % d == 0)
      return d;
  return 1;
}

/// @throws config_error for sizes < 1 or widths outside [1, 64]
inline MvauLuts mvau_luts(const MvauLayer& l) {
  if (l.rows < 1 || l.columns < 1 || l.pe < 1 || l.simd < 1 || l.weight_bits < 1 || l.input_bits < 1 ||
      l.accumulator_bits < 1 || l.accumulator_bits > 64 || l.inner_bits < 0 || l.inner_bits > 64 ||
      l.output_bits < 0 || l.output_bits > 32)
    throw config_error("mvau_luts: rows " + std::to_string(l.rows) + ", columns " +
                       std::to_string(l.columns) + ", PE " + std::to_string(l.pe) + ", SIMD " +
                       std::to_string(l.simd) + ", widths M " + std::to_string(l.weight_bits) + " N " +
                       std::to_string(l.input_bits) + " P " + std::to_string(l.accumulator_bits) + " P_i " +
                       std::to_string(l.inner_bits) + " B " + std::to_string(l.output_bits) +
                       " are not a layer");
  MvauLuts e;
  e.pe = largest_divisor_at_most(l.rows, l.pe);
  e.simd = largest_divisor_at_most(l.columns, l.simd);
  const double operand = static_cast<double>(l.weight_bits + l.input_bits);
  const double simd = static_cast<double>(e.simd);
  e.multipliers = simd * (2.0 * std::ceil(operand / 6.0) - 1.0) * operand;
  e.adder_tree = operand * (2.0 * simd - 1.0);
  const double P = static_cast<double>(l.accumulator_bits);
  e.accumulator = P + static_cast<double>(l.inner_bits);
  if (l.output_bits > 0) {
    const double levels = std::ldexp(1.0, l.output_bits) - 1.0;
    const double depth = std::ceil(static_cast<double>(l.rows / e.pe) / 64.0);
    e.thresholds = levels * P * depth;
    e.comparators = levels * P;
  }
  e.total = 300.0 + 1.1 * static_cast<double>(e.pe) *
                        (e.multipliers + e.adder_tree + e.accumulator + e.thresholds + e.comparators);
  return e;
}

/// The estimate of every layer of a network in program order, each followed by the thresholds of the next
/// layer's input quantizer (B = its N; none after the last layer).
/// @param P every layer at this accumulator width, untiled (e.g. 32, the habitual width), instead of its own
inline std::vector<MvauLuts> network_luts(const std::vector<const nn::IntegerLayer*>& layers,
                                          std::int64_t pe = 1, std::int64_t simd = 1,
                                          std::optional<int> P = {}) {
  std::vector<MvauLuts> out;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const nn::IntegerLayer& l = *layers[i];
    out.push_back(mvau_luts({.rows = l.out_channels,
                             .columns = l.fan_in,
                             .weight_bits = l.weight_bits,
                             .input_bits = l.input_bits,
                             .accumulator_bits = P.value_or(l.accumulator_bits),
                             .inner_bits = P ? 0 : l.inner_bits,
                             .output_bits = i + 1 < layers.size() ? layers[i + 1]->input_bits : 0,
                             .pe = pe,
                             .simd = simd}));
  }
  return out;
}

} // namespace a2q::hardware
