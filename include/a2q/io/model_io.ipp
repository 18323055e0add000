#pragma once
/// @file
/// Definitions for model_io.hpp (see a2q/core/config.hpp).

#include "a2q/io/model_io.hpp"

#include "a2q/engine/model_conversion.hpp"
#include "a2q/io/architecture.hpp"
#include "a2q/io/model_file.hpp"
#include "a2q/models/recipe.hpp"
#include "a2q/nn/quant_layer.hpp"
#include "a2q/nn/quant_model.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace a2q::io::detail {

/// Where two integer views of a layer differ ("" when they are equal).
inline std::string integer_layer_difference(const nn::IntegerLayer& a, const nn::IntegerLayer& b) {
  if (a.name != b.name || a.kind != b.kind || a.method != b.method)
    return "name, kind or method";
  if (a.out_channels != b.out_channels || a.fan_in != b.fan_in || a.weights.shape() != b.weights.shape())
    return "shape";
  if (a.weight_bits != b.weight_bits || a.input_bits != b.input_bits || a.input_signed != b.input_signed ||
      a.accumulator_bits != b.accumulator_bits || a.bias_in_accumulator != b.bias_in_accumulator)
    return "bit widths or flags";
  if (!std::equal(a.weights.begin(), a.weights.end(), b.weights.begin()))
    return "integer weights";
  if (a.weight_scale != b.weight_scale || std::memcmp(&a.input_scale, &b.input_scale, sizeof(float)) != 0)
    return "scales";
  if (a.bias != b.bias)
    return "bias";
  return {};
}

/// The dotted path of the first layer where two architecture descriptions differ.
inline std::string first_difference(const nlohmann::ordered_json& a, const nlohmann::ordered_json& b,
                                    const std::string& path) {
  if (a.is_object() && b.is_object() && a.contains("layers") && b.contains("layers") &&
      a["layers"].is_array() && b["layers"].is_array()) {
    const auto& la = a["layers"];
    const auto& lb = b["layers"];
    for (std::size_t i = 0; i < std::min(la.size(), lb.size()); ++i) {
      const std::string name = la[i].value("name", std::to_string(i));
      if (la[i] != lb[i])
        return first_difference(la[i], lb[i], path.empty() ? name : path + "." + name);
    }
    if (la.size() != lb.size())
      return (path.empty() ? std::string("the network") : "'" + path + "'") + " (" +
             std::to_string(la.size()) + " layers versus " + std::to_string(lb.size()) + ")";
  }
  return path.empty() ? std::string("the network") : "'" + path + "'";
}

/// Rebuilds the network of a version-1 file from its recipe.
inline LoadedModel read_recipe_model(ModelFile file, const std::string& who) {
  LoadedModel out;
  const auto recipe_version = file.find_metadata(model_recipe_key);
  if (!recipe_version)
    throw io_error(who + ": not an a2q model (no architecture, and no '" + std::string(model_recipe_key) +
                   "' metadata)");
  if (*recipe_version != model_recipe_version)
    throw io_error(who + ": model recipe version " + *recipe_version +
                   " is not supported (this build reads " + model_recipe_version + ")");
  try {
    const models::ModelRecipe recipe =
        models::ModelRecipe::from_metadata([&](std::string_view key) { return file.find_metadata(key); });
    Rng rng(0); // the initial weights are replaced by the stored ones
    out.model = recipe.build(rng);
    out.input = recipe.input;
    out.architecture = describe_architecture(*out.model, out.input);
  } catch (const error& e) {
    throw io_error(who + ": " + e.what());
  }
  out.file = std::move(file);
  return out;
}

} // namespace a2q::io::detail

