#pragma once
// Reference answers for the optimizer tests, in double precision with plain loops (no linear-algebra
// library to compile into every test).

#include "a2q/core/tensor.hpp"

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace optim_test {

/// x w^T + b for x [n, in], w [out, in] and b [out] (b may be null).
inline a2q::Tensor<float> affine(const a2q::Tensor<float>& x, const a2q::Tensor<float>& w,
                                 const a2q::Tensor<float>* b = nullptr) {
  const std::int64_t n = x.dim(0), in = x.dim(1), out = w.dim(0);
  a2q::Tensor<float> y(a2q::Shape{n, out});
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t o = 0; o < out; ++o) {
      double sum = b != nullptr ? (*b)[o] : 0.0;
      for (std::int64_t i = 0; i < in; ++i)
        sum += static_cast<double>(x(r, i)) * w(o, i);
      y(r, o) = static_cast<float>(sum);
    }
  return y;
}

/// The stationary point W [out, in] (row-major) of c/2 · ||x W^T - y||^2 + wd/2 · ||W||^2 for x [n, in]
/// and y [n, out]: the solution of (c x^T x + wd I) W^T = c x^T y, by Gaussian elimination with partial
/// pivoting.
inline std::vector<double> ridge_solution(const a2q::Tensor<float>& x, const a2q::Tensor<float>& y, double c,
                                          double wd) {
  const std::int64_t n = x.dim(0), in = x.dim(1), out = y.dim(1);
  const std::int64_t cols = in + out; // [A | B]
  std::vector<double> m(static_cast<std::size_t>(in * cols), 0.0);
  const auto at = [&](std::int64_t r, std::int64_t col) -> double& {
    return m[static_cast<std::size_t>(r * cols + col)];
  };
  for (std::int64_t i = 0; i < in; ++i) {
    for (std::int64_t j = 0; j < in; ++j) {
      double sum = 0.0;
      for (std::int64_t r = 0; r < n; ++r)
        sum += static_cast<double>(x(r, i)) * x(r, j);
      at(i, j) = c * sum + (i == j ? wd : 0.0);
    }
    for (std::int64_t o = 0; o < out; ++o) {
      double sum = 0.0;
      for (std::int64_t r = 0; r < n; ++r)
        sum += static_cast<double>(x(r, i)) * y(r, o);
      at(i, in + o) = c * sum;
    }
  }
  for (std::int64_t k = 0; k < in; ++k) {
    std::int64_t pivot = k;
    for (std::int64_t r = k + 1; r < in; ++r)
      if (std::abs(at(r, k)) > std::abs(at(pivot, k)))
        pivot = r;
    for (std::int64_t col = 0; col < cols; ++col)
      std::swap(at(k, col), at(pivot, col));
    for (std::int64_t r = 0; r < in; ++r) {
      if (r == k)
        continue;
      const double f = at(r, k) / at(k, k);
      for (std::int64_t col = k; col < cols; ++col)
        at(r, col) -= f * at(k, col);
    }
  }
  std::vector<double> w(static_cast<std::size_t>(out * in));
  for (std::int64_t o = 0; o < out; ++o)
    for (std::int64_t i = 0; i < in; ++i)
      w[static_cast<std::size_t>(o * in + i)] = at(i, in + o) / at(i, i);
  return w;
}

} // namespace optim_test
