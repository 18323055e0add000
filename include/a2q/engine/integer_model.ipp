#pragma once
/// @file
/// Definitions for integer_model.hpp (see a2q/core/config.hpp).

#include "a2q/engine/integer_model.hpp"

#include "a2q/core/pixel_shuffle.hpp"

#include "a2q/engine/dense_kernel.hpp"
#include "a2q/engine/grouped_kernel.hpp"
#include "a2q/engine/integer_ops.hpp"
#include "a2q/engine/sparse_kernel.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace a2q::engine {

double sparse_threshold(const PackedSparseWeights& w) {
  return w.int16_lanes() ? sparse_threshold_int16_lanes : sparse_threshold_int32_lanes;
}

Tensor<float> IntegerModel::forward(const Tensor<float>& x, const ExecutionOptions& options) const {
  std::vector<IntegerValue> values(static_cast<std::size_t>(slots_));
  values[0].kind = IntegerValue::Kind::real;
  values[0].real = x;
  // The last step that reads each slot: a value is released (or handed on without a copy) there.
  std::vector<std::size_t> last_reader(values.size(), 0);
  for (std::size_t i = 0; i < steps_.size(); ++i)
    for (const int slot : steps_[i].inputs)
      last_reader.at(static_cast<std::size_t>(slot)) = i;
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    const IntegerStep& step = steps_[i];
    const LastUse last_use{last_reader, i, output_};
    IntegerValue result = run(step, values, last_use, options);
    for (const int slot : step.inputs)
      if (last_use(slot))
        values[static_cast<std::size_t>(slot)] = IntegerValue{};
    values[static_cast<std::size_t>(step.output)] = std::move(result);
  }
  IntegerValue& out = values[static_cast<std::size_t>(output_)];
  if (out.kind != IntegerValue::Kind::real)
    throw internal_error("IntegerModel: the program does not end in a float value");
  return std::move(out.real);
}

std::vector<const nn::IntegerLayer*> IntegerModel::layers() const {
  std::vector<const nn::IntegerLayer*> out;
  for (const IntegerStep& step : steps_)
    if (const auto* op = std::get_if<LayerOp>(&step.op))
      out.push_back(&op->layer);
  return out;
}

const IntegerValue& IntegerModel::input(const IntegerStep& step, const std::vector<IntegerValue>& values,
                                        std::size_t i, IntegerValue::Kind kind) {
  const IntegerValue& v = values[static_cast<std::size_t>(step.inputs.at(i))];
  if (v.kind != kind)
    throw internal_error("IntegerModel: step '" + step.name + "' got a value of the wrong kind");
  return v;
}

IntegerValue IntegerModel::quantized(Tensor<std::int32_t> q) {
  IntegerValue v;
  v.kind = IntegerValue::Kind::quantized;
  v.q = std::move(q);
  return v;
}

IntegerValue IntegerModel::accumulator(Tensor<std::int64_t> acc) {
  IntegerValue v;
  v.kind = IntegerValue::Kind::accumulator;
  v.acc = std::move(acc);
  return v;
}

Tensor<std::int64_t> IntegerModel::widen(const Tensor<std::int32_t>& q) {
  Tensor<std::int64_t> out = Tensor<std::int64_t>::uninitialized(q.shape());
  for (std::int64_t i = 0; i < q.numel(); ++i)
    out[i] = q[i];
  return out;
}

const Tensor<std::int64_t>& IntegerModel::as_int64(const IntegerValue& v, Tensor<std::int64_t>& storage) {
  if (v.kind != IntegerValue::Kind::quantized)
    return v.acc;
  storage = widen(v.q);
  return storage;
}

Tensor<std::int64_t> IntegerModel::run_layer(const LayerOp& op, const Tensor<std::int32_t>& x,
                                             const ExecutionOptions& options) {
  const nn::IntegerLayer& layer = op.layer;
  const int P = options.accumulator_bits.value_or(layer.accumulator_bits);
  const AccumulatorLayout layout{.bits = P, .tile = layer.tile, .inner_bits = layer.inner_bits};
  std::vector<std::int64_t> start;
  if (layer.bias_in_accumulator && layer.bias)
    start = *layer.bias;
  OverflowStats* stats = options.stats != nullptr ? &(*options.stats)[layer.name] : nullptr;
  if (options.kernel != KernelChoice::reference && op.grouped && proven_safe(op, P)) {
    // Grouped convolutions have one fast kernel, whatever `dense` or `sparse` asks for.
    Tensor<std::int64_t> acc = conv2d_grouped(x, *op.grouped, start, op.geometry);
    if (stats != nullptr)
      record_exact(*stats, acc, layer.out_channels);
    return acc;
  }
  if (options.kernel != KernelChoice::reference && op.dense && proven_safe(op, P)) {
    // No input can overflow: every policy gives the exact sum, whatever the summation order.
    const bool sparse =
        options.kernel == KernelChoice::sparse ||
        (options.kernel == KernelChoice::automatic && op.sparse->sparsity() >= sparse_threshold(*op.sparse));
    Tensor<std::int64_t> acc;
    if (layer.kind == "conv2d")
      acc = sparse ? conv2d_sparse(x, *op.sparse, start, op.geometry, op.kernel_h, op.kernel_w)
                   : conv2d_dense(x, *op.dense, start, op.geometry, op.kernel_h, op.kernel_w);
    else
      acc = sparse ? linear_sparse(x, *op.sparse, start) : linear_dense(x, *op.dense, start);
    if (stats != nullptr)
      record_exact(*stats, acc, layer.out_channels);
    return acc;
  }
  if (layer.kind == "conv2d") {
    const Tensor<std::int32_t> w = layer.weights.reshaped(
        Shape{layer.out_channels, layer.fan_in / (op.kernel_h * op.kernel_w), op.kernel_h, op.kernel_w});
    return conv2d_reference(x, w, start, op.geometry, layout, options.policy, stats, layer.name);
  }
  return linear_reference(x, layer.weights, start, layout, options.policy, stats, layer.name);
}

