#pragma once
// ptq::quantize_with_scale_search definitions (see scale_search.hpp).

#include "a2q/core/error.hpp"
#include "a2q/ptq/scale_search.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>

namespace a2q::detail {

/// Whether channel c's round-to-nearest integers at scale s fit its budget unclipped.
inline bool rounded_channel_fits(const ptq::AccumulatorSpec& spec, const RowMatrix<double>& w, std::int64_t c,
                                 double s, double qmax) {
  ptq::AccumulatorBudget budget(spec);
  for (std::int64_t k = 0; k < w.cols(); ++k) {
    const double q = std::clamp(std::nearbyint(w(c, k) / s), -qmax, qmax);
    const double room = static_cast<double>(q >= 0 ? budget.max_positive(k) : budget.max_negative(k));
    if (std::abs(q) > room)
      return false;
    budget.take(k, static_cast<std::int64_t>(q));
  }
  return true;
}

/// Half of A2Q+'s L1 radius Z of the channel's registers (with tiles: the smaller of the outer budget and
/// the inner budgets of all tiles together): what one sign may take.
inline double half_l1_radius(const ptq::AccumulatorSpec& spec, std::int64_t K) {
  const double span = static_cast<double>(spec.input.hi - spec.input.lo);
  double z = 2.0 * (std::ldexp(1.0, spec.bits - 1) - 1.0 - std::abs(static_cast<double>(spec.start))) / span;
  if (spec.tile > 0) {
    const double tiles = static_cast<double>((K + spec.tile - 1) / spec.tile);
    z = std::min(z, tiles * 2.0 * (std::ldexp(1.0, spec.inner_bits - 1) - 1.0) / span);
  }
  return std::max(z, 1.0) / 2.0;
}

} // namespace a2q::detail

namespace a2q::ptq {

double channel_objective(PtqMethod method, const GroupProblem& p, const RowMatrix<double>& weights,
                         std::int64_t c, std::span<const std::int32_t> q, double s) {
  const std::int64_t K = weights.cols();
  Eigen::VectorXd sq(K);
  for (std::int64_t k = 0; k < K; ++k)
    sq(k) = s * static_cast<double>(q[static_cast<std::size_t>(k)]);
  const Eigen::VectorXd w = weights.row(c).transpose();
  if (!uses_calibration(method) || p.H == nullptr)
    return (sq - w).squaredNorm();
  if (uses_float_inputs(method) && p.G != nullptr)
    return sq.dot(*p.H * sq) - 2.0 * sq.dot(*p.G * w);
  const Eigen::VectorXd d = sq - w;
  return d.dot(*p.H * d);
}

ScaledWeights quantize_with_scale_search(PtqMethod method, GroupProblem p, const RowMatrix<double>& weights,
                                         int grid, bool shared,
                                         const std::function<std::int64_t(std::int64_t, double)>& start) {
  const std::int64_t C = weights.rows();
  const std::int64_t K = weights.cols();
  if (grid < 1)
    throw config_error("scale search: the grid needs at least 1 scale, got " + std::to_string(grid));
  if (C < 1 || K < 1)
    throw config_error("scale search: no weights to quantize");
  const bool constrained = fits_by_construction(method);
  if (constrained && static_cast<std::int64_t>(p.budget.size()) != C)
    throw config_error("scale search: " + std::to_string(p.budget.size()) + " budgets for " +
                       std::to_string(C) + " channels");
  const double qmax = static_cast<double>(p.qmax);
  const auto set_start = [&](std::int64_t c, double s) {
    if (constrained && start)
      p.budget[static_cast<std::size_t>(c)].start = start(c, s);
  };
  // Each channel's range of scales: from max|w|/qmax to where its L1 norm fits half the budget.
  std::vector<double> lo(static_cast<std::size_t>(C)), hi(static_cast<std::size_t>(C));
  double shared_lo = 0.0;
  for (std::int64_t c = 0; c < C; ++c)
    shared_lo = std::max(shared_lo, weights.row(c).cwiseAbs().maxCoeff() / qmax);
  for (std::int64_t c = 0; c < C; ++c) {
    const auto i = static_cast<std::size_t>(c);
    const double largest = weights.row(c).cwiseAbs().maxCoeff();
    const double s =
        storable_scale(shared ? (shared_lo > 0.0 ? shared_lo : 1.0) : (largest > 0.0 ? largest / qmax : 1.0));
    lo[i] = hi[i] = s;
    set_start(c, s);
    if (!constrained || grid == 1 || largest == 0.0 ||
        detail::rounded_channel_fits(p.budget[i], weights, c, s, qmax))
      continue;
    hi[i] = std::max(s, weights.row(c).cwiseAbs().sum() / detail::half_l1_radius(p.budget[i], K));
  }
  if (shared) { // one range for all: the widest
    const double top = *std::max_element(hi.begin(), hi.end());
    std::fill(hi.begin(), hi.end(), top);
  }
  bool search = false;
  for (std::size_t i = 0; i < hi.size(); ++i)
    search = search || hi[i] > lo[i];
  const int steps = search ? grid : 1;
  ScaledWeights best{std::vector<std::int32_t>(static_cast<std::size_t>(C * K)), lo};
  std::vector<double> best_error(static_cast<std::size_t>(C), std::numeric_limits<double>::infinity());
  double best_total = std::numeric_limits<double>::infinity();
  std::vector<double> scale(static_cast<std::size_t>(C)), error(static_cast<std::size_t>(C));
  p.target.resize(C, K);
  for (int step = 0; step < steps; ++step) {
    const double f = steps == 1 ? 0.0 : static_cast<double>(step) / static_cast<double>(steps - 1);
    for (std::int64_t c = 0; c < C; ++c) {
      const auto i = static_cast<std::size_t>(c);
      scale[i] = storable_scale(lo[i] * std::pow(hi[i] / lo[i], f));
      p.target.row(c) = weights.row(c) / scale[i];
      set_start(c, scale[i]);
    }
    const std::vector<std::int32_t> q = quantize_group(method, p);
    double total = 0.0;
    for (std::int64_t c = 0; c < C; ++c) {
      const std::span<const std::int32_t> row(q.data() + c * K, static_cast<std::size_t>(K));
      error[static_cast<std::size_t>(c)] =
          channel_objective(method, p, weights, c, row, scale[static_cast<std::size_t>(c)]);
      total += error[static_cast<std::size_t>(c)];
    }
    // Per channel, each keeps its best scale; shared, the step with the smallest total wins.
    for (std::int64_t c = 0; c < C; ++c) {
      const auto i = static_cast<std::size_t>(c);
      if (shared ? total < best_total : error[i] < best_error[i]) {
        best_error[i] = error[i];
        best.scale[i] = scale[i];
        std::copy(q.begin() + c * K, q.begin() + (c + 1) * K, best.q.begin() + c * K);
      }
    }
    best_total = std::min(best_total, total);
  }
  return best;
}

} // namespace a2q::ptq
