#include "a2q/core/rng.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

TEST_CASE("rng streams are reproducible and seed-dependent", "[core][rng]") {
  a2q::Rng a(123), b(123), c(124);
  for (int i = 0; i < 100; ++i) {
    const auto x = a();
    CHECK(x == b());
    (void)c;
  }
  a2q::Rng d(123), e(124);
  int equal = 0;
  for (int i = 0; i < 100; ++i)
    equal += d() == e();
  CHECK(equal == 0);
  CHECK(a.seed() == 123);
}

TEST_CASE("rng matches the mt19937_64 reference stream", "[core][rng]") {
  // The C++ standard fixes the 10000th output of a default-seeded mt19937_64 (seed 5489).
  a2q::Rng rng(5489);
  std::uint64_t x = 0;
  for (int i = 0; i < 10000; ++i)
    x = rng();
  CHECK(x == 9981545732273789042ULL);
}

TEST_CASE("uniform01 and uniform stay in range with the right mean", "[core][rng]") {
  a2q::Rng rng(1);
  double sum = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform01();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    sum += u;
  }
  CHECK(std::abs(sum / n - 0.5) < 0.005);
  for (int i = 0; i < 1000; ++i) {
    const double v = rng.uniform(-2.0, 3.0);
    REQUIRE(v >= -2.0);
    REQUIRE(v < 3.0);
  }
  CHECK_THROWS_AS(rng.uniform(1.0, 0.0), a2q::config_error);
}

TEST_CASE("uniform_int is unbiased over a small range and covers the ends", "[core][rng]") {
  a2q::Rng rng(2);
  std::vector<int> counts(7, 0);
  const int n = 70000;
  for (int i = 0; i < n; ++i) {
    const auto k = rng.uniform_int(-3, 3);
    REQUIRE(k >= -3);
    REQUIRE(k <= 3);
    ++counts[static_cast<std::size_t>(k + 3)];
  }
  for (int c : counts)
    CHECK(std::abs(c - n / 7) < 500); // ~5 standard deviations
  CHECK(rng.uniform_int(5, 5) == 5);
  CHECK_THROWS_AS(rng.uniform_int(2, 1), a2q::config_error);
  CHECK_THROWS_AS(rng.below(0), a2q::config_error);
  // The full int64 range must not overflow.
  (void)rng.uniform_int(INT64_MIN, INT64_MAX);
}

TEST_CASE("normal has the requested moments", "[core][rng]") {
  a2q::Rng rng(3);
  const int n = 200000;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < n; ++i) {
    const double x = rng.normal(1.5, 2.0);
    sum += x;
    sum_sq += x * x;
  }
  const double mean = sum / n;
  const double var = sum_sq / n - mean * mean;
  CHECK(std::abs(mean - 1.5) < 0.03);
  CHECK(std::abs(var - 4.0) < 0.08);
  CHECK_THROWS_AS(rng.normal(0.0, -1.0), a2q::config_error);
}

TEST_CASE("bernoulli frequency and argument checks", "[core][rng]") {
  a2q::Rng rng(4);
  int hits = 0;
  for (int i = 0; i < 100000; ++i)
    hits += rng.bernoulli(0.3);
  CHECK(std::abs(hits - 30000) < 800);
  CHECK_FALSE(rng.bernoulli(0.0));
  CHECK(rng.bernoulli(1.0));
  CHECK_THROWS_AS(rng.bernoulli(1.5), a2q::config_error);
}

TEST_CASE("shuffle and permutation are permutations and reproducible", "[core][rng]") {
  a2q::Rng a(5), b(5);
  const auto p = a.permutation(1000);
  const auto q = b.permutation(1000);
  CHECK(p == q);
  auto sorted = p;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::int64_t> identity(1000);
  std::iota(identity.begin(), identity.end(), 0);
  CHECK(sorted == identity);
  CHECK_FALSE(p == identity);

  // Every position is equally likely to receive element 0 (chi-square-free sanity check).
  std::vector<int> where(4, 0);
  a2q::Rng c(6);
  for (int trial = 0; trial < 40000; ++trial) {
    std::vector<int> v{0, 1, 2, 3};
    c.shuffle(v.begin(), v.end());
    ++where[static_cast<std::size_t>(std::find(v.begin(), v.end(), 0) - v.begin())];
  }
  for (int w : where)
    CHECK(std::abs(w - 10000) < 450);
}

TEST_CASE("forked streams are reproducible and distinct", "[core][rng]") {
  const a2q::Rng parent(9);
  a2q::Rng f1 = parent.fork(1), f1b = parent.fork(1), f2 = parent.fork(2);
  CHECK(f1() == f1b());
  CHECK(f1() != f2());
}
