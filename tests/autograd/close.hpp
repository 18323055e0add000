#pragma once
// Helpers shared by the autograd tests.

#include "a2q/autograd/backend.hpp"
#include "a2q/core/tensor.hpp"

#include <catch2/catch.hpp>

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

/// Restores the float backend in effect when it was made.
struct BackendRestorer {
  a2q::FloatBackend saved = a2q::float_backend();
  ~BackendRestorer() { a2q::set_float_backend(saved); }
};

} // namespace a2q_test
