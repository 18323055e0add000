#pragma once
/// @file
/// Saving and loading a trained model as one call each. save_model writes the network's architecture
/// (io/architecture.hpp), extra metadata (seed, command line, accuracy, ...), the state dict and the
/// integer layers to a model file (model_file.hpp) atomically, after checking that the file it is about
/// to write loads back into the same network; load_model rebuilds the network from the stored
/// architecture (files of format version 1 from their recipe), loads the state dict and checks that the
/// stored integer layers fit it; to_integer_model converts it for the integer engine with the stored
/// integer weights (the ones verified when it was saved).

#include "a2q/core/config.hpp"
#include "a2q/core/shape.hpp"
#include "a2q/engine/model_conversion.hpp"
#include "a2q/io/model_file.hpp"
#include "a2q/models/recipe.hpp"
#include "a2q/nn/module.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace a2q::io {

/// Version-1 files: the metadata key that marks an a2q model file and the version of its recipe keys.
inline constexpr const char* model_recipe_key = "a2q_recipe";

inline constexpr const char* model_recipe_version = "1";

/// The metadata keys that record the input normalisation a model expects, per channel, as
/// comma-separated numbers: x = (pixel / 255 - mean) / std. Files without them use the default for their
/// input shape.
inline constexpr const char* input_mean_key = "input_mean";

inline constexpr const char* input_std_key = "input_std";

/// Extra metadata entries (written after nothing else, in this order).
using Metadata = std::vector<std::pair<std::string, std::string>>;

/// A model read back from a file.
struct LoadedModel {
  Shape input;                       ///< one sample, e.g. [1, 28, 28]
  std::unique_ptr<nn::Module> model; ///< in evaluation mode
  std::string architecture;          ///< its description as JSON text (for version-1 files: derived)
  ModelFile file;                    ///< everything the file holds, metadata included

  /// True if the network has quantized layers (of any method but float).
  A2Q_DECL bool quantized() const;
};

/// The file contents for `model`, which takes samples of shape `input`: its architecture, `extra`
/// metadata, state dict and integer layers. Checks, as save_model does, that they load back into the
/// same network.
/// @throws config_error naming the module a description cannot hold, or what would not load back
A2Q_DECL ModelFile model_file_for(const nn::Module& model, const Shape& input, const Metadata& extra = {});

/// Writes `model` (a network built from a2q's modules, or from types registered with
/// register_module_type) to `path` atomically. Nothing is written unless the file would load back into
/// the same network with the same integer weights.
/// @throws config_error (nothing written) for a module the format cannot describe, naming its type and
///         path, or a model that would not load back; io_error if the file cannot be written
A2Q_DECL void save_model(const std::filesystem::path& path, const nn::Module& model, const Shape& input,
                         const Metadata& extra = {});

/// save_model for a zoo model: also records the recipe's metadata ("model", "quant", ...), after checking
/// that `model` is the network the recipe builds.
/// @throws config_error if `model` differs from the recipe's network (naming the first layer that
///         differs), or for an invalid recipe
A2Q_DECL void save_model(const std::filesystem::path& path, const models::ModelRecipe& recipe,
                         const nn::Module& model, const Metadata& extra = {});

/// Rebuilds the model a parsed file holds (see load_model).
/// @param who the file name that starts every error message
A2Q_DECL LoadedModel read_model(ModelFile file, const std::string& who);

/// Reads a model written by save_model (or, for format version 1, by the recipe-based save of earlier
/// versions).
/// @throws io_error for an unreadable or corrupt file, an architecture this build cannot rebuild (naming
///         the layer), parameters that do not fit it, or integer layers of other names or shapes
A2Q_DECL LoadedModel load_model(const std::filesystem::path& path);

/// The integer program of a loaded model, computed with the integer layers stored in its file.
A2Q_DECL engine::IntegerModel to_integer_model(const LoadedModel& loaded);

} // namespace a2q::io

#if A2Q_HEADER_ONLY
#include "a2q/io/model_io.ipp"
#endif
