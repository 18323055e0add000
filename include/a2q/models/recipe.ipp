#pragma once
/// @file
/// Definitions for recipe.hpp (see a2q/core/config.hpp).

#include "a2q/models/recipe.hpp"

#include "a2q/core/error.hpp"
#include "a2q/core/shape.hpp"
#include "a2q/models/quant_zoo.hpp"
#include "a2q/quant/a2q_init.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace a2q::models {

void ModelRecipe::validate() const {
  if (std::find(recipe_architectures.begin(), recipe_architectures.end(), architecture) ==
      recipe_architectures.end())
    throw config_error("unknown model '" + architecture +
                       "' (expected mlp, cnn, resnet, mobilenet or espcn)");
  if (input.rank() != 3 || input[0] < 1 || input[1] < 1 || input[2] < 1)
    throw config_error("the input shape " + input.to_string() + " is not a positive [C, H, W]");
  if (classes < 2)
    throw config_error("a classifier needs at least 2 classes, got " + std::to_string(classes));
  if (architecture == "cnn" && (input[0] != 1 || input[1] < 4 || input[2] < 4))
    throw config_error("the cnn takes 1-channel images of at least 4x4, got " + input.to_string());
  if (architecture == "resnet" && input[0] != 3)
    throw config_error("the resnet takes 3-channel images, got " + input.to_string());
  if (architecture == "mlp" && (mlp_width < 1 || mlp_width > max_mlp_width))
    throw config_error("the mlp's hidden width must be in [1, " + std::to_string(max_mlp_width) + "], got " +
                       std::to_string(mlp_width));
  if (architecture == "espcn" && (espcn_width < 2 || espcn_width > 1024 || upscale < 2 || upscale > 8))
    throw config_error("the espcn's width must be in [2, 1024] and its upscaling in [2, 8], got " +
                       std::to_string(espcn_width) + " and " + std::to_string(upscale));
  if (architecture == "mobilenet" && (mobilenet_width < 1 || mobilenet_width > 1024))
    throw config_error("the mobilenet's width must be in [1, 1024], got " + std::to_string(mobilenet_width));
  if (architecture == "resnet" && (resnet_width < 1 || resnet_blocks < 1))
    throw config_error("resnet width and blocks must be >= 1");
}

std::unique_ptr<nn::Sequential> ModelRecipe::build(Rng& rng) const {
  validate();
  const bool quantized = policy.method != quant::QuantMethod::none;
  if (architecture == "mlp") {
    const std::int64_t features = input.numel();
    return quantized ? quant_mlp(features, {mlp_width, mlp_width}, classes, policy, rng)
                     : mlp(features, {mlp_width, mlp_width}, classes, rng);
  }
  if (architecture == "cnn")
    return quant_mnist_cnn(policy, rng, input[1], input[2], classes); // float when method is none
  if (architecture == "mobilenet")
    return quant_mobilenet(policy, rng, input[0], mobilenet_width, classes);
  if (architecture == "espcn")
    return quant_espcn(policy, rng, input[0], espcn_width, upscale);
  return quant_cifar_resnet(policy, rng, resnet_width, resnet_blocks, classes);
}

std::vector<std::pair<std::string, std::string>> ModelRecipe::to_metadata() const {
  std::vector<std::pair<std::string, std::string>> m;
  m.emplace_back("model", architecture);
  m.emplace_back("input_shape",
                 std::to_string(input[0]) + "x" + std::to_string(input[1]) + "x" + std::to_string(input[2]));
  m.emplace_back("classes", std::to_string(classes));
  if (architecture == "mlp")
    m.emplace_back("mlp_width", std::to_string(mlp_width));
  if (architecture == "mobilenet")
    m.emplace_back("mobilenet_width", std::to_string(mobilenet_width));
  if (architecture == "espcn") {
    m.emplace_back("espcn_width", std::to_string(espcn_width));
    m.emplace_back("upscale", std::to_string(upscale));
  }
  if (architecture == "resnet") {
    m.emplace_back("resnet_width", std::to_string(resnet_width));
    m.emplace_back("resnet_blocks", std::to_string(resnet_blocks));
  }
  m.emplace_back("quant", std::string(quant::to_string(policy.method)));
  m.emplace_back("weight_bits", std::to_string(policy.weight_bits));
  m.emplace_back("act_bits", std::to_string(policy.act_bits));
  m.emplace_back("acc_bits", std::to_string(policy.acc_bits));
  if (policy.tile > 0) {
    m.emplace_back("tile", std::to_string(policy.tile));
    m.emplace_back("inner_bits", std::to_string(policy.inner_bits));
  }
  m.emplace_back("per_channel", policy.per_channel ? "1" : "0");
  m.emplace_back("bias_in_accumulator", policy.bias_mode == nn::BiasMode::in_accumulator ? "1" : "0");
  m.emplace_back("constrain_first", policy.constrain_first ? "1" : "0");
  m.emplace_back("constrain_last", policy.constrain_last ? "1" : "0");
  m.emplace_back("edge_weight_bits", std::to_string(policy.edge_weight_bits));
  m.emplace_back("edge_acc_bits", std::to_string(policy.edge_acc_bits));
  m.emplace_back("penalty", std::to_string(policy.penalty_weight));
  m.emplace_back("a2q_init", policy.init == quant::A2QInitMode::reference ? "reference" : "projection");
  return m;
}

