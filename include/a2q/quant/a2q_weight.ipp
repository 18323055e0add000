#pragma once
/// @file
/// Definitions for a2q_weight.hpp (see a2q/core/config.hpp).

#include "a2q/quant/a2q_weight.hpp"

#include "a2q/autograd/variable.hpp"
#include "a2q/quant/bypass.hpp"
#include "a2q/quant/l1_budget.hpp"
#include "a2q/quant/rounding.hpp"
#include "a2q/quant/weight_repair.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <span>
#include <vector>

namespace a2q::detail {

/// Σ term(i) for i in [0, n), in double, as 8 interleaved partial sums added at the end: a fixed order (the
/// result does not depend on the compiler) that vectorises, where one running sum is a chain of dependent
/// additions.
template <class Term>
inline double lane_sum(std::size_t n, Term&& term) {
  constexpr std::size_t lanes = 8;
  double partial[lanes] = {};
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes)
    for (std::size_t l = 0; l < lanes; ++l)
      partial[l] += term(i + l);
  double total = 0.0;
  for (const double p : partial)
    total += p;
  for (; i < n; ++i)
    total += term(i);
  return total;
}

/// Calls f(round) with the rounding function of `mode` as a lambda, so that a loop over it in f is one
/// tight loop rather than a switch per element.
template <class F>
inline void with_rounding(quant::RoundingMode mode, F&& f) {
  switch (mode) {
  case quant::RoundingMode::toward_zero:
    f([](double z) { return std::trunc(z); });
    return;
  case quant::RoundingMode::nearest_even:
    f([](double z) { return std::nearbyint(z); });
    return;
  case quant::RoundingMode::half_away_from_zero:
    f([](double z) { return std::round(z); });
    return;
  case quant::RoundingMode::floor:
    f([](double z) { return std::floor(z); });
    return;
  case quant::RoundingMode::ceil:
    f([](double z) { return std::ceil(z); });
    return;
  case quant::RoundingMode::stochastic:
    break;
  }
  throw config_error("A2Q weights do not support stochastic rounding");
}

