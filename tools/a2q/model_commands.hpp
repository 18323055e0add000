#pragma once
// The a2q subcommands that read a model file: eval, verify, report and export.

#include "data_source.hpp"

#include <a2q/autograd/loss.hpp>
#include <a2q/engine/verify.hpp>
#include <a2q/engine/weight_compression.hpp>
#include <a2q/hardware/lut_estimate.hpp>
#include <a2q/io/atomic_file.hpp>
#include <a2q/io/c_header.hpp>
#include <a2q/io/int_weights_json.hpp>
#include <a2q/io/model_io.hpp>
#include <a2q/quant/bypass.hpp>
#include <a2q/sweep/results.hpp>
#ifdef A2Q_HAS_ONNX
#include <a2q/onnx/qonnx_export.hpp>
#endif

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <optional>
#include <string>

namespace a2q_cli {

/// Options every model-reading command shares: the model file and, for the data-set runs, the data.
struct ModelInput {
  std::string model;
  std::string data;       ///< empty: the directory the model was trained on
  std::int64_t limit = 0; ///< first N test images (0 = all)

  void add_to(CLI::App& cmd, bool with_data) {
    cmd.add_option("model", model, "Model file written by a2q train")->required();
    if (with_data) {
      cmd.add_option("--data", data, "Data directory (default: the one the model was trained on)");
      cmd.add_option("--limit", limit, "Use only the first N test images (0 = all)")
          ->check(CLI::NonNegativeNumber);
    }
  }

  std::string data_dir(const a2q::io::LoadedModel& m) const {
    if (!data.empty())
      return data;
    return m.file.find_metadata("data").value_or(a2q::data::default_fashion_mnist_dir);
  }
};

inline a2q::engine::OverflowPolicy parse_policy(const std::string& name) {
  for (auto p : {a2q::engine::OverflowPolicy::check, a2q::engine::OverflowPolicy::saturate,
                 a2q::engine::OverflowPolicy::wrap, a2q::engine::OverflowPolicy::count})
    if (name == a2q::engine::to_string(p))
      return p;
  throw a2q::config_error("unknown overflow policy '" + name + "' (expected check, saturate, wrap or count)");
}

/// One line per layer that can overflow, naming its worst channel (the proofs are recomputed from the
/// integers: nothing a file says about itself is trusted).
inline void print_failed_proofs(const std::vector<a2q::engine::LayerProof>& proofs) {
  for (const auto& p : proofs)
    if (!p.proven())
      fmt::print("OVERFLOW POSSIBLE: {}\n", a2q::engine::failed_proof_text(p));
}

/// One line per tiled layer (multi-stage accumulation): its inner registers and what its widest tile needs.
inline void print_tiles(const std::vector<a2q::engine::LayerProof>& proofs) {
  for (const auto& p : proofs)
    if (p.tile > 0)
      fmt::print("{}: tiles of {} products in {}-bit inner registers (the widest tile needs {} bits), "
                 "outer register P = {}\n",
                 p.name, p.tile, p.inner_bits, p.required_inner_bits, p.checked_bits);
}

/// Test images as float batches the model takes (normalised like in training).
inline a2q::data::Batch test_batch(const a2q::io::LoadedModel& m, const ModelInput& in) {
  const auto test = load_split(in.data_dir(m), m.input, a2q::data::Split::test, in.limit, upscale_of(m.file));
  a2q::data::DataLoaderOptions o{.batch_size = test.size(), .shuffle = false};
  o.normalization = normalization_for(m.input, m.file);
  return a2q::data::DataLoader(test, o).batch(0);
}

/// The integer engine over a data set in chunks, counting overflow events per layer.
struct IntegerRun {
  a2q::Tensor<float> outputs;
  a2q::engine::LayerOverflowStats stats;
  std::int64_t events() const {
    std::int64_t n = 0;
    for (const auto& [name, s] : stats)
      n += s.events;
    return n;
  }
};

inline IntegerRun run_integer(const a2q::engine::IntegerModel& ints, const a2q::Tensor<float>& images,
                              a2q::engine::OverflowPolicy policy, std::optional<int> P) {
  IntegerRun run;
  a2q::engine::ExecutionOptions o;
  o.policy = policy;
  o.accumulator_bits = P;
  o.stats = &run.stats;
  const std::int64_t S = images.dim(0), chunk = 500;
  for (std::int64_t begin = 0; begin < S; begin += chunk) {
    const a2q::Tensor<float> y =
        ints.forward(a2q::leading_rows(images, begin, std::min(chunk, S - begin)), o);
    if (begin == 0) {
      std::vector<std::int64_t> dims(y.shape().begin(), y.shape().end());
      dims[0] = S;
      run.outputs = a2q::Tensor<float>::uninitialized(a2q::Shape(std::span<const std::int64_t>(dims)));
    }
    std::copy(y.data(), y.data() + y.numel(), run.outputs.data() + begin * (y.numel() / y.dim(0)));
  }
  return run;
}

/// Mean PSNR (dB, peak 1) of a super-resolution model's outputs against the batch's target images.
inline double mean_psnr(const a2q::Tensor<float>& outputs, const a2q::data::Batch& batch) {
  return a2q::sum_psnr_db(outputs, batch.targets) / static_cast<double>(batch.size());
}

// ---------------------------------------------------------------------------------------------- eval

struct EvalCommand {
  ModelInput input;
  std::string policy = "count";
  int acc_bits = 0;
  bool require_agreement = false;
  std::string logits_csv;
  bool selected = false;

