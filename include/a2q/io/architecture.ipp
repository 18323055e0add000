#pragma once
/// @file
/// Definitions for architecture.hpp (see a2q/core/config.hpp), and the serializers of a2q's own modules.

#include "a2q/io/architecture.hpp"

#include "a2q/autograd/variable.hpp"
#include "a2q/core/aligned_allocator.hpp"
#include "a2q/models/quant_zoo.hpp"
#include "a2q/nn/activation.hpp"
#include "a2q/nn/batch_norm.hpp"
#include "a2q/nn/conv2d.hpp"
#include "a2q/nn/linear.hpp"
#include "a2q/nn/pooling.hpp"
#include "a2q/nn/quant_conv2d.hpp"
#include "a2q/nn/quant_linear.hpp"
#include "a2q/nn/residual.hpp"
#include "a2q/nn/residual_add.hpp"
#include "a2q/nn/sequential.hpp"
#include "a2q/quant/method.hpp"
#include "a2q/quant/rounding.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <typeindex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace a2q::io::detail {

using json = nlohmann::ordered_json;

/// "layer 'conv1' (QuantConv2d): " — the start of every error about one node.
inline std::string node_label(const json& node, const std::string& path) {
  std::string type = "?";
  if (node.is_object())
    if (auto it = node.find("type"); it != node.end() && it->is_string())
      type = it->get<std::string>();
  return (path.empty() ? std::string("the network") : "layer '" + path + "'") + " (" + type + "): ";
}

inline std::string child_path(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "." + name;
}

/// A value for an error message: a number or a string (cut after 60 bytes), or the kind of a container
/// (printing a container could be long, and recursion on a deeply nested one).
inline std::string short_text(const json& v) {
  if (v.is_structured())
    return std::string("an ") + v.type_name();
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return s.size() > 60 ? s.substr(0, 60) + "..." : s;
}

/// Limits that keep a description, which may come from an untrusted file, from exhausting the stack or
/// memory before anything says why.
inline constexpr int max_nesting = 64;                                   ///< modules inside modules
inline constexpr std::int64_t max_layer_weights = std::int64_t{1} << 28; ///< 1 GiB of floats
inline constexpr std::int64_t max_sample_elements = std::int64_t{1} << 24;
/// Largest tensor the shape check's probe may allocate: 2^26 floats, a batch of two samples of 2^25
/// values each, where the largest activation of a real network (ResNet-50 at 224 x 224) has under 2^20.
inline constexpr std::size_t max_probe_tensor_bytes = std::size_t{1} << 28;

/// Module::visit's prefixes end with a dot ("block.act1."); paths here do not.
inline std::string visit_path(const std::string& prefix) {
  return !prefix.empty() && prefix.back() == '.' ? prefix.substr(0, prefix.size() - 1) : prefix;
}

// ----------------------------------------------------------------------------------- quantizer settings

inline json describe_layer_config(const nn::LayerQuantConfig& c) {
  json j;
  j["method"] = std::string(quant::to_string(c.method));
  j["weight_bits"] = c.weight_bits;
  j["acc_bits"] = c.accumulator_bits;
  if (c.tile > 0) {
    j["tile"] = c.tile;
    j["inner_bits"] = c.inner_bits;
  }
  j["per_channel"] = c.per_channel_scale;
  j["bias_mode"] = c.bias_mode == nn::BiasMode::in_accumulator ? "in_accumulator" : "after_accumulation";
  if (c.rounding)
    j["rounding"] = std::string(quant::to_string(*c.rounding));
  j["bias_fraction"] = c.bias_fraction;
  j["init"] = c.init == quant::A2QInitMode::reference ? "reference" : "projection";
  j["penalty"] = c.penalty_weight;
  return j;
}

inline json describe_act_options(const nn::ActQuantOptions& o) {
  json j;
  j["bits"] = o.format.bits;
  j["signed"] = o.format.is_signed;
  if (o.format.is_signed)
    j["narrow"] = o.format.narrow_range;
  j["rounding"] = std::string(quant::to_string(o.rounding));
  j["calibration_batches"] = o.calibration_batches;
  j["percentile"] = o.percentile;
  if (o.fixed_scale)
    j["fixed_scale"] = static_cast<double>(*o.fixed_scale);
  return j;
}

/// The keys a quantized layer writes about the quantizer that feeds it.
inline void describe_quant_layer(const nn::QuantLayer& l, json& node, ArchitectureWriter& w,
                                 const std::string& path) {
  node["bias"] = l.bias.defined();
  node["input"] = w.path_of(l.input_quantizer(), path);
  node["input_bits"] = l.input_quantizer().format().bits;
  node["input_signed"] = l.input_quantizer().format().is_signed;
  node["quant"] = describe_layer_config(l.config());
}

/// Checks a quantized layer's declared input format against the quantizer it names.
inline const nn::ActQuant& quant_layer_input(const json& node, ArchitectureReader& r,
                                             const std::string& path) {
  const nn::ActQuant& input = r.quantizer(node, "input", path);
  const quant::IntFormat& f = input.format();
  const bool declares_bits = node.contains("input_bits");
  const bool declares_sign = node.contains("input_signed");
  const std::int64_t bits = declares_bits ? r.integer(node, "input_bits", 1, 32) : f.bits;
  const bool is_signed = declares_sign ? r.boolean(node, "input_signed") : f.is_signed;
  if (bits != f.bits || is_signed != f.is_signed)
    throw config_error("declares a " + std::string(is_signed ? "signed" : "unsigned") + " " +
                       std::to_string(bits) + "-bit input, but its input quantizer '" +
                       node["input"].get<std::string>() + "' is " + (f.is_signed ? "signed " : "unsigned ") +
                       std::to_string(f.bits) + "-bit");
  return input;
}

