#pragma once
// a2q quantize: post-training quantization of a float model file (from a2q train --quant float, or
// imported from ONNX) into a quantized model file that a2q verify proves, with no retraining.

#include "data_source.hpp"

#include "common/quant_flags.hpp"
#include "common/training_run.hpp"

#include <a2q/autograd/loss.hpp>
#include <a2q/core/parallel.hpp>
#include <a2q/engine/verify.hpp>
#include <a2q/io/architecture.hpp>
#include <a2q/io/model_io.hpp>
#include <a2q/io/quantized_architecture.hpp>
#include <a2q/ptq/quantize_model.hpp>
#include <a2q/train/progress_bar.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace a2q_cli {

struct QuantizeCommand {
  std::string model;
  std::string out;
  std::string method = "axe-gpfq";
  std::string data; ///< empty: the directory the float model was trained on
  std::int64_t calibration = 1024;
  std::int64_t batch_size = 256;
  std::int64_t test_limit = 0;
  int threads = 0;
  double damping = 0.01;
  examples::QuantFlags quant;
  bool selected = false;

  void add_to(CLI::App& app) {
    auto* cmd = app.add_subcommand(
        "quantize",
        "Post-training quantization of a float model: every hidden layer fits a P-bit accumulator "
        "by construction (AXE), no retraining");
    cmd->add_option("model", model, "Float model file (a2q train --quant float, or a2q import)")->required();
    cmd->add_option("-o,--out", out, "Quantized model file to write")->required();
    cmd->add_option("--method", method,
                    "axe-gpfq / axe-optq: greedy with error feedback and AXE's accumulator constraints; ep: "
                    "Euclidean projection + round toward zero; rtn: round to nearest, clipped to the budget; "
                    "gpfq / optq: the plain methods (no accumulator constraint)")
        ->check(CLI::IsMember({"axe-gpfq", "axe-optq", "ep", "rtn", "gpfq", "optq"}))
        ->capture_default_str();
    cmd->add_option("--acc-bits", quant.acc_bits,
                    "P: accumulator bits of hidden layers (the outer width with "
                    "--tile)")
        ->check(CLI::Range(2, 64))
        ->capture_default_str();
    cmd->add_option("--weight-bits", quant.weight_bits, "M: weight bits of hidden layers")
        ->check(CLI::Range(2, 16))
        ->capture_default_str();
    cmd->add_option("--act-bits", quant.act_bits, "N: activation bits after ReLU")
        ->check(CLI::Range(1, 16))
        ->capture_default_str();
    cmd->add_option("--tile", quant.tile,
                    "Multi-stage accumulation: weights per inner register (needs --inner-bits)")
        ->check(CLI::Range(1, 1 << 30));
    cmd->add_option("--inner-bits", quant.inner_bits, "P_i: bits of the inner register of each tile")
        ->check(CLI::Range(2, 64));
    cmd->add_option("--calibration", calibration, "Calibration images: the first N of the training split")
        ->check(CLI::Range(1, 1 << 24))
        ->capture_default_str();
    cmd->add_option("--batch-size", batch_size, "Calibration images per forward pass")
        ->check(CLI::Range(1, 1 << 20))
        ->capture_default_str();
    cmd->add_option("--damping", damping, "GPFQ and OPTQ: damping λ as a fraction of the mean of diag(H)")
        ->check(CLI::Range(0.0, 1e6))
        ->capture_default_str();
    cmd->add_option("--data", data, "Data directory (default: the one the float model was trained on)");
    cmd->add_option("--test-limit", test_limit, "Evaluate on the first N test images only (0 = all)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--threads", threads, "Threads (default: A2Q_NUM_THREADS or all cores)")
        ->check(CLI::Range(1, 1024));
    cmd->add_flag("--per-tensor", quant.per_tensor,
                  "One weight scale per layer instead of per output channel");
    cmd->add_flag("--bias-in-accumulator", quant.bias_in_accumulator,
                  "Start the accumulator at the bias (the guarantee then includes |bias|)");
    cmd->add_flag("--constrain-first", quant.constrain_first, "Constrain the first layer like a hidden one");
    cmd->add_flag("--constrain-last", quant.constrain_last, "Constrain the last layer like a hidden one");
    cmd->callback([this] { selected = true; });
  }