namespace a2q::io {

bool LoadedModel::quantized() const {
  bool any = false;
  if (model)
    for (const auto& [name, layer] : nn::quant_layers(*model))
      any = any || layer->config().method != quant::QuantMethod::none;
  return any;
}

LoadedModel read_model(ModelFile file, const std::string& who) {
  LoadedModel out;
  if (file.architecture.empty()) {
    out = detail::read_recipe_model(std::move(file), who);
  } else {
    try {
      Rng rng(0); // the initial weights are replaced by the stored ones
      Architecture arch = build_architecture(file.architecture, rng);
      out.model = std::move(arch.network);
      out.input = arch.input;
    } catch (const error& e) {
      throw io_error(who + ": architecture: " + e.what());
    }
    out.architecture = file.architecture;
    out.file = std::move(file);
  }
  try {
    out.model->load_state_dict(out.file.parameters);
  } catch (const error& e) {
    throw io_error(who + ": " + e.what());
  }
  out.model->eval();
  const std::vector<nn::IntegerLayer> derived = nn::integer_layers(*out.model);
  const std::vector<nn::IntegerLayer>& stored = out.file.integer_layers;
  if (derived.size() != stored.size())
    throw io_error(who + ": the file holds " + std::to_string(stored.size()) +
                   " integer layers, but its network has " + std::to_string(derived.size()) +
                   " quantized layers");
  for (std::size_t i = 0; i < derived.size(); ++i)
    if (derived[i].name != stored[i].name || derived[i].kind != stored[i].kind ||
        derived[i].weights.shape() != stored[i].weights.shape())
      throw io_error(who + ": stored integer layer " + std::to_string(i + 1) + " ('" + stored[i].name +
                     "', " + stored[i].kind + " " + stored[i].weights.shape().to_string() +
                     ") does not match the network's layer '" + derived[i].name + "' (" + derived[i].kind +
                     " " + derived[i].weights.shape().to_string() + ")");
  return out;
}

ModelFile model_file_for(const nn::Module& model, const Shape& input, const Metadata& extra) {
  ModelFile file;
  file.architecture = describe_architecture(model, input);
  file.metadata = extra;
  file.parameters = model.state_dict();
  file.integer_layers = nn::integer_layers(model);
  // The file must rebuild into the same network: same parameters, same integer weights.
  LoadedModel back;
  try {
    back = read_model(file, "the model being saved");
  } catch (const error& e) {
    throw config_error(std::string("save_model: the file would not load back: ") + e.what());
  }
  const std::vector<nn::IntegerLayer> rebuilt = nn::integer_layers(*back.model);
  for (std::size_t i = 0; i < rebuilt.size(); ++i)
    if (const std::string what = detail::integer_layer_difference(rebuilt[i], file.integer_layers[i]);
        !what.empty())
      throw config_error("save_model: layer '" + file.integer_layers[i].name +
                         "' would load back with other " + what +
                         " (its module does not describe all of its state)");
  return file;
}

void save_model(const std::filesystem::path& path, const nn::Module& model, const Shape& input,
                const Metadata& extra) {
  save_model_file(path, model_file_for(model, input, extra));
}

void save_model(const std::filesystem::path& path, const models::ModelRecipe& recipe, const nn::Module& model,
                const Metadata& extra) {
  recipe.validate();
  Rng rng(0);
  const auto expected = recipe.build(rng);
  const auto want = nlohmann::ordered_json::parse(describe_architecture(*expected, recipe.input));
  const auto have = nlohmann::ordered_json::parse(describe_architecture(model, recipe.input));
  if (want != have)
    throw config_error("save_model: the model is not the network of the '" + recipe.architecture +
                       "' recipe: it differs at " +
                       detail::first_difference(have["network"], want["network"], "") +
                       "; save a custom network without a recipe");
  Metadata metadata{{model_recipe_key, model_recipe_version}}; // the recipe still rebuilds the network
  for (auto& entry : recipe.to_metadata())
    metadata.push_back(std::move(entry));
  metadata.insert(metadata.end(), extra.begin(), extra.end());
  save_model(path, model, recipe.input, metadata);
}

LoadedModel load_model(const std::filesystem::path& path) {
  return read_model(load_model_file(path), path.string());
}

engine::IntegerModel to_integer_model(const LoadedModel& loaded) {
  return engine::convert_to_integer(*loaded.model, loaded.input, loaded.file.integer_layers);
}

} // namespace a2q::io
