#pragma once
/// @file
/// Definitions for verify.hpp (see a2q/core/config.hpp).

#include "a2q/engine/verify.hpp"

#include "a2q/core/assert.hpp"
#include "a2q/core/error.hpp"
#include "a2q/engine/adversarial.hpp"
#include "a2q/engine/integer_model.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace a2q::engine {

LayerProof prove_layer(const nn::IntegerLayer& layer, std::optional<int> P) {
  if (P && (*P < 2 || *P > 64))
    throw config_error("prove_layer: width P = " + std::to_string(*P) +
                       " is outside [2, 64] (pass no P for each layer's own)");
  LayerProof p;
  p.name = layer.name;
  p.kind = layer.kind;
  p.method = layer.method;
  p.out_channels = layer.out_channels;
  p.K = layer.fan_in;
  p.N = layer.input_bits;
  p.input_signed = layer.input_signed;
  p.M = layer.weight_bits;
  p.tile = layer.tile;
  p.inner_bits = layer.inner_bits;
  p.target_bits = layer.accumulator_bits;
  p.checked_bits = P.value_or(layer.accumulator_bits);
  p.datatype_bits = layer.datatype_bits();
  p.l1_limit = layer.method == quant::QuantMethod::a2q_plus || layer.method == quant::QuantMethod::a2q_split
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
    for (std::int64_t t = 0; layer.tiled() && t * layer.tile < layer.fan_in; ++t) {
      const std::int64_t count = std::min(layer.tile, layer.fan_in - t * layer.tile);
      const int bits = required_accumulator_bits(
          layer.channel(c).subspan(static_cast<std::size_t>(t * layer.tile), static_cast<std::size_t>(count)),
          range);
      if (bits > ch.required_inner_bits) {
        ch.required_inner_bits = bits;
        ch.worst_tile = t;
      }
    }
    p.required_inner_bits = std::max(p.required_inner_bits, ch.required_inner_bits);
    p.failing_channels += ch.required_bits > p.checked_bits || ch.required_inner_bits > p.inner_bits;
    p.channels.push_back(ch);
  }
  return p;
}

std::vector<LayerProof> prove_model(const IntegerModel& model, std::optional<int> P) {
  std::vector<LayerProof> out;
  for (const nn::IntegerLayer* layer : model.layers())
    out.push_back(prove_layer(*layer, P));
  return out;
}

std::string failed_proof_text(const LayerProof& proof) {
  const std::string verdict = (proof.checked_bits == proof.target_bits ? " is claimed" : " is checked");
  const std::string count = " (" + std::to_string(proof.failing_channels) + " of " +
                            std::to_string(proof.out_channels) + " channels can overflow)";
  // An inner register that overflows is named first, with its tile: the outer one may still fit.
  const ChannelProof* worst_inner = nullptr;
  for (const ChannelProof& c : proof.channels)
    if (c.required_inner_bits > proof.inner_bits &&
        (worst_inner == nullptr || c.required_inner_bits > worst_inner->required_inner_bits))
      worst_inner = &c;
  if (worst_inner != nullptr) {
    const std::int64_t first = worst_inner->worst_tile * proof.tile;
    return "layer '" + proof.name + "', channel " + std::to_string(worst_inner->channel) + ", tile " +
           std::to_string(worst_inner->worst_tile) + " (weights " + std::to_string(first) + ".." +
           std::to_string(std::min(first + proof.tile, proof.K) - 1) + ") needs a " +
           std::to_string(worst_inner->required_inner_bits) +
           "-bit inner accumulator, but P_i = " + std::to_string(proof.inner_bits) + " is claimed" + count;
  }
  const ChannelProof* worst = nullptr;
  for (const ChannelProof& c : proof.channels)
    if (worst == nullptr || c.required_bits > worst->required_bits)
      worst = &c;
  A2Q_ASSERT(worst != nullptr);
  return "layer '" + proof.name + "', channel " + std::to_string(worst->channel) + " needs a " +
         std::to_string(worst->required_bits) + "-bit " + (proof.tile > 0 ? "outer " : "") +
         "accumulator (L1 norm " + std::to_string(worst->l1) +
         "), but P = " + std::to_string(proof.checked_bits) + verdict + count;
}

void require_proven(const IntegerModel& model, const std::string& who, std::optional<int> P) {
  for (const LayerProof& proof : prove_model(model, P))
    if (!proof.proven())
      throw proof_error(who + ": " + failed_proof_text(proof));
}

DatasetOverflowReport count_dataset_overflows(const IntegerModel& model, const Tensor<float>& images,
                                              std::span<const std::int32_t> labels, std::optional<int> P,
                                              OverflowPolicy policy, std::int64_t batch_size) {
  if (P && (*P < 2 || *P > 64))
    throw config_error("count_dataset_overflows: width P = " + std::to_string(*P) +
                       " is outside [2, 64] (pass no P for each layer's own)");
  if (images.rank() < 2 || images.dim(0) != static_cast<std::int64_t>(labels.size()))
    throw shape_error("count_dataset_overflows: " + std::to_string(labels.size()) + " labels for images " +
                      images.shape().to_string());
  if (batch_size < 1)
    throw config_error("count_dataset_overflows: batch_size must be >= 1, got " + std::to_string(batch_size));
  DatasetOverflowReport report;
  ExecutionOptions options{
      .policy = policy, .accumulator_bits = P, .kernel = KernelChoice::reference, .stats = &report.layers};
  const std::int64_t S = images.dim(0);
  for (std::int64_t first = 0; first < S; first += batch_size) {
    const std::int64_t count = std::min(batch_size, S - first);
    const Tensor<float> logits = model.forward(leading_rows(images, first, count), options);
    for (std::int64_t n = 0; n < count; ++n)
      report.correct += predicted_class(logits, n) == labels[static_cast<std::size_t>(first + n)];
    report.samples += count;
  }
  return report;
}

} // namespace a2q::engine
