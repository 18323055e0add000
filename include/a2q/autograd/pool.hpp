#pragma once
/// @file
/// 2-D pooling over [N, C, H, W]: max pooling, average pooling and global average pooling.
/// Square windows, output size floor((H + 2 padding - kernel) / stride) + 1 (PyTorch, ceil_mode off).

#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"

namespace a2q {

/// Max pooling. Padding acts as -infinity (it is never selected). The index of each window's maximum
/// is kept for the backward pass, which routes the gradient to that one element; on ties the first
/// element in row-major order wins, and a NaN in a window is propagated (its first NaN is selected).
/// @param x [N, C, H, W]
/// @param kernel window size (square), >= 1
/// @param stride window step, >= 1
/// @param padding in [0, kernel / 2]
/// @return [N, C, (H + 2 padding - kernel) / stride + 1, (W + 2 padding - kernel) / stride + 1]
A2Q_DECL Var max_pool2d(const Var& x, int kernel, int stride, int padding = 0);

/// Max pooling with stride equal to the kernel (non-overlapping windows) and no padding.
A2Q_DECL Var max_pool2d(const Var& x, int kernel);

/// relu(max_pool2d(x, kernel, stride, padding)) in one pass over x. It equals max_pool2d(relu(x), ...) too,
/// in value and in gradient, because ReLU is monotone and passes no gradient where a window's maximum is
/// <= 0; the one pass saves the ReLU's reads and writes of the larger tensor. A NaN maximum gives 0.
/// nn::Sequential uses it for a ReLU followed by a MaxPool2d.
/// @param x [N, C, H, W]
/// @return as max_pool2d
A2Q_DECL Var relu_max_pool2d(const Var& x, int kernel, int stride, int padding = 0);

/// Average pooling. With count_include_pad (PyTorch's default) every window is divided by
/// kernel * kernel, padded positions counting as zeros; without it, by the number of image pixels the
/// window covers.
/// @param x [N, C, H, W]
/// @param kernel window size (square), >= 1
/// @param stride window step, >= 1
/// @param padding in [0, kernel / 2]
/// @param count_include_pad whether padded positions count in the divisor
/// @return [N, C, (H + 2 padding - kernel) / stride + 1, (W + 2 padding - kernel) / stride + 1]
A2Q_DECL Var avg_pool2d(const Var& x, int kernel, int stride, int padding = 0, bool count_include_pad = true);

/// Average pooling with stride equal to the kernel (non-overlapping windows) and no padding.
A2Q_DECL Var avg_pool2d(const Var& x, int kernel);

/// Mean over each channel's whole image: [N, C, H, W] -> [N, C].
A2Q_DECL Var global_avg_pool2d(const Var& x);

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/autograd/pool.ipp"
#endif
