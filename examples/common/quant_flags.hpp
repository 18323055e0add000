#pragma once
// Shared by the training examples: the quantization flags, the layer policy they build, loading a float
// checkpoint into a quantized model, the integer-weight export and the per-layer metrics.

#include <a2q/autograd/loss.hpp>
#include <a2q/data/loader.hpp>
#include <a2q/engine/adversarial.hpp>
#include <a2q/engine/simulate.hpp>
#include <a2q/io/int_weights_json.hpp>
#include <a2q/models/quant_zoo.hpp>
#include <a2q/train/checkpoint.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>

namespace examples {

struct QuantFlags {
  std::string method = "float";
  int weight_bits = 8;
  int act_bits = 8;
  int acc_bits = 16;
  std::int64_t tile = 0;
  int inner_bits = 0;
  bool per_tensor = false;
  bool bias_in_accumulator = false;
  bool constrain_first = false;
  bool constrain_last = false;
  double penalty = 1e-3;
  std::string init = "projection";
  std::string init_from;
  std::string export_int;
  std::string eval_accumulator; // "", "wrap" or "saturate"
  int eval_acc_bits = 0;        // 0: each layer's own P
};

/// The flags that decide the quantization policy, and --init-from.
inline void add_policy_flags(CLI::App& app, QuantFlags& q) {
  app.add_option("--quant", q.method, "Weight quantization of hidden layers")
      ->check(CLI::IsMember({"float", "baseline", "a2q", "a2q+", "a2q-split"}))
      ->capture_default_str();
  app.add_option("--weight-bits", q.weight_bits, "M: weight bits of hidden layers")->check(CLI::Range(2, 16));
  app.add_option("--act-bits", q.act_bits, "N: activation bits after ReLU")->check(CLI::Range(1, 16));
  app.add_option("--acc-bits", q.acc_bits, "P: accumulator bits of hidden layers")->check(CLI::Range(2, 64));
  app.add_option(
         "--tile", q.tile,
         "Multi-stage accumulation of hidden layers: products per inner register (needs --inner-bits; "
         "--acc-bits is then the outer register)")
      ->check(CLI::Range(1, 1 << 30));
  app.add_option("--inner-bits", q.inner_bits, "P_i: bits of the inner register of each tile")
      ->check(CLI::Range(2, 64));
  app.add_flag("--per-tensor", q.per_tensor, "One weight scale per layer instead of per output channel");
  app.add_flag("--bias-in-accumulator", q.bias_in_accumulator,
               "Start the accumulator at the bias (the guarantee then includes |bias|)");
  app.add_flag("--constrain-first", q.constrain_first, "Constrain the first layer like a hidden one");
  app.add_flag("--constrain-last", q.constrain_last, "Constrain the last layer like a hidden one");
  app.add_option("--penalty", q.penalty, "λ of the A2Q penalty λ·Σ ReLU(g - s·B)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--a2q-init", q.init, "A2Q/A2Q+ initialisation")
      ->check(CLI::IsMember({"projection", "reference"}))
      ->capture_default_str();
  app.add_option("--init-from", q.init_from,
                 "Initialise from a float checkpoint of the same architecture, or (a2q train) from a float "
                 "model file, e.g. one a2q import wrote");
}

/// The policy flags and the examples' export and integer-evaluation flags.
inline void add_quant_flags(CLI::App& app, QuantFlags& q) {
  add_policy_flags(app, q);
  app.add_option("--export-int", q.export_int, "Write the integer weights as JSON (a2q-int-weights)");
  app.add_option("--eval-accumulator", q.eval_accumulator,
                 "After training, also evaluate with every quantized layer computed in a simulated P-bit "
                 "accumulator that wraps or saturates like hardware")
      ->check(CLI::IsMember({"wrap", "saturate"}));
  app.add_option("--eval-acc-bits", q.eval_acc_bits, "P for --eval-accumulator (default: each layer's own)")
      ->check(CLI::Range(2, 64));
}

inline a2q::models::QuantPolicy make_policy(const QuantFlags& q) {
  a2q::models::QuantPolicy p;
  p.method = a2q::quant::parse_quant_method(q.method);
  p.weight_bits = q.weight_bits;
  p.act_bits = q.act_bits;
  p.acc_bits = q.acc_bits;
  if ((q.tile > 0) != (q.inner_bits > 0))
    throw a2q::config_error("--tile and --inner-bits go together");
  if (q.inner_bits > q.acc_bits)
    throw a2q::config_error("--inner-bits " + std::to_string(q.inner_bits) + " is wider than --acc-bits " +
                            std::to_string(q.acc_bits) + " (the outer register)");
  p.tile = q.tile;
  p.inner_bits = q.inner_bits;
  p.per_channel = !q.per_tensor;
  p.bias_mode =
      q.bias_in_accumulator ? a2q::nn::BiasMode::in_accumulator : a2q::nn::BiasMode::after_accumulation;
  p.constrain_first = q.constrain_first;
  p.constrain_last = q.constrain_last;
  p.penalty_weight = q.penalty;
  p.init = q.init == "reference" ? a2q::quant::A2QInitMode::reference : a2q::quant::A2QInitMode::projection;
  return p;
}

/// Initialises `model` from the float checkpoint at `path` (written by the same example with --quant
/// float --checkpoint), read through `float_model`, a float model of the same architecture: a float
/// model takes the state as it is, a quantized one re-initialises its quantizers from the weights.
inline void initialise_from_float_checkpoint(const std::string& path, a2q::nn::Module& float_model,
                                             a2q::nn::Module& model, a2q::quant::QuantMethod method) {
  a2q::train::load_checkpoint(path, float_model);
  if (method == a2q::quant::QuantMethod::none)
    model.load_state_dict(float_model.state_dict());
  else
    a2q::models::load_float_weights(model, float_model);
}

/// Per-layer facts for the metrics file: K, N, M, P, max L1, required bits, data-type bound, sparsity.
inline void write_layer_metrics(nlohmann::ordered_json& doc, const a2q::nn::Module& model) {
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const a2q::nn::IntegerLayer& layer : a2q::nn::integer_layers(model))
    layers.push_back({{"name", layer.name},
                      {"method", std::string(a2q::quant::to_string(layer.method))},
                      {"fan_in", layer.fan_in},
                      {"weight_bits", layer.weight_bits},
                      {"input_bits", layer.input_bits},
                      {"accumulator_bits", layer.accumulator_bits},
                      {"max_l1", layer.max_l1()},
                      {"required_accumulator_bits", layer.required_bits()},
                      {"datatype_bound_bits", layer.datatype_bits()},
                      {"sparsity", layer.sparsity()}});
  doc["layers"] = std::move(layers);
}

