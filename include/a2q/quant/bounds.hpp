#pragma once
/// @file
/// Exact accumulator bounds for one integer dot product Σ x_i q_i (docs: spec sections 1, 2, 3, 6).
///
/// All bit counts are computed with integer bit-length arithmetic (no floating-point ceil/log2), with
/// 128-bit intermediates where products can exceed 64 bits, so they are exact for any K that fits in
/// std::int64_t. The only floating-point results are the L1 limits T and Z, which are real numbers.
///
/// Limits checked on every call (config_error otherwise): input bits N and weight bits M in [1, 32],
/// accumulator width P in [2, 64], K >= 1, non-empty weight spans, lo <= hi, tile_size >= 1.

#include "a2q/core/error.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

namespace a2q {

namespace detail {

__extension__ typedef __int128 int128;
__extension__ typedef unsigned __int128 uint128;

/// Largest input (N) and weight (M) bit width the bounds accept.
inline constexpr int max_operand_bits = 32;

/// Number of bits needed to write v in binary: 0 for 0, floor(log2(v)) + 1 otherwise.
constexpr int bit_length(uint128 v) {
  int n = 0;
  while (v != 0) {
    v >>= 1;
    ++n;
  }
  return n;
}

/// Smallest P >= 1 whose two's-complement range [-2^(P-1), 2^(P-1)-1] holds v.
constexpr int signed_bits(int128 v) {
  // v >= 0 needs a sign bit above bit_length(v); v < 0 is the bitwise complement of ~v = -v-1 >= 0.
  const uint128 magnitude = v >= 0 ? static_cast<uint128>(v) : static_cast<uint128>(-(v + 1));
  return bit_length(magnitude) + 1;
}

/// 2^e as a double (exact for the exponents used here); a loop because std::ldexp is not constexpr.
constexpr double pow2(int e) {
  double r = 1.0;
  for (; e > 0; --e)
    r *= 2.0;
  for (; e < 0; ++e)
    r *= 0.5;
  return r;
}

/// Decimal text of a 128-bit value, for error messages (std::to_string has no __int128 overload).
inline std::string to_string(int128 v) {
  if (v == 0)
    return "0";
  const bool negative = v < 0;
  uint128 m = negative ? static_cast<uint128>(-(v + 1)) + 1 : static_cast<uint128>(v);
  std::string digits;
  while (m != 0) {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(m % 10)));
    m /= 10;
  }
  return negative ? "-" + digits : digits;
}

[[noreturn]] inline void throw_config(const std::string& what) {
  throw config_error(what);
}

