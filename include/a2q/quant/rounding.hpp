#pragma once
/// @file
/// Rounding modes for quantizers, as scalar functions and as loops over float buffers.
///
/// The deterministic modes are branch-free and use only additions, comparisons, selects and sign
/// copies, so the compiler vectorises the loops (no libm calls). Round-half-to-even uses the classic
/// 2^23 trick: for |x| < 2^23, |x| + 2^23 lies in [2^23, 2^24) where the float spacing is exactly 1, so
/// the addition itself rounds to an integer, half-to-even, in the default FE_TONEAREST environment
/// (which a2q assumes throughout, like any float code). Builds with -ffast-math (which may fold
/// (a + c) - c into a) or with excess precision fall back to std::nearbyint.
///
/// Stochastic rounding rounds x up with probability frac(x) = x - floor(x), so E[round(x)] = x. The
/// random numbers come from a counter-based hash of one 64-bit word drawn from an a2q::Rng per call:
/// element i always gets hash(word, i), so the result depends only on the Rng state, never on the
/// thread count or on how a loop is split.

#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/rng.hpp"
#include "a2q/core/tensor.hpp"

#include <array>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace a2q::quant {

/// How a real value becomes an integer.
enum class RoundingMode {
  nearest_even,        ///< round half to even (IEEE default): 0.5 -> 0, 1.5 -> 2, -2.5 -> -2
  half_away_from_zero, ///< round half away from zero (std::round): 0.5 -> 1, -2.5 -> -3
  toward_zero,         ///< truncate (RTZ, what A2Q needs for its L1 bound): 1.7 -> 1, -1.7 -> -1
  floor,               ///< toward -infinity: -1.2 -> -2
  ceil,                ///< toward +infinity: 1.2 -> 2
  stochastic,          ///< floor(x) + 1 with probability x - floor(x), else floor(x)
};

/// Every rounding mode, in declaration order.
inline constexpr std::array<RoundingMode, 6> all_rounding_modes{
    RoundingMode::nearest_even, RoundingMode::half_away_from_zero,
    RoundingMode::toward_zero,  RoundingMode::floor,
    RoundingMode::ceil,         RoundingMode::stochastic};

/// The mode's name as used in configuration files: "nearest_even", "half_away_from_zero",
/// "toward_zero", "floor", "ceil", "stochastic".
constexpr std::string_view to_string(RoundingMode mode) {
  switch (mode) {
  case RoundingMode::nearest_even:
    return "nearest_even";
  case RoundingMode::half_away_from_zero:
    return "half_away_from_zero";
  case RoundingMode::toward_zero:
    return "toward_zero";
  case RoundingMode::floor:
    return "floor";
  case RoundingMode::ceil:
    return "ceil";
  case RoundingMode::stochastic:
    return "stochastic";
  }
  return "unknown";
}

/// Parses a name produced by to_string(RoundingMode).
/// @throws config_error for any other name, listing the valid ones
A2Q_DECL RoundingMode parse_rounding_mode(std::string_view name);

} // namespace a2q::quant

