#pragma once
/// @file
/// C = op(A) op(B) on row-major float matrices, on the backend in effect (backend.hpp): oneDNN's sgemm
/// or Eigen's product. The autograd products (linear, matmul) go through it.

#include "a2q/autograd/backend.hpp"
#include "a2q/core/eigen_view.hpp"
#include "a2q/core/error.hpp"

#include <cstdint>
#include <string>

#if defined(A2Q_WITH_ONEDNN)
#include <dnnl.h>
#endif

namespace a2q::detail {

/// C [m, n] = op(A) op(B), overwritten; op(A) is [m, k], op(B) is [k, n]. A is stored [m, k] (or [k, m]
/// when transpose_a), B [k, n] (or [n, k] when transpose_b), all row-major and contiguous.
inline void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k,
                 const float* a, const float* b, float* c) {
  if (m == 0 || n == 0)
    return;
#if defined(A2Q_WITH_ONEDNN)
  if (float_backend() == FloatBackend::onednn) {
    const dnnl_status_t status = dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, 1.0f,
                                            a, transpose_a ? m : k, b, transpose_b ? k : n, 0.0f, c, n);
    if (status != dnnl_success)
      throw numeric_error("oneDNN sgemm failed with status " + std::to_string(static_cast<int>(status)) +
                          " on a " + std::to_string(m) + "x" + std::to_string(k) + " by " +
                          std::to_string(k) + "x" + std::to_string(n) + " product");
    return;
  }
#endif
  using ConstMap = Eigen::Map<const RowMatrix<float>>;
  Eigen::Map<RowMatrix<float>> result(c, m, n);
  const ConstMap A(a, transpose_a ? k : m, transpose_a ? m : k);
  const ConstMap B(b, transpose_b ? n : k, transpose_b ? k : n);
  if (transpose_a && transpose_b)
    result.noalias() = A.transpose() * B.transpose();
  else if (transpose_a)
    result.noalias() = A.transpose() * B;
  else if (transpose_b)
    result.noalias() = A * B.transpose();
  else
    result.noalias() = A * B;
}

} // namespace a2q::detail