// -------------------------------------------------------------------------------------- the registry

struct SerializerRegistry {
  std::mutex mutex;
  std::unordered_map<std::type_index, ModuleSerializer> by_type;
  std::map<std::string, std::type_index, std::less<>> by_name;
};

inline void add_serializer(SerializerRegistry& registry, std::type_index type, ModuleSerializer s) {
  registry.by_name.insert_or_assign(s.type, type);
  registry.by_type.insert_or_assign(type, std::move(s));
}

// Typed helper for the built-in types.
template <class M, class Describe, class Build>
void add_builtin(SerializerRegistry& registry, std::string type, Describe describe, Build build) {
  // Not register_module_type: that locks the registry this function is filling.
  add_serializer(registry, std::type_index(typeid(M)),
                 typed_serializer<M>(std::move(type), std::move(describe), std::move(build)));
}

/// A subclass that only fixes a setting of its base (A2QLinear, ...) is written as its base type.
template <class Alias, class Base>
void add_alias(SerializerRegistry& registry) {
  auto it = registry.by_type.find(std::type_index(typeid(Base)));
  A2Q_ASSERT(it != registry.by_type.end());
  ModuleSerializer s = it->second;
  registry.by_type.insert_or_assign(std::type_index(typeid(Alias)), std::move(s));
}

inline json conv_geometry(std::int64_t in, std::int64_t out, std::int64_t kh, std::int64_t kw,
                          const Conv2dOptions& o) {
  json j;
  j["in"] = in;
  j["out"] = out;
  if (kh == kw)
    j["kernel"] = kh;
  else
    j["kernel"] = json::array({kh, kw});
  j["stride"] = o.stride;
  j["padding"] = o.padding;
  j["groups"] = o.groups;
  return j;
}

inline Conv2dOptions read_conv_options(const json& node, ArchitectureReader& r) {
  return {.stride = static_cast<int>(r.integer(node, "stride", 1, 64, 1)),
          .padding = static_cast<int>(r.integer(node, "padding", 0, 64, 0)),
          .groups = static_cast<int>(r.integer(node, "groups", 1, 1 << 20, 1))};
}

/// Largest channel or feature count a description may ask for (a guard against absurd files).
inline constexpr std::int64_t max_width = std::int64_t{1} << 20;

