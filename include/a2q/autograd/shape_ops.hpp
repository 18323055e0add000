#pragma once
/// @file
/// Shape operations: flatten and reshape. The element order (row-major) never changes, so the
/// gradient is the output gradient with the input's shape.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"

namespace a2q {

/// The same elements with a new shape (same element count).
/// @throws shape_error when the element counts differ
A2Q_DECL Var reshape(const Var& x, const Shape& shape);

/// [N, d1, d2, ...] -> [N, d1 * d2 * ...]: e.g. between the convolutional and the dense layers.
/// @throws shape_error for a rank-0 input
A2Q_DECL Var flatten(const Var& x);

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/autograd/shape_ops.ipp"
#endif
