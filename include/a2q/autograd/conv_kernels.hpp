#pragma once
/// @file
/// The float convolution kernels on raw row-major buffers described by a Conv2dPlan, forward and backward,
/// each dispatching to the fastest path for the plan: direct loops (one input channel per output channel),
/// Winograd (3x3, stride 1), oneDNN when it is the selected backend, else im2col and Eigen's GEMM. conv2d
/// and the fused convolution + ReLU + pooling (conv_pool.ipp) call them.

#include "a2q/autograd/conv_plan.hpp"
#include "a2q/autograd/direct_conv.hpp"
#include "a2q/autograd/im2col.hpp"
#include "a2q/autograd/onednn_conv.hpp"
#include "a2q/autograd/winograd_conv.hpp"
#include "a2q/core/eigen_view.hpp"
#include "a2q/core/parallel.hpp"
#include "a2q/core/tensor.hpp"

#include <algorithm>
#include <cstdint>

namespace a2q::detail {

#if defined(A2Q_WITH_ONEDNN)
/// The oneDNN convolution of plan `p`, or null when that backend is not selected or cannot take `p`.
inline OneDnnConv* onednn_conv_for(const Conv2dPlan& p, bool with_bias) {
  if (float_backend() != FloatBackend::onednn || p.groups != 1 || p.batch == 0 || p.positions == 0)
    return nullptr;
  const Conv2dGeometry& g = p.geometry;
  return &cached_onednn_conv(
      {p.batch, p.in_channels, g.height, g.width}, {p.out_channels, p.in_channels, g.kernel_h, g.kernel_w},
      {p.batch, p.out_channels, p.out_h, p.out_w}, {g.stride_h, g.stride_w}, {g.pad_h, g.pad_w}, with_bias);
}
#endif

/// y = conv(x, w) + bias on raw row-major buffers described by `p`; `bias` may be null; y is overwritten.
inline void conv2d_forward(const Conv2dPlan& p, const float* x, const float* w, const float* bias, float* y) {
  if (direct_forward_pays(p)) {
    single_input_conv2d_forward(p, x, w, bias, y);
    return;
  }
  if (winograd_pays(p)) {
    winograd_conv2d_forward(p, x, w, bias, y);
    return;
  }
#if defined(A2Q_WITH_ONEDNN)
  if (OneDnnConv* onednn = onednn_conv_for(p, bias != nullptr)) {
    onednn->forward(x, w, bias, y);
    return;
  }
#endif
  using ConstMap = Eigen::Map<const RowMatrix<float>>;
  using Map = Eigen::Map<RowMatrix<float>>;
  const Conv2dGeometry& g = p.geometry;
  const bool identity = g.is_identity();
  const std::int64_t col_size = identity ? 0 : g.col_rows() * p.positions;
  const std::int64_t chunks = parallel_chunk_count(p.batch, p.out_size() * p.group_rows);
  Tensor<float> cols = Tensor<float>::uninitialized(Shape{chunks * col_size}); // one buffer per chunk
  for_each_chunk(p.batch, chunks, [&](std::int64_t chunk, std::int64_t begin, std::int64_t end) {
    float* col = cols.data() + chunk * col_size;
    for (std::int64_t n = begin; n < end; ++n) {
      const float* xn = x + n * p.in_size();
      if (!identity)
        im2col(xn, g, col);
      const float* source = identity ? xn : col;
      float* yn = y + n * p.out_size();
      for (std::int64_t grp = 0; grp < p.groups; ++grp) {
        ConstMap wg(w + grp * p.out_per_group * p.group_rows, p.out_per_group, p.group_rows);
        ConstMap cg(source + grp * p.group_rows * p.positions, p.group_rows, p.positions);
        Map yg(yn + grp * p.out_per_group * p.positions, p.out_per_group, p.positions);
        yg.noalias() = wg * cg;
      }
      if (bias != nullptr)
        for (std::int64_t c = 0; c < p.out_channels; ++c)
          Eigen::Map<Eigen::VectorXf>(yn + c * p.positions, p.positions).array() += bias[c];
    }
  });
}

/// db[c] = sum of dy over the batch and positions of channel c (overwritten).
inline void conv2d_bias_backward(const Conv2dPlan& p, const float* dy, float* db) {
  const std::int64_t channels = p.out_channels;
  // Threads only for enough work (~10 microseconds): a parallel region costs more than a tiny loop.
  [[maybe_unused]] const bool threaded = p.batch * p.out_size() >= 32768;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (threaded)
#endif
  for (std::int64_t c = 0; c < channels; ++c) {
    double total = 0.0;
    for (std::int64_t n = 0; n < p.batch; ++n)
      total += Eigen::Map<const Eigen::VectorXf>(dy + n * p.out_size() + c * p.positions, p.positions).sum();
    db[c] = static_cast<float>(total);
  }
}

/// Gradients of conv2d_forward given dy: dx [N, C_in, H, W], dw [C_out, C_in / groups, kh, kw] and
/// db [C_out], each overwritten; pass null for a gradient that is not needed.
inline void conv2d_backward(const Conv2dPlan& p, const float* x, const float* w, const float* dy, float* dx,
                            float* dw, float* db) {
  if (p.single_input) {
    // oneDNN's kernels for one input channel are slow (5 GFLOP/s for the CNN's first weight gradient), so
    // what the direct loops leave goes to the GEMM below.
    if (dw != nullptr && direct_weight_grad_pays(p)) {
      single_input_weight_grad(p, x, dy, dw, db);
      dw = nullptr;
      db = nullptr;
    }
    if (dx != nullptr && direct_input_grad_pays(p)) {
      single_input_input_grad(p, w, dy, dx);
      dx = nullptr;
    }
  } else if (winograd_pays(p)) {
    if (db != nullptr)
      conv2d_bias_backward(p, dy, db);
    if (dx != nullptr || dw != nullptr)
      winograd_conv2d_backward(p, x, w, dy, dx, dw);
    return;
  }
#if defined(A2Q_WITH_ONEDNN)
  else if (dx != nullptr || dw != nullptr) {
    const bool bias_with_weights = db != nullptr && dw != nullptr; // oneDNN's weight pass computes both
    if (OneDnnConv* onednn = onednn_conv_for(p, bias_with_weights)) {
      if (db != nullptr && !bias_with_weights)
        conv2d_bias_backward(p, dy, db);
      onednn->backward(x, w, dy, dx, dw, bias_with_weights ? db : nullptr);
      return;
    }
  }
#endif
  if (db != nullptr)
    conv2d_bias_backward(p, dy, db);
  if (dx == nullptr && dw == nullptr)
    return;
  using ConstMap = Eigen::Map<const RowMatrix<float>>;
  using Map = Eigen::Map<RowMatrix<float>>;
  const Conv2dGeometry& g = p.geometry;
  const bool identity = g.is_identity();
  const std::int64_t col_size = identity ? 0 : g.col_rows() * p.positions;
  const std::int64_t w_size = p.out_channels * p.group_rows;
  const std::int64_t chunks = parallel_chunk_count(p.batch, 2 * p.out_size() * p.group_rows);
  Tensor<float> cols = Tensor<float>::uninitialized(Shape{dw != nullptr ? chunks * col_size : 0});
  Tensor<float> dcols = Tensor<float>::uninitialized(Shape{dx != nullptr ? chunks * col_size : 0});
  // Chunk 0 accumulates straight into dw; the others into partials that are added in chunk order.
  Tensor<float> partials = Tensor<float>::uninitialized(Shape{dw != nullptr ? (chunks - 1) * w_size : 0});
  for_each_chunk(p.batch, chunks, [&](std::int64_t chunk, std::int64_t begin, std::int64_t end) {
    float* dw_chunk = nullptr;
    if (dw != nullptr) {
      dw_chunk = chunk == 0 ? dw : partials.data() + (chunk - 1) * w_size;
      std::fill(dw_chunk, dw_chunk + w_size, 0.0f);
    }
    float* col = cols.data() + chunk * col_size;
    float* dcol = dcols.data() + chunk * col_size;
    for (std::int64_t n = begin; n < end; ++n) {
      const float* dyn = dy + n * p.out_size();
      if (dw_chunk != nullptr) {
        const float* xn = x + n * p.in_size();
        if (!identity)
          im2col(xn, g, col);
        const float* source = identity ? xn : col;
        for (std::int64_t grp = 0; grp < p.groups; ++grp) {
          ConstMap dyg(dyn + grp * p.out_per_group * p.positions, p.out_per_group, p.positions);
          ConstMap cg(source + grp * p.group_rows * p.positions, p.group_rows, p.positions);
          Map dwg(dw_chunk + grp * p.out_per_group * p.group_rows, p.out_per_group, p.group_rows);
          dwg.noalias() += dyg * cg.transpose();
        }
      }
      if (dx != nullptr) {
        float* dxn = dx + n * p.in_size();
        float* target = identity ? dxn : dcol;
        for (std::int64_t grp = 0; grp < p.groups; ++grp) {
          ConstMap wg(w + grp * p.out_per_group * p.group_rows, p.out_per_group, p.group_rows);
          ConstMap dyg(dyn + grp * p.out_per_group * p.positions, p.out_per_group, p.positions);
          Map tg(target + grp * p.group_rows * p.positions, p.group_rows, p.positions);
          tg.noalias() = wg.transpose() * dyg;
        }
        if (!identity) {
          std::fill(dxn, dxn + p.in_size(), 0.0f);
          col2im(dcol, g, dxn);
        }
      }
    }
  });
  if (dw != nullptr) {
    Eigen::Map<Eigen::VectorXf> total(dw, w_size);
    for (std::int64_t chunk = 1; chunk < chunks; ++chunk)
      total += Eigen::Map<const Eigen::VectorXf>(partials.data() + (chunk - 1) * w_size, w_size);
  }
}

} // namespace a2q::detail
