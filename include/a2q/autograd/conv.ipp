#pragma once
/// @file
/// Definitions for conv.hpp (see a2q/core/config.hpp).

#include "a2q/autograd/conv.hpp"

#include "a2q/autograd/conv_kernels.hpp"
#include "a2q/autograd/conv_plan.hpp"
#include "a2q/autograd/variable.hpp"
#include "a2q/core/tensor.hpp"

#include <cstdint>
#include <utility>

namespace a2q {

Var conv2d(const Var& x, const Var& weight, const Var& bias, const Conv2dOptions& opt) {
  const detail::Conv2dPlan plan = detail::conv2d_plan(x.shape(), weight.shape(), opt);
  const bool has_bias = bias.defined();
  if (has_bias)
    detail::check_conv2d_bias("conv2d", plan, bias.shape(), weight.shape());
  Tensor<float> out = Tensor<float>::uninitialized(plan.output_shape());
  detail::conv2d_forward(plan, x.value().data(), weight.value().data(),
                         has_bias ? bias.value().data() : nullptr, out.data());
  auto backward = [plan, has_bias](detail::Node& self) {
    const detail::Node& xn = detail::input(self, 0);
    const detail::Node& wn = detail::input(self, 1);
    const bool need_dx = xn.requires_grad;
    const bool need_dw = wn.requires_grad;
    const bool need_db = has_bias && detail::input(self, 2).requires_grad;
    Tensor<float> dx = need_dx ? Tensor<float>::uninitialized(xn.value.shape()) : Tensor<float>();
    Tensor<float> dw = need_dw ? Tensor<float>::uninitialized(wn.value.shape()) : Tensor<float>();
    Tensor<float> db = need_db ? Tensor<float>::uninitialized(Shape{plan.out_channels}) : Tensor<float>();
    detail::conv2d_backward(plan, xn.value.data(), wn.value.data(), self.grad.data(),
                            need_dx ? dx.data() : nullptr, need_dw ? dw.data() : nullptr,
                            need_db ? db.data() : nullptr);
    if (need_dx)
      detail::accumulate_grad(self, 0, std::move(dx));
    if (need_dw)
      detail::accumulate_grad(self, 1, std::move(dw));
    if (need_db)
      detail::accumulate_grad(self, 2, std::move(db));
  };
  if (has_bias)
    return detail::make_result(std::move(out), {x, weight, bias}, "conv2d", backward);
  return detail::make_result(std::move(out), {x, weight}, "conv2d", backward);
}

} // namespace a2q
