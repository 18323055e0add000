#pragma once
/// @file
/// Definitions for a2q_init.hpp (see a2q/core/config.hpp).

#include "a2q/quant/a2q_init.hpp"

#include "a2q/core/tensor.hpp"
#include "a2q/quant/a2q_weight.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <span>
#include <vector>

namespace a2q::quant {

double l1_ball_threshold(std::span<const double> v, double radius) {
  if (!(radius >= 0.0))
    throw config_error("l1_ball_threshold: radius must be >= 0, got " + std::to_string(radius));
  double norm = 0.0;
  for (double x : v)
    norm += std::abs(x);
  if (norm <= radius)
    return 0.0;
  std::vector<double> u(v.size());
  std::transform(v.begin(), v.end(), u.begin(), [](double x) { return std::abs(x); });
  std::sort(u.begin(), u.end(), std::greater<>());
  // ρ = max{ j : u_j - (Σ_{i<=j} u_i - R)/j > 0 }, θ = (Σ_{i<=ρ} u_i - R)/ρ.
  double prefix = 0.0, theta = 0.0;
  for (std::size_t j = 0; j < u.size(); ++j) {
    prefix += u[j];
    const double candidate = (prefix - radius) / static_cast<double>(j + 1);
    if (u[j] - candidate > 0.0)
      theta = candidate;
  }
  return theta;
}

std::vector<double> project_l1_ball(std::span<const double> v, double radius) {
  const double theta = l1_ball_threshold(v, radius);
  std::vector<double> out(v.begin(), v.end());
  for (double& x : out)
    x = std::copysign(std::max(std::abs(x) - theta, 0.0), x);
  return out;
}

std::vector<double> project_sign_split(std::span<const double> v, double radius) {
  std::vector<double> positive(v.size()), negative(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    (v[i] > 0.0 ? positive : negative)[i] = v[i];
  const double theta_pos = l1_ball_threshold(positive, radius);
  const double theta_neg = l1_ball_threshold(negative, radius);
  std::vector<double> out(v.begin(), v.end());
  for (double& x : out)
    x = std::copysign(std::max(std::abs(x) - (x > 0.0 ? theta_pos : theta_neg), 0.0), x);
  return out;
}

} // namespace a2q::quant

namespace a2q::detail {

/// The Euclidean projection onto the set a method's budget B allows: the L1 ball of radius B, or for
/// A2Q-split the set where each sign's sum is at most B/2 (B = Z: exactly the feasible set for unsigned
/// inputs, inside it for signed ones).
inline std::vector<double> project_within_budget(std::span<const double> z, double budget, bool split) {
  return split ? quant::project_sign_split(z, budget / 2.0) : quant::project_l1_ball(z, budget);
}

/// Squared L2 error of approximating `w` by s·RTZ(P_B(w/s)) with integers clipped to ±qmax.
inline double projected_error(std::span<const double> w, double s, double budget, double qmax, bool split) {
  std::vector<double> z(w.size());
  for (std::size_t i = 0; i < w.size(); ++i)
    z[i] = w[i] / s;
  z = project_within_budget(z, budget, split);
  double err = 0.0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double q = std::clamp(std::trunc(z[i]), -qmax, qmax);
    err += (w[i] - s * q) * (w[i] - s * q);
  }
  return err;
}

/// The scale in [max|w|/qmax, max(that, ||w||_1/B)] (log-spaced search) with the smallest error; for
/// A2Q-split the upper end is where the larger sign's sum fits B/2.
inline double best_projection_scale(std::span<const double> w, double budget, double qmax, bool split) {
  double absmax = 0.0, positive = 0.0, negative = 0.0;
  for (double x : w) {
    absmax = std::max(absmax, std::abs(x));
    (x > 0.0 ? positive : negative) += std::abs(x);
  }
  // The largest scale worth trying needs no projection: all of w fits the budget at it.
  const double need = split ? std::max(positive, negative) / (budget / 2.0) : (positive + negative) / budget;
  const double lo = std::max(absmax, 1e-12) / qmax;
  const double hi = std::max(lo, need);
  constexpr int steps = 24;
  double best = lo, best_err = projected_error(w, lo, budget, qmax, split);
  for (int k = 1; k <= steps; ++k) {
    const double s = lo * std::pow(hi / lo, static_cast<double>(k) / steps);
    const double err = projected_error(w, s, budget, qmax, split);
    if (err < best_err) {
      best = s;
      best_err = err;
    }
  }
  return best;
}

} // namespace a2q::detail

