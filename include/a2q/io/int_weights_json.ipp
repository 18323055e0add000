#pragma once
/// @file
/// Definitions for int_weights_json.hpp (see a2q/core/config.hpp).

#include "a2q/io/int_weights_json.hpp"

#include "a2q/io/json_writer.hpp"
#include "a2q/nn/integer_layer.hpp"

#include <filesystem>
#include <vector>

namespace a2q::io {

void write_integer_weights(JsonWriter& w, const std::vector<nn::IntegerLayer>& layers) {
  w.begin_object();
  w.key("format").value("a2q-int-weights");
  w.key("version").value(1);
  w.key("layers").begin_array();
  for (const nn::IntegerLayer& layer : layers) {
    w.begin_object();
    w.key("name").value(layer.name);
    w.key("kind").value(layer.kind);
    w.key("method").value(std::string(quant::to_string(layer.method)));
    w.key("out_channels").value(layer.out_channels);
    w.key("fan_in").value(layer.fan_in);
    w.key("weight_bits").value(layer.weight_bits);
    w.key("input_bits").value(layer.input_bits);
    w.key("input_signed").value(layer.input_signed);
    w.key("accumulator_bits").value(layer.accumulator_bits);
    w.key("bias_in_accumulator").value(layer.bias_in_accumulator);
    w.key("weights").begin_array();
    for (std::int64_t c = 0; c < layer.out_channels; ++c) {
      w.begin_array();
      for (std::int32_t q : layer.channel(c))
        w.value(q);
      w.end_array();
    }
    w.end_array();
    w.key("weight_scale").begin_array();
    for (float s : layer.weight_scale)
      w.value(static_cast<double>(s));
    w.end_array();
    w.key("input_scale").value(static_cast<double>(layer.input_scale));
    w.key("bias");
    if (layer.bias) {
      w.begin_array();
      for (std::int64_t b : *layer.bias)
        w.value(b);
      w.end_array();
    } else {
      w.null();
    }
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

void save_integer_weights(const std::filesystem::path& path, const std::vector<nn::IntegerLayer>& layers) {
  write_json_atomically(
      path, [&](JsonWriter& w) { write_integer_weights(w, layers); }, 0);
}

} // namespace a2q::io
