#pragma once
/// @file
/// Definitions for simulate.hpp (see a2q/core/config.hpp).

#include "a2q/engine/simulate.hpp"

#include "a2q/autograd/variable.hpp"
#include "a2q/engine/reference_kernels.hpp"
#include "a2q/nn/quant_conv2d.hpp"
#include "a2q/nn/quant_linear.hpp"
#include "a2q/nn/sequential.hpp"

#include <cmath>
#include <map>
#include <optional>
#include <string>

namespace a2q::engine {

Tensor<float> forward_with_accumulators(nn::Sequential& model, const Tensor<float>& x, OverflowPolicy policy,
                                        std::optional<int> accumulator_bits, LayerOverflowStats* stats) {
  NoGradGuard no_grad;
  model.eval();
  Tensor<float> h = x;
  for (const auto& [name, child] : model.named_children()) {
    const auto* layer = dynamic_cast<const nn::QuantLayer*>(child);
    if (layer == nullptr || layer->config().method == quant::QuantMethod::none) {
      h = child->forward(Var(h)).value();
      continue;
    }
    const nn::IntegerLayer ints = layer->integer_layer(name);
    const AccumulatorLayout P{.bits = accumulator_bits.value_or(ints.accumulator_bits),
                              .tile = ints.tile,
                              .inner_bits = ints.inner_bits};
    // The input is the ActQuant grid: recover its integers exactly.
    Tensor<std::int32_t> qx = Tensor<std::int32_t>::uninitialized(h.shape());
    for (std::int64_t i = 0; i < h.numel(); ++i)
      qx[i] = static_cast<std::int32_t>(std::nearbyint(h[i] / ints.input_scale));
    std::vector<std::int64_t> start;
    if (ints.bias_in_accumulator)
      start = *ints.bias;
    OverflowStats* layer_stats = stats != nullptr ? &(*stats)[name] : nullptr;
    Tensor<std::int64_t> acc;
    std::int64_t plane = 1; // elements per channel per sample in the output
    if (const auto* conv = dynamic_cast<const nn::QuantConv2d*>(layer)) {
      const Shape& ws = layer->weight_quant.shape();
      const Tensor<std::int32_t> w = ints.weights.reshaped(ws);
      const Conv2dGeometry g{.stride_h = conv->options().stride,
                             .stride_w = conv->options().stride,
                             .pad_h = conv->options().padding,
                             .pad_w = conv->options().padding,
                             .groups = conv->options().groups};
      acc = conv2d_reference(qx, w, start, g, P, policy, layer_stats, name);
      plane = acc.dim(2) * acc.dim(3);
    } else {
      acc = linear_reference(qx, ints.weights, start, P, policy, layer_stats, name);
    }
    Tensor<float> y = Tensor<float>::uninitialized(acc.shape());
    const std::int64_t C = ints.out_channels;
    const bool float_bias = layer->bias.defined() && !ints.bias_in_accumulator;
    for (std::int64_t i = 0; i < acc.numel(); ++i) {
      const std::int64_t c = (i / plane) % C;
      const double scale =
          static_cast<double>(ints.weight_scale[static_cast<std::size_t>(c)]) * ints.input_scale;
      double v = static_cast<double>(acc[i]) * scale;
      if (float_bias)
        v += layer->bias.value()[c];
      y[i] = static_cast<float>(v);
    }
    h = std::move(y);
  }
  return h;
}

} // namespace a2q::engine
