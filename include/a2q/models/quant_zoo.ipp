#pragma once
/// @file
/// Definitions for quant_zoo.hpp (see a2q/core/config.hpp).

#include "a2q/models/quant_zoo.hpp"

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

nn::LayerQuantConfig QuantPolicy::layer(const std::string& name, bool first, bool last) const {
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
    c.tile = tile;
    c.inner_bits = inner_bits;
  }
  c.validate();
  return c;
}

nn::ActQuantOptions QuantPolicy::activation_options() const {
  nn::ActQuantOptions o;
  o.format = quant::IntFormat::unsigned_bits(act_bits);
  return o;
}

nn::ActQuantOptions pixel_input() {
  return {.format = quant::IntFormat::unsigned_bits(8), .fixed_scale = 1.0f / 255.0f};
}

std::unique_ptr<nn::Sequential> quant_mlp(std::int64_t in_features, const std::vector<std::int64_t>& hidden,
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

std::unique_ptr<nn::Sequential> quant_mnist_mlp(const QuantPolicy& policy, Rng& rng) {
  return quant_mlp(28 * 28, {256, 256}, 10, policy, rng);
}

std::unique_ptr<nn::Sequential> quant_mnist_cnn(const QuantPolicy& policy, Rng& rng, std::int64_t height,
                                                std::int64_t width, std::int64_t classes) {
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

std::unique_ptr<nn::Sequential> quant_mobilenet(const QuantPolicy& policy, Rng& rng, std::int64_t in_channels,
                                                std::int64_t width, std::int64_t classes) {
  if (policy.method == quant::QuantMethod::none)
    return mobilenet(rng, in_channels, width, classes);
  if (in_channels < 1 || width < 1)
    throw config_error("quant_mobilenet: input channels and width must be >= 1, got " +
                       std::to_string(in_channels) + " and " + std::to_string(width));
  auto model = std::make_unique<nn::Sequential>();
  nn::ActQuantOptions image = pixel_input();
  if (in_channels == 3) { // normalised CIFAR-10 images, as the resnet takes them
    image = nn::ActQuantOptions{};
    image.format = quant::IntFormat::signed_bits(8);
  }
  const nn::ActQuant* input = &model->emplace_named<nn::ActQuant>("input_quant", image);
  // conv -> batch norm -> ReLU -> the next layer's input quantizer
  const auto conv = [&](const std::string& name, std::int64_t in, std::int64_t out, std::int64_t kernel,
                        Conv2dOptions options, bool first) {
    model->emplace_named<nn::QuantConv2d>(name, in, out, kernel, rng, policy.layer(name, first, false),
                                          *input, options, false);
    model->emplace_named<nn::BatchNorm2d>(name + "_bn", out);
    model->emplace_named<nn::ReLU>(name + "_relu");
    input = &model->emplace_named<nn::ActQuant>(name + "_act", policy.activation_options());
  };
  conv("stem", in_channels, width, 3, Conv2dOptions{.stride = 1, .padding = 1}, true);
  std::int64_t channels = width;
  for (std::size_t b = 0; b < mobilenet_strides.size(); ++b) {
    const std::string index = std::to_string(b + 1);
    conv("dw" + index, channels, channels, 3,
         Conv2dOptions{.stride = mobilenet_strides[b], .padding = 1, .groups = static_cast<int>(channels)},
         false);
    const std::int64_t out = width * mobilenet_widths[b];
    conv("pw" + index, channels, out, 1, Conv2dOptions{}, false);
    channels = out;
  }
  model->emplace_named<nn::GlobalAvgPool2d>("pool");
  // Average pooling of unsigned N-bit values stays within their range: requantise for the classifier.
  input = &model->emplace_named<nn::ActQuant>("pool_act", policy.activation_options());
  model->emplace_named<nn::QuantLinear>("fc", channels, classes, rng, policy.layer("fc", false, true),
                                        *input);
  return model;
}

std::unique_ptr<nn::Sequential> quant_espcn(const QuantPolicy& policy, Rng& rng, std::int64_t channels,
                                            std::int64_t width, std::int64_t factor) {
  if (policy.method == quant::QuantMethod::none)
    return espcn(rng, channels, width, factor);
  if (channels < 1 || width < 2 || factor < 2 || factor > 8)
    throw config_error("quant_espcn: channels >= 1, width >= 2 and factor in [2, 8] needed, got " +
                       std::to_string(channels) + ", " + std::to_string(width) + " and " +
                       std::to_string(factor));
  auto model = std::make_unique<nn::Sequential>();
  const nn::ActQuant* input = &model->emplace_named<nn::ActQuant>("input_quant", pixel_input());
  model->emplace_named<nn::QuantConv2d>("conv1", channels, width, 5, rng, policy.layer("conv1", true, false),
                                        *input, Conv2dOptions{.stride = 1, .padding = 2});
  model->emplace_named<nn::ReLU>("relu1");
  input = &model->emplace_named<nn::ActQuant>("act1", policy.activation_options());
  model->emplace_named<nn::QuantConv2d>("conv2", width, width / 2, 3, rng,
                                        policy.layer("conv2", false, false), *input,
                                        Conv2dOptions{.stride = 1, .padding = 1});
  model->emplace_named<nn::ReLU>("relu2");
  input = &model->emplace_named<nn::ActQuant>("act2", policy.activation_options());
  model->emplace_named<nn::QuantConv2d>("conv3", width / 2, channels * factor * factor, 3, rng,
                                        policy.layer("conv3", false, true), *input,
                                        Conv2dOptions{.stride = 1, .padding = 1});
  model->emplace_named<nn::PixelShuffle>("upscale", factor);
  return model;
}

QuantResidualConfig QuantResidualConfig::from_policy(const QuantPolicy& policy, const std::string& name) {
  return {.conv1 = policy.layer(name + ".conv1", false, false),
          .conv2 = policy.layer(name + ".conv2", false, false),
          .shortcut = policy.layer(name + ".shortcut", false, false),
          .act1 = policy.activation_options(),
          .output = policy.activation_options()};
}

QuantResidualBlock::QuantResidualBlock(std::int64_t in_channels, std::int64_t out_channels, int stride,
                                       const nn::ActQuant& input, const QuantResidualConfig& config, Rng& rng)
    : conv1(in_channels, out_channels, 3, rng, config.conv1, input,
            Conv2dOptions{.stride = stride, .padding = 1}, false),
      bn1(out_channels), act1(config.act1), conv2(out_channels, out_channels, 3, rng, config.conv2, act1,
                                                  Conv2dOptions{.stride = 1, .padding = 1}, false),
      bn2(out_channels), output(config.output) {
  register_module("conv1", conv1);
  register_module("bn1", bn1);
  register_module("act1", act1);
  register_module("conv2", conv2);
  register_module("bn2", bn2);
  if (stride != 1 || in_channels != out_channels) {
    shortcut_conv =
        std::make_unique<nn::QuantConv2d>(in_channels, out_channels, 1, rng, config.shortcut, input,
                                          Conv2dOptions{.stride = stride, .padding = 0}, false);
    shortcut_bn = std::make_unique<nn::BatchNorm2d>(out_channels);
    register_module("shortcut_conv", *shortcut_conv);
    register_module("shortcut_bn", *shortcut_bn);
  }
  register_module("output", output);
}

Var QuantResidualBlock::forward(const Var& x) {
  const Var h = act1(relu(bn1(conv1(x))));
  const Var main = bn2(conv2(h));
  const Var skip = shortcut_conv ? (*shortcut_bn)((*shortcut_conv)(x)) : x;
  return output(relu(add(main, skip)));
}

std::unique_ptr<nn::Sequential> quant_cifar_resnet(const QuantPolicy& policy, Rng& rng, std::int64_t width,
                                                   int blocks_per_stage, std::int64_t classes) {
  if (policy.method == quant::QuantMethod::none)
    return cifar_resnet(rng, width, blocks_per_stage, classes);
  if (width < 1 || blocks_per_stage < 1)
    throw config_error("quant_cifar_resnet: width and blocks_per_stage must be >= 1, got " +
                       std::to_string(width) + " and " + std::to_string(blocks_per_stage));
  auto model = std::make_unique<nn::Sequential>();
  nn::ActQuantOptions image;
  image.format = quant::IntFormat::signed_bits(8);
  const nn::ActQuant* input = &model->emplace_named<nn::ActQuant>("input_quant", image);
  model->emplace_named<nn::QuantConv2d>("stem", 3, width, 3, rng, policy.layer("stem", true, false), *input,
                                        Conv2dOptions{.stride = 1, .padding = 1}, false);
  model->emplace_named<nn::BatchNorm2d>("stem_bn", width);
  model->emplace_named<nn::ReLU>("stem_relu");
  input = &model->emplace_named<nn::ActQuant>("stem_act", policy.activation_options());
  std::int64_t channels = width;
  for (int stage = 0; stage < 3; ++stage) {
    const std::int64_t out = width << stage;
    for (int b = 0; b < blocks_per_stage; ++b) {
      const int stride = (stage > 0 && b == 0) ? 2 : 1;
      const std::string name = "block" + std::to_string(stage + 1) + "_" + std::to_string(b + 1);
      auto& block =
          model->emplace_named<QuantResidualBlock>(name, channels, out, stride, *input, policy, name, rng);
      input = &block.output;
      channels = out;
    }
  }
  model->emplace_named<nn::GlobalAvgPool2d>("pool");
  // Average pooling of unsigned N-bit values stays within their range: requantise for the classifier.
  input = &model->emplace_named<nn::ActQuant>("pool_act", policy.activation_options());
  model->emplace_named<nn::QuantLinear>("fc", channels, classes, rng, policy.layer("fc", false, true),
                                        *input);
  return model;
}

int load_float_weights(nn::Module& quant_model, const nn::Module& float_model) {
  std::vector<std::pair<Var, Var>> sources; // (weight, bias) of each Linear / Conv2d in order
  std::vector<const nn::BatchNorm2d*> source_norms;
  float_model.visit("", [&](const std::string&, const nn::Module& m) {
    if (const auto* l = dynamic_cast<const nn::Linear*>(&m))
      sources.emplace_back(l->weight, l->bias);
    else if (const auto* c = dynamic_cast<const nn::Conv2d*>(&m))
      sources.emplace_back(c->weight, c->bias);
    else if (const auto* b = dynamic_cast<const nn::BatchNorm2d*>(&m))
      source_norms.push_back(b);
  });
  std::vector<nn::QuantLayer*> targets;
  std::vector<nn::BatchNorm2d*> target_norms;
  quant_model.visit_mutable("", [&](const std::string&, nn::Module& m) {
    if (auto* q = dynamic_cast<nn::QuantLayer*>(&m))
      targets.push_back(q);
    else if (auto* b = dynamic_cast<nn::BatchNorm2d*>(&m))
      target_norms.push_back(b);
  });
  if (sources.size() != targets.size() || source_norms.size() != target_norms.size())
    throw config_error("load_float_weights: the float model has " + std::to_string(sources.size()) +
                       " linear/conv and " + std::to_string(source_norms.size()) +
                       " batch-norm layers, the quantized model " + std::to_string(targets.size()) + " and " +
                       std::to_string(target_norms.size()));
  for (std::size_t i = 0; i < targets.size(); ++i) {
    targets[i]->weight_quant.load_float(sources[i].first.value());
    if (targets[i]->bias.defined() && sources[i].second.defined())
      targets[i]->bias.value() = sources[i].second.value();
  }
  for (std::size_t i = 0; i < target_norms.size(); ++i) {
    if (target_norms[i]->gamma.shape() != source_norms[i]->gamma.shape())
      throw shape_error("load_float_weights: batch norm " + std::to_string(i) + " has " +
                        source_norms[i]->gamma.shape().to_string() + " channels in the float model, " +
                        target_norms[i]->gamma.shape().to_string() + " here");
    target_norms[i]->gamma.value() = source_norms[i]->gamma.value();
    target_norms[i]->beta.value() = source_norms[i]->beta.value();
    target_norms[i]->running_mean = source_norms[i]->running_mean;
    target_norms[i]->running_var = source_norms[i]->running_var;
  }
  return static_cast<int>(targets.size());
}

} // namespace a2q::models
