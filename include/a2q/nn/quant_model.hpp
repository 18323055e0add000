#pragma once
/// @file
/// Model-level helpers for quantized networks: every quantized layer's integer view, and the sum of
/// the A2Q penalties (the trainer's extra loss).

#include "a2q/autograd/elementwise.hpp"
#include "a2q/nn/quant_layer.hpp"

#include <string>
#include <vector>

namespace a2q::nn {

/// Every QuantLayer in `model` (depth first), with its dotted name ("fc2", "block.conv1", ...).
inline std::vector<std::pair<std::string, const QuantLayer*>> quant_layers(const Module& model) {
  std::vector<std::pair<std::string, const QuantLayer*>> out;
  model.visit("", [&](const std::string& prefix, const Module& m) {
    if (const auto* layer = dynamic_cast<const QuantLayer*>(&m))
      out.emplace_back(prefix.empty() ? std::string("model") : prefix.substr(0, prefix.size() - 1), layer);
  });
  return out;
}

/// The integer views of all quantized layers, in forward order.
inline std::vector<IntegerLayer> integer_layers(const Module& model) {
  std::vector<IntegerLayer> out;
  for (const auto& [name, layer] : quant_layers(model))
    out.push_back(layer->integer_layer(name));
  return out;
}

/// Σ of the layers' λ·Σ_c ReLU(g - s·B), or an undefined Var when no layer is accumulator-aware.
inline Var quant_penalty(const Module& model) {
  Var total;
  for (const auto& [name, layer] : quant_layers(model)) {
    const Var p = layer->penalty();
    if (p.defined())
      total = total.defined() ? add(total, p) : p;
  }
  return total;
}

} // namespace a2q::nn
