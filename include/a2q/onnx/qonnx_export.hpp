#pragma once
/// @file
/// io::export_qonnx: a quantized model as QONNX, the ONNX dialect FINN reads (part of the optional
/// a2q::onnx library).
///
/// Every activation quantizer becomes a Quant node (domain qonnx.custom_op.general, inputs x, scale,
/// zeropt, bitwidth; attributes signed, narrow and rounding_mode written explicitly); every quantized
/// layer a Conv or Gemm (transB = 1, always with a bias input) whose weight passes through its own Quant
/// node: the integer weights the engine runs, stored pre-quantized (integer x scale) with the scale per
/// output channel, shaped (OC,1,1,1) or (OC,1), and zero point 0, as Brevitas writes them. Biases stay
/// float initializers (FINN folds them). Shapes are fixed at batch 1, with value_info for every tensor.
///
/// metadata_props records what the export would otherwise lose, recomputed from the integer weights:
/// per layer (node name = the layer's path) "a2q.layer.<name>.accumulator_bits" (P), ".required_bits"
/// (exact worst case), ".proven", ".method", ".weight_bits", ".input_bits", ".input_signed"; for the
/// model "a2q.accumulator_bits" (the largest P), "a2q.verified", "a2q.input_mean" and "a2q.input_std".

#include "a2q/io/model_io.hpp"

#include <filesystem>
#include <string>

namespace a2q::io {

/// The QONNX bytes of a loaded quantized model.
/// @throws config_error for a module the export does not cover (naming it), or a model without quantized
///         layers
std::string qonnx_bytes(const LoadedModel& model);

/// Writes the QONNX file atomically.
void export_qonnx(const std::filesystem::path& path, const LoadedModel& model);

} // namespace a2q::io
