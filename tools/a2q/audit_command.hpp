#pragma once
// a2q audit: the exact accumulator width every layer of a quantized ONNX model needs (QONNX, QDQ, QLinear
// or integer ops), and whether it fits a given P. Present when a2q is built with a2q::onnx.

#include <a2q/onnx/onnx_audit.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <string>

namespace a2q_cli {

struct AuditCommand {
  std::string onnx;
  int acc_bits = 0;
  bool per_channel = false;
  bool json = false;
  bool selected = false;

  void add_to(CLI::App& app) {
    auto* cmd = app.add_subcommand(
        "audit",
        "The exact accumulator width each layer of a quantized ONNX model needs (QONNX, QDQ, QLinearConv, "
        "ConvInteger); with --acc-bits, exit 0 only if every layer fits");
    cmd->add_option("model", onnx, "Quantized ONNX file")->required()->check(CLI::ExistingFile);
    cmd->add_option("--acc-bits", acc_bits,
                    "Check every layer, bias included, against this P (exit 4 if one needs more)")
        ->check(CLI::Range(2, 64));
    cmd->add_flag("--per-channel", per_channel, "Also list every output channel");
    cmd->add_flag("--json", json, "Print JSON instead of a table");
    cmd->callback([this] { selected = true; });
  }

  int run() const {
    const a2q::io::AuditReport report = a2q::io::audit_onnx(onnx);
    const bool checked = acc_bits > 0;
    const bool fits = checked && report.fits(acc_bits);
    if (json)
      print_json(report);
    else
      print_table(report);
    if (!checked)
      return 0;
    if (!json)
      fmt::print(
          "{}\n",
          fits ? fmt::format("every layer fits a {}-bit accumulator for any input", acc_bits)
               : fmt::format("NOT every layer fits a {}-bit accumulator: some input can overflow", acc_bits));
    return fits ? 0 : 4;
  }

  void print_table(const a2q::io::AuditReport& r) const {
    fmt::print("{}: {} quantized layers\n", onnx, r.layers.size());
    fmt::print("{:<28}{:>13}{:>9}{:>8}{:>4}{:>4}{:>14}{:>9}{:>9}{:>7}{:>9}{}\n", "layer", "op", "form", "K",
               "N", "M", "input", "dtype P", "needs P", "+bias", "channel", acc_bits > 0 ? "  margin" : "");
    for (const auto& l : r.layers) {
      fmt::print("{:<28}{:>13}{:>9}{:>8}{:>4}{:>4}{:>14}{:>9}{:>9}{:>7}{:>9}{}\n", l.node, l.op, l.form, l.K,
                 l.input_bits, l.weight_bits, fmt::format("[{},{}]", l.input.lo, l.input.hi), l.datatype_bits,
                 l.needed_bits, l.needed_bits_with_bias, l.worst_channel,
                 acc_bits > 0 ? fmt::format("{:>8}", acc_bits - l.needed_bits_with_bias) : "");
      if (per_channel)
        for (const auto& c : l.channels)
          fmt::print("    channel {:>5}: sum in [{}, {}], bias {}, needs P {} ({} with the bias)\n",
                     c.channel, c.range.lo, c.range.hi, c.bias, c.needed_bits, c.needed_bits_with_bias);
    }
  }

  void print_json(const a2q::io::AuditReport& r) const {
    nlohmann::ordered_json doc = {{"model", onnx}};
    doc["acc_bits"] = acc_bits > 0 ? nlohmann::ordered_json(acc_bits) : nlohmann::ordered_json();
    doc["fits"] = acc_bits > 0 ? nlohmann::ordered_json(r.fits(acc_bits)) : nlohmann::ordered_json();
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const auto& l : r.layers) {
      nlohmann::ordered_json channels = nlohmann::ordered_json::array();
      for (const auto& c : l.channels)
        channels.push_back({{"channel", c.channel},
                            {"min", c.range.lo},
                            {"max", c.range.hi},
                            {"bias", c.bias},
                            {"needed_P", c.needed_bits},
                            {"needed_P_with_bias", c.needed_bits_with_bias}});
      nlohmann::ordered_json layer = {{"node", l.node},
                                      {"op", l.op},
                                      {"form", l.form},
                                      {"out_channels", l.out_channels},
                                      {"K", l.K},
                                      {"weight_bits", l.weight_bits},
                                      {"input_bits", l.input_bits},
                                      {"input_signed", l.input_signed},
                                      {"input_range", {l.input.lo, l.input.hi}},
                                      {"input_from", l.input_from},
                                      {"has_bias", l.has_bias},
                                      {"datatype_bound_P", l.datatype_bits},
                                      {"needed_P", l.needed_bits},
                                      {"needed_P_with_bias", l.needed_bits_with_bias},
                                      {"worst_channel", l.worst_channel}};
      layer["margin_bits"] = acc_bits > 0 ? nlohmann::ordered_json(acc_bits - l.needed_bits_with_bias)
                                          : nlohmann::ordered_json();
      layer["channels"] = std::move(channels);
      layers.push_back(std::move(layer));
    }
    doc["layers"] = std::move(layers);
    std::cout << doc.dump(1) << "\n";
  }
};

} // namespace a2q_cli
