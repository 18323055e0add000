#pragma once
// What the audit keeps of each quantized layer so that the sweep (onnx_sweep.cpp) can run it with a P-bit
// accumulator: the integers it multiplies, laid out channel by channel, the bias it starts from, and the
// scales that turn the accumulator back into the graph's values.

#include "onnx_graph.hpp"

#include <a2q/onnx/onnx_audit.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace a2q::io::detail {

struct LayerProgram {
  std::string form; ///< "qonnx", "qdq", "qlinear" or "integer"
  std::int64_t out = 0, K = 0;
  std::int64_t kernel_h = 1, kernel_w = 1; ///< convolutions: the weight's spatial size
  std::vector<std::int32_t> weights; ///< [out, K]: weight minus zero point; conv in (C_in/g, kh, kw) order
  std::vector<std::int64_t> bias;    ///< per channel (empty: none)
  double input_scale = 0.0;          ///< float layers: value = integer · input_scale (0: integer input)
  std::int64_t input_zero_point = 0; ///< qlinear / integer forms: integer input minus this
  std::vector<double> weight_scale;  ///< per channel (empty: unknown)
  int needed_bits_with_bias = 0;
  // qlinear: the output quantizer
  double output_scale = 0.0;
  std::int64_t output_zero_point = 0, output_lo = 0, output_hi = 0;
};

/// The audit of a parsed graph; fills `programs` (by node name) when given.
AuditReport audit_graph(const OnnxGraph& graph, std::map<std::string, LayerProgram>* programs);

} // namespace a2q::io::detail
