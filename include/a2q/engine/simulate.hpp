#pragma once
/// @file
/// Runs a trained quantized model with every quantized layer computed in integers through a simulated
/// P-bit accumulator (each layer's own P, or one override), to see what overflow does to accuracy: an
/// A2Q/A2Q+ model gives the fake-quantized logits (no partial sum ever leaves the range), a baseline
/// model run below its data-type bound wraps or saturates like real P-bit hardware would.
///
/// Scope: models that are an nn::Sequential of top-level layers (the MLP and CNN of the examples).
/// Each quantized layer's input is the output of an ActQuant, so it is exactly s_x times an integer;
/// the layer computes acc = bias_start + Σ q_w·q_x in the accumulator, then y = acc·s_w·s_x (+ the float
/// bias when it is added after accumulation). Every other layer runs its float forward pass.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"
#include "a2q/engine/reference_kernels.hpp"
#include "a2q/nn/quant_conv2d.hpp"
#include "a2q/nn/quant_linear.hpp"
#include "a2q/nn/sequential.hpp"

#include <cmath>
#include <map>
#include <optional>
#include <string>

namespace a2q::engine {

/// Logits of `model` for `x` with quantized layers computed in P-bit integer accumulators.
/// @param accumulator_bits overrides every quantized layer's P when set
/// @param stats optional per-layer overflow counters (added to)
A2Q_DECL Tensor<float> forward_with_accumulators(nn::Sequential& model, const Tensor<float>& x,
                                                 OverflowPolicy policy,
                                                 std::optional<int> accumulator_bits = {},
                                                 LayerOverflowStats* stats = nullptr);

} // namespace a2q::engine

#if A2Q_HEADER_ONLY
#include "a2q/engine/simulate.ipp"
#endif
