#pragma once
// a2q import: an ONNX file (a float network from torch.onnx.export, or QONNX) into a model file that every
// other command takes. Present when a2q is built with a2q::onnx.

#include <a2q/onnx/onnx_import.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <sstream>
#include <string>
#include <vector>

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
    a2q::io::OnnxImportOptions o;
    if (normalize.empty())
      return o;
    std::vector<float> values;
    std::stringstream in(normalize);
    std::string item;
    while (std::getline(in, item, ',')) {
      std::size_t used = 0;
      float v = 0.0f;
      try {
        v = std::stof(item, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != item.size())
        throw a2q::config_error("--normalize: '" + item + "' is not a number");
      values.push_back(v);
    }
    if (values.empty() || values.size() % 2 != 0)
      throw a2q::config_error(
          "--normalize takes the C means then the C standard deviations (an even count), got " +
          std::to_string(values.size()) + " numbers");
    const auto half = static_cast<std::ptrdiff_t>(values.size() / 2);
    o.mean.assign(values.begin(), values.begin() + half);
    o.stddev.assign(values.begin() + half, values.end());
    return o;
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
