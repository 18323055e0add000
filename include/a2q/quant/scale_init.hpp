#pragma once
/// @file
/// Initial quantizer scales from data statistics: absolute maximum (per tensor or per output channel),
/// a high percentile, and an observer that averages per-batch percentiles over several batches.
///
/// A statistic t (the largest magnitude to represent) becomes the scale t / qmax, so that t maps onto the
/// top of the grid. Signed formats use |x|; unsigned formats use x itself (negative values clip to 0
/// anyway, so they should not stretch the grid). A statistic of 0 (an all-zero tensor or channel, or an
/// unsigned format over non-positive data) gives min_scale = 1e-8 instead of 0, because scales must be
/// positive; with such a scale every value quantizes to 0 or saturates.

#include "a2q/core/error.hpp"
#include "a2q/core/rng.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/quant/int_format.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace a2q::quant {

/// The smallest scale the initialisers return (for all-zero data).
inline constexpr float min_scale = 1e-8f;

/// Tensors with more elements than this are sampled for percentiles (deterministically, see
/// percentile_statistic).
inline constexpr std::int64_t percentile_max_samples = std::int64_t{1} << 20;

} // namespace a2q::quant

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

/// max|x| / qmax for signed formats, max(x) / qmax for unsigned ones; at least min_scale.
/// @throws shape_error for an empty tensor; numeric_error for NaN or infinite elements;
///         config_error for an invalid format
inline float absmax_scale(const Tensor<float>& x, const IntFormat& format) {
  format.validate();
  a2q::detail::scale_require_data(x, "absmax_scale");
  return a2q::detail::scale_from_statistic(
      a2q::detail::scale_range_statistic(x.data(), x.numel(), format.is_signed), format);
}

/// One absmax scale per index of axis 0 (e.g. per output channel of a [C_out, ...] weight), shape [C].
/// Channels that are all zero get min_scale.
/// @throws shape_error for a rank-0 or empty tensor; numeric_error for NaN or infinite elements
inline Tensor<float> per_channel_absmax_scale(const Tensor<float>& w, const IntFormat& format) {
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

/// The `percentile`-th percentile of |x| (signed formats) or of x (unsigned formats), with linear
/// interpolation between order statistics (NumPy's default). Tensors of up to percentile_max_samples
/// elements are used whole; larger ones through a sample of percentile_max_samples elements drawn with
/// a fixed seed, so the result is deterministic.
/// @param percentile in (0, 100]; 100 gives the maximum
/// @throws config_error for a percentile outside (0, 100]; shape_error for an empty tensor;
///         numeric_error for NaN or infinite elements
inline double percentile_statistic(const Tensor<float>& x, double percentile, const IntFormat& format) {
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

/// percentile_statistic(x, percentile, format) / qmax, at least min_scale.
inline float percentile_scale(const Tensor<float>& x, double percentile, const IntFormat& format) {
  return a2q::detail::scale_from_statistic(percentile_statistic(x, percentile, format), format);
}

/// Averages the per-batch percentile statistic over the batches it observes (a running mean, so every
/// batch weighs the same), and turns it into a scale. Used to calibrate activation quantizers on the
/// first training batches.
class PercentileObserver {
public:
  /// @param format the grid the scale is for (validated)
  /// @param percentile in (0, 100], e.g. 99.99
  /// @throws config_error for an invalid format or percentile
  explicit PercentileObserver(const IntFormat& format, double percentile = 99.99)
      : format_(format), percentile_(percentile) {
    format_.validate();
    if (!(percentile > 0.0 && percentile <= 100.0))
      throw config_error("PercentileObserver: percentile must be in (0, 100], got " +
                         std::to_string(percentile));
  }

  /// Adds one batch. @throws as percentile_statistic
  void observe(const Tensor<float>& x) {
    const double t = percentile_statistic(x, percentile_, format_);
    ++batches_;
    mean_ += (t - mean_) / static_cast<double>(batches_);
  }

  /// Number of batches observed.
  std::int64_t batches() const { return batches_; }
  bool has_data() const { return batches_ > 0; }

  /// Mean of the per-batch statistics. @throws config_error before the first batch
  double statistic() const {
    require_data("statistic");
    return mean_;
  }

  /// statistic() / qmax, at least min_scale. @throws config_error before the first batch
  float scale() const {
    require_data("scale");
    return a2q::detail::scale_from_statistic(mean_, format_);
  }

  /// Forgets every batch.
  void reset() {
    batches_ = 0;
    mean_ = 0.0;
  }

  /// Resumes from a saved state: `batches` batches whose mean statistic was `statistic`.
  /// @throws config_error for batches < 0 or a non-finite statistic
  void restore(std::int64_t batches, double statistic) {
    if (batches < 0 || !std::isfinite(statistic))
      throw config_error("PercentileObserver::restore: needs batches >= 0 and a finite statistic, got " +
                         std::to_string(batches) + " and " + std::to_string(statistic));
    batches_ = batches;
    mean_ = batches == 0 ? 0.0 : statistic;
  }

  const IntFormat& format() const { return format_; }
  double percentile() const { return percentile_; }

private:
  void require_data(const char* what) const {
    if (batches_ == 0)
      throw config_error(std::string("PercentileObserver::") + what + ": no batch has been observed yet");
  }

  IntFormat format_;
  double percentile_;
  std::int64_t batches_ = 0;
  double mean_ = 0.0;
};

} // namespace a2q::quant
