#pragma once
// ptq::calibrate_activations and ptq::quantize_weights definitions (see quantize_model.hpp).

#include "a2q/autograd/variable.hpp"
#include "a2q/core/error.hpp"
#include "a2q/nn/act_quant.hpp"
#include "a2q/nn/conv2d.hpp"
#include "a2q/nn/linear.hpp"
#include "a2q/nn/quant_conv2d.hpp"
#include "a2q/nn/quant_layer.hpp"
#include "a2q/ptq/layer_statistics.hpp"
#include "a2q/ptq/quantize_model.hpp"
#include "a2q/ptq/scale_search.hpp"
#include "a2q/quant/weight_repair.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <optional>
#include <span>
#include <string>

namespace a2q::detail {

/// The output of children [0, stop) of `net` for `x` (evaluation, no gradient).
inline Tensor<float> forward_prefix(nn::Sequential& net, std::size_t stop, const Tensor<float>& x) {
  Var v(x);
  for (std::size_t i = 0; i < stop; ++i)
    v = net[i](v);
  return v.value();
}

/// Positions of the children of `net` for which `is_layer` holds.
template <class Predicate>
std::vector<std::size_t> layer_positions(const nn::Sequential& net, Predicate is_layer) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < net.size(); ++i)
    if (is_layer(net[i]))
      out.push_back(i);
  return out;
}

/// How a quantized layer reads its input batch (`sample` is one batch of it).
inline ptq::LayerInputGeometry input_geometry(const nn::QuantLayer& layer, const Tensor<float>& sample) {
  ptq::LayerInputGeometry g;
  g.fan_in = layer.weight_quant.fan_in();
  const auto* conv = dynamic_cast<const nn::QuantConv2d*>(&layer);
  if (conv == nullptr)
    return g;
  const Shape& w = conv->weight_quant.shape(); // [C_out, C_in / groups, kh, kw]
  g.conv = true;
  g.groups = conv->options().groups;
  if (sample.rank() != 4)
    throw shape_error("post-training quantization: a convolution got input " + sample.shape().to_string());
  g.map = Conv2dGeometry{.channels = w[1],
                         .height = sample.dim(2),
                         .width = sample.dim(3),
                         .kernel_h = w[2],
                         .kernel_w = w[3],
                         .stride_h = conv->options().stride,
                         .stride_w = conv->options().stride,
                         .pad_h = conv->options().padding,
                         .pad_w = conv->options().padding};
  return g;
}

} // namespace a2q::detail

