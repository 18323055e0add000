#pragma once
// The convolution + pooling shapes shared by the fused-pass tests (autograd's conv2d_relu_max_pool2d and
// quant's conv2d_relu_quantize_max_pool2d run on the same convolution kernels and slices).

#include "a2q/autograd/conv_options.hpp"

#include <cstdint>
#include <vector>

namespace a2q_test {

/// A convolution [n, c_in, h, w] * [c_out, c_in / groups, k, k] followed by max pooling.
struct ConvPoolCase {
  const char* name;
  std::int64_t n, c_in, h, w, c_out, k;
  a2q::Conv2dOptions conv;
  int pool_kernel, pool_stride, pool_padding;
  bool bias;
};

/// Each case needs several slices of images (conv_pool_slice_images), so that a slice's offsets are tested
/// beyond the first one, and together they take every convolution kernel and both pooling kernels.
inline const std::vector<ConvPoolCase>& conv_pool_cases() {
  static const std::vector<ConvPoolCase> all = {
      // Direct loops (one input channel): 5 images a slice, so slices of 5, 5 and 2.
      {"direct, the CNN's first layer", 12, 1, 28, 28, 16, 3, {1, 1, 1}, 2, 2, 0, true},
      // Winograd (3x3, stride 1, 16 -> 32): 10 images a slice.
      {"Winograd, the CNN's second layer", 13, 16, 14, 14, 32, 3, {1, 1, 1}, 2, 2, 0, false},
      // GEMM (5x5) with a 64-channel 32x32 output: one image a slice; overlapping padded pooling windows.
      {"GEMM, overlapping pooling", 3, 3, 32, 32, 64, 5, {1, 2, 1}, 3, 2, 1, true},
      // Strided, 3x3 windows that do not overlap: the gradients from the windows' argmax
      // (pooled_conv_grad.hpp) with channels-last rows that are not whole vectors apart; 2 images a slice.
      {"strided, 3x3 pooling, 8 input channels", 5, 8, 45, 41, 64, 3, {2, 1, 1}, 3, 3, 0, true},
      // Grouped and strided, odd sizes: pooling drops the last row and column.
      {"grouped, strided, ragged pooling", 5, 4, 61, 47, 64, 3, {2, 1, 2}, 2, 2, 0, true},
  };
  return all;
}

} // namespace a2q_test
