// Tests for a2q/quant/scale_init.hpp: absmax and percentile statistics on data with known answers, the
// all-zero and empty edge cases, deterministic sampling of large tensors, and the percentile observer.

#include "a2q/quant/scale_init.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::quant::IntFormat;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

/// 0, 1, ..., n-1 (negated when `negate`), shuffled so that order cannot matter.
Tensor<float> ramp(std::int64_t n, bool negate = false) {
  Tensor<float> t(Shape{n});
  for (std::int64_t i = 0; i < n; ++i)
    t[i] = static_cast<float>(negate ? -i : i);
  a2q::Rng rng(1);
  rng.shuffle(t.begin(), t.end());
  return t;
}

} // namespace

TEST_CASE("absmax scales", "[quant][scale_init]") {
  const Tensor<float> x(Shape{2, 2}, {-3.0f, 1.0f, 2.0f, 0.5f});
  CHECK_THAT(a2q::quant::absmax_scale(x, IntFormat::signed_bits(8)), WithinRel(3.0f / 127.0f, 1e-6f));
  CHECK_THAT(a2q::quant::absmax_scale(x, IntFormat::signed_bits(8, true)), WithinRel(3.0f / 127.0f, 1e-6f));
  CHECK_THAT(a2q::quant::absmax_scale(x, IntFormat::signed_bits(4)), WithinRel(3.0f / 7.0f, 1e-6f));
  // Unsigned formats only look at the positive side: negative values clip to 0 anyway.
  CHECK_THAT(a2q::quant::absmax_scale(x, IntFormat::unsigned_bits(8)), WithinRel(2.0f / 255.0f, 1e-6f));

  CHECK(a2q::quant::absmax_scale(Tensor<float>(Shape{5}), IntFormat::signed_bits(8)) ==
        a2q::quant::min_scale);
  CHECK(a2q::quant::absmax_scale(Tensor<float>(Shape{3}, -1.0f), IntFormat::unsigned_bits(4)) ==
        a2q::quant::min_scale);
  CHECK(a2q::quant::absmax_scale(Tensor<float>(Shape{}, -2.0f), IntFormat::signed_bits(2)) == 2.0f);

  CHECK_THROWS_AS(a2q::quant::absmax_scale(Tensor<float>(Shape{0}), IntFormat::signed_bits(8)),
                  a2q::shape_error);
  Tensor<float> bad = x;
  bad[3] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(a2q::quant::absmax_scale(bad, IntFormat::signed_bits(8)), a2q::numeric_error);
  bad[3] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(a2q::quant::absmax_scale(bad, IntFormat::signed_bits(8)), a2q::numeric_error);
  CHECK_THROWS_AS(a2q::quant::absmax_scale(x, IntFormat{}), a2q::config_error);
}

TEST_CASE("per-channel absmax scales along axis 0", "[quant][scale_init]") {
  const Tensor<float> w(Shape{3, 2, 2}, {1.0f, -2.0f, 0.5f, 0.0f, //
                                         0.0f, 0.0f, 0.0f, 0.0f,  //
                                         -7.0f, 3.5f, 0.0f, 1.0f});
  const Tensor<float> s = a2q::quant::per_channel_absmax_scale(w, IntFormat::signed_bits(4, true));
  REQUIRE(s.shape() == Shape{3});
  CHECK_THAT(s[0], WithinRel(2.0f / 7.0f, 1e-6f));
  CHECK(s[1] == a2q::quant::min_scale);
  CHECK_THAT(s[2], WithinRel(1.0f, 1e-6f));
  const Tensor<float> su = a2q::quant::per_channel_absmax_scale(w, IntFormat::unsigned_bits(2));
  CHECK_THAT(su[0], WithinRel(1.0f / 3.0f, 1e-6f)); // the largest positive value
  CHECK_THAT(su[2], WithinRel(3.5f / 3.0f, 1e-6f));

  CHECK_THROWS_AS(
      a2q::quant::per_channel_absmax_scale(Tensor<float>(Shape{}, 1.0f), IntFormat::signed_bits(8)),
      a2q::shape_error);
  CHECK_THROWS_AS(a2q::quant::per_channel_absmax_scale(Tensor<float>(Shape{4, 0}), IntFormat::signed_bits(8)),
                  a2q::shape_error);
}

