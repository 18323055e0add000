#pragma once
/// @file
/// Fake quantization with a learned scale (LSQ, Esser et al. 2020) and its integer twin.
///
/// Forward, per element with u = x / s:   y = s · q,   q = clip(round(u), qmin, qmax).
/// Backward (u inside [qmin, qmax] means qmin <= u <= qmax):
/// - x: straight-through estimator, dy/dx = 1 inside the range and 0 where the value was clipped;
/// - s: dy/ds = q - u inside the range, and q (= qmin or qmax) where clipped, i.e. the LSQ gradient,
///      summed over the elements that share the scale and multiplied by scale_grad_factor
///      (0 = automatic: 1 / sqrt(numel_per_scale · qmax), see lsq_grad_factor).
///
/// One scale for the whole tensor (channel_axis = -1) or one per index along channel_axis (e.g. axis 0
/// of a [C_out, C_in, kh, kw] weight: one scale per output channel). The loops run once over the data
/// in contiguous runs that share a scale, so they vectorise; tensors with more than 1e5 elements are
/// split into fixed blocks processed in parallel, and the per-block partial sums of the scale gradient
/// are added in block order, so every result is independent of the thread count.
///
/// quantize_to_int(x, scale, opt) returns the integers q with the same code path, so that
/// fake_quantize(x, s).value() == s · quantize_to_int(x, s) element for element, bit for bit.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/parallel.hpp"
#include "a2q/core/rng.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/quant/bypass.hpp"
#include "a2q/quant/fake_quant_options.hpp"
#include "a2q/quant/int_format.hpp"
#include "a2q/quant/rounding.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace a2q::quant {

/// Fake-quantizes x with learned scale(s): y = s · clip(round(x / s), qmin, qmax), with the
/// straight-through gradient for x and the LSQ gradient for the scale (see the file comment).
/// @param x any shape
/// @param scale 1 element (per tensor) or dim(channel_axis) elements (per channel); every value must be
///        positive and finite. Learn it in the log2 domain with exp2(log2_scale) (autograd/exp2.hpp).
/// @param opt format, rounding, channel axis, gradient factor, and the Rng for stochastic rounding
/// @throws config_error for an invalid format, a missing Rng, a negative factor or a scale <= 0;
///         numeric_error for a NaN or infinite scale; shape_error for a bad axis or scale size
A2Q_DECL Var fake_quantize(const Var& x, const Var& scale, const FakeQuantOptions& opt);

/// fake_quantize(relu(x), scale, opt) in one pass, equal in value and in gradients bit for bit: the input
/// gradient is also masked where x <= 0. nn::Sequential uses it for a ReLU followed by a calibrated ActQuant.
/// @throws as fake_quantize
A2Q_DECL Var relu_fake_quantize(const Var& x, const Var& scale, const FakeQuantOptions& opt);

/// The integers q = clip(round(x / s), qmin, qmax) that fake_quantize(x, scale, opt) multiplies by s,
/// computed by the same code (bit-identical). For stochastic rounding, pass an Rng in the same state as
/// the fake_quantize call to get its q (one word is drawn, as there).
/// @throws as fake_quantize; numeric_error if an element of x is NaN (it has no integer)
A2Q_DECL Tensor<std::int32_t> quantize_to_int(const Tensor<float>& x, const Tensor<float>& scale,
                                              const FakeQuantOptions& opt);

} // namespace a2q::quant

#if A2Q_HEADER_ONLY
#include "a2q/quant/fake_quantize.ipp"
#endif
