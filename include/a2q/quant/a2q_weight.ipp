#pragma once
/// @file
/// Definitions for a2q_weight.hpp (see a2q/core/config.hpp).

#include "a2q/quant/a2q_weight.hpp"

#include "a2q/autograd/variable.hpp"
#include "a2q/quant/bypass.hpp"
#include "a2q/quant/l1_budget.hpp"
#include "a2q/quant/rounding.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <span>
#include <vector>

namespace a2q::detail {

inline double rounded(double z, quant::RoundingMode mode) {
  switch (mode) {
  case quant::RoundingMode::toward_zero:
    return std::trunc(z);
  case quant::RoundingMode::nearest_even:
    return std::nearbyint(z);
  case quant::RoundingMode::half_away_from_zero:
    return std::round(z);
  case quant::RoundingMode::floor:
    return std::floor(z);
  case quant::RoundingMode::ceil:
    return std::ceil(z);
  case quant::RoundingMode::stochastic:
    break;
  }
  throw config_error("A2Q weights do not support stochastic rounding");
}

/// Exact worst case of one channel, with `reserved` added to both ends (a bias that starts the
/// accumulator); true if it fits a P-bit register.
inline bool channel_fits(std::span<const std::int32_t> q, InputRange x, std::int64_t reserved, int P) {
  const AccumulatorRange r = worst_case_accumulator(q, x);
  const std::int64_t limit = quant::accumulator_limit(P);
  return r.hi + reserved <= limit && r.lo - reserved >= -limit;
}

/// Moves the largest-magnitude weights one step toward zero until the channel fits. Only needed when
/// floating-point error in the norm lets RTZ land one unit over the budget.
inline std::int64_t repair_channel(std::span<std::int32_t> q, InputRange x, std::int64_t reserved, int P) {
  std::int64_t repairs = 0;
  while (!channel_fits(q, x, reserved, P)) {
    std::size_t largest = 0;
    for (std::size_t i = 1; i < q.size(); ++i)
      if (std::abs(q[i]) > std::abs(q[largest]))
        largest = i;
    if (q[largest] == 0)
      break; // the bias alone exceeds the register: reported by the caller's checks
    q[largest] += q[largest] > 0 ? -1 : 1;
    ++repairs;
  }
  return repairs;
}

A2QForward a2q_forward(const Tensor<float>& v, std::span<const float> norm_g, std::span<const float> scale,
                       const quant::A2QWeightSpec& spec, std::span<const std::int64_t> reserved) {
  spec.validate();
  if (v.rank() < 2)
    throw shape_error("A2Q weights need rank >= 2 ([out, ...]), got " + v.shape().to_string());
  A2QForward f;
  f.channels = v.dim(0);
  f.fan_in = v.numel() / f.channels;
  const auto C = static_cast<std::size_t>(f.channels);
  const auto K = static_cast<std::size_t>(f.fan_in);
  if (norm_g.size() != C || (scale.size() != 1 && scale.size() != C) ||
      (!reserved.empty() && reserved.size() != C))
    throw shape_error("A2Q weights: " + std::to_string(C) + " channels but " + std::to_string(norm_g.size()) +
                      " norms, " + std::to_string(scale.size()) + " scales, " +
                      std::to_string(reserved.size()) + " bias reservations");
  f.norm.resize(C);
  f.ratio.resize(C);
  f.g_prime.resize(C);
  f.clamped.resize(C);
  f.q.resize(C * K);
  f.saturated.resize(C * K);
  f.centred.resize(C * K);
  const double qmax = static_cast<double>(spec.weight_max());
  const InputRange x = spec.input_range();
  for (std::size_t c = 0; c < C; ++c) {
    const float* row = v.data() + c * K;
    double* centred = f.centred.data() + c * K;
    double mean = 0.0;
    if (spec.method == quant::QuantMethod::a2q_plus) {
      for (std::size_t i = 0; i < K; ++i)
        mean += row[i];
      mean /= static_cast<double>(K);
    }
    double norm = 0.0;
    for (std::size_t i = 0; i < K; ++i) {
      centred[i] = static_cast<double>(row[i]) - mean;
      norm += std::abs(centred[i]);
    }
    if (!std::isfinite(norm))
      throw numeric_error("A2Q weights: channel " + std::to_string(c) +
                          " of the direction v holds a value that is not finite");
    const double s = scale[scale.size() == 1 ? 0 : c];
    const double g = norm_g[c];
    if (!(s > 0.0) || !std::isfinite(s) || !(g >= 0.0) || !std::isfinite(g))
      throw numeric_error("A2Q weights: channel " + std::to_string(c) + " has scale " + std::to_string(s) +
                          " and norm " + std::to_string(g) + "; both must be positive and finite");
    const std::int64_t reserve = reserved.empty() ? 0 : reserved[c];
    const double budget =
        quant::l1_budget(spec.method, spec.accumulator_bits, spec.input_bits, spec.input_signed, reserve);
    f.norm[c] = norm;
    f.ratio[c] = g / s;
    f.clamped[c] = f.ratio[c] > budget;
    f.g_prime[c] = std::min(f.ratio[c], budget);
    const double factor = norm > 0.0 ? f.g_prime[c] / norm : 0.0;
    std::int32_t* q = f.q.data() + c * K;
    for (std::size_t i = 0; i < K; ++i) {
      const double r = rounded(factor * centred[i], spec.rounding);
      const bool sat = std::abs(r) > qmax;
      f.saturated[c * K + i] = sat;
      q[i] = static_cast<std::int32_t>(sat ? std::copysign(qmax, r) : r);
    }
    if (spec.rounding == quant::RoundingMode::toward_zero)
      f.repairs += repair_channel({q, K}, x, reserve, spec.accumulator_bits);
  }
  return f;
}

} // namespace a2q::detail

