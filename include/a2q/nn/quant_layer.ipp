#pragma once
/// @file
/// Definitions for quant_layer.hpp (see a2q/core/config.hpp).

#include "a2q/nn/quant_layer.hpp"

#include "a2q/nn/act_quant.hpp"
#include "a2q/nn/integer_layer.hpp"
#include "a2q/nn/quant_weight.hpp"
#include "a2q/quant/l1_budget.hpp"

#include <cmath>
#include <string>
#include <vector>

namespace a2q::nn {

namespace detail {

/// Fake-quantizes a bias onto per-channel integer steps with a symmetric limit; straight-through
/// gradient where not clipped.
inline Var quantize_bias(const Var& bias, std::vector<double> step, std::int64_t max_int) {
  if (quant::quantization_bypassed())
    return bias;
  Tensor<float> out = Tensor<float>::uninitialized(bias.shape());
  std::vector<unsigned char> clipped(step.size());
  for (std::size_t c = 0; c < step.size(); ++c) {
    const double q = std::nearbyint(bias.value()[static_cast<std::int64_t>(c)] / step[c]);
    const double m = static_cast<double>(max_int);
    clipped[c] = std::abs(q) > m;
    out[static_cast<std::int64_t>(c)] = static_cast<float>(std::clamp(q, -m, m) * step[c]);
  }
  return a2q::detail::make_result(std::move(out), {bias}, "quantize_bias",
                                  [clipped](a2q::detail::Node& self) {
                                    Tensor<float> d = self.grad;
                                    for (std::size_t c = 0; c < clipped.size(); ++c)
                                      if (clipped[c])
                                        d[static_cast<std::int64_t>(c)] = 0.0f;
                                    a2q::detail::accumulate_grad(self, 0, std::move(d));
                                  });
}

} // namespace detail

QuantLayer::QuantLayer(const Tensor<float>& initial_weight, const LayerQuantConfig& config,
                       const ActQuant& input, bool with_bias)
    : weight_quant(initial_weight, config, input.format()), input_(&input) {
  register_module("weight_quant", weight_quant);
  if (with_bias) {
    bias = Var(Tensor<float>(Shape{initial_weight.dim(0)}), true);
    register_parameter("bias", bias);
  }
}

std::vector<std::int64_t> QuantLayer::integer_bias() const {
  std::vector<std::int64_t> out;
  if (!bias.defined())
    return out;
  const std::vector<float> scales = weight_quant.channel_scales();
  for (std::size_t c = 0; c < scales.size(); ++c)
    out.push_back(integer_bias_at(static_cast<std::int64_t>(c), static_cast<double>(scales[c])));
  return out;
}

std::int64_t QuantLayer::integer_bias_at(std::int64_t c, double weight_scale) const {
  if (!bias.defined())
    return 0;
  const double step = weight_scale * input_->scale();
  if (!(step > 0.0) || !std::isfinite(step)) // a scale of 0 or infinity: the bias would become NaN
    throw numeric_error("layer bias: the step " + std::to_string(step) + " of channel " + std::to_string(c) +
                        " (weight scale x input scale) is not a finite number > 0");
  const double limit = bias_in_accumulator() ? static_cast<double>(bias_limit()) : 9.0e18;
  return static_cast<std::int64_t>(std::clamp(std::nearbyint(bias.value()[c] / step), -limit, limit));
}

std::vector<std::int64_t> QuantLayer::bias_reservation() const {
  std::vector<std::int64_t> out;
  if (!bias_in_accumulator() || !quant::is_accumulator_aware(config().method))
    return out;
  for (std::int64_t b : integer_bias())
    out.push_back(b < 0 ? -b : b);
  return out;
}

IntegerLayer QuantLayer::integer_layer(const std::string& name) const {
  IntegerLayer layer;
  layer.name = name;
  layer.kind = kind();
  layer.method = config().method;
  layer.out_channels = weight_quant.out_channels();
  layer.fan_in = weight_quant.fan_in();
  layer.weight_bits = config().weight_bits;
  layer.input_bits = input_->format().bits;
  layer.input_signed = input_->format().is_signed;
  layer.accumulator_bits = config().accumulator_bits;
  if (config().tile > 0) { // a tile longer than the dot product is the whole of it
    layer.tile = std::min(config().tile, layer.fan_in);
    layer.inner_bits = config().inner_bits;
  }
  layer.bias_in_accumulator = bias_in_accumulator();
  layer.weights = weight_quant.integers(bias_reservation()).reshaped(Shape{layer.out_channels, layer.fan_in});
  layer.weight_scale = weight_quant.channel_scales();
  layer.input_scale = input_->scale();
  if (bias.defined())
    layer.bias = integer_bias();
  return layer;
}

std::pair<Var, Var> QuantLayer::effective_parameters() const {
  const std::vector<std::int64_t> reserved = bias_reservation();
  Var w = weight_quant.effective(reserved);
  if (!bias_in_accumulator())
    return {w, bias};
  return {w, detail::quantize_bias(bias, bias_steps(), bias_limit())};
}

std::vector<double> QuantLayer::bias_steps() const {
  std::vector<double> steps;
  for (float s : weight_quant.channel_scales())
    steps.push_back(static_cast<double>(s) * input_->scale());
  return steps;
}

std::int64_t QuantLayer::bias_limit() const {
  return static_cast<std::int64_t>(config().bias_fraction *
                                   static_cast<double>(quant::accumulator_limit(config().accumulator_bits)));
}

} // namespace a2q::nn
