#pragma once
/// @file
/// Definitions for int_weights_json.hpp (see a2q/core/config.hpp).

#include "a2q/io/int_weights_json.hpp"

#include "a2q/io/json_file.hpp"
#include "a2q/nn/integer_layer.hpp"
#include "a2q/quant/method.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace a2q::io {

nlohmann::ordered_json integer_weights_json(const std::vector<nn::IntegerLayer>& layers) {
  nlohmann::ordered_json doc = {
      {"format", "a2q-int-weights"}, {"version", 1}, {"layers", nlohmann::ordered_json::array()}};
  for (const nn::IntegerLayer& layer : layers) {
    nlohmann::ordered_json l;
    l["name"] = layer.name;
    l["kind"] = layer.kind;
    l["method"] = std::string(quant::to_string(layer.method));
    l["out_channels"] = layer.out_channels;
    l["fan_in"] = layer.fan_in;
    l["weight_bits"] = layer.weight_bits;
    l["input_bits"] = layer.input_bits;
    l["input_signed"] = layer.input_signed;
    l["accumulator_bits"] = layer.accumulator_bits;
    l["required_bits"] = layer.required_bits();
    if (layer.tiled()) {
      l["tile"] = layer.tile;
      l["inner_bits"] = layer.inner_bits;
      l["required_inner_bits"] = layer.required_inner_bits();
    }
    l["proven"] = layer.fits();
    l["bias_in_accumulator"] = layer.bias_in_accumulator;
    nlohmann::ordered_json weights = nlohmann::ordered_json::array();
    for (std::int64_t c = 0; c < layer.out_channels; ++c) {
      const auto channel = layer.channel(c);
      weights.push_back(nlohmann::ordered_json(std::vector<std::int32_t>(channel.begin(), channel.end())));
    }
    l["weights"] = std::move(weights);
    nlohmann::ordered_json scales = nlohmann::ordered_json::array();
    for (const float s : layer.weight_scale)
      scales.push_back(static_cast<double>(s));
    l["weight_scale"] = std::move(scales);
    l["input_scale"] = static_cast<double>(layer.input_scale);
    l["bias"] = layer.bias ? nlohmann::ordered_json(*layer.bias) : nlohmann::ordered_json(nullptr);
    doc["layers"].push_back(std::move(l));
  }
  return doc;
}

void save_integer_weights(const std::filesystem::path& path, const std::vector<nn::IntegerLayer>& layers) {
  save_json(path, integer_weights_json(layers), -1);
}

} // namespace a2q::io
