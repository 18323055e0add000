#pragma once
/// @file
/// engine::Requantizer: maps one output channel's integer sums to the next layer's N-bit grid,
///
///     q = clamp(round_half_even(Σ_i v_i · r_i + offset), lo, hi),
///
/// with one or two integer terms v_i (a layer's accumulator; for a residual add, both branches) and
/// real factors r_i (e.g. s_w · s_x / s_next, batch norm folded in). Each |r_i| is held as a Q31
/// fixed-point multiplier (quantize_multiplier: 31 significant bits, relative error <= 2^-31) and a sign;
/// all terms are brought to one common binary point R (2^-R output units), the offset is rounded to
/// that point, and the sum is formed exactly in 128 bits with a single rounding, half to even, like the
/// fake quantizer's default. The integer pipeline is therefore deterministic and needs no floating point
/// at run time; the only approximations are the 31-bit factors and the offset's 2^-R grid.

#include "a2q/core/error.hpp"
#include "a2q/engine/reference_kernels.hpp"
#include "a2q/quant/bounds.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace a2q::engine {

class Requantizer {
public:
  /// Most integer terms one requantizer adds (a layer: 1; a residual add: 2).
  static constexpr std::size_t max_terms = 2;
  /// Largest difference between the terms' binary points: keeps every scaled multiplier below 2^62.
  static constexpr int max_point_spread = 31;

  Requantizer() = default;

  /// @param factors the real factors r_i (finite, |r_i| < 2^31; 0 allowed), one or two
  /// @param offset the real offset in output units (finite, |offset| < 2^40)
  /// @param lo, hi the output grid, lo <= hi
  /// @throws config_error for anything outside those ranges
  Requantizer(std::span<const double> factors, double offset, std::int64_t lo, std::int64_t hi)
      : lo_(lo), hi_(hi) {
    if (factors.empty() || factors.size() > max_terms)
      throw config_error("Requantizer: " + std::to_string(factors.size()) + " factors (expected 1 or 2)");
    if (lo > hi)
      throw config_error("Requantizer: output range [" + std::to_string(lo) + ", " + std::to_string(hi) +
                         "] is empty");
    if (!(std::abs(offset) < 0x1p40))
      throw config_error("Requantizer: offset " + std::to_string(offset) + " is not finite or exceeds 2^40");
    std::vector<FixedPointMultiplier> parts;
    int point = 0; // common binary point R: the finest any factor needs
    for (const double r : factors) {
      if (!std::isfinite(r))
        throw config_error("Requantizer: factor " + std::to_string(r) + " is not finite");
      if (r == 0.0 || std::abs(r) < 0x1p-64) {
        parts.push_back({0, 0}); // contributes nothing
        continue;
      }
      const FixedPointMultiplier m = quantize_multiplier(std::abs(r));
      parts.push_back(m);
      point = std::max(point, 31 - m.shift);
    }
    int coarsest = point;
    for (const FixedPointMultiplier& m : parts)
      if (m.multiplier != 0)
        coarsest = std::min(coarsest, 31 - m.shift);
    // A tiny factor beside a large one only needs the large one's precision.
    point = std::min(point, coarsest + max_point_spread);
    point_ = point;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const FixedPointMultiplier& m = parts[i];
      std::int64_t scaled = 0;
      if (m.multiplier != 0) {
        const int up = point - (31 - m.shift); // >= -(spread excess), <= max_point_spread
        scaled = up >= 0 ? std::int64_t{m.multiplier} << up : round_shift(m.multiplier, -up);
      }
      multipliers_.push_back(factors[i] < 0 ? -scaled : scaled);
    }
    const double scaled_offset = std::nearbyint(std::ldexp(offset, point));
    if (!(std::abs(scaled_offset) < 0x1p100))
      throw config_error("Requantizer: offset " + std::to_string(offset) + " at binary point 2^-" +
                         std::to_string(point) + " exceeds 2^100");
    offset_ = static_cast<a2q::detail::int128>(scaled_offset);
  }

  /// q for one term (a layer's accumulator).
  std::int64_t operator()(std::int64_t v) const {
    return finish(static_cast<a2q::detail::int128>(v) * multipliers_[0] + offset_);
  }

  /// q for two terms (a residual add: main branch, shortcut branch).
  std::int64_t operator()(std::int64_t a, std::int64_t b) const {
    return finish(static_cast<a2q::detail::int128>(a) * multipliers_[0] +
                  static_cast<a2q::detail::int128>(b) * multipliers_[1] + offset_);
  }

  /// The common binary point R: the sum is in units of 2^-R.
  int point() const { return point_; }
  /// Signed scaled multipliers, one per term: r_i ≈ multipliers()[i] · 2^-R.
  const std::vector<std::int64_t>& multipliers() const { return multipliers_; }
  /// The offset in units of 2^-R.
  a2q::detail::int128 offset() const { return offset_; }
  std::int64_t lo() const { return lo_; }
  std::int64_t hi() const { return hi_; }

  /// The real factor term i stands for after rounding to 31 bits.
  double factor(std::size_t i) const { return std::ldexp(static_cast<double>(multipliers_.at(i)), -point_); }

private:
  static std::int64_t round_shift(std::int64_t v, int right) {
    if (right >= 62)
      return 0;
    return (v + (std::int64_t{1} << (right - 1))) >> right;
  }

  /// round_half_even(t · 2^-R), clamped. Exact: |t| < 2^127 by the limits above.
  std::int64_t finish(a2q::detail::int128 t) const {
    a2q::detail::int128 q = t >> point_; // floor (arithmetic shift, well defined since C++20)
    if (point_ > 0) {
      const a2q::detail::int128 rest = t - (q << point_);
      const a2q::detail::int128 half = a2q::detail::int128{1} << (point_ - 1);
      if (rest > half || (rest == half && (q & 1) != 0))
        ++q;
    }
    return q < lo_ ? lo_ : q > hi_ ? hi_ : static_cast<std::int64_t>(q);
  }

  std::int64_t lo_ = 0;
  std::int64_t hi_ = 0;
  int point_ = 0;
  std::vector<std::int64_t> multipliers_;
  a2q::detail::int128 offset_ = 0;
};

} // namespace a2q::engine