inline void register_builtin_serializers(SerializerRegistry& registry) {
  using std::make_unique;
  add_builtin<nn::Sequential>(
      registry, "Sequential",
      [](const nn::Sequential& m, json& node, ArchitectureWriter& w, const std::string& path) {
        json layers = json::array();
        for (const auto& [name, child] : m.named_children()) {
          json c = {{"name", name}}; // first, then "type" and the rest
          c.update(w.describe(*child, child_path(path, name)));
          layers.push_back(std::move(c));
        }
        node["layers"] = std::move(layers);
      },
      [](const json& node, ArchitectureReader& r, const std::string& path) {
        r.only_keys(node, {"layers"});
        const auto it = node.find("layers");
        if (it == node.end() || !it->is_array())
          throw config_error("needs 'layers', an array of modules");
        auto seq = make_unique<nn::Sequential>();
        std::set<std::string> names;
        for (const json& child : *it) {
          std::string name = std::to_string(seq->size());
          if (child.is_object() && child.contains("name")) {
            if (!child["name"].is_string() || child["name"].get<std::string>().empty())
              throw config_error("layer " + name + " has a 'name' that is not a non-empty string");
            name = child["name"].get<std::string>();
            if (name.find('.') != std::string::npos)
              throw config_error("the layer name '" + name + "' contains a '.' (it separates path parts)");
          }
          if (!names.insert(name).second)
            throw config_error("two layers are named '" + name + "'");
          seq->add(r.build(child, child_path(path, name)), name);
        }
        return seq;
      });
  add_builtin<nn::Linear>(
      registry, "Linear",
      [](const nn::Linear& m, json& node, ArchitectureWriter&, const std::string&) {
        node["in"] = m.in_features();
        node["out"] = m.out_features();
        node["bias"] = m.bias.defined();
      },
      [](const json& node, ArchitectureReader& r, const std::string&) {
        r.only_keys(node, {"in", "out", "bias"});
        r.reserve_weights(r.integer(node, "out", 1, max_width), r.integer(node, "in", 1, max_width));
        return make_unique<nn::Linear>(r.integer(node, "in", 1, max_width),
                                       r.integer(node, "out", 1, max_width), r.rng(),
                                       r.boolean(node, "bias", true));
      });
  add_builtin<nn::Conv2d>(
      registry, "Conv2d",
      [](const nn::Conv2d& m, json& node, ArchitectureWriter&, const std::string&) {
        const Shape& s = m.weight.shape();
        node.update(conv_geometry(m.in_channels(), m.out_channels(), s[2], s[3], m.options()));
        node["bias"] = m.bias.defined();
      },
      [](const json& node, ArchitectureReader& r, const std::string&) {
        r.only_keys(node, {"in", "out", "kernel", "stride", "padding", "groups", "bias"});
        std::int64_t kh = 0, kw = 0;
        const auto k = node.find("kernel");
        if (k != node.end() && k->is_array()) {
          if (k->size() != 2 || !(*k)[0].is_number_integer() || !(*k)[1].is_number_integer())
            throw config_error("'kernel' must be an integer or [height, width]");
          kh = (*k)[0].get<std::int64_t>();
          kw = (*k)[1].get<std::int64_t>();
          if (kh < 1 || kw < 1 || kh > 64 || kw > 64)
            throw config_error("'kernel' sizes must be in [1, 64]");
        } else {
          kh = kw = r.integer(node, "kernel", 1, 64);
        }
        const Conv2dOptions options = read_conv_options(node, r);
        const std::int64_t in = r.integer(node, "in", 1, max_width);
        r.reserve_weights(r.integer(node, "out", 1, max_width), in / options.groups * kh * kw);
        return make_unique<nn::Conv2d>(r.integer(node, "in", 1, max_width),
                                       r.integer(node, "out", 1, max_width), kh, kw, r.rng(),
                                       read_conv_options(node, r), r.boolean(node, "bias", true));
      });
  add_builtin<nn::BatchNorm2d>(
      registry, "BatchNorm2d",
      [](const nn::BatchNorm2d& m, json& node, ArchitectureWriter&, const std::string&) {
        node["channels"] = m.channels();
        node["momentum"] = static_cast<double>(m.momentum());
        node["eps"] = static_cast<double>(m.eps());
      },
      [](const json& node, ArchitectureReader& r, const std::string&) {
        r.only_keys(node, {"channels", "momentum", "eps"});
        const double momentum = r.number(node, "momentum", 0.1f);
        const double eps = r.number(node, "eps", 1e-5f);
        if (!(momentum >= 0.0 && momentum <= 1.0) || !(eps > 0.0 && eps < 1.0))
          throw config_error("'momentum' must be in [0, 1] and 'eps' in (0, 1)");
        return make_unique<nn::BatchNorm2d>(r.integer(node, "channels", 1, max_width),
                                            static_cast<float>(momentum), static_cast<float>(eps));
      });
  const auto no_keys = [](const auto&, json&, ArchitectureWriter&, const std::string&) {};
  add_builtin<nn::ReLU>(registry, "ReLU", no_keys,
                        [](const json& node, ArchitectureReader& r, const std::string&) {
                          r.only_keys(node, {});
                          return make_unique<nn::ReLU>();
                        });
  add_builtin<nn::Flatten>(registry, "Flatten", no_keys,
                           [](const json& node, ArchitectureReader& r, const std::string&) {
                             r.only_keys(node, {});
                             return make_unique<nn::Flatten>();
                           });
  add_builtin<nn::GlobalAvgPool2d>(registry, "GlobalAvgPool2d", no_keys,
                                   [](const json& node, ArchitectureReader& r, const std::string&) {
                                     r.only_keys(node, {});
                                     return make_unique<nn::GlobalAvgPool2d>();
                                   });
  add_builtin<nn::PixelShuffle>(
      registry, "PixelShuffle",
      [](const nn::PixelShuffle& m, json& node, ArchitectureWriter&, const std::string&) {
        node["factor"] = m.factor();
      },
      [](const json& node, ArchitectureReader& r, const std::string&) {
        r.only_keys(node, {"factor"});
        return make_unique<nn::PixelShuffle>(r.integer(node, "factor", 1, 64));
      });
  add_builtin<nn::Dropout>(
      registry, "Dropout",
      [](const nn::Dropout& m, json& node, ArchitectureWriter&, const std::string&) {
        node["p"] = static_cast<double>(m.p());
        node["seed"] = m.seed();
      },
      [](const json& node, ArchitectureReader& r, const std::string&) {
        r.only_keys(node, {"p", "seed"});
        const auto seed = node.find("seed");
        if (seed != node.end() && !seed->is_number_unsigned())
          throw config_error("'seed' must be a non-negative integer");
        return make_unique<nn::Dropout>(static_cast<float>(r.number(node, "p")),
                                        seed == node.end() ? 0 : seed->get<std::uint64_t>());
      });
  const auto pool_keys = [](const auto& m, json& node, ArchitectureWriter&, const std::string&) {
    node["kernel"] = m.kernel();
    node["stride"] = m.stride();
    node["padding"] = m.padding();
  };
  add_builtin<nn::MaxPool2d>(
      registry, "MaxPool2d", pool_keys, [](const json& node, ArchitectureReader& r, const std::string&) {
        r.only_keys(node, {"kernel", "stride", "padding"});
        return make_unique<nn::MaxPool2d>(static_cast<int>(r.integer(node, "kernel", 1, 64)),
                                          static_cast<int>(r.integer(node, "stride", 0, 64, 0)),
                                          static_cast<int>(r.integer(node, "padding", 0, 64, 0)));
      });
  add_builtin<nn::AvgPool2d>(
      registry, "AvgPool2d", pool_keys, [](const json& node, ArchitectureReader& r, const std::string&) {
        r.only_keys(node, {"kernel", "stride", "padding"});
        return make_unique<nn::AvgPool2d>(static_cast<int>(r.integer(node, "kernel", 1, 64)),
                                          static_cast<int>(r.integer(node, "stride", 0, 64, 0)),
                                          static_cast<int>(r.integer(node, "padding", 0, 64, 0)));
      });
  add_builtin<nn::ResidualBlock>(
      registry, "ResidualBlock",
      [](const nn::ResidualBlock& m, json& node, ArchitectureWriter&, const std::string&) {
        node["in"] = m.conv1.in_channels();
        node["out"] = m.conv1.out_channels();
        node["stride"] = m.conv1.options().stride;
      },
      [](const json& node, ArchitectureReader& r, const std::string&) {
        r.only_keys(node, {"in", "out", "stride"});
        const std::int64_t out = r.integer(node, "out", 1, max_width);
        r.reserve_weights(out, std::max(r.integer(node, "in", 1, max_width), out) * 9);
        return make_unique<nn::ResidualBlock>(r.integer(node, "in", 1, max_width),
                                              r.integer(node, "out", 1, max_width),
                                              static_cast<int>(r.integer(node, "stride", 1, 64, 1)), r.rng());
      });
  add_builtin<nn::ResidualAdd>(
      registry, "ResidualAdd",
      [](const nn::ResidualAdd& m, json& node, ArchitectureWriter& w, const std::string& path) {
        node["body"] = w.describe(m.body(), child_path(path, "body"));
        if (!m.identity_shortcut())
          node["shortcut"] = w.describe(m.shortcut(), child_path(path, "shortcut"));
      },
      [](const json& node, ArchitectureReader& r, const std::string& path) {
        r.only_keys(node, {"body", "shortcut"});
        // Both branches are Sequentials, so that their parameters keep the names body.<layer>.weight.
        const auto branch = [&](const char* key) -> std::unique_ptr<nn::Sequential> {
          const auto it = node.find(key);
          if (it == node.end())
            return nullptr;
          if (!it->is_object() || it->value("type", std::string()) != "Sequential")
            throw config_error(std::string("'") + key + "' must be a Sequential");
          auto built = r.build(*it, child_path(path, key));
          return std::unique_ptr<nn::Sequential>(static_cast<nn::Sequential*>(built.release()));
        };
        auto body = branch("body");
        if (!body)
          throw config_error("needs 'body', a Sequential");
        return make_unique<nn::ResidualAdd>(std::move(body), branch("shortcut"));
      });
  add_builtin<nn::ActQuant>(
      registry, "ActQuant",
      [](const nn::ActQuant& m, json& node, ArchitectureWriter&, const std::string&) {
        node.update(describe_act_options(m.options()));
      },
      [](const json& node, ArchitectureReader& r, const std::string& path) {
        r.only_keys(node, {"bits", "signed", "narrow", "rounding", "calibration_batches", "percentile",
                           "fixed_scale"});
        return make_unique<nn::ActQuant>(r.act_options(node, path));
      });
  add_builtin<nn::QuantLinear>(
      registry, "QuantLinear",
      [](const nn::QuantLinear& m, json& node, ArchitectureWriter& w, const std::string& path) {
        node["in"] = m.weight_quant.fan_in();
        node["out"] = m.weight_quant.out_channels();
        describe_quant_layer(m, node, w, path);
      },
      [](const json& node, ArchitectureReader& r, const std::string& path) {
        r.only_keys(node, {"in", "out", "bias", "input", "input_bits", "input_signed", "quant"});
        const std::int64_t in = r.integer(node, "in", 1, max_width);
        const std::int64_t out = r.integer(node, "out", 1, max_width);
        r.reserve_weights(out, in);
        const nn::ActQuant& input = quant_layer_input(node, r, path);
        return make_unique<nn::QuantLinear>(in, out, r.rng(), r.layer_config(node, "quant", path), input,
                                            r.boolean(node, "bias", true));
      });
  add_builtin<nn::QuantConv2d>(
      registry, "QuantConv2d",
      [](const nn::QuantConv2d& m, json& node, ArchitectureWriter& w, const std::string& path) {
        const Shape& s = m.weight_quant.shape();
        node.update(conv_geometry(s[1] * m.options().groups, s[0], s[2], s[3], m.options()));
        describe_quant_layer(m, node, w, path);
      },
      [](const json& node, ArchitectureReader& r, const std::string& path) {
        r.only_keys(node, {"in", "out", "kernel", "stride", "padding", "groups", "bias", "input",
                           "input_bits", "input_signed", "quant"});
        const std::int64_t in = r.integer(node, "in", 1, max_width);
        const std::int64_t out = r.integer(node, "out", 1, max_width);
        const std::int64_t kernel = r.integer(node, "kernel", 1, 64);
        const Conv2dOptions options = read_conv_options(node, r);
        r.reserve_weights(out, in / options.groups * kernel * kernel);
        const nn::ActQuant& input = quant_layer_input(node, r, path);
        return make_unique<nn::QuantConv2d>(in, out, kernel, r.rng(), r.layer_config(node, "quant", path),
                                            input, options, r.boolean(node, "bias", true));
      });
  add_builtin<models::QuantResidualBlock>(
      registry, "QuantResidualBlock",
      [](const models::QuantResidualBlock& m, json& node, ArchitectureWriter& w, const std::string& path) {
        node["in"] = m.in_channels();
        node["out"] = m.out_channels();
        node["stride"] = m.stride();
        node["input"] = w.path_of(m.input_quantizer(), path);
        node["conv1"] = describe_layer_config(m.conv1.config());
        node["conv2"] = describe_layer_config(m.conv2.config());
        if (m.shortcut_conv)
          node["shortcut"] = describe_layer_config(m.shortcut_conv->config());
        node["act1"] = describe_act_options(m.act1.options());
        node["output"] = describe_act_options(m.output.options());
      },
      [](const json& node, ArchitectureReader& r, const std::string& path) {
        r.only_keys(node, {"in", "out", "stride", "input", "conv1", "conv2", "shortcut", "act1", "output"});
        const std::int64_t in = r.integer(node, "in", 1, max_width);
        const std::int64_t out = r.integer(node, "out", 1, max_width);
        const int stride = static_cast<int>(r.integer(node, "stride", 1, 64, 1));
        r.reserve_weights(out, std::max(in, out) * 9);
        const nn::ActQuant& input = r.quantizer(node, "input", path);
        const auto object = [&](const char* key) {
          const auto it = node.find(key);
          if (it != node.end() && !it->is_object())
            throw config_error("'" + std::string(key) + "' must be an object");
          return it == node.end() ? json::object() : *it;
        };
        models::QuantResidualConfig c;
        c.conv1 = r.layer_config(node, "conv1", path + ".conv1");
        c.conv2 = r.layer_config(node, "conv2", path + ".conv2");
        // Only a projection shortcut has settings; without one they are not used.
        c.shortcut = node.contains("shortcut") || r.has_policy()
                         ? r.layer_config(node, "shortcut", path + ".shortcut")
                         : c.conv2;
        c.act1 = r.act_options(object("act1"), path + ".act1");
        c.output = r.act_options(object("output"), path + ".output");
        return make_unique<models::QuantResidualBlock>(in, out, stride, input, c, r.rng());
      });
  add_alias<nn::A2QLinear, nn::QuantLinear>(registry);
  add_alias<nn::A2QPlusLinear, nn::QuantLinear>(registry);
  add_alias<nn::A2QConv2d, nn::QuantConv2d>(registry);
  add_alias<nn::A2QPlusConv2d, nn::QuantConv2d>(registry);
}

