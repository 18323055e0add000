#pragma once
/// @file
/// Definitions for residual.hpp (see a2q/core/config.hpp).

#include "a2q/nn/residual.hpp"

#include "a2q/autograd/elementwise.hpp"
#include "a2q/nn/batch_norm.hpp"
#include "a2q/nn/conv2d.hpp"

#include <memory>

namespace a2q::nn {

ResidualBlock::ResidualBlock(std::int64_t in_channels, std::int64_t out_channels, int stride, Rng& rng)
    : conv1(in_channels, out_channels, 3, rng, {.stride = stride, .padding = 1}, false), bn1(out_channels),
      conv2(out_channels, out_channels, 3, rng, {.stride = 1, .padding = 1}, false), bn2(out_channels) {
  register_module("conv1", conv1);
  register_module("bn1", bn1);
  register_module("conv2", conv2);
  register_module("bn2", bn2);
  if (stride != 1 || in_channels != out_channels) {
    shortcut_conv = std::make_unique<Conv2d>(in_channels, out_channels, 1, rng,
                                             Conv2dOptions{.stride = stride, .padding = 0}, false);
    shortcut_bn = std::make_unique<BatchNorm2d>(out_channels);
    register_module("shortcut_conv", *shortcut_conv);
    register_module("shortcut_bn", *shortcut_bn);
  }
}

Var ResidualBlock::forward(const Var& x) {
  const Var h = relu(bn1(conv1(x)));
  const Var main = bn2(conv2(h));
  const Var skip = shortcut_conv ? (*shortcut_bn)((*shortcut_conv)(x)) : x;
  return relu(add(main, skip));
}

} // namespace a2q::nn
