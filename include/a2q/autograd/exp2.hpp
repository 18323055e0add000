#pragma once
/// @file
/// exp2: 2^t element-wise, so that positive quantities (quantizer scales, norms) can be learned in the
/// log2 domain: scale = exp2(log2_scale) is positive for every parameter value, and an additive step on
/// log2_scale is a relative step on the scale.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"

namespace a2q {

/// 2^t element-wise; d/dt 2^t = 2^t · ln 2 (the backward pass reuses the output).
A2Q_DECL Var exp2(const Var& t);

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/autograd/exp2.ipp"
#endif
