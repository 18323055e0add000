// Tests for a2q/engine/accumulator.hpp. Ground truth is computed another way: wraparound with unsigned
// 64-bit arithmetic and explicit sign extension, prefix sums in 128 bits, hand-made sequences.

#include "a2q/engine/accumulator.hpp"

#include "a2q/core/rng.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace {

__extension__ typedef __int128 i128;

using a2q::engine::Accumulator;
using a2q::engine::accumulator_overflow;
using a2q::engine::OverflowContext;
using a2q::engine::OverflowPolicy;
using a2q::engine::TiledAccumulator;

constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();

constexpr OverflowPolicy all_policies[] = {OverflowPolicy::check, OverflowPolicy::saturate,
                                           OverflowPolicy::wrap, OverflowPolicy::count};

/// (start + Σ products) mod 2^P as P-bit two's complement, via uint64 wraparound (well defined) and an
/// explicit sign extension: independent of the 128-bit arithmetic inside Accumulator.
std::int64_t wrapped_sum(std::int64_t start, const std::vector<std::int64_t>& products, int P) {
  std::uint64_t s = static_cast<std::uint64_t>(start);
  for (const std::int64_t p : products)
    s += static_cast<std::uint64_t>(p);
  if (P == 64)
    return static_cast<std::int64_t>(s); // modular conversion (C++20)
  const std::uint64_t low = s & ((std::uint64_t{1} << P) - 1);
  const std::uint64_t sign = std::uint64_t{1} << (P - 1);
  return low >= sign ? -static_cast<std::int64_t>((std::uint64_t{1} << P) - low)
                     : static_cast<std::int64_t>(low);
}

/// Index of the first prefix sum outside the P-bit range (-1: the start, size(): none).
std::int64_t first_overflow(std::int64_t start, const std::vector<std::int64_t>& products, int P) {
  const i128 lo = -(i128{1} << (P - 1));
  const i128 hi = (i128{1} << (P - 1)) - 1;
  i128 s = start;
  if (s < lo || s > hi)
    return -1;
  for (std::size_t i = 0; i < products.size(); ++i) {
    s += products[i];
    if (s < lo || s > hi)
      return static_cast<std::int64_t>(i);
  }
  return static_cast<std::int64_t>(products.size());
}

std::int64_t run(Accumulator& acc, std::int64_t start, const std::vector<std::int64_t>& products) {
  acc.reset(start);
  for (const std::int64_t p : products)
    acc.add(p);
  return acc.value();
}

} // namespace

TEST_CASE("Accumulator: width limits and range", "[engine][accumulator]") {
  for (const int bad : {-1, 0, 1, 65, 128})
    REQUIRE_THROWS_AS(Accumulator(bad, OverflowPolicy::check), a2q::config_error);
  const Accumulator a2(2, OverflowPolicy::wrap);
  REQUIRE(a2.min() == -2);
  REQUIRE(a2.max() == 1);
  const Accumulator a16(16, OverflowPolicy::wrap);
  REQUIRE(a16.min() == -32768);
  REQUIRE(a16.max() == 32767);
  const Accumulator a63(63, OverflowPolicy::wrap);
  REQUIRE(a63.min() == -(std::int64_t{1} << 62));
  REQUIRE(a63.max() == (std::int64_t{1} << 62) - 1);
  const Accumulator a64(64, OverflowPolicy::wrap);
  REQUIRE(a64.min() == int64_min);
  REQUIRE(a64.max() == int64_max);
  REQUIRE(std::string(a2q::engine::to_string(OverflowPolicy::saturate)) == "saturate");
}

TEST_CASE("Accumulator: P = 2 by hand, every policy", "[engine][accumulator]") {
  // Range [-2, 1]. Partial sums of {1, 1, -1, -3, 2}: 1, 2 (over), 1, -2, 0 exactly.
  const std::vector<std::int64_t> products{1, 1, -1, -3, 2};

  Accumulator check(2, OverflowPolicy::check);
  try {
    run(check, 0, products);
    FAIL("no overflow reported");
  } catch (const accumulator_overflow& e) {
    REQUIRE(e.partial_sum() == 1);
    REQUIRE(e.value() == 2);
    REQUIRE(e.bits() == 2);
  }

  // Saturate: 1, 1 (clamped), 0, -2 (clamped from -3), 0.
  Accumulator sat(2, OverflowPolicy::saturate);
  REQUIRE(run(sat, 0, products) == 0);
  REQUIRE(sat.overflow_events() == 2);
  REQUIRE(sat.final_affected() == false); // ends right by luck
  Accumulator sat2(2, OverflowPolicy::saturate);
  REQUIRE(run(sat2, 0, {1, 1, 1}) == 1);
  REQUIRE(sat2.final_affected());
  REQUIRE(run(sat2, 0, {-1, -1, -1, -1}) == -2);
  REQUIRE(sat2.overflow_events() == 2);

  // Wrap: 1, -2 (2 wraps), -3 -> 1, -2, 0: the final value is exact although two sums wrapped.
  for (const OverflowPolicy p : {OverflowPolicy::wrap, OverflowPolicy::count}) {
    Accumulator w(2, p);
    REQUIRE(run(w, 0, products) == 0);
    REQUIRE(w.overflow_events() == 2);
    REQUIRE_FALSE(w.final_affected());
    REQUIRE(run(w, 0, {1, 1, 1}) == -1); // 3 mod 4 = 3 -> -1
    REQUIRE(w.final_affected());
    REQUIRE(w.exact_sum() == 3);
  }
}

