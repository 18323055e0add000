#pragma once
/// @file
/// Definitions for batch_norm.hpp (see a2q/core/config.hpp).

#include "a2q/autograd/batch_norm.hpp"

#include "a2q/autograd/variable.hpp"
#include "a2q/core/eigen_view.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/parallel.hpp"
#include "a2q/core/tensor.hpp"

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

namespace a2q {

namespace detail {

/// Batch norm of x viewed as [N, C, inner]; `op` names the public function in messages and the graph.
inline Var batch_norm(const char* op, const Var& x, const Var& gamma, const Var& beta,
                      Tensor<float>& running_mean, Tensor<float>& running_var, bool training, float momentum,
                      float eps) {
  const std::string name(op);
  const Shape& s = x.shape();
  const std::int64_t batch = s[0];
  const std::int64_t channels = s[1];
  const std::int64_t inner = s.numel() / std::max<std::int64_t>(batch * channels, 1);
  const std::int64_t count = batch * inner; // values per channel
  const Shape channel_shape{channels};
  if (gamma.defined() != beta.defined())
    throw config_error(name + ": gamma and beta must both be given or both be undefined (no affine)");
  const bool affine = gamma.defined();
  if (affine && (gamma.shape() != channel_shape || beta.shape() != channel_shape))
    throw shape_error(name + ": gamma " + gamma.shape().to_string() + " and beta " +
                      beta.shape().to_string() + " must both be " + channel_shape.to_string() +
                      " for input " + s.to_string());
  if (running_mean.shape() != channel_shape || running_var.shape() != channel_shape)
    throw shape_error(name + ": running_mean " + running_mean.shape().to_string() + " and running_var " +
                      running_var.shape().to_string() + " must both be " + channel_shape.to_string() +
                      " for input " + s.to_string());
  if (!(momentum >= 0.0f && momentum <= 1.0f))
    throw config_error(name + ": momentum must be in [0, 1], got " + std::to_string(momentum));
  if (!(eps > 0.0f))
    throw config_error(name + ": eps must be > 0, got " + std::to_string(eps));
  if (training && count < 2)
    throw shape_error(name + ": training needs more than one value per channel, input " + s.to_string() +
                      " has " + std::to_string(count));

  using ConstVector = Eigen::Map<const Eigen::VectorXf>;
  using Vector = Eigen::Map<Eigen::VectorXf>;
  // Per-channel statistics used for normalising; kept for the backward pass.
  Tensor<float> mean = Tensor<float>::uninitialized(channel_shape);
  Tensor<float> inv_std = Tensor<float>::uninitialized(channel_shape);
  const float* xv = x.value().data();
  const float* gv = affine ? gamma.value().data() : nullptr;
  const float* bv = affine ? beta.value().data() : nullptr;
  float* rm = running_mean.data();
  float* rv = running_var.data();
  Tensor<float> out = Tensor<float>::uninitialized(s);
  float* yv = out.data();
  // Threads only for enough work (~10 microseconds): a parallel region costs more than a tiny loop.
  [[maybe_unused]] const bool threaded = channels * count >= 32768;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (threaded)
#endif
  for (std::int64_t c = 0; c < channels; ++c) {
    float m = 0.0f;
    float var = 0.0f;
    if (training) {
      double total = 0.0;
      for (std::int64_t n = 0; n < batch; ++n)
        total += ConstVector(xv + (n * channels + c) * inner, inner).sum();
      const double mean_d = total / static_cast<double>(count);
      m = static_cast<float>(mean_d);
      double squares = 0.0;
      for (std::int64_t n = 0; n < batch; ++n)
        squares += (ConstVector(xv + (n * channels + c) * inner, inner).array() - m).square().sum();
      var = static_cast<float>(squares / static_cast<double>(count));
      const double unbiased = squares / static_cast<double>(count - 1);
      rm[c] = static_cast<float>((1.0 - momentum) * rm[c] + momentum * mean_d);
      rv[c] = static_cast<float>((1.0 - momentum) * rv[c] + momentum * unbiased);
    } else {
      m = rm[c];
      var = rv[c];
    }
    const float is = 1.0f / std::sqrt(var + eps);
    mean[c] = m;
    inv_std[c] = is;
    // y = x * scale + shift
    const float scale = affine ? gv[c] * is : is;
    const float shift = (affine ? bv[c] : 0.0f) - m * scale;
    for (std::int64_t n = 0; n < batch; ++n) {
      const std::int64_t offset = (n * channels + c) * inner;
      Vector(yv + offset, inner) = (ConstVector(xv + offset, inner).array() * scale + shift).matrix();
    }
  }

  auto backward = [batch, channels, inner, count, training, affine, mean = std::move(mean),
                   inv_std = std::move(inv_std)](Node& self) {
    const Node& xn = input(self, 0);
    const bool need_dx = xn.requires_grad;
    const bool need_dgamma = affine && input(self, 1).requires_grad;
    const bool need_dbeta = affine && input(self, 2).requires_grad;
    const Shape cs{channels};
    Tensor<float> dx = need_dx ? Tensor<float>::uninitialized(xn.value.shape()) : Tensor<float>();
    Tensor<float> dgamma = need_dgamma ? Tensor<float>::uninitialized(cs) : Tensor<float>();
    Tensor<float> dbeta = need_dbeta ? Tensor<float>::uninitialized(cs) : Tensor<float>();
    const float* xd = xn.value.data();
    const float* dy = self.grad.data();
    const float* g = affine ? input(self, 1).value.data() : nullptr;
    float* dxd = dx.data();
    float* dgd = dgamma.data();
    float* dbd = dbeta.data();
    // Threads only for enough work (~10 microseconds): a parallel region costs more than a tiny loop.
    [[maybe_unused]] const bool threaded_backward = channels * count >= 32768;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (threaded_backward)
#endif
    for (std::int64_t c = 0; c < channels; ++c) {
      const float m = mean[c];
      const float is = inv_std[c];
      // sum(dy) and sum(dy * xhat) over the channel, xhat = (x - mean) * inv_std.
      double sum_dy = 0.0;
      double sum_dy_xc = 0.0; // sum(dy * (x - mean))
      for (std::int64_t n = 0; n < batch; ++n) {
        const std::int64_t offset = (n * channels + c) * inner;
        const auto dyc = ConstVector(dy + offset, inner).array();
        sum_dy += dyc.sum();
        sum_dy_xc += (dyc * (ConstVector(xd + offset, inner).array() - m)).sum();
      }
      const double sum_dy_xhat = sum_dy_xc * is;
      if (need_dgamma)
        dgd[c] = static_cast<float>(sum_dy_xhat);
      if (need_dbeta)
        dbd[c] = static_cast<float>(sum_dy);
      if (!need_dx)
        continue;
      const float scale = (affine ? g[c] : 1.0f) * is;
      if (training) {
        // dx = scale * (dy - mean(dy) - xhat * mean(dy * xhat))
        const auto mean_dy = static_cast<float>(sum_dy / static_cast<double>(count));
        const auto k = static_cast<float>(sum_dy_xhat / static_cast<double>(count)) * is;
        for (std::int64_t n = 0; n < batch; ++n) {
          const std::int64_t offset = (n * channels + c) * inner;
          Vector(dxd + offset, inner) = (scale * (ConstVector(dy + offset, inner).array() - mean_dy -
                                                  (ConstVector(xd + offset, inner).array() - m) * k))
                                            .matrix();
        }
      } else {
        for (std::int64_t n = 0; n < batch; ++n) {
          const std::int64_t offset = (n * channels + c) * inner;
          Vector(dxd + offset, inner) = ConstVector(dy + offset, inner) * scale;
        }
      }
    }
    if (need_dx)
      accumulate_grad(self, 0, std::move(dx));
    if (need_dgamma)
      accumulate_grad(self, 1, std::move(dgamma));
    if (need_dbeta)
      accumulate_grad(self, 2, std::move(dbeta));
  };
  if (affine)
    return make_result(std::move(out), {x, gamma, beta}, op, std::move(backward));
  return make_result(std::move(out), {x}, op, std::move(backward));
}

} // namespace detail

Var batch_norm2d(const Var& x, const Var& gamma, const Var& beta, Tensor<float>& running_mean,
                 Tensor<float>& running_var, bool training, float momentum, float eps) {
  if (x.shape().rank() != 4)
    throw shape_error("batch_norm2d: input must be [N, C, H, W], got " + x.shape().to_string() +
                      " (use batch_norm1d for [N, C] and [N, C, L])");
  return detail::batch_norm("batch_norm2d", x, gamma, beta, running_mean, running_var, training, momentum,
                            eps);
}

Var batch_norm1d(const Var& x, const Var& gamma, const Var& beta, Tensor<float>& running_mean,
                 Tensor<float>& running_var, bool training, float momentum, float eps) {
  if (x.shape().rank() != 2 && x.shape().rank() != 3)
    throw shape_error("batch_norm1d: input must be [N, C] or [N, C, L], got " + x.shape().to_string() +
                      " (use batch_norm2d for [N, C, H, W])");
  return detail::batch_norm("batch_norm1d", x, gamma, beta, running_mean, running_var, training, momentum,
                            eps);
}

} // namespace a2q
