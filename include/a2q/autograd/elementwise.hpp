#pragma once
/// @file
/// Element-wise autograd operations: add, subtract, multiply, scale, ReLU, sum and mean.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"

namespace a2q {

/// a + b (same shape; e.g. a residual connection).
A2Q_DECL Var add(const Var& a, const Var& b);

/// a - b (same shape).
A2Q_DECL Var sub(const Var& a, const Var& b);

/// a * b element-wise (same shape).
A2Q_DECL Var mul(const Var& a, const Var& b);

/// factor * a.
A2Q_DECL Var scale(const Var& a, float factor);

/// max(a, 0). The gradient at exactly 0 is taken as 0.
A2Q_DECL Var relu(const Var& a);

/// Sum of all elements, as a scalar.
A2Q_DECL Var sum(const Var& a);

/// Mean of all elements, as a scalar.
A2Q_DECL Var mean(const Var& a);

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/autograd/elementwise.ipp"
#endif
