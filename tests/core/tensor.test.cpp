#include "a2q/core/tensor.hpp"
#include "a2q/core/eigen_view.hpp"

#include <catch2/catch.hpp>

#include <cstdint>

using a2q::Shape;
using a2q::Tensor;

TEST_CASE("shape reports rank, dims and element count", "[core][shape]") {
  const Shape scalar;
  CHECK(scalar.rank() == 0);
  CHECK(scalar.numel() == 1);

  const Shape s{2, 3, 4};
  CHECK(s.rank() == 3);
  CHECK(s[0] == 2);
  CHECK(s[-1] == 4);
  CHECK(s.numel() == 24);
  CHECK(s.to_string() == "[2, 3, 4]");
  CHECK(s == Shape{2, 3, 4});
  CHECK_FALSE(s == Shape{2, 3});
  CHECK(Shape{2, 0, 7}.numel() == 0);
}

TEST_CASE("shape rejects bad dimensions and axes", "[core][shape]") {
  CHECK_THROWS_AS((Shape{1, 2, 3, 4, 5, 6}), a2q::shape_error);
  CHECK_THROWS_AS((Shape{2, -1}), a2q::shape_error);
  CHECK_THROWS_AS((Shape{1 << 30, 1 << 30}), a2q::shape_error);
  const Shape s{2, 3};
  CHECK_THROWS_AS(s[2], a2q::shape_error);
  CHECK_THROWS_AS(s[-3], a2q::shape_error);
  CHECK_THROWS_WITH(s[5], Catch::Matchers::Contains("axis 5") && Catch::Matchers::Contains("[2, 3]"));
}

TEMPLATE_TEST_CASE("tensor construction and row-major indexing", "[core][tensor]", float, double, std::int8_t,
                   std::uint8_t, std::int16_t, std::int32_t, std::int64_t) {
  Tensor<TestType> t(Shape{2, 3, 4});
  CHECK(t.numel() == 24);
  CHECK(t.rank() == 3);
  for (TestType x : t)
    CHECK(x == TestType{0});

  for (std::int64_t i = 0; i < t.numel(); ++i)
    t[i] = static_cast<TestType>(i);
  // Row-major: the last index is contiguous.
  CHECK(t(0, 0, 1) == TestType{1});
  CHECK(t(0, 1, 0) == TestType{4});
  CHECK(t(1, 0, 0) == TestType{12});
  CHECK(t.at(1, 2, 3) == TestType{23});
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);

  const Tensor<TestType> full = Tensor<TestType>::full(Shape{5}, TestType{7});
  CHECK(full.at(4) == TestType{7});
}

TEST_CASE("tensor checked access throws shape_error with the offending index", "[core][tensor]") {
  Tensor<float> t(Shape{2, 3});
  CHECK_THROWS_AS(t.at(2, 0), a2q::shape_error);
  CHECK_THROWS_AS(t.at(0, -1), a2q::shape_error);
  CHECK_THROWS_AS(t.at(0), a2q::shape_error);
  CHECK_THROWS_WITH(t.at(0, 3), Catch::Matchers::Contains("index 3") && Catch::Matchers::Contains("axis 1"));
  CHECK_THROWS_AS(Tensor<float>(Shape{2, 2}, {1.0f, 2.0f, 3.0f}), a2q::shape_error);
}

TEST_CASE("tensor reshape keeps the data and checks the count", "[core][tensor]") {
  Tensor<std::int32_t> t(Shape{2, 3}, {0, 1, 2, 3, 4, 5});
  const auto r = t.reshaped(Shape{3, 2});
  CHECK(r.shape() == Shape{3, 2});
  CHECK(r(2, 1) == 5);
  CHECK(t.shape() == Shape{2, 3});
  CHECK_THROWS_AS(t.reshape(Shape{4, 2}), a2q::shape_error);
  t.reshape(Shape{6});
  CHECK(t.at(5) == 5);
}

TEST_CASE("tensor matrix views map the same memory through Eigen", "[core][tensor][eigen]") {
  Tensor<float> a(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor<float> b(Shape{3, 2}, {1, 0, 0, 1, 1, 1});
  Tensor<float> c(Shape{2, 2});
  as_matrix(c).noalias() = as_matrix(a) * as_matrix(b);
  CHECK(c(0, 0) == 4.0f);
  CHECK(c(0, 1) == 5.0f);
  CHECK(c(1, 0) == 10.0f);
  CHECK(c(1, 1) == 11.0f);

  // Writes through a view land in the tensor.
  as_matrix(a, 3, 2)(2, 1) = 60.0f;
  CHECK(a(1, 2) == 60.0f);
  CHECK(as_vector(a).sum() == 1 + 2 + 3 + 4 + 5 + 60);

  Tensor<float> images(Shape{4, 1, 2, 2});
  CHECK(as_matrix(images).rows() == 4);
  CHECK(as_matrix(images).cols() == 4);
  CHECK_THROWS_AS(as_matrix(a, 4, 2), a2q::shape_error);
}

TEST_CASE("tensor cast converts element-wise", "[core][tensor]") {
  Tensor<float> f(Shape{3}, {1.9f, -2.5f, 100.0f});
  const Tensor<std::int32_t> i = f.cast<std::int32_t>();
  CHECK(i.at(0) == 1);
  CHECK(i.at(1) == -2);
  CHECK(i.at(2) == 100);
  CHECK(i.cast<double>().at(2) == 100.0);
}

TEST_CASE("seeded tensor init is deterministic", "[core][tensor][rng]") {
  a2q::Rng r1(42), r2(42), r3(43);
  const auto a = Tensor<float>::normal(Shape{16, 16}, 0.0, 1.0, r1);
  const auto b = Tensor<float>::normal(Shape{16, 16}, 0.0, 1.0, r2);
  const auto c = Tensor<float>::normal(Shape{16, 16}, 0.0, 1.0, r3);
  CHECK(a == b);
  CHECK_FALSE(a == c);

  a2q::Rng r4(7);
  const auto u = Tensor<std::int8_t>::uniform(Shape{1000}, -3, 3, r4);
  int seen_min = 0, seen_max = 0;
  for (std::int8_t x : u) {
    REQUIRE(x >= -3);
    REQUIRE(x <= 3);
    seen_min += x == -3;
    seen_max += x == 3;
  }
  CHECK(seen_min > 0);
  CHECK(seen_max > 0);
}
