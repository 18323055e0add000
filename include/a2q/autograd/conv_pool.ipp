#pragma once
/// @file
/// Definitions for conv_pool.hpp (see a2q/core/config.hpp).

#include "a2q/autograd/conv_pool.hpp"

#include "a2q/autograd/conv_pool_pass.hpp"
#include "a2q/autograd/variable.hpp"

namespace a2q {

Var conv2d_relu_max_pool2d(const Var& x, const Var& weight, const Var& bias, const Conv2dOptions& conv,
                           int kernel, int stride, int padding) {
  const char* op = "conv2d_relu_max_pool2d";
  const detail::ConvPoolPlan plan =
      detail::conv_pool_plan(op, x, weight, bias, conv, kernel, stride, padding);
  return detail::conv_pool_pass(op, plan, x, weight, bias, Var(), detail::ReluPoolEpilogue{});
}

} // namespace a2q
