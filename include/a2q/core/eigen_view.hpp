#pragma once
/// @file
/// Eigen views of a Tensor's elements (no copy): as_matrix and as_vector. Kept apart from tensor.hpp
/// so that only the code that does linear algebra pays for parsing Eigen.

#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <string>

namespace a2q {

/// Row-major dynamic Eigen matrix of T, the type the matrix views map.
template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace detail {

/// Throws shape_error unless `shape` holds exactly rows x cols elements.
inline void check_matrix_view(const Shape& shape, std::int64_t rows, std::int64_t cols) {
  if (rows < 0 || cols < 0 || rows * cols != shape.numel())
    throw shape_error("cannot view " + shape.to_string() + " (" + std::to_string(shape.numel()) +
                      " elements) as a " + std::to_string(rows) + "x" + std::to_string(cols) + " matrix");
}

/// Rows of the default matrix view: the first dimension (1 for a scalar).
inline std::int64_t leading_extent(const Shape& shape) {
  return shape.rank() == 0 ? 1 : shape[0];
}

/// Columns of the default matrix view: all other dimensions flattened.
inline std::int64_t trailing_extent(const Shape& shape) {
  const std::int64_t rows = leading_extent(shape);
  return rows == 0 ? 0 : shape.numel() / rows;
}

} // namespace detail

/// Row-major matrix view of all elements as rows x cols (rows * cols must equal numel()).
template <TensorElement T>
Eigen::Map<RowMatrix<T>> as_matrix(Tensor<T>& t, std::int64_t rows, std::int64_t cols) {
  detail::check_matrix_view(t.shape(), rows, cols);
  return {t.data(), rows, cols};
}
template <TensorElement T>
Eigen::Map<const RowMatrix<T>> as_matrix(const Tensor<T>& t, std::int64_t rows, std::int64_t cols) {
  detail::check_matrix_view(t.shape(), rows, cols);
  return {t.data(), rows, cols};
}

/// Matrix view with the first dimension as rows and the rest flattened into columns.
template <TensorElement T>
Eigen::Map<RowMatrix<T>> as_matrix(Tensor<T>& t) {
  return as_matrix(t, detail::leading_extent(t.shape()), detail::trailing_extent(t.shape()));
}
template <TensorElement T>
Eigen::Map<const RowMatrix<T>> as_matrix(const Tensor<T>& t) {
  return as_matrix(t, detail::leading_extent(t.shape()), detail::trailing_extent(t.shape()));
}

/// Flat column-vector view of all elements.
template <TensorElement T>
Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>> as_vector(Tensor<T>& t) {
  return {t.data(), t.numel()};
}
template <TensorElement T>
Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>> as_vector(const Tensor<T>& t) {
  return {t.data(), t.numel()};
}

} // namespace a2q
