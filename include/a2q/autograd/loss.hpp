#pragma once
/// @file
/// Losses (softmax cross-entropy with optional label smoothing, mean squared error) and the
/// non-differentiable helpers that go with classification: softmax probabilities and accuracy counts.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"
#include "a2q/core/tensor.hpp"

#include <cstdint>
#include <span>

namespace a2q {

namespace detail {} // namespace detail

/// Row-wise softmax of logits [N, K] (max-subtracted, so large logits do not overflow).
/// @throws shape_error unless the input has rank 2
A2Q_DECL Tensor<float> softmax(const Tensor<float>& logits);

/// Number of rows of logits [N, K] whose first maximum is at the label's index.
/// @throws shape_error for a label count other than N or a label outside [0, K)
A2Q_DECL std::int64_t count_correct(const Tensor<float>& logits, std::span<const std::int32_t> labels);

/// Mean over the batch of the cross-entropy between softmax(logits) and the target distribution
/// q = (1 - label_smoothing) one_hot(label) + label_smoothing / K, computed with a stable log-sum-exp:
/// loss_n = logsumexp(z_n) - sum_k q_k z_nk. The gradient is (softmax(z) - q) / N.
/// @param logits [N, K], N >= 1
/// @param labels one class index in [0, K) per sample
/// @param label_smoothing in [0, 1]
/// @return a scalar
/// @throws shape_error for bad shapes or labels, config_error for label_smoothing outside [0, 1]
A2Q_DECL Var softmax_cross_entropy(const Var& logits, std::span<const std::int32_t> labels,
                                   float label_smoothing = 0.0f);

/// Mean squared error: mean((pred - target)^2) over all elements, as a scalar. Both inputs may need
/// a gradient.
/// @throws shape_error when the shapes differ or are empty
A2Q_DECL Var mse_loss(const Var& pred, const Var& target);

/// Σ over the samples (dimension 0) of each one's PSNR in dB, 10·log10(peak² / mse_n), with the mean squared
/// error of its elements (floored at 1e-12 so that a perfect sample is finite: 120 dB for peak 1).
/// @throws shape_error when the shapes differ or are empty
A2Q_DECL double sum_psnr_db(const Tensor<float>& pred, const Tensor<float>& target, double peak = 1.0);

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/autograd/loss.ipp"
#endif
