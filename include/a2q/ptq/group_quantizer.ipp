#pragma once
// ptq::quantize_group definitions (see group_quantizer.hpp).

#include "a2q/core/error.hpp"
#include "a2q/ptq/group_quantizer.hpp"
#include "a2q/quant/a2q_init.hpp"

#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <string>

namespace a2q::detail {

/// Chooses each weight of a group, column by column: AXE's soft threshold, the clip to the weight range
/// and to the channel's remaining budget, then the rounding; and records the weight in the budget.
class ColumnRounder {
public:
  ColumnRounder(ptq::PtqMethod method, const ptq::GroupProblem& p)
      : constrained_(ptq::fits_by_construction(method)),
        soft_(method == ptq::PtqMethod::ep || method == ptq::PtqMethod::axe_gpfq ||
              method == ptq::PtqMethod::axe_optq),
        toward_zero_(method == ptq::PtqMethod::ep), qmax_(static_cast<double>(p.qmax)) {
    if (!constrained_)
      return;
    const std::int64_t C = p.target.rows();
    const std::int64_t K = p.target.cols();
    budgets_.reserve(static_cast<std::size_t>(C));
    for (const ptq::AccumulatorSpec& spec : p.budget)
      budgets_.emplace_back(spec);
    if (!soft_)
      return;
    tile_ = p.budget.front().tile > 0 ? p.budget.front().tile : K;
    tiles_ = (K + tile_ - 1) / tile_;
    theta_.resize(static_cast<std::size_t>(C * tiles_));
    std::vector<double> centred;
    for (std::int64_t c = 0; c < C; ++c) {
      const ptq::AccumulatorSpec& spec = p.budget[static_cast<std::size_t>(c)];
      // A2Q+'s radius for this register: Z = 2 (2^(P-1) - 1 - |start|) / (hi - lo).
      const int bits = spec.tile > 0 ? spec.inner_bits : spec.bits;
      const double start = spec.tile > 0 ? 0.0 : std::abs(static_cast<double>(spec.start));
      const double radius = std::max(0.0, 2.0 * (std::ldexp(1.0, bits - 1) - 1.0 - start) /
                                              static_cast<double>(spec.input.hi - spec.input.lo));
      for (std::int64_t b = 0; b < tiles_; ++b) {
        const std::int64_t begin = b * tile_;
        const std::int64_t count = std::min(tile_, K - begin);
        const auto row = p.target.row(c).segment(begin, count);
        const double mean = row.mean();
        centred.resize(static_cast<std::size_t>(count));
        for (std::int64_t i = 0; i < count; ++i)
          centred[static_cast<std::size_t>(i)] = std::abs(row(i) - mean);
        theta_[static_cast<std::size_t>(c * tiles_ + b)] = quant::l1_ball_threshold(centred, radius);
      }
    }
  }

