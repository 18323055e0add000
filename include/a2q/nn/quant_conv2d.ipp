#pragma once
/// @file
/// Definitions for quant_conv2d.hpp (see a2q/core/config.hpp).

#include "a2q/nn/quant_conv2d.hpp"

#include "a2q/autograd/conv.hpp"
#include "a2q/nn/init.hpp"
#include "a2q/nn/quant_layer.hpp"
#include "a2q/nn/quant_linear.hpp"

namespace a2q::nn {

QuantConv2d::QuantConv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Rng& rng,
                         const LayerQuantConfig& config, const ActQuant& input, Conv2dOptions options,
                         bool with_bias)
    : QuantLayer(initial(in_channels, out_channels, kernel, options, rng), config, input, with_bias),
      options_(options) {}

Var QuantConv2d::forward(const Var& x) {
  auto [w, b] = effective_parameters();
  return conv2d(x, w, b, options_);
}

Tensor<float> QuantConv2d::initial(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel,
                                   const Conv2dOptions& options, Rng& rng) {
  if (in_channels < 1 || out_channels < 1 || kernel < 1 || options.groups < 1 ||
      in_channels % options.groups != 0 || out_channels % options.groups != 0)
    throw config_error("QuantConv2d: invalid configuration in " + std::to_string(in_channels) + ", out " +
                       std::to_string(out_channels) + ", kernel " + std::to_string(kernel) + ", groups " +
                       std::to_string(options.groups));
  Tensor<float> w(Shape{out_channels, in_channels / options.groups, kernel, kernel});
  init::kaiming_uniform(w, rng);
  return w;
}

A2QConv2d::A2QConv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Rng& rng,
                     const LayerQuantConfig& config, const ActQuant& input, Conv2dOptions options,
                     bool with_bias)
    : QuantConv2d(in_channels, out_channels, kernel, rng,
                  A2QLinear::with_method(config, quant::QuantMethod::a2q), input, options, with_bias) {}

A2QPlusConv2d::A2QPlusConv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel,
                             Rng& rng, const LayerQuantConfig& config, const ActQuant& input,
                             Conv2dOptions options, bool with_bias)
    : QuantConv2d(in_channels, out_channels, kernel, rng,
                  A2QLinear::with_method(config, quant::QuantMethod::a2q_plus), input, options, with_bias) {}

} // namespace a2q::nn
