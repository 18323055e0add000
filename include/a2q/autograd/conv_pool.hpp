#pragma once
/// @file
/// A convolution followed by a ReLU and max pooling, as one operation that never writes the convolution's
/// full output: the layers of a small CNN spend as long moving that tensor and its gradient through memory
/// as pooling them.

#include "a2q/autograd/conv_options.hpp"
#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"

namespace a2q {

/// max_pool2d(relu(conv2d(x, weight, bias, conv)), kernel, stride, padding), in value and in gradient. It
/// runs a slice of a few images at a time: the convolution (on the same kernels as conv2d) writes the
/// slice's output into a buffer that stays in the cache, and ReLU + pooling read it there; the backward
/// pass rebuilds the slice's output gradient the same way before the convolution's gradients. Threads take
/// contiguous runs of slices. The weight and bias gradients are summed over slices in double, so they may
/// differ from conv2d's in the last bits. nn::Sequential uses it for a Conv2d, a ReLU and a MaxPool2d.
/// @param x [N, C_in, H, W]
/// @param weight [C_out, C_in / groups, kh, kw]
/// @param bias [C_out], or an undefined Var for no bias
/// @param conv the convolution's stride, padding and groups
/// @param kernel, stride, padding the pooling window, as max_pool2d takes them
/// @return as max_pool2d of the convolution's output
/// @throws as conv2d and max_pool2d
A2Q_DECL Var conv2d_relu_max_pool2d(const Var& x, const Var& weight, const Var& bias,
                                    const Conv2dOptions& conv, int kernel, int stride, int padding = 0);

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/autograd/conv_pool.ipp"
#endif