namespace a2q::detail {

/// 2^23: from here on every float is an integer.
inline constexpr float round_integer_threshold = 8388608.0f;

/// c ? a : b through a bit mask. A plain ?: lets the compiler move the arithmetic producing `a` into a
/// branch, and under the default -ftrapping-math it may not turn such a branch back into a vector blend;
/// with the mask, every operand is computed unconditionally and the loops vectorise at -O2 already.
inline float select_float(bool c, float a, float b) {
  const std::uint32_t mask = 0u - static_cast<std::uint32_t>(c);
  return std::bit_cast<float>((std::bit_cast<std::uint32_t>(a) & mask) |
                              (std::bit_cast<std::uint32_t>(b) & ~mask));
}

/// Round half to even without libm and without branches (see the file comment).
inline float round_half_even(float x) {
#if defined(__FAST_MATH__) || !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
  return std::nearbyint(x);
#else
  const float a = std::fabs(x);
  const float r = std::copysign((a + round_integer_threshold) - round_integer_threshold, x);
  return select_float(a < round_integer_threshold, r, x); // NaN and +-inf take the second operand
#endif
}

inline float round_floor(float x) {
  const float r = round_half_even(x);
  return r - select_float(r > x, 1.0f, 0.0f);
}

inline float round_ceil(float x) {
  const float r = round_half_even(x);
  return r + select_float(r < x, 1.0f, 0.0f);
}

inline float round_toward_zero(float x) {
  const float a = std::fabs(x);
  const float r = round_half_even(a);
  return std::copysign(r - select_float(r > a, 1.0f, 0.0f), x);
}

inline float round_half_away(float x) {
  const float a = std::fabs(x);
  const float r = round_half_even(a);
  const float t = r - select_float(r > a, 1.0f, 0.0f); // trunc(|x|); |x| - t is exact (Sterbenz, or t = 0)
  return std::copysign(t + select_float(a - t >= 0.5f, 1.0f, 0.0f), x);
}

/// Elements per unrolled step of the element-wise loops: a fixed trip count lets GCC vectorise them
/// even with -O2's "very cheap" cost model, which does not vectorise loops needing an epilogue.
inline constexpr int quant_vector_step = 16;

/// Counter-based random word for element `index` of a stochastic-rounding call keyed by `stream`
/// (splitmix64's finaliser applied to a Weyl sequence).
constexpr std::uint64_t stochastic_word(std::uint64_t stream, std::int64_t index) {
  std::uint64_t z = stream + static_cast<std::uint64_t>(index + 1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// Stochastic rounding of x with the uniform number u in [0, 1): floor(x) + (u < frac(x)).
inline float round_stochastic(float x, double u) {
  const float f = round_floor(x);
  const double frac = static_cast<double>(x) - static_cast<double>(f); // exact in double
  return f + select_float(u < frac, 1.0f, 0.0f);
}

/// The uniform number in [0, 1) (53 bits) for element `index` of the call keyed by `stream`.
constexpr double stochastic_uniform(std::uint64_t stream, std::int64_t index) {
  return static_cast<double>(stochastic_word(stream, index) >> 11) * 0x1.0p-53;
}

/// One deterministic mode as a compile-time choice, so that loops are specialised and vectorised.
template <quant::RoundingMode M>
inline float round_as(float x) {
  static_assert(M != quant::RoundingMode::stochastic, "stochastic rounding needs a random number");
  if constexpr (M == quant::RoundingMode::nearest_even)
    return round_half_even(x);
  else if constexpr (M == quant::RoundingMode::half_away_from_zero)
    return round_half_away(x);
  else if constexpr (M == quant::RoundingMode::toward_zero)
    return round_toward_zero(x);
  else if constexpr (M == quant::RoundingMode::floor)
    return round_floor(x);
  else
    return round_ceil(x);
}

/// Calls f(std::integral_constant<quant::RoundingMode, mode>{}) so that `mode` becomes a template argument.
template <class F>
decltype(auto) dispatch_rounding(quant::RoundingMode mode, F&& f) {
  switch (mode) {
  case quant::RoundingMode::nearest_even:
    return f(std::integral_constant<quant::RoundingMode, quant::RoundingMode::nearest_even>{});
  case quant::RoundingMode::half_away_from_zero:
    return f(std::integral_constant<quant::RoundingMode, quant::RoundingMode::half_away_from_zero>{});
  case quant::RoundingMode::toward_zero:
    return f(std::integral_constant<quant::RoundingMode, quant::RoundingMode::toward_zero>{});
  case quant::RoundingMode::floor:
    return f(std::integral_constant<quant::RoundingMode, quant::RoundingMode::floor>{});
  case quant::RoundingMode::ceil:
    return f(std::integral_constant<quant::RoundingMode, quant::RoundingMode::ceil>{});
  case quant::RoundingMode::stochastic:
    return f(std::integral_constant<quant::RoundingMode, quant::RoundingMode::stochastic>{});
  }
  throw config_error("invalid RoundingMode value " + std::to_string(static_cast<int>(mode)));
}

inline void require_deterministic_rounding(quant::RoundingMode mode, const char* function) {
  if (mode == quant::RoundingMode::stochastic)
    throw config_error(std::string(function) +
                       ": stochastic rounding needs an a2q::Rng; call the overload that takes one");
}

} // namespace a2q::detail

namespace a2q::quant {

/// Rounds one value with a deterministic mode. NaN and +-infinity are returned unchanged.
/// @throws config_error for RoundingMode::stochastic (use the overload taking an Rng)
A2Q_DECL float round_value(float x, RoundingMode mode);

/// Rounds one value with any mode; stochastic rounding draws one number from `rng`.
A2Q_DECL float round_value(float x, RoundingMode mode, Rng& rng);

/// Rounds every element of `values` in place with a deterministic mode (vectorised loop).
/// @throws config_error for RoundingMode::stochastic (use the overload taking an Rng)
A2Q_DECL void round_inplace(std::span<float> values, RoundingMode mode);

/// Rounds every element of `values` in place with any mode. Stochastic rounding draws exactly one
/// 64-bit word from `rng` and derives element i's uniform number from (word, i): the same Rng state
/// gives the same result. Deterministic modes leave `rng` untouched.
A2Q_DECL void round_inplace(std::span<float> values, RoundingMode mode, Rng& rng);

/// A rounded copy of `x` (deterministic modes).
/// @throws config_error for RoundingMode::stochastic (use the overload taking an Rng)
A2Q_DECL Tensor<float> round_tensor(const Tensor<float>& x, RoundingMode mode);

/// A rounded copy of `x` with any mode (see round_inplace for how `rng` is used).
A2Q_DECL Tensor<float> round_tensor(const Tensor<float>& x, RoundingMode mode, Rng& rng);

} // namespace a2q::quant

#if A2Q_HEADER_ONLY
#include "a2q/quant/rounding.ipp"
#endif
