#pragma once
/// @file
/// A network's architecture as data: describe_architecture turns a model built from a2q's modules into a
/// JSON description (each module's type and configuration, nested in the order the modules run), and
/// build_architecture rebuilds the same network from it. Model files store this description, so a model
/// built in a user's own C++ trainer saves, loads and goes through every `a2q` command; `a2q train --arch`
/// trains a network written by hand in the same form.
///
/// The description (docs/architecture.md lists every type and key):
///
///     {"a2q_architecture": 1, "input": [1, 28, 28],
///      "network": {"type": "Sequential", "layers": [
///        {"name": "input_quant", "type": "ActQuant", "bits": 8, "signed": false, "fixed_scale": 0.00392...},
///        {"name": "conv1", "type": "QuantConv2d", "in": 1, "out": 8, "kernel": 3, "padding": 1,
///         "input": "input_quant", "quant": {"method": "a2q+", "weight_bits": 8, "acc_bits": 14, ...}},
///        ...]}}
///
/// A quantized layer names the activation quantizer that feeds it by its dotted path ("input"); the
/// quantizer must come earlier in the network. When a description is built with a QuantPolicy (a2q train
/// --arch), a quantized layer without "quant" settings takes policy.layer(path, first, last), an
/// ActQuant without "bits" the policy's activation settings, and keys that are present override them.
///
/// Extension point: register_module_type<M>(name, describe, build) teaches the format a module type of
/// your own. The description is an nlohmann::ordered_json (Debian nlohmann-json3-dev; keys keep their
/// order): include <nlohmann/json.hpp> where you write a serializer.

#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/rng.hpp"
#include "a2q/core/shape.hpp"
#include "a2q/nn/act_quant.hpp"
#include "a2q/nn/module.hpp"
#include "a2q/nn/quant_config.hpp"

#include <nlohmann/json_fwd.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

namespace a2q::models {
struct QuantPolicy;
}

namespace a2q::io {

/// The version of the description this build writes (key "a2q_architecture"); it reads this one.
inline constexpr int architecture_version = 1;

/// The most weights a description may ask for in the whole network (2^28, 1 GiB of floats), checked
/// before anything is allocated; a model file's description gets the lower limit of the floats the file
/// stores.
inline constexpr std::int64_t max_architecture_weights = std::int64_t{1} << 28;

/// Writing a description: what a module type's `describe` function can ask of the whole model.
class ArchitectureWriter {
public:
  /// Prepares to describe `root` (collects the path of every activation quantizer in it).
  A2Q_DECL explicit ArchitectureWriter(const nn::Module& root);

  /// The description of `module`, found at `path` in the model: {"type": ..., the type's own keys}.
  /// @throws config_error naming the type and the path when no serializer knows the module's type
  A2Q_DECL nlohmann::ordered_json describe(const nn::Module& module, const std::string& path);

  /// The dotted path of `quantizer` in the model (what a quantized layer stores as its "input").
  /// @param user the path of the module that refers to it, for the error message
  /// @throws config_error if the quantizer is not part of the model
  A2Q_DECL std::string path_of(const nn::ActQuant& quantizer, const std::string& user) const;

private:
  std::map<const nn::ActQuant*, std::string> quantizer_paths_;
};

/// Reading a description: what a module type's `build` function can ask, and checked accessors for its
/// keys whose errors name the layer ("layer 'block1.conv1' (QuantConv2d): 'out' must be ...").
class ArchitectureReader {
public:
  /// @param rng initial weights of the layers (drawn in the order the description lists them)
  /// @param policy the quantization defaults of a hand-written description (may be null)
  /// @param max_weights the most weights the whole network may hold (see reserve_weights)
  A2Q_DECL ArchitectureReader(Rng& rng, const models::QuantPolicy* policy,
                              std::int64_t max_weights = max_architecture_weights);

  /// Builds the module `node` describes, at `path` in the network. Every error becomes a config_error
  /// that names the path and the type.
  A2Q_DECL std::unique_ptr<nn::Module> build(const nlohmann::ordered_json& node, const std::string& path);

  Rng& rng() { return rng_; }

  /// True when the description is read with a quantization policy (a2q train --arch).
  bool has_policy() const { return policy_ != nullptr; }

  /// The activation quantizer that `node[key]` names by path (built earlier in this network).
  A2Q_DECL const nn::ActQuant& quantizer(const nlohmann::ordered_json& node, const std::string& key,
                                         const std::string& path) const;

  /// The settings of the quantized layer at `path`: node[key] (an object, all keys optional) over the
  /// policy's settings for this layer, or over LayerQuantConfig's defaults without a policy.
  A2Q_DECL nn::LayerQuantConfig layer_config(const nlohmann::ordered_json& node, const std::string& key,
                                             const std::string& path) const;

  /// Activation-quantizer settings from the keys of `object` (over the policy's, if any).
  A2Q_DECL nn::ActQuantOptions act_options(const nlohmann::ordered_json& object,
                                           const std::string& path) const;

  /// Checks that node[key], if the node must have it, is present and an integer in [lo, hi].
  A2Q_DECL std::int64_t integer(const nlohmann::ordered_json& node, const std::string& key, std::int64_t lo,
                                std::int64_t hi, std::optional<std::int64_t> fallback = {}) const;
  A2Q_DECL double number(const nlohmann::ordered_json& node, const std::string& key,
                         std::optional<double> fallback = {}) const;
  A2Q_DECL bool boolean(const nlohmann::ordered_json& node, const std::string& key,
                        std::optional<bool> fallback = {}) const;
  A2Q_DECL std::string text(const nlohmann::ordered_json& node, const std::string& key,
                            std::optional<std::string> fallback = {}) const;

