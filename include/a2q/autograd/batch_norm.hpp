#pragma once
/// @file
/// Batch normalisation over the channel axis (axis 1), PyTorch's semantics: batch_norm2d for
/// [N, C, H, W], batch_norm1d for [N, C] and [N, C, L].
///
/// Training mode normalises with the batch mean and the biased batch variance and updates the running
/// statistics with the unbiased variance: running = (1 - momentum) running + momentum batch. Evaluation
/// mode normalises with the running statistics and leaves them alone. Statistics are accumulated in
/// double, two passes (mean, then squared deviations) for accuracy.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"
#include "a2q/core/tensor.hpp"

namespace a2q {

namespace detail {} // namespace detail

/// Batch normalisation of an image batch, per channel.
/// @param x [N, C, H, W]
/// @param gamma scale [C], or undefined (together with beta) for no affine transform
/// @param beta shift [C], or undefined (together with gamma)
/// @param running_mean [C]; updated in training mode
/// @param running_var [C]; updated in training mode with the unbiased batch variance
/// @param training batch statistics (and running update) if true, running statistics if false
/// @param momentum weight of the new batch in the running update, in [0, 1]
/// @param eps added to the variance before the square root, > 0
A2Q_DECL Var batch_norm2d(const Var& x, const Var& gamma, const Var& beta, Tensor<float>& running_mean,
                          Tensor<float>& running_var, bool training, float momentum = 0.1f,
                          float eps = 1e-5f);

/// Batch normalisation of feature vectors [N, C] or sequences [N, C, L], per channel (PyTorch's
/// BatchNorm1d); parameters as for batch_norm2d.
A2Q_DECL Var batch_norm1d(const Var& x, const Var& gamma, const Var& beta, Tensor<float>& running_mean,
                          Tensor<float>& running_var, bool training, float momentum = 0.1f,
                          float eps = 1e-5f);

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/autograd/batch_norm.ipp"
#endif
