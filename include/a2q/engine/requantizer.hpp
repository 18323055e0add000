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

namespace a2q::detail {

/// The rounding constants of round_half_even_shift for a shift R in [0, 62].
struct HalfEvenShift {
  std::uint64_t half_less_one = 0; ///< 2^(R-1) - 1, or 0 for R = 0
  std::uint64_t parity = 0;        ///< 1, or 0 for R = 0 (nothing is rounded)

  static HalfEvenShift of(int shift) {
    return {.half_less_one = shift > 0 ? (std::uint64_t{1} << (shift - 1)) - 1 : 0,
            .parity = shift > 0 ? 1u : 0u};
  }
};

/// clamp(round_half_even(t · 2^-R), lo, hi) for |t| <= 2^62: t + 2^(R-1) - 1 + (bit R of t) carries
/// into bit R exactly when rounding half to even rounds up. Plain integer arithmetic, without
/// comparisons, so that loops over it vectorise; unsigned, so that any t is defined (beyond 2^62 the
/// result is meaningless, and callers redo those sums).
inline std::int64_t round_half_even_shift(std::int64_t t, int R, std::uint64_t half_less_one,
                                          std::uint64_t parity, std::int64_t lo, std::int64_t hi) {
  const auto u = static_cast<std::uint64_t>(t);
  const auto biased = static_cast<std::int64_t>(u + half_less_one + ((u >> R) & parity));
  return std::clamp(biased >> R, lo, hi);
}

} // namespace a2q::detail

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
    // Most sums need no 128-bit arithmetic: for |v| <= fast_limit_, |v·m + offset| <= 2^62.
    const a2q::detail::int128 abs_offset = offset_ < 0 ? -offset_ : offset_;
    const std::int64_t m0 = multipliers_[0] < 0 ? -multipliers_[0] : multipliers_[0];
    constexpr std::int64_t room = std::int64_t{1} << 62;
    if (point_ <= 62 && abs_offset < room / 2) {
      offset64_ = static_cast<std::int64_t>(offset_);
      fast_limit_ = m0 == 0 ? room : (room - (offset64_ < 0 ? -offset64_ : offset64_)) / m0;
    }
  }

  /// q for one term (a layer's accumulator).
  std::int64_t operator()(std::int64_t v) const {
    if (v >= -fast_limit_ && v <= fast_limit_)
      return finish64(v * multipliers_[0] + offset64_);
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

  /// Largest |v| for which operator()(v) needs only 64-bit arithmetic (|v·m + offset| <= 2^62), or -1.
  std::int64_t fast_limit() const { return fast_limit_; }

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

  /// finish() for |t| <= 2^62 and R <= 62, in 64 bits: the same result.
  std::int64_t finish64(std::int64_t t) const {
    const auto shift = a2q::detail::HalfEvenShift::of(point_);
    return a2q::detail::round_half_even_shift(t, point_, shift.half_less_one, shift.parity, lo_, hi_);
  }

  std::int64_t lo_ = 0;
  std::int64_t hi_ = 0;
  int point_ = 0;
  std::vector<std::int64_t> multipliers_;
  a2q::detail::int128 offset_ = 0;
  std::int64_t offset64_ = 0;    ///< offset_, when it fits the fast path
  std::int64_t fast_limit_ = -1; ///< largest |v| for the 64-bit path (-1: never)
};

/// One-term requantizers of C channels as parallel arrays: requantizes a whole [outer, C, plane] tensor
/// of sums with the branch-free 64-bit path, which vectorises across channels (plane = 1, a linear layer)
/// or within a channel's plane (a convolution). Sums beyond a channel's 64-bit limit are redone by its
/// Requantizer, so the results are always exactly Requantizer's.
class RequantizerBank {
public:
  explicit RequantizerBank(std::span<const Requantizer> channels) : channels_(channels) {
    for (const Requantizer& r : channels) {
      const bool fast = r.fast_limit() >= 0;
      multiplier_.push_back(fast ? r.multipliers()[0] : 0);
      offset_.push_back(fast ? static_cast<std::int64_t>(r.offset()) : 0);
      point_.push_back(fast ? r.point() : 0);
      const auto shift = a2q::detail::HalfEvenShift::of(fast ? r.point() : 0);
      half_less_one_.push_back(shift.half_less_one);
      parity_.push_back(shift.parity);
      limit_.push_back(r.fast_limit());
      lo_.push_back(r.lo());
      hi_.push_back(r.hi());
    }
  }

  /// out = the requantized v, both [outer, C, plane] flattened.
  template <class T>
  void apply(const T* v, std::int64_t outer, std::int64_t plane, std::int32_t* out) const {
    const auto C = static_cast<std::int64_t>(channels_.size());
    const std::int64_t* multiplier = multiplier_.data();
    const std::int64_t* offset = offset_.data();
    const std::int64_t* limit = limit_.data();
    const std::int64_t* lo = lo_.data();
    const std::int64_t* hi = hi_.data();
    const std::int64_t* point = point_.data();
    const std::uint64_t* half_less_one = half_less_one_.data();
    const std::uint64_t* parity = parity_.data();
    std::int64_t slow = 0; // sums beyond their channel's 64-bit limit
    // Written as plain loops over arrays, without comparisons feeding the arithmetic (GCC 12 gives up on
    // those), so that they vectorise.
    const auto one = [&](std::int64_t c, std::int64_t i) {
      const auto x = static_cast<std::int64_t>(v[i]);
      slow += static_cast<std::int64_t>((x < -limit[c]) | (x > limit[c]));
      // Unsigned arithmetic: defined where it wraps (beyond the limit), and redone below there.
      const auto t = static_cast<std::int64_t>(static_cast<std::uint64_t>(x) *
                                                   static_cast<std::uint64_t>(multiplier[c]) +
                                               static_cast<std::uint64_t>(offset[c]));
      out[i] = static_cast<std::int32_t>(a2q::detail::round_half_even_shift(
          t, static_cast<int>(point[c]), half_less_one[c], parity[c], lo[c], hi[c]));
    };
    for (std::int64_t n = 0; n < outer; ++n) {
      const std::int64_t row = n * C * plane;
      if (plane == 1)
        for (std::int64_t c = 0; c < C; ++c)
          one(c, row + c);
      else
        for (std::int64_t c = 0; c < C; ++c)
          for (std::int64_t p = 0; p < plane; ++p)
            one(c, row + c * plane + p);
    }
    if (slow == 0)
      return;
    for (std::int64_t n = 0; n < outer; ++n)
      for (std::int64_t c = 0; c < C; ++c) {
        const Requantizer& r = channels_[static_cast<std::size_t>(c)];
        for (std::int64_t i = (n * C + c) * plane; i < (n * C + c + 1) * plane; ++i) {
          const auto x = static_cast<std::int64_t>(v[i]);
          if (x < -r.fast_limit() || x > r.fast_limit())
            out[i] = static_cast<std::int32_t>(r(x));
        }
      }
  }

private:
  std::span<const Requantizer> channels_;
  std::vector<std::int64_t> multiplier_, offset_, limit_, lo_, hi_, point_;
  std::vector<std::uint64_t> half_less_one_, parity_;
};

} // namespace a2q::engine
