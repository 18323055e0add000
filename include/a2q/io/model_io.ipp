#pragma once
/// @file
/// Definitions for model_io.hpp (see a2q/core/config.hpp).

#include "a2q/io/model_io.hpp"

#include "a2q/engine/model_conversion.hpp"
#include "a2q/io/model_file.hpp"
#include "a2q/models/recipe.hpp"
#include "a2q/nn/quant_model.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace a2q::io {

void save_model(const std::filesystem::path& path, const models::ModelRecipe& recipe, const nn::Module& model,
                const std::vector<std::pair<std::string, std::string>>& extra) {
  recipe.validate();
  ModelFile file;
  file.metadata.emplace_back(model_recipe_key, model_recipe_version);
  for (auto& entry : recipe.to_metadata())
    file.metadata.push_back(std::move(entry));
  for (const auto& [key, value] : extra)
    file.metadata.emplace_back(key, value);
  file.parameters = model.state_dict();
  file.integer_layers = nn::integer_layers(model);
  save_model_file(path, file);
}

LoadedModel load_model(const std::filesystem::path& path) {
  LoadedModel out;
  out.file = load_model_file(path);
  const std::string who = path.string();
  const auto recipe_version = out.file.find_metadata(model_recipe_key);
  if (!recipe_version)
    throw io_error(who + ": not an a2q model (no '" + std::string(model_recipe_key) + "' metadata)");
  if (*recipe_version != model_recipe_version)
    throw io_error(who + ": model recipe version " + *recipe_version +
                   " is not supported (this build reads " + model_recipe_version + ")");
  try {
    out.recipe =
        models::ModelRecipe::from_metadata([&](std::string_view key) { return out.file.find_metadata(key); });
    Rng rng(0); // the initial weights are replaced by the stored ones
    out.model = out.recipe.build(rng);
    out.model->load_state_dict(out.file.parameters);
  } catch (const io_error&) {
    throw;
  } catch (const error& e) {
    throw io_error(who + ": " + e.what());
  }
  out.model->eval();
  const std::vector<nn::IntegerLayer> derived = nn::integer_layers(*out.model);
  const bool same =
      derived.size() == out.file.integer_layers.size() &&
      std::equal(derived.begin(), derived.end(), out.file.integer_layers.begin(),
                 [](const nn::IntegerLayer& a, const nn::IntegerLayer& b) {
                   return a.name == b.name && a.kind == b.kind && a.weights.shape() == b.weights.shape();
                 });
  if (!same)
    throw io_error(who +
                   ": the stored integer layers do not match the architecture of the stored parameters");
  return out;
}

engine::IntegerModel to_integer_model(const LoadedModel& loaded) {
  return engine::convert_to_integer(*loaded.model, loaded.recipe.input, loaded.file.integer_layers);
}

} // namespace a2q::io
