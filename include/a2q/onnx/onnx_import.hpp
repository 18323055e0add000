#pragma once
/// @file
/// io::import_onnx: a network from an ONNX file, as an ordinary a2q model (part of the optional
/// a2q::onnx library, built on Debian's libonnx-dev and libprotobuf-dev).
///
/// Float graphs as torch.onnx.export writes them for CNNs and MLPs (opsets 9 to 18): Gemm, MatMul + Add,
/// Conv (groups, symmetric pads, equal strides), Relu, MaxPool, AveragePool, GlobalAveragePool,
/// BatchNormalization, Flatten, Reshape of the flatten kind (with the Shape / Gather / Unsqueeze / Concat
/// arithmetic torch writes for it), Add of two branches (a residual connection: nn::ResidualAdd) or of a
/// bias, Pad with zeros before a Conv or an AveragePool, Constant, Identity and Dropout (inference), with
/// constant operations on initializers folded.
///
/// QONNX graphs (Quant nodes of the domains qonnx.custom_op.general, finn.custom_op.general and
/// onnx.brevitas, op Quant or IntQuant): a Quant on the graph input or after an activation becomes an
/// nn::ActQuant with its fixed scale; a Conv or Gemm whose weight passes through a Quant becomes a
/// QuantConv2d / QuantLinear holding exactly those integer weights and per-channel scales (a bias Quant
/// becomes the float bias it dequantizes to). A file a2q wrote (export_qonnx) also gives back each
/// layer's accumulator width P from its metadata; for other files P is the width the weights need
/// (the exact worst case), so that the report shows it.
///
/// Anything else is refused with an io_error naming the file, the node, its op type and what is
/// supported: never a silently different network.

#include "a2q/core/shape.hpp"
#include "a2q/io/model_io.hpp"
#include "a2q/nn/module.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace a2q::io {

struct OnnxImportOptions {
  /// The input normalisation the network expects, per channel: x = (pixel / 255 - mean) / stddev.
  /// Empty: x = pixel / 255 (or what a file a2q wrote records).
  std::vector<float> mean;
  std::vector<float> stddev;
};

/// A network read from ONNX, ready for save_model.
struct ImportedModel {
  Shape input;                       ///< one sample, e.g. [1, 28, 28]
  std::unique_ptr<nn::Module> model; ///< in evaluation mode
  Metadata metadata;                 ///< source, opset, input normalisation ("input_mean", "input_std")
  bool quantized = false;            ///< true for a QONNX graph
};

/// Imports the ONNX model in file `path`.
/// @throws io_error for an unreadable or malformed file or a graph the importer cannot take (naming the
///         node, its op type and what is supported)
ImportedModel import_onnx(const std::filesystem::path& path, const OnnxImportOptions& options = {});

/// Imports an ONNX model held in memory; `who` starts every error message.
ImportedModel import_onnx_bytes(std::string_view bytes, const std::string& who,
                                const OnnxImportOptions& options = {});

} // namespace a2q::io
