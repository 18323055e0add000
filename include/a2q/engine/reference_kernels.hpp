#pragma once
/// @file
/// Reference integer kernels: obviously-correct loops that every fast path must match bit-exactly.
/// Operands are int32, every product is widened to int64 before it is formed (|w·x| <= 2^62, exact),
/// and every sum goes through an engine::Accumulator of an explicit width P and overflow policy, one
/// accumulator per output element, adding products in the weights' index order (for conv: the
/// (C_in/groups, kh, kw) order that nn::IntegerLayer flattens to). Also the requantization helpers:
/// a TFLite/gemmlowp-style Q31 fixed-point multiplier with an exactly specified rounding.

#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/engine/accumulator.hpp"
#include "a2q/quant/bounds.hpp"
#include "a2q/quant/int_format.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace a2q::engine {

/// Overflow counters gathered by the reference kernels (they add to existing counts, so one object
/// can cover a whole data set).
struct OverflowStats {
  std::vector<std::int64_t> events_per_channel;   ///< overflowing partial sums, per output channel
  std::vector<std::int64_t> affected_per_channel; ///< outputs whose final value was changed, per channel
  std::int64_t events = 0;                        ///< overflowing partial sums in total
  std::int64_t affected = 0;                      ///< outputs whose final value was changed, in total
  std::int64_t outputs = 0;                       ///< dot products computed

  /// Sizes the per-channel vectors for `channels` channels if empty; shape_error if sized differently.
  void prepare(std::int64_t channels) {
    const auto c = static_cast<std::size_t>(channels);
    if (events_per_channel.empty() && affected_per_channel.empty()) {
      events_per_channel.assign(c, 0);
      affected_per_channel.assign(c, 0);
    }
    if (events_per_channel.size() != c || affected_per_channel.size() != c)
      throw shape_error("OverflowStats: counters sized for " + std::to_string(events_per_channel.size()) +
                        " channels, the kernel has " + std::to_string(channels));
  }

  /// Records one finished dot product of channel c.
  void record(std::int64_t c, std::int64_t overflow_events, bool final_affected) {
    const auto i = static_cast<std::size_t>(c);
    events_per_channel[i] += overflow_events;
    events += overflow_events;
    if (final_affected) {
      ++affected_per_channel[i];
      ++affected;
    }
    ++outputs;
  }
};

/// Overflow counters per quantized layer, by name.
using LayerOverflowStats = std::map<std::string, OverflowStats>;

/// Σ w_i x_i added into acc, which the caller has reset (e.g. to the bias); products are widened to
/// int64 and added in index order. Sets acc's context to `context` first.
/// @returns acc.value() after the last product
/// @throws shape_error if the spans differ in length; accumulator_overflow under OverflowPolicy::check
A2Q_DECL std::int64_t dot_product(std::span<const std::int32_t> w, std::span<const std::int32_t> x,
                                  Accumulator& acc, const OverflowContext& context = {});

/// The same through a multi-stage accumulator, which the caller has reset; flushes the last tile.
/// @returns acc.finish()
A2Q_DECL std::int64_t dot_product(std::span<const std::int32_t> w, std::span<const std::int32_t> x,
                                  TiledAccumulator& acc, const OverflowContext& context = {});

namespace detail {

inline void check_bias_start(const char* function, std::span<const std::int64_t> bias_start,
                             std::int64_t channels) {
  if (!bias_start.empty() && static_cast<std::int64_t>(bias_start.size()) != channels)
    throw shape_error(std::string(function) + ": " + std::to_string(bias_start.size()) + " bias values for " +
                      std::to_string(channels) + " output channels");
}

inline std::int64_t bias_at(std::span<const std::int64_t> bias_start, std::int64_t c) {
  return bias_start.empty() ? 0 : bias_start[static_cast<std::size_t>(c)];
}

} // namespace detail

/// The register(s) each dot product runs through: one `bits`-bit accumulator, or (tile > 0, spec §6) an
/// inner `inner_bits`-bit register per tile of `tile` consecutive products, whose results are summed in
/// the `bits`-bit outer register (engine::TiledAccumulator).
struct AccumulatorLayout {
  int bits = 32;
  std::int64_t tile = 0;
  int inner_bits = 0;
};

