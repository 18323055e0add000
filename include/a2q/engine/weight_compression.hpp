#pragma once
/// @file
/// estimate_compressed_size: how small a layer's integer weights get when the sparsity A2Q produces is
/// exploited, as an entropy-coding estimate. Each output channel is coded as a sequence of
/// (zero-run length, nonzero value) pairs closed by a final run; runs and values each get an ideal
/// code from their empirical distribution over the layer (Shannon entropy), plus a code table of
/// (symbol, frequency) for every distinct symbol. It is the size an arithmetic/Huffman coder would
/// approach, not a file format.

#include "a2q/core/config.hpp"
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

/// The coding model in one sentence, for reports that quote a ratio.
inline constexpr const char* compression_model =
    "dense int-M bits / entropy-coded bits: per output channel, (zero-run, nonzero value) pairs closed by a "
    "final run; runs and values each at their empirical entropy over the layer, plus code tables";

/// The entropy-coding estimate of `layer`'s integer weights (see the file comment).
A2Q_DECL CompressedSize estimate_compressed_size(const nn::IntegerLayer& layer);

} // namespace a2q::engine

#if A2Q_HEADER_ONLY
#include "a2q/engine/weight_compression.ipp"
#endif
