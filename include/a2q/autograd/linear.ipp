#pragma once
/// @file
/// Definitions for linear.hpp (see a2q/core/config.hpp).

#include "a2q/autograd/linear.hpp"

#include "a2q/autograd/variable.hpp"
#include "a2q/core/eigen_view.hpp"

#include <string>

namespace a2q {

Var matmul(const Var& a, const Var& b) {
  if (a.shape().rank() != 2 || b.shape().rank() != 2 || a.shape()[1] != b.shape()[0])
    throw shape_error("matmul: cannot multiply " + a.shape().to_string() + " by " + b.shape().to_string());
  Tensor<float> out = Tensor<float>::uninitialized(Shape{a.shape()[0], b.shape()[1]});
  as_matrix(out).noalias() = as_matrix(a.value()) * as_matrix(b.value());
  return detail::make_result(std::move(out), {a, b}, "matmul", [](detail::Node& self) {
    const Tensor<float>& av = detail::input(self, 0).value;
    const Tensor<float>& bv = detail::input(self, 1).value;
    if (detail::input(self, 0).requires_grad) {
      Tensor<float> da = Tensor<float>::uninitialized(av.shape());
      as_matrix(da).noalias() = as_matrix(self.grad) * as_matrix(bv).transpose();
      detail::accumulate_grad(self, 0, std::move(da));
    }
    if (detail::input(self, 1).requires_grad) {
      Tensor<float> db = Tensor<float>::uninitialized(bv.shape());
      as_matrix(db).noalias() = as_matrix(av).transpose() * as_matrix(self.grad);
      detail::accumulate_grad(self, 1, std::move(db));
    }
  });
}

Var linear(const Var& x, const Var& weight, const Var& bias) {
  const Shape& xs = x.shape();
  const Shape& ws = weight.shape();
  if (xs.rank() != 2 || ws.rank() != 2 || xs[1] != ws[1])
    throw shape_error("linear: input " + xs.to_string() + " does not match weight " + ws.to_string() +
                      " (expected input [batch, " + (ws.rank() == 2 ? std::to_string(ws[1]) : "?") + "])");
  if (bias.defined() && (bias.shape().rank() != 1 || bias.shape()[0] != ws[0]))
    throw shape_error("linear: bias " + bias.shape().to_string() + " does not match " +
                      std::to_string(ws[0]) + " outputs");
  Tensor<float> out = Tensor<float>::uninitialized(Shape{xs[0], ws[0]});
  auto y = as_matrix(out);
  y.noalias() = as_matrix(x.value()) * as_matrix(weight.value()).transpose();
  if (bias.defined())
    y.rowwise() += as_vector(bias.value()).transpose();
  const bool has_bias = bias.defined();
  auto backward = [has_bias](detail::Node& self) {
    const Tensor<float>& xv = detail::input(self, 0).value;
    const Tensor<float>& wv = detail::input(self, 1).value;
    const auto dy = as_matrix(self.grad);
    if (detail::input(self, 0).requires_grad) {
      Tensor<float> dx = Tensor<float>::uninitialized(xv.shape());
      as_matrix(dx).noalias() = dy * as_matrix(wv);
      detail::accumulate_grad(self, 0, std::move(dx));
    }
    if (detail::input(self, 1).requires_grad) {
      Tensor<float> dw = Tensor<float>::uninitialized(wv.shape());
      as_matrix(dw).noalias() = dy.transpose() * as_matrix(xv);
      detail::accumulate_grad(self, 1, std::move(dw));
    }
    if (has_bias && detail::input(self, 2).requires_grad) {
      Tensor<float> db = Tensor<float>::uninitialized(Shape{dy.cols()});
      as_vector(db) = dy.colwise().sum().transpose();
      detail::accumulate_grad(self, 2, std::move(db));
    }
  };
  if (has_bias)
    return detail::make_result(std::move(out), {x, weight, bias}, "linear", backward);
  return detail::make_result(std::move(out), {x, weight}, "linear", backward);
}

} // namespace a2q