TEST_CASE("Accumulator: a transient overflow that ends in range is still caught", "[engine][accumulator]") {
  // P = 8: [-128, 127]. 100 + 100 = 200 leaves the range, -150 brings it back to 50.
  const std::vector<std::int64_t> products{100, 100, -150};
  Accumulator check(8, OverflowPolicy::check, {.layer = "fc2", .channel = 7, .sample = 3});
  try {
    run(check, 0, products);
    FAIL("transient overflow not reported");
  } catch (const accumulator_overflow& e) {
    REQUIRE(e.partial_sum() == 1);
    REQUIRE(e.channel() == 7);
    REQUIRE(e.sample() == 3);
    REQUIRE(e.layer() == "fc2");
    const std::string what = e.what();
    for (const char* part :
         {"layer fc2", "output channel 7", "sample 3", "partial sum 1", "value 200", "[-128, 127]", "P = 8"})
      REQUIRE_THAT(what, Catch::Matchers::Contains(part));
  }
  Accumulator wrap(8, OverflowPolicy::count);
  REQUIRE(run(wrap, 0, products) == 50); // hardware wraps twice and ends right
  REQUIRE(wrap.overflow_events() == 2);  // 200 -> -56, then -56 - 150 = -206 -> 50 wraps back
}

TEST_CASE("Accumulator: the start value goes through the policy", "[engine][accumulator]") {
  Accumulator check(4, OverflowPolicy::check);
  REQUIRE_NOTHROW(check.reset(7));
  REQUIRE_NOTHROW(check.reset(-8));
  try {
    check.reset(8);
    FAIL("start value not checked");
  } catch (const accumulator_overflow& e) {
    REQUIRE(e.partial_sum() == -1);
    REQUIRE_THAT(std::string(e.what()), Catch::Matchers::Contains("start value"));
  }
  Accumulator sat(4, OverflowPolicy::saturate);
  sat.reset(100);
  REQUIRE(sat.value() == 7);
  REQUIRE(sat.overflow_events() == 1);
  Accumulator wrap(4, OverflowPolicy::wrap);
  wrap.reset(9);
  REQUIRE(wrap.value() == -7);
  wrap.reset(0); // counters cleared
  REQUIRE(wrap.overflow_events() == 0);
  REQUIRE(wrap.partial_sums() == 0);
}

TEST_CASE("Accumulator: P = 63 and P = 64 near the int64 limits, no UB", "[engine][accumulator]") {
  SECTION("P = 64") {
    Accumulator check(64, OverflowPolicy::check);
    REQUIRE(run(check, int64_max, {int64_min, int64_max}) == int64_max - 1); // -1, then back up
    REQUIRE_THROWS_AS(run(check, int64_max, {1}), accumulator_overflow);
    REQUIRE_THROWS_AS(run(check, int64_min, {-1}), accumulator_overflow);
    REQUIRE_THROWS_AS(run(check, int64_min, {int64_min}), accumulator_overflow);

    Accumulator sat(64, OverflowPolicy::saturate);
    REQUIRE(run(sat, int64_max, {int64_max}) == int64_max);
    REQUIRE(run(sat, int64_min, {int64_min, int64_min}) == int64_min);
    REQUIRE(sat.overflow_events() == 2);
    REQUIRE(run(sat, int64_max, {int64_max, int64_min}) == -1); // clamp, then exact
    REQUIRE(sat.final_affected());

    for (const OverflowPolicy p : {OverflowPolicy::wrap, OverflowPolicy::count}) {
      Accumulator w(64, p);
      REQUIRE(run(w, int64_max, {int64_max}) == -2);
      REQUIRE(run(w, int64_min, {int64_min}) == 0);
      REQUIRE(run(w, int64_max, {1}) == int64_min);
      REQUIRE(w.overflow_events() == 1);
      REQUIRE(w.exact_sum() == i128{int64_max} + 1);
      const std::vector<std::int64_t> big{int64_max, int64_max, int64_max, int64_min, int64_min, 5};
      REQUIRE(run(w, 0, big) == wrapped_sum(0, big, 64));
      // 2^64 - 2 wraps to -2; -2 + MAX, then + MIN = -3 fit; -3 + MIN wraps to 2^63 - 3; + 5 wraps.
      REQUIRE(w.overflow_events() == 3);
    }
  }
  SECTION("P = 63") {
    const std::int64_t hi = (std::int64_t{1} << 62) - 1;
    Accumulator check(63, OverflowPolicy::check);
    REQUIRE(run(check, hi, {-hi, hi}) == hi);
    REQUIRE_THROWS_AS(run(check, 0, {int64_max}), accumulator_overflow);
    REQUIRE_THROWS_AS(run(check, hi, {1}), accumulator_overflow);
    Accumulator sat(63, OverflowPolicy::saturate);
    REQUIRE(run(sat, 0, {int64_max}) == hi);
    REQUIRE(run(sat, 0, {int64_min}) == -hi - 1);
    Accumulator wrap(63, OverflowPolicy::wrap);
    REQUIRE(run(wrap, 0, {int64_max}) == -1); // 2^63 - 1 mod 2^63 = 2^63 - 1 -> -1 in 63 bits
    REQUIRE(run(wrap, 0, {int64_min}) == 0);  // -2^63 mod 2^63 = 0
    REQUIRE(run(wrap, hi, {1}) == -hi - 1);   // 2^62 -> -2^62
    REQUIRE(run(wrap, 0, {int64_max, int64_max, int64_max}) ==
            wrapped_sum(0, {int64_max, int64_max, int64_max}, 63));
  }
}