  void add_to(CLI::App& app) {
    auto* cmd = app.add_subcommand(
        "eval", "Accuracy in float (quantizers bypassed), fake-quantized and in the integer engine");
    input.add_to(*cmd, true);
    cmd->add_option("--policy", policy, "Integer engine accumulator policy")
        ->check(CLI::IsMember({"check", "saturate", "wrap", "count"}))
        ->capture_default_str();
    cmd->add_option("--acc-bits", acc_bits, "Run every layer at this P (default: each layer's own)")
        ->check(CLI::Range(2, 64));
    cmd->add_flag("--require-agreement", require_agreement,
                  "Fail unless every layer is proven at the P run (exit 4) and the integer engine's accuracy "
                  "equals the model's (exit 5)");
    cmd->add_option("--logits", logits_csv,
                    "Write the model's outputs (float, or fake-quantized) as CSV, one row per test image");
    cmd->callback([this] { selected = true; });
  }

  static void write_logits(const std::string& path, const a2q::Tensor<float>& y) {
    const std::int64_t rows = y.dim(0), cols = y.numel() / std::max<std::int64_t>(rows, 1);
    a2q::io::write_file_atomically(path, [&](std::ostream& out) {
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c)
          out << fmt::format("{:.9g}", y[r * cols + c]) << (c + 1 < cols ? ',' : '\n');
    });
  }

