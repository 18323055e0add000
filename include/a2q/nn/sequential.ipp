#pragma once
/// @file
/// Definitions for sequential.hpp (see a2q/core/config.hpp).

#include "a2q/nn/sequential.hpp"

#include "a2q/autograd/conv_pool.hpp"
#include "a2q/autograd/pool.hpp"
#include "a2q/nn/act_quant.hpp"
#include "a2q/nn/activation.hpp"
#include "a2q/nn/conv2d.hpp"
#include "a2q/nn/module.hpp"
#include "a2q/nn/pooling.hpp"
#include "a2q/nn/quant_conv2d.hpp"
#include "a2q/quant/fake_quantize.hpp"
#include "a2q/quant/relu_quantize_pool.hpp"

#include <memory>
#include <optional>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

namespace a2q::nn {

Var Sequential::forward(const Var& x) {
  Var h = x;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    // Exact types below: a subclass may have its own forward().
    const auto is = [&](std::size_t at, const std::type_info& type) {
      if (at >= layers_.size())
        return false;
      const Module& layer = *layers_[at];
      return typeid(layer) == type;
    };
    const auto is_quant_conv = [&](std::size_t at) {
      return is(at, typeid(QuantConv2d)) || is(at, typeid(A2QConv2d)) || is(at, typeid(A2QPlusConv2d));
    };
    // A convolution, a ReLU and max pooling run as one operation (conv2d_relu_max_pool2d), a ReLU and max
    // pooling as one pass (relu_max_pool2d), and the same with an activation quantizer before the pooling
    // once its scale is calibrated (relu_quantize_pool.hpp), as does a ReLU and such a quantizer
    // (relu_fake_quantize): the same values and gradients.
    if (is_quant_conv(i) && is(i + 1, typeid(ReLU)) && is(i + 2, typeid(ActQuant)) &&
        is(i + 3, typeid(MaxPool2d))) {
      const auto& act = static_cast<const ActQuant&>(*layers_[i + 2]);
      if (const std::optional<Var> scale = act.settled_scale()) {
        const auto& conv = static_cast<const QuantConv2d&>(*layers_[i]);
        const auto& pool = static_cast<const MaxPool2d&>(*layers_[i + 3]);
        const auto [w, b] = conv.effective_parameters();
        h = quant::conv2d_relu_quantize_max_pool2d(h, w, b, conv.options(), *scale, act.fake_quant_options(),
                                                   pool.kernel(), pool.stride(), pool.padding());
        i += 3;
        continue;
      }
    }
    if (is(i, typeid(ReLU)) && is(i + 1, typeid(ActQuant)) && is(i + 2, typeid(MaxPool2d))) {
      const auto& act = static_cast<const ActQuant&>(*layers_[i + 1]);
      if (const std::optional<Var> scale = act.settled_scale()) {
        const auto& pool = static_cast<const MaxPool2d&>(*layers_[i + 2]);
        h = quant::relu_quantize_max_pool2d(h, *scale, act.fake_quant_options(), pool.kernel(), pool.stride(),
                                            pool.padding());
        i += 2;
        continue;
      }
    }
    if (is(i, typeid(ReLU)) && is(i + 1, typeid(ActQuant))) {
      const auto& act = static_cast<const ActQuant&>(*layers_[i + 1]);
      if (const std::optional<Var> scale = act.settled_scale()) {
        h = quant::relu_fake_quantize(h, *scale, act.fake_quant_options());
        ++i;
        continue;
      }
    }
    if (is(i, typeid(Conv2d)) && is(i + 1, typeid(ReLU)) && is(i + 2, typeid(MaxPool2d))) {
      const auto& conv = static_cast<const Conv2d&>(*layers_[i]);
      const auto& pool = static_cast<const MaxPool2d&>(*layers_[i + 2]);
      h = conv2d_relu_max_pool2d(h, conv.weight, conv.bias, conv.options(), pool.kernel(), pool.stride(),
                                 pool.padding());
      i += 2;
      continue;
    }
    if (is(i, typeid(ReLU)) && is(i + 1, typeid(MaxPool2d))) {
      const auto& pool = static_cast<const MaxPool2d&>(*layers_[i + 1]);
      h = relu_max_pool2d(h, pool.kernel(), pool.stride(), pool.padding());
      ++i;
      continue;
    }
    h = layers_[i]->forward(h);
  }
  return h;
}

} // namespace a2q::nn
