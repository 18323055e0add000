#pragma once
/// @file
/// Export of a quantized model's integer weights as JSON (format "a2q-int-weights", version 1):
/// {"format":"a2q-int-weights","version":1,"layers":[{"name","kind","method","out_channels","fan_in",
///  "weight_bits","input_bits","input_signed","accumulator_bits","required_bits",
///  ["tile","inner_bits","required_inner_bits" for a tiled layer,] "proven","bias_in_accumulator",
///  "weights":[[fan_in ints] per output channel],"weight_scale":[per channel],"input_scale",
///  "bias":[ints in accumulator units] or null}]}
/// Conv weights are flattened in (C_in/groups, kh, kw) order. Bias units are s_w·s_x per channel.
/// "required_bits" is the exact P the integers and bias need (computed here, never copied from a file) and
/// "proven" says whether it is at most "accumulator_bits" (and, tiled, every tile fits "inner_bits").

#include "a2q/core/config.hpp"
#include "a2q/nn/integer_layer.hpp"

#include <nlohmann/json_fwd.hpp>

#include <filesystem>
#include <vector>

namespace a2q::io {

/// The layers' integer view as one JSON document (include <nlohmann/json.hpp> to use it).
A2Q_DECL nlohmann::ordered_json integer_weights_json(const std::vector<nn::IntegerLayer>& layers);

/// Writes the JSON file atomically.
A2Q_DECL void save_integer_weights(const std::filesystem::path& path,
                                   const std::vector<nn::IntegerLayer>& layers);

} // namespace a2q::io

#if A2Q_HEADER_ONLY
#include "a2q/io/int_weights_json.ipp"
#endif
