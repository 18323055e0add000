#pragma once
/// @file
/// Definitions for quantized_architecture.hpp (see a2q/core/config.hpp).

#include "a2q/io/quantized_architecture.hpp"

#include "a2q/core/error.hpp"
#include "a2q/models/quant_zoo.hpp"

#include <nlohmann/json.hpp>

#include <set>
#include <string>

namespace a2q::io::detail {

class QuantizedTwin {
public:
  QuantizedTwin(const models::QuantPolicy& policy, bool pixel_input) : policy_(policy), pixel_(pixel_input) {}

  nlohmann::ordered_json sequential(const nlohmann::ordered_json& seq, const std::string& prefix) {
    const auto layers = seq.find("layers");
    if (layers == seq.end() || !layers->is_array())
      throw config_error("layer '" + prefix + "' (Sequential) has no 'layers' array");
    std::set<std::string> names;
    for (std::size_t i = 0; i < layers->size(); ++i)
      names.insert((*layers)[i].value("name", std::to_string(i)));
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    std::size_t index = 0;
    for (const auto& layer : *layers) {
      nlohmann::ordered_json l = layer;
      const std::string name = l.value("name", std::to_string(index++));
      l["name"] = name;
      const std::string path = prefix.empty() ? name : prefix + "." + name;
      const std::string type = l.value("type", std::string());
      if (type == "Linear" || type == "Conv2d") {
        if (reaching_quantizer_.empty()) {
          const std::string q = unique(names, name + "_input_quant");
          out.push_back(quantizer(q));
          reaching_quantizer_ = prefix.empty() ? q : prefix + "." + q;
        }
        l["type"] = type == "Linear" ? "QuantLinear" : "QuantConv2d";
        l["input"] = reaching_quantizer_;
        out.push_back(std::move(l));
        reaching_quantizer_.clear();
        nonnegative_ = false;
        at_input_ = false;
        continue;
      }
      if (type == "Sequential") {
        l["layers"] = sequential(l, path)["layers"];
        out.push_back(std::move(l));
        continue;
      }
      out.push_back(l);
      if (type == "ReLU") {
        nonnegative_ = true;
        at_input_ = false;
        const std::string q = unique(names, name + "_quant");
        out.push_back(quantizer(q));
        reaching_quantizer_ = prefix.empty() ? q : prefix + "." + q;
      } else if (type == "MaxPool2d" || type == "Flatten" || type == "Dropout" || type == "PixelShuffle") {
        // the quantizer's integers pass through unchanged
      } else if (type == "AvgPool2d" || type == "GlobalAvgPool2d") {
        reaching_quantizer_.clear();
        at_input_ = false;
      } else if (type == "BatchNorm2d") {
        reaching_quantizer_.clear();
        nonnegative_ = false;
        at_input_ = false;
      } else if (type == "ActQuant" || type == "QuantLinear" || type == "QuantConv2d" ||
                 type == "QuantResidualBlock") {
        throw config_error("layer '" + path + "' (" + type + "): the network is already quantized");
      } else {
        throw config_error(
            "layer '" + path + "' (" + type +
            "): the quantized twin covers Linear, Conv2d, BatchNorm2d, ReLU, pooling, Flatten, PixelShuffle "
            "and Dropout (residual connections are not supported yet)");
      }
    }
    return {{"type", "Sequential"}, {"layers", std::move(out)}};
  }

private:
  static std::string unique(std::set<std::string>& names, std::string name) {
    const std::string base = name;
    for (int i = 2; names.count(name); ++i)
      name = base + "_" + std::to_string(i);
    names.insert(name);
    return name;
  }

  nlohmann::ordered_json quantizer(const std::string& name) const {
    nlohmann::ordered_json q = {{"name", name}, {"type", "ActQuant"}};
    if (at_input_ && pixel_) {
      q["bits"] = 8;
      q["signed"] = false;
      q["fixed_scale"] = 1.0 / 255.0;
    } else if (!nonnegative_) {
      q["bits"] = policy_.act_bits;
      q["signed"] = true;
    } // else: the policy's unsigned activation settings
    return q;
  }

  const models::QuantPolicy& policy_;
  bool pixel_;
  bool at_input_ = true;
  bool nonnegative_ = false;
  std::string reaching_quantizer_; ///< the path of the quantizer a layer here would read, or empty
};

} // namespace a2q::io::detail

namespace a2q::io {

std::string quantized_architecture(std::string_view float_description, const models::QuantPolicy& policy,
                                   bool pixel_input) {
  nlohmann::ordered_json doc;
  try {
    doc = nlohmann::ordered_json::parse(float_description);
  } catch (const nlohmann::json::exception& e) {
    throw config_error(std::string("the architecture description is not valid JSON: ") + e.what());
  }
  if (!doc.is_object() || !doc.contains("network") || !doc["network"].is_object() ||
      doc["network"].value("type", std::string()) != "Sequential")
    throw config_error("the architecture description has no Sequential 'network'");
  detail::QuantizedTwin twin(policy, pixel_input);
  doc["network"] = twin.sequential(doc["network"], "");
  return doc.dump();
}

} // namespace a2q::io