  /// eval of a super-resolution model: PSNR instead of accuracy; agreement is the engine's outputs equal to
  /// the fake-quantized model's within float rounding.
  int run_super_resolution(const a2q::io::LoadedModel& m, const a2q::data::Batch& batch) const {
    const a2q::Tensor<float> model_out = forward_in_chunks(*m.model, batch.images);
    if (!logits_csv.empty())
      write_logits(logits_csv, model_out);
    fmt::print("{}: {} test images, upscaled {}x\n", input.model, batch.size(), upscale_of(m.file));
    const bool quantized = m.quantized();
    const double model_psnr = mean_psnr(model_out, batch);
    fmt::print("  {:<28}{:>8.2f} dB\n", quantized ? "fake-quantized model" : "float model", model_psnr);
    if (!quantized)
      return 0;
    const a2q::engine::IntegerModel ints = a2q::io::to_integer_model(m);
    const std::optional<int> P = acc_bits > 0 ? std::optional<int>(acc_bits) : std::nullopt;
    if (require_agreement)
      a2q::engine::require_proven(ints, input.model, P);
    const IntegerRun run = run_integer(ints, batch.images, parse_policy(policy), P);
    double largest_gap = 0.0;
    for (std::int64_t i = 0; i < model_out.numel(); ++i)
      largest_gap = std::max(largest_gap, static_cast<double>(std::abs(run.outputs[i] - model_out[i])));
    const double engine_psnr = mean_psnr(run.outputs, batch);
    fmt::print("  {:<28}{:>8.2f} dB   ({} accumulators, {}; {} overflow events)\n", "integer engine",
               engine_psnr, P ? fmt::format("P = {}", *P) : "own P", policy, run.events());
    fmt::print("  largest difference from the fake-quantized model's pixels: {:.3g}\n", largest_gap);
    // The engine's exact integer sums and float training's rounded ones differ in the last bits of a pixel,
    // never by a visible amount.
    if (require_agreement && std::abs(engine_psnr - model_psnr) > 0.01) {
      std::cerr << "error: the integer engine's PSNR differs from the fake-quantized model's by more than "
                   "0.01 dB\n";
      return 5;
    }
    return 0;
  }

  int run() const {
    const auto m = a2q::io::load_model(input.model);
    const a2q::data::Batch batch = test_batch(m, input);
    if (batch.targets.numel() > 0)
      return run_super_resolution(m, batch);
    const auto S = static_cast<double>(batch.size());
    const a2q::Tensor<float> model_logits = forward_in_chunks(*m.model, batch.images);
    const std::int64_t model_correct = a2q::count_correct(model_logits, batch.labels);
    if (!logits_csv.empty())
      write_logits(logits_csv, model_logits);
    const bool quantized = m.quantized();
    fmt::print("{}: {} test images\n", input.model, batch.size());
    if (quantized) { // what the rounding costs: the same model with every quantizer bypassed
      const a2q::quant::QuantizationBypass bypass;
      const auto float_correct = a2q::count_correct(forward_in_chunks(*m.model, batch.images), batch.labels);
      fmt::print("  {:<28}{:>8.2f}%\n", "float (quantizers bypassed)",
                 100.0 * static_cast<double>(float_correct) / S);
    }
    fmt::print("  {:<28}{:>8.2f}%\n", quantized ? "fake-quantized model" : "float model",
               100.0 * static_cast<double>(model_correct) / S);
    if (!quantized)
      return 0;
    const a2q::engine::IntegerModel ints = a2q::io::to_integer_model(m);
    if (require_agreement) // agreement on a data set says nothing about other inputs without the proof
      a2q::engine::require_proven(ints, input.model,
                                  acc_bits > 0 ? std::optional<int>(acc_bits) : std::nullopt);
    a2q::engine::LayerOverflowStats stats;
    const a2q::engine::ExecutionOptions o{.policy = parse_policy(policy),
                                          .accumulator_bits =
                                              acc_bits > 0 ? std::optional<int>(acc_bits) : std::nullopt,
                                          .kernel = a2q::engine::KernelChoice::automatic,
                                          .stats = &stats};
    const a2q::Tensor<float> logits = ints.forward(batch.images, o);
    std::int64_t correct = 0, agree = 0;
    for (std::int64_t n = 0; n < batch.size(); ++n) {
      const auto predicted = a2q::engine::predicted_class(logits, n);
      correct += predicted == batch.labels[static_cast<std::size_t>(n)];
      agree += predicted == a2q::engine::predicted_class(model_logits, n);
    }
    std::int64_t events = 0;
    for (const auto& [name, s] : stats)
      events += s.events;
    fmt::print("  {:<28}{:>8.2f}%   ({} accumulators, {}; {} overflow events)\n", "integer engine",
               100.0 * static_cast<double>(correct) / S,
               acc_bits > 0 ? fmt::format("P = {}", acc_bits) : "own P", policy, events);
    fmt::print("  predictions agree on {} of {} images\n", agree, batch.size());
    if (require_agreement && correct != model_correct) {
      std::cerr << "error: the integer engine's accuracy differs from the fake-quantized model's\n";
      return 5;
    }
    return 0;
  }
};

