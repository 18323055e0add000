#pragma once
/// @file
/// Shape operations: flatten and reshape (the element order, row-major, never changes, so the gradient is
/// the output gradient with the input's shape), and pixel shuffle (a permutation, whose gradient is the
/// inverse permutation).

#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"

namespace a2q {

/// The same elements with a new shape (same element count).
/// @throws shape_error when the element counts differ
A2Q_DECL Var reshape(const Var& x, const Shape& shape);

/// [N, d1, d2, ...] -> [N, d1 * d2 * ...]: e.g. between the convolutional and the dense layers.
/// @throws shape_error for a rank-0 input
A2Q_DECL Var flatten(const Var& x);

/// Sub-pixel rearrangement [N, C·r², H, W] -> [N, C, H·r, W·r] (core/pixel_shuffle.hpp), e.g. ESPCN's
/// upscaling layer.
/// @throws shape_error for another rank or channels not divisible by r²
A2Q_DECL Var pixel_shuffle(const Var& x, std::int64_t factor);

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/autograd/shape_ops.ipp"
#endif
