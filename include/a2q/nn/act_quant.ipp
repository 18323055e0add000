#pragma once
/// @file
/// Definitions for act_quant.hpp (see a2q/core/config.hpp).

#include "a2q/nn/act_quant.hpp"

#include "a2q/autograd/exp2.hpp"
#include "a2q/core/error.hpp"
#include "a2q/nn/module.hpp"
#include "a2q/quant/fake_quantize.hpp"
#include "a2q/quant/int_format.hpp"
#include "a2q/quant/rounding.hpp"
#include "a2q/quant/scale_init.hpp"

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

namespace a2q::nn {

ActQuant::ActQuant(const ActQuantOptions& options) : options_(options) {
  options_.format.validate();
  if (options_.rounding == quant::RoundingMode::stochastic)
    throw config_error("ActQuant: stochastic rounding is not supported (its random state would not be "
                       "part of the state dict); use a deterministic mode");
  if (!(options_.percentile > 0.0 && options_.percentile <= 100.0))
    throw config_error("ActQuant: percentile must be in (0, 100], got " +
                       std::to_string(options_.percentile));
  calibrated_flag = Tensor<float>(Shape{1});
  observed = Tensor<float>(Shape{1});
  if (options_.fixed_scale) {
    const float s = *options_.fixed_scale;
    if (!(std::isfinite(s) && s > 0.0f))
      throw config_error("ActQuant: fixed_scale must be positive and finite, got " + std::to_string(s));
    fixed_scale_ = Var(Tensor<float>(Shape{1}, s));
    calibrated_flag[0] = 1.0f;
  } else {
    if (options_.calibration_batches < 1)
      throw config_error("ActQuant: calibration_batches must be >= 1 for a learned scale, got " +
                         std::to_string(options_.calibration_batches) + " (or set fixed_scale)");
    log2_scale = Var(Tensor<float>(Shape{1}), true);
    register_parameter("log2_scale", log2_scale);
  }
  register_buffer("calibrated", calibrated_flag);
  register_buffer("observed_batches", observed);
}

Var ActQuant::forward(const Var& x) {
  const quant::FakeQuantOptions fq = fake_quant_options();
  if (fixed())
    return quant::fake_quantize(x, fixed_scale_, fq);
  if (!calibrated()) {
    if (training()) {
      calibrate_on(x.value());
      return quant::fake_quantize(x, Var(Tensor<float>(Shape{1}, scale())), fq);
    }
    require_estimate("forward");
  }
  return quant::fake_quantize(x, a2q::exp2(log2_scale), fq);
}

std::optional<Var> ActQuant::settled_scale() const {
  if (fixed())
    return fixed_scale_;
  if (calibrated())
    return a2q::exp2(log2_scale);
  return std::nullopt;
}

quant::FakeQuantOptions ActQuant::fake_quant_options() const {
  quant::FakeQuantOptions fq;
  fq.format = options_.format;
  fq.rounding = options_.rounding;
  return fq;
}

Tensor<std::int32_t> ActQuant::quantize_to_int(const Tensor<float>& x) const {
  if (!fixed() && !calibrated())
    require_estimate("quantize_to_int");
  return quant::quantize_to_int(x, Tensor<float>(Shape{1}, scale()), fake_quant_options());
}

void ActQuant::calibrate_on(const Tensor<float>& x) {
  quant::PercentileObserver observer(options_.format, options_.percentile);
  // Resume from the state (which a state dict may have replaced): the running mean is scale · qmax.
  const std::int64_t seen = observed_batches();
  if (seen > 0)
    observer.restore(seen, static_cast<double>(scale()) * static_cast<double>(options_.format.qmax()));
  observer.observe(x);
  log2_scale.value()[0] = std::log2(observer.scale());
  observed[0] = static_cast<float>(observer.batches());
  if (observer.batches() >= options_.calibration_batches)
    calibrated_flag[0] = 1.0f;
}

void ActQuant::require_estimate(const char* what) const {
  if (observed_batches() == 0)
    throw config_error(std::string("ActQuant::") + what + " (" + options_.format.to_string() +
                       "): the scale was never calibrated; run at least one forward pass in training mode "
                       "(the first " +
                       std::to_string(options_.calibration_batches) +
                       " calibrate it) or load a calibrated state dict before evaluating");
}

} // namespace a2q::nn
