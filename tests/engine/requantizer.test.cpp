#include "a2q/engine/requantizer.hpp"
#include "a2q/core/rng.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <limits>
#include <vector>

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

TEST_CASE("Requantizer's 64-bit path equals the exact 128-bit rounding on both sides of its limit",
          "[engine][requantizer]") {
  // The definition, from the requantizer's own integer constants: round_half_even(v·m·2^-R + o·2^-R).
  const auto exact = [](const Requantizer& r, std::int64_t v) {
    using a2q::detail::int128;
    const int128 t = static_cast<int128>(v) * r.multipliers()[0] + r.offset();
    const int128 unit = int128{1} << r.point();
    int128 q = t >= 0 ? t / unit : -((-t + unit - 1) / unit); // floor
    const int128 rest = t - q * unit;
    if (2 * rest > unit || (2 * rest == unit && q % 2 != 0))
      ++q;
    return q < r.lo() ? r.lo() : q > r.hi() ? r.hi() : static_cast<std::int64_t>(q);
  };
  a2q::Rng rng(64);
  constexpr std::int64_t wide = std::int64_t{1} << 62;
  for (int trial = 0; trial < 4000; ++trial) {
    const double factor = std::ldexp(rng.uniform(0.5, 1.0), static_cast<int>(rng.uniform_int(-40, 30))) *
                          (rng.bernoulli(0.3) ? -1.0 : 1.0);
    const double offset = std::ldexp(rng.uniform(-1.0, 1.0), static_cast<int>(rng.uniform_int(0, 39)));
    Requantizer r;
    try {
      r = one(factor, offset, -wide, wide);
    } catch (const a2q::config_error&) { // a tiny factor with a large offset: beyond the offset's 2^100
      continue;
    }
    // Magnitudes from small to far beyond any fast-path limit, plus both ends of the int64 range.
    const int bits = static_cast<int>(rng.uniform_int(0, 62));
    std::int64_t v = rng.uniform_int(-(std::int64_t{1} << bits), std::int64_t{1} << bits);
    if (trial % 100 == 0)
      v = trial % 200 == 0 ? std::numeric_limits<std::int64_t>::max()
                           : std::numeric_limits<std::int64_t>::min();
    INFO("factor " << factor << ", offset " << offset << ", v " << v);
    REQUIRE(r(v) == exact(r, v));
    REQUIRE(r(v / 2) == exact(r, v / 2));
  }
  // Exact ties at a point where the 64-bit path applies, negative and positive.
  const Requantizer eighth = one(0.125, 0.0, -wide, wide);
  for (std::int64_t v = -40; v <= 40; ++v)
    CHECK(eighth(v) == exact(eighth, v));
}

TEST_CASE("RequantizerBank gives every channel's Requantizer results, sums beyond the fast path included",
          "[engine][requantizer]") {
  a2q::Rng rng(99);
  for (const std::int64_t plane : {1, 7}) {
    const std::int64_t C = 37, outer = 5;
    std::vector<Requantizer> channels;
    for (std::int64_t c = 0; c < C; ++c) {
      const double factor = std::ldexp(rng.uniform(0.5, 1.0), static_cast<int>(rng.uniform_int(-34, 2))) *
                            (rng.bernoulli(0.2) ? -1.0 : 1.0);
      const std::int64_t lo = c % 3 == 0 ? 0 : -128; // a ReLU's grid or a signed one
      channels.push_back(one(c == 5 ? 1.0 : factor, rng.uniform(-50.0, 50.0), lo, 127 + c));
    }
    std::vector<std::int64_t> v(static_cast<std::size_t>(outer * C * plane));
    for (std::int64_t& x : v) {
      // Mostly accumulator-sized sums; one in ten up to 2^62, beyond most channels' 64-bit limit.
      const int bits =
          static_cast<int>(rng.bernoulli(0.1) ? rng.uniform_int(40, 62) : rng.uniform_int(0, 24));
      x = rng.uniform_int(-(std::int64_t{1} << bits), std::int64_t{1} << bits);
    }
    v[3] = std::numeric_limits<std::int64_t>::min();
    std::vector<std::int32_t> out(v.size());
    a2q::engine::RequantizerBank(channels).apply(v.data(), outer, plane, out.data());
    std::int64_t beyond = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      const Requantizer& r = channels[i / static_cast<std::size_t>(plane) % static_cast<std::size_t>(C)];
      beyond += v[i] > r.fast_limit() || v[i] < -r.fast_limit();
      REQUIRE(out[i] == r(v[i]));
    }
    CHECK(beyond > 0); // both paths ran
    CHECK(beyond < static_cast<std::int64_t>(v.size()) / 2);
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
