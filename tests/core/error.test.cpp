#include "a2q/core/error.hpp"
#include "a2q/core/assert.hpp"

#include <catch2/catch.hpp>

#include <type_traits>

TEST_CASE("every a2q exception derives from a2q::error", "[core][error]") {
  STATIC_REQUIRE(std::is_base_of_v<a2q::error, a2q::shape_error>);
  STATIC_REQUIRE(std::is_base_of_v<a2q::error, a2q::config_error>);
  STATIC_REQUIRE(std::is_base_of_v<a2q::error, a2q::io_error>);
  STATIC_REQUIRE(std::is_base_of_v<a2q::error, a2q::overflow_error>);
  STATIC_REQUIRE(std::is_base_of_v<a2q::error, a2q::numeric_error>);
  STATIC_REQUIRE(std::is_base_of_v<a2q::error, a2q::internal_error>);
  STATIC_REQUIRE(std::is_base_of_v<std::runtime_error, a2q::error>);
  CHECK_THROWS_AS(throw a2q::overflow_error("x"), a2q::error);
}

TEST_CASE("A2Q_ASSERT throws internal_error naming the expression", "[core][assert]") {
  const int value = 3;
  CHECK_NOTHROW([&] { A2Q_ASSERT(value == 3); }());
  CHECK_THROWS_AS([&] { A2Q_ASSERT(value == 4); }(), a2q::internal_error);
  CHECK_THROWS_WITH([&] { A2Q_ASSERT(value == 4); }(), Catch::Matchers::Contains("value == 4"));
}
