#pragma once
/// @file
/// models::ModelRecipe: everything that decides a model's architecture (which network, input shape,
/// classes, quantization policy), written to and read from a model file's metadata so that a saved
/// model can be rebuilt before its parameters are loaded.

#include "a2q/core/config.hpp"
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

/// The architectures a recipe can build.
inline constexpr std::array<std::string_view, 5> recipe_architectures = {"mlp", "cnn", "resnet", "mobilenet",
                                                                         "espcn"};

/// The widest hidden layer a recipe builds (a guard against absurd metadata, not a kernel limit).
inline constexpr std::int64_t max_mlp_width = 8192;

struct ModelRecipe {
  std::string architecture = "mlp"; ///< "mlp" (784-W-W-10), "cnn", "resnet", "mobilenet" or "espcn"
  Shape input{1, 28, 28};           ///< one sample: [C, H, W]
  std::int64_t classes = 10;
  std::int64_t mlp_width = 256;     ///< mlp only: width of both hidden layers
  std::int64_t resnet_width = 16;   ///< resnet only
  int resnet_blocks = 1;            ///< resnet only: blocks per stage
  std::int64_t mobilenet_width = 8; ///< mobilenet only: the stem's channels
  std::int64_t espcn_width = 32;    ///< espcn only: the first convolution's channels
  std::int64_t upscale = 2;         ///< espcn only: the upscaling factor (input is the low-resolution image)

  /// An image-to-image model (espcn): trained on target images, scored by PSNR.
  bool super_resolution() const { return architecture == "espcn"; }
  QuantPolicy policy{}; ///< method none: the float model

  /// Checks the fields; config_error with one clear sentence otherwise.
  A2Q_DECL void validate() const;

  /// A freshly initialised model (weights from rng).
  A2Q_DECL std::unique_ptr<nn::Sequential> build(Rng& rng) const;

  /// The recipe as metadata entries (keys "model", "input_shape", "classes", "quant", ...).
  A2Q_DECL std::vector<std::pair<std::string, std::string>> to_metadata() const;

  /// Reads a recipe back; `find` returns the value of a key, if present.
  /// @throws config_error naming the key for a missing or malformed entry
  A2Q_DECL static ModelRecipe
  from_metadata(const std::function<std::optional<std::string>(std::string_view)>& find);
};

} // namespace a2q::models

#if A2Q_HEADER_ONLY
#include "a2q/models/recipe.ipp"
#endif
