#pragma once
/// @file
/// Dense layers' autograd operations: matmul, linear (x W^T + b) and bias add.

#include "a2q/autograd/variable.hpp"

#include <string>

namespace a2q {

/// [n, k] x [k, m] -> [n, m].
inline Var matmul(const Var& a, const Var& b) {
  if (a.shape().rank() != 2 || b.shape().rank() != 2 || a.shape()[1] != b.shape()[0])
    throw shape_error("matmul: cannot multiply " + a.shape().to_string() + " by " + b.shape().to_string());
  Tensor<float> out = Tensor<float>::uninitialized(Shape{a.shape()[0], b.shape()[1]});
  out.matrix().noalias() = a.value().matrix() * b.value().matrix();
  return detail::make_result(std::move(out), {a, b}, "matmul", [](detail::Node& self) {
    const Tensor<float>& av = detail::input(self, 0).value;
    const Tensor<float>& bv = detail::input(self, 1).value;
    if (detail::input(self, 0).requires_grad) {
      Tensor<float> da = Tensor<float>::uninitialized(av.shape());
      da.matrix().noalias() = self.grad.matrix() * bv.matrix().transpose();
      detail::accumulate_grad(self, 0, std::move(da));
    }
    if (detail::input(self, 1).requires_grad) {
      Tensor<float> db = Tensor<float>::uninitialized(bv.shape());
      db.matrix().noalias() = av.matrix().transpose() * self.grad.matrix();
      detail::accumulate_grad(self, 1, std::move(db));
    }
  });
}

/// y = x W^T + b with x [n, in], W [out, in] (PyTorch's layout), b [out] or undefined for no bias.
inline Var linear(const Var& x, const Var& weight, const Var& bias = Var()) {
  const Shape& xs = x.shape();
  const Shape& ws = weight.shape();
  if (xs.rank() != 2 || ws.rank() != 2 || xs[1] != ws[1])
    throw shape_error("linear: input " + xs.to_string() + " does not match weight " + ws.to_string() +
                      " (expected input [batch, " + (ws.rank() == 2 ? std::to_string(ws[1]) : "?") + "])");
  if (bias.defined() && (bias.shape().rank() != 1 || bias.shape()[0] != ws[0]))
    throw shape_error("linear: bias " + bias.shape().to_string() + " does not match " +
                      std::to_string(ws[0]) + " outputs");
  Tensor<float> out = Tensor<float>::uninitialized(Shape{xs[0], ws[0]});
  auto y = out.matrix();
  y.noalias() = x.value().matrix() * weight.value().matrix().transpose();
  if (bias.defined())
    y.rowwise() += bias.value().vector().transpose();
  const bool has_bias = bias.defined();
  auto backward = [has_bias](detail::Node& self) {
    const Tensor<float>& xv = detail::input(self, 0).value;
    const Tensor<float>& wv = detail::input(self, 1).value;
    const auto dy = self.grad.matrix();
    if (detail::input(self, 0).requires_grad) {
      Tensor<float> dx = Tensor<float>::uninitialized(xv.shape());
      dx.matrix().noalias() = dy * wv.matrix();
      detail::accumulate_grad(self, 0, std::move(dx));
    }
    if (detail::input(self, 1).requires_grad) {
      Tensor<float> dw = Tensor<float>::uninitialized(wv.shape());
      dw.matrix().noalias() = dy.transpose() * xv.matrix();
      detail::accumulate_grad(self, 1, std::move(dw));
    }
    if (has_bias && detail::input(self, 2).requires_grad) {
      Tensor<float> db = Tensor<float>::uninitialized(Shape{dy.cols()});
      db.vector() = dy.colwise().sum().transpose();
      detail::accumulate_grad(self, 2, std::move(db));
    }
  };
  if (has_bias)
    return detail::make_result(std::move(out), {x, weight, bias}, "linear", backward);
  return detail::make_result(std::move(out), {x, weight}, "linear", backward);
}

} // namespace a2q
