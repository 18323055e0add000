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
};

/// The static proof for one layer at one accumulator width.
struct LayerProof {
  std::string name;
  std::string kind;
  quant::QuantMethod method = quant::QuantMethod::baseline;
  std::int64_t out_channels = 0;
  std::int64_t K = 0; ///< dot-product length
  int N = 0;          ///< input bits
  bool input_signed = false;
  int M = 0;                         ///< weight bits
  int target_bits = 0;               ///< the P the layer was trained for
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

/// The static proof of `layer` at P (0: the layer's own).
inline LayerProof prove_layer(const nn::IntegerLayer& layer, int P = 0) {
  LayerProof p;
  p.name = layer.name;
  p.kind = layer.kind;
  p.method = layer.method;
  p.out_channels = layer.out_channels;
  p.K = layer.fan_in;
  p.N = layer.input_bits;
  p.input_signed = layer.input_signed;
  p.M = layer.weight_bits;
  p.target_bits = layer.accumulator_bits;
  p.checked_bits = P > 0 ? P : layer.accumulator_bits;
  p.datatype_bits = layer.datatype_bits();
  p.l1_limit = layer.method == quant::QuantMethod::a2q_plus
                   ? a2q_plus_l1_limit(p.checked_bits, p.N)
                   : a2q_l1_limit(p.checked_bits, p.N, p.input_signed);
  p.sparsity = layer.sparsity();
  p.required_bits = 1;
  const InputRange range = layer.input_range();
  for (std::int64_t c = 0; c < layer.out_channels; ++c) {
    ChannelProof ch;
    ch.channel = c;
    for (const std::int32_t q : layer.channel(c))
      ch.l1 += q < 0 ? -static_cast<std::int64_t>(q) : q;
    ch.start = layer.accumulator_start(c);
    ch.worst = worst_case_accumulator(layer.channel(c), range, ch.start);
    ch.required_bits = required_accumulator_bits(layer.channel(c), range, ch.start);
    p.required_bits = std::max(p.required_bits, ch.required_bits);
    p.max_l1 = std::max(p.max_l1, ch.l1);
    p.failing_channels += ch.required_bits > p.checked_bits;
    p.channels.push_back(ch);
  }
  return p;
}

/// The static proof of every quantized layer of `model` at P (0: each layer's own).
inline std::vector<LayerProof> prove_model(const IntegerModel& model, int P = 0) {
  std::vector<LayerProof> out;
  for (const nn::IntegerLayer* layer : model.layers())
    out.push_back(prove_layer(*layer, P));
  return out;
}

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
inline DatasetOverflowReport count_dataset_overflows(const IntegerModel& model, const Tensor<float>& images,
                                                     std::span<const std::int32_t> labels,
                                                     std::optional<int> P = {},
                                                     OverflowPolicy policy = OverflowPolicy::count,
                                                     std::int64_t batch_size = 500) {
  if (images.rank() < 2 || images.dim(0) != static_cast<std::int64_t>(labels.size()))
    throw shape_error("count_dataset_overflows: " + std::to_string(labels.size()) + " labels for images " +
                      images.shape().to_string());
  if (batch_size < 1)
    throw config_error("count_dataset_overflows: batch_size must be >= 1, got " + std::to_string(batch_size));
  DatasetOverflowReport report;
  ExecutionOptions options{
      .policy = policy, .accumulator_bits = P, .kernel = KernelChoice::reference, .stats = &report.layers};
  const std::int64_t S = images.dim(0);
  const std::int64_t sample = images.numel() / std::max<std::int64_t>(S, 1);
  for (std::int64_t first = 0; first < S; first += batch_size) {
    const std::int64_t count = std::min(batch_size, S - first);
    std::vector<std::int64_t> dims(images.shape().begin(), images.shape().end());
    dims[0] = count;
    Tensor<float> batch = Tensor<float>::uninitialized(Shape(std::span<const std::int64_t>(dims)));
    std::copy(images.data() + first * sample, images.data() + (first + count) * sample, batch.data());
    const Tensor<float> logits = model.forward(batch, options);
    for (std::int64_t n = 0; n < count; ++n)
      report.correct += predicted_class(logits, n) == labels[static_cast<std::size_t>(first + n)];
    report.samples += count;
  }
  return report;
}

} // namespace a2q::engine
