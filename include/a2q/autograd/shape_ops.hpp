#pragma once
/// @file
/// Shape operations: flatten and reshape. The element order (row-major) never changes, so the
/// gradient is the output gradient with the input's shape.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"

#include <cstdint>
#include <string>
#include <utility>

namespace a2q {

/// The same elements with a new shape (same element count).
/// @throws shape_error when the element counts differ
inline Var reshape(const Var& x, const Shape& shape) {
  if (shape.numel() != x.value().numel())
    throw shape_error("reshape: cannot reshape " + x.shape().to_string() + " (" +
                      std::to_string(x.value().numel()) + " elements) to " + shape.to_string() + " (" +
                      std::to_string(shape.numel()) + " elements)");
  return detail::make_result(x.value().reshaped(shape), {x}, "reshape", [](detail::Node& self) {
    // The node's gradient is not needed after this call, so it is handed on without a copy;
    // accumulate_grad gives it the input's shape.
    detail::accumulate_grad(self, 0, std::move(self.grad));
  });
}

/// [N, d1, d2, ...] -> [N, d1 * d2 * ...]: e.g. between the convolutional and the dense layers.
/// @throws shape_error for a rank-0 input
inline Var flatten(const Var& x) {
  const Shape& s = x.shape();
  if (s.rank() < 1)
    throw shape_error("flatten: input must have a batch dimension, got a scalar " + s.to_string());
  std::int64_t features = 1;
  for (int axis = 1; axis < s.rank(); ++axis)
    features *= s[axis];
  return reshape(x, Shape{s[0], features});
}

} // namespace a2q