TEST_CASE("percentiles interpolate between order statistics", "[quant][scale_init]") {
  const IntFormat s8 = IntFormat::signed_bits(8);
  const IntFormat u8 = IntFormat::unsigned_bits(8);
  const Tensor<float> x = ramp(101); // 0..100: the p-th percentile is p
  CHECK_THAT(a2q::quant::percentile_statistic(x, 99.0, u8), WithinAbs(99.0, 1e-9));
  CHECK_THAT(a2q::quant::percentile_statistic(x, 50.0, u8), WithinAbs(50.0, 1e-9));
  CHECK_THAT(a2q::quant::percentile_statistic(x, 99.5, u8), WithinAbs(99.5, 1e-9));
  CHECK_THAT(a2q::quant::percentile_statistic(x, 100.0, u8), WithinAbs(100.0, 1e-9));
  CHECK_THAT(a2q::quant::percentile_statistic(x, 0.25, u8), WithinAbs(0.25, 1e-9));
  CHECK_THAT(a2q::quant::percentile_scale(x, 99.0, u8), WithinRel(99.0f / 255.0f, 1e-6f));
  CHECK_THAT(a2q::quant::percentile_scale(x, 99.0, s8), WithinRel(99.0f / 127.0f, 1e-6f));

  // Signed formats take magnitudes; unsigned formats take the values themselves.
  const Tensor<float> negative = ramp(101, true);
  CHECK_THAT(a2q::quant::percentile_statistic(negative, 99.0, s8), WithinAbs(99.0, 1e-9));
  CHECK_THAT(a2q::quant::percentile_statistic(negative, 99.0, u8), WithinAbs(-1.0, 1e-9));
  CHECK(a2q::quant::percentile_scale(negative, 99.0, u8) == a2q::quant::min_scale);

  // 99.99th percentile of 10^4 + 1 values 0..10^4 is 9999; one outlier barely moves it.
  Tensor<float> big = ramp(10001);
  CHECK_THAT(a2q::quant::percentile_statistic(big, 99.99, u8), WithinAbs(9999.0, 1e-6));
  big[0] = 1e9f;
  CHECK(a2q::quant::percentile_statistic(big, 99.99, u8) < 10001.0);
  CHECK(a2q::quant::absmax_scale(big, u8) == 1e9f / 255.0f);

  // Edge cases: one element, all equal, all zero.
  CHECK(a2q::quant::percentile_statistic(Tensor<float>(Shape{1}, 4.0f), 99.99, s8) == 4.0);
  CHECK(a2q::quant::percentile_statistic(Tensor<float>(Shape{7}, 2.0f), 30.0, s8) == 2.0);
  CHECK(a2q::quant::percentile_scale(Tensor<float>(Shape{10}), 99.99, s8) == a2q::quant::min_scale);
}

TEST_CASE("percentile settings and data are checked", "[quant][scale_init]") {
  const Tensor<float> x = ramp(10);
  const IntFormat f = IntFormat::signed_bits(8);
  for (const double p : {0.0, -1.0, 100.5, std::numeric_limits<double>::quiet_NaN()})
    CHECK_THROWS_AS(a2q::quant::percentile_statistic(x, p, f), a2q::config_error);
  CHECK_THROWS_AS(a2q::quant::percentile_statistic(Tensor<float>(Shape{0}), 99.0, f), a2q::shape_error);
  Tensor<float> bad = x;
  bad[2] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(a2q::quant::percentile_scale(bad, 99.0, f), a2q::numeric_error);
}

TEST_CASE("large tensors are sampled deterministically", "[quant][scale_init]") {
  const std::int64_t n = a2q::quant::percentile_max_samples + 123457;
  a2q::Rng rng(8);
  const Tensor<float> x = Tensor<float>::uniform(Shape{n}, 0.0f, 1.0f, rng);
  const IntFormat u8 = IntFormat::unsigned_bits(8);
  const double a = a2q::quant::percentile_statistic(x, 99.0, u8);
  const double b = a2q::quant::percentile_statistic(x, 99.0, u8);
  CHECK(a == b);
  CHECK_THAT(a, WithinAbs(0.99, 0.002)); // 2^20 samples: the standard error is about 1e-5
  CHECK_THAT(a2q::quant::percentile_statistic(x, 50.0, u8), WithinAbs(0.5, 0.003));
}

TEST_CASE("the percentile observer averages batches", "[quant][scale_init]") {
  const IntFormat u4 = IntFormat::unsigned_bits(4); // qmax 15
  a2q::quant::PercentileObserver observer(u4, 100.0);
  CHECK_FALSE(observer.has_data());
  CHECK_THROWS_AS(observer.scale(), a2q::config_error);
  CHECK_THROWS_AS(observer.statistic(), a2q::config_error);

  observer.observe(Tensor<float>(Shape{2}, {1.0f, 2.0f}));
  CHECK(observer.batches() == 1);
  CHECK_THAT(observer.statistic(), WithinAbs(2.0, 1e-12));
  observer.observe(Tensor<float>(Shape{1}, 3.0f));
  observer.observe(Tensor<float>(Shape{3}, {5.0f, -9.0f, 0.0f}));
  CHECK(observer.batches() == 3);
  CHECK_THAT(observer.statistic(), WithinAbs(10.0 / 3.0, 1e-12));
  CHECK_THAT(observer.scale(), WithinRel(static_cast<float>(10.0 / 3.0 / 15.0), 1e-6f));

  // Save and resume.
  a2q::quant::PercentileObserver resumed(u4, 100.0);
  resumed.restore(observer.batches(), observer.statistic());
  resumed.observe(Tensor<float>(Shape{1}, 6.0f));
  observer.observe(Tensor<float>(Shape{1}, 6.0f));
  CHECK(resumed.batches() == 4);
  CHECK(resumed.statistic() == observer.statistic());
  CHECK_THAT(resumed.statistic(), WithinAbs(4.0, 1e-12));

  observer.reset();
  CHECK_FALSE(observer.has_data());
  observer.observe(Tensor<float>(Shape{4}));
  CHECK(observer.scale() == a2q::quant::min_scale);

  CHECK_THROWS_AS(a2q::quant::PercentileObserver(u4, 0.0), a2q::config_error);
  CHECK_THROWS_AS(a2q::quant::PercentileObserver(IntFormat{0, true}), a2q::config_error);
  CHECK_THROWS_AS(resumed.restore(-1, 1.0), a2q::config_error);
  CHECK_THROWS_AS(resumed.restore(2, std::numeric_limits<double>::infinity()), a2q::config_error);
  CHECK(a2q::quant::PercentileObserver(u4).percentile() == 99.99);
}
