#pragma once
/// @file
/// sweep::PointResult and the sweep's outputs: what one trained point measures (its metric in the integer
/// engine, the proof, data-set overflow events, sparsity, compression, LUTs), each method's Pareto
/// front, and DIR/sweep.csv, DIR/sweep.json and the SVG plots.
///
/// A method's front at P is its best proven point with an accumulator of at most P bits: a model proven
/// at P is proven at every wider P, so a narrower point that does better dominates. Against estimated
/// LUTs, the front is the best proven point for at most so many LUTs. The CSV keeps every point and marks
/// those that lead a front at their own P.

#include "a2q/core/config.hpp"
#include "a2q/engine/integer_model.hpp"
#include "a2q/report/svg_plot.hpp"
#include "a2q/sweep/plan.hpp"

#include <cstdint>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace a2q::sweep {

/// Weight counts and sizes of a set of integer layers. The coded size is engine/weight_compression.hpp's
/// entropy-coding estimate (zero runs and nonzero values, each at its empirical entropy, plus code tables).
struct WeightSummary {
  std::int64_t weights = 0;
  std::int64_t zeros = 0;
  std::int64_t dense_bits = 0; ///< Σ C·K·M: the plain int-M layout
  double coded_bits = 0.0;
  double sparsity() const {
    return weights > 0 ? static_cast<double>(zeros) / static_cast<double>(weights) : 0.0;
  }
  /// dense_bits / coded_bits
  double compression() const { return coded_bits > 0.0 ? static_cast<double>(dense_bits) / coded_bits : 0.0; }
};

/// The summary of `layers` (all of a model's, or only those named in `names` when it is not empty).
A2Q_DECL WeightSummary summarize_weights(std::span<const nn::IntegerLayer* const> layers,
                                         std::span<const std::string> names = {});

struct PointResult {
  Point point;
  double metric = std::numeric_limits<double>::quiet_NaN(); ///< accuracy in [0, 1] or PSNR in dB
  bool proven = false;                                      ///< every layer at its own P
  std::int64_t overflow_events = -1;                        ///< on the test set; -1: not run
  WeightSummary hidden;                                     ///< the constrained layers
  WeightSummary model;                                      ///< every quantized layer
  double luts = 0.0;                                        ///< FINN MVAU estimate, PE = SIMD = 1
  double luts_p32 = 0.0;                                    ///< the same layers with 32-bit accumulators
  double epoch_seconds = 0.0;
};

/// Proof, weight summaries and LUTs of a trained point's integer model (metric and events are the
/// caller's: they need the data).
A2Q_DECL PointResult summarize_point(const Point& point, const engine::IntegerModel& model,
                                     std::span<const ConstrainedLayer> constrained);

/// Indices into `results` of `method`'s front, one per swept P that has one, in increasing P.
A2Q_DECL std::vector<std::pair<int, std::size_t>> pareto_front(std::span<const PointResult> results,
                                                               Method method, std::span<const int> acc_bits);

/// The plots: accuracy (or PSNR) vs P, sparsity vs P, compression vs P and accuracy (PSNR) vs estimated
/// LUTs, one line per method's front, as (file name, plot).
A2Q_DECL std::vector<std::pair<std::string, report::LinePlot>>
sweep_plots(const Plan& plan, std::span<const PointResult> results);

/// Writes DIR/sweep.csv (every point), DIR/sweep.json and DIR/<plot>.svg, each atomically.
A2Q_DECL void write_results(const Plan& plan, std::span<const PointResult> results);

} // namespace a2q::sweep

#if A2Q_HEADER_ONLY
#include "a2q/sweep/results.ipp"
#endif
