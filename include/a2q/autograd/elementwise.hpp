#pragma once
/// @file
/// Element-wise autograd operations: add, subtract, multiply, scale, ReLU, sum and mean.

#include "a2q/autograd/variable.hpp"

#include <string>

namespace a2q {

namespace detail {
inline void require_same_shape(const Var& a, const Var& b, const char* op) {
  if (a.shape() != b.shape())
    throw shape_error(std::string(op) + ": shapes " + a.shape().to_string() + " and " +
                      b.shape().to_string() + " differ");
}
} // namespace detail

/// a + b (same shape; e.g. a residual connection).
inline Var add(const Var& a, const Var& b) {
  detail::require_same_shape(a, b, "add");
  Tensor<float> out = Tensor<float>::uninitialized(a.shape());
  out.vector() = a.value().vector() + b.value().vector();
  return detail::make_result(std::move(out), {a, b}, "add", [](detail::Node& self) {
    detail::accumulate_grad(self, 0, self.grad);
    detail::accumulate_grad(self, 1, self.grad);
  });
}

/// a - b (same shape).
inline Var sub(const Var& a, const Var& b) {
  detail::require_same_shape(a, b, "sub");
  Tensor<float> out = Tensor<float>::uninitialized(a.shape());
  out.vector() = a.value().vector() - b.value().vector();
  return detail::make_result(std::move(out), {a, b}, "sub", [](detail::Node& self) {
    detail::accumulate_grad(self, 0, self.grad);
    Tensor<float> negated = Tensor<float>::uninitialized(self.grad.shape());
    negated.vector() = -self.grad.vector();
    detail::accumulate_grad(self, 1, std::move(negated));
  });
}

/// a * b element-wise (same shape).
inline Var mul(const Var& a, const Var& b) {
  detail::require_same_shape(a, b, "mul");
  Tensor<float> out = Tensor<float>::uninitialized(a.shape());
  out.vector() = a.value().vector().cwiseProduct(b.value().vector());
  return detail::make_result(std::move(out), {a, b}, "mul", [](detail::Node& self) {
    const Tensor<float>& av = detail::input(self, 0).value;
    const Tensor<float>& bv = detail::input(self, 1).value;
    Tensor<float> da = Tensor<float>::uninitialized(av.shape());
    da.vector() = self.grad.vector().cwiseProduct(bv.vector());
    Tensor<float> db = Tensor<float>::uninitialized(bv.shape());
    db.vector() = self.grad.vector().cwiseProduct(av.vector());
    detail::accumulate_grad(self, 0, std::move(da));
    detail::accumulate_grad(self, 1, std::move(db));
  });
}

/// factor * a.
inline Var scale(const Var& a, float factor) {
  Tensor<float> out = Tensor<float>::uninitialized(a.shape());
  out.vector() = a.value().vector() * factor;
  return detail::make_result(std::move(out), {a}, "scale", [factor](detail::Node& self) {
    Tensor<float> da = Tensor<float>::uninitialized(self.grad.shape());
    da.vector() = self.grad.vector() * factor;
    detail::accumulate_grad(self, 0, std::move(da));
  });
}

/// max(a, 0). The gradient at exactly 0 is taken as 0.
inline Var relu(const Var& a) {
  Tensor<float> out = Tensor<float>::uninitialized(a.shape());
  out.vector() = a.value().vector().cwiseMax(0.0f);
  return detail::make_result(std::move(out), {a}, "relu", [](detail::Node& self) {
    // The output is positive exactly where the input was, so the mask can come from either.
    const Tensor<float>& in = detail::input(self, 0).value;
    Tensor<float> da = Tensor<float>::uninitialized(in.shape());
    da.vector() = (in.vector().array() > 0.0f).select(self.grad.vector(), 0.0f);
    detail::accumulate_grad(self, 0, std::move(da));
  });
}

/// Sum of all elements, as a scalar.
inline Var sum(const Var& a) {
  Tensor<float> out(Shape{}, a.value().vector().sum());
  return detail::make_result(std::move(out), {a}, "sum", [](detail::Node& self) {
    detail::accumulate_grad(self, 0, Tensor<float>(detail::input(self, 0).value.shape(), self.grad[0]));
  });
}

/// Mean of all elements, as a scalar.
inline Var mean(const Var& a) {
  if (a.value().numel() == 0)
    throw shape_error("mean of an empty tensor");
  return scale(sum(a), 1.0f / static_cast<float>(a.value().numel()));
}

} // namespace a2q
