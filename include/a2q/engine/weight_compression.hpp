#pragma once
/// @file
/// estimate_compressed_size: how small a layer's integer weights get when the sparsity A2Q produces is
/// exploited, as an entropy-coding estimate. Each output channel is coded as a sequence of
/// (zero-run length, nonzero value) pairs closed by a final run; runs and values each get an ideal
/// code from their empirical distribution over the layer (Shannon entropy), plus a code table of
/// (symbol, frequency) for every distinct symbol. It is the size an arithmetic/Huffman coder would
/// approach, not a file format.

#include "a2q/nn/integer_layer.hpp"

#include <cmath>
#include <cstdint>
#include <map>

namespace a2q::engine {

struct CompressedSize {
  std::int64_t weights = 0; ///< C · K
  std::int64_t nonzeros = 0;
  std::int64_t dense_bits = 0; ///< C · K · M: the plain M-bit layout
  double value_bits = 0.0;     ///< entropy-coded nonzero values
  double run_bits = 0.0;       ///< entropy-coded zero runs (one per nonzero and one per channel)
  double table_bits = 0.0;     ///< the code tables
  double total_bits() const { return value_bits + run_bits + table_bits; }
  /// dense_bits / total_bits (> 1: the coded form is smaller).
  double ratio() const { return total_bits() > 0.0 ? static_cast<double>(dense_bits) / total_bits() : 0.0; }
};

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

/// The entropy-coding estimate of `layer`'s integer weights (see the file comment).
inline CompressedSize estimate_compressed_size(const nn::IntegerLayer& layer) {
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
