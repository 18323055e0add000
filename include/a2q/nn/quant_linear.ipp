#pragma once
/// @file
/// Definitions for quant_linear.hpp (see a2q/core/config.hpp).

#include "a2q/nn/quant_linear.hpp"

#include "a2q/autograd/linear.hpp"
#include "a2q/nn/init.hpp"
#include "a2q/nn/quant_layer.hpp"

namespace a2q::nn {

Var QuantLinear::forward(const Var& x) {
  auto [w, b] = effective_parameters();
  return linear(x, w, b);
}

Tensor<float> QuantLinear::initial(std::int64_t in_features, std::int64_t out_features, Rng& rng) {
  if (in_features < 1 || out_features < 1)
    throw config_error("QuantLinear: features must be >= 1, got in " + std::to_string(in_features) +
                       ", out " + std::to_string(out_features));
  Tensor<float> w(Shape{out_features, in_features});
  init::kaiming_uniform(w, rng);
  return w;
}

A2QLinear::A2QLinear(std::int64_t in_features, std::int64_t out_features, Rng& rng, LayerQuantConfig config,
                     const ActQuant& input, bool with_bias)
    : QuantLinear(in_features, out_features, rng, with_method(config, quant::QuantMethod::a2q), input,
                  with_bias) {}

LayerQuantConfig A2QLinear::with_method(LayerQuantConfig c, quant::QuantMethod m) {
  c.method = m;
  return c;
}

A2QPlusLinear::A2QPlusLinear(std::int64_t in_features, std::int64_t out_features, Rng& rng,
                             LayerQuantConfig config, const ActQuant& input, bool with_bias)
    : QuantLinear(in_features, out_features, rng,
                  A2QLinear::with_method(config, quant::QuantMethod::a2q_plus), input, with_bias) {}

} // namespace a2q::nn
