#pragma once
/// @file
/// Per-layer quantization settings (weights, accumulator, bias handling) of the QAT layers.

#include "a2q/core/config.hpp"
#include "a2q/quant/a2q_init.hpp"
#include "a2q/quant/method.hpp"
#include "a2q/quant/rounding.hpp"

#include <optional>
#include <string>

namespace a2q::nn {

/// Where the bias enters the integer computation.
enum class BiasMode {
  /// Default: the dot product is accumulated from zero in the P-bit register and the bias is added
  /// afterwards in a wider register; the guarantee covers the dot product alone.
  after_accumulation,
  /// The accumulator starts at the bias (in accumulator units), so the guarantee includes |bias|: the
  /// weights get the remaining budget and the bias is limited to `bias_fraction` of the register.
  in_accumulator
};

/// Everything a quantized layer needs to know besides its shape and its input's format.
struct LayerQuantConfig {
  quant::QuantMethod method = quant::QuantMethod::a2q;
  int weight_bits = 8;       ///< M
  int accumulator_bits = 16; ///< P: the constraint for a2q/a2q+; the target width reported for the others
  /// Multi-stage accumulation (spec §6): tiles of `tile` consecutive products summed in an inner
  /// `inner_bits`-bit register, the tile results in the accumulator_bits-bit one; 0: one register.
  std::int64_t tile = 0;
  int inner_bits = 0;
  bool per_channel_scale = true;
  BiasMode bias_mode = BiasMode::after_accumulation;
  /// Weight rounding; default toward_zero for a2q/a2q+ (required for the guarantee) and
  /// nearest_even for baseline. Setting nearest for a2q is the negative control, not a training mode.
  std::optional<quant::RoundingMode> rounding;
  double bias_fraction = 0.25; ///< in_accumulator: largest |bias| as a fraction of 2^(P-1)-1
  quant::A2QInitMode init = quant::A2QInitMode::projection;
  double penalty_weight = 1e-3; ///< λ of the A2Q regulariser

  A2Q_DECL quant::RoundingMode weight_rounding() const;

  A2Q_DECL void validate() const;
};

} // namespace a2q::nn

#if A2Q_HEADER_ONLY
#include "a2q/nn/quant_config.ipp"
#endif
