// Tests for a2q/quant/bounds.hpp. Ground truth is always computed another way: by enumerating every
// input (and weight) vector, by building the worst-case input and doing the dot product in 128 bits, or
// by searching for the smallest accumulator width in a loop.

#include "a2q/quant/bounds.hpp"
#include "a2q/quant/weight_repair.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace {

__extension__ typedef __int128 i128;

using a2q::AccumulatorRange;
using a2q::InputRange;

i128 pow2(int e) {
  return i128{1} << e;
}

/// Smallest P >= 1 with -2^(P-1) <= v <= 2^(P-1) - 1, by search.
int brute_bits(i128 v) {
  int P = 1;
  while (v < -pow2(P - 1) || v > pow2(P - 1) - 1)
    ++P;
  return P;
}

int brute_bits(i128 lo, i128 hi) {
  return std::max(brute_bits(lo), brute_bits(hi));
}

/// Calls f(v) for every vector v of length k with entries in [lo, hi] (odometer order).
template <class T, class F>
void for_each_vector(int k, T lo, T hi, F&& f) {
  std::vector<T> v(static_cast<std::size_t>(k), lo);
  while (true) {
    f(std::as_const(v));
    std::size_t i = 0;
    while (i < v.size() && v[i] == hi) {
      v[i] = lo;
      ++i;
    }
    if (i == v.size())
      return;
    ++v[i];
  }
}

i128 dot(const std::vector<std::int32_t>& q, const std::vector<std::int64_t>& x) {
  i128 s = 0;
  for (std::size_t i = 0; i < q.size(); ++i)
    s += i128{q[i]} * x[i];
  return s;
}

/// Input range of N-bit integers, written out independently of InputRange::of_bits.
InputRange bits_range(int N, bool is_signed) {
  if (is_signed)
    return {-(std::int64_t{1} << (N - 1)), (std::int64_t{1} << (N - 1)) - 1};
  return {0, (std::int64_t{1} << N) - 1};
}

