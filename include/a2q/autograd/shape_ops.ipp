#pragma once
/// @file
/// Definitions for shape_ops.hpp (see a2q/core/config.hpp).

#include "a2q/autograd/shape_ops.hpp"

#include "a2q/autograd/variable.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/pixel_shuffle.hpp"
#include "a2q/core/tensor.hpp"

#include <cstdint>
#include <string>
#include <utility>

namespace a2q {

Var reshape(const Var& x, const Shape& shape) {
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

Var flatten(const Var& x) {
  const Shape& s = x.shape();
  if (s.rank() < 1)
    throw shape_error("flatten: input must have a batch dimension, got a scalar " + s.to_string());
  std::int64_t features = 1;
  for (int axis = 1; axis < s.rank(); ++axis)
    features *= s[axis];
  return reshape(x, Shape{s[0], features});
}

Var pixel_shuffle(const Var& x, std::int64_t factor) {
  return detail::make_result(
      pixel_shuffle(x.value(), factor), {x}, "pixel_shuffle",
      [factor](detail::Node& self) { detail::accumulate_grad(self, 0, pixel_unshuffle(self.grad, factor)); });
}

} // namespace a2q
