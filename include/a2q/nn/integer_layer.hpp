#pragma once
/// @file
/// nn::IntegerLayer: a quantized layer's integer view (weights, scales, formats, bias in accumulator
/// units), the unit of export, verification and reporting.

#include "a2q/core/config.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/quant/bounds.hpp"
#include "a2q/quant/method.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace a2q::nn {

struct IntegerLayer {
  std::string name;
  std::string kind; ///< "linear" or "conv2d"
  quant::QuantMethod method = quant::QuantMethod::baseline;
  std::int64_t out_channels = 0;
  std::int64_t fan_in = 0; ///< K: in_features, or C_in/groups · kh · kw
  int weight_bits = 8;
  int input_bits = 8;
  bool input_signed = false;
  int accumulator_bits = 32; ///< P, the outer register's width when the layer is tiled
  /// Multi-stage accumulation (spec §6): consecutive tiles of `tile` products each summed from 0 in an
  /// inner `inner_bits`-bit register, the tile results summed in the accumulator_bits-bit register from
  /// the bias. tile = 0: one register.
  std::int64_t tile = 0;
  int inner_bits = 0;
  bool bias_in_accumulator = false;
  Tensor<std::int32_t> weights;    ///< [out_channels, fan_in]; conv in (C_in/groups, kh, kw) order
  std::vector<float> weight_scale; ///< per output channel
  float input_scale = 1.0f;
  std::optional<std::vector<std::int64_t>> bias; ///< in accumulator units (s_w · s_x), if the layer has one

  InputRange input_range() const { return InputRange::of_bits(input_bits, input_signed); }

  std::span<const std::int32_t> channel(std::int64_t c) const {
    return {weights.data() + c * fan_in, static_cast<std::size_t>(fan_in)};
  }

  /// The bias that starts the accumulator of channel c (0 unless bias_in_accumulator).
  std::int64_t accumulator_start(std::int64_t c) const {
    return bias_in_accumulator && bias ? (*bias)[static_cast<std::size_t>(c)] : 0;
  }

  /// Exact bits channel c needs (sign-split worst case, with the bias when it starts the accumulator).
  int required_bits(std::int64_t c) const {
    return required_accumulator_bits(channel(c), input_range(), accumulator_start(c));
  }

  /// Largest requirement over the channels.
  A2Q_DECL int required_bits() const;

  bool tiled() const { return tile > 0; }

  /// Exact bits the inner register of channel c needs (its widest tile); 0 for an untiled layer.
  int required_inner_bits(std::int64_t c) const {
    return tiled() ? tiled_accumulator_bits(channel(c), input_range(), tile).inner_bits : 0;
  }

  /// Largest inner requirement over the channels (0 untiled).
  A2Q_DECL int required_inner_bits() const;

  /// No input can overflow the layer's register(s): the outer (or only) one and, if tiled, every inner one.
  bool fits() const { return required_bits() <= accumulator_bits && required_inner_bits() <= inner_bits; }

  /// Largest integer L1 norm over the channels.
  A2Q_DECL std::int64_t max_l1() const;

  /// Fraction of integer weights that are zero.
  A2Q_DECL double sparsity() const;

  /// The data-type bound for this layer's K, N and M.
  int datatype_bits() const { return datatype_bound_bits(fan_in, input_bits, weight_bits, input_signed); }
};

} // namespace a2q::nn

#if A2Q_HEADER_ONLY
#include "a2q/nn/integer_layer.ipp"
#endif