namespace a2q::ptq {

int calibrate_activations(nn::Module& model, const Tensor<float>& images, std::int64_t batch_size) {
  if (images.rank() < 1 || images.dim(0) < 1)
    throw config_error("calibrate_activations: no calibration images");
  if (batch_size < 1)
    throw config_error("calibrate_activations: batch size must be >= 1, got " + std::to_string(batch_size));
  std::vector<nn::ActQuant*> pending;
  model.eval();
  model.visit_mutable("", [&](const std::string&, nn::Module& m) {
    if (auto* q = dynamic_cast<nn::ActQuant*>(&m); q != nullptr && !q->calibrated()) {
      q->train(true);
      pending.push_back(q);
    }
  });
  if (pending.empty())
    return 0;
  NoGradGuard no_grad;
  const std::int64_t S = images.dim(0);
  for (std::int64_t begin = 0; begin < S; begin += batch_size) {
    if (std::all_of(pending.begin(), pending.end(), [](const nn::ActQuant* q) { return q->calibrated(); }))
      break;
    model.forward(Var(leading_rows(images, begin, std::min(S - begin, batch_size))));
  }
  model.eval();
  // Fewer batches than a quantizer's calibration_batches leave its estimate final: mark it so.
  for (nn::ActQuant* q : pending)
    q->calibrated_flag[0] = 1.0f;
  return static_cast<int>(pending.size());
}

std::vector<LayerResult> quantize_weights(nn::Sequential& quantized, nn::Sequential& float_model,
                                          const Tensor<float>& images, const PtqOptions& options,
                                          const PtqCallback& progress) {
  const PtqMethod method = options.method;
  if (images.rank() < 1 || images.dim(0) < 1)
    throw config_error("post-training quantization: no calibration images");
  if (options.batch_size < 1)
    throw config_error("post-training quantization: batch size must be >= 1");
  const std::vector<std::size_t> q_positions = detail::layer_positions(
      quantized, [](const nn::Module& m) { return dynamic_cast<const nn::QuantLayer*>(&m) != nullptr; });
  const std::vector<std::size_t> f_positions = detail::layer_positions(float_model, [](const nn::Module& m) {
    return dynamic_cast<const nn::Linear*>(&m) != nullptr || dynamic_cast<const nn::Conv2d*>(&m) != nullptr;
  });
  std::size_t nested = 0;
  quantized.visit("", [&](const std::string&, const nn::Module& m) {
    nested += dynamic_cast<const nn::QuantLayer*>(&m) != nullptr;
  });
  if (nested != q_positions.size())
    throw config_error(
        "post-training quantization takes a network whose quantized layers are the children of "
        "one Sequential; " +
        std::to_string(nested - q_positions.size()) + " are nested deeper");
  if (uses_float_inputs(method) && f_positions.size() != q_positions.size())
    throw config_error(
        "post-training quantization: the float network has " + std::to_string(f_positions.size()) +
        " linear/conv layers at its top level, the quantized one " + std::to_string(q_positions.size()));
  NoGradGuard no_grad;
  quantized.eval();
  float_model.eval();
  const std::int64_t S = images.dim(0);
  std::vector<LayerResult> results;
  for (std::size_t l = 0; l < q_positions.size(); ++l) {
    const auto started = std::chrono::steady_clock::now();
    const std::string& name = quantized.named_children()[q_positions[l]].first;
    auto& layer = dynamic_cast<nn::QuantLayer&>(quantized[q_positions[l]]);
    if (layer.config().method != quant::QuantMethod::baseline)
      throw config_error("post-training quantization: layer '" + name + "' uses method " +
                         std::string(quant::to_string(layer.config().method)) +
                         "; it needs baseline layers (fixed integers times a scale)");
    if (progress)
      progress({l, q_positions.size(), name, nullptr});
    LayerResult result;
    result.name = name;
    result.channels = layer.weight_quant.out_channels();
    result.fan_in = layer.weight_quant.fan_in();
    result.accumulator_bits = layer.config().accumulator_bits;

    // Calibration statistics of this layer's inputs (earlier layers already quantized); the methods
    // without error feedback use them only to report the output error.
    const auto* conv = dynamic_cast<const nn::QuantConv2d*>(&layer);
    const std::int64_t groups = conv != nullptr ? conv->options().groups : 1;
    LayerStatistics stats(groups, result.fan_in, uses_float_inputs(method));
    for (std::int64_t begin = 0; begin < S; begin += options.batch_size) {
      const Tensor<float> batch = leading_rows(images, begin, std::min(S - begin, options.batch_size));
      const Tensor<float> xq = detail::forward_prefix(quantized, q_positions[l], batch);
      const LayerInputGeometry geometry = detail::input_geometry(layer, xq);
      if (uses_float_inputs(method)) {
        const Tensor<float> xf = detail::forward_prefix(float_model, f_positions[l], batch);
        stats.add(geometry, xq, &xf);
      } else {
        stats.add(geometry, xq);
      }
    }

    // Each channel's accumulator, and its integers and scale.
    const nn::IntegerLayer view = layer.integer_layer(name);
    result.tile = view.tile;
    result.inner_bits = view.inner_bits;
    const Tensor<float>& w = layer.weight_quant.weight.value();
    const std::int64_t C = result.channels;
    const std::int64_t K = result.fan_in;
    const std::int64_t per_group = C / groups;
    // A per-tensor scale is searched as one for all channels; a bias in the accumulator starts each
    // channel's register at its integer value for the scale tried.
    const bool per_channel = layer.weight_quant.log2_scale.value().numel() == C;
    std::vector<std::int32_t> ints(static_cast<std::size_t>(C * K));
    std::vector<double> chosen(static_cast<std::size_t>(C));
    double error = 0.0;
    double reference = 0.0;
    for (std::int64_t g = 0; g < groups; ++g) {
      GroupProblem problem;
      problem.qmax = layer.weight_quant.weight_format().qmax();
      problem.damping = options.damping;
      problem.H = &stats.H[static_cast<std::size_t>(g)];
      if (!stats.G.empty())
        problem.G = &stats.G[static_cast<std::size_t>(g)];
      RowMatrix<double> weights(per_group, K);
      for (std::int64_t c = 0; c < per_group; ++c) {
        const std::int64_t channel = g * per_group + c;
        for (std::int64_t k = 0; k < K; ++k)
          weights(c, k) = static_cast<double>(w[channel * K + k]);
        AccumulatorSpec spec;
        spec.input = view.input_range();
        spec.bits = view.accumulator_bits;
        spec.start = view.accumulator_start(channel);
        spec.tile = view.tile;
        spec.inner_bits = view.inner_bits;
        spec.validate();
        problem.budget.push_back(spec);
      }
      std::function<std::int64_t(std::int64_t, double)> start;
      if (layer.bias_in_accumulator())
        start = [&layer, first = g * per_group](std::int64_t c, double scale) {
          return layer.integer_bias_at(first + c, scale);
        };
      // One scale shared by several groups cannot be searched group by group: it stays the layer's.
      const int grid = !per_channel && groups > 1 ? 1 : options.scale_grid;
      ScaledWeights q;
      if (grid == 1 && !per_channel) {
        const double s = static_cast<double>(layer.weight_quant.channel_scales()[0]);
        problem.target = weights / s;
        q = {quantize_group(method, problem), std::vector<double>(static_cast<std::size_t>(per_group), s)};
      } else {
        q = quantize_with_scale_search(method, problem, weights, grid, !per_channel, start);
      }
      std::copy(q.q.begin(), q.q.end(), ints.begin() + g * per_group * K);
      std::copy(q.scale.begin(), q.scale.end(), chosen.begin() + g * per_group);
      // ‖X̃(s·q - w)‖² against ‖X̃w‖², per channel.
      const Eigen::MatrixXd& H = *problem.H;
      for (std::int64_t c = 0; c < per_group; ++c) {
        Eigen::VectorXd d(K);
        for (std::int64_t k = 0; k < K; ++k)
          d(k) = q.scale[static_cast<std::size_t>(c)] *
                     static_cast<double>(q.q[static_cast<std::size_t>(c * K + k)]) -
                 weights(c, k);
        const Eigen::VectorXd target = weights.row(c).transpose();
        error += d.dot(H * d);
        reference += target.dot(H * target);
      }
    }

    // The layer's scales and float weights become the chosen scales and scale times the integers; read
    // back to be sure the integers round-trip.
    Tensor<float>& log2_scale = layer.weight_quant.log2_scale.value();
    const std::vector<float> before = layer.weight_quant.channel_scales();
    for (std::int64_t c = 0; c < log2_scale.numel(); ++c) // only what changed: a kept scale stays exact
      if (chosen[static_cast<std::size_t>(c)] != static_cast<double>(before[static_cast<std::size_t>(c)]))
        log2_scale[c] = static_cast<float>(std::log2(chosen[static_cast<std::size_t>(c)]));
    const std::vector<float> scales = layer.weight_quant.channel_scales();
    Tensor<float>& weights = layer.weight_quant.weight.value();
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t k = 0; k < K; ++k)
        weights[c * K + k] = static_cast<float>(ints[static_cast<std::size_t>(c * K + k)]) *
                             scales[static_cast<std::size_t>(c)];
    // A bias stored at the chosen scale can round one unit away from the one the budget assumed: the
    // exact proof decides, and the rare channel over it loses a unit of its largest weight.
    if (fits_by_construction(method)) {
      nn::IntegerLayer stored = layer.integer_layer(name);
      for (std::int64_t c = 0; c < C; ++c) {
        if (stored.required_bits(c) <= stored.accumulator_bits &&
            stored.required_inner_bits(c) <= stored.inner_bits)
          continue;
        const std::span<std::int32_t> row(ints.data() + c * K, static_cast<std::size_t>(K));
        result.repairs += detail::repair_channel(
            row, stored.input_range(), std::abs(stored.accumulator_start(c)), stored.accumulator_bits);
        if (stored.tiled())
          result.repairs += detail::repair_tiles(row, stored.input_range(), stored.tile, stored.inner_bits);
        for (std::int64_t k = 0; k < K; ++k)
          weights[c * K + k] =
              static_cast<float>(row[static_cast<std::size_t>(k)]) * scales[static_cast<std::size_t>(c)];
      }
    }
    const Tensor<std::int32_t> check = layer.weight_quant.integers();
    for (std::int64_t i = 0; i < C * K; ++i)
      if (check[i] != ints[static_cast<std::size_t>(i)])
        throw internal_error("post-training quantization: layer '" + name + "' does not reproduce integer " +
                             std::to_string(ints[static_cast<std::size_t>(i)]) + " at " + std::to_string(i));
    result.sparsity =
        static_cast<double>(std::count(ints.begin(), ints.end(), 0)) / static_cast<double>(ints.size());
    result.output_error = reference > 0.0 ? std::sqrt(std::max(error, 0.0) / reference) : 0.0;
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    results.push_back(result);
    if (progress)
      progress({l, q_positions.size(), name, &results.back()});
  }
  return results;
}

} // namespace a2q::ptq
