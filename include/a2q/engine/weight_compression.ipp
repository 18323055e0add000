#pragma once
/// @file
/// Definitions for weight_compression.hpp (see a2q/core/config.hpp).

#include "a2q/engine/weight_compression.hpp"

#include "a2q/nn/integer_layer.hpp"

#include <cmath>
#include <cstdint>
#include <map>

namespace a2q::engine {

namespace detail {

/// Σ_s count_s · log2(total / count_s): the ideal code length of a symbol stream.
inline double entropy_bits(const std::map<std::int64_t, std::int64_t>& counts) {
  std::int64_t total = 0;
  for (const auto& [symbol, n] : counts)
    total += n;
  double bits = 0.0;
  for (const auto& [symbol, n] : counts)
    bits += static_cast<double>(n) * std::log2(static_cast<double>(total) / static_cast<double>(n));
  return bits;
}

} // namespace detail

CompressedSize estimate_compressed_size(const nn::IntegerLayer& layer) {
  CompressedSize out;
  out.weights = layer.out_channels * layer.fan_in;
  out.dense_bits = out.weights * layer.weight_bits;
  std::map<std::int64_t, std::int64_t> values, runs;
  for (std::int64_t c = 0; c < layer.out_channels; ++c) {
    std::int64_t run = 0;
    for (const std::int32_t q : layer.channel(c)) {
      if (q == 0) {
        ++run;
        continue;
      }
      ++values[q];
      ++runs[run];
      run = 0;
      ++out.nonzeros;
    }
    ++runs[run]; // the channel's closing run
  }
  out.value_bits = detail::entropy_bits(values);
  out.run_bits = detail::entropy_bits(runs);
  // Table entries: the symbol (M bits for a value, 32 for a run length) and a 32-bit frequency.
  out.table_bits =
      static_cast<double>(values.size()) * (layer.weight_bits + 32) + static_cast<double>(runs.size()) * 64.0;
  return out;
}

} // namespace a2q::engine
