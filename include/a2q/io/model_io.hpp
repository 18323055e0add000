#pragma once
/// @file
/// Saving and loading a trained model as one call each: save_model writes the recipe, extra metadata
/// (seed, command line, accuracy, ...), the state dict and the integer layers to a model file
/// (model_file.hpp) atomically; load_model rebuilds the architecture from the recipe, loads the state
/// dict and checks that the stored integer layers fit the architecture; to_integer_model converts it
/// for the integer engine with the stored integer weights (the ones verified when it was saved).

#include "a2q/core/config.hpp"
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

/// The metadata key that marks an a2q model file's contents and the version of its recipe keys.
inline constexpr const char* model_recipe_key = "a2q_recipe";

inline constexpr const char* model_recipe_version = "1";

/// A model read back from a file.
struct LoadedModel {
  models::ModelRecipe recipe;
  std::unique_ptr<nn::Sequential> model; ///< in evaluation mode
  ModelFile file;                        ///< everything the file holds, metadata included
};

/// Writes `model`, built from `recipe`, to `path` atomically, with `extra` metadata after the recipe's.
/// @throws io_error if the file cannot be written; config_error for an invalid recipe
A2Q_DECL void save_model(const std::filesystem::path& path, const models::ModelRecipe& recipe,
                         const nn::Module& model,
                         const std::vector<std::pair<std::string, std::string>>& extra = {});

/// Reads a model written by save_model.
/// @throws io_error for an unreadable or corrupt file, a recipe this build does not know, parameters
///         that do not fit the architecture, or integer layers of other names or shapes
A2Q_DECL LoadedModel load_model(const std::filesystem::path& path);

/// The integer program of a loaded model, computed with the integer layers stored in its file.
A2Q_DECL engine::IntegerModel to_integer_model(const LoadedModel& loaded);

} // namespace a2q::io

#if A2Q_HEADER_ONLY
#include "a2q/io/model_io.ipp"
#endif