// -------------------------------------------------------------------------------------------- verify

struct VerifyCommand {
  ModelInput input;
  std::string policy = "count";
  int acc_bits = 0;
  bool no_data = false;
  bool selected = false;

  void add_to(CLI::App& app) {
    auto* cmd = app.add_subcommand(
        "verify",
        "Prove that no input can overflow the accumulators (exit 0 only then); adversarial and data-set "
        "checks");
    input.add_to(*cmd, true);
    cmd->add_option("--acc-bits", acc_bits, "Check every layer at this P (default: each layer's own)")
        ->check(CLI::Range(2, 64));
    cmd->add_option("--policy", policy, "Accumulator policy of the data-set run")
        ->check(CLI::IsMember({"check", "saturate", "wrap", "count"}))
        ->capture_default_str();
    cmd->add_flag("--no-data", no_data, "Skip the data-set run");
    cmd->callback([this] { selected = true; });
  }

  int run() const {
    using clock = std::chrono::steady_clock;
    const auto m = a2q::io::load_model(input.model);
    const a2q::engine::IntegerModel ints = a2q::io::to_integer_model(m);
    const std::optional<int> P = acc_bits > 0 ? std::optional<int>(acc_bits) : std::nullopt;
    const auto start = clock::now();
    const auto proofs = a2q::engine::prove_model(ints, P);
    std::vector<a2q::engine::AdversarialResult> adversarial;
    for (const auto* layer : ints.layers())
      adversarial.push_back(
          a2q::engine::adversarial_check(*layer, acc_bits > 0 ? acc_bits : layer->accumulator_bits));
    const double seconds = std::chrono::duration<double>(clock::now() - start).count();

    bool proven = true;
    fmt::print("{:<12}{:>9}{:>6}{:>4}{:>4}{:>5}{:>9}{:>9}{:>8}  {:<22}{}\n", "layer", "method", "K", "N", "M",
               "P", "dtype P", "needs P", "margin", "adversarial overflow", "verdict");
    for (std::size_t i = 0; i < proofs.size(); ++i) {
      const auto& p = proofs[i];
      proven = proven && p.proven();
      fmt::print(
          "{:<12}{:>9}{:>6}{:>4}{:>4}{:>5}{:>9}{:>9}{:>8}  {:<22}{}\n", p.name,
          a2q::quant::to_string(p.method), p.K, p.N, p.M, p.checked_bits, p.datatype_bits, p.required_bits,
          p.margin_bits(),
          fmt::format("{} of {} channels", adversarial[i].overflowing_channels, adversarial[i].channels),
          p.proven() ? "no input can overflow" : "OVERFLOW POSSIBLE");
    }
    print_tiles(proofs);
    print_failed_proofs(proofs);
    fmt::print("static proof and adversarial check: {:.1f} ms\n", 1e3 * seconds);

    bool data_clean = true;
    if (!no_data) {
      const a2q::data::Batch batch = test_batch(m, input);
      try {
        if (batch.targets.numel() > 0) { // super-resolution: PSNR, and the overflow events per layer
          const IntegerRun run = run_integer(ints, batch.images, parse_policy(policy), P);
          fmt::print("data set ({} images, {} policy): PSNR {:.2f} dB\n", batch.size(), policy,
                     mean_psnr(run.outputs, batch));
          for (const auto& [name, s] : run.stats)
            fmt::print("  {:<12} {} overflow events, {} of {} outputs changed\n", name, s.events, s.affected,
                       s.outputs);
          data_clean = run.events() == 0;
        } else {
          const auto report =
              a2q::engine::count_dataset_overflows(ints, batch.images, batch.labels, P, parse_policy(policy));
          fmt::print("data set ({} images, {} policy): accuracy {:.2f}%\n", report.samples, policy,
                     100.0 * report.accuracy());
          for (const auto& [name, s] : report.layers)
            fmt::print("  {:<12} {} overflow events, {} of {} outputs changed\n", name, s.events, s.affected,
                       s.outputs);
          data_clean = report.events() == 0;
        }
      } catch (const a2q::engine::accumulator_overflow& e) {
        fmt::print("data set: {}\n", e.what());
        data_clean = false;
      }
    }
    if (proven && !data_clean)
      throw a2q::internal_error("the data-set run overflowed a layer the static proof covers");
    fmt::print("{}\n", proven ? "verified: no input can overflow any accumulator"
                              : "NOT verified: some input can overflow an accumulator");
    return proven ? 0 : 4;
  }
};

