// Tests for a2q/quant/rounding.hpp: every mode against hand-picked values (ties, negatives, values at
// and beyond 2^23) and against the C library on many random values; stochastic rounding is unbiased and
// reproducible.

#include "a2q/quant/rounding.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using a2q::quant::RoundingMode;

namespace {

/// The C library's version of each deterministic mode (FE_TONEAREST for nearbyint).
float reference_round(float x, RoundingMode mode) {
  switch (mode) {
  case RoundingMode::nearest_even:
    return std::nearbyint(x);
  case RoundingMode::half_away_from_zero:
    return std::round(x);
  case RoundingMode::toward_zero:
    return std::trunc(x);
  case RoundingMode::floor:
    return std::floor(x);
  case RoundingMode::ceil:
    return std::ceil(x);
  case RoundingMode::stochastic:
    break;
  }
  return std::numeric_limits<float>::quiet_NaN();
}

const std::vector<RoundingMode> deterministic_modes{
    RoundingMode::nearest_even, RoundingMode::half_away_from_zero, RoundingMode::toward_zero,
    RoundingMode::floor, RoundingMode::ceil};

} // namespace

TEST_CASE("each rounding mode on hand-picked values", "[quant][rounding]") {
  struct Row {
    float x;
    float nearest_even, half_away, toward_zero, floor, ceil;
  };
  const float below_half = std::nextafter(0.5f, 0.0f); // 0.49999997: x + 0.5 would round up in float
  const float big_tie = 4194303.5f;                    // 2^22 - 0.5: a tie with the largest fraction bit
  const float top_tie = 8388607.5f;                    // 2^23 - 0.5: the last non-integer float
  const std::vector<Row> rows{
      {0.0f, 0, 0, 0, 0, 0},
      {0.5f, 0, 1, 0, 0, 1},
      {1.5f, 2, 2, 1, 1, 2},
      {2.5f, 2, 3, 2, 2, 3},
      {-0.5f, 0, -1, 0, -1, 0},
      {-1.5f, -2, -2, -1, -2, -1},
      {-2.5f, -2, -3, -2, -3, -2},
      {below_half, 0, 0, 0, 0, 1},
      {-below_half, 0, 0, 0, -1, 0},
      {1.2f, 1, 1, 1, 1, 2},
      {-1.2f, -1, -1, -1, -2, -1},
      {1.7f, 2, 2, 1, 1, 2},
      {-1.7f, -2, -2, -1, -2, -1},
      {3.0f, 3, 3, 3, 3, 3},
      {-3.0f, -3, -3, -3, -3, -3},
      {big_tie, 4194304, 4194304, 4194303, 4194303, 4194304},
      {-big_tie, -4194304, -4194304, -4194303, -4194304, -4194303},
      {top_tie, 8388608, 8388608, 8388607, 8388607, 8388608},
      {-top_tie, -8388608, -8388608, -8388607, -8388608, -8388607},
      {8388609.0f, 8388609, 8388609, 8388609, 8388609, 8388609},
      {1e10f, 1e10f, 1e10f, 1e10f, 1e10f, 1e10f},
      {-1e10f, -1e10f, -1e10f, -1e10f, -1e10f, -1e10f},
  };
  for (const Row& r : rows) {
    INFO("x = " << r.x);
    CHECK(a2q::quant::round_value(r.x, RoundingMode::nearest_even) == r.nearest_even);
    CHECK(a2q::quant::round_value(r.x, RoundingMode::half_away_from_zero) == r.half_away);
    CHECK(a2q::quant::round_value(r.x, RoundingMode::toward_zero) == r.toward_zero);
    CHECK(a2q::quant::round_value(r.x, RoundingMode::floor) == r.floor);
    CHECK(a2q::quant::round_value(r.x, RoundingMode::ceil) == r.ceil);
  }
}

TEST_CASE("rounding passes NaN and infinities through", "[quant][rounding]") {
  const float inf = std::numeric_limits<float>::infinity();
  for (const RoundingMode mode : deterministic_modes) {
    INFO(a2q::quant::to_string(mode));
    CHECK(std::isnan(a2q::quant::round_value(std::numeric_limits<float>::quiet_NaN(), mode)));
    CHECK(a2q::quant::round_value(inf, mode) == inf);
    CHECK(a2q::quant::round_value(-inf, mode) == -inf);
  }
}

TEST_CASE("deterministic modes match the C library on random values and ties", "[quant][rounding]") {
  a2q::Rng rng(11);
  std::vector<float> values;
  for (int i = 0; i < 4000; ++i)
    values.push_back(static_cast<float>(rng.normal(0.0, 100.0)));
  for (int k = -300; k <= 300; ++k)
    values.push_back(static_cast<float>(k) + 0.5f); // exact ties
  for (int e = 0; e < 32; ++e) {                    // every magnitude up to 2^31
    const float v = std::ldexp(1.3f, e);
    values.push_back(v);
    values.push_back(-v);
  }
  for (const RoundingMode mode : deterministic_modes) {
    INFO(a2q::quant::to_string(mode));
    std::vector<float> buffer = values;
    a2q::quant::round_inplace(buffer, mode);
    int mismatches = 0;
    for (std::size_t i = 0; i < values.size(); ++i) {
      const float expected = reference_round(values[i], mode);
      if (a2q::quant::round_value(values[i], mode) != expected || buffer[i] != expected) {
        if (mismatches++ < 5)
          FAIL_CHECK("x = " << values[i] << ": expected " << expected << ", got " << buffer[i]);
      }
    }
    CHECK(mismatches == 0);
  }
  const a2q::Tensor<float> t(a2q::Shape{2, 2}, {0.5f, 1.5f, -2.5f, 2.6f});
  CHECK(a2q::quant::round_tensor(t, RoundingMode::nearest_even) ==
        a2q::Tensor<float>(a2q::Shape{2, 2}, {0.0f, 2.0f, -2.0f, 3.0f}));
}

