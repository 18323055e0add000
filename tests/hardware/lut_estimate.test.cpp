// Tests for a2q/hardware/lut_estimate.hpp: FINN's MVAU LUT model term by term on hand-computed cases, the
// folding rule, and what the accumulator width costs.

#include "a2q/hardware/lut_estimate.hpp"

#include <catch2/catch.hpp>

#include <vector>

using a2q::hardware::MvauLayer;

TEST_CASE("the MVAU LUT estimate follows FINN's formula term by term", "[hardware][luts]") {
  // 256x256, W8A8, P = 16, an 8-bit activation after it, PE = SIMD = 1:
  // multipliers 1·(2·ceil(16/6) - 1)·16 = 80, adder tree 16·1 = 16, accumulator 16,
  // thresholds 255·16·ceil(256/64) = 16320, comparators 255·16 = 4080; 300 + 1.1·20512 = 22863.2.
  const auto e = a2q::hardware::mvau_luts({.rows = 256,
                                           .columns = 256,
                                           .weight_bits = 8,
                                           .input_bits = 8,
                                           .accumulator_bits = 16,
                                           .output_bits = 8});
  CHECK(e.multipliers == 80.0);
  CHECK(e.adder_tree == 16.0);
  CHECK(e.accumulator == 16.0);
  CHECK(e.thresholds == 16320.0);
  CHECK(e.comparators == 4080.0);
  CHECK(e.total == Approx(22863.2));

  // Folded: PE 4, SIMD 8 -> multipliers 8·5·16 = 640, adder tree 16·15 = 240, thresholds 255·16·1.
  const auto f = a2q::hardware::mvau_luts({.rows = 256,
                                           .columns = 256,
                                           .weight_bits = 8,
                                           .input_bits = 8,
                                           .accumulator_bits = 16,
                                           .output_bits = 8,
                                           .pe = 4,
                                           .simd = 8});
  CHECK(f.multipliers == 640.0);
  CHECK(f.adder_tree == 240.0);
  CHECK(f.thresholds == 4080.0);
  CHECK(f.total == Approx(300.0 + 1.1 * 4.0 * (640.0 + 240.0 + 16.0 + 4080.0 + 4080.0)));

  // The last layer has no thresholds; a tiled layer counts its inner register too.
  const auto last = a2q::hardware::mvau_luts({.rows = 10,
                                              .columns = 256,
                                              .weight_bits = 8,
                                              .input_bits = 8,
                                              .accumulator_bits = 32,
                                              .inner_bits = 16});
  CHECK(last.thresholds == 0.0);
  CHECK(last.accumulator == 48.0);
  CHECK(last.total == Approx(300.0 + 1.1 * (80.0 + 16.0 + 48.0)));
}

TEST_CASE("folding takes divisors, and a narrower accumulator costs fewer LUTs", "[hardware][luts]") {
  CHECK(a2q::hardware::largest_divisor_at_most(10, 4) == 2);
  CHECK(a2q::hardware::largest_divisor_at_most(784, 16) == 16);
  CHECK(a2q::hardware::largest_divisor_at_most(13, 8) == 1);
  CHECK(a2q::hardware::mvau_luts({.rows = 10, .columns = 13, .pe = 4, .simd = 8}).pe == 2);
  double previous = 0.0;
  for (int P : {12, 16, 20, 32}) {
    const double luts =
        a2q::hardware::mvau_luts({.rows = 64, .columns = 576, .accumulator_bits = P, .output_bits = 4}).total;
    CHECK(luts > previous);
    previous = luts;
  }
  CHECK_THROWS_AS(a2q::hardware::mvau_luts({.rows = 0}), a2q::config_error);
  CHECK_THROWS_AS(a2q::hardware::mvau_luts({.accumulator_bits = 65}), a2q::config_error);
}

TEST_CASE("a network's estimate thresholds each layer by the next layer's input bits", "[hardware][luts]") {
  a2q::nn::IntegerLayer a, b;
  a.out_channels = 64;
  a.fan_in = 100;
  a.input_bits = 8;
  a.accumulator_bits = 16;
  b.out_channels = 10;
  b.fan_in = 64;
  b.input_bits = 4;
  b.accumulator_bits = 20;
  const auto luts = a2q::hardware::network_luts({&a, &b});
  REQUIRE(luts.size() == 2);
  CHECK(luts[0].comparators == 15.0 * 16.0); // B = 4: 15 thresholds of the 16-bit accumulator
  CHECK(luts[1].thresholds == 0.0);
  const auto wide = a2q::hardware::network_luts({&a, &b}, 1, 1, 32);
  CHECK(wide[0].comparators == 15.0 * 32.0);
  CHECK(wide[0].total > luts[0].total);
}