// -------------------------------------------------------------------------------------------- report

struct ReportCommand {
  ModelInput input;
  int acc_bits = 0;
  bool json = false;
  std::int64_t pe = 1;
  std::int64_t simd = 1;
  bool selected = false;

  void add_to(CLI::App& app) {
    auto* cmd = app.add_subcommand("report", "Per-layer accumulator, sparsity and size report");
    input.add_to(*cmd, false);
    cmd->add_option("--acc-bits", acc_bits, "Report against this P (default: each layer's own)")
        ->check(CLI::Range(2, 64));
    cmd->add_flag("--json", json, "Print JSON instead of a table");
    cmd->add_option("--pe", pe, "FPGA LUT estimate: output rows each layer computes in parallel (FINN's PE)")
        ->check(CLI::Range(1, 1 << 20))
        ->capture_default_str();
    cmd->add_option("--simd", simd, "FPGA LUT estimate: input columns each layer computes in parallel (SIMD)")
        ->check(CLI::Range(1, 1 << 20))
        ->capture_default_str();
    cmd->callback([this] { selected = true; });
  }

  int run() const {
    const auto m = a2q::io::load_model(input.model);
    const a2q::engine::IntegerModel ints = a2q::io::to_integer_model(m);
    const std::optional<int> P = acc_bits > 0 ? std::optional<int>(acc_bits) : std::nullopt;
    const auto proofs = a2q::engine::prove_model(ints, P);
    const auto layers = ints.layers();
    // FPGA LUTs of each layer as a FINN MVAU (hardware/lut_estimate.hpp), and with 32-bit accumulators.
    const auto luts = a2q::hardware::network_luts(layers, pe, simd, P);
    const auto luts32 = a2q::hardware::network_luts(layers, pe, simd, 32);
    double total = 0.0, total32 = 0.0;
    for (std::size_t i = 0; i < luts.size(); ++i) {
      total += luts[i].total;
      total32 += luts32[i].total;
    }
    if (json) {
      nlohmann::ordered_json doc = {{"model", input.model}};
      for (const auto& [k, v] : m.file.metadata)
        if (k == "model" || k == "quant" || k == "test_accuracy" || k == "seed")
          doc[k] = v;
      nlohmann::ordered_json out_layers = nlohmann::ordered_json::array();
      for (std::size_t i = 0; i < proofs.size(); ++i) {
        const auto& p = proofs[i];
        const auto size = a2q::engine::estimate_compressed_size(*layers[i]);
        out_layers.push_back({{"name", p.name},
                              {"kind", p.kind},
                              {"method", std::string(a2q::quant::to_string(p.method))},
                              {"out_channels", p.out_channels},
                              {"K", p.K},
                              {"N", p.N},
                              {"M", p.M},
                              {"target_P", p.target_bits},
                              {"checked_P", p.checked_bits},
                              {"datatype_bound_P", p.datatype_bits},
                              {"required_P", p.required_bits},
                              {"tile", p.tile},
                              {"inner_P", p.inner_bits},
                              {"required_inner_P", p.required_inner_bits},
                              {"margin_bits", p.margin_bits()},
                              {"max_l1", p.max_l1},
                              {"l1_limit", p.l1_limit},
                              {"l1_margin", p.l1_margin()},
                              {"proven", p.proven()},
                              {"sparsity", p.sparsity},
                              {"dense_bits", size.dense_bits},
                              {"compressed_bits", size.total_bits()},
                              {"compression_ratio", size.ratio()},
                              {"lut_estimate", luts[i].total},
                              {"lut_estimate_p32", luts32[i].total}});
      }
      doc["layers"] = std::move(out_layers);
      const a2q::sweep::WeightSummary weights = a2q::sweep::summarize_weights(layers);
      doc["compression"] = {{"model", a2q::engine::compression_model}, {"weights", weights.weights},
                            {"sparsity", weights.sparsity()},          {"dense_bits", weights.dense_bits},
                            {"coded_bits", weights.coded_bits},        {"ratio", weights.compression()}};
      doc["lut_estimate"] = {{"model", "FINN MVAU (FINN-R cost model), thresholds in LUTRAM"},
                             {"pe", pe},
                             {"simd", simd},
                             {"total", total},
                             {"total_p32", total32}};
      std::cout << doc.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
      return 0;
    }
    fmt::print("{} ({}, {}, input {}; test accuracy {})\n", input.model,
               m.file.find_metadata("model").value_or("custom network"),
               m.file.find_metadata("quant").value_or(m.quantized() ? "quantized" : "float"),
               m.input.to_string(), m.file.find_metadata("test_accuracy").value_or("not recorded"));
    fmt::print("{:<12}{:>7}{:>12}{:>6}{:>4}{:>4}{:>4}{:>8}{:>8}{:>8}{:>10}{:>10}{:>9}{:>10}{:>11}{:>9}\n",
               "layer", "kind", "shape", "K", "N", "M", "P", "dtype P", "needs P", "margin", "max L1",
               "L1 limit", "sparsity", "dense KiB", "coded KiB", "LUTs");
    for (std::size_t i = 0; i < proofs.size(); ++i) {
      const auto& p = proofs[i];
      const auto size = a2q::engine::estimate_compressed_size(*layers[i]);
      fmt::print("{:<12}{:>7}{:>12}{:>6}{:>4}{:>4}{:>4}{:>8}{:>8}{:>8}{:>10}{:>10.1f}{:>8.1f}%{:>10.1f}{:>11."
                 "1f}{:>9.0f}\n",
                 p.name, p.kind, fmt::format("{}x{}", p.out_channels, p.K), p.K, p.N, p.M, p.checked_bits,
                 p.datatype_bits, p.required_bits, p.margin_bits(), p.max_l1, p.l1_limit, 100.0 * p.sparsity,
                 static_cast<double>(size.dense_bits) / 8192.0, size.total_bits() / 8192.0, luts[i].total);
    }
    const a2q::sweep::WeightSummary weights = a2q::sweep::summarize_weights(layers);
    fmt::print("weights: {} of which {:.1f}% zero; dense int-M {:.1f} KiB, entropy-coded {:.1f} KiB: {:.1f}x "
               "compression\n",
               weights.weights, 100.0 * weights.sparsity(), static_cast<double>(weights.dense_bits) / 8192.0,
               weights.coded_bits / 8192.0, weights.compression());
    fmt::print("FPGA LUT estimate (FINN MVAU cost model, PE {}, SIMD {}, thresholds in LUTRAM): {:.0f} LUTs; "
               "{:.0f} with 32-bit accumulators ({:.2f}x)\n",
               pe, simd, total, total32, total > 0.0 ? total32 / total : 0.0);
    print_tiles(proofs);
    print_failed_proofs(proofs);
    return 0;
  }
};