/// The factor (<= 1) that brings one tile's continuous weights z (its share of g'u) within an inner
/// register of P_i bits from 0, by the exact worst case of spec §3 over inputs x.
inline double tile_factor(std::span<const double> z, InputRange x, int inner_bits) {
  double pos = 0.0, neg = 0.0;
  for (const double v : z)
    (v > 0.0 ? pos : neg) += std::abs(v);
  const double hi = static_cast<double>(x.hi), lo = -static_cast<double>(x.lo);
  const double up = std::ldexp(1.0, inner_bits - 1) - 1.0; // the maximum: hi·A + lo·B
  const double down = std::ldexp(1.0, inner_bits - 1);     // minus the minimum: lo·A + hi·B
  double factor = 1.0;
  if (hi * pos + lo * neg > up)
    factor = std::min(factor, up / (hi * pos + lo * neg));
  if (lo * pos + hi * neg > down)
    factor = std::min(factor, down / (lo * pos + hi * neg));
  return factor;
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
    const double mean =
        spec.method == quant::QuantMethod::a2q_plus
            ? lane_sum(K, [&](std::size_t i) { return static_cast<double>(row[i]); }) / static_cast<double>(K)
            : 0.0;
    for (std::size_t i = 0; i < K; ++i)
      centred[i] = static_cast<double>(row[i]) - mean;
    const double norm = lane_sum(K, [&](std::size_t i) { return std::abs(centred[i]); });
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
        quant::channel_budget(spec.method, spec.accumulator_bits, spec.input_bits, spec.input_signed,
                              std::span<const double>(centred, K), reserve);
    f.norm[c] = norm;
    f.ratio[c] = g / s;
    f.clamped[c] = f.ratio[c] > budget;
    f.g_prime[c] = std::min(f.ratio[c], budget);
    const double factor = norm > 0.0 ? f.g_prime[c] / norm : 0.0;
    std::int32_t* q = f.q.data() + c * K;
    unsigned char* saturated = f.saturated.data() + c * K;
    double* tf = nullptr; // per element: its tile's factor
    if (spec.tile > 0) {
      f.tile_factor.resize(C * K);
      tf = f.tile_factor.data() + c * K;
      const auto T = static_cast<std::size_t>(spec.tile);
      std::vector<double> z;
      for (std::size_t begin = 0; begin < K; begin += T) {
        const std::size_t end = std::min(K, begin + T);
        z.resize(end - begin);
        for (std::size_t i = begin; i < end; ++i)
          z[i - begin] = factor * centred[i];
        const double t = tile_factor(z, x, spec.inner_bits);
        std::fill(tf + begin, tf + end, t);
      }
    }
    // Rounding toward zero is the conversion to int32 when |z| <= g' stays below 2^31: that loop vectorises,
    // where std::trunc on doubles does not (GCC keeps it scalar unless traps are off). The same q and flags.
    if (spec.rounding == quant::RoundingMode::toward_zero && f.g_prime[c] < 0x1p30) {
      const auto limit = static_cast<std::int32_t>(qmax);
      const auto quantize = [&](std::size_t i, double z) {
        const auto t = static_cast<std::int32_t>(z);
        const std::int32_t clipped = std::min(std::max(t, -limit), limit);
        saturated[i] = static_cast<unsigned char>(clipped != t);
        q[i] = clipped;
      };
      if (tf != nullptr)
        for (std::size_t i = 0; i < K; ++i)
          quantize(i, factor * tf[i] * centred[i]);
      else
        for (std::size_t i = 0; i < K; ++i)
          quantize(i, factor * centred[i]);
    } else {
      // One loop without branches per case, so that it vectorises (a per-element test of tf did not).
      with_rounding(spec.rounding, [&](auto round) {
        const auto quantize = [&](std::size_t i, double z) {
          const double r = round(z);
          const double clipped = std::min(std::max(r, -qmax), qmax); // r is finite: the norm and factor are
          saturated[i] = static_cast<unsigned char>(clipped != r);
          q[i] = static_cast<std::int32_t>(clipped);
        };
        if (tf != nullptr)
          for (std::size_t i = 0; i < K; ++i)
            quantize(i, factor * tf[i] * centred[i]);
        else
          for (std::size_t i = 0; i < K; ++i)
            quantize(i, factor * centred[i]);
      });
    }
    if (spec.rounding == quant::RoundingMode::toward_zero) {
      f.repairs += repair_channel({q, K}, x, reserve, spec.accumulator_bits);
      if (spec.tile > 0)
        f.repairs += repair_tiles({q, K}, x, spec.tile, spec.inner_bits);
    }
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
      const double* tf = state->tile_factor.empty() ? nullptr : state->tile_factor.data() + c * K;
      for (std::size_t i = 0; i < K; ++i)
        w[static_cast<std::int64_t>(c * K + i)] = static_cast<float>(
            sc * std::clamp(factor * (tf != nullptr ? tf[i] : 1.0) * state->centred[c * K + i], -qmax, qmax));
    }
    return Var(std::move(w));
  }
  for (std::size_t c = 0; c < g.size(); ++c) {
    const float sc = s[s.size() == 1 ? 0 : c];
    const std::int32_t* q = state->q.data() + c * K;
    float* row = w.data() + c * K;
    for (std::size_t i = 0; i < K; ++i)
      row[i] = sc * static_cast<float>(q[i]);
  }

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
        std::vector<double> grad_buffer(2 * Kn);
        double* grad = grad_buffer.data(); // dL/dw of one channel
        double* dz_row = grad + Kn;        // dL/dz of one channel
        for (std::size_t c = 0; c < Cn; ++c) {
          const double sc = s[s.size() == 1 ? 0 : c];
          const double norm = state->norm[c];
          const double* centred = state->centred.data() + c * Kn;
          const std::int32_t* q = state->q.data() + c * Kn;
          const unsigned char* sat = state->saturated.data() + c * Kn;
          // Straight-through: dL/dz_i = dL/dw_i · s where not clipped (a select by multiplying with 0/1:
          // clips are random, and a branch on them mispredicts).
          const double gp = state->g_prime[c];
          const double inv_norm = norm > 0.0 ? 1.0 / norm : 0.0;
          const float* dw_row = dw + c * Kn;
          for (std::size_t i = 0; i < Kn; ++i) { // plain loops over doubles vectorise; mixed widths did not
            grad[i] = dw_row[i];
            dz_row[i] = grad[i] * sc * static_cast<double>(1 - sat[i]);
          }
          if (!state->tile_factor.empty()) { // z_i = factor_tile · g' u_i, the factor a constant
            const double* tf = state->tile_factor.data() + c * Kn;
            for (std::size_t i = 0; i < Kn; ++i)
              dz_row[i] *= tf[i];
          }
          auto dz = [&](std::size_t i) { return dz_row[i]; };
          const double d_scale_direct =
              a2q::detail::lane_sum(Kn, [&](std::size_t i) { return grad[i] * static_cast<double>(q[i]); });
          // With u = v'/||v'||_1 and dL/du_i = g' dz_i: dL/dg' = Σ dz_i u_i, and Σ_i dL/du_i u_i = g' dL/dg'.
          const double d_gprime =
              a2q::detail::lane_sum(Kn, [&](std::size_t i) { return dz(i) * centred[i]; }) * inv_norm;
          const double du_dot_u = gp * d_gprime;
          // dL/dv'_j = (dL/du_j - sign(v'_j) Σ_i dL/du_i u_i) / ||v'||_1.
          float* dv_row = dv.data() + c * Kn;
          double mean_dv = a2q::detail::lane_sum(Kn, [&](std::size_t i) {
            const double sign = static_cast<double>(centred[i] > 0.0) - static_cast<double>(centred[i] < 0.0);
            const double d = (gp * dz(i) - sign * du_dot_u) * inv_norm;
            dv_row[i] = static_cast<float>(d);
            return d;
          });
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
