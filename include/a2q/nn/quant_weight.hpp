#pragma once
/// @file
/// nn::QuantWeight: the trainable weight of a quantized layer, in the parameterisation its method
/// needs (float: w; baseline: w and log2 s; A2Q/A2Q+: v, log2 g and log2 s), producing the
/// fake-quantized weight for training and the integer weights for export and verification.

#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/exp2.hpp"
#include "a2q/core/config.hpp"
#include "a2q/nn/module.hpp"
#include "a2q/nn/quant_config.hpp"
#include "a2q/quant/a2q_penalty.hpp"
#include "a2q/quant/a2q_weight.hpp"
#include "a2q/quant/fake_quantize.hpp"
#include "a2q/quant/int_format.hpp"

#include <cmath>
#include <span>
#include <vector>

namespace a2q::nn {

class QuantWeight : public Module {
public:
  /// @param initial float weights [C_out, ...] (e.g. He-initialised, or from a float checkpoint)
  /// @param input the integer format of the layer's input (from the quantizer that feeds it)
  A2Q_DECL QuantWeight(const Tensor<float>& initial, const LayerQuantConfig& config,
                       const quant::IntFormat& input);

  std::string type_name() const override { return "QuantWeight"; }
  /// Not a layer of its own: use effective().
  Var forward(const Var&) override { return effective(); }

  const LayerQuantConfig& config() const { return config_; }
  const quant::IntFormat& input_format() const { return input_; }
  std::int64_t out_channels() const { return shape().rank() > 0 ? shape()[0] : 0; }
  std::int64_t fan_in() const { return shape().numel() / out_channels(); }
  const Shape& shape() const { return (v.defined() ? v : weight).shape(); }
  quant::IntFormat weight_format() const { return quant::IntFormat::signed_bits(config_.weight_bits, true); }

  /// Re-initialises from float weights of the same shape (fresh init or a float checkpoint); A2Q and
  /// A2Q+ use the configured init (Euclidean projection by default).
  A2Q_DECL void load_float(const Tensor<float>& w);

  /// The weight the layer computes with: fake-quantized (or float for the float method).
  /// @param reserved per-channel accumulator units a bias takes from the budget (A2Q/A2Q+ only)
  A2Q_DECL Var effective(std::span<const std::int64_t> reserved = {}) const;

  /// The integer weights [C_out, ...] the layer's fake-quantized weight equals scale times.
  A2Q_DECL Tensor<std::int32_t> integers(std::span<const std::int64_t> reserved = {}) const;

  /// Per-output-channel weight scales (a per-tensor scale repeated).
  A2Q_DECL std::vector<float> channel_scales() const;

  /// λ·Σ ReLU(g - s·B) for A2Q/A2Q+; an undefined Var for the other methods.
  A2Q_DECL Var penalty(std::span<const std::int64_t> reserved = {}) const;

  A2Q_DECL quant::A2QWeightSpec a2q_spec() const;

  Var weight;     ///< float and baseline
  Var v;          ///< A2Q / A2Q+ direction
  Var log2_g;     ///< A2Q / A2Q+ norm (log2)
  Var log2_scale; ///< baseline / A2Q / A2Q+ scale (log2)

private:
  A2Q_DECL quant::FakeQuantOptions baseline_options() const;
  A2Q_DECL Tensor<float> scale_tensor() const;

  LayerQuantConfig config_;
  quant::IntFormat input_;
};

} // namespace a2q::nn

#if A2Q_HEADER_ONLY
#include "a2q/nn/quant_weight.ipp"
#endif