struct Extremes {
  i128 lo = std::numeric_limits<std::int64_t>::max();
  i128 hi = std::numeric_limits<std::int64_t>::min();
  void add(i128 v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
};

/// Uniform integer in [lo, hi]; the modulo bias is irrelevant here and the result is the same on every
/// standard library (std::uniform_int_distribution is not).
std::int64_t uniform(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {
  const auto span = static_cast<std::uint64_t>(hi - lo) + 1;
  return lo + static_cast<std::int64_t>(rng() % span);
}

/// The spec's floating-point formula, as a naive implementation would write it.
int naive_datatype_bits(std::int64_t K, int N, int M, bool input_signed) {
  const double alpha = std::log2(static_cast<double>(K)) + N + M - 1 - (input_signed ? 1 : 0);
  return static_cast<int>(std::ceil(alpha + std::log2(1.0 + std::exp2(-alpha)) + 1.0));
}

/// Smallest P with 2^(P-1) - 1 >= K · 2^(N+M-1-s), by search in 128 bits.
int searched_datatype_bits(std::int64_t K, int N, int M, bool input_signed) {
  const i128 bound = i128{K} << (N + M - 1 - (input_signed ? 1 : 0));
  int P = 1;
  while (pow2(P - 1) - 1 < bound)
    ++P;
  return P;
}

} // namespace

namespace Catch {
template <>
struct StringMaker<i128> {
  static std::string convert(i128 v) { return a2q::detail::to_string(v); }
};
} // namespace Catch

// ---------------------------------------------------------------------------------------------------
// Compile-time use.

namespace {
constexpr std::array<std::int32_t, 4> kWeights{3, -2, 0, 5};
constexpr InputRange kU4 = InputRange::of_bits(4, false);
} // namespace

static_assert(a2q::datatype_bound_bits(576, 8, 8, false) == 26, "spec §1 example, unsigned");
static_assert(a2q::datatype_bound_bits(576, 8, 8, true) == 25, "spec §1 example, signed");
static_assert(a2q::datatype_bound_bits(std::int64_t{1} << 20, 16, 15, false) == 52, "exact at 2^20");
static_assert(a2q::a2q_l1_limit(16, 8, false) == 32767.0 / 256.0);
static_assert(a2q::a2q_plus_l1_limit(12, 4) == 4094.0 / 15.0);
static_assert(kU4.lo == 0 && kU4.hi == 15);
static_assert(a2q::worst_case_accumulator(kWeights, kU4) == AccumulatorRange{-30, 120});
static_assert(a2q::worst_case_accumulator(kWeights, kU4, -7) == AccumulatorRange{-37, 113});
static_assert(a2q::required_accumulator_bits(kWeights, kU4) == 8);
static_assert(a2q::required_accumulator_bits(AccumulatorRange{-128, 127}) == 8);
static_assert(a2q::required_accumulator_bits(AccumulatorRange{-129, 0}) == 9);
static_assert(a2q::a2q_required_bits(10, 4, false) == 9); // 10 · 16 = 160 <= 255
static_assert(a2q::fits_accumulator(AccumulatorRange{-30, 120}, 8));
static_assert(!a2q::fits_accumulator(AccumulatorRange{-30, 128}, 8));
static_assert(a2q::tiled_accumulator_bits(kWeights, kU4, 2).tiles == 2);
static_assert(a2q::detail::ceil_log2(1) == 0 && a2q::detail::ceil_log2(5) == 3 &&
              a2q::detail::ceil_log2(8) == 3);

// ---------------------------------------------------------------------------------------------------
// Exhaustive brute force over tiny shapes.

TEST_CASE("worst case is exact and the A2Q / A2Q+ limits are sound, exhaustively", "[quant][bounds]") {
  for (int K = 1; K <= 3; ++K)
    for (int N = 1; N <= 3; ++N)
      for (int M = 2; M <= 4; ++M)
        for (const bool is_signed : {false, true}) {
          INFO("K = " << K << ", N = " << N << ", M = " << M << ", signed = " << is_signed);
          const InputRange x = InputRange::of_bits(N, is_signed);
          const InputRange expected = bits_range(N, is_signed);
          REQUIRE(x.lo == expected.lo);
          REQUIRE(x.hi == expected.hi);
          const std::int32_t qmax = (1 << (M - 1)) - 1; // narrow range

          for_each_vector<std::int32_t>(K, -qmax, qmax, [&](const std::vector<std::int32_t>& q) {
            Extremes brute;
            for_each_vector<std::int64_t>(K, x.lo, x.hi,
                                          [&](const std::vector<std::int64_t>& v) { brute.add(dot(q, v)); });
            const AccumulatorRange wc = a2q::worst_case_accumulator(q, x);
            REQUIRE(wc.lo == brute.lo); // tight: both ends are reached by some input
            REQUIRE(wc.hi == brute.hi);
            REQUIRE(a2q::required_accumulator_bits(q, x) == brute_bits(brute.lo, brute.hi));

            std::int64_t l1 = 0, positive = 0, negative = 0;
            for (const std::int32_t w : q) {
              l1 += std::abs(w);
              (w > 0 ? positive : negative) += std::abs(w);
            }
            const i128 max_abs = std::max(-brute.lo, brute.hi);
            for (int P = 2; P <= 10; ++P) {
              const i128 limit = pow2(P - 1) - 1;
              if (static_cast<double>(l1) <= a2q::a2q_l1_limit(P, N, is_signed))
                REQUIRE(max_abs <= limit);
              const double half_z = a2q::a2q_plus_l1_limit(P, N) / 2.0;
              if (static_cast<double>(positive) <= half_z && static_cast<double>(negative) <= half_z)
                REQUIRE(max_abs <= limit);
            }

            // Per-channel A2Q width: the smallest P for the Hölder bound, never below the exact width.
            const i128 holder = i128{l1} << (N - (is_signed ? 1 : 0));
            int P = 1;
            while (pow2(P - 1) - 1 < holder)
              ++P;
            REQUIRE(a2q::a2q_required_bits(l1, N, is_signed) == P);
            REQUIRE(P >= a2q::required_accumulator_bits(q, x));
          });
        }
}

TEST_CASE("data-type bound is sound and tight over the full weight range", "[quant][bounds]") {
  for (int K = 1; K <= 3; ++K)
    for (int N = 1; N <= 3; ++N)
      for (int M = 2; M <= 4; ++M)
        for (const bool is_signed : {false, true}) {
          INFO("K = " << K << ", N = " << N << ", M = " << M << ", signed = " << is_signed);
          const InputRange x = bits_range(N, is_signed);
          // The spec's bound uses |q| <= 2^(M-1), so enumerate the full two's-complement weight range.
          const std::int32_t qlo = -(1 << (M - 1));
          const std::int32_t qhi = (1 << (M - 1)) - 1;
          Extremes brute;
          for_each_vector<std::int32_t>(K, qlo, qhi, [&](const std::vector<std::int32_t>& q) {
            for_each_vector<std::int64_t>(K, x.lo, x.hi,
                                          [&](const std::vector<std::int64_t>& v) { brute.add(dot(q, v)); });
          });

          const int P = a2q::datatype_bound_bits(K, N, M, is_signed);
          const i128 max_abs = std::max(-brute.lo, brute.hi);
          REQUIRE(max_abs <= pow2(P - 1) - 1); // sound, in the spec's |acc| <= 2^(P-1)-1 sense
          // The formula is the smallest P for its own bound K · 2^(N-s) · 2^(M-1).
          REQUIRE(i128{K} << (N + M - 1 - (is_signed ? 1 : 0)) > pow2(P - 2) - 1);
          if (is_signed) {
            // x = -2^(N-1), q = -2^(M-1) reaches K · 2^(N+M-2) exactly: one bit less overflows.
            REQUIRE(brute.hi == i128{K} << (N + M - 2));
            REQUIRE(brute_bits(brute.lo, brute.hi) == P);
            REQUIRE(brute.hi > pow2(P - 2) - 1);
          } else {
            // Unsigned inputs stop at 2^N - 1, not 2^N, so the bound can be one bit loose; two bits less
            // always overflows, and one bit less does whenever K · (2^N - 1) >= 2^(bitlen(K) + N - 1).
            REQUIRE(max_abs > pow2(P - 3) - 1);
            const int bitlen_k = brute_bits(K) - 1;
            if (i128{K} * ((1 << N) - 1) >= pow2(bitlen_k + N - 1))
              REQUIRE(max_abs > pow2(P - 2) - 1);
          }
        }
}

// ---------------------------------------------------------------------------------------------------
// Boundaries and negative controls.

TEST_CASE("A2Q limit: floor(T) passes, one more overflows", "[quant][bounds]") {
  for (int N = 1; N <= 8; ++N)
    for (int P = N + 1; P <= 30; ++P) {
      INFO("N = " << N << ", P = " << P);
      const i128 max_acc = pow2(P - 1) - 1;

      // Signed inputs: Hölder is reached by all-negative weights and x_i = -2^(N-1).
      {
        const double T = a2q::a2q_l1_limit(P, N, true);
        REQUIRE(std::ldexp(T, N - 1) == static_cast<double>(max_acc));
        const auto floor_t = static_cast<std::int64_t>(max_acc >> (N - 1));
        REQUIRE(static_cast<double>(floor_t) <= T);
        REQUIRE(static_cast<double>(floor_t + 1) > T);

        // Spread floor(T) over three negative weights.
        std::vector<std::int32_t> q(3, static_cast<std::int32_t>(-(floor_t / 3)));
        q[0] -= static_cast<std::int32_t>(floor_t % 3);
        const InputRange x = InputRange::of_bits(N, true);
        const std::vector<std::int64_t> worst(q.size(), x.lo);
        REQUIRE(dot(q, worst) == i128{floor_t} << (N - 1));
        REQUIRE(dot(q, worst) <= max_acc);
        REQUIRE(a2q::fits_accumulator(a2q::worst_case_accumulator(q, x), P));
        REQUIRE(a2q::a2q_required_bits(floor_t, N, true) <= P);

        q[1] -= 1; // one more
        REQUIRE(dot(q, worst) > max_acc);
        REQUIRE_FALSE(a2q::fits_accumulator(a2q::worst_case_accumulator(q, x), P));
        REQUIRE(a2q::required_accumulator_bits(q, x) == P + 1);
        REQUIRE(a2q::a2q_required_bits(floor_t + 1, N, true) > P);
      }

      // Unsigned inputs: T assumes |x| <= 2^N, the exact threshold is floor((2^(P-1)-1) / (2^N-1)).
      {
        const double T = a2q::a2q_l1_limit(P, N, false);
        REQUIRE(std::ldexp(T, N) == static_cast<double>(max_acc));
        const auto floor_t = static_cast<std::int64_t>(max_acc >> N);
        REQUIRE(static_cast<double>(floor_t) <= T);
        REQUIRE(static_cast<double>(floor_t + 1) > T);
        REQUIRE(a2q::a2q_required_bits(floor_t, N, false) <= P);
        REQUIRE(a2q::a2q_required_bits(floor_t + 1, N, false) > P);

        const auto exact = static_cast<std::int64_t>(max_acc / ((i128{1} << N) - 1));
        REQUIRE(exact >= floor_t);
        const InputRange x = InputRange::of_bits(N, false);
        std::vector<std::int32_t> q{static_cast<std::int32_t>(exact)};
        REQUIRE(a2q::fits_accumulator(a2q::worst_case_accumulator(q, x), P));
        q[0] += 1;
        const std::vector<std::int64_t> worst{x.hi};
        REQUIRE(dot(q, worst) > max_acc);
        REQUIRE_FALSE(a2q::fits_accumulator(a2q::worst_case_accumulator(q, x), P));
      }
    }
}

TEST_CASE("A2Q+ limit: Z/2 per sign passes, one more overflows", "[quant][bounds]") {
  for (int N = 1; N <= 8; ++N)
    for (int P = N + 2; P <= 30; ++P)
      for (const bool is_signed : {false, true}) {
        INFO("N = " << N << ", P = " << P << ", signed = " << is_signed);
        const i128 max_acc = pow2(P - 1) - 1;
        const double Z = a2q::a2q_plus_l1_limit(P, N);
        REQUIRE_THAT(Z * static_cast<double>((1 << N) - 1),
                     Catch::Matchers::WithinRel(static_cast<double>(2 * max_acc), 1e-14));
        const auto half = static_cast<std::int32_t>(max_acc / ((1 << N) - 1)); // floor(Z/2)
        REQUIRE(static_cast<double>(half) <= Z / 2);
        REQUIRE(static_cast<double>(half + 1) > Z / 2);

        const InputRange x = InputRange::of_bits(N, is_signed);
        std::vector<std::int32_t> q{half / 2, half - half / 2, -half};
        REQUIRE(a2q::fits_accumulator(a2q::worst_case_accumulator(q, x), P));

        q[0] += 1;
        q[2] -= 1; // both halves one over
        std::vector<std::int64_t> worst;
        for (const std::int32_t w : q)
          worst.push_back(w > 0 ? x.hi : x.lo);
        REQUIRE(dot(q, worst) > max_acc);
        REQUIRE_FALSE(a2q::fits_accumulator(a2q::worst_case_accumulator(q, x), P));
      }
}

TEST_CASE("A2Q+ pitfall: ||q||_1 <= Z is not a sound check", "[quant][bounds]") {
  const std::vector<std::int32_t> q{272};
  const double Z = a2q::a2q_plus_l1_limit(12, 4);
  REQUIRE(272.0 <= Z); // the naive check passes
  REQUIRE(272.0 > Z / 2);
  const InputRange x = InputRange::of_bits(4, false);
  REQUIRE(a2q::worst_case_accumulator(q, x) == AccumulatorRange{0, 15 * 272});
  REQUIRE(15 * 272 > (1 << 11) - 1);
  REQUIRE(a2q::required_accumulator_bits(q, x) > 12);
  REQUIRE_FALSE(a2q::fits_accumulator(a2q::worst_case_accumulator(q, x), 12));
}

TEST_CASE("extreme operands: 64-bit results and overflow_error", "[quant][bounds]") {
  constexpr std::int64_t min64 = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t max64 = std::numeric_limits<std::int64_t>::max();
  constexpr std::int32_t min32 = std::numeric_limits<std::int32_t>::min();
  constexpr std::int32_t max32 = std::numeric_limits<std::int32_t>::max();

  const std::vector<std::int32_t> one{1};
  REQUIRE(a2q::worst_case_accumulator(one, {min64, max64}) == AccumulatorRange{min64, max64});
  REQUIRE(a2q::required_accumulator_bits(one, {min64, max64}) == 64);
  REQUIRE_THROWS_AS(a2q::worst_case_accumulator(std::vector<std::int32_t>{-1}, {min64, max64}),
                    a2q::overflow_error);
  REQUIRE_THROWS_WITH(a2q::worst_case_accumulator(std::vector<std::int32_t>{-1}, {min64, max64}),
                      Catch::Matchers::Contains("9223372036854775808"));
  REQUIRE_THROWS_AS(a2q::worst_case_accumulator(one, {min64, max64}, 1), a2q::overflow_error);
  REQUIRE_THROWS_AS(a2q::tiled_accumulator_bits(std::vector<std::int32_t>{1, 1}, {0, max64}, 1),
                    a2q::overflow_error);

  const std::vector<std::int32_t> q{min32, max32};
  const InputRange x = InputRange::of_bits(32, true);
  const i128 hi = i128{max32} * x.hi + i128{min32} * x.lo;
  const i128 lo = i128{max32} * x.lo + i128{min32} * x.hi;
  const AccumulatorRange wc = a2q::worst_case_accumulator(q, x);
  REQUIRE(wc.hi == hi);
  REQUIRE(wc.lo == lo);
  REQUIRE(a2q::required_accumulator_bits(q, x) == brute_bits(lo, hi));
  REQUIRE(a2q::fits_accumulator(AccumulatorRange{min64, max64}, 64));
  REQUIRE_FALSE(a2q::fits_accumulator(AccumulatorRange{min64, max64}, 63));
}

// ---------------------------------------------------------------------------------------------------
// Large K.

TEST_CASE("random large-K weights against constructed worst-case inputs", "[quant][bounds]") {
  std::mt19937_64 rng(0xa2c0ffee);
  for (int trial = 0; trial < 40; ++trial) {
    const auto K = uniform(rng, 1, trial < 5 ? 100000 : 5000);
    const int M = static_cast<int>(uniform(rng, 2, 16));
    const int N = static_cast<int>(uniform(rng, 1, 16));
    const bool is_signed = (rng() & 1) != 0;
    const bool sparse = (rng() & 1) != 0;
    const std::int32_t qmax = (1 << (M - 1)) - 1;
    std::vector<std::int32_t> q(static_cast<std::size_t>(K));
    for (auto& w : q)
      w = sparse && rng() % 4 != 0 ? 0 : static_cast<std::int32_t>(uniform(rng, -qmax, qmax));

    // Every third trial uses an arbitrary range, possibly not containing 0.
    InputRange x = bits_range(N, is_signed);
    if (trial % 3 == 2) {
      const std::int64_t a = uniform(rng, -100000, 100000), b = uniform(rng, -100000, 100000);
      x = {std::min(a, b), std::max(a, b)};
    }
    INFO("trial " << trial << ": K = " << K << ", M = " << M << ", x = [" << x.lo << ", " << x.hi << "]");

    std::vector<std::int64_t> to_max, to_min;
    for (const std::int32_t w : q) {
      to_max.push_back(w > 0 ? x.hi : x.lo);
      to_min.push_back(w > 0 ? x.lo : x.hi);
    }
    const i128 hi = dot(q, to_max);
    const i128 lo = dot(q, to_min);
    const AccumulatorRange wc = a2q::worst_case_accumulator(q, x);
    REQUIRE(wc.lo == lo);
    REQUIRE(wc.hi == hi);
    REQUIRE(a2q::required_accumulator_bits(q, x) == brute_bits(lo, hi));
    const std::int64_t bias = uniform(rng, -1000000, 1000000);
    REQUIRE(a2q::worst_case_accumulator(q, x, bias) == AccumulatorRange{wc.lo + bias, wc.hi + bias});
    REQUIRE(a2q::required_accumulator_bits(q, x, bias) == brute_bits(lo + bias, hi + bias));

    // Random inputs stay inside, and so do their partial sums when 0 is a possible input.
    for (int sample = 0; sample < 3; ++sample) {
      i128 acc = bias;
      bool partials_inside = true;
      for (std::size_t i = 0; i < q.size(); ++i) {
        acc += i128{q[i]} * uniform(rng, x.lo, x.hi);
        partials_inside = partials_inside && acc >= lo + bias && acc <= hi + bias;
      }
      REQUIRE(acc >= lo + bias);
      REQUIRE(acc <= hi + bias);
      if (x.lo <= 0 && x.hi >= 0)
        REQUIRE(partials_inside);
    }

    if (x.lo <= 0 && x.hi >= 0) {
      std::int64_t l1 = 0;
      for (const std::int32_t w : q)
        l1 += std::abs(w);
      if (x.lo == bits_range(N, is_signed).lo && x.hi == bits_range(N, is_signed).hi)
        REQUIRE(a2q::a2q_required_bits(l1, N, is_signed) >= a2q::required_accumulator_bits(q, x));

      // Tiles: inner width = widest tile, computed from per-tile constructed inputs.
      const std::int64_t tile = uniform(rng, 1, K);
      const auto bits = a2q::tiled_accumulator_bits(q, x, tile, bias);
      const std::int64_t tiles = (K + tile - 1) / tile;
      REQUIRE(bits.tiles == tiles);
      int inner = 1;
      for (std::int64_t t = 0; t < tiles; ++t) {
        const auto b = static_cast<std::size_t>(t * tile);
        const auto e = static_cast<std::size_t>(std::min(K, (t + 1) * tile));
        const std::vector<std::int32_t> qt(q.begin() + static_cast<std::ptrdiff_t>(b),
                                           q.begin() + static_cast<std::ptrdiff_t>(e));
        const std::vector<std::int64_t> xt_max(to_max.begin() + static_cast<std::ptrdiff_t>(b),
                                               to_max.begin() + static_cast<std::ptrdiff_t>(e));
        const std::vector<std::int64_t> xt_min(to_min.begin() + static_cast<std::ptrdiff_t>(b),
                                               to_min.begin() + static_cast<std::ptrdiff_t>(e));
        inner = std::max(inner, brute_bits(dot(qt, xt_min), dot(qt, xt_max)));
      }
      REQUIRE(bits.inner_bits == inner);
      // 0 is a possible input, so every prefix lies between the bias and the full-range ends.
      REQUIRE(bits.outer_bits ==
              brute_bits(std::min<i128>(bias, lo + bias), std::max<i128>(bias, hi + bias)));
      int ceil_log2 = 0;
      while (pow2(ceil_log2) < tiles)
        ++ceil_log2;
      REQUIRE(bits.outer_bits_formula == inner + ceil_log2);
      REQUIRE(a2q::tiled_accumulator_bits(q, x, tile).outer_bits <= bits.outer_bits_formula);

      const auto whole = a2q::tiled_accumulator_bits(q, x, K, bias);
      REQUIRE(whole.tiles == 1);
      REQUIRE(whole.inner_bits == a2q::required_accumulator_bits(q, x));
      REQUIRE(whole.outer_bits == std::max(brute_bits(bias), a2q::required_accumulator_bits(q, x, bias)));
    }
  }
}

TEST_CASE("data-type bound is exact up to K = 2^40 where the floating-point formula is not",
          "[quant][bounds]") {
  REQUIRE(a2q::datatype_bound_bits(576, 8, 8, false) == 26);
  REQUIRE(a2q::datatype_bound_bits(576, 8, 8, true) == 25);
  REQUIRE(a2q::datatype_bound_bits(std::int64_t{1} << 20, 16, 15, false) == 52);
  REQUIRE(searched_datatype_bits(std::int64_t{1} << 20, 16, 15, false) == 52);
  // alpha = 50: log2(1 + 2^-50) is below half an ulp of 51, so the double formula rounds down.
  CHECK(naive_datatype_bits(std::int64_t{1} << 20, 16, 15, false) == 51);

  std::vector<std::int64_t> ks;
  for (int k = 0; k <= 40; ++k)
    for (const std::int64_t d : {-1, 0, 1})
      if ((std::int64_t{1} << k) + d >= 1)
        ks.push_back((std::int64_t{1} << k) + d);
  std::mt19937_64 rng(40);
  for (int i = 0; i < 100; ++i)
    ks.push_back(uniform(rng, 1, std::int64_t{1} << 40));

  int naive_wrong = 0;
  for (const std::int64_t K : ks)
    for (const int N : {1, 2, 4, 8, 15, 16})
      for (const int M : {1, 2, 4, 8, 15, 16})
        for (const bool is_signed : {false, true}) {
          INFO("K = " << K << ", N = " << N << ", M = " << M << ", signed = " << is_signed);
          const int P = a2q::datatype_bound_bits(K, N, M, is_signed);
          REQUIRE(P == searched_datatype_bits(K, N, M, is_signed));
          naive_wrong += naive_datatype_bits(K, N, M, is_signed) != P ? 1 : 0;
        }
  INFO("the naive double formula differs from the exact bound in " << naive_wrong << " of " << ks.size() * 72
                                                                   << " cases");
  CHECK(naive_wrong > 0);
}

TEST_CASE("A2Q per-channel width is exact for large L1 norms", "[quant][bounds]") {
  std::mt19937_64 rng(2);
  for (int i = 0; i < 2000; ++i) {
    const std::int64_t l1 =
        i < 41 ? (std::int64_t{1} << i) - (i % 2) : uniform(rng, 0, std::int64_t{1} << 40);
    const int N = static_cast<int>(uniform(rng, 1, 16));
    const bool is_signed = (rng() & 1) != 0;
    const i128 holder = i128{l1} << (N - (is_signed ? 1 : 0));
    int P = 1;
    while (pow2(P - 1) - 1 < holder)
      ++P;
    INFO("l1 = " << l1 << ", N = " << N);
    REQUIRE(a2q::a2q_required_bits(l1, N, is_signed) == P);
  }
}

// ---------------------------------------------------------------------------------------------------
// Bias and tiles, exhaustively, by simulating the registers.

TEST_CASE("bias overload and tiled widths match register simulation", "[quant][bounds]") {
  const std::vector<InputRange> ranges{bits_range(1, false), bits_range(2, false), bits_range(2, true),
                                       InputRange{1, 3}, InputRange{-2, -1}};
  std::mt19937_64 rng(6);
  for (int K = 1; K <= 4; ++K) {
    // All weight vectors in [-3, 3] for K <= 3, a random sample for K = 4.
    std::vector<std::vector<std::int32_t>> weights;
    if (K <= 3)
      for_each_vector<std::int32_t>(K, -3, 3,
                                    [&](const std::vector<std::int32_t>& q) { weights.push_back(q); });
    else
      for (int i = 0; i < 80; ++i) {
        std::vector<std::int32_t> q;
        for (int j = 0; j < K; ++j)
          q.push_back(static_cast<std::int32_t>(uniform(rng, -3, 3)));
        weights.push_back(q);
      }

    for (const InputRange& x : ranges)
      for (const std::int64_t bias : {-5, 0, 3})
        for (const auto& q : weights) {
          // Bias overload: every final value bias + x·q.
          Extremes final_sum;
          for_each_vector<std::int64_t>(
              K, x.lo, x.hi, [&](const std::vector<std::int64_t>& v) { final_sum.add(bias + dot(q, v)); });
          REQUIRE(a2q::worst_case_accumulator(q, x, bias) ==
                  AccumulatorRange{static_cast<std::int64_t>(final_sum.lo),
                                   static_cast<std::int64_t>(final_sum.hi)});
          REQUIRE(a2q::required_accumulator_bits(q, x, bias) == brute_bits(final_sum.lo, final_sum.hi));

          for (std::int64_t tile = 1; tile <= K; ++tile) {
            INFO("K = " << K << ", x = [" << x.lo << ", " << x.hi << "], bias = " << bias
                        << ", tile = " << tile);
            Extremes inner, outer, flat;
            for_each_vector<std::int64_t>(K, x.lo, x.hi, [&](const std::vector<std::int64_t>& v) {
              i128 out = bias;
              i128 flat_acc = bias;
              outer.add(out);
              flat.add(flat_acc);
              for (std::size_t begin = 0; begin < q.size(); begin += static_cast<std::size_t>(tile)) {
                i128 in = 0;
                inner.add(in);
                for (std::size_t i = begin; i < std::min(q.size(), begin + static_cast<std::size_t>(tile));
                     ++i) {
                  in += i128{q[i]} * v[i];
                  inner.add(in);
                  flat_acc += i128{q[i]} * v[i];
                  flat.add(flat_acc);
                }
                out += in;
                outer.add(out);
              }
            });
            const auto bits = a2q::tiled_accumulator_bits(q, x, tile, bias);
            REQUIRE(bits.tiles == (K + tile - 1) / tile);
            // Every partial sum fits, and one bit less fails for some input.
            REQUIRE(brute_bits(inner.lo) <= bits.inner_bits);
            REQUIRE(brute_bits(inner.hi) <= bits.inner_bits);
            REQUIRE(brute_bits(inner.lo, inner.hi) == bits.inner_bits);
            REQUIRE(brute_bits(outer.lo) <= bits.outer_bits);
            REQUIRE(brute_bits(outer.hi) <= bits.outer_bits);
            REQUIRE(brute_bits(outer.lo, outer.hi) == bits.outer_bits);
            int ceil_log2 = 0;
            while ((std::int64_t{1} << ceil_log2) < bits.tiles)
              ++ceil_log2;
            REQUIRE(bits.outer_bits_formula == bits.inner_bits + ceil_log2);

            if (x.lo <= 0 && x.hi >= 0) {
              // Containing 0: partial sums of the flat accumulator stay inside the bias range.
              REQUIRE(flat.lo >= final_sum.lo);
              REQUIRE(flat.hi <= final_sum.hi);
              if (bias == 0)
                REQUIRE(bits.outer_bits <= bits.outer_bits_formula);
            }
          }
        }
  }
}

// ---------------------------------------------------------------------------------------------------
// Invalid arguments.

TEST_CASE("invalid arguments throw config_error naming the value", "[quant][bounds]") {
  using a2q::config_error;
  using Catch::Matchers::Contains;
  const std::vector<std::int32_t> q{1, -2};
  const std::vector<std::int32_t> empty;
  const InputRange x{0, 3};
  const InputRange reversed{3, 2};

  REQUIRE_THROWS_AS(a2q::datatype_bound_bits(0, 8, 8, false), config_error);
  REQUIRE_THROWS_WITH(a2q::datatype_bound_bits(-7, 8, 8, false), Contains("-7"));
  REQUIRE_THROWS_AS(a2q::datatype_bound_bits(10, 0, 8, false), config_error);
  REQUIRE_THROWS_WITH(a2q::datatype_bound_bits(10, 33, 8, false), Contains("33"));
  REQUIRE_THROWS_AS(a2q::datatype_bound_bits(10, 8, 0, true), config_error);
  REQUIRE_THROWS_AS(a2q::datatype_bound_bits(10, 8, 33, true), config_error);

  REQUIRE_THROWS_AS(a2q::a2q_l1_limit(1, 8, false), config_error);
  REQUIRE_THROWS_WITH(a2q::a2q_l1_limit(65, 8, false), Contains("65"));
  REQUIRE_THROWS_AS(a2q::a2q_l1_limit(16, 0, false), config_error);
  REQUIRE_THROWS_AS(a2q::a2q_plus_l1_limit(1, 8), config_error);
  REQUIRE_THROWS_AS(a2q::a2q_plus_l1_limit(65, 8), config_error);
  REQUIRE_THROWS_AS(a2q::a2q_plus_l1_limit(16, 33), config_error);

  REQUIRE_THROWS_AS(InputRange::of_bits(0, true), config_error);
  REQUIRE_THROWS_WITH(InputRange::of_bits(40, false), Contains("40"));

  REQUIRE_THROWS_AS(a2q::worst_case_accumulator(empty, x), config_error);
  REQUIRE_THROWS_AS(a2q::worst_case_accumulator(empty, x, 5), config_error);
  REQUIRE_THROWS_WITH(a2q::worst_case_accumulator(q, reversed), Contains("3") && Contains("2"));
  REQUIRE_THROWS_AS(a2q::worst_case_accumulator(q, reversed, 5), config_error);
  REQUIRE_THROWS_AS(a2q::required_accumulator_bits(empty, x), config_error);
  REQUIRE_THROWS_AS(a2q::required_accumulator_bits(q, reversed, 1), config_error);
  REQUIRE_THROWS_WITH(a2q::required_accumulator_bits(AccumulatorRange{11, 10}), Contains("11"));

  REQUIRE_THROWS_WITH(a2q::a2q_required_bits(-4, 8, false), Contains("-4"));
  REQUIRE_THROWS_AS(a2q::a2q_required_bits(4, 0, false), config_error);
  REQUIRE_THROWS_AS(a2q::a2q_required_bits(4, 33, true), config_error);

  REQUIRE_THROWS_AS(a2q::fits_accumulator(AccumulatorRange{0, 1}, 1), config_error);
  REQUIRE_THROWS_AS(a2q::fits_accumulator(AccumulatorRange{0, 1}, 65), config_error);
  REQUIRE_THROWS_AS(a2q::fits_accumulator(AccumulatorRange{1, 0}, 16), config_error);

  REQUIRE_THROWS_AS(a2q::tiled_accumulator_bits(empty, x, 4), config_error);
  REQUIRE_THROWS_AS(a2q::tiled_accumulator_bits(q, reversed, 4), config_error);
  REQUIRE_THROWS_AS(a2q::tiled_accumulator_bits(q, x, 0), config_error);
  REQUIRE_THROWS_WITH(a2q::tiled_accumulator_bits(q, x, -3), Contains("-3"));

  REQUIRE_THROWS_AS(a2q::detail::ceil_log2(0), config_error);
  REQUIRE_THROWS_AS(a2q::detail::ceil_log2(-5), config_error);
}

TEST_CASE("repair: a bias reservation at the edge of int64 is compared exactly", "[quant][bounds]") {
  // worst case [0, 255] plus a reservation of 2^63 - 101 on both ends: 2^63 + 154 does not fit 64 bits,
  // and int64 arithmetic would have overflowed (undefined behaviour) on the way to that answer.
  const std::array<std::int32_t, 1> q{1};
  const InputRange x{0, 255};
  const std::int64_t reserved = std::numeric_limits<std::int64_t>::max() - 100;
  CHECK_FALSE(a2q::detail::channel_fits(q, x, reserved, 64));
  CHECK(a2q::detail::channel_fits(q, x, reserved - 200, 64)); // 2^63 - 46 fits
  std::array<std::int32_t, 1> repaired = q;
  CHECK(a2q::detail::repair_channel(repaired, x, reserved, 64) == 1); // to 0: then the bias alone fits
  CHECK(repaired[0] == 0);
}
