// Tests for a2q/quant/int_format.hpp: the grids of signed, narrow and unsigned formats for every valid
// bit width, and the rejection of invalid ones.

#include "a2q/quant/int_format.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

using a2q::quant::IntFormat;

TEST_CASE("integer format ranges for every bit width", "[quant][int_format]") {
  for (int b = 1; b <= 16; ++b) {
    INFO("bits = " << b);
    const IntFormat u = IntFormat::unsigned_bits(b);
    CHECK(u.qmin() == 0);
    CHECK(u.qmax() == (std::int64_t{1} << b) - 1);
    CHECK(u.levels() == std::int64_t{1} << b);
    CHECK(u.range().lo == a2q::InputRange::of_bits(b, false).lo);
    CHECK(u.range().hi == a2q::InputRange::of_bits(b, false).hi);
    CHECK(u.to_string() == "uint" + std::to_string(b));
    if (b < 2)
      continue;
    const IntFormat s = IntFormat::signed_bits(b);
    CHECK(s.qmin() == -(std::int64_t{1} << (b - 1)));
    CHECK(s.qmax() == (std::int64_t{1} << (b - 1)) - 1);
    CHECK(s.levels() == std::int64_t{1} << b);
    CHECK(s.range().lo == a2q::InputRange::of_bits(b, true).lo);
    CHECK(s.range().hi == a2q::InputRange::of_bits(b, true).hi);
    CHECK(s.to_string() == "int" + std::to_string(b));
    const IntFormat n = IntFormat::signed_bits(b, true);
    CHECK(n.qmin() == -n.qmax());
    CHECK(n.qmax() == s.qmax());
    CHECK(n.levels() == (std::int64_t{1} << b) - 1);
    CHECK(n.to_string() == "int" + std::to_string(b) + "n");
  }
  // Spot checks of the formats the spec uses.
  CHECK(IntFormat::signed_bits(8, true).qmin() == -127);
  CHECK(IntFormat::signed_bits(8).qmin() == -128);
  CHECK(IntFormat::unsigned_bits(8).qmax() == 255);
  CHECK(IntFormat::signed_bits(2, true).qmin() == -1);
  CHECK(IntFormat::unsigned_bits(1).qmax() == 1);
  constexpr IntFormat compile_time = IntFormat::signed_bits(4);
  static_assert(compile_time.qmin() == -8 && compile_time.qmax() == 7, "IntFormat is usable in constexpr");
}

TEST_CASE("aggregate initialisation and equality", "[quant][int_format]") {
  const IntFormat f{4, true, true};
  CHECK(f == IntFormat::signed_bits(4, true));
  CHECK_FALSE(f == IntFormat::signed_bits(4));
  CHECK(IntFormat{8, false} == IntFormat::unsigned_bits(8));
}

TEST_CASE("invalid integer formats are rejected with their values", "[quant][int_format]") {
  CHECK_THROWS_AS(IntFormat::signed_bits(1), a2q::config_error);
  CHECK_THROWS_AS(IntFormat::signed_bits(0), a2q::config_error);
  CHECK_THROWS_AS(IntFormat::signed_bits(17), a2q::config_error);
  CHECK_THROWS_AS(IntFormat::signed_bits(-3), a2q::config_error);
  CHECK_THROWS_AS(IntFormat::unsigned_bits(0), a2q::config_error);
  CHECK_THROWS_AS(IntFormat::unsigned_bits(17), a2q::config_error);
  CHECK_THROWS_AS((IntFormat{8, false, true}.validate()), a2q::config_error);
  CHECK_THROWS_AS((IntFormat{32, true}.qmax()), a2q::config_error);
  CHECK_THROWS_AS((IntFormat{1, true}.qmin()), a2q::config_error);
  CHECK_THROWS_AS(IntFormat{}.validate(), a2q::config_error); // the default is invalid on purpose
  CHECK_THROWS_AS(IntFormat{}.range(), a2q::config_error);
  try {
    IntFormat::signed_bits(20);
    FAIL("no exception");
  } catch (const a2q::config_error& e) {
    const std::string what = e.what();
    CHECK(what.find("20") != std::string::npos);
    CHECK(what.find("2..16") != std::string::npos);
  }
  try {
    IntFormat{4, false, true}.validate();
    FAIL("no exception");
  } catch (const a2q::config_error& e) {
    CHECK(std::string(e.what()).find("narrow") != std::string::npos);
  }
}
