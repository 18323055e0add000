#pragma once
/// @file
/// The settings of a 2-D convolution, apart from conv.hpp so that the kernels' headers (conv_plan.hpp and
/// those it serves) compile on their own: conv.hpp pulls in its definitions, which include them.

namespace a2q {

/// Settings of a 2-D convolution (dilation is always 1).
struct Conv2dOptions {
  int stride = 1;  ///< step of the window in both directions, >= 1
  int padding = 0; ///< zero padding added on every side, >= 0
  int groups = 1;  ///< channel groups, >= 1; input and output channels must both be divisible by it
};

} // namespace a2q
