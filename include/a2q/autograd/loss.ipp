#pragma once
/// @file
/// Definitions for loss.hpp (see a2q/core/config.hpp).

#include "a2q/autograd/loss.hpp"

#include "a2q/autograd/variable.hpp"
#include "a2q/core/eigen_view.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

namespace a2q {

namespace detail {

/// Checks logits [N, K] against one label in [0, K) per row; `op` names the caller in messages.
inline void check_labels(const char* op, const Shape& logits, std::span<const std::int32_t> labels) {
  const std::string name(op);
  if (logits.rank() != 2)
    throw shape_error(name + ": logits must be [N, K], got " + logits.to_string());
  if (static_cast<std::int64_t>(labels.size()) != logits[0])
    throw shape_error(name + ": " + std::to_string(labels.size()) + " labels given for logits " +
                      logits.to_string());
  for (std::size_t n = 0; n < labels.size(); ++n)
    if (labels[n] < 0 || labels[n] >= logits[1])
      throw shape_error(name + ": label " + std::to_string(labels[n]) + " of sample " + std::to_string(n) +
                        " is outside [0, " + std::to_string(logits[1]) + ")");
}

} // namespace detail

Tensor<float> softmax(const Tensor<float>& logits) {
  if (logits.rank() != 2)
    throw shape_error("softmax: logits must be [N, K], got " + logits.shape().to_string());
  Tensor<float> out = Tensor<float>::uninitialized(logits.shape());
  auto z = as_matrix(logits);
  auto p = as_matrix(out);
  for (std::int64_t n = 0; n < z.rows(); ++n) {
    p.row(n) = (z.row(n).array() - z.row(n).maxCoeff()).exp().matrix();
    p.row(n) /= p.row(n).sum();
  }
  return out;
}

std::int64_t count_correct(const Tensor<float>& logits, std::span<const std::int32_t> labels) {
  detail::check_labels("count_correct", logits.shape(), labels);
  auto z = as_matrix(logits);
  std::int64_t correct = 0;
  for (std::int64_t n = 0; n < z.rows(); ++n) {
    Eigen::Index best = 0;
    z.row(n).maxCoeff(&best);
    correct += best == labels[static_cast<std::size_t>(n)] ? 1 : 0;
  }
  return correct;
}

Var softmax_cross_entropy(const Var& logits, std::span<const std::int32_t> labels, float label_smoothing) {
  detail::check_labels("softmax_cross_entropy", logits.shape(), labels);
  if (logits.shape()[0] == 0 || logits.shape()[1] == 0)
    throw shape_error("softmax_cross_entropy: empty logits " + logits.shape().to_string());
  if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f))
    throw config_error("softmax_cross_entropy: label_smoothing must be in [0, 1], got " +
                       std::to_string(label_smoothing));
  const auto z = as_matrix(logits.value());
  const std::int64_t rows = z.rows();
  const std::int64_t classes = z.cols();
  const double eps = label_smoothing;
  const double smooth = eps / static_cast<double>(classes); // q_k of every class
  const bool need_grad = grad_enabled() && logits.requires_grad();
  // (softmax - q) / N, the gradient for a unit output gradient.
  Tensor<float> grad = need_grad ? Tensor<float>::uninitialized(logits.shape()) : Tensor<float>();
  double total = 0.0;
  for (std::int64_t n = 0; n < rows; ++n) {
    const auto row = z.row(n).array();
    const float top = row.maxCoeff();
    // exp(z - max) <= 1: no overflow, and the largest term is exactly 1.
    const double sum_exp = (row - top).exp().template cast<double>().sum();
    const double lse = top + std::log(sum_exp);
    const std::int32_t label = labels[static_cast<std::size_t>(n)];
    const double mean_z = row.template cast<double>().mean();
    total += lse - (1.0 - eps) * static_cast<double>(row(label)) - eps * mean_z;
    if (need_grad) {
      auto g = as_matrix(grad).row(n).array();
      g = ((row - top).exp() / static_cast<float>(sum_exp) - static_cast<float>(smooth)) /
          static_cast<float>(rows);
      g(label) -= static_cast<float>((1.0 - eps) / static_cast<double>(rows));
    }
  }
  Tensor<float> out(Shape{}, static_cast<float>(total / static_cast<double>(rows)));
  return detail::make_result(std::move(out), {logits}, "softmax_cross_entropy",
                             [grad = std::move(grad)](detail::Node& self) {
                               Tensor<float> dz = Tensor<float>::uninitialized(grad.shape());
                               as_vector(dz) = as_vector(grad) * self.grad[0];
                               detail::accumulate_grad(self, 0, std::move(dz));
                             });
}

Var mse_loss(const Var& pred, const Var& target) {
  if (pred.shape() != target.shape())
    throw shape_error("mse_loss: prediction " + pred.shape().to_string() + " and target " +
                      target.shape().to_string() + " differ");
  const std::int64_t count = pred.value().numel();
  if (count == 0)
    throw shape_error("mse_loss: empty input " + pred.shape().to_string());
  Tensor<float> diff = Tensor<float>::uninitialized(pred.shape());
  as_vector(diff) = as_vector(pred.value()) - as_vector(target.value());
  const double total = as_vector(diff).template cast<double>().squaredNorm();
  Tensor<float> out(Shape{}, static_cast<float>(total / static_cast<double>(count)));
  return detail::make_result(std::move(out), {pred, target}, "mse_loss",
                             [diff = std::move(diff), count](detail::Node& self) {
                               const float factor = 2.0f * self.grad[0] / static_cast<float>(count);
                               if (detail::input(self, 0).requires_grad) {
                                 Tensor<float> dp = Tensor<float>::uninitialized(diff.shape());
                                 as_vector(dp) = as_vector(diff) * factor;
                                 detail::accumulate_grad(self, 0, std::move(dp));
                               }
                               if (detail::input(self, 1).requires_grad) {
                                 Tensor<float> dt = Tensor<float>::uninitialized(diff.shape());
                                 as_vector(dt) = as_vector(diff) * -factor;
                                 detail::accumulate_grad(self, 1, std::move(dt));
                               }
                             });
}

double sum_psnr_db(const Tensor<float>& pred, const Tensor<float>& target, double peak) {
  if (pred.shape() != target.shape() || pred.rank() < 1 || pred.numel() == 0)
    throw shape_error("sum_psnr_db: prediction " + pred.shape().to_string() + " and target " +
                      target.shape().to_string() + " must have the same non-empty shape");
  const std::int64_t N = pred.dim(0), n = pred.numel() / N;
  double total = 0.0;
  for (std::int64_t i = 0; i < N; ++i) {
    double sq = 0.0;
    for (std::int64_t k = 0; k < n; ++k) {
      const double d = static_cast<double>(pred[i * n + k]) - static_cast<double>(target[i * n + k]);
      sq += d * d;
    }
    total += 10.0 * std::log10(peak * peak / std::max(sq / static_cast<double>(n), 1e-12));
  }
  return total;
}

} // namespace a2q