ModelRecipe
ModelRecipe::from_metadata(const std::function<std::optional<std::string>(std::string_view)>& find) {
  const auto text = [&](std::string_view key) {
    const std::optional<std::string> v = find(key);
    if (!v)
      throw config_error("the model's metadata has no '" + std::string(key) + "' entry");
    return *v;
  };
  const auto integer = [&](std::string_view key) {
    const std::string v = text(key);
    std::int64_t out = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc{} || end != v.data() + v.size())
      throw config_error("the model's metadata '" + std::string(key) + "' = '" + v + "' is not an integer");
    return out;
  };
  const auto flag = [&](std::string_view key) { return integer(key) != 0; };
  ModelRecipe r;
  r.architecture = text("model");
  const std::string shape = text("input_shape");
  std::int64_t dims[3] = {0, 0, 0};
  const char* p = shape.data();
  const char* end = shape.data() + shape.size();
  for (int i = 0; i < 3; ++i) {
    const auto [next, ec] = std::from_chars(p, end, dims[i]);
    if (ec != std::errc{} || (i < 2 && (next == end || *next != 'x')) || (i == 2 && next != end))
      throw config_error("the model's metadata 'input_shape' = '" + shape + "' is not CxHxW");
    p = next + 1;
  }
  r.input = Shape{dims[0], dims[1], dims[2]};
  r.classes = integer("classes");
  if (r.architecture == "mlp" && find("mlp_width")) // files written before the key held 256
    r.mlp_width = integer("mlp_width");
  if (r.architecture == "mobilenet")
    r.mobilenet_width = integer("mobilenet_width");
  if (r.architecture == "espcn") {
    r.espcn_width = integer("espcn_width");
    r.upscale = integer("upscale");
  }
  if (r.architecture == "resnet") {
    r.resnet_width = integer("resnet_width");
    r.resnet_blocks = static_cast<int>(integer("resnet_blocks"));
  }
  r.policy.method = quant::parse_quant_method(text("quant"));
  r.policy.weight_bits = static_cast<int>(integer("weight_bits"));
  r.policy.act_bits = static_cast<int>(integer("act_bits"));
  r.policy.acc_bits = static_cast<int>(integer("acc_bits"));
  if (find("tile")) { // files without multi-stage accumulation have neither key
    r.policy.tile = integer("tile");
    r.policy.inner_bits = static_cast<int>(integer("inner_bits"));
  }
  r.policy.per_channel = flag("per_channel");
  r.policy.bias_mode =
      flag("bias_in_accumulator") ? nn::BiasMode::in_accumulator : nn::BiasMode::after_accumulation;
  r.policy.constrain_first = flag("constrain_first");
  r.policy.constrain_last = flag("constrain_last");
  r.policy.edge_weight_bits = static_cast<int>(integer("edge_weight_bits"));
  r.policy.edge_acc_bits = static_cast<int>(integer("edge_acc_bits"));
  const std::string penalty = text("penalty");
  char* penalty_end = nullptr;
  r.policy.penalty_weight = std::strtod(penalty.c_str(), &penalty_end);
  if (penalty.empty() || penalty_end != penalty.c_str() + penalty.size())
    throw config_error("the model's metadata 'penalty' = '" + penalty + "' is not a number");
  r.policy.init =
      text("a2q_init") == "reference" ? quant::A2QInitMode::reference : quant::A2QInitMode::projection;
  r.validate();
  return r;
}

} // namespace a2q::models
