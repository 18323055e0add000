#pragma once
// a2q audit: the exact accumulator width every layer of a quantized ONNX model needs (QONNX, QDQ, QLinear
// or integer ops), and whether it fits a given P. Present when a2q is built with a2q::onnx.

#include "data_source.hpp"

#include <a2q/onnx/onnx_audit.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace a2q_cli {

struct AuditCommand {
  std::string onnx;
  std::string acc_bits_text; ///< "P" or "LO:HI"
  int acc_bits = 0;          ///< the single P checked (0: none)
  std::vector<int> widths;   ///< the widths of a data sweep
  std::string data;
  std::int64_t limit = 0;
  std::string normalize;
  bool per_channel = false;
  bool json = false;
  bool selected = false;

  void add_to(CLI::App& app) {
    auto* cmd = app.add_subcommand(
        "audit",
        "The exact accumulator width each layer of a quantized ONNX model needs (QONNX, QDQ, QLinearConv, "
        "ConvInteger); with --acc-bits, exit 0 only if every layer fits");
    cmd->add_option("model", onnx, "Quantized ONNX file")->required()->check(CLI::ExistingFile);
    cmd->add_option(
        "--acc-bits", acc_bits_text,
        "P: check every layer, bias included, against P (exit 4 if one needs more); LO:HI with --data: "
        "run the test set at every P from LO to HI with wrap-around and saturating accumulators");
    cmd->add_option("--data", data,
                    "Data directory (MNIST-format IDX, or CIFAR-10 for 3-channel inputs) for the sweep");
    cmd->add_option("--limit", limit, "Use only the first N test images (0 = all)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--normalize", normalize,
                    "Input normalisation the model expects: the C means, then the C standard deviations "
                    "(default: x = pixel/255)");
    cmd->add_flag("--per-channel", per_channel, "Also list every output channel");
    cmd->add_flag("--json", json, "Print JSON instead of a table");
    cmd->callback([this] { selected = true; });
  }

  /// "--acc-bits P" or "LO:HI".
  void parse_widths() {
    if (acc_bits_text.empty())
      return;
    const auto colon = acc_bits_text.find(':');
    const auto number = [&](const std::string& t) {
      std::size_t used = 0;
      int v = 0;
      try {
        v = std::stoi(t, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != t.size() || v < 2 || v > 64)
        throw a2q::config_error("--acc-bits: '" + acc_bits_text +
                                "' is not P or LO:HI with widths in [2, 64]");
      return v;
    };
    if (colon == std::string::npos) {
      acc_bits = number(acc_bits_text);
      widths = {acc_bits};
      return;
    }
    const int lo = number(acc_bits_text.substr(0, colon)), hi = number(acc_bits_text.substr(colon + 1));
    if (lo > hi)
      throw a2q::config_error("--acc-bits: " + acc_bits_text + " is an empty range");
    for (int P = lo; P <= hi; ++P)
      widths.push_back(P);
  }

  int run() {
    parse_widths();
    if (widths.size() > 1 && data.empty())
      throw a2q::config_error("--acc-bits " + acc_bits_text + " is a range: it needs --data for the sweep");
    const a2q::io::AuditReport report = a2q::io::audit_onnx(onnx);
    std::optional<a2q::io::AccumulatorSweep> sweep;
    if (!data.empty())
      sweep = run_sweep(report);
    if (sweep && !json)
      print_sweep(report, *sweep);
    const bool checked = acc_bits > 0;
    const bool fits = checked && report.fits(acc_bits);
    if (json)
      print_json(report, sweep);
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

  a2q::io::AccumulatorSweep run_sweep(const a2q::io::AuditReport& report) const {
    if (widths.empty())
      throw a2q::config_error("--data runs a sweep: give the widths with --acc-bits P or LO:HI");
    const a2q::Shape input(std::span<const std::int64_t>(report.input_dims));
    const auto test = load_split(data, input, a2q::data::Split::test, limit);
    a2q::data::DataLoaderOptions o{.batch_size = test.size(), .shuffle = false};
    o.normalization = parse_normalize_flag(normalize);
    if (report.integer_input && !normalize.empty())
      throw a2q::config_error("--normalize: the model takes integer pixels, not normalised floats");
    const a2q::data::Batch batch = a2q::data::DataLoader(test, o).batch(0);
    const std::vector<a2q::engine::OverflowPolicy> policies{a2q::engine::OverflowPolicy::wrap,
                                                            a2q::engine::OverflowPolicy::saturate};
    return a2q::io::sweep_accumulators(onnx, batch.images, batch.labels, widths, policies);
  }

  void print_sweep(const a2q::io::AuditReport& r, const a2q::io::AccumulatorSweep& s) const {
    fmt::print("{}: accuracy on {} test images against the accumulator width (exact accumulators: {:.2f}%)\n",
               onnx, s.samples, 100.0 * s.exact_accuracy);
    fmt::print("{:>4}  {:<34}{:>10}{:>10}{:>14}\n", "P", "the exact bound says", "wrap", "saturate",
               "overflows");
    for (std::size_t i = 0; i + 1 < s.points.size(); i += 2) { // (wrap, saturate) per width
      const auto& w = s.points[i];
      const auto& sat = s.points[i + 1];
      std::int64_t over = 0;
      for (const auto& l : r.layers)
        over += l.needed_bits_with_bias > w.accumulator_bits;
      fmt::print("{:>4}  {:<34}{:>9.2f}%{:>9.2f}%{:>14}\n", w.accumulator_bits,
                 over == 0 ? std::string("no input can overflow")
                           : fmt::format("{} of {} layers can overflow", over, r.layers.size()),
                 100.0 * w.accuracy, 100.0 * sat.accuracy, w.overflow_events);
    }
  }

  void print_json(const a2q::io::AuditReport& r,
                  const std::optional<a2q::io::AccumulatorSweep>& sweep) const {
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
    if (sweep) {
      nlohmann::ordered_json points = nlohmann::ordered_json::array();
      for (const auto& p : sweep->points)
        points.push_back({{"acc_bits", p.accumulator_bits},
                          {"policy", a2q::engine::to_string(p.policy)},
                          {"accuracy", p.accuracy},
                          {"overflow_events", p.overflow_events},
                          {"affected_outputs", p.affected_outputs},
                          {"proven", r.fits(p.accumulator_bits)}});
      doc["sweep"] = {
          {"samples", sweep->samples}, {"exact_accuracy", sweep->exact_accuracy}, {"points", points}};
    }
    std::cout << doc.dump(1) << "\n";
  }
};

} // namespace a2q_cli