// The checks below are constexpr and inlined everywhere; their messages are built out of line, in cold
// functions (GCC 12's -Warray-bounds also misfires on string concatenations inlined into callers).

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_operand_bits(const char* function, const char* name,
                                                                      int bits) {
  throw_config(std::string(function) + ": " + name + " = " + std::to_string(bits) + " is outside [1, " +
               std::to_string(max_operand_bits) + "]");
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_accumulator_bits(const char* function, int P) {
  throw_config(std::string(function) + ": accumulator width P = " + std::to_string(P) +
               " is outside [2, 64]");
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_range(const char* function, std::int64_t lo,
                                                               std::int64_t hi) {
  throw_config(std::string(function) + ": range lower end " + std::to_string(lo) + " exceeds upper end " +
               std::to_string(hi));
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_empty_weights(const char* function) {
  throw_config(std::string(function) + ": the weight vector is empty (K = 0)");
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_not_positive(const char* function, std::int64_t n) {
  throw_config(std::string(function) + ": argument " + std::to_string(n) + " is not positive");
}

constexpr void check_operand_bits(const char* function, const char* name, int bits) {
  if (bits < 1 || bits > max_operand_bits)
    throw_operand_bits(function, name, bits);
}

constexpr void check_accumulator_bits(const char* function, int P) {
  if (P < 2 || P > 64)
    throw_accumulator_bits(function, P);
}

constexpr void check_range(const char* function, std::int64_t lo, std::int64_t hi) {
  if (lo > hi)
    throw_range(function, lo, hi);
}

constexpr void check_weights(const char* function, std::span<const std::int32_t> q) {
  if (q.empty())
    throw_empty_weights(function);
}

/// ceil(log2(n)) for n >= 1, exactly: 0 for n = 1, bit_length(n - 1) otherwise.
constexpr std::int64_t ceil_log2(std::int64_t n) {
  if (n < 1)
    throw_not_positive("ceil_log2", n);
  return bit_length(static_cast<uint128>(n - 1));
}

/// An accumulator range in 128 bits, before it is checked to fit std::int64_t.
struct WideRange {
  int128 lo;
  int128 hi;
};

/// Smallest P >= 1 holding both ends of r.
constexpr int range_bits(WideRange r) {
  const int lo_bits = signed_bits(r.lo);
  const int hi_bits = signed_bits(r.hi);
  return lo_bits > hi_bits ? lo_bits : hi_bits;
}

/// Sum of the positive weights (A) and of the magnitudes of the negative ones (B).
struct SignSplit {
  int128 positive;
  int128 negative;
};

/// Requires ‖q‖₁ = A + B < 2^63 (any span shorter than 2^32 elements), so that |x| · ‖q‖₁ plus a 64-bit
/// bias stays far below 2^127 and every 128-bit sum here is exact.
constexpr SignSplit sign_split(const char* function, std::span<const std::int32_t> q) {
  SignSplit s{0, 0};
  // Sums in 64 bits over blocks of 2^31 values of at most 2^31 (no overflow), then in 128: the loop
  // vectorises, where 128-bit adds per element made this check a third of a QAT step's weight update.
  constexpr std::size_t block = std::size_t{1} << 31;
  for (std::size_t start = 0; start < q.size(); start += block) {
    const std::size_t end = q.size() - start < block ? q.size() : start + block;
    std::int64_t positive = 0;
    std::int64_t negative = 0;
    for (std::size_t i = start; i < end; ++i) {
      const std::int64_t v = q[i];
      positive += v > 0 ? v : 0;
      negative += v < 0 ? -v : 0;
    }
    s.positive += positive;
    s.negative += negative;
  }
  if (s.positive + s.negative > std::numeric_limits<std::int64_t>::max())
    throw overflow_error(std::string(function) + ": the L1 norm of the weights, " +
                         to_string(s.positive + s.negative) + ", does not fit a 64-bit integer");
  return s;
}

} // namespace detail

/// Inclusive range [lo, hi] of integer inputs x_i.
struct InputRange {
  std::int64_t lo;
  std::int64_t hi;

  /// The range of an N-bit integer: signed [-2^(N-1), 2^(N-1)-1], unsigned [0, 2^N-1].
  /// @param N input bits in [1, 32]
  /// @param is_signed two's-complement signed inputs when true
  static constexpr InputRange of_bits(int N, bool is_signed) {
    detail::check_operand_bits("InputRange::of_bits", "N", N);
    if (is_signed)
      return {-(std::int64_t{1} << (N - 1)), (std::int64_t{1} << (N - 1)) - 1};
    return {0, (std::int64_t{1} << N) - 1};
  }
};

/// Inclusive range [lo, hi] of accumulator values.
struct AccumulatorRange {
  std::int64_t lo;
  std::int64_t hi;

  friend constexpr bool operator==(const AccumulatorRange&, const AccumulatorRange&) = default;
};

namespace detail {

/// r as an AccumulatorRange, or overflow_error naming the values if an end does not fit std::int64_t.
constexpr AccumulatorRange to_accumulator_range(const char* function, WideRange r) {
  constexpr int128 min64 = std::numeric_limits<std::int64_t>::min();
  constexpr int128 max64 = std::numeric_limits<std::int64_t>::max();
  if (r.lo < min64 || r.hi > max64)
    throw overflow_error(std::string(function) + ": accumulator range [" + to_string(r.lo) + ", " +
                         to_string(r.hi) + "] does not fit a 64-bit integer");
  return {static_cast<std::int64_t>(r.lo), static_cast<std::int64_t>(r.hi)};
}

/// Exact extremes of Σ x_i q_i, x_i in [x.lo, x.hi] independently: each term reaches its own
/// extremes at x.lo or x.hi. |x| <= 2^63 and A + B < 2^63 keep every value below 2^126 in magnitude.
constexpr WideRange wide_worst_case(const char* function, std::span<const std::int32_t> q, InputRange x) {
  const SignSplit s = sign_split(function, q);
  const int128 lo = x.lo;
  const int128 hi = x.hi;
  return {lo * s.positive - hi * s.negative, hi * s.positive - lo * s.negative};
}

} // namespace detail

/// Data-type bound (spec §1): the accumulator width that no K-long dot product of N-bit inputs and
/// M-bit weights can overflow, whatever the weights. Equals ceil(α + log2(1 + 2^-α) + 1) with
/// α = log2(K) + N + M - 1 - s_x, i.e. the smallest P with 2^(P-1) - 1 >= K · 2^(N+M-1-s_x), computed
/// exactly as bit_length(K) + (N + M - 1 - s_x) + 1.
/// @param K dot-product length, >= 1
/// @param N input bits in [1, 32]
/// @param M weight bits in [1, 32]
/// @param input_signed signed inputs (s_x = 1)
constexpr int datatype_bound_bits(std::int64_t K, int N, int M, bool input_signed) {
  if (K < 1)
    detail::throw_config("datatype_bound_bits: K = " + std::to_string(K) + " is not positive");
  detail::check_operand_bits("datatype_bound_bits", "N", N);
  detail::check_operand_bits("datatype_bound_bits", "M", M);
  return detail::bit_length(static_cast<detail::uint128>(K)) + (N + M - 1 - (input_signed ? 1 : 0)) + 1;
}

/// A2Q L1 limit (spec §2): weights with ‖q‖₁ <= T never overflow a P-bit accumulator for any N-bit
/// input, T = (2^(P-1) - 1) · 2^(s_x - N). Tight for signed inputs (all-negative weights, x = -2^(N-1));
/// for unsigned inputs it assumes |x| <= 2^N, so it is conservative by a factor 2^N / (2^N - 1).
/// Exact for P <= 54 (beyond, 2^(P-1) - 1 rounds to a double).
/// @param P accumulator bits in [2, 64]
/// @param N input bits in [1, 32]
/// @param input_signed signed inputs (s_x = 1)
constexpr double a2q_l1_limit(int P, int N, bool input_signed) {
  detail::check_accumulator_bits("a2q_l1_limit", P);
  detail::check_operand_bits("a2q_l1_limit", "N", N);
  const auto max_acc = static_cast<double>((std::uint64_t{1} << (P - 1)) - 1);
  return max_acc * detail::pow2((input_signed ? 1 : 0) - N);
}

/// A2Q+ zero-centred limit (spec §3): Z = (2^P - 2) / (2^N - 1). No overflow when the positive and the
/// negative weights each sum to at most Z/2 in magnitude; ‖q‖₁ <= Z alone is NOT sufficient.
/// @param P accumulator bits in [2, 64]
/// @param N input bits in [1, 32]
constexpr double a2q_plus_l1_limit(int P, int N) {
  detail::check_accumulator_bits("a2q_plus_l1_limit", P);
  detail::check_operand_bits("a2q_plus_l1_limit", "N", N);
  const auto numerator = 2.0 * static_cast<double>((std::uint64_t{1} << (P - 1)) - 1);
  return numerator / (detail::pow2(N) - 1.0);
}

/// Exact minimum and maximum of Σ x_i q_i over all inputs with every x_i in [x.lo, x.hi]:
/// with A = Σ_{q_i>0} q_i and B = Σ_{q_i<0} |q_i|, max = hi·A - lo·B and min = lo·A - hi·B (any lo <= hi).
/// When lo <= 0 <= hi (every N-bit range), each partial sum, in any order, is a dot product with a subset
/// of q and lies in this range too; for ranges excluding 0 only the final sum is bounded.
/// @throws overflow_error if an end does not fit std::int64_t
constexpr AccumulatorRange worst_case_accumulator(std::span<const std::int32_t> q, InputRange x) {
  detail::check_weights("worst_case_accumulator", q);
  detail::check_range("worst_case_accumulator", x.lo, x.hi);
  return detail::to_accumulator_range("worst_case_accumulator",
                                      detail::wide_worst_case("worst_case_accumulator", q, x));
}

/// As above, for an accumulator initialised with bias: the range shifted by bias. When lo <= 0 <= hi,
/// every partial sum starting at bias (bias itself included) is also inside this range.
/// @throws overflow_error if an end does not fit std::int64_t
constexpr AccumulatorRange worst_case_accumulator(std::span<const std::int32_t> q, InputRange x,
                                                  std::int64_t bias) {
  detail::check_weights("worst_case_accumulator", q);
  detail::check_range("worst_case_accumulator", x.lo, x.hi);
  const detail::WideRange r = detail::wide_worst_case("worst_case_accumulator", q, x);
  return detail::to_accumulator_range("worst_case_accumulator", {r.lo + bias, r.hi + bias});
}

/// Smallest P >= 1 whose two's-complement range [-2^(P-1), 2^(P-1)-1] holds both r.lo and r.hi.
constexpr int required_accumulator_bits(AccumulatorRange r) {
  detail::check_range("required_accumulator_bits", r.lo, r.hi);
  return detail::range_bits({r.lo, r.hi});
}

/// Exact accumulator width for the weights q and inputs in x: bits of worst_case_accumulator(q, x).
constexpr int required_accumulator_bits(std::span<const std::int32_t> q, InputRange x) {
  return required_accumulator_bits(worst_case_accumulator(q, x));
}

/// Exact accumulator width when the accumulator starts at bias.
constexpr int required_accumulator_bits(std::span<const std::int32_t> q, InputRange x, std::int64_t bias) {
  return required_accumulator_bits(worst_case_accumulator(q, x, bias));
}

/// Per-channel A2Q width (spec §2): smallest P with l1_norm · 2^(N - s_x) <= 2^(P-1) - 1, i.e.
/// ceil(β + log2(1 + 2^-β) + 1) with β = log2(l1_norm) + N - s_x; 1 for l1_norm = 0. This is the Hölder
/// bound, so it can exceed required_accumulator_bits by a bit (it ignores the sign split).
/// @param l1_norm ‖q‖₁ >= 0
/// @param N input bits in [1, 32]
/// @param input_signed signed inputs (s_x = 1)
constexpr int a2q_required_bits(std::int64_t l1_norm, int N, bool input_signed) {
  if (l1_norm < 0)
    detail::throw_config("a2q_required_bits: l1_norm = " + std::to_string(l1_norm) + " is negative");
  detail::check_operand_bits("a2q_required_bits", "N", N);
  if (l1_norm == 0)
    return 1;
  return detail::bit_length(static_cast<detail::uint128>(l1_norm)) + N - (input_signed ? 1 : 0) + 1;
}

/// True when every value of r fits a P-bit two's-complement accumulator.
/// @param P accumulator bits in [2, 64]
constexpr bool fits_accumulator(AccumulatorRange r, int P) {
  detail::check_range("fits_accumulator", r.lo, r.hi);
  detail::check_accumulator_bits("fits_accumulator", P);
  return required_accumulator_bits(r) <= P;
}

/// Widths for multi-stage accumulation (spec §6, AXE).
struct TiledAccumulatorBits {
  int inner_bits;         ///< exact width of the per-tile register (max over tiles)
  int outer_bits;         ///< exact width of the outer register (starts at bias, adds tile results)
  int outer_bits_formula; ///< inner_bits + ceil(log2(tiles)), the spec's provisioning rule (no bias)
  std::int64_t tiles;     ///< ceil(K / tile_size)
};

/// Exact register widths when q is split into consecutive tiles of tile_size elements, each summed in an
/// inner register starting at 0, and the tile results are summed into an outer register starting at bias.
/// Both widths hold every partial sum in index order (not only the final sums): tiles use disjoint
/// inputs, so the extreme of a prefix is the sum of the per-element (or per-tile) extremes, and each
/// extreme is reached by some input. For lo <= 0 <= hi the inner width is the exact width of the tile
/// with the widest worst case, and outer_bits <= outer_bits_formula when bias = 0.
/// @throws overflow_error if a partial sum does not fit std::int64_t
constexpr TiledAccumulatorBits tiled_accumulator_bits(std::span<const std::int32_t> q, InputRange x,
                                                      std::int64_t tile_size, std::int64_t bias = 0) {
  constexpr const char* function = "tiled_accumulator_bits";
  detail::check_weights(function, q);
  detail::check_range(function, x.lo, x.hi);
  if (tile_size < 1)
    detail::throw_config(std::string(function) + ": tile_size = " + std::to_string(tile_size) +
                         " is not positive");

  detail::sign_split(function, q); // for its L1-norm check only: it keeps the 128-bit sums exact
  const auto K = static_cast<std::int64_t>(q.size());
  const std::int64_t tiles = K / tile_size + (K % tile_size != 0 ? 1 : 0);
  const detail::int128 lo = x.lo;
  const detail::int128 hi = x.hi;

  int inner_bits = 1;
  detail::WideRange outer{bias, bias}; // extremes over every outer prefix, the bias alone included
  detail::int128 outer_max = bias;     // largest / smallest value of the current outer prefix
  detail::int128 outer_min = bias;
  for (std::int64_t t = 0; t < tiles; ++t) {
    const std::size_t begin = static_cast<std::size_t>(t * tile_size);
    const std::size_t count = static_cast<std::size_t>(t + 1 == tiles ? K - t * tile_size : tile_size);
    detail::WideRange inner{0, 0};
    detail::int128 tile_max = 0;
    detail::int128 tile_min = 0;
    for (const std::int32_t w : q.subspan(begin, count)) {
      const detail::int128 a = lo * w;
      const detail::int128 b = hi * w;
      tile_max += a > b ? a : b;
      tile_min += a < b ? a : b;
      inner.hi = tile_max > inner.hi ? tile_max : inner.hi;
      inner.lo = tile_min < inner.lo ? tile_min : inner.lo;
    }
    detail::to_accumulator_range(function, inner); // throws if a partial sum leaves std::int64_t
    const int bits = detail::range_bits(inner);
    inner_bits = bits > inner_bits ? bits : inner_bits;

    outer_max += tile_max;
    outer_min += tile_min;
    outer.hi = outer_max > outer.hi ? outer_max : outer.hi;
    outer.lo = outer_min < outer.lo ? outer_min : outer.lo;
  }
  detail::to_accumulator_range(function, outer);
  return {inner_bits, detail::range_bits(outer), inner_bits + static_cast<int>(detail::ceil_log2(tiles)),
          tiles};
}

} // namespace a2q