/// Integer fully connected layer: out[n, c] = bias_start[c] + Σ_k w[c, k] x[n, k], accumulated in a
/// P-bit accumulator that starts at bias_start[c] (0 if bias_start is empty).
/// @param x inputs [N, K]
/// @param w integer weights [C, K]
/// @param bias_start accumulator start per output channel (accumulator units), or empty
/// @param P accumulator width in [2, 64]
/// @param policy overflow policy
/// @param stats optional overflow counters (added to)
/// @param layer layer name for overflow messages
/// @returns [N, C] accumulator values
A2Q_DECL Tensor<std::int64_t> linear_reference(const Tensor<std::int32_t>& x, const Tensor<std::int32_t>& w,
                                               std::span<const std::int64_t> bias_start, int P,
                                               OverflowPolicy policy, OverflowStats* stats = nullptr,
                                               std::string_view layer = {});

/// The same through the registers of `layout` (multi-stage accumulation when it has tiles).
A2Q_DECL Tensor<std::int64_t> linear_reference(const Tensor<std::int32_t>& x, const Tensor<std::int32_t>& w,
                                               std::span<const std::int64_t> bias_start,
                                               const AccumulatorLayout& layout, OverflowPolicy policy,
                                               OverflowStats* stats = nullptr, std::string_view layer = {});

/// Geometry of a 2-D convolution.
struct Conv2dGeometry {
  std::int64_t stride_h = 1;
  std::int64_t stride_w = 1;
  std::int64_t pad_h = 0; ///< zero padding (integer 0) on the top and bottom
  std::int64_t pad_w = 0; ///< zero padding on the left and right
  std::int64_t groups = 1;
};

/// Integer 2-D convolution (cross-correlation, like every deep-learning framework). Each output
/// element is one dot product of length K = C_in/groups · kh · kw in (ci, ky, kx) order, padding
/// positions contributing a product of 0 (they still count as partial sums), in a P-bit accumulator
/// starting at bias_start[c_out].
/// @param x inputs [N, C_in, H, W]
/// @param w integer weights [C_out, C_in/groups, kh, kw]
/// @param bias_start accumulator start per output channel, or empty
/// @param geometry stride, padding, groups (strides and groups >= 1, padding >= 0)
/// @param P accumulator width in [2, 64]
/// @param policy overflow policy
/// @param stats optional overflow counters (added to)
/// @param layer layer name for overflow messages
/// @returns [N, C_out, H_out, W_out], H_out = (H + 2 pad_h - kh) / stride_h + 1 (same for W)
A2Q_DECL Tensor<std::int64_t> conv2d_reference(const Tensor<std::int32_t>& x, const Tensor<std::int32_t>& w,
                                               std::span<const std::int64_t> bias_start,
                                               const Conv2dGeometry& geometry, int P, OverflowPolicy policy,
                                               OverflowStats* stats = nullptr, std::string_view layer = {});

/// The same through the registers of `layout` (tiles run over the (ci, ky, kx) order, padding included).
A2Q_DECL Tensor<std::int64_t> conv2d_reference(const Tensor<std::int32_t>& x, const Tensor<std::int32_t>& w,
                                               std::span<const std::int64_t> bias_start,
                                               const Conv2dGeometry& geometry,
                                               const AccumulatorLayout& layout, OverflowPolicy policy,
                                               OverflowStats* stats = nullptr, std::string_view layer = {});

/// A positive real multiplier as a Q31 fixed-point value and a power-of-two exponent:
/// real ≈ multiplier · 2^(shift - 31), multiplier in [2^30, 2^31) (a Q31 number in [0.5, 1)),
/// shift in [-63, 32] (positive = left shift, the TFLite convention).
struct FixedPointMultiplier {
  std::int32_t multiplier;
  int shift;

  friend constexpr bool operator==(const FixedPointMultiplier&, const FixedPointMultiplier&) = default;
};

/// Lowest / highest shift a FixedPointMultiplier may have.
inline constexpr int min_multiplier_shift = -63;

inline constexpr int max_multiplier_shift = 32;

