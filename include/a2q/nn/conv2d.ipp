#pragma once
/// @file
/// Definitions for conv2d.hpp (see a2q/core/config.hpp).

#include "a2q/nn/conv2d.hpp"

#include "a2q/autograd/conv.hpp"
#include "a2q/nn/init.hpp"
#include "a2q/nn/module.hpp"

namespace a2q::nn {

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_h,
               std::int64_t kernel_w, Rng& rng, Conv2dOptions options, bool with_bias)
    : in_channels_(in_channels), out_channels_(out_channels), options_(options) {
  if (in_channels < 1 || out_channels < 1 || kernel_h < 1 || kernel_w < 1 || options.groups < 1 ||
      in_channels % options.groups != 0 || out_channels % options.groups != 0)
    throw config_error("Conv2d: invalid configuration in " + std::to_string(in_channels) + ", out " +
                       std::to_string(out_channels) + ", kernel " + std::to_string(kernel_h) + "x" +
                       std::to_string(kernel_w) + ", groups " + std::to_string(options.groups) +
                       " (channels must be >= 1 and divisible by groups)");
  Tensor<float> w(Shape{out_channels, in_channels / options.groups, kernel_h, kernel_w});
  init::kaiming_uniform(w, rng);
  weight = Var(std::move(w), true);
  register_parameter("weight", weight);
  if (with_bias) {
    this->bias = Var(Tensor<float>(Shape{out_channels}), true);
    register_parameter("bias", this->bias);
  }
}

} // namespace a2q::nn
