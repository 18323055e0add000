#pragma once
/// @file
/// Model-level helpers for quantized networks: every quantized layer's integer view, and the sum of
/// the A2Q penalties (the trainer's extra loss).

#include "a2q/autograd/elementwise.hpp"
#include "a2q/core/config.hpp"
#include "a2q/nn/quant_layer.hpp"

#include <string>
#include <vector>

namespace a2q::nn {

/// Every QuantLayer in `model` (depth first), with its dotted name ("fc2", "block.conv1", ...).
A2Q_DECL std::vector<std::pair<std::string, const QuantLayer*>> quant_layers(const Module& model);

/// The integer views of all quantized layers, in forward order.
A2Q_DECL std::vector<IntegerLayer> integer_layers(const Module& model);

/// Σ of the layers' λ·Σ_c ReLU(g - s·B), or an undefined Var when no layer is accumulator-aware.
A2Q_DECL Var quant_penalty(const Module& model);

} // namespace a2q::nn

#if A2Q_HEADER_ONLY
#include "a2q/nn/quant_model.ipp"
#endif
