#pragma once
/// @file
/// nn::QuantLayer: what QuantLinear and QuantConv2d share: the quantized weight, the bias and how it
/// enters the accumulator, the link to the quantizer that feeds the layer, and the integer view.

#include "a2q/core/config.hpp"
#include "a2q/nn/act_quant.hpp"
#include "a2q/nn/integer_layer.hpp"
#include "a2q/nn/quant_weight.hpp"
#include "a2q/quant/l1_budget.hpp"

#include <cmath>
#include <vector>

namespace a2q::nn {

class QuantLayer : public Module {
public:
  /// @param input the quantizer whose output this layer consumes; it fixes N and signedness now, so a
  ///   misconfigured network fails at construction, and gives the input scale for export.
  A2Q_DECL QuantLayer(const Tensor<float>& initial_weight, const LayerQuantConfig& config,
                      const ActQuant& input, bool with_bias);

  const LayerQuantConfig& config() const { return weight_quant.config(); }
  const ActQuant& input_quantizer() const { return *input_; }
  bool bias_in_accumulator() const {
    return bias.defined() && config().bias_mode == BiasMode::in_accumulator;
  }

  /// Integer bias per channel in accumulator units (s_w · s_x), clipped to the bias budget when it
  /// starts the accumulator; empty without a bias.
  A2Q_DECL std::vector<std::int64_t> integer_bias() const;

  /// Channel c's integer bias if its weight scale were `weight_scale` (what integer_bias() gives with the
  /// channel's own scale); 0 without a bias.
  A2Q_DECL std::int64_t integer_bias_at(std::int64_t c, double weight_scale) const;

  /// The accumulator units each channel's bias takes from the weights' budget.
  A2Q_DECL std::vector<std::int64_t> bias_reservation() const;

  /// λ·Σ ReLU(g - s·B) for A2Q/A2Q+ layers (undefined otherwise).
  Var penalty() const { return weight_quant.penalty(bias_reservation()); }

  /// The integer view of this layer.
  A2Q_DECL IntegerLayer integer_layer(const std::string& name) const;

  /// "linear" or "conv2d".
  virtual std::string kind() const = 0;

  QuantWeight weight_quant;
  Var bias; ///< undefined without bias

  /// The weight and bias to compute with this step (quantized, with their gradients to the parameters).
  A2Q_DECL std::pair<Var, Var> effective_parameters() const;

private:
  A2Q_DECL std::vector<double> bias_steps() const;
  A2Q_DECL std::int64_t bias_limit() const;

  const ActQuant* input_;
};

} // namespace a2q::nn

#if A2Q_HEADER_ONLY
#include "a2q/nn/quant_layer.ipp"
#endif