  int run(const std::string& command_line) const {
    if (threads > 0)
      a2q::set_num_threads(threads);
    else
      a2q::threads_from_environment();
    examples::create_parent_directory(out);
    const auto started = std::chrono::steady_clock::now();

    const a2q::io::LoadedModel source = a2q::io::load_model(model);
    if (source.quantized())
      throw a2q::config_error(model + ": the model is already quantized (quantize a float model)");
    auto* float_net = dynamic_cast<a2q::nn::Sequential*>(source.model.get());
    if (float_net == nullptr)
      throw a2q::config_error(model + ": post-training quantization takes a sequential network");
    const a2q::data::Normalization normalization = normalization_for(source.input, source.file);

    // The quantized twin with fixed-scale (baseline) layers: the method chooses their integers.
    examples::QuantFlags flags = quant;
    flags.method = "baseline";
    const a2q::models::QuantPolicy policy = examples::make_policy(flags);
    std::string description;
    try {
      description = a2q::io::quantized_architecture(source.architecture, policy, normalization.empty());
    } catch (const a2q::config_error& e) {
      throw a2q::config_error(model + ": " + e.what());
    }
    a2q::Rng rng(0);
    a2q::io::Architecture built =
        a2q::io::build_architecture(description, rng, &policy, /*check_shapes=*/true);
    auto& net = dynamic_cast<a2q::nn::Sequential&>(*built.network);
    a2q::models::load_float_weights(net, *float_net);

    const std::string data_dir =
        data.empty() ? source.file.find_metadata("data").value_or(a2q::data::default_fashion_mnist_dir)
                     : data;
    const a2q::Tensor<float> images =
        load_images(data_dir, source.input, normalization, a2q::data::Split::train, calibration).images;
    fmt::print(
        "{}: {} post-training quantization, hidden layers W{}A{} at P = {}{}; {} calibration images "
        "from {}\n",
        model, method, quant.weight_bits, quant.act_bits, quant.acc_bits,
        quant.tile > 0 ? fmt::format(" (tiles of {} in {}-bit registers)", quant.tile, quant.inner_bits) : "",
        images.dim(0), data_dir);

    a2q::ptq::calibrate_activations(net, images, batch_size);
    a2q::ptq::PtqOptions options;
    options.method = a2q::ptq::parse_ptq_method(method);
    options.batch_size = batch_size;
    options.damping = damping;
    const bool interactive = a2q::train::stdout_is_terminal();
    const auto results =
        a2q::ptq::quantize_weights(net, *float_net, images, options,
                                   [&](const a2q::ptq::PtqProgress& p) { print_progress(p, interactive); });

    // Accuracy of the float and the quantized model on the test split, and the proof.
    const a2q::data::Batch test =
        load_images(data_dir, source.input, normalization, a2q::data::Split::test, test_limit);
    const double float_accuracy = accuracy(*float_net, test);
    const double quantized_accuracy = accuracy(net, test);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    fmt::print("test accuracy on {} images: float {:.2f}%, quantized {:.2f}% ({:.1f}% of float); {:.2f} s\n",
               test.size(), 100.0 * float_accuracy, 100.0 * quantized_accuracy,
               float_accuracy > 0.0 ? 100.0 * quantized_accuracy / float_accuracy : 0.0, seconds);

    a2q::io::Metadata metadata{{"model", source.file.find_metadata("model").value_or(model)},
                               {"quant", method},
                               {"ptq_method", method},
                               {"ptq_from", model},
                               {"ptq_calibration_images", std::to_string(images.dim(0))},
                               {"command_line", command_line},
                               {"data", data_dir},
                               {"float_test_accuracy", fmt::format("{:.6f}", float_accuracy)},
                               {"test_accuracy", fmt::format("{:.6f}", quantized_accuracy)}};
    for (auto& entry : normalization_metadata(source.input, normalization))
      metadata.push_back(std::move(entry));
    a2q::io::save_model(out, net, built.input, metadata);
    fmt::print("wrote {}\n", out);

    const auto proofs = a2q::engine::prove_model(a2q::io::to_integer_model(a2q::io::load_model(out)));
    bool proven = true;
    for (const auto& p : proofs)
      proven = proven && p.proven();
    if (proven) {
      fmt::print("proven: no input can overflow any accumulator (a2q verify {} checks it again)\n", out);
      return 0;
    }
    for (const auto& p : proofs)
      if (!p.proven())
        fmt::print("OVERFLOW POSSIBLE: {}\n", a2q::engine::failed_proof_text(p));
    if (a2q::ptq::fits_by_construction(options.method))
      throw a2q::internal_error(method + " produced a layer that does not fit its accumulator");
    fmt::print("{} does not constrain the accumulator: the model is written, but a2q verify refuses it\n",
               method);
    return 0;
  }

  /// One line per layer: a bar over the layers while it runs on a terminal, then what the layer got.
  static void print_progress(const a2q::ptq::PtqProgress& p, bool interactive) {
    constexpr int width = 20;
    const std::size_t done = p.result ? p.layer + 1 : p.layer;
    const auto filled = static_cast<int>(width * done / std::max<std::size_t>(p.layers, 1));
    const std::string bar = std::string(static_cast<std::size_t>(filled), '=') +
                            std::string(static_cast<std::size_t>(width - filled), ' ');
    if (p.result == nullptr) {
      if (interactive) {
        fmt::print("\r  [{}] {}/{} {} ...", bar, p.layer + 1, p.layers, p.name);
        std::fflush(stdout);
      }
      return;
    }
    const a2q::ptq::LayerResult& r = *p.result;
    fmt::print(
        "{}  [{}] {}/{} {:<8} {:>4}x{:<5} P = {:>2}{}  output error {:5.2f}%  sparsity {:5.1f}%  {:.2f} s\n",
        interactive ? "\r" : "", bar, p.layer + 1, p.layers, r.name, r.channels, r.fan_in, r.accumulator_bits,
        r.tile > 0 ? fmt::format(" (tiles {} at {})", r.tile, r.inner_bits) : "", 100.0 * r.output_error,
        100.0 * r.sparsity, r.seconds);
  }

  /// A split's images (the first `limit`, 0 = all), normalised as the model takes them.
  static a2q::data::Batch load_images(const std::string& dir, const a2q::Shape& input,
                                      const a2q::data::Normalization& normalization, a2q::data::Split split,
                                      std::int64_t limit) {
    const auto set = load_split(dir, input, split, limit);
    a2q::data::DataLoaderOptions o{.batch_size = set.size(), .shuffle = false};
    o.normalization = normalization;
    return a2q::data::DataLoader(set, o).batch(0);
  }

  static double accuracy(a2q::nn::Module& net, const a2q::data::Batch& batch) {
    net.eval();
    return static_cast<double>(a2q::count_correct(forward_in_chunks(net, batch.images), batch.labels)) /
           static_cast<double>(batch.size());
  }
};

} // namespace a2q_cli