namespace a2q::quant {

Tensor<std::int32_t> a2q_integer_weights(const Tensor<float>& v, std::span<const float> norm_g,
                                         std::span<const float> scale, const A2QWeightSpec& spec,
                                         std::span<const std::int64_t> reserved) {
  detail::A2QForward f = detail::a2q_forward(v, norm_g, scale, spec, reserved);
  return Tensor<std::int32_t>(v.shape(), std::span<const std::int32_t>(f.q));
}

Var a2q_weight(const Var& v, const Var& log2_g, const Var& log2_s, const A2QWeightSpec& spec,
               std::span<const std::int64_t> reserved) {
  const std::int64_t C = v.shape().rank() >= 1 ? v.shape()[0] : 0;
  if (log2_g.shape() != Shape{C} || (log2_s.shape() != Shape{C} && log2_s.shape() != Shape{1}))
    throw shape_error("a2q_weight: v " + v.shape().to_string() + " needs log2_g [" + std::to_string(C) +
                      "] and log2_s [" + std::to_string(C) + "] or [1], got " + log2_g.shape().to_string() +
                      " and " + log2_s.shape().to_string());
  std::vector<float> g(static_cast<std::size_t>(C)), s(static_cast<std::size_t>(log2_s.value().numel()));
  for (std::size_t c = 0; c < g.size(); ++c)
    g[c] = std::exp2(log2_g.value()[static_cast<std::int64_t>(c)]);
  for (std::size_t c = 0; c < s.size(); ++c)
    s[c] = std::exp2(log2_s.value()[static_cast<std::int64_t>(c)]);
  auto state = std::make_shared<detail::A2QForward>(detail::a2q_forward(v.value(), g, s, spec, reserved));
  Tensor<float> w = Tensor<float>::uninitialized(v.shape());
  const auto K = static_cast<std::size_t>(state->fan_in);
  if (quantization_bypassed()) { // the float weight s·clip(g'·v'/||v'||_1), before rounding
    if (grad_enabled())
      throw config_error("a2q_weight: quantization is bypassed while gradients are recorded; the bypass "
                         "is for evaluation (add a NoGradGuard)");
    for (std::size_t c = 0; c < g.size(); ++c) {
      const double norm = state->norm[c];
      const double factor = norm > 0.0 ? state->g_prime[c] / norm : 0.0;
      const double sc = s[s.size() == 1 ? 0 : c];
      const double qmax = static_cast<double>(spec.weight_max());
      for (std::size_t i = 0; i < K; ++i)
        w[static_cast<std::int64_t>(c * K + i)] =
            static_cast<float>(sc * std::clamp(factor * state->centred[c * K + i], -qmax, qmax));
    }
    return Var(std::move(w));
  }
  for (std::size_t c = 0; c < g.size(); ++c)
    for (std::size_t i = 0; i < K; ++i)
      w[static_cast<std::int64_t>(c * K + i)] =
          s[s.size() == 1 ? 0 : c] * static_cast<float>(state->q[c * K + i]);

  const bool plus = spec.method == QuantMethod::a2q_plus;
  return a2q::detail::make_result(
      std::move(w), {v, log2_g, log2_s}, "a2q_weight",
      [state, g = std::move(g), s = std::move(s), plus](a2q::detail::Node& self) {
        const auto Cn = g.size();
        const auto Kn = static_cast<std::size_t>(state->fan_in);
        const float* dw = self.grad.data();
        Tensor<float> dv = Tensor<float>::uninitialized(a2q::detail::input(self, 0).value.shape());
        Tensor<float> dlog2_g(Shape{static_cast<std::int64_t>(Cn)});
        Tensor<float> dlog2_s(a2q::detail::input(self, 2).value.shape());
        std::vector<double> du(Kn);
        for (std::size_t c = 0; c < Cn; ++c) {
          const double sc = s[s.size() == 1 ? 0 : c];
          const double norm = state->norm[c];
          const double* centred = state->centred.data() + c * Kn;
          const std::int32_t* q = state->q.data() + c * Kn;
          const unsigned char* sat = state->saturated.data() + c * Kn;
          // Straight-through: dL/dz_i = dL/dw_i · s where not clipped.
          double d_gprime = 0.0, d_scale_direct = 0.0, du_dot_u = 0.0;
          for (std::size_t i = 0; i < Kn; ++i) {
            const double dwi = dw[c * Kn + i];
            d_scale_direct += dwi * q[i];
            const double dz = sat[i] ? 0.0 : dwi * sc;
            const double u = norm > 0.0 ? centred[i] / norm : 0.0;
            d_gprime += dz * u;
            du[i] = dz * state->g_prime[c];
            du_dot_u += du[i] * u;
          }
          // u = v'/||v'||_1: dL/dv'_j = (dL/du_j - sign(v'_j) Σ_i dL/du_i u_i) / ||v'||_1.
          double mean_dv = 0.0;
          float* dv_row = dv.data() + c * Kn;
          for (std::size_t i = 0; i < Kn; ++i) {
            const double sign = centred[i] > 0.0 ? 1.0 : (centred[i] < 0.0 ? -1.0 : 0.0);
            const double d = norm > 0.0 ? (du[i] - sign * du_dot_u) / norm : 0.0;
            dv_row[i] = static_cast<float>(d);
            mean_dv += d;
          }
          if (plus) { // v' = v - mean(v)
            mean_dv /= static_cast<double>(Kn);
            for (std::size_t i = 0; i < Kn; ++i)
              dv_row[i] = static_cast<float>(dv_row[i] - mean_dv);
          }
          // g' = min(g/s, B): the clamp stops the gradient to g and s.
          double d_g = 0.0, d_s = d_scale_direct;
          if (!state->clamped[c]) {
            d_g = d_gprime / sc;
            d_s -= d_gprime * state->ratio[c] / sc;
          }
          constexpr double ln2 = std::numbers::ln2;
          dlog2_g[static_cast<std::int64_t>(c)] = static_cast<float>(d_g * g[c] * ln2);
          dlog2_s[static_cast<std::int64_t>(s.size() == 1 ? 0 : c)] += static_cast<float>(d_s * sc * ln2);
        }
        a2q::detail::accumulate_grad(self, 0, std::move(dv));
        a2q::detail::accumulate_grad(self, 1, std::move(dlog2_g));
        a2q::detail::accumulate_grad(self, 2, std::move(dlog2_s));
      });
}

} // namespace a2q::quant
