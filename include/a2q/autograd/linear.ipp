#pragma once
/// @file
/// Definitions for linear.hpp (see a2q/core/config.hpp).

#include "a2q/autograd/linear.hpp"

#include "a2q/autograd/gemm.hpp"
#include "a2q/autograd/variable.hpp"
#include "a2q/core/eigen_view.hpp"

#include <string>

namespace a2q {

Var matmul(const Var& a, const Var& b) {
  if (a.shape().rank() != 2 || b.shape().rank() != 2 || a.shape()[1] != b.shape()[0])
    throw shape_error("matmul: cannot multiply " + a.shape().to_string() + " by " + b.shape().to_string());
  const std::int64_t m = a.shape()[0], k = a.shape()[1], n = b.shape()[1];
  Tensor<float> out = Tensor<float>::uninitialized(Shape{m, n});
  detail::gemm(false, false, m, n, k, a.value().data(), b.value().data(), out.data());
  return detail::make_result(std::move(out), {a, b}, "matmul", [m, k, n](detail::Node& self) {
    const Tensor<float>& av = detail::input(self, 0).value;
    const Tensor<float>& bv = detail::input(self, 1).value;
    if (detail::input(self, 0).requires_grad) {
      Tensor<float> da = Tensor<float>::uninitialized(av.shape());
      detail::gemm(false, true, m, k, n, self.grad.data(), bv.data(), da.data()); // dA = dC B^T
      detail::accumulate_grad(self, 0, std::move(da));
    }
    if (detail::input(self, 1).requires_grad) {
      Tensor<float> db = Tensor<float>::uninitialized(bv.shape());
      detail::gemm(true, false, k, n, m, av.data(), self.grad.data(), db.data()); // dB = A^T dC
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
  const std::int64_t batch = xs[0], in = xs[1], outputs = ws[0];
  Tensor<float> out = Tensor<float>::uninitialized(Shape{batch, outputs});
  detail::gemm(false, true, batch, outputs, in, x.value().data(), weight.value().data(), out.data()); // X W^T
  auto y = as_matrix(out);
  if (bias.defined())
    y.rowwise() += as_vector(bias.value()).transpose();
  const bool has_bias = bias.defined();
  auto backward = [has_bias, batch, in, outputs](detail::Node& self) {
    const Tensor<float>& xv = detail::input(self, 0).value;
    const Tensor<float>& wv = detail::input(self, 1).value;
    const auto dy = as_matrix(self.grad);
    if (detail::input(self, 0).requires_grad) {
      Tensor<float> dx = Tensor<float>::uninitialized(xv.shape());
      detail::gemm(false, false, batch, in, outputs, self.grad.data(), wv.data(), dx.data()); // dY W
      detail::accumulate_grad(self, 0, std::move(dx));
    }
    if (detail::input(self, 1).requires_grad) {
      Tensor<float> dw = Tensor<float>::uninitialized(wv.shape());
      detail::gemm(true, false, outputs, in, batch, self.grad.data(), xv.data(), dw.data()); // dY^T X
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