  /// The weight of channel c at column t for the argument `arg`; `clipped` gets the value it was rounded
  /// from (after the threshold and the clips).
  std::int32_t quantize(std::int64_t c, std::int64_t t, double arg, double& clipped) {
    if (!std::isfinite(arg))
      arg = 0.0;
    if (soft_)
      arg = std::copysign(
          std::max(std::abs(arg) - theta_[static_cast<std::size_t>(c * tiles_ + t / tile_)], 0.0), arg);
    double lo = -qmax_;
    double hi = qmax_;
    if (constrained_) {
      ptq::AccumulatorBudget& budget = budgets_[static_cast<std::size_t>(c)];
      hi = std::min(hi, static_cast<double>(budget.max_positive(t)));
      lo = std::max(lo, -static_cast<double>(budget.max_negative(t)));
    }
    clipped = std::clamp(arg, lo, hi);
    const double rounded = toward_zero_ ? std::trunc(clipped) : std::nearbyint(clipped);
    const auto q = static_cast<std::int32_t>(rounded);
    if (constrained_)
      budgets_[static_cast<std::size_t>(c)].take(t, q);
    return q;
  }

private:
  bool constrained_;
  bool soft_;
  bool toward_zero_;
  double qmax_;
  std::vector<ptq::AccumulatorBudget> budgets_;
  std::vector<double> theta_; // [C][tiles]
  std::int64_t tile_ = 1;
  std::int64_t tiles_ = 1;
};

/// Columns that no calibration row reaches: diag(H) zero (up to rounding).
inline std::vector<bool> dead_columns(const Eigen::MatrixXd& H) {
  const double largest = H.diagonal().maxCoeff();
  std::vector<bool> dead(static_cast<std::size_t>(H.rows()));
  for (std::int64_t t = 0; t < H.rows(); ++t)
    dead[static_cast<std::size_t>(t)] = !(H(t, t) > 1e-12 * largest);
  return dead;
}

inline std::vector<std::int32_t> to_row_major(const Eigen::MatrixXd& q) {
  std::vector<std::int32_t> out(static_cast<std::size_t>(q.size()));
  for (std::int64_t c = 0; c < q.rows(); ++c)
    for (std::int64_t t = 0; t < q.cols(); ++t)
      out[static_cast<std::size_t>(c * q.cols() + t)] = static_cast<std::int32_t>(q(c, t));
  return out;
}

inline std::vector<std::int32_t> quantize_without_feedback(ptq::PtqMethod method,
                                                           const ptq::GroupProblem& p) {
  ColumnRounder rounder(method, p);
  Eigen::MatrixXd q(p.target.rows(), p.target.cols());
  double clipped = 0.0;
  for (std::int64_t t = 0; t < q.cols(); ++t)
    for (std::int64_t c = 0; c < q.rows(); ++c)
      q(c, t) = rounder.quantize(c, t, p.target(c, t), clipped);
  return to_row_major(q);
}

inline std::vector<std::int32_t> quantize_gpfq(ptq::PtqMethod method, const ptq::GroupProblem& p) {
  const Eigen::MatrixXd& H = *p.H;
  const Eigen::MatrixXd& G = *p.G;
  const std::int64_t C = p.target.rows();
  const std::int64_t K = p.target.cols();
  ColumnRounder rounder(method, p);
  const std::vector<bool> dead = dead_columns(H);
  // The float part of every argument at once: feed[c, t] = Σ_{j<=t} w_j G[t, j].
  const Eigen::MatrixXd lower = G.triangularView<Eigen::Lower>();
  const Eigen::MatrixXd feed = p.target * lower.transpose();
  // Damped as in the AXE paper's GPFQ: ‖X̃_t‖² + λ, λ = damping · mean(diag H).
  const double lambda = p.damping * H.diagonal().mean();
  Eigen::MatrixXd q = Eigen::MatrixXd::Zero(C, K);
  Eigen::VectorXd arg(C);
  double clipped = 0.0;
  for (std::int64_t t = 0; t < K; ++t) {
    if (dead[static_cast<std::size_t>(t)])
      continue;
    // H is symmetric: row t's first t entries are column t's.
    arg.noalias() = feed.col(t) - q.leftCols(t) * H.col(t).head(t);
    arg /= H(t, t) + lambda;
    for (std::int64_t c = 0; c < C; ++c)
      q(c, t) = rounder.quantize(c, t, arg(c), clipped);
  }
  return to_row_major(q);
}

inline std::vector<std::int32_t> quantize_optq(ptq::PtqMethod method, const ptq::GroupProblem& p) {
  const std::int64_t C = p.target.rows();
  const std::int64_t K = p.target.cols();
  const std::vector<bool> dead = dead_columns(*p.H);
  Eigen::MatrixXd H = *p.H;
  Eigen::MatrixXd w = p.target;
  for (std::int64_t t = 0; t < K; ++t)
    if (dead[static_cast<std::size_t>(t)]) {
      H.row(t).setZero();
      H.col(t).setZero();
      H(t, t) = 1.0;
      w.col(t).setZero();
    }
  // Damping as GPTQ: λ = damping · mean(diag H), raised tenfold while the factorisations fail.
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(K, K);
  double lambda = p.damping * H.diagonal().mean();
  Eigen::MatrixXd U;
  for (int attempt = 0;; ++attempt) {
    Eigen::LLT<Eigen::MatrixXd> llt(H + lambda * identity);
    if (llt.info() == Eigen::Success) {
      Eigen::LLT<Eigen::MatrixXd> inverse(llt.solve(identity));
      if (inverse.info() == Eigen::Success) {
        U = inverse.matrixU();
        break;
      }
    }
    if (attempt == 6)
      throw numeric_error("OPTQ: the calibration inputs' second moments are not positive definite even with "
                          "damping " +
                          std::to_string(lambda));
    lambda = std::max(lambda * 10.0, 1e-8);
  }
  const bool axe = method == ptq::PtqMethod::axe_optq;
  ColumnRounder rounder(method, p);
  Eigen::MatrixXd q = Eigen::MatrixXd::Zero(C, K);
  constexpr std::int64_t block = 128;
  Eigen::MatrixXd err(C, block);
  double clipped = 0.0;
  for (std::int64_t begin = 0; begin < K; begin += block) {
    const std::int64_t end = std::min(begin + block, K);
    for (std::int64_t t = begin; t < end; ++t) {
      for (std::int64_t c = 0; c < C; ++c) {
        q(c, t) = rounder.quantize(c, t, w(c, t), clipped);
        // AXE spreads only the rounding error of the clipped value; OPTQ the whole error.
        err(c, t - begin) = ((axe ? clipped : w(c, t)) - q(c, t)) / U(t, t);
      }
      w.block(0, t + 1, C, end - t - 1).noalias() -=
          err.col(t - begin) * U.row(t).segment(t + 1, end - t - 1);
    }
    if (end < K)
      w.rightCols(K - end).noalias() -= err.leftCols(end - begin) * U.block(begin, end, end - begin, K - end);
  }
  return to_row_major(q);
}

} // namespace a2q::detail

