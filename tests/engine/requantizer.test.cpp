#include "a2q/engine/requantizer.hpp"
#include "a2q/core/rng.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <limits>

using a2q::engine::Requantizer;

namespace {

constexpr std::int64_t wide_lo = std::numeric_limits<std::int32_t>::min();
constexpr std::int64_t wide_hi = std::numeric_limits<std::int32_t>::max();

Requantizer one(double factor, double offset = 0.0, std::int64_t lo = wide_lo, std::int64_t hi = wide_hi) {
  return Requantizer(std::array<double, 1>{factor}, offset, lo, hi);
}

} // namespace

TEST_CASE("Requantizer rounds exact ties half to even", "[engine][requantizer]") {
  const Requantizer half = one(0.5);
  CHECK(half(1) == 0);
  CHECK(half(3) == 2);
  CHECK(half(5) == 2);
  CHECK(half(-1) == 0);
  CHECK(half(-3) == -2);
  CHECK(half(7) == 4);
  const Requantizer quarter = one(0.25, 0.25); // (v + 1) / 4
  CHECK(quarter(1) == 0);                      // 0.5 -> 0
  CHECK(quarter(5) == 2);                      // 1.5 -> 2
  CHECK(quarter(2) == 1);                      // 0.75 -> 1
}

TEST_CASE("Requantizer matches the real computation away from ties", "[engine][requantizer]") {
  a2q::Rng rng(3);
  for (int trial = 0; trial < 20000; ++trial) {
    const double factor = std::ldexp(rng.uniform(0.5, 1.0), static_cast<int>(rng.uniform_int(-30, 4))) *
                          (rng.bernoulli(0.2) ? -1.0 : 1.0);
    const double offset = rng.uniform(-300.0, 300.0);
    const std::int64_t v = rng.uniform_int(-(std::int64_t{1} << 24), std::int64_t{1} << 24);
    const Requantizer r = one(factor, offset);
    const long double exact = static_cast<long double>(v) * factor + offset;
    const long double distance_to_tie = std::abs(exact - std::floor(exact) - 0.5L);
    const double error_bound = std::abs(static_cast<double>(v) * factor) * 0x1p-30 + 0x1p-40;
    if (distance_to_tie > error_bound)
      CHECK(r(v) == static_cast<std::int64_t>(std::llround(exact)));
    else
      CHECK(std::abs(static_cast<long double>(r(v)) - exact) <= 0.5L + error_bound);
  }
}

TEST_CASE("Requantizer adds two branches and clamps", "[engine][requantizer]") {
  const Requantizer add(std::array<double, 2>{0.5, 0.25}, 1.0, 0, 15);
  CHECK(add(4, 8) == 5);   // 2 + 2 + 1
  CHECK(add(-40, 0) == 0); // clamped at the ReLU's 0
  CHECK(add(40, 40) == 15);
  CHECK(add(1, 2) == 2); // 0.5 + 0.5 + 1
  // A tiny factor beside a large one keeps the large one's precision.
  const Requantizer spread(std::array<double, 2>{1.0, 0x1p-50}, 0.0, wide_lo, wide_hi);
  CHECK(spread(1000, 1) == 1000);
  CHECK(spread.factor(0) == 1.0);
}

TEST_CASE("Requantizer rejects invalid settings", "[engine][requantizer]") {
  CHECK_THROWS_AS(one(std::nan("")), a2q::config_error);
  CHECK_THROWS_AS(one(0x1p40), a2q::config_error);
  CHECK_THROWS_AS(one(1.0, 0.0, 5, 4), a2q::config_error);
  CHECK_THROWS_AS(one(1.0, 0x1p41), a2q::config_error);
  CHECK_THROWS_AS(Requantizer(std::array<double, 3>{1.0, 1.0, 1.0}, 0.0, 0, 1), a2q::config_error);
  CHECK(one(0.0, 2.4)(123456) == 2); // a zero factor leaves the offset
}
