#pragma once
/// @file
/// Quantized versions of the example models, built from a layer policy.
///
/// Default policy (A2Q paper, spec §4): the first layer (raw 8-bit pixels) and the last layer keep 8-bit
/// baseline-quantized weights and a 32-bit accumulator; hidden layers use the chosen method and are
/// constrained to the target P. Activations after ReLU are unsigned N-bit with a learned scale; the
/// input is the 8-bit pixel grid itself (scale 1/255). Every layer's settings can be overridden by name.

#include "a2q/models/zoo.hpp"
#include "a2q/nn/act_quant.hpp"
#include "a2q/nn/quant_conv2d.hpp"
#include "a2q/nn/quant_linear.hpp"
#include "a2q/nn/quant_model.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace a2q::models {

/// How to quantize a model.
struct QuantPolicy {
  quant::QuantMethod method = quant::QuantMethod::a2q; ///< hidden layers (none: a float model)
  int weight_bits = 8;                                 ///< M of hidden layers
  int act_bits = 8;                                    ///< N of hidden activations
  int acc_bits = 16;                                   ///< P of hidden layers
  bool per_channel = true;
  nn::BiasMode bias_mode = nn::BiasMode::after_accumulation;
  bool constrain_first = false; ///< treat the first layer like a hidden one
  bool constrain_last = false;  ///< treat the last layer like a hidden one
  int edge_weight_bits = 8;
  int edge_acc_bits = 32;
  double penalty_weight = 1e-3;
  quant::A2QInitMode init = quant::A2QInitMode::projection;
  std::map<std::string, nn::LayerQuantConfig> overrides; ///< by layer name, e.g. "fc2"

  /// The settings of layer `name`, which is the first and/or last of its model as flagged.
  nn::LayerQuantConfig layer(const std::string& name, bool first, bool last) const {
    if (auto it = overrides.find(name); it != overrides.end())
      return it->second;
    nn::LayerQuantConfig c;
    c.per_channel_scale = per_channel;
    c.bias_mode = bias_mode;
    c.penalty_weight = penalty_weight;
    c.init = init;
    const bool edge = (first && !constrain_first) || (last && !constrain_last);
    if (edge) {
      c.method = method == quant::QuantMethod::none ? method : quant::QuantMethod::baseline;
      c.weight_bits = edge_weight_bits;
      c.accumulator_bits = edge_acc_bits;
    } else {
      c.method = method;
      c.weight_bits = weight_bits;
      c.accumulator_bits = acc_bits;
    }
    c.validate();
    return c;
  }

  /// Hidden activations: unsigned N-bit after ReLU, learned scale calibrated from the first batches.
  nn::ActQuantOptions activation_options() const {
    nn::ActQuantOptions o;
    o.format = quant::IntFormat::unsigned_bits(act_bits);
    return o;
  }
};

/// The 8-bit pixel grid: inputs are k/255, which this quantizer reproduces exactly.
inline nn::ActQuantOptions pixel_input() {
  return {.format = quant::IntFormat::unsigned_bits(8), .fixed_scale = 1.0f / 255.0f};
}

/// Quantized MLP: in -> hidden... -> classes (fc1, fc2, ...), each input quantized.
inline std::unique_ptr<nn::Sequential> quant_mlp(std::int64_t in_features,
                                                 const std::vector<std::int64_t>& hidden,
                                                 std::int64_t classes, const QuantPolicy& policy, Rng& rng) {
  if (policy.method == quant::QuantMethod::none)
    return mlp(in_features, hidden, classes, rng);
  auto model = std::make_unique<nn::Sequential>();
  model->emplace_named<nn::Flatten>("flatten");
  const nn::ActQuant* input = &model->emplace_named<nn::ActQuant>("input_quant", pixel_input());
  std::int64_t width = in_features;
  const std::size_t layers = hidden.size() + 1;
  for (std::size_t i = 0; i < layers; ++i) {
    const std::string name = "fc" + std::to_string(i + 1);
    const std::int64_t out = i < hidden.size() ? hidden[i] : classes;
    model->emplace_named<nn::QuantLinear>(name, width, out, rng, policy.layer(name, i == 0, i + 1 == layers),
                                          *input);
    if (i + 1 < layers) {
      model->emplace_named<nn::ReLU>("relu" + std::to_string(i + 1));
      input = &model->emplace_named<nn::ActQuant>("act" + std::to_string(i + 1), policy.activation_options());
    }
    width = out;
  }
  return model;
}