// ------------------------------------------------------------------------------------------- inspect

struct InspectCommand {
  ModelInput input;
  bool arch = false;
  bool selected = false;

  void add_to(CLI::App& app) {
    auto* cmd = app.add_subcommand("inspect", "What a model file holds: metadata, input and the network");
    input.add_to(*cmd, false);
    cmd->add_flag("--arch", arch, "Print only the architecture as JSON (the form a2q train --arch reads)");
    cmd->callback([this] { selected = true; });
  }

  int run() const {
    const auto m = a2q::io::load_model(input.model);
    if (arch) {
      std::cout << m.architecture << "\n";
      return 0;
    }
    fmt::print("{}: input {}, {} parameters, {} quantized layers\n", input.model, m.input.to_string(),
               m.model->parameter_count(), m.file.integer_layers.size());
    for (const auto& [key, value] : m.file.metadata)
      fmt::print("  {:<16}{}\n", key, value);
    fmt::print("network:\n");
    m.model->visit("", [](const std::string& prefix, const a2q::nn::Module& module) {
      if (prefix.empty() || module.type_name() == "QuantWeight")
        return;
      const std::string path = prefix.substr(0, prefix.size() - 1); // visit's prefixes end with '.'

      const auto depth = static_cast<std::size_t>(std::count(path.begin(), path.end(), '.'));
      fmt::print("  {}{:<{}}{}\n", std::string(2 * depth, ' '), path.substr(path.rfind('.') + 1),
                 24 - 2 * static_cast<int>(std::min<std::size_t>(depth, 8)), module.type_name());
    });
    return 0;
  }
};

