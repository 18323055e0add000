// Tests for a2q/ptq/accumulator_budget.hpp. Ground truth: the exact worst case of quant/bounds.hpp
// (required_accumulator_bits, tiled_accumulator_bits), computed from the finished weights.

#include "a2q/ptq/accumulator_budget.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

namespace {

using a2q::InputRange;
using a2q::ptq::AccumulatorBudget;
using a2q::ptq::AccumulatorSpec;

/// Weights proposed at random (large, so the budget binds), each clipped by the budget and recorded.
std::vector<std::int32_t> fill(const AccumulatorSpec& spec, std::int64_t K, std::mt19937_64& rng,
                               int magnitude) {
  AccumulatorBudget budget(spec);
  std::uniform_int_distribution<int> proposal(-magnitude, magnitude);
  std::vector<std::int32_t> q;
  for (std::int64_t k = 0; k < K; ++k) {
    const std::int64_t v = budget.clip(k, proposal(rng));
    budget.take(k, v);
    q.push_back(static_cast<std::int32_t>(v));
  }
  return q;
}

} // namespace

TEST_CASE("a budget-clipped channel fits its accumulator for every input, and the clip is tight",
          "[ptq][budget]") {
  std::mt19937_64 rng(7);
  for (const InputRange x : {InputRange::of_bits(8, false), InputRange::of_bits(8, true),
                             InputRange::of_bits(4, false), InputRange::of_bits(3, true)})
    for (int P : {10, 12, 16, 20})
      for (std::int64_t start : {std::int64_t{0}, std::int64_t{37}, std::int64_t{-90}}) {
        const AccumulatorSpec spec{.input = x, .bits = P, .start = start};
        spec.validate();
        const std::vector<std::int32_t> q = fill(spec, 300, rng, 127);
        INFO("x = [" << x.lo << ", " << x.hi << "], P = " << P << ", start = " << start);
        CHECK(a2q::required_accumulator_bits(q, x, start) <= P);
        // Tight: one unit more in the direction the budget ran out of makes the worst case overflow.
        AccumulatorBudget budget(spec);
        for (std::size_t k = 0; k < q.size(); ++k)
          budget.take(static_cast<std::int64_t>(k), q[k]);
        std::vector<std::int32_t> more = q;
        more.push_back(static_cast<std::int32_t>(budget.max_positive(300) + 1));
        CHECK(a2q::required_accumulator_bits(more, x, start) > P);
        more.back() = static_cast<std::int32_t>(-(budget.max_negative(300) + 1));
        CHECK(a2q::required_accumulator_bits(more, x, start) > P);
        more.back() = static_cast<std::int32_t>(budget.max_positive(300));
        CHECK(a2q::required_accumulator_bits(more, x, start) <= P);
      }
}

TEST_CASE("the budget with unsigned inputs is A2Q+'s sign split", "[ptq][budget]") {
  // P = 16, N = 8 unsigned: each sign's integers may sum to floor((2^15 - 1) / 255) = 128.
  const AccumulatorSpec spec{.input = InputRange::of_bits(8, false), .bits = 16};
  AccumulatorBudget budget(spec);
  CHECK(budget.max_positive(0) == 128);
  CHECK(budget.max_negative(0) == 128);
  budget.take(0, 100);
  CHECK(budget.max_positive(1) == 28);
  CHECK(budget.max_negative(1) == 128); // the other sign's half is untouched
  CHECK(budget.clip(1, 50) == 28);
  CHECK(budget.clip(1, -50) == -50);
  CHECK_THROWS_AS(budget.take(1, 29), a2q::internal_error);
}

TEST_CASE("tiled budgets hold every tile in its inner register and the sum in the outer one",
          "[ptq][budget]") {
  std::mt19937_64 rng(11);
  const InputRange x = InputRange::of_bits(8, false);
  for (std::int64_t tile : {1, 7, 64})
    for (int inner : {12, 14})
      for (int outer : {inner, inner + 2, 20}) {
        const AccumulatorSpec spec{.input = x, .bits = outer, .tile = tile, .inner_bits = inner};
        spec.validate();
        const std::vector<std::int32_t> q = fill(spec, 250, rng, 127);
        const auto bits = a2q::tiled_accumulator_bits(q, x, tile);
        INFO("tile " << tile << ", P_i " << inner << ", P_o " << outer);
        CHECK(bits.inner_bits <= inner);
        CHECK(bits.outer_bits <= outer);
      }
}

TEST_CASE("accumulator specs that cannot hold are refused", "[ptq][budget]") {
  const InputRange u8 = InputRange::of_bits(8, false);
  CHECK_THROWS_AS((AccumulatorSpec{.input = {1, 255}, .bits = 16}.validate()), a2q::config_error);
  CHECK_THROWS_AS((AccumulatorSpec{.input = u8, .bits = 1}.validate()), a2q::config_error);
  CHECK_THROWS_AS((AccumulatorSpec{.input = u8, .bits = 16, .start = 40000}.validate()), a2q::config_error);
  CHECK_THROWS_AS((AccumulatorSpec{.input = u8, .bits = 16, .tile = 8}.validate()), a2q::config_error);
  CHECK_THROWS_AS((AccumulatorSpec{.input = u8, .bits = 16, .tile = 8, .inner_bits = 18}.validate()),
                  a2q::config_error);
  CHECK_NOTHROW((AccumulatorSpec{.input = u8, .bits = 16, .tile = 8, .inner_bits = 12}.validate()));
}
