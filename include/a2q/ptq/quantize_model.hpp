#pragma once
/// @file
/// Post-training quantization of a whole network: ptq::calibrate_activations sets the activation
/// quantizers' scales from calibration images, and ptq::quantize_weights chooses the integer weights of
/// every quantized layer, first to last, by one method of method.hpp. Layer by layer (greedy, as GPFQ and
/// OPTQ are defined): each layer's inputs come from the network whose earlier layers are already
/// quantized (X̃), and, for GPFQ, from the float network (X), so later layers correct what earlier ones
/// changed.
///
/// The network to quantize is the quantized twin of the float one (io/quantized_architecture.hpp) built
/// with the baseline method, whose layers hold fixed integer weights times a per-channel scale: the scale
/// is chosen per channel (or once per tensor) where the accumulator budget binds (scale_search.hpp), else
/// it stays the float weights' max|w| / qmax, and the method picks the integers. Each layer's accumulator
/// constraint is its own P (its config's accumulator_bits), over its input quantizer's range, from the
/// bias when the bias starts the accumulator, and in tiles when its config has them (multi-stage
/// accumulation: every tile within its inner register, the sum within P).

#include "a2q/core/config.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/nn/sequential.hpp"
#include "a2q/ptq/method.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace a2q::ptq {

struct PtqOptions {
  PtqMethod method = PtqMethod::axe_gpfq;
  std::int64_t batch_size = 256; ///< calibration images per forward pass
  double damping = 0.01;         ///< GPFQ's and OPTQ's λ as a fraction of the mean of diag(H)
  int scale_grid = 16;           ///< per-channel scales tried where the budget binds (scale_search.hpp)
};

/// What quantizing one layer did.
struct LayerResult {
  std::string name;
  std::int64_t channels = 0;
  std::int64_t fan_in = 0; ///< K
  int accumulator_bits = 0;
  std::int64_t tile = 0; ///< products per inner register (0: one register)
  int inner_bits = 0;
  double sparsity = 0.0;    ///< fraction of zero weights
  std::int64_t repairs = 0; ///< units taken off weights because a stored bias rounded differently (rare)
  /// ‖X̃(s·q - w)ᵀ‖ / ‖X̃wᵀ‖ over the calibration rows (the layer's own output error on its quantized
  /// inputs); 0 when the method uses no calibration data or no row reached the layer.
  double output_error = 0.0;
  double seconds = 0.0;
};

/// Reported before each layer (result = nullptr) and after it.
struct PtqProgress {
  std::size_t layer = 0; ///< 0-based
  std::size_t layers = 0;
  std::string name;
  const LayerResult* result = nullptr;
};

using PtqCallback = std::function<void(const PtqProgress&)>;

/// Calibrates every learned activation quantizer of `model` that is not calibrated yet on `images`
/// ([S, ...], as the model takes them), through batches of `batch_size`, and marks it calibrated; the
/// rest of the model runs in evaluation mode. Returns the number of quantizers calibrated.
/// @throws config_error for no images or a batch size < 1
A2Q_DECL int calibrate_activations(nn::Module& model, const Tensor<float>& images, std::int64_t batch_size);

/// Chooses the integer weights of every quantized layer of `quantized` (a Sequential whose children are
/// the layers, as quantized_architecture builds it, with baseline-method layers and calibrated
/// activations) from `images`, with `float_model` (the network it is the twin of, a Sequential too) for
/// GPFQ's float inputs. The layers' float weights become scale times the chosen integers.
/// @throws config_error for a network of another form (nested layers, a method other than baseline,
///         layer counts that differ)
A2Q_DECL std::vector<LayerResult> quantize_weights(nn::Sequential& quantized, nn::Sequential& float_model,
                                                   const Tensor<float>& images, const PtqOptions& options,
                                                   const PtqCallback& progress = {});

} // namespace a2q::ptq

#if A2Q_HEADER_ONLY
#include "a2q/ptq/quantize_model.ipp"
#endif
