#pragma once
/// @file
/// io::quantized_architecture: the quantized twin of a float network's description, so that any float
/// model (built in C++, or imported from ONNX) can be fine-tuned with A2Q / A2Q+ (a2q train --init-from
/// model.a2q). Linear and Conv2d become QuantLinear and QuantConv2d with the policy's settings (built with
/// the policy, see build_architecture), an activation quantizer follows every ReLU, and a layer that no
/// quantizer reaches (through max pooling, flattening or dropout) gets one right before it: the 8-bit
/// pixel grid at the raw network input, else a signed learned one. The structure is the one the integer
/// engine runs (layer, batch norm, ReLU, quantizer, pooling, next layer).

#include "a2q/core/config.hpp"

#include <string>
#include <string_view>

namespace a2q::models {
struct QuantPolicy;
}

namespace a2q::io {

/// @param pixel_input the network takes pixel / 255 unnormalised, so the first quantizer is the exact
///   8-bit pixel grid (otherwise signed, learned, with the policy's activation bits)
/// @throws config_error for a description that is already quantized or holds a module the twin cannot
///   quantize (residual connections), naming the layer
A2Q_DECL std::string quantized_architecture(std::string_view float_description,
                                            const models::QuantPolicy& policy, bool pixel_input);

} // namespace a2q::io

#if A2Q_HEADER_ONLY
#include "a2q/io/quantized_architecture.ipp"
#endif
