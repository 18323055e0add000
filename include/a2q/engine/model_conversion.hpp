#pragma once
/// @file
/// engine::convert_to_integer: turns a trained quantized network (an nn::Sequential of the layers the
/// model zoo builds, residual blocks included) into an IntegerModel for one input size.
///
/// How each float-model step becomes integers:
/// - an ActQuant on the float input becomes QuantizeInput (the fake quantizer's own code path);
/// - a QuantLinear / QuantConv2d becomes a LayerOp on the integer weights the fake-quantized model
///   uses; its output is an accumulator value a_c · v + b_c with a_c = s_w[c] · s_x and b_c the float
///   bias when it is added after accumulation (0 when it starts the accumulator);
/// - a BatchNorm2d after a layer is folded per channel into that affine map, g_c = γ_c / √(σ²_c + ε):
///   a_c ← a_c · g_c, b_c ← b_c · g_c + β_c − μ_c · g_c. It is folded after quantization, into the
///   requantization, not into the weights before it: the integer weights stay exactly those that
///   training constrained, so the A2Q guarantee proved for them holds (folding BN into the weights
///   and re-quantizing would change their L1 norms and void it). A negative g_c only flips the sign of
///   the channel's factor;
/// - a ReLU after a layer is the lower clamp of the next requantization; elsewhere an integer max(q, 0);
/// - the next ActQuant becomes a RequantizeOp: q = clamp(round_half_even(v · a_c/s + b_c/s)), with the
///   factor as a Q31 fixed-point multiplier (requantizer.hpp);
/// - MaxPool2d runs on the integers; AvgPool2d and GlobalAvgPool2d become window sums whose 1/k²
///   joins the next factor;
/// - a residual block adds its two branches in one RequantizeOp with two factors (each branch
///   requantized to the block's output grid, ReLU folded in);
/// - the last layer's accumulator is dequantized to float logits, a_c · v + b_c.
/// Unsupported patterns (an unknown module, a layer fed by a quantizer that is not the one before it,
/// activation rounding other than nearest-even between layers) give a config_error naming the module.

#include "a2q/core/config.hpp"
#include "a2q/engine/integer_model.hpp"
#include "a2q/models/quant_zoo.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <span>
#include <string>
#include <vector>

namespace a2q::engine {

/// The integer program of `model` (an nn::Sequential) for input samples of shape `sample_shape`
/// (without the batch dimension, e.g. [1, 28, 28]). The model must be trained (quantizers calibrated);
/// its current parameters are copied, later changes to the model do not affect the result.
/// @throws config_error for a model or pattern the engine cannot run in integers (see the file comment)
/// @param stored use these integer layers (matched by name) instead of deriving them, see
///   IntegerModelBuilder
A2Q_DECL IntegerModel convert_to_integer(const nn::Module& model, const Shape& sample_shape,
                                         std::span<const nn::IntegerLayer> stored = {});

} // namespace a2q::engine

#if A2Q_HEADER_ONLY
#include "a2q/engine/model_conversion.ipp"
#endif
