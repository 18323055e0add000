#pragma once
// a2q import: an ONNX file (a float network from torch.onnx.export, or QONNX) into a model file that every
// other command takes. Present when a2q is built with a2q::onnx.

#include "data_source.hpp"

#include <a2q/onnx/onnx_import.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <string>

namespace a2q_cli {

struct ImportCommand {
  std::string onnx;
  std::string out;
  std::string normalize;
  bool selected = false;

  void add_to(CLI::App& app) {
    auto* cmd = app.add_subcommand("import", "Import an ONNX network (float, or QONNX) into a model file");
    cmd->add_option("model", onnx, "ONNX file (e.g. from torch.onnx.export, or QONNX from Brevitas or a2q)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("-o,--out", out, "Model file to write")->required();
    cmd->add_option(
        "--normalize", normalize,
        "Input normalisation the network expects, x = (pixel/255 - mean) / std per channel: the C "
        "means, then the C standard deviations (default: x = pixel/255)");
    cmd->callback([this] { selected = true; });
  }

  /// "--normalize" as means and standard deviations.
  a2q::io::OnnxImportOptions options() const {
    const a2q::data::Normalization n = parse_normalize_flag(normalize);
    return {n.mean, n.stddev};
  }

  int run(const std::string& command_line) const {
    a2q::io::ImportedModel m = a2q::io::import_onnx(onnx, options());
    m.metadata.emplace_back("command_line", command_line);
    a2q::io::save_model(out, *m.model, m.input, m.metadata);
    const auto layers = a2q::nn::integer_layers(*m.model);
    fmt::print("{}: {} network, input {}, {} parameters{}\n", onnx,
               m.quantized ? "quantized (QONNX)" : "float", m.input.to_string(), m.model->parameter_count(),
               m.quantized ? fmt::format(", {} quantized layers", layers.size()) : "");
    fmt::print("wrote {}\n", out);
    return 0;
  }
};

} // namespace a2q_cli