/// Q31 representation of real (TFLite's QuantizeMultiplier): real = q · 2^e with q in [0.5, 1)
/// (std::frexp), multiplier = round-half-away(q · 2^31), shift = e; a multiplier that rounds up to 2^31
/// becomes 2^30 with shift e + 1. The relative error |multiplier · 2^(shift-31) - real| / real is at
/// most 2^-31. Exact for powers of two (multiplier 2^30).
/// @param real in [2^-64, 2^31) (config_error otherwise, NaN and infinities included)
inline FixedPointMultiplier quantize_multiplier(double real) {
  if (!(real >= std::ldexp(1.0, -64) && real < std::ldexp(1.0, 31)))
    throw config_error("quantize_multiplier: real multiplier " + std::to_string(real) +
                       " is outside [2^-64, 2^31)");
  int exponent = 0;
  const double q = std::frexp(real, &exponent);         // real = q · 2^exponent, q in [0.5, 1)
  std::int64_t fixed = std::llround(std::ldexp(q, 31)); // exact scaling, then one rounding
  if (fixed == (std::int64_t{1} << 31)) {
    fixed /= 2;
    ++exponent;
  }
  return {static_cast<std::int32_t>(fixed), exponent};
}

/// round-half-away-from-zero(acc · multiplier · 2^(shift - 31)), computed exactly in 128 bits with a
/// single rounding (unlike gemmlowp's two-step SaturatingRoundingDoublingHighMul +
/// RoundingDivideByPOT, which can differ by one unit on ties).
/// @throws config_error if m is outside the documented ranges; overflow_error if the result does not
///         fit std::int64_t
inline std::int64_t multiply_by_quantized_multiplier(std::int64_t acc, FixedPointMultiplier m) {
  if (m.multiplier < (std::int32_t{1} << 30) || m.shift < min_multiplier_shift ||
      m.shift > max_multiplier_shift)
    throw config_error("multiply_by_quantized_multiplier: multiplier " + std::to_string(m.multiplier) +
                       " / shift " + std::to_string(m.shift) + " is outside [2^30, 2^31) / [" +
                       std::to_string(min_multiplier_shift) + ", " + std::to_string(max_multiplier_shift) +
                       "]");
  using a2q::detail::int128;
  const int128 product = static_cast<int128>(acc) * m.multiplier; // |product| < 2^94
  const int right = 31 - m.shift;                                 // in [-1, 94]
  int128 result = 0;
  if (right <= 0) {
    result = product * (int128{1} << -right);
  } else {
    const int128 half = int128{1} << (right - 1);
    result = product >= 0 ? (product + half) >> right : -((-product + half) >> right);
  }
  if (result < std::numeric_limits<std::int64_t>::min() || result > std::numeric_limits<std::int64_t>::max())
    throw overflow_error("multiply_by_quantized_multiplier: " + std::to_string(acc) + " · " +
                         std::to_string(m.multiplier) + " · 2^(" + std::to_string(m.shift) +
                         " - 31) = " + a2q::detail::to_string(result) + " does not fit a 64-bit integer");
  return static_cast<std::int64_t>(result);
}

/// Requantize then clamp: clamp(multiply_by_quantized_multiplier(acc, m) + zero_point, qmin, qmax).
/// The zero-point addition is done in 128 bits, so it cannot overflow before the clamp.
/// @throws config_error if qmin > qmax; overflow_error from multiply_by_quantized_multiplier
inline std::int64_t requantize_to(std::int64_t acc, FixedPointMultiplier m, std::int64_t qmin,
                                  std::int64_t qmax, std::int64_t zero_point = 0) {
  if (qmin > qmax)
    throw config_error("requantize_to: qmin = " + std::to_string(qmin) +
                       " exceeds qmax = " + std::to_string(qmax));
  const a2q::detail::int128 v =
      static_cast<a2q::detail::int128>(multiply_by_quantized_multiplier(acc, m)) + zero_point;
  return v < qmin ? qmin : v > qmax ? qmax : static_cast<std::int64_t>(v);
}

/// Requantize then clamp to an integer format's grid [format.qmin(), format.qmax()].
inline std::int64_t requantize_to(std::int64_t acc, FixedPointMultiplier m, const quant::IntFormat& format,
                                  std::int64_t zero_point = 0) {
  return requantize_to(acc, m, format.qmin(), format.qmax(), zero_point);
}

} // namespace a2q::engine

#if A2Q_HEADER_ONLY
#include "a2q/engine/reference_kernels.ipp"
#endif