/// Prints one line per quantized layer (what the accumulator guarantee looks like after training).
inline void print_layer_summary(const a2q::nn::Module& model) {
  const auto layers = a2q::nn::integer_layers(model);
  if (layers.empty())
    return;
  fmt::print("{:<8}{:>10}{:>6}{:>4}{:>4}{:>8}{:>10}{:>10}{:>10}{:>10}\n", "layer", "method", "K", "N", "M",
             "P", "max L1", "needs P", "dtype P", "sparsity");
  for (const auto& l : layers)
    fmt::print("{:<8}{:>10}{:>6}{:>4}{:>4}{:>8}{:>10}{:>10}{:>10}{:>9.1f}%\n", l.name,
               a2q::quant::to_string(l.method), l.fan_in, l.input_bits, l.weight_bits, l.accumulator_bits,
               l.max_l1(), l.required_bits(), l.datatype_bits(), 100.0 * l.sparsity());
}

/// Verification of every quantized layer at its P: (a) the static proof, the exact worst case (sign
/// split over the input range, bias included where it starts the accumulator) fits; (b) the adversarial
/// check, each channel's two worst-case inputs run through a simulated P-bit accumulator without a single
/// partial sum leaving its range. Prints one verdict per layer; returns false if any layer fails.
inline bool verify_accumulators(const a2q::nn::Module& model) {
  bool ok = true;
  const auto layers = a2q::nn::integer_layers(model);
  std::size_t width = 6;
  for (const auto& l : layers)
    width = std::max(width, l.name.size());
  for (const auto& l : layers) {
    const int needed = l.required_bits();
    const a2q::engine::AdversarialResult adversarial = a2q::engine::adversarial_check(l, l.accumulator_bits);
    const bool fits = l.fits() && adversarial.overflowing_channels == 0; // tiles included
    ok = ok && fits;
    fmt::print(
        "verify {:<{}} {:>8}: worst case needs {:>2} bits, P = {:>2}; adversarial inputs overflow {:>3} of "
        "{:>3} channels: {}\n",
        l.name, width, a2q::quant::to_string(l.method), needed, l.accumulator_bits,
        adversarial.overflowing_channels, adversarial.channels,
        fits ? "no input can overflow" : "OVERFLOW POSSIBLE");
  }
  return ok;
}

/// Test accuracy with integer P-bit accumulators (see engine/simulate.hpp), and how many outputs of
/// each quantized layer overflow changed.
struct AccumulatorEval {
  double accuracy = 0.0;
  a2q::engine::LayerOverflowStats stats;
};

inline AccumulatorEval evaluate_with_accumulators(a2q::nn::Sequential& model,
                                                  const a2q::data::ImageDataset& test, const QuantFlags& q) {
  const auto policy = q.eval_accumulator == "saturate" ? a2q::engine::OverflowPolicy::saturate
                                                       : a2q::engine::OverflowPolicy::wrap;
  const std::optional<int> bits = q.eval_acc_bits > 0 ? std::optional<int>(q.eval_acc_bits) : std::nullopt;
  a2q::data::DataLoader loader(test, {.batch_size = 500, .shuffle = false});
  AccumulatorEval result;
  std::int64_t correct = 0;
  for (std::int64_t b = 0; b < loader.num_batches(); ++b) {
    const a2q::data::Batch batch = loader.batch(b);
    const auto logits =
        a2q::engine::forward_with_accumulators(model, batch.images, policy, bits, &result.stats);
    correct += a2q::count_correct(logits, batch.labels);
  }
  result.accuracy = static_cast<double>(correct) / static_cast<double>(test.size());
  fmt::print("integer {}-accumulator evaluation ({}): test accuracy {:.2f}%\n",
             bits ? std::to_string(*bits) + "-bit" : std::string("per-layer P"), q.eval_accumulator,
             100.0 * result.accuracy);
  for (const auto& [name, st] : result.stats)
    fmt::print(
        "  {:<8} {:>9} of {:>9} outputs changed by overflow ({:.2f}%)\n", name, st.affected, st.outputs,
        st.outputs > 0 ? 100.0 * static_cast<double>(st.affected) / static_cast<double>(st.outputs) : 0.0);
  return result;
}

inline void write_accumulator_eval(nlohmann::ordered_json& doc, const QuantFlags& q,
                                   const AccumulatorEval& e) {
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const auto& [name, st] : e.stats)
    layers.push_back({{"name", name},
                      {"outputs", st.outputs},
                      {"overflowed_outputs", st.affected},
                      {"overflow_events", st.events}});
  doc["accumulator_eval"] = {{"policy", q.eval_accumulator},
                             {"accumulator_bits", q.eval_acc_bits},
                             {"test_accuracy", e.accuracy},
                             {"layers", std::move(layers)}};
}

} // namespace examples
