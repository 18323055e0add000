#pragma once
/// @file
/// 2-D convolution with PyTorch's layout and semantics (cross-correlation, dilation 1).
///
/// General and grouped convolutions lower each sample to columns (im2col.hpp) and multiply with
/// Eigen's GEMM, one product per channel group. Convolutions whose output channels each read one input
/// channel (depthwise layers, a first layer on one-channel images) use direct loops over zero-padded
/// planes where those beat a GEMM with an inner dimension of kh * kw (direct_conv.hpp says where). Samples
/// are split into one contiguous chunk per thread; each chunk owns its column buffer and, in the backward
/// pass, its own partial weight gradient, and the partials are summed in chunk order. The split depends
/// only on the batch size and the thread count, so a result never depends on how threads happen to be
/// scheduled.
///
/// With the oneDNN backend (backend.hpp) ungrouped convolutions run on oneDNN's primitives instead, which
/// pick their kernels for the CPU they run on (onednn_conv.hpp); the Eigen path stays the reference.
/// Ungrouped 3x3 convolutions with stride 1 and at least 8 channels on each side run as Winograd's
/// F(2x2, 3x3) on either backend (winograd_conv.hpp): 16 multiplies per 2x2 outputs instead of 36.
/// A2Q_WINOGRAD=0 in the environment turns that off.

#include "a2q/autograd/backend.hpp"
#include "a2q/autograd/conv_options.hpp"
#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"

namespace a2q {

/// 2-D convolution, PyTorch's conv2d with dilation 1.
/// @param x input [N, C_in, H, W]
/// @param weight [C_out, C_in / groups, kh, kw]; kernels may be non-square
/// @param bias [C_out], or an undefined Var for no bias
/// @param opt stride, padding (both directions) and groups
/// @return [N, C_out, (H + 2 padding - kh) / stride + 1, (W + 2 padding - kw) / stride + 1]
/// @throws config_error for bad options or groups that do not divide the channel counts,
///         shape_error for shapes that do not fit together
A2Q_DECL Var conv2d(const Var& x, const Var& weight, const Var& bias, const Conv2dOptions& opt = {});

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/autograd/conv.ipp"
#endif