TEST_CASE("rounding mode names round-trip and unknown names are rejected", "[quant][rounding]") {
  for (const RoundingMode mode : a2q::quant::all_rounding_modes)
    CHECK(a2q::quant::parse_rounding_mode(a2q::quant::to_string(mode)) == mode);
  CHECK(a2q::quant::to_string(RoundingMode::toward_zero) == "toward_zero");
  CHECK_THROWS_AS(a2q::quant::parse_rounding_mode("nearest"), a2q::config_error);
  CHECK_THROWS_AS(a2q::quant::parse_rounding_mode(""), a2q::config_error);
  try {
    a2q::quant::parse_rounding_mode("round_up");
    FAIL("no exception");
  } catch (const a2q::config_error& e) {
    const std::string what = e.what();
    CHECK(what.find("'round_up'") != std::string::npos);
    for (const RoundingMode mode : a2q::quant::all_rounding_modes)
      CHECK(what.find(std::string(a2q::quant::to_string(mode))) != std::string::npos);
  }
}

TEST_CASE("stochastic rounding needs an Rng", "[quant][rounding]") {
  CHECK_THROWS_AS(a2q::quant::round_value(0.5f, RoundingMode::stochastic), a2q::config_error);
  std::vector<float> v{0.5f};
  CHECK_THROWS_AS(a2q::quant::round_inplace(v, RoundingMode::stochastic), a2q::config_error);
  // Deterministic modes accept an Rng and leave it untouched.
  a2q::Rng a(3), b(3);
  CHECK(a2q::quant::round_value(1.5f, RoundingMode::nearest_even, a) == 2.0f);
  a2q::quant::round_inplace(v, RoundingMode::floor, a);
  CHECK(v[0] == 0.0f);
  CHECK(a() == b());
}

TEST_CASE("stochastic rounding is unbiased and lands on the neighbouring integers", "[quant][rounding]") {
  const std::vector<float> xs{0.3f, -1.75f, 2.5f, 0.01f, -0.9f, 7.0f, -4.0f, 1000.125f};
  constexpr int draws = 20000;
  a2q::Rng rng(42);
  for (const float x : xs) {
    INFO("x = " << x);
    const float lo = std::floor(x);
    const double p = static_cast<double>(x) - static_cast<double>(lo);
    std::vector<float> buffer(draws, x);
    a2q::quant::round_inplace(buffer, RoundingMode::stochastic, rng);
    double sum = 0.0;
    bool on_grid = true;
    for (const float r : buffer) {
      on_grid = on_grid && (r == lo || r == lo + 1.0f);
      sum += r;
    }
    CHECK(on_grid);
    if (p == 0.0) {
      CHECK(sum / draws == static_cast<double>(x)); // integers never move
      continue;
    }
    // The mean of `draws` Bernoulli(p) draws is within 5 standard deviations of p.
    const double tolerance = 5.0 * std::sqrt(p * (1.0 - p) / draws);
    CHECK(std::abs(sum / draws - static_cast<double>(x)) <= tolerance);

    // The scalar overload too.
    double scalar_sum = 0.0;
    for (int i = 0; i < draws; ++i)
      scalar_sum += a2q::quant::round_value(x, RoundingMode::stochastic, rng);
    CHECK(std::abs(scalar_sum / draws - static_cast<double>(x)) <= tolerance);
  }
}

TEST_CASE("stochastic rounding is reproducible from the seed", "[quant][rounding]") {
  a2q::Rng init(5);
  const a2q::Tensor<float> x = a2q::Tensor<float>::uniform(a2q::Shape{1000}, -10.0f, 10.0f, init);
  a2q::Rng a(77), b(77), c(78);
  const a2q::Tensor<float> ra = a2q::quant::round_tensor(x, RoundingMode::stochastic, a);
  const a2q::Tensor<float> rb = a2q::quant::round_tensor(x, RoundingMode::stochastic, b);
  const a2q::Tensor<float> rc = a2q::quant::round_tensor(x, RoundingMode::stochastic, c);
  CHECK(ra == rb);
  CHECK_FALSE(ra == rc);
  // One word per call: the generators stay in step.
  CHECK(a() == b());
  // A second call from the same generator draws fresh numbers.
  const a2q::Tensor<float> again = a2q::quant::round_tensor(x, RoundingMode::stochastic, a);
  CHECK_FALSE(again == ra);
}