namespace a2q::quant {

A2QParameters a2q_parameters_from_float(const Tensor<float>& w, const A2QWeightSpec& spec, bool per_channel,
                                        A2QInitMode mode) {
  spec.validate();
  if (w.rank() < 2 || w.dim(0) < 1)
    throw shape_error("A2Q initialisation needs weights of rank >= 2, got " + w.shape().to_string());
  const auto C = static_cast<std::size_t>(w.dim(0));
  const auto K = static_cast<std::size_t>(w.numel() / w.dim(0));
  const double qmax = static_cast<double>(spec.weight_max());
  const double budget = l1_budget(spec.method, spec.accumulator_bits, spec.input_bits, spec.input_signed);
  const bool plus = spec.method == QuantMethod::a2q_plus;
  const bool split = spec.method == QuantMethod::a2q_split;

  // Centred rows for A2Q+ (the forward pass centres v, so the projection must act on what it sees).
  std::vector<std::vector<double>> rows(C, std::vector<double>(K));
  std::vector<double> absmax(C, 0.0);
  for (std::size_t c = 0; c < C; ++c) {
    double mean = 0.0;
    if (plus) {
      for (std::size_t i = 0; i < K; ++i)
        mean += w[static_cast<std::int64_t>(c * K + i)];
      mean /= static_cast<double>(K);
    }
    for (std::size_t i = 0; i < K; ++i) {
      rows[c][i] = w[static_cast<std::int64_t>(c * K + i)] - mean;
      absmax[c] = std::max(absmax[c], std::abs(rows[c][i]));
    }
  }
  std::vector<double> scale(C);
  const double tensor_max = *std::max_element(absmax.begin(), absmax.end());
  for (std::size_t c = 0; c < C; ++c) {
    const double m = per_channel ? absmax[c] : tensor_max;
    scale[c] = (m > 0.0 ? m : 1e-8) / qmax;
    if (mode == A2QInitMode::projection && per_channel)
      scale[c] = detail::best_projection_scale(rows[c], budget, qmax, split);
  }
  if (mode == A2QInitMode::projection && !per_channel) {
    // One scale for all channels: the median of the per-channel choices.
    std::vector<double> choices(C);
    for (std::size_t c = 0; c < C; ++c)
      choices[c] = detail::best_projection_scale(rows[c], budget, qmax, split);
    std::nth_element(choices.begin(), choices.begin() + static_cast<std::ptrdiff_t>(C / 2), choices.end());
    std::fill(scale.begin(), scale.end(), choices[C / 2]);
  }

  A2QParameters p{Tensor<float>(w.shape()), Tensor<float>(Shape{static_cast<std::int64_t>(C)}),
                  Tensor<float>(Shape{per_channel ? static_cast<std::int64_t>(C) : 1})};
  for (std::size_t c = 0; c < C; ++c) {
    std::vector<double> v = rows[c];
    if (mode == A2QInitMode::projection)
      v = detail::project_within_budget(v, scale[c] * budget, split);
    double norm = 0.0;
    for (std::size_t i = 0; i < K; ++i) {
      p.v[static_cast<std::int64_t>(c * K + i)] = static_cast<float>(v[i]);
      norm += std::abs(v[i]);
    }
    if (plus && mode == A2QInitMode::projection) {
      // The forward pass re-centres v; measure the norm it will see.
      double mean = 0.0;
      for (double x : v)
        mean += x;
      mean /= static_cast<double>(K);
      norm = 0.0;
      for (double x : v)
        norm += std::abs(x - mean);
    }
    const double own_budget = channel_budget(spec.method, spec.accumulator_bits, spec.input_bits,
                                             spec.input_signed, std::span<const double>(v));
    const double g = mode == A2QInitMode::projection ? std::min(norm, scale[c] * own_budget) : norm;
    p.log2_g[static_cast<std::int64_t>(c)] = static_cast<float>(std::log2(std::max(g, 1e-30)));
  }
  for (std::int64_t c = 0; c < p.log2_s.numel(); ++c)
    p.log2_s[c] = static_cast<float>(std::log2(scale[static_cast<std::size_t>(c)]));
  return p;
}

} // namespace a2q::quant