TEST_CASE("Accumulator: wrap equals the sum mod 2^P, for random P and sequences", "[engine][accumulator]") {
  a2q::Rng rng(20240601);
  for (int trial = 0; trial < 3000; ++trial) {
    const int P = static_cast<int>(rng.uniform_int(2, 64));
    const int magnitude_bits = static_cast<int>(rng.uniform_int(1, 63)); // products from tiny to huge
    const std::int64_t m = (std::int64_t{1} << (magnitude_bits - 1));
    std::vector<std::int64_t> products(static_cast<std::size_t>(rng.uniform_int(0, 40)));
    for (std::int64_t& p : products)
      p = rng.uniform_int(-m, m - 1);
    if (rng.bernoulli(0.1))
      products.push_back(rng.bernoulli(0.5) ? int64_max : int64_min);
    Accumulator probe(P, OverflowPolicy::wrap);
    const std::int64_t start = rng.uniform_int(probe.min(), probe.max());
    const std::int64_t expected = wrapped_sum(start, products, P);

    Accumulator wrap(P, OverflowPolicy::wrap);
    REQUIRE(run(wrap, start, products) == expected);
    Accumulator count(P, OverflowPolicy::count);
    REQUIRE(run(count, start, products) == expected);

    i128 exact = start;
    for (const std::int64_t p : products)
      exact += p;
    REQUIRE(count.exact_sum() == exact);
    REQUIRE(count.final_affected() == (exact != expected));
    REQUIRE(count.partial_sums() == static_cast<std::int64_t>(products.size()));
    const std::int64_t first = first_overflow(start, products, P);
    // No prefix leaves the range exactly when no add wraps (the register then equals the prefix sum).
    REQUIRE((count.overflow_events() == 0) == (first == static_cast<std::int64_t>(products.size())));

    // check throws at exactly the first prefix sum outside the range, or not at all.
    Accumulator check(P, OverflowPolicy::check);
    if (first == static_cast<std::int64_t>(products.size())) {
      REQUIRE(run(check, start, products) == expected);
    } else {
      try {
        run(check, start, products);
        FAIL("overflow not reported");
      } catch (const accumulator_overflow& e) {
        REQUIRE(e.partial_sum() == first);
      }
    }

    // saturate: an independent clamped simulation in 128 bits.
    const i128 lo = probe.min();
    const i128 hi = probe.max();
    i128 s = start;
    std::int64_t events = 0;
    for (const std::int64_t p : products) {
      s += p;
      if (s < lo || s > hi) {
        ++events;
        s = s < lo ? lo : hi;
      }
    }
    Accumulator sat(P, OverflowPolicy::saturate);
    REQUIRE(run(sat, start, products) == static_cast<std::int64_t>(s));
    REQUIRE(sat.overflow_events() == events);
  }
}

