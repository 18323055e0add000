#pragma once
/// @file
/// io::audit_onnx: the exact accumulator width every layer of a quantized ONNX model needs, for any input
/// (part of the optional a2q::onnx library).
///
/// Reads the forms quantized models come in: QONNX (Quant nodes, as Brevitas and a2q write them), QDQ
/// (QuantizeLinear / DequantizeLinear around Conv, Gemm and MatMul, as ONNX Runtime's quantizer writes
/// them), QOperator (QLinearConv, QLinearMatMul) and the integer ops (ConvInteger, MatMulInteger). For each
/// layer it recovers the integers the hardware multiplies: the weights minus their zero points (per output
/// channel), the input's integer range minus its zero point (from the quantizer in front of the layer, the
/// graph input's type, through max pooling, flattening and reshaping, clipped by a ReLU), and the bias as
/// the integer added to the accumulator. Then, per output channel, the exact worst case of the sum (sign
/// split: max = Σ_{w>0} w·hi + Σ_{w<0} w·lo) and the smallest two's-complement width P that holds it, with
/// and without the bias. The work is linear in the number of weights.
///
/// A graph whose quantized layer cannot be mapped to integers is refused with an io_error naming the node
/// and why (a float op between a quantizer and the layer, weights that are not quantized, a scale or zero
/// point of the wrong shape or type, an impossible bit width).

#include "a2q/core/tensor.hpp"
#include "a2q/engine/accumulator.hpp"
#include "a2q/quant/bounds.hpp"

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace a2q::io {

/// One output channel's worst case.
struct AuditChannel {
  std::int64_t channel = 0;
  AccumulatorRange range{0, 0}; ///< extremes of Σ w·x over the input range, without the bias
  std::int64_t bias = 0;        ///< the integer the accumulator starts at (0 without a bias)
  int needed_bits = 0;          ///< smallest P holding `range`
  int needed_bits_with_bias = 0;
};

/// One quantized layer.
struct AuditLayer {
  std::string node; ///< the Conv / Gemm / MatMul / QLinearConv / ... node
  std::string op;   ///< its op type
  std::string form; ///< "qonnx", "qdq", "qlinear" or "integer"
  std::int64_t out_channels = 0;
  std::int64_t K = 0;  ///< dot-product length
  int weight_bits = 0; ///< M: bits of the integers multiplied (weights minus zero point)
  int input_bits = 0;  ///< N: bits of the input integers multiplied (input minus zero point)
  bool input_signed = false;
  InputRange input{0, 0}; ///< the input integers' range
  std::string input_from; ///< the node (or graph input) that fixes it
  bool has_bias = false;
  int datatype_bits = 0; ///< the data-type bound for K, N, M
  int needed_bits = 0;   ///< largest over the channels, without the bias
  int needed_bits_with_bias = 0;
  std::int64_t worst_channel = 0; ///< the first channel that needs needed_bits_with_bias
  std::vector<AuditChannel> channels;
};

struct AuditReport {
  std::string model;
  std::vector<std::int64_t> input_dims; ///< one sample of the graph input, e.g. {1, 28, 28}
  bool integer_input = false;           ///< the graph takes integers (e.g. uint8 pixels)
  std::vector<AuditLayer> layers;

  /// Whether every layer, with its bias, fits a P-bit accumulator.
  bool fits(int P) const {
    for (const auto& l : layers)
      if (l.needed_bits_with_bias > P)
        return false;
    return true;
  }
};

/// Audits the quantized ONNX model in `path`.
/// @throws io_error for an unreadable or malformed file, a graph without quantized layers, or a layer that
///         cannot be mapped to integers (naming the node and why)
AuditReport audit_onnx(const std::filesystem::path& path);

/// Audits a model held in memory; `who` starts every error message.
AuditReport audit_onnx_bytes(std::string_view bytes, const std::string& who);

/// The model's accuracy at one accumulator width and overflow policy.
struct SweepPoint {
  int accumulator_bits = 0;
  engine::OverflowPolicy policy = engine::OverflowPolicy::wrap;
  double accuracy = 0.0;
  std::int64_t overflow_events = 0;  ///< partial sums that left the range, over all layers
  std::int64_t affected_outputs = 0; ///< accumulator results that differ from the exact sum
};

struct AccumulatorSweep {
  std::int64_t samples = 0;
  double exact_accuracy = 0.0; ///< every layer with an exact (unbounded) accumulator
  std::vector<SweepPoint> points;
};

/// What narrower accumulators do to a quantized ONNX model: runs `images` (the graph's float input, one
/// sample per row; pixel values in [0, 255] for a graph that takes integers) through the graph, every
/// quantized layer the audit finds accumulating in a P-bit register under each policy (every partial sum,
/// starting from the bias), the rest of the graph in double precision, and compares the argmax with
/// `labels`. Layers whose exact worst case fits P take the exact sum (no input can overflow them).
/// @throws io_error for an op the runner does not execute (naming the node)
AccumulatorSweep sweep_accumulators(const std::filesystem::path& model, const Tensor<float>& images,
                                    std::span<const std::int32_t> labels, std::span<const int> widths,
                                    std::span<const engine::OverflowPolicy> policies);

} // namespace a2q::io
