#pragma once
/// @file
/// Definitions for scale_init.hpp (see a2q/core/config.hpp).

#include "a2q/quant/scale_init.hpp"

#include "a2q/core/error.hpp"
#include "a2q/core/rng.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/quant/int_format.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace a2q::detail {

inline void scale_require_data(const Tensor<float>& x, const char* function) {
  if (x.numel() == 0)
    throw shape_error(std::string(function) + ": the tensor (shape " + x.shape().to_string() +
                      ") is empty; there is no statistic to derive a scale from");
  for (std::int64_t i = 0; i < x.numel(); ++i)
    if (!std::isfinite(x[i]))
      throw numeric_error(std::string(function) + ": element " + std::to_string(i) + " is " +
                          std::to_string(x[i]) + "; scale statistics need finite data");
}

/// t / qmax, but at least min_scale (also for t <= 0).
inline float scale_from_statistic(double statistic, const quant::IntFormat& format) {
  const double s = statistic / static_cast<double>(format.qmax());
  return s > static_cast<double>(quant::min_scale) ? static_cast<float>(s) : quant::min_scale;
}

/// Largest |x| (signed) or largest x (unsigned) of n elements.
inline float scale_range_statistic(const float* x, std::int64_t n, bool magnitude) {
  float m = magnitude ? 0.0f : x[0];
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = magnitude ? std::fabs(x[i]) : x[i];
    m = v > m ? v : m;
  }
  return m;
}

} // namespace a2q::detail

namespace a2q::quant {

float absmax_scale(const Tensor<float>& x, const IntFormat& format) {
  format.validate();
  a2q::detail::scale_require_data(x, "absmax_scale");
  return a2q::detail::scale_from_statistic(
      a2q::detail::scale_range_statistic(x.data(), x.numel(), format.is_signed), format);
}

Tensor<float> per_channel_absmax_scale(const Tensor<float>& w, const IntFormat& format) {
  format.validate();
  if (w.rank() == 0)
    throw shape_error("per_channel_absmax_scale: needs a tensor with a channel axis 0, got a scalar");
  a2q::detail::scale_require_data(w, "per_channel_absmax_scale");
  const std::int64_t channels = w.dim(0);
  const std::int64_t per_channel = w.numel() / channels;
  Tensor<float> scales = Tensor<float>::uninitialized(Shape{channels});
  for (std::int64_t c = 0; c < channels; ++c)
    scales[c] = a2q::detail::scale_from_statistic(
        a2q::detail::scale_range_statistic(w.data() + c * per_channel, per_channel, format.is_signed),
        format);
  return scales;
}

double percentile_statistic(const Tensor<float>& x, double percentile, const IntFormat& format) {
  format.validate();
  if (!(percentile > 0.0 && percentile <= 100.0))
    throw config_error("percentile_statistic: percentile must be in (0, 100], got " +
                       std::to_string(percentile));
  a2q::detail::scale_require_data(x, "percentile_statistic");
  const bool magnitude = format.is_signed;
  const std::int64_t n = x.numel();
  std::vector<float> values;
  if (n <= percentile_max_samples) {
    values.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
      values[static_cast<std::size_t>(i)] = magnitude ? std::fabs(x[i]) : x[i];
  } else {
    values.resize(static_cast<std::size_t>(percentile_max_samples));
    Rng sampler(0x9e3779b97f4a7c15ULL); // fixed: the same tensor always gives the same sample
    for (float& v : values) {
      const float e = x[static_cast<std::int64_t>(sampler.below(static_cast<std::uint64_t>(n)))];
      v = magnitude ? std::fabs(e) : e;
    }
  }
  const auto m = static_cast<std::int64_t>(values.size());
  const double position = percentile / 100.0 * static_cast<double>(m - 1);
  const auto k = std::min(static_cast<std::int64_t>(position), m - 1);
  const double fraction = position - static_cast<double>(k);
  const auto kth = values.begin() + k;
  std::nth_element(values.begin(), kth, values.end());
  const double lower = *kth;
  if (fraction <= 0.0 || k + 1 >= m)
    return lower;
  const double upper = *std::min_element(kth + 1, values.end()); // the (k+1)-th order statistic
  return lower + fraction * (upper - lower);
}

float percentile_scale(const Tensor<float>& x, double percentile, const IntFormat& format) {
  return a2q::detail::scale_from_statistic(percentile_statistic(x, percentile, format), format);
}

PercentileObserver::PercentileObserver(const IntFormat& format, double percentile)
    : format_(format), percentile_(percentile) {
  format_.validate();
  if (!(percentile > 0.0 && percentile <= 100.0))
    throw config_error("PercentileObserver: percentile must be in (0, 100], got " +
                       std::to_string(percentile));
}

void PercentileObserver::observe(const Tensor<float>& x) {
  const double t = percentile_statistic(x, percentile_, format_);
  ++batches_;
  mean_ += (t - mean_) / static_cast<double>(batches_);
}

double PercentileObserver::statistic() const {
  require_data("statistic");
  return mean_;
}

float PercentileObserver::scale() const {
  require_data("scale");
  return a2q::detail::scale_from_statistic(mean_, format_);
}

void PercentileObserver::reset() {
  batches_ = 0;
  mean_ = 0.0;
}

void PercentileObserver::restore(std::int64_t batches, double statistic) {
  if (batches < 0 || !std::isfinite(statistic))
    throw config_error("PercentileObserver::restore: needs batches >= 0 and a finite statistic, got " +
                       std::to_string(batches) + " and " + std::to_string(statistic));
  batches_ = batches;
  mean_ = batches == 0 ? 0.0 : statistic;
}

void PercentileObserver::require_data(const char* what) const {
  if (batches_ == 0)
    throw config_error(std::string("PercentileObserver::") + what + ": no batch has been observed yet");
}

} // namespace a2q::quant