  /// Called by a module type's `build` before it allocates a layer of `out` x `per_output` weights: a
  /// description may come from an untrusted file, so the layer must stay within max_layer_weights and the
  /// network within the reader's max_weights, checked before anything is allocated.
  /// @throws config_error naming the sizes
  A2Q_DECL void reserve_weights(std::int64_t out, std::int64_t per_output);

  /// Rejects keys of `node` outside `known` (and "type", "name"), so that a typo is not ignored.
  A2Q_DECL void only_keys(const nlohmann::ordered_json& node,
                          std::initializer_list<std::string_view> known) const;

  /// Records that the quantized layer at `path` is first / last of the network (for the policy).
  /// Called by build_architecture before building; user code does not need it.
  A2Q_DECL void set_quant_layer_order(std::vector<std::string> paths);

private:
  Rng& rng_;
  const models::QuantPolicy* policy_;
  std::vector<std::string> quant_layer_order_;
  std::map<std::string, const nn::ActQuant*, std::less<>> quantizers_;
  int depth_ = 0; ///< modules being built inside one another
  std::int64_t weights_left_;
};

/// How one module type is written and rebuilt.
struct ModuleSerializer {
  std::string type; ///< the "type" key, e.g. "QuantConv2d"
  /// Writes the module's own keys into `node` (the writer has set "type"). Children are described with
  /// writer.describe(child, path + "." + child_name).
  std::function<void(const nn::Module& module, nlohmann::ordered_json& node, ArchitectureWriter& writer,
                     const std::string& path)>
      describe;
  /// Builds the module from `node`; children with reader.build(child_node, path + "." + child_name).
  std::function<std::unique_ptr<nn::Module>(const nlohmann::ordered_json& node, ArchitectureReader& reader,
                                            const std::string& path)>
      build;
};

} // namespace a2q::io

namespace a2q::io::detail {

/// A ModuleSerializer from functions that take the module as its own type M.
template <class M, class Describe, class Build>
ModuleSerializer typed_serializer(std::string type, Describe describe, Build build) {
  ModuleSerializer s;
  s.type = std::move(type);
  s.describe = [describe = std::move(describe)](const nn::Module& m, nlohmann::ordered_json& node,
                                                ArchitectureWriter& w, const std::string& path) {
    describe(static_cast<const M&>(m), node, w, path);
  };
  s.build = [build = std::move(build)](const nlohmann::ordered_json& node, ArchitectureReader& r,
                                       const std::string& path) -> std::unique_ptr<nn::Module> {
    return build(node, r, path);
  };
  return s;
}

} // namespace a2q::io::detail

namespace a2q::io {

/// Registers the serializer of the module type `type` (its exact dynamic type; a subclass needs its
/// own). A later registration of the same type or name replaces the earlier one.
A2Q_DECL void register_module_serializer(std::type_index type, ModuleSerializer serializer);

/// The serializer for the exact type of `module`, or null.
A2Q_DECL const ModuleSerializer* find_module_serializer(const nn::Module& module);

/// The serializer registered under `type` (the "type" key), or null.
A2Q_DECL const ModuleSerializer* find_module_serializer(std::string_view type);

/// Typed form of register_module_serializer:
///
///     a2q::io::register_module_type<MyBlock>(
///         "MyBlock",
///         [](const MyBlock& m, nlohmann::ordered_json& node, a2q::io::ArchitectureWriter&, const
///         std::string&) {
///           node["width"] = m.width();
///         },
///         [](const nlohmann::ordered_json& node, a2q::io::ArchitectureReader& r, const std::string&) {
///           return std::make_unique<MyBlock>(r.integer(node, "width", 1, 4096), r.rng());
///         });
template <class M, class Describe, class Build>
void register_module_type(std::string type, Describe describe, Build build) {
  register_module_serializer(
      std::type_index(typeid(M)),
      detail::typed_serializer<M>(std::move(type), std::move(describe), std::move(build)));
}

/// A network rebuilt from its description.
struct Architecture {
  Shape input;                         ///< one sample, e.g. [1, 28, 28]
  Shape output;                        ///< one output, e.g. [10] (known only after a shape check)
  std::unique_ptr<nn::Module> network; ///< freshly initialised (weights from the reader's rng)
};

/// The description of `model`, which takes samples of shape `input`, as JSON text (2-space indent).
/// @throws config_error naming the type and path of a module no serializer knows, or a quantized layer
///         fed by a quantizer outside the model
A2Q_DECL std::string describe_architecture(const nn::Module& model, const Shape& input);

/// Rebuilds the network a description holds.
/// @param policy defaults of a hand-written description (see the file comment); null: every quantized
///        layer and quantizer must say all it needs
/// @param check_shapes also run one batch of zeros through a copy of the network, so that layers whose
///        shapes do not fit together are named before any training (no tensor of it may exceed 256 MiB)
/// @param max_weights the most weights the network may hold (ArchitectureReader::reserve_weights)
/// @throws config_error with one sentence naming the layer: malformed JSON (with its byte offset), an
///         unknown type or key, a missing or out-of-range value, a reference to a quantizer that does not
///         come earlier, a declared input format its quantizer does not have, a P too narrow for the input
A2Q_DECL Architecture build_architecture(std::string_view description, Rng& rng,
                                         const models::QuantPolicy* policy = nullptr,
                                         bool check_shapes = false,
                                         std::int64_t max_weights = max_architecture_weights);

/// Runs one batch of zeros through `network` (train mode, child by child through nested Sequentials),
/// so that a layer whose input shape it cannot take is named, and returns the shape of one output.
/// Changes calibration state: use a copy.
A2Q_DECL Shape check_architecture_shapes(nn::Module& network, const Shape& input);

} // namespace a2q::io

#if A2Q_HEADER_ONLY
#include "a2q/io/architecture.ipp"
#endif
