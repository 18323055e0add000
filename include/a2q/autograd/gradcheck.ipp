#pragma once
/// @file
/// Definitions for gradcheck.hpp (see a2q/core/config.hpp).

#include "a2q/autograd/gradcheck.hpp"

#include "a2q/autograd/variable.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace a2q {

GradcheckResult gradcheck(const std::function<Var(const std::vector<Var>&)>& f, std::vector<Var> inputs,
                          double step, double abs_tol, double rel_tol) {
  for (Var& v : inputs)
    v.zero_grad();
  f(inputs).backward();
  GradcheckResult result;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    Var& v = inputs[i];
    if (!v.requires_grad())
      continue;
    const Tensor<float> analytic = v.has_grad() ? v.grad() : Tensor<float>(v.shape());
    for (std::int64_t e = 0; e < v.value().numel(); ++e) {
      const float saved = v.value()[e];
      double numeric = 0.0;
      {
        NoGradGuard no_grad;
        v.value()[e] = static_cast<float>(saved + step);
        const double plus = f(inputs).value()[0];
        v.value()[e] = static_cast<float>(saved - step);
        const double minus = f(inputs).value()[0];
        numeric = (plus - minus) / (2.0 * step);
      }
      v.value()[e] = saved;
      const double a = analytic[e];
      const double abs_error = std::abs(a - numeric);
      const double rel_error = abs_error / std::max(1e-8, std::max(std::abs(a), std::abs(numeric)));
      const bool element_ok = abs_error <= abs_tol || rel_error <= rel_tol;
      if (!element_ok || abs_error > result.max_abs_error) {
        result.max_abs_error = std::max(result.max_abs_error, abs_error);
        result.max_rel_error = std::max(result.max_rel_error, element_ok ? 0.0 : rel_error);
        if (result.ok)
          result.worst = "input " + std::to_string(i) + ", element " + std::to_string(e) + ": autograd " +
                         std::to_string(a) + ", numeric " + std::to_string(numeric);
      }
      result.ok = result.ok && element_ok;
    }
  }
  return result;
}

} // namespace a2q
