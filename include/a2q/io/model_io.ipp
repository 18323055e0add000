#pragma once
/// @file
/// Definitions for model_io.hpp (see a2q/core/config.hpp).

#include "a2q/io/model_io.hpp"

#include "a2q/engine/model_conversion.hpp"
#include "a2q/io/architecture.hpp"
#include "a2q/io/model_file.hpp"
#include "a2q/models/recipe.hpp"
#include "a2q/nn/act_quant.hpp"
#include "a2q/nn/quant_layer.hpp"
#include "a2q/nn/quant_model.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace a2q::io::detail {

/// Where the integer view a file stores for a layer (`stored`) disagrees with the one the layer's
/// parameters give (`derived`), as a phrase naming the field and, for per-channel values, the first
/// channel that differs ("" when they are equal).
inline std::string integer_layer_disagreement(const nn::IntegerLayer& stored,
                                              const nn::IntegerLayer& derived) {
  const auto field = [](const char* what, const std::string& file, const std::string& params) {
    return std::string(what) + " is " + file + " in the file but " + params + " from its parameters";
  };
  if (stored.name != derived.name || stored.kind != derived.kind)
    return field("the layer", "'" + stored.name + "' (" + stored.kind + ")",
                 "'" + derived.name + "' (" + derived.kind + ")");
  if (stored.method != derived.method)
    return field("the method", std::string(quant::to_string(stored.method)),
                 std::string(quant::to_string(derived.method)));
  if (stored.out_channels != derived.out_channels || stored.fan_in != derived.fan_in ||
      stored.weights.shape() != derived.weights.shape())
    return field("the weight shape", stored.weights.shape().to_string(), derived.weights.shape().to_string());
  const std::pair<const char*, std::pair<int, int>> widths[] = {
      {"weight_bits", {stored.weight_bits, derived.weight_bits}},
      {"input_bits", {stored.input_bits, derived.input_bits}},
      {"accumulator_bits", {stored.accumulator_bits, derived.accumulator_bits}},
      {"inner_bits", {stored.inner_bits, derived.inner_bits}},
      {"input_signed", {stored.input_signed, derived.input_signed}},
      {"bias_in_accumulator", {stored.bias_in_accumulator, derived.bias_in_accumulator}}};
  for (const auto& [what, values] : widths)
    if (values.first != values.second)
      return field(what, std::to_string(values.first), std::to_string(values.second));
  if (stored.tile != derived.tile)
    return field("tile", std::to_string(stored.tile), std::to_string(derived.tile));
  const std::int64_t K = stored.fan_in;
  const auto w = std::mismatch(stored.weights.begin(), stored.weights.end(), derived.weights.begin());
  if (w.first != stored.weights.end()) {
    const std::int64_t at = w.first - stored.weights.begin();
    std::int64_t channels = 0;
    for (std::int64_t c = 0; c < stored.out_channels; ++c)
      channels += !std::equal(stored.channel(c).begin(), stored.channel(c).end(), derived.channel(c).begin());
    return "channel " + std::to_string(at / K) + ", weight " + std::to_string(at % K) + ": " +
           field("the integer", std::to_string(*w.first), std::to_string(*w.second)) + " (" +
           std::to_string(channels) + " of " + std::to_string(stored.out_channels) + " channels differ)";
  }
  for (std::size_t c = 0; c < stored.weight_scale.size(); ++c)
    if (std::memcmp(&stored.weight_scale[c], &derived.weight_scale[c], sizeof(float)) != 0)
      return "channel " + std::to_string(c) + ": " +
             field("the weight scale", float_text(stored.weight_scale[c]),
                   float_text(derived.weight_scale[c]));
  if (std::memcmp(&stored.input_scale, &derived.input_scale, sizeof(float)) != 0)
    return field("the input scale", float_text(stored.input_scale), float_text(derived.input_scale));
  if (stored.bias.has_value() != derived.bias.has_value())
    return field("the bias", stored.bias ? "present" : "absent", derived.bias ? "present" : "absent");
  if (stored.bias)
    for (std::size_t c = 0; c < stored.bias->size(); ++c)
      if ((*stored.bias)[c] != (*derived.bias)[c])
        return "channel " + std::to_string(c) + ": " +
               field("the bias", std::to_string((*stored.bias)[c]), std::to_string((*derived.bias)[c]));
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

namespace detail {

/// Refuses quantizer state that finite parameters can still make meaningless: scales are stored as log2, so
/// a finite log2 of -150 or less is a scale of 0 and one of 128 or more an infinite scale (a bias divided
/// by such a step becomes NaN on its way to an integer), and the calibration counters must be counts.
inline void check_quantizer_state(const nn::Module& model, const std::string& who) {
  const auto usable = [](double scale) { return scale > 0.0 && std::isfinite(scale); };
  model.visit("", [&](const std::string& prefix, const nn::Module& m) {
    const std::string name = prefix.empty() ? std::string("model") : prefix.substr(0, prefix.size() - 1);
    if (const auto* a = dynamic_cast<const nn::ActQuant*>(&m)) {
      if (!usable(a->scale()))
        throw io_error(who + ": activation quantizer '" + name + "' has scale " + std::to_string(a->scale()) +
                       ", expected a finite scale > 0 (its log2_scale is out of range)");
      const float calibrated = a->calibrated_flag[0], observed = a->observed[0];
      if ((calibrated != 0.0f && calibrated != 1.0f) || !(observed >= 0.0f && observed <= 0x1p31f) ||
          observed != std::floor(observed))
        throw io_error(who + ": activation quantizer '" + name + "' has calibrated = " +
                       std::to_string(calibrated) + " and observed_batches = " + std::to_string(observed) +
                       ", expected 0 or 1 and a whole count in [0, 2^31]");
    }
    if (const auto* q = dynamic_cast<const nn::QuantLayer*>(&m)) {
      const std::vector<float> scales = q->weight_quant.channel_scales();
      for (std::size_t c = 0; c < scales.size(); ++c)
        if (!usable(scales[c]))
          throw io_error(who + ": layer '" + name + "' has weight scale " + std::to_string(scales[c]) +
                         " in channel " + std::to_string(c) +
                         ", expected a finite scale > 0 (its log2_scale is out of range)");
    }
  });
}

/// read_model without its final check that the stored integer layers are the ones the parameters give,
/// which are left in `derived`.
inline LoadedModel rebuild_model(ModelFile file, const std::string& who,
                                 std::vector<nn::IntegerLayer>& derived) {
  LoadedModel out;
  if (file.architecture.empty()) {
    out = detail::read_recipe_model(std::move(file), who);
  } else {
    try {
      Rng rng(0); // the initial weights are replaced by the stored ones
      // The network cannot hold more weights than the file stores floats: a description that asks for
      // more is refused before anything is allocated.
      std::int64_t stored_floats = 0;
      for (const auto& [name, tensor] : file.parameters)
        stored_floats += tensor.numel();
      Architecture arch = build_architecture(file.architecture, rng, nullptr, false, stored_floats);
      out.model = std::move(arch.network);
      out.input = arch.input;
    } catch (const error& e) {
      throw io_error(who + ": architecture: " + e.what());
    }
    out.architecture = file.architecture;
    out.file = std::move(file);
  }
  // Parameters and buffers are finite in every model a2q writes (training stops at the first non-finite
  // loss); NaN or infinity in a file would reach the integer conversion.
  for (const auto& [name, tensor] : out.file.parameters)
    for (std::int64_t i = 0; i < tensor.numel(); ++i)
      if (!std::isfinite(tensor[i]))
        throw io_error(who + ": parameter '" + name + "' holds " + std::to_string(tensor[i]) + " at index " +
                       std::to_string(i) + ", expected a finite value");
  try {
    out.model->load_state_dict(out.file.parameters);
  } catch (const error& e) {
    throw io_error(who + ": " + e.what());
  }
  check_quantizer_state(*out.model, who);
  out.model->eval();
  derived = nn::integer_layers(*out.model);
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

} // namespace detail

LoadedModel read_model(ModelFile file, const std::string& who) {
  std::vector<nn::IntegerLayer> derived;
  LoadedModel out = detail::rebuild_model(std::move(file), who, derived);
  const std::vector<nn::IntegerLayer>& stored = out.file.integer_layers;
  // The integer layers are what the engine runs and the proof checks; they must be exactly what the
  // parameters give, or the file's accuracy, description and proof would each be about another model.
  for (std::size_t i = 0; i < derived.size(); ++i)
    if (const std::string what = detail::integer_layer_disagreement(stored[i], derived[i]); !what.empty())
      throw proof_error(who + ": layer '" + stored[i].name + "': " + what +
                        "; the file's integer layers do not match its parameters, so it cannot be trusted");
  return out;
}

ModelFile model_file_for(const nn::Module& model, const Shape& input, const Metadata& extra) {
  ModelFile file;
  file.architecture = describe_architecture(model, input);
  file.metadata = extra;
  file.parameters = model.state_dict();
  file.integer_layers = nn::integer_layers(model);
  // The file must rebuild into the same network: same parameters, same integer weights.
  std::vector<nn::IntegerLayer> rebuilt;
  try {
    (void)detail::rebuild_model(file, "the model being saved", rebuilt);
  } catch (const error& e) {
    throw config_error(std::string("save_model: the file would not load back: ") + e.what());
  }
  for (std::size_t i = 0; i < rebuilt.size(); ++i)
    if (const std::string what = detail::integer_layer_disagreement(file.integer_layers[i], rebuilt[i]);
        !what.empty())
      throw config_error("save_model: layer '" + file.integer_layers[i].name + "' would not load back: " +
                         what + " (its module does not describe all of its state)");
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
