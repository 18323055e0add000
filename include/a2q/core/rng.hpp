#pragma once
/// @file
/// a2q::Rng: the one source of randomness. std::mt19937_64 is specified bit-for-bit by the standard, but
/// the standard distributions are not, so every distribution here is our own: a seed gives the same
/// numbers with libstdc++, libc++ and MSVC alike.

#include "a2q/core/error.hpp"

#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace a2q {

/// Seeded random number generator with portable distributions. Satisfies UniformRandomBitGenerator.
class Rng {
public:
  using result_type = std::uint64_t;
  static constexpr std::uint64_t default_seed = 0x5eed'a2a2'0000'0001ULL;

  /// @param seed Any value; equal seeds give equal streams on every platform.
  explicit Rng(std::uint64_t seed = default_seed) : seed_(seed), engine_(seed) {}

  static constexpr result_type min() { return std::mt19937_64::min(); }
  static constexpr result_type max() { return std::mt19937_64::max(); }
  result_type operator()() { return engine_(); }

  /// The seed this generator started from (log it, save it with models).
  std::uint64_t seed() const { return seed_; }

  /// An independent generator for sub-stream `stream` (e.g. one per data-loader worker), derived by
  /// hashing (seed, stream) so that children of different streams do not overlap in practice.
  Rng fork(std::uint64_t stream) const { return Rng(mix(seed_ ^ mix(stream + 0x9e3779b97f4a7c15ULL))); }

  /// Uniform double in [0, 1) with 53 random bits.
  double uniform01() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  /// Uniform real in [lo, hi).
  double uniform(double lo, double hi) {
    if (!(lo <= hi))
      throw config_error("Rng::uniform: lo (" + std::to_string(lo) + ") > hi (" + std::to_string(hi) + ")");
    return lo + (hi - lo) * uniform01();
  }

  /// Uniform integer in [0, n), unbiased (rejection sampling). n must be positive.
  std::uint64_t below(std::uint64_t n) {
    if (n == 0)
      throw config_error("Rng::below: the range [0, 0) is empty");
    // Reject the top partial bucket so that every residue is equally likely.
    const std::uint64_t limit =
        std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % n;
    std::uint64_t x = engine_();
    while (x >= limit)
      x = engine_();
    return x % n;
  }

  /// Uniform integer in the closed range [lo, hi].
  std::int64_t uniform_int(std::int64_t lo, std::int64_t hi) {
    if (lo > hi)
      throw config_error("Rng::uniform_int: lo (" + std::to_string(lo) + ") > hi (" + std::to_string(hi) +
                         ")");
    const auto span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
    const std::uint64_t offset =
        span == std::numeric_limits<std::uint64_t>::max() ? engine_() : below(span + 1);
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + offset);
  }

  /// Normal deviate (Box-Muller; the second value of each pair is kept for the next call).
  double normal(double mean = 0.0, double stddev = 1.0) {
    if (!(stddev >= 0.0))
      throw config_error("Rng::normal: stddev must be >= 0, got " + std::to_string(stddev));
    if (has_spare_) {
      has_spare_ = false;
      return mean + stddev * spare_;
    }
    double u1 = uniform01();
    while (u1 <= 0.0)
      u1 = uniform01();
    const double u2 = uniform01();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return mean + stddev * radius * std::cos(angle);
  }

  /// True with probability p (p in [0, 1]).
  bool bernoulli(double p) {
    if (!(p >= 0.0 && p <= 1.0))
      throw config_error("Rng::bernoulli: p must be in [0, 1], got " + std::to_string(p));
    return uniform01() < p;
  }

  /// Fisher-Yates shuffle of [first, last).
  template <std::random_access_iterator It>
  void shuffle(It first, It last) {
    const auto n = static_cast<std::uint64_t>(last - first);
    for (std::uint64_t i = n; i > 1; --i) {
      const std::uint64_t j = below(i);
      using std::swap;
      swap(first[static_cast<std::ptrdiff_t>(i - 1)], first[static_cast<std::ptrdiff_t>(j)]);
    }
  }

  /// A random permutation of 0..n-1.
  std::vector<std::int64_t> permutation(std::int64_t n) {
    if (n < 0)
      throw config_error("Rng::permutation: n must be >= 0, got " + std::to_string(n));
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
      order[static_cast<std::size_t>(i)] = i;
    shuffle(order.begin(), order.end());
    return order;
  }

private:
  // splitmix64 finaliser: a bijective avalanche mix used to derive child seeds.
  static constexpr std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  std::uint64_t seed_;
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

} // namespace a2q
