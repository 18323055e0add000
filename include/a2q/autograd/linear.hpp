#pragma once
/// @file
/// Dense layers' autograd operations: matmul, linear (x W^T + b) and bias add.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"

namespace a2q {

/// [n, k] x [k, m] -> [n, m].
A2Q_DECL Var matmul(const Var& a, const Var& b);

/// y = x W^T + b with x [n, in], W [out, in] (PyTorch's layout), b [out] or undefined for no bias.
A2Q_DECL Var linear(const Var& x, const Var& weight, const Var& bias = Var());

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/autograd/linear.ipp"
#endif
