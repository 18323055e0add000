#pragma once
// Helpers shared by the autograd tests.

#include "a2q/autograd/backend.hpp"
#include "a2q/core/tensor.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace a2q_test {

/// Requires `actual` to have the shape of `expected` and every element within tol * (1 + |expected|) of it;
/// on failure, reports the first element that is not.
inline void require_close(const a2q::Tensor<float>& actual, const a2q::Tensor<float>& expected,
                          float tol = 1e-5f) {
  REQUIRE(actual.shape() == expected.shape());
  std::int64_t bad = -1; // first element out of tolerance
  for (std::int64_t i = 0; i < actual.numel() && bad < 0; ++i)
    if (!(std::abs(actual[i] - expected[i]) <= tol * (1.0f + std::abs(expected[i]))))
      bad = i;
  INFO("first mismatch at element " << bad << ": " << (bad >= 0 ? actual[bad] : 0.0f) << " vs "
                                    << (bad >= 0 ? expected[bad] : 0.0f));
  REQUIRE(bad == -1);
}

/// Requires `actual` to have the shape of `expected` and every element within tol * (1 + max |expected|)
/// of it: for results whose small elements come from cancelling larger terms, such as Winograd's weight
/// gradient (dw = G^T dU G, whose dU terms exceed dw), where an error relative to each element says nothing.
inline void require_close_to_scale(const a2q::Tensor<float>& actual, const a2q::Tensor<float>& expected,
                                   float tol = 1e-5f) {
  REQUIRE(actual.shape() == expected.shape());
  float scale = 0.0f;
  for (std::int64_t i = 0; i < expected.numel(); ++i)
    scale = std::max(scale, std::abs(expected[i]));
  std::int64_t bad = -1;
  for (std::int64_t i = 0; i < actual.numel() && bad < 0; ++i)
    if (!(std::abs(actual[i] - expected[i]) <= tol * (1.0f + scale)))
      bad = i;
  INFO("largest |expected| " << scale << "; first mismatch at element " << bad << ": "
                             << (bad >= 0 ? actual[bad] : 0.0f) << " vs "
                             << (bad >= 0 ? expected[bad] : 0.0f));
  REQUIRE(bad == -1);
}

/// Restores the float backend in effect when it was made.
struct BackendRestorer {
  a2q::FloatBackend saved = a2q::float_backend();
  ~BackendRestorer() { a2q::set_float_backend(saved); }
};

} // namespace a2q_test
