#pragma once
/// @file
/// Definitions for exp2.hpp (see a2q/core/config.hpp).

#include "a2q/autograd/exp2.hpp"

#include "a2q/autograd/variable.hpp"
#include "a2q/core/eigen_view.hpp"

#include <cmath>
#include <cstdint>
#include <numbers>
#include <utility>

namespace a2q {

Var exp2(const Var& t) {
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
    as_vector(dt) = as_vector(self.grad).cwiseProduct(as_vector(self.value)) * ln2;
    a2q::detail::accumulate_grad(self, 0, std::move(dt));
  });
}

} // namespace a2q
