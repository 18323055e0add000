#pragma once
/// @file
/// Verification that a model's integer inference cannot overflow its P-bit accumulators, three ways:
/// (a) prove_layer / prove_model: a static proof per layer and output channel from the integer weights
///     and the input range: the exact worst case of the dot product (sign split, plus the bias where it
///     starts the accumulator) and the bits it needs, against the target P and the data-type bound;
/// (b) adversarial_check (adversarial.hpp): each channel's two worst-case inputs run through a simulated
///     P-bit accumulator, every partial sum checked;
/// (c) count_dataset_overflows: a data set run through the IntegerModel at a chosen P with the count
///     policy and the reference kernels, overflow events per layer and channel, and the accuracy.
/// (a) decides; (b) exercises the accumulator itself and shows the proof is tight; (c) shows what
/// overflow does on real data (nonzero for a baseline model below its data-type bound, zero for A2Q).

#include "a2q/core/config.hpp"
#include "a2q/engine/adversarial.hpp"
#include "a2q/engine/integer_model.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace a2q::engine {

/// The static proof for one output channel.
struct ChannelProof {
  std::int64_t channel = 0;
  std::int64_t l1 = 0;          ///< Σ|q|
  std::int64_t start = 0;       ///< the accumulator's start value (bias in accumulator units, or 0)
  AccumulatorRange worst{0, 0}; ///< exact extremes of start + Σ q·x over the input range
  int required_bits = 0;        ///< smallest P holding `worst`
  int required_inner_bits = 0;  ///< tiled layers: the widest tile's need (from 0); 0 untiled
  std::int64_t worst_tile = -1; ///< tiled layers: the tile that needs required_inner_bits
};

/// The static proof for one layer at one accumulator width. A tiled layer (multi-stage accumulation) is
/// proven when every tile of every channel fits the inner register from 0 and the whole dot product fits
/// the outer one from the bias; an override of P replaces the outer width only.
struct LayerProof {
  std::string name;
  std::string kind;
  quant::QuantMethod method = quant::QuantMethod::baseline;
  std::int64_t out_channels = 0;
  std::int64_t K = 0; ///< dot-product length
  int N = 0;          ///< input bits
  bool input_signed = false;
  int M = 0;                         ///< weight bits
  std::int64_t tile = 0;             ///< products per inner register (0: one register)
  int inner_bits = 0;                ///< P_i of a tiled layer
  int required_inner_bits = 0;       ///< largest inner need over the channels (0 untiled)
  int target_bits = 0;               ///< the P the layer was trained for (the outer width when tiled)
  int checked_bits = 0;              ///< the P checked (target_bits unless overridden)
  int datatype_bits = 0;             ///< the data-type bound for K, N, M
  int required_bits = 0;             ///< largest over the channels
  std::int64_t max_l1 = 0;           ///< largest Σ|q| over the channels
  double l1_limit = 0.0;             ///< the method's L1 limit at checked_bits (A2Q+: zero-centred limit)
  double sparsity = 0.0;             ///< fraction of zero weights
  std::int64_t failing_channels = 0; ///< channels whose worst case does not fit checked_bits
  std::vector<ChannelProof> channels;

  /// No input in range can make any partial sum of any channel leave the checked_bits range.
  bool proven() const { return failing_channels == 0; }
  /// Spare accumulator bits: checked_bits - required_bits (negative: overflow possible).
  int margin_bits() const { return checked_bits - required_bits; }
  /// Unused L1 budget, l1_limit - max_l1 (negative: the layer exceeds the method's limit).
  double l1_margin() const { return l1_limit - static_cast<double>(max_l1); }
};

/// The static proof of `layer` at P (each layer's own when not given, as everywhere in the API).
/// @throws config_error for a P outside [2, 64]
A2Q_DECL LayerProof prove_layer(const nn::IntegerLayer& layer, std::optional<int> P = {});

/// The static proof of every quantized layer of `model` at P (each layer's own when not given).
/// @throws config_error for a P outside [2, 64]
A2Q_DECL std::vector<LayerProof> prove_model(const IntegerModel& model, std::optional<int> P = {});

/// The reason a layer's proof failed, naming its worst channel: "layer 'fc2', channel 0 needs a 20-bit
/// accumulator (L1 norm 32512), but P = 16 is claimed (1 of 256 channels can overflow)".
A2Q_DECL std::string failed_proof_text(const LayerProof& proof);

/// Proves every layer of `model` at P (each layer's own when not given) from its integer weights and bias,
/// as prove_model does, and refuses a model for which the guarantee does not hold.
/// @param who starts the message, e.g. the file name
/// @throws proof_error naming the first layer that can overflow and its worst channel (failed_proof_text)
A2Q_DECL void require_proven(const IntegerModel& model, const std::string& who, std::optional<int> P = {});

/// What a data set run through the integer engine showed.
struct DatasetOverflowReport {
  LayerOverflowStats layers; ///< overflow counters per quantized layer
  std::int64_t samples = 0;
  std::int64_t correct = 0; ///< samples whose argmax logit is the label
  double accuracy() const {
    return samples > 0 ? static_cast<double>(correct) / static_cast<double>(samples) : 0.0;
  }
  /// Overflow events over all layers.
  std::int64_t events() const {
    std::int64_t total = 0;
    for (const auto& [name, stats] : layers)
      total += stats.events;
    return total;
  }
};

/// Index of the largest logit of row n (the first on ties).
inline std::int64_t predicted_class(const Tensor<float>& logits, std::int64_t n) {
  const std::int64_t C = logits.dim(1);
  std::int64_t best = 0;
  for (std::int64_t c = 1; c < C; ++c)
    if (logits(n, c) > logits(n, best))
      best = c;
  return best;
}

/// Runs `images` ([S, ...], labels in `labels`) through `model` in batches with the reference kernels
/// at P (each layer's own when not given) under `policy` (count: hardware wraparound, counted), and
/// counts overflow events per layer and channel and the correct predictions.
A2Q_DECL DatasetOverflowReport count_dataset_overflows(const IntegerModel& model, const Tensor<float>& images,
                                                       std::span<const std::int32_t> labels,
                                                       std::optional<int> P = {},
                                                       OverflowPolicy policy = OverflowPolicy::count,
                                                       std::int64_t batch_size = 500);

} // namespace a2q::engine

#if A2Q_HEADER_ONLY
#include "a2q/engine/verify.ipp"
#endif