// -------------------------------------------------------------------------------------------- export

struct ExportCommand {
  ModelInput input;
  std::string format = "json";
  std::string out;
  std::string name = "a2q_model";
  bool allow_unproven = false;
  bool selected = false;

  void add_to(CLI::App& app) {
    auto* cmd =
        app.add_subcommand("export", "Write the integer weights as JSON, or a self-contained C header");
    input.add_to(*cmd, false);
    cmd->add_option(
           "--format", format,
           "json: integer weights; header: C99 header with an inference function; qonnx: ONNX with QONNX "
           "Quant nodes, as FINN reads it (built with a2q::onnx)")
        ->check(CLI::IsMember({"json", "header", "qonnx"}))
        ->capture_default_str();
    cmd->add_option("-o,--out", out, "File to write")->required();
    cmd->add_option("--name", name, "header: prefix of every C identifier")->capture_default_str();
    cmd->add_flag("--allow-unproven", allow_unproven,
                  "json, qonnx: write a model even if a layer can overflow its P-bit accumulator (the file "
                  "records each layer's needed P and proven = false); a header is always refused");
    cmd->callback([this] { selected = true; });
  }

  int run() const {
    const auto m = a2q::io::load_model(input.model);
    // Every format states each layer's P; the proof is recomputed here from the integers being written.
    // (A float model has no integer layers: json writes none, and the header refuses it.)
    std::optional<a2q::engine::IntegerModel> ints;
    if (m.quantized()) {
      ints = a2q::io::to_integer_model(m);
      if (format == "header" || !allow_unproven)
        a2q::engine::require_proven(*ints, input.model);
    }
    if (format == "json")
      a2q::io::save_integer_weights(out, m.file.integer_layers);
    else if (format == "qonnx")
#ifdef A2Q_HAS_ONNX
      a2q::io::export_qonnx(out, m);
#else
      throw a2q::config_error(
          "this a2q was built without ONNX support (a2q::onnx: libonnx-dev, libprotobuf-dev)");
#endif
    else
      a2q::io::save_c_header(out, ints ? *ints : a2q::io::to_integer_model(m), name);
    fmt::print("wrote {}\n", out);
    return 0;
  }
};

} // namespace a2q_cli