TEST_CASE("Accumulator: transient overflows built on purpose are caught at their index",
          "[engine][accumulator]") {
  a2q::Rng rng(7);
  for (int trial = 0; trial < 500; ++trial) {
    const int P = static_cast<int>(rng.uniform_int(2, 64));
    Accumulator check(P, OverflowPolicy::check);
    // Walk inside the range, then step just past an end, then come back in: the final sum is in range.
    std::vector<std::int64_t> products;
    const auto steps = static_cast<std::size_t>(P >= 8 ? rng.uniform_int(0, 5) : 0); // stay inside
    for (std::size_t i = 0; i < steps; ++i)
      products.push_back(rng.uniform_int(-1, 1));
    i128 s = 0;
    for (const std::int64_t p : products)
      s += p;
    const bool up = rng.bernoulli(0.5);
    const i128 target = up ? i128{check.max()} + 1 : i128{check.min()} - 1;
    const i128 jump = target - s; // |jump| <= 2^63 + 5 for P = 64: split it in two adds
    const i128 half = jump / 2;
    products.push_back(static_cast<std::int64_t>(half));
    products.push_back(static_cast<std::int64_t>(jump - half));
    products.push_back(up ? -1 - rng.uniform_int(0, 1) : 1 + rng.uniform_int(0, 1));
    const auto overflow_index = static_cast<std::int64_t>(products.size()) - 2;
    REQUIRE(first_overflow(0, products, P) == overflow_index);
    try {
      run(check, 0, products);
      FAIL("transient overflow not reported");
    } catch (const accumulator_overflow& e) {
      REQUIRE(e.partial_sum() == overflow_index);
    }
    Accumulator count(P, OverflowPolicy::count);
    run(count, 0, products);
    REQUIRE(count.overflow_events() >= 1);
    REQUIRE_FALSE(count.final_affected()); // wrapping twice lands on the exact in-range sum
  }
}

TEST_CASE("TiledAccumulator: stages, flushes and messages", "[engine][accumulator][tiled]") {
  REQUIRE_THROWS_AS(TiledAccumulator(8, 16, 0, OverflowPolicy::check), a2q::config_error);
  REQUIRE_THROWS_AS(TiledAccumulator(1, 16, 4, OverflowPolicy::check), a2q::config_error);

  // Inner P_I = 4 ([-8, 7]), tiles of 2, outer P_O = 6 ([-32, 31]).
  TiledAccumulator acc(4, 6, 2, OverflowPolicy::check, {.layer = "conv3", .channel = 2});
  acc.reset(3);
  for (const std::int64_t p : {3, 4, 7, 0, -8, 0, 1})
    acc.add(p);
  REQUIRE(acc.finish() == 3 + 7 + 7 - 8 + 1);
  REQUIRE(acc.overflow_events() == 0);
  REQUIRE(acc.finish() == 10); // idempotent

  // An inner overflow names the tile and the index inside the tile.
  acc.reset(0);
  try {
    for (const std::int64_t p : {7, 0, 3, 5})
      acc.add(p);
    FAIL("inner overflow not reported");
  } catch (const accumulator_overflow& e) {
    REQUIRE(e.tile() == 1);
    REQUIRE(e.partial_sum() == 1);
    REQUIRE(e.bits() == 4);
    REQUIRE_THAT(std::string(e.what()), Catch::Matchers::Contains("inner stage"));
    REQUIRE_THAT(std::string(e.what()), Catch::Matchers::Contains("layer conv3"));
  }

  // An outer overflow: five tiles of 7 reach 35 > 31 at tile index 4.
  acc.reset(0);
  try {
    for (int i = 0; i < 10; ++i)
      acc.add(i % 2 == 0 ? 7 : 0);
    acc.finish();
    FAIL("outer overflow not reported");
  } catch (const accumulator_overflow& e) {
    REQUIRE(e.partial_sum() == 4);
    REQUIRE(e.bits() == 6);
    REQUIRE_THAT(std::string(e.what()), Catch::Matchers::Contains("outer stage"));
  }

  // Wrap in both stages matches hardware: each stage reduces its own sum mod its width.
  TiledAccumulator wrap(4, 6, 2, OverflowPolicy::count);
  wrap.reset(0);
  for (const std::int64_t p : {7, 7, 7, 7, 7, 7})
    wrap.add(p);
  // Each tile: 14 -> -2 (one inner event); outer: -6.
  REQUIRE(wrap.finish() == -6);
  REQUIRE(wrap.overflow_events() == 3);
  REQUIRE(wrap.final_affected());
  REQUIRE(wrap.exact_sum() == 42);
}

TEST_CASE("Accumulator: all policies agree when nothing overflows", "[engine][accumulator]") {
  a2q::Rng rng(99);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::int64_t> products(static_cast<std::size_t>(rng.uniform_int(0, 30)));
    for (std::int64_t& p : products)
      p = rng.uniform_int(-1000, 1000);
    for (const OverflowPolicy policy : all_policies) {
      Accumulator acc(17, policy); // |sum| <= 30000 + 1000 < 2^16
      i128 exact = 1000;
      for (const std::int64_t p : products)
        exact += p;
      REQUIRE(run(acc, 1000, products) == static_cast<std::int64_t>(exact));
      REQUIRE(acc.overflow_events() == 0);
      REQUIRE_FALSE(acc.final_affected());
    }
  }
}
