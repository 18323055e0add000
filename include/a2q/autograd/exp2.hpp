#pragma once
/// @file
/// exp2: 2^t element-wise, so that positive quantities (quantizer scales, norms) can be learned in the
/// log2 domain: scale = exp2(log2_scale) is positive for every parameter value, and an additive step on
/// log2_scale is a relative step on the scale.

#include "a2q/autograd/variable.hpp"

#include <cmath>
#include <cstdint>
#include <numbers>
#include <utility>

namespace a2q {

/// 2^t element-wise; d/dt 2^t = 2^t · ln 2 (the backward pass reuses the output).
inline Var exp2(const Var& t) {
  const Tensor<float>& tv = t.value();
  Tensor<float> out = Tensor<float>::uninitialized(tv.shape());
  const float* in = tv.data();
  float* o = out.data();
  const std::int64_t n = tv.numel();
  for (std::int64_t i = 0; i < n; ++i)
    o[i] = std::exp2(in[i]);
  return a2q::detail::make_result(std::move(out), {t}, "exp2", [](a2q::detail::Node& self) {
    constexpr float ln2 = std::numbers::ln2_v<float>;
    Tensor<float> dt = Tensor<float>::uninitialized(self.value.shape());
    dt.vector() = self.grad.vector().cwiseProduct(self.value.vector()) * ln2;
    a2q::detail::accumulate_grad(self, 0, std::move(dt));
  });
}

} // namespace a2q