void IntegerModel::record_exact(OverflowStats& stats, const Tensor<std::int64_t>& acc,
                                std::int64_t channels) {
  stats.prepare(channels);
  const std::int64_t per_channel = acc.numel() / std::max<std::int64_t>(channels, 1);
  for (std::int64_t c = 0; c < channels; ++c)
    for (std::int64_t i = 0; i < per_channel; ++i)
      stats.record(c, 0, false);
}

IntegerValue IntegerModel::take(const IntegerStep& step, std::vector<IntegerValue>& values, std::size_t i,
                                IntegerValue::Kind kind, const LastUse& last_use) {
  const int slot = step.inputs.at(i);
  input(step, values, i, kind); // checks the kind
  IntegerValue& v = values[static_cast<std::size_t>(slot)];
  if (last_use(slot))
    return std::move(v);
  return v;
}

IntegerValue IntegerModel::run(const IntegerStep& step, std::vector<IntegerValue>& values,
                               const LastUse& last_use, const ExecutionOptions& options) {
  using Kind = IntegerValue::Kind;
  if (const auto* op = std::get_if<QuantizeInput>(&step.op)) {
    const Tensor<float>& x = input(step, values, 0, Kind::real).real;
    return quantized(quant::quantize_to_int(x, Tensor<float>(Shape{1}, op->scale), op->options));
  }
  if (const auto* op = std::get_if<LayerOp>(&step.op))
    return accumulator(run_layer(*op, input(step, values, 0, Kind::quantized).q, options));
  if (const auto* op = std::get_if<RequantizeOp>(&step.op)) {
    Tensor<std::int64_t> widened[2];
    const Tensor<std::int64_t>& first =
        as_int64(values[static_cast<std::size_t>(step.inputs.at(0))], widened[0]);
    if (step.inputs.size() == 1)
      return quantized(requantize_integer(*op, first));
    const Tensor<std::int64_t>& second =
        as_int64(values[static_cast<std::size_t>(step.inputs.at(1))], widened[1]);
    return quantized(requantize_integer(*op, first, &second));
  }
  if (std::holds_alternative<ReluOp>(step.op)) {
    IntegerValue v = take(step, values, 0, Kind::quantized, last_use);
    for (std::int32_t& q : v.q)
      q = std::max(q, 0);
    return v;
  }
  if (const auto* op = std::get_if<MaxPoolOp>(&step.op))
    return quantized(max_pool_integer(input(step, values, 0, Kind::quantized).q, *op));
  if (const auto* op = std::get_if<SumPoolOp>(&step.op))
    return accumulator(sum_pool_integer(input(step, values, 0, Kind::quantized).q, *op));
  if (std::holds_alternative<FlattenOp>(step.op)) {
    IntegerValue v =
        take(step, values, 0, values[static_cast<std::size_t>(step.inputs.at(0))].kind, last_use);
    const Shape& s = v.shape();
    const Shape flat{s[0], s.numel() / std::max<std::int64_t>(s[0], 1)};
    if (v.kind == Kind::real)
      v.real.reshape(flat);
    else if (v.kind == Kind::quantized)
      v.q.reshape(flat);
    else
      v.acc.reshape(flat);
    return v;
  }
  if (const auto* op = std::get_if<PixelShuffleOp>(&step.op)) {
    IntegerValue v =
        take(step, values, 0, values[static_cast<std::size_t>(step.inputs.at(0))].kind, last_use);
    if (v.kind == Kind::real)
      v.real = pixel_shuffle(v.real, op->factor);
    else if (v.kind == Kind::quantized)
      v.q = pixel_shuffle(v.q, op->factor);
    else
      throw internal_error("IntegerModel: step '" + step.name + "' shuffles an accumulator value");
    return v;
  }
  if (const auto* op = std::get_if<DequantizeOp>(&step.op)) {
    Tensor<std::int64_t> widened;
    IntegerValue v;
    v.kind = Kind::real;
    v.real = dequantize_integer(*op, as_int64(values[static_cast<std::size_t>(step.inputs.at(0))], widened));
    return v;
  }
  throw internal_error("IntegerModel: step '" + step.name + "' has an unknown op");
}

} // namespace a2q::engine
