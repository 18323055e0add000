#pragma once
/// @file
/// Definitions for elementwise.hpp (see a2q/core/config.hpp).

#include "a2q/autograd/elementwise.hpp"

#include "a2q/autograd/variable.hpp"
#include "a2q/core/eigen_view.hpp"
#include "a2q/core/parallel.hpp"

#include <string>

namespace a2q {

namespace detail {

inline void require_same_shape(const Var& a, const Var& b, const char* op) {
  if (a.shape() != b.shape())
    throw shape_error(std::string(op) + ": shapes " + a.shape().to_string() + " and " +
                      b.shape().to_string() + " differ");
}

} // namespace detail

Var add(const Var& a, const Var& b) {
  detail::require_same_shape(a, b, "add");
  Tensor<float> out = Tensor<float>::uninitialized(a.shape());
  as_vector(out) = as_vector(a.value()) + as_vector(b.value());
  return detail::make_result(std::move(out), {a, b}, "add", [](detail::Node& self) {
    // The tape frees self.grad after this function, so the last input may take the buffer itself.
    detail::accumulate_grad(self, 0, self.grad);
    detail::accumulate_grad(self, 1, std::move(self.grad));
  });
}

Var sub(const Var& a, const Var& b) {
  detail::require_same_shape(a, b, "sub");
  Tensor<float> out = Tensor<float>::uninitialized(a.shape());
  as_vector(out) = as_vector(a.value()) - as_vector(b.value());
  return detail::make_result(std::move(out), {a, b}, "sub", [](detail::Node& self) {
    detail::accumulate_grad(self, 0, self.grad);
    Tensor<float> negated = Tensor<float>::uninitialized(self.grad.shape());
    as_vector(negated) = -as_vector(self.grad);
    detail::accumulate_grad(self, 1, std::move(negated));
  });
}

Var mul(const Var& a, const Var& b) {
  detail::require_same_shape(a, b, "mul");
  Tensor<float> out = Tensor<float>::uninitialized(a.shape());
  as_vector(out) = as_vector(a.value()).cwiseProduct(as_vector(b.value()));
  return detail::make_result(std::move(out), {a, b}, "mul", [](detail::Node& self) {
    const Tensor<float>& av = detail::input(self, 0).value;
    const Tensor<float>& bv = detail::input(self, 1).value;
    Tensor<float> da = Tensor<float>::uninitialized(av.shape());
    as_vector(da) = as_vector(self.grad).cwiseProduct(as_vector(bv));
    Tensor<float> db = Tensor<float>::uninitialized(bv.shape());
    as_vector(db) = as_vector(self.grad).cwiseProduct(as_vector(av));
    detail::accumulate_grad(self, 0, std::move(da));
    detail::accumulate_grad(self, 1, std::move(db));
  });
}

Var scale(const Var& a, float factor) {
  Tensor<float> out = Tensor<float>::uninitialized(a.shape());
  as_vector(out) = as_vector(a.value()) * factor;
  return detail::make_result(std::move(out), {a}, "scale", [factor](detail::Node& self) {
    Tensor<float> da = Tensor<float>::uninitialized(self.grad.shape());
    as_vector(da) = as_vector(self.grad) * factor;
    detail::accumulate_grad(self, 0, std::move(da));
  });
}

Var relu(const Var& a) {
  Tensor<float> out = Tensor<float>::uninitialized(a.shape());
  const float* x = a.value().data();
  float* y = out.data();
  for_each_block(out.numel(), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i)
      y[i] = x[i] > 0.0f ? x[i] : 0.0f;
  });
  return detail::make_result(std::move(out), {a}, "relu", [](detail::Node& self) {
    // Masked in place: the tape frees self.grad after this function, so its buffer becomes the input's.
    const float* in = detail::input(self, 0).value.data();
    Tensor<float> da = std::move(self.grad);
    float* d = da.data();
    for_each_block(da.numel(), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i)
        d[i] = in[i] > 0.0f ? d[i] : 0.0f;
    });
    detail::accumulate_grad(self, 0, std::move(da));
  });
}

Var sum(const Var& a) {
  Tensor<float> out(Shape{}, as_vector(a.value()).sum());
  return detail::make_result(std::move(out), {a}, "sum", [](detail::Node& self) {
    detail::accumulate_grad(self, 0, Tensor<float>(detail::input(self, 0).value.shape(), self.grad[0]));
  });
}

Var mean(const Var& a) {
  if (a.value().numel() == 0)
    throw shape_error("mean of an empty tensor");
  return scale(sum(a), 1.0f / static_cast<float>(a.value().numel()));
}

} // namespace a2q