/// The registry, with a2q's own types registered on first use.
inline SerializerRegistry& serializer_registry() {
  static SerializerRegistry registry;
  static std::once_flag builtins;
  std::call_once(builtins, [] { register_builtin_serializers(registry); });
  return registry;
}

/// The dotted paths of the quantized layers a description lists, in order (for the policy's first and
/// last layer).
inline void collect_quant_layers(const json& node, const std::string& path, std::vector<std::string>& out,
                                 int depth = 0) {
  if (!node.is_object())
    return;
  if (depth > max_nesting)
    throw config_error("layer '" + path + "': the network nests modules more than " +
                       std::to_string(max_nesting) + " deep");
  const auto type = node.find("type");
  if (type == node.end() || !type->is_string())
    return;
  const std::string t = type->get<std::string>();
  if (t == "QuantLinear" || t == "QuantConv2d") {
    out.push_back(path);
  } else if (t == "QuantResidualBlock") {
    for (const char* part : {"conv1", "conv2"})
      out.push_back(child_path(path, part));
  } else if (t == "Sequential") {
    const auto layers = node.find("layers");
    if (layers == node.end() || !layers->is_array())
      return;
    std::size_t i = 0;
    for (const json& child : *layers) {
      std::string name = std::to_string(i++);
      if (child.is_object() && child.contains("name") && child["name"].is_string())
        name = child["name"].get<std::string>();
      collect_quant_layers(child, child_path(path, name), out, depth + 1);
    }
  }
}