/// The quantized MLP of the examples: 784-256-256-10.
inline std::unique_ptr<nn::Sequential> quant_mnist_mlp(const QuantPolicy& policy, Rng& rng) {
  return quant_mlp(28 * 28, {256, 256}, 10, policy, rng);
}

/// The quantized CNN of the examples (conv1, conv2, fc).
inline std::unique_ptr<nn::Sequential> quant_mnist_cnn(const QuantPolicy& policy, Rng& rng,
                                                       std::int64_t height = 28, std::int64_t width = 28,
                                                       std::int64_t classes = 10) {
  if (policy.method == quant::QuantMethod::none)
    return mnist_cnn(rng, false, height, width, classes);
  auto model = std::make_unique<nn::Sequential>();
  const nn::ActQuant* input = &model->emplace_named<nn::ActQuant>("input_quant", pixel_input());
  std::int64_t channels = 1;
  int index = 1;
  for (std::int64_t out : {16, 32}) {
    const std::string name = "conv" + std::to_string(index);
    model->emplace_named<nn::QuantConv2d>(name, channels, out, 3, rng, policy.layer(name, index == 1, false),
                                          *input, Conv2dOptions{.stride = 1, .padding = 1});
    model->emplace_named<nn::ReLU>("relu" + std::to_string(index));
    input = &model->emplace_named<nn::ActQuant>("act" + std::to_string(index), policy.activation_options());
    model->emplace_named<nn::MaxPool2d>("pool" + std::to_string(index), 2);
    channels = out;
    height /= 2;
    width /= 2;
    ++index;
  }
  model->emplace_named<nn::Flatten>("flatten");
  model->emplace_named<nn::QuantLinear>("fc", channels * height * width, classes, rng,
                                        policy.layer("fc", false, true), *input);
  return model;
}

/// Loads float weights (a float model's state dict, e.g. a checkpoint) into a quantized model of the
/// same architecture: layer i's weight and bias go to the i-th quantized layer, whose quantizer is
/// re-initialised from them (Euclidean projection for A2Q/A2Q+). Returns the number of layers loaded.
inline int load_float_weights(nn::Module& quant_model, const nn::Module& float_model) {
  std::vector<std::pair<Var, Var>> sources; // (weight, bias) of each Linear / Conv2d in order
  float_model.visit("", [&](const std::string&, const nn::Module& m) {
    if (const auto* l = dynamic_cast<const nn::Linear*>(&m))
      sources.emplace_back(l->weight, l->bias);
    else if (const auto* c = dynamic_cast<const nn::Conv2d*>(&m))
      sources.emplace_back(c->weight, c->bias);
  });
  std::vector<nn::QuantLayer*> targets;
  quant_model.visit_mutable("", [&](const std::string&, nn::Module& m) {
    if (auto* q = dynamic_cast<nn::QuantLayer*>(&m))
      targets.push_back(q);
  });
  if (sources.size() != targets.size())
    throw config_error("load_float_weights: the float model has " + std::to_string(sources.size()) +
                       " linear/conv layers, the quantized model " + std::to_string(targets.size()));
  for (std::size_t i = 0; i < targets.size(); ++i) {
    targets[i]->weight_quant.load_float(sources[i].first.value());
    if (targets[i]->bias.defined() && sources[i].second.defined())
      targets[i]->bias.value() = sources[i].second.value();
  }
  return static_cast<int>(targets.size());
}

} // namespace a2q::models
