#pragma once
/// @file
/// A ReLU, an activation quantizer and max pooling as one pass, alone or after a convolution: the layers of
/// a quantized CNN (QuantConv2d -> ReLU -> ActQuant -> MaxPool2d) spend longer moving the full-size
/// tensors between those steps than computing them.
///
/// The results equal the composition's: the values bit for bit; each window's gradient goes to the first
/// of its largest *quantized* values (as max_pool2d after fake_quantize picks it, ties being common on
/// the integer grid); the input gets the ReLU's and the straight-through estimator's mask; the scale gets
/// the LSQ gradient with the automatic factor counted over the elements before pooling. Only the chosen
/// element of each window has a non-zero gradient, so the pass keeps one raw value per output instead of
/// the tensor before pooling. Sums of the scale's gradient run in another order than fake_quantize's.

#include "a2q/autograd/conv_options.hpp"
#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"
#include "a2q/quant/fake_quantize.hpp"

namespace a2q::quant {

/// max_pool2d(fake_quantize(relu(x), scale, opt), kernel, stride, padding), in value and in gradient.
/// @param x [N, C, H, W]
/// @param scale 1 element (one scale for the tensor), positive and finite
/// @param opt as fake_quantize's, with channel_axis = -1 and a deterministic rounding mode
/// @throws as fake_quantize and max_pool2d; config_error for stochastic rounding or a per-channel axis
A2Q_DECL Var relu_quantize_max_pool2d(const Var& x, const Var& scale, const FakeQuantOptions& opt, int kernel,
                                      int stride, int padding = 0);

/// max_pool2d(fake_quantize(relu(conv2d(x, weight, bias, conv)), scale, opt), kernel, stride, padding), in
/// value and in gradient, on the slices of conv2d_relu_max_pool2d (the convolution's output never goes to
/// memory whole). nn::Sequential uses it for a QuantConv2d, a ReLU, a calibrated ActQuant and a MaxPool2d.
/// @throws as conv2d and relu_quantize_max_pool2d
A2Q_DECL Var conv2d_relu_quantize_max_pool2d(const Var& x, const Var& weight, const Var& bias,
                                             const Conv2dOptions& conv, const Var& scale,
                                             const FakeQuantOptions& opt, int kernel, int stride,
                                             int padding = 0);

} // namespace a2q::quant

#if A2Q_HEADER_ONLY
#include "a2q/quant/relu_quantize_pool.ipp"
#endif
