#pragma once
/// @file
/// Definitions for quant_model.hpp (see a2q/core/config.hpp).

#include "a2q/nn/quant_model.hpp"

#include "a2q/autograd/elementwise.hpp"
#include "a2q/nn/quant_layer.hpp"

#include <string>
#include <vector>

namespace a2q::nn {

std::vector<std::pair<std::string, const QuantLayer*>> quant_layers(const Module& model) {
  std::vector<std::pair<std::string, const QuantLayer*>> out;
  model.visit("", [&](const std::string& prefix, const Module& m) {
    if (const auto* layer = dynamic_cast<const QuantLayer*>(&m))
      out.emplace_back(prefix.empty() ? std::string("model") : prefix.substr(0, prefix.size() - 1), layer);
  });
  return out;
}

std::vector<IntegerLayer> integer_layers(const Module& model) {
  std::vector<IntegerLayer> out;
  for (const auto& [name, layer] : quant_layers(model))
    out.push_back(layer->integer_layer(name));
  return out;
}

Var quant_penalty(const Module& model) {
  Var total;
  for (const auto& [name, layer] : quant_layers(model)) {
    const Var p = layer->penalty();
    if (p.defined())
      total = total.defined() ? add(total, p) : p;
  }
  return total;
}

} // namespace a2q::nn
