#pragma once
/// @file
/// Definitions for quant_weight.hpp (see a2q/core/config.hpp).

#include "a2q/nn/quant_weight.hpp"

#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/exp2.hpp"
#include "a2q/nn/module.hpp"
#include "a2q/nn/quant_config.hpp"
#include "a2q/quant/a2q_penalty.hpp"
#include "a2q/quant/a2q_weight.hpp"
#include "a2q/quant/fake_quantize.hpp"
#include "a2q/quant/int_format.hpp"

#include <cmath>
#include <span>
#include <vector>

namespace a2q::nn {

QuantWeight::QuantWeight(const Tensor<float>& initial, const LayerQuantConfig& config,
                         const quant::IntFormat& input)
    : config_(config), input_(input) {
  config_.validate();
  input_.validate();
  if (initial.rank() < 2)
    throw shape_error("QuantWeight needs weights of rank >= 2, got " + initial.shape().to_string());
  if (quant::is_accumulator_aware(config_.method)) {
    const quant::A2QWeightSpec spec = a2q_spec();
    const double budget =
        quant::l1_budget(config_.method, config_.accumulator_bits, input_.bits, input_.is_signed);
    if (budget < 1.0)
      throw config_error(
          "a " + std::to_string(config_.accumulator_bits) + "-bit accumulator leaves an L1 budget of " +
          std::to_string(budget) + " for " + std::to_string(input_.bits) +
          "-bit inputs: every weight would be zero; use a wider accumulator or fewer input bits");
    (void)spec;
    v = Var(Tensor<float>(initial.shape()), true);
    log2_g = Var(Tensor<float>(Shape{initial.dim(0)}), true);
    log2_scale = Var(Tensor<float>(Shape{config_.per_channel_scale ? initial.dim(0) : 1}), true);
    register_parameter("v", v);
    register_parameter("log2_g", log2_g);
    register_parameter("log2_scale", log2_scale);
  } else {
    weight = Var(Tensor<float>(initial.shape()), true);
    register_parameter("weight", weight);
    if (config_.method == quant::QuantMethod::baseline) {
      log2_scale = Var(Tensor<float>(Shape{config_.per_channel_scale ? initial.dim(0) : 1}), true);
      register_parameter("log2_scale", log2_scale);
    }
  }
  load_float(initial);
}

void QuantWeight::load_float(const Tensor<float>& w) {
  if (w.shape() != shape())
    throw shape_error("QuantWeight: float weights " + w.shape().to_string() + " do not match " +
                      shape().to_string());
  if (quant::is_accumulator_aware(config_.method)) {
    quant::A2QParameters p =
        quant::a2q_parameters_from_float(w, a2q_spec(), config_.per_channel_scale, config_.init);
    v.value() = std::move(p.v);
    log2_g.value() = std::move(p.log2_g);
    log2_scale.value() = std::move(p.log2_s);
    return;
  }
  weight.value() = w;
  if (config_.method == quant::QuantMethod::baseline) {
    const auto C = static_cast<std::size_t>(w.dim(0));
    const auto K = static_cast<std::size_t>(w.numel() / w.dim(0));
    const double qmax = static_cast<double>(weight_format().qmax());
    double tensor_max = 0.0;
    std::vector<double> absmax(C, 0.0);
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t i = 0; i < K; ++i)
        absmax[c] =
            std::max(absmax[c], std::abs(static_cast<double>(w[static_cast<std::int64_t>(c * K + i)])));
    for (double m : absmax)
      tensor_max = std::max(tensor_max, m);
    for (std::int64_t c = 0; c < log2_scale.value().numel(); ++c) {
      const double m = config_.per_channel_scale ? absmax[static_cast<std::size_t>(c)] : tensor_max;
      log2_scale.value()[c] = static_cast<float>(std::log2(std::max(m, 1e-8) / qmax));
    }
  }
}

Var QuantWeight::effective(std::span<const std::int64_t> reserved) const {
  switch (config_.method) {
  case quant::QuantMethod::none:
    return weight;
  case quant::QuantMethod::baseline:
    return quant::fake_quantize(weight, a2q::exp2(log2_scale), baseline_options());
  case quant::QuantMethod::a2q:
  case quant::QuantMethod::a2q_plus:
  case quant::QuantMethod::a2q_split:
    break;
  }
  return quant::a2q_weight(v, log2_g, log2_scale, a2q_spec(), reserved);
}

Tensor<std::int32_t> QuantWeight::integers(std::span<const std::int64_t> reserved) const {
  switch (config_.method) {
  case quant::QuantMethod::none:
    throw config_error("a float layer has no integer weights");
  case quant::QuantMethod::baseline:
    return quant::quantize_to_int(weight.value(), scale_tensor(), baseline_options());
  case quant::QuantMethod::a2q:
  case quant::QuantMethod::a2q_plus:
  case quant::QuantMethod::a2q_split:
    break;
  }
  std::vector<float> g(static_cast<std::size_t>(out_channels()));
  for (std::size_t c = 0; c < g.size(); ++c)
    g[c] = std::exp2(log2_g.value()[static_cast<std::int64_t>(c)]);
  const Tensor<float> s = scale_tensor();
  return quant::a2q_integer_weights(v.value(), g, s.span(), a2q_spec(), reserved);
}

std::vector<float> QuantWeight::channel_scales() const {
  std::vector<float> out(static_cast<std::size_t>(out_channels()), 1.0f);
  if (!log2_scale.defined())
    return out;
  for (std::size_t c = 0; c < out.size(); ++c)
    out[c] =
        std::exp2(log2_scale.value()[log2_scale.value().numel() == 1 ? 0 : static_cast<std::int64_t>(c)]);
  return out;
}

Var QuantWeight::penalty(std::span<const std::int64_t> reserved) const {
  if (!quant::is_accumulator_aware(config_.method) || config_.penalty_weight == 0.0)
    return Var();
  std::vector<double> budget(static_cast<std::size_t>(out_channels()));
  const auto K = static_cast<std::size_t>(v.value().numel() / out_channels());
  for (std::size_t c = 0; c < budget.size(); ++c) {
    budget[c] = quant::channel_budget(config_.method, config_.accumulator_bits, input_.bits, input_.is_signed,
                                      std::span<const float>(v.value().data() + c * K, K),
                                      reserved.empty() ? 0 : reserved[c]);
  }
  return a2q::scale(quant::a2q_penalty(log2_g, log2_scale, budget),
                    static_cast<float>(config_.penalty_weight));
}

quant::A2QWeightSpec QuantWeight::a2q_spec() const {
  return {.method = config_.method,
          .weight_bits = config_.weight_bits,
          .input_bits = input_.bits,
          .input_signed = input_.is_signed,
          .accumulator_bits = config_.accumulator_bits,
          .tile = config_.tile,
          .inner_bits = config_.inner_bits,
          .rounding = config_.weight_rounding()};
}

quant::FakeQuantOptions QuantWeight::baseline_options() const {
  return {.format = weight_format(),
          .rounding = config_.weight_rounding(),
          .channel_axis = config_.per_channel_scale ? 0 : -1};
}

Tensor<float> QuantWeight::scale_tensor() const {
  Tensor<float> s(log2_scale.value().shape());
  for (std::int64_t i = 0; i < s.numel(); ++i)
    s[i] = std::exp2(log2_scale.value()[i]);
  return s;
}

} // namespace a2q::nn