namespace a2q::ptq {

std::vector<std::int32_t> quantize_group(PtqMethod method, const GroupProblem& p) {
  const std::int64_t C = p.target.rows();
  const std::int64_t K = p.target.cols();
  const std::string who = "quantize_group (" + std::string(to_string(method)) + "): ";
  if (C < 1 || K < 1)
    throw config_error(who + "no weights to quantize");
  if (p.qmax < 1)
    throw config_error(who + "qmax must be >= 1, got " + std::to_string(p.qmax));
  if (fits_by_construction(method)) {
    if (static_cast<std::int64_t>(p.budget.size()) != C)
      throw config_error(who + "needs one accumulator budget per channel (" + std::to_string(C) + "), got " +
                         std::to_string(p.budget.size()));
    for (const AccumulatorSpec& spec : p.budget) {
      spec.validate();
      if (spec.tile != p.budget.front().tile)
        throw config_error(who + "every channel of a group takes the same tile size");
    }
  }
  if (uses_calibration(method) && (p.H == nullptr || p.H->rows() != K || p.H->cols() != K))
    throw config_error(who + "needs the " + std::to_string(K) + "x" + std::to_string(K) +
                       " second moments of the calibration inputs");
  if (uses_float_inputs(method) && (p.G == nullptr || p.G->rows() != K || p.G->cols() != K))
    throw config_error(who + "needs the " + std::to_string(K) + "x" + std::to_string(K) +
                       " cross moments of the quantized and float inputs");
  switch (method) {
  case PtqMethod::rtn:
  case PtqMethod::ep:
    return detail::quantize_without_feedback(method, p);
  case PtqMethod::gpfq:
  case PtqMethod::axe_gpfq:
    return detail::quantize_gpfq(method, p);
  case PtqMethod::optq:
  case PtqMethod::axe_optq:
    return detail::quantize_optq(method, p);
  }
  throw internal_error(who + "unknown method");
}

} // namespace a2q::ptq
