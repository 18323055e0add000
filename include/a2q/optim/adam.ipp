#pragma once
/// @file
/// Definitions for adam.hpp (see a2q/core/config.hpp).

#include "a2q/core/eigen_view.hpp"

#include "a2q/optim/adam.hpp"
#include "a2q/optim/optimizer.hpp"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace a2q {

void Adam::update(Var& param, ParamState& st, const ParamGroup& group, double lr) {
  if (st.buffers.empty()) {
    st.buffers.emplace_back(param.shape());
    st.buffers.emplace_back(param.shape());
  }
  auto p = as_vector(param.value()).array();
  const auto g = as_vector(std::as_const(param).grad()).array();
  auto m = as_vector(st.buffers[0]).array();
  auto v = as_vector(st.buffers[1]).array();

  const double t = static_cast<double>(st.step);
  const double bias_correction1 = 1.0 - std::pow(options_.beta1, t);
  const double bias_correction2 = 1.0 - std::pow(options_.beta2, t);
  // 1 - beta in double, as PyTorch does: 1 - float(0.999) would be 1.3e-5 off.
  const float beta1 = static_cast<float>(options_.beta1);
  const float one_minus_beta1 = static_cast<float>(1.0 - options_.beta1);
  const float beta2 = static_cast<float>(options_.beta2);
  const float one_minus_beta2 = static_cast<float>(1.0 - options_.beta2);
  const float wd = static_cast<float>(group.weight_decay);

  if (decoupled_ && group.weight_decay != 0.0)
    p *= static_cast<float>(1.0 - lr * group.weight_decay);
  auto moments = [&](const auto& grad) {
    m = beta1 * m + one_minus_beta1 * grad;
    v = beta2 * v + one_minus_beta2 * grad.square();
  };
  if (!decoupled_ && group.weight_decay != 0.0)
    moments(g + wd * p);
  else
    moments(g);

  const float step_size = static_cast<float>(lr / bias_correction1);
  const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  const float eps = static_cast<float>(options_.eps);
  p -= step_size * m / (v.sqrt() / bias_correction2_sqrt + eps);
}

std::vector<std::string> Adam::buffers_for(const AdamOptions& o, const char* kind) {
  check_unit_interval(kind, "beta1", o.beta1);
  check_unit_interval(kind, "beta2", o.beta2);
  check_non_negative(kind, "eps", o.eps);
  return {"exp_avg", "exp_avg_sq"};
}

} // namespace a2q
