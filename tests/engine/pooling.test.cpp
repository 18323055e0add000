// Tests for the integer pooling ops of a2q/engine/integer_ops.hpp: max_pool_integer against a plain
// definition (the maximum over the window's positions inside the input) for every kernel, stride and
// padding combination on odd and even sizes, including the 2x2 fast path and int32 extremes.

#include "a2q/engine/integer_ops.hpp"

#include "a2q/core/rng.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>

namespace {

using a2q::Rng;
using a2q::Shape;
using a2q::Tensor;
using a2q::engine::MaxPoolOp;

/// out[n, c, oy, ox] = max of x over the window's positions inside the input.
Tensor<std::int32_t> max_pool_definition(const Tensor<std::int32_t>& x, const MaxPoolOp& op) {
  const std::int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const std::int64_t Ho = (H + 2 * op.padding - op.kernel) / op.stride + 1;
  const std::int64_t Wo = (W + 2 * op.padding - op.kernel) / op.stride + 1;
  Tensor<std::int32_t> y(Shape{N, C, Ho, Wo});
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t oy = 0; oy < Ho; ++oy)
        for (std::int64_t ox = 0; ox < Wo; ++ox) {
          std::optional<std::int32_t> best;
          for (std::int64_t iy = oy * op.stride - op.padding; iy < oy * op.stride - op.padding + op.kernel;
               ++iy)
            for (std::int64_t ix = ox * op.stride - op.padding; ix < ox * op.stride - op.padding + op.kernel;
                 ++ix)
              if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                best = std::max(best.value_or(std::numeric_limits<std::int32_t>::min()),
                                x[((n * C + c) * H + iy) * W + ix]);
          REQUIRE(best.has_value()); // every window holds at least one input position
          y[((n * C + c) * Ho + oy) * Wo + ox] = *best;
        }
  return y;
}

} // namespace

TEST_CASE("max_pool_integer is the maximum over each window", "[engine][pooling]") {
  Rng rng(0x9001);
  for (const auto& [H, W] : {std::pair<std::int64_t, std::int64_t>{6, 6}, {5, 7}, {2, 3}})
    for (int kernel = 1; kernel <= 3; ++kernel)
      for (int stride = 1; stride <= 3; ++stride)
        for (int padding = 0; padding <= kernel / 2; ++padding) {
          if (H + 2 * padding < kernel || W + 2 * padding < kernel)
            continue;
          CAPTURE(H, W, kernel, stride, padding);
          Tensor<std::int32_t> x(Shape{2, 3, H, W});
          for (std::int32_t& v : x)
            v = static_cast<std::int32_t>(rng.uniform_int(-300, 300));
          x[0] = std::numeric_limits<std::int32_t>::min(); // extremes survive the comparisons
          x[1] = std::numeric_limits<std::int32_t>::max();
          const MaxPoolOp op{.kernel = kernel, .stride = stride, .padding = padding};
          const Tensor<std::int32_t> got = a2q::engine::max_pool_integer(x, op);
          const Tensor<std::int32_t> expected = max_pool_definition(x, op);
          REQUIRE(got.shape() == expected.shape());
          for (std::int64_t i = 0; i < got.numel(); ++i) {
            INFO("output " << i);
            REQUIRE(got[i] == expected[i]);
          }
        }
}

TEST_CASE("max_pool_integer refuses inputs it cannot pool", "[engine][pooling]") {
  CHECK_THROWS_AS(a2q::engine::max_pool_integer(Tensor<std::int32_t>(Shape{2, 3}), MaxPoolOp{}),
                  a2q::shape_error);
  CHECK_THROWS_AS(a2q::engine::max_pool_integer(Tensor<std::int32_t>(Shape{1, 1, 1, 4}), MaxPoolOp{}),
                  a2q::shape_error);
}
