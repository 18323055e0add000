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

#include "a2q/core/config.hpp"
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

/// max|x| / qmax for signed formats, max(x) / qmax for unsigned ones; at least min_scale.
/// @throws shape_error for an empty tensor; numeric_error for NaN or infinite elements;
///         config_error for an invalid format
A2Q_DECL float absmax_scale(const Tensor<float>& x, const IntFormat& format);

/// One absmax scale per index of axis 0 (e.g. per output channel of a [C_out, ...] weight), shape [C].
/// Channels that are all zero get min_scale.
/// @throws shape_error for a rank-0 or empty tensor; numeric_error for NaN or infinite elements
A2Q_DECL Tensor<float> per_channel_absmax_scale(const Tensor<float>& w, const IntFormat& format);

/// The `percentile`-th percentile of |x| (signed formats) or of x (unsigned formats), with linear
/// interpolation between order statistics (NumPy's default). Tensors of up to percentile_max_samples
/// elements are used whole; larger ones through a sample of percentile_max_samples elements drawn with
/// a fixed seed, so the result is deterministic.
/// @param percentile in (0, 100]; 100 gives the maximum
/// @throws config_error for a percentile outside (0, 100]; shape_error for an empty tensor;
///         numeric_error for NaN or infinite elements
A2Q_DECL double percentile_statistic(const Tensor<float>& x, double percentile, const IntFormat& format);

/// percentile_statistic(x, percentile, format) / qmax, at least min_scale.
A2Q_DECL float percentile_scale(const Tensor<float>& x, double percentile, const IntFormat& format);

/// Averages the per-batch percentile statistic over the batches it observes (a running mean, so every
/// batch weighs the same), and turns it into a scale. Used to calibrate activation quantizers on the
/// first training batches.
class PercentileObserver {
public:
  /// @param format the grid the scale is for (validated)
  /// @param percentile in (0, 100], e.g. 99.99
  /// @throws config_error for an invalid format or percentile
  A2Q_DECL explicit PercentileObserver(const IntFormat& format, double percentile = 99.99);

  /// Adds one batch. @throws as percentile_statistic
  A2Q_DECL void observe(const Tensor<float>& x);

  /// Number of batches observed.
  std::int64_t batches() const { return batches_; }
  bool has_data() const { return batches_ > 0; }

  /// Mean of the per-batch statistics. @throws config_error before the first batch
  A2Q_DECL double statistic() const;

  /// statistic() / qmax, at least min_scale. @throws config_error before the first batch
  A2Q_DECL float scale() const;

  /// Forgets every batch.
  A2Q_DECL void reset();

  /// Resumes from a saved state: `batches` batches whose mean statistic was `statistic`.
  /// @throws config_error for batches < 0 or a non-finite statistic
  A2Q_DECL void restore(std::int64_t batches, double statistic);

  const IntFormat& format() const { return format_; }
  double percentile() const { return percentile_; }

private:
  A2Q_DECL void require_data(const char* what) const;

  IntFormat format_;
  double percentile_;
  std::int64_t batches_ = 0;
  double mean_ = 0.0;
};

} // namespace a2q::quant

#if A2Q_HEADER_ONLY
#include "a2q/quant/scale_init.ipp"
#endif