/// Runs `x` through `module`, descending into nested Sequentials so that an error names the innermost
/// layer that raised it.
inline Var probe_forward(nn::Module& module, const Var& x, const std::string& path) {
  if (auto* seq = dynamic_cast<nn::Sequential*>(&module)) {
    Var h = x;
    for (std::size_t i = 0; i < seq->size(); ++i)
      h = probe_forward((*seq)[i], h, child_path(path, seq->named_children()[i].first));
    return h;
  }
  try {
    return module.forward(x);
  } catch (const error& e) {
    throw config_error((path.empty() ? std::string("the network") : "layer '" + path + "'") + " (" +
                       module.type_name() + ") cannot take its input of shape " + x.shape().to_string() +
                       ": " + e.what());
  }
}

} // namespace a2q::io::detail

namespace a2q::io {

// ------------------------------------------------------------------------------------------- writer

ArchitectureWriter::ArchitectureWriter(const nn::Module& root) {
  root.visit("", [&](const std::string& prefix, const nn::Module& m) {
    if (const auto* q = dynamic_cast<const nn::ActQuant*>(&m))
      quantizer_paths_.emplace(q, detail::visit_path(prefix));
  });
}

nlohmann::ordered_json ArchitectureWriter::describe(const nn::Module& module, const std::string& path) {
  const ModuleSerializer* s = find_module_serializer(module);
  if (s == nullptr)
    throw config_error("the architecture cannot describe " +
                       (path.empty() ? std::string("the network") : "layer '" + path + "'") + " of type " +
                       module.type_name() + " (" + typeid(module).name() +
                       "): register a serializer for it with a2q::io::register_module_type");
  nlohmann::ordered_json node = nlohmann::ordered_json::object();
  node["type"] = s->type;
  s->describe(module, node, *this, path);
  return node;
}

std::string ArchitectureWriter::path_of(const nn::ActQuant& quantizer, const std::string& user) const {
  const auto it = quantizer_paths_.find(&quantizer);
  if (it == quantizer_paths_.end())
    throw config_error("layer '" + user +
                       "' is fed by an activation quantizer that is not part of the model, so the "
                       "architecture cannot say where its input comes from");
  return it->second;
}

// ------------------------------------------------------------------------------------------- reader

ArchitectureReader::ArchitectureReader(Rng& rng, const models::QuantPolicy* policy, std::int64_t max_weights)
    : rng_(rng), policy_(policy), weights_left_(max_weights) {}

void ArchitectureReader::reserve_weights(std::int64_t out, std::int64_t per_output) {
  if (out < 1 || per_output < 1)
    throw config_error("would hold " + std::to_string(out) + " x " + std::to_string(per_output) + " weights");
  if (per_output > detail::max_layer_weights / out)
    throw config_error("would hold " + std::to_string(out) + " x " + std::to_string(per_output) +
                       " weights, more than the " + std::to_string(detail::max_layer_weights) +
                       " a description may ask for in one layer");
  if (out * per_output > weights_left_)
    throw config_error("would hold " + std::to_string(out) + " x " + std::to_string(per_output) +
                       " weights, more than the " + std::to_string(std::max<std::int64_t>(weights_left_, 0)) +
                       " left of the network's limit");
  weights_left_ -= out * per_output;
}

std::unique_ptr<nn::Module> ArchitectureReader::build(const nlohmann::ordered_json& node,
                                                      const std::string& path) {
  const std::string label = detail::node_label(node, path);
  if (depth_ >= detail::max_nesting)
    throw config_error(label + "the network nests modules more than " + std::to_string(detail::max_nesting) +
                       " deep");
  struct Nested {
    int& depth;
    explicit Nested(int& d) : depth(++d) {}
    ~Nested() { --depth; }
    Nested(const Nested&) = delete;
    Nested& operator=(const Nested&) = delete;
  } nested(depth_);
  if (!node.is_object())
    throw config_error(label + "expected an object {\"type\": ..., ...}, found " + detail::short_text(node));
  const auto type = node.find("type");
  if (type == node.end() || !type->is_string())
    throw config_error(label + "has no \"type\" string");
  const ModuleSerializer* s = find_module_serializer(type->get<std::string>());
  if (s == nullptr) {
    std::string known;
    for (const auto& [name, _] : detail::serializer_registry().by_name)
      known += (known.empty() ? "" : ", ") + name;
    throw config_error(label + "unknown module type (known: " + known + ")");
  }
  std::unique_ptr<nn::Module> module;
  try {
    module = s->build(node, *this, path);
  } catch (const config_error& e) {
    // Inner layers already named themselves.
    const std::string what = e.what();
    if (what.rfind("layer '", 0) == 0 || what.rfind("the network", 0) == 0)
      throw;
    throw config_error(label + what);
  } catch (const error& e) {
    throw config_error(label + e.what());
  } catch (const nlohmann::ordered_json::exception& e) {
    throw config_error(label + e.what());
  }
  module->visit(path.empty() ? path : path + ".", [&](const std::string& prefix, const nn::Module& m) {
    if (const auto* q = dynamic_cast<const nn::ActQuant*>(&m))
      quantizers_.insert_or_assign(detail::visit_path(prefix), q);
  });
  return module;
}

const nn::ActQuant& ArchitectureReader::quantizer(const nlohmann::ordered_json& node, const std::string& key,
                                                  const std::string& path) const {
  const std::string name = text(node, key);
  const auto it = quantizers_.find(name);
  if (it == quantizers_.end()) {
    std::string known;
    for (const auto& [p, _] : quantizers_)
      known += (known.empty() ? "" : ", ") + p;
    throw config_error("'" + key + "' names '" + name + "', which is not an ActQuant that comes before " +
                       (path.empty() ? std::string("it") : "'" + path + "'") + " (" +
                       (known.empty() ? std::string("none does") : "those that do: " + known) + ")");
  }
  return *it->second;
}

nn::LayerQuantConfig ArchitectureReader::layer_config(const nlohmann::ordered_json& node,
                                                      const std::string& key, const std::string& path) const {
  nn::LayerQuantConfig c;
  if (policy_ != nullptr) {
    const auto at = std::find(quant_layer_order_.begin(), quant_layer_order_.end(), path);
    const bool known = at != quant_layer_order_.end();
    c = policy_->layer(path, known && at == quant_layer_order_.begin(),
                       known && at + 1 == quant_layer_order_.end());
  }
  const auto it = node.find(key);
  if (it == node.end()) {
    if (policy_ == nullptr)
      throw config_error("has no '" + key +
                         "' settings (a description without a quantization policy must give them)");
    return c;
  }
  if (!it->is_object())
    throw config_error("'" + key + "' must be an object of quantization settings");
  const nlohmann::ordered_json& q = *it;
  only_keys(q, {"method", "weight_bits", "acc_bits", "tile", "inner_bits", "per_channel", "bias_mode",
                "rounding", "bias_fraction", "init", "penalty"});
  if (q.contains("method"))
    c.method = quant::parse_quant_method(text(q, "method"));
  c.weight_bits = static_cast<int>(integer(q, "weight_bits", 2, 16, c.weight_bits));
  c.accumulator_bits = static_cast<int>(integer(q, "acc_bits", 2, 64, c.accumulator_bits));
  c.tile = integer(q, "tile", 0, std::int64_t{1} << 30, c.tile);
  c.inner_bits = static_cast<int>(integer(q, "inner_bits", 0, 64, c.inner_bits));
  c.per_channel_scale = boolean(q, "per_channel", c.per_channel_scale);
  if (q.contains("bias_mode")) {
    const std::string mode = text(q, "bias_mode");
    if (mode != "after_accumulation" && mode != "in_accumulator")
      throw config_error("'bias_mode' is '" + mode + "', expected after_accumulation or in_accumulator");
    c.bias_mode = mode == "in_accumulator" ? nn::BiasMode::in_accumulator : nn::BiasMode::after_accumulation;
  }
  if (q.contains("rounding"))
    c.rounding = quant::parse_rounding_mode(text(q, "rounding"));
  c.bias_fraction = number(q, "bias_fraction", c.bias_fraction);
  if (q.contains("init")) {
    const std::string init = text(q, "init");
    if (init != "projection" && init != "reference")
      throw config_error("'init' is '" + init + "', expected projection or reference");
    c.init = init == "reference" ? quant::A2QInitMode::reference : quant::A2QInitMode::projection;
  }
  c.penalty_weight = number(q, "penalty", c.penalty_weight);
  c.validate();
  return c;
}

nn::ActQuantOptions ArchitectureReader::act_options(const nlohmann::ordered_json& object,
                                                    const std::string&) const {
  nn::ActQuantOptions o;
  if (policy_ != nullptr)
    o = policy_->activation_options();
  else if (!object.contains("bits"))
    throw config_error("needs 'bits' (a description without a quantization policy must give them)");
  only_keys(object,
            {"bits", "signed", "narrow", "rounding", "calibration_batches", "percentile", "fixed_scale"});
  const bool is_signed = boolean(object, "signed", o.format.is_signed);
  const int bits = static_cast<int>(integer(object, "bits", 1, quant::IntFormat::max_bits, o.format.bits));
  const bool narrow = boolean(object, "narrow", is_signed && o.format.narrow_range);
  o.format = quant::IntFormat{bits, is_signed, narrow};
  o.format.validate();
  if (object.contains("rounding"))
    o.rounding = quant::parse_rounding_mode(text(object, "rounding"));
  o.calibration_batches =
      static_cast<int>(integer(object, "calibration_batches", 1, 1 << 20, o.calibration_batches));
  o.percentile = number(object, "percentile", o.percentile);
  if (object.contains("fixed_scale")) {
    const double s = number(object, "fixed_scale");
    if (!(s > 0.0) || !std::isfinite(static_cast<float>(s)))
      throw config_error("'fixed_scale' must be a finite number > 0");
    o.fixed_scale = static_cast<float>(s);
  }
  return o;
}

std::int64_t ArchitectureReader::integer(const nlohmann::ordered_json& node, const std::string& key,
                                         std::int64_t lo, std::int64_t hi,
                                         std::optional<std::int64_t> fallback) const {
  const auto it = node.find(key);
  if (it == node.end()) {
    if (fallback)
      return *fallback;
    throw config_error("needs '" + key + "', an integer in [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "]");
  }
  if (!it->is_number_integer())
    throw config_error("'" + key + "' must be an integer in [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "], found " + detail::short_text(*it));
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
    throw config_error("'" + key + "' is " + detail::short_text(*it) + ", expected at most " +
                       std::to_string(hi));
  const auto v = it->get<std::int64_t>();
  if (v < lo || v > hi)
    throw config_error("'" + key + "' is " + std::to_string(v) + ", expected an integer in [" +
                       std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

double ArchitectureReader::number(const nlohmann::ordered_json& node, const std::string& key,
                                  std::optional<double> fallback) const {
  const auto it = node.find(key);
  if (it == node.end()) {
    if (fallback)
      return *fallback;
    throw config_error("needs '" + key + "', a number");
  }
  if (!it->is_number())
    throw config_error("'" + key + "' must be a number, found " + detail::short_text(*it));
  const double v = it->get<double>();
  if (!std::isfinite(v))
    throw config_error("'" + key + "' must be finite");
  return v;
}

bool ArchitectureReader::boolean(const nlohmann::ordered_json& node, const std::string& key,
                                 std::optional<bool> fallback) const {
  const auto it = node.find(key);
  if (it == node.end()) {
    if (fallback)
      return *fallback;
    throw config_error("needs '" + key + "', true or false");
  }
  if (!it->is_boolean())
    throw config_error("'" + key + "' must be true or false, found " + detail::short_text(*it));
  return it->get<bool>();
}

std::string ArchitectureReader::text(const nlohmann::ordered_json& node, const std::string& key,
                                     std::optional<std::string> fallback) const {
  const auto it = node.find(key);
  if (it == node.end()) {
    if (fallback)
      return *fallback;
    throw config_error("needs '" + key + "', a string");
  }
  if (!it->is_string())
    throw config_error("'" + key + "' must be a string, found " + detail::short_text(*it));
  return it->get<std::string>();
}

void ArchitectureReader::only_keys(const nlohmann::ordered_json& node,
                                   std::initializer_list<std::string_view> known) const {
  for (const auto& [key, _] : node.items()) {
    if (key == "type" || key == "name" || std::find(known.begin(), known.end(), key) != known.end())
      continue;
    std::string list;
    for (std::string_view k : known)
      list += (list.empty() ? "" : ", ") + std::string(k);
    throw config_error("unknown key '" + key + "' (" +
                       (list.empty() ? std::string("this type has no keys") : "expected " + list) + ")");
  }
}

void ArchitectureReader::set_quant_layer_order(std::vector<std::string> paths) {
  quant_layer_order_ = std::move(paths);
}

// ----------------------------------------------------------------------------------------- registry

void register_module_serializer(std::type_index type, ModuleSerializer serializer) {
  if (serializer.type.empty() || !serializer.describe || !serializer.build)
    throw config_error("register_module_serializer: a serializer needs a type name and both functions");
  auto& registry = detail::serializer_registry();
  const std::lock_guard lock(registry.mutex);
  detail::add_serializer(registry, type, std::move(serializer));
}

const ModuleSerializer* find_module_serializer(const nn::Module& module) {
  auto& registry = detail::serializer_registry();
  const std::lock_guard lock(registry.mutex);
  const auto it = registry.by_type.find(std::type_index(typeid(module)));
  return it == registry.by_type.end() ? nullptr : &it->second;
}

const ModuleSerializer* find_module_serializer(std::string_view type) {
  auto& registry = detail::serializer_registry();
  const std::lock_guard lock(registry.mutex);
  const auto it = registry.by_name.find(type);
  if (it == registry.by_name.end())
    return nullptr;
  const auto s = registry.by_type.find(it->second);
  return s == registry.by_type.end() ? nullptr : &s->second;
}

// -------------------------------------------------------------------------------------- whole model

std::string describe_architecture(const nn::Module& model, const Shape& input) {
  if (input.rank() < 1)
    throw config_error("describe_architecture: the input shape must have at least one dimension");
  ArchitectureWriter writer(model);
  nlohmann::ordered_json doc = nlohmann::ordered_json::object();
  doc["a2q_architecture"] = architecture_version;
  nlohmann::ordered_json shape = nlohmann::ordered_json::array();
  for (std::int64_t d : input.dims())
    shape.push_back(d);
  doc["input"] = std::move(shape);
  doc["network"] = writer.describe(model, "");
  return doc.dump(2);
}

Architecture build_architecture(std::string_view description, Rng& rng, const models::QuantPolicy* policy,
                                bool check_shapes, std::int64_t max_weights) {
  nlohmann::ordered_json doc;
  try {
    doc = nlohmann::ordered_json::parse(description.begin(), description.end());
  } catch (const nlohmann::ordered_json::exception& e) { // also numbers out of range ("1e999")
    throw config_error("the architecture is not valid JSON: " + std::string(e.what()));
  }
  if (!doc.is_object())
    throw config_error("the architecture must be a JSON object with \"input\" and \"network\"");
  for (const auto& [key, _] : doc.items())
    if (key != "a2q_architecture" && key != "input" && key != "network")
      throw config_error("the architecture has an unknown key '" + key +
                         "' (expected a2q_architecture, input, network)");
  if (const auto v = doc.find("a2q_architecture"); v != doc.end()) {
    if (!v->is_number_integer() || v->get<std::int64_t>() < 1)
      throw config_error("'a2q_architecture' must be a version number >= 1");
    if (v->get<std::int64_t>() > architecture_version)
      throw config_error("the architecture has version " + detail::short_text(*v) +
                         "; this build reads up to " + std::to_string(architecture_version));
  }
  const auto in = doc.find("input");
  if (in == doc.end() || !in->is_array() || in->empty() || in->size() > 3)
    throw config_error("the architecture needs \"input\": the shape of one sample, e.g. [1, 28, 28]");
  std::vector<std::int64_t> dims;
  for (const auto& d : *in) {
    if (!d.is_number_integer() || d.get<std::int64_t>() < 1 || d.get<std::int64_t>() > (1 << 16))
      throw config_error("the architecture's \"input\" " + detail::short_text(*in) +
                         " is not a list of sizes in [1, 65536]");
    dims.push_back(d.get<std::int64_t>());
  }
  const auto net = doc.find("network");
  if (net == doc.end())
    throw config_error("the architecture needs \"network\": the root module");
  Architecture out;
  out.input = Shape(dims);
  if (out.input.numel() > detail::max_sample_elements)
    throw config_error("the architecture's \"input\" " + out.input.to_string() + " has more than " +
                       std::to_string(detail::max_sample_elements) + " values per sample");
  std::vector<std::string> order;
  detail::collect_quant_layers(*net, "", order);
  ArchitectureReader reader(rng, policy, max_weights);
  reader.set_quant_layer_order(order);
  out.network = reader.build(*net, "");
  if (check_shapes) {
    Rng probe_rng(0);
    ArchitectureReader probe_reader(probe_rng, policy, max_weights);
    probe_reader.set_quant_layer_order(order);
    auto probe = probe_reader.build(*net, "");
    out.output = check_architecture_shapes(*probe, out.input);
  }
  return out;
}

Shape check_architecture_shapes(nn::Module& network, const Shape& input) {
  std::vector<std::int64_t> dims{2};
  for (std::int64_t d : input.dims())
    dims.push_back(d);
  const NoGradGuard no_grad;
  // A description may come from an untrusted file: a layer whose output would be absurdly large is
  // refused by name rather than exhausting memory.
  const a2q::detail::TensorAllocationLimit limit(detail::max_probe_tensor_bytes);
  network.train(true);
  const Var y = detail::probe_forward(network, Var(Tensor<float>(Shape(dims))), "");
  const auto out = y.shape().dims();
  return Shape(out.subspan(1));
}

} // namespace a2q::io
