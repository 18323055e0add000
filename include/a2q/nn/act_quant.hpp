#pragma once
/// @file
/// nn::ActQuant: fake-quantizes activations to an integer format with one per-tensor scale, either
/// learned (LSQ, in the log2 domain, initialised from a percentile of the first training batches) or
/// fixed (e.g. 1/255 for 8-bit pixels, so the first layer sees the pixels exactly as they are).

#include "a2q/autograd/exp2.hpp"
#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"
#include "a2q/nn/module.hpp"
#include "a2q/quant/fake_quantize.hpp"
#include "a2q/quant/int_format.hpp"
#include "a2q/quant/rounding.hpp"
#include "a2q/quant/scale_init.hpp"

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

namespace a2q::nn {

/// Settings of an activation quantizer.
struct ActQuantOptions {
  quant::IntFormat format; ///< e.g. IntFormat::unsigned_bits(8) after a ReLU; must be set
  /// Any deterministic mode; stochastic rounding is rejected (its random state would not be saved).
  quant::RoundingMode rounding = quant::RoundingMode::nearest_even;
  /// Training forward passes that calibrate the scale before it is learned (>= 1 unless fixed_scale).
  int calibration_batches = 4;
  /// Percentile of |x| (signed formats) or x (unsigned) that maps to qmax, in (0, 100].
  double percentile = 99.99;
  /// A constant scale (> 0, finite): no calibration, no learned parameter.
  std::optional<float> fixed_scale;
};

/// Per-tensor activation quantizer, y = s · clip(round(x / s), qmin, qmax).
///
/// Learned mode (no fixed_scale):
/// - parameter "log2_scale" [1]; the scale is exp2(log2_scale), so it stays positive;
/// - buffers "calibrated" [1] (0 or 1) and "observed_batches" [1], so that a state dict round trip keeps
///   the calibration state;
/// - the first `calibration_batches` forward passes in training mode each add the batch's percentile to
///   a running mean (a quant::PercentileObserver), set log2_scale to the resulting scale, and
///   fake-quantize with that scale as a constant (the input still gets its straight-through gradient,
///   log2_scale none); from then on log2_scale gets the LSQ gradient and is learned;
/// - in evaluation mode before calibration has finished, the estimate of the batches observed so far is
///   used (nothing is observed in evaluation mode); if no batch has been observed at all, forward throws
///   config_error: a scale made up from evaluation data would silently change results.
///   Load a calibrated state dict or run a training batch first.
///
/// Fixed mode: the scale is options.fixed_scale, there are no parameters, and the buffers read
/// calibrated = 1, observed_batches = 0.
class ActQuant : public Module {
public:
  /// @throws config_error for an invalid format, stochastic rounding, a fixed scale that is not positive
  ///         and finite, calibration_batches < 1 (learned mode), or a percentile outside (0, 100]
  A2Q_DECL explicit ActQuant(const ActQuantOptions& options);

  A2Q_DECL Var forward(const Var& x) override;

  std::string type_name() const override { return "ActQuant"; }

  const ActQuantOptions& options() const { return options_; }
  const quant::IntFormat& format() const { return options_.format; }
  /// True for a fixed scale (no parameter).
  bool fixed() const { return options_.fixed_scale.has_value(); }
  /// True once calibration has finished (always in fixed mode).
  bool calibrated() const { return calibrated_flag[0] != 0.0f; }
  /// Training batches observed for calibration so far.
  std::int64_t observed_batches() const { // clamped: a loaded buffer is only checked where files are read
    const float n = observed[0];
    return n >= 0x1p62f ? std::int64_t{1} << 62 : n >= 1.0f ? static_cast<std::int64_t>(n) : 0;
  }

  /// The current scale: the fixed one, or exp2(log2_scale) (1 before the first calibration batch).
  float scale() const { return fixed() ? *options_.fixed_scale : std::exp2(log2_scale.value()[0]); }

  /// The scale forward multiplies by once calibration is over: the fixed constant, or exp2(log2_scale) with
  /// its gradient. Empty while forward would still calibrate or use an estimate: the passes that fuse this
  /// quantizer with its neighbours (nn::Sequential) then leave it to forward().
  A2Q_DECL std::optional<Var> settled_scale() const;

  /// The fake-quantizer settings forward uses (per tensor, automatic LSQ gradient factor).
  A2Q_DECL quant::FakeQuantOptions fake_quant_options() const;

  /// The integers forward multiplies by scale() (for export and the integer engine).
  /// @throws config_error if no calibration batch has been observed (learned mode)
  A2Q_DECL Tensor<std::int32_t> quantize_to_int(const Tensor<float>& x) const;

  Var log2_scale;                ///< learned mode: parameter [1]; undefined in fixed mode
  Tensor<float> calibrated_flag; ///< buffer "calibrated": 0 or 1
  Tensor<float> observed;        ///< buffer "observed_batches"

private:
  A2Q_DECL void calibrate_on(const Tensor<float>& x);

  A2Q_DECL void require_estimate(const char* what) const;

  ActQuantOptions options_;
  Var fixed_scale_; ///< fixed mode: the constant scale [1]
};

} // namespace a2q::nn

#if A2Q_HEADER_ONLY
#include "a2q/nn/act_quant.ipp"
#endif
