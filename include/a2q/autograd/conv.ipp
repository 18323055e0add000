#pragma once
/// @file
/// Definitions for conv.hpp (see a2q/core/config.hpp).

#include "a2q/autograd/conv.hpp"

#include "a2q/autograd/im2col.hpp"
#include "a2q/autograd/onednn_conv.hpp"
#include "a2q/autograd/variable.hpp"
#include "a2q/core/assert.hpp"
#include "a2q/core/eigen_view.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/parallel.hpp"
#include "a2q/core/tensor.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

namespace a2q {

namespace detail {

/// A validated convolution: every size derived from the input and weight shapes and the options.
struct Conv2dPlan {
  std::int64_t batch = 0;
  std::int64_t in_channels = 0;
  std::int64_t out_channels = 0;
  std::int64_t groups = 1;
  std::int64_t in_per_group = 0;
  std::int64_t out_per_group = 0;
  Conv2dGeometry geometry; ///< the window over all input channels of one sample
  std::int64_t out_h = 0;
  std::int64_t out_w = 0;
  std::int64_t positions = 0;  ///< out_h * out_w: columns of each GEMM
  std::int64_t group_rows = 0; ///< in_per_group * kh * kw: inner dimension of each GEMM
  bool depthwise = false;      ///< groups == in_channels == out_channels > 1: direct loops

  std::int64_t in_size() const { return in_channels * geometry.height * geometry.width; }
  std::int64_t out_size() const { return out_channels * positions; }
  Shape output_shape() const { return Shape{batch, out_channels, out_h, out_w}; }
};

/// Checks input x [N, C_in, H, W] and weight [C_out, C_in / groups, kh, kw] against `opt` and derives
/// the plan. Throws config_error for bad options, shape_error for shapes that do not fit.
inline Conv2dPlan conv2d_plan(const Shape& x, const Shape& w, const Conv2dOptions& opt) {
  if (opt.stride < 1)
    throw config_error("conv2d: stride must be >= 1, got " + std::to_string(opt.stride));
  if (opt.padding < 0)
    throw config_error("conv2d: padding must be >= 0, got " + std::to_string(opt.padding));
  if (opt.groups < 1)
    throw config_error("conv2d: groups must be >= 1, got " + std::to_string(opt.groups));
  if (x.rank() != 4)
    throw shape_error("conv2d: input must be [N, C, H, W], got " + x.to_string());
  if (w.rank() != 4)
    throw shape_error("conv2d: weight must be [C_out, C_in / groups, kh, kw], got " + w.to_string());
  const std::int64_t groups = opt.groups;
  if (x[1] % groups != 0)
    throw config_error("conv2d: groups = " + std::to_string(groups) + " does not divide the " +
                       std::to_string(x[1]) + " input channels of " + x.to_string());
  if (w[0] % groups != 0)
    throw config_error("conv2d: groups = " + std::to_string(groups) + " does not divide the " +
                       std::to_string(w[0]) + " output channels of weight " + w.to_string());
  if (w[1] * groups != x[1])
    throw shape_error("conv2d: input " + x.to_string() + " has " + std::to_string(x[1]) +
                      " channels, weight " + w.to_string() + " with groups = " + std::to_string(groups) +
                      " expects " + std::to_string(w[1] * groups));
  if (w[2] < 1 || w[3] < 1)
    throw shape_error("conv2d: empty kernel in weight " + w.to_string());
  Conv2dPlan p;
  p.batch = x[0];
  p.in_channels = x[1];
  p.out_channels = w[0];
  p.groups = groups;
  p.in_per_group = w[1];
  p.out_per_group = w[0] / groups;
  p.geometry = Conv2dGeometry{x[1], x[2], x[3], w[2], w[3], opt.stride, opt.stride, opt.padding, opt.padding};
  p.out_h = p.geometry.out_h();
  p.out_w = p.geometry.out_w();
  if (x[2] + 2 * std::int64_t{opt.padding} < w[2] || x[3] + 2 * std::int64_t{opt.padding} < w[3])
    throw shape_error("conv2d: kernel " + std::to_string(w[2]) + "x" + std::to_string(w[3]) +
                      " is larger than the padded input " + x.to_string() + " (padding " +
                      std::to_string(opt.padding) + ")");
  p.positions = p.out_h * p.out_w;
  p.group_rows = p.in_per_group * w[2] * w[3];
  p.depthwise = groups > 1 && groups == p.in_channels && groups == p.out_channels;
  return p;
}

/// Number of contiguous chunks `items` work items of about `work_per_item` multiply-adds each are split
/// into: one per thread, at most one per item, and one in all when the whole job is too small to be worth
/// waking threads for (tiny layers, gradient checks).
inline std::int64_t parallel_chunk_count(std::int64_t items, std::int64_t work_per_item) {
  constexpr std::int64_t min_work_per_chunk = std::int64_t{1} << 15; // ~10 microseconds
  const std::int64_t by_work = std::max<std::int64_t>(1, items * work_per_item / min_work_per_chunk);
  return std::clamp<std::int64_t>(num_threads(), 1, std::min(std::max<std::int64_t>(items, 1), by_work));
}

/// Runs body(chunk, begin, end) for `chunks` contiguous ranges covering [0, items), in parallel when
/// there is more than one chunk. With a single chunk no parallel region is opened, so Eigen may still
/// parallelise its own products. `body` must not throw.
template <class Body>
void for_each_chunk(std::int64_t items, std::int64_t chunks, Body&& body) {
  if (chunks <= 1) {
    body(std::int64_t{0}, std::int64_t{0}, items);
    return;
  }
  A2Q_PARALLEL_FOR
  for (std::int64_t chunk = 0; chunk < chunks; ++chunk)
    body(chunk, items * chunk / chunks, items * (chunk + 1) / chunks);
}

// Depthwise convolutions work on one zero-padded plane [hp, wp] = [H + 2 pad, W + 2 pad] at a time, so
// the kernel loops need no bounds checks. With stride 1, output (oh, ow) sits at padded-width index
// oh * wp + ow: each kernel tap is then a single long axpy (or dot product) over the plane, the columns
// past out_w of each row being scratch, and vectorises well despite short image rows.

/// Sizes of the padded plane and of the scratch buffers of a depthwise convolution.
struct DepthwiseLayout {
  std::int64_t hp = 0;   ///< padded height
  std::int64_t wp = 0;   ///< padded width
  std::int64_t span = 0; ///< (out_h - 1) * wp + out_w: padded-width indices covering every output
  bool unit_stride = false;

  explicit DepthwiseLayout(const Conv2dPlan& p)
      : hp(p.geometry.height + 2 * p.geometry.pad_h), wp(p.geometry.width + 2 * p.geometry.pad_w),
        span(p.out_h == 0 ? 0 : (p.out_h - 1) * wp + p.out_w),
        unit_stride(p.geometry.stride_h == 1 && p.geometry.stride_w == 1) {}
  std::int64_t plane() const { return hp * wp; }
  /// Floats of scratch one thread needs: a padded plane, a padded gradient plane, an output plane.
  std::int64_t scratch() const { return 2 * plane() + span; }
};

/// Copies an image plane [H, W] into the middle of a zeroed [hp, wp] plane.
inline void pad_plane(const float* image, const Conv2dGeometry& g, const DepthwiseLayout& l, float* padded) {
  std::fill(padded, padded + g.pad_h * l.wp, 0.0f);
  for (std::int64_t h = 0; h < g.height; ++h) {
    float* row = padded + (h + g.pad_h) * l.wp;
    std::fill(row, row + g.pad_w, 0.0f);
    std::copy(image + h * g.width, image + (h + 1) * g.width, row + g.pad_w);
    std::fill(row + g.pad_w + g.width, row + l.wp, 0.0f);
  }
  std::fill(padded + (g.pad_h + g.height) * l.wp, padded + l.plane(), 0.0f);
}

/// Depthwise forward with stride 1: y[n, c] = x[n, c] (*) w[c] + b[c], one plane per iteration.
inline void depthwise_conv2d_forward(const Conv2dPlan& p, const float* x, const float* w, const float* bias,
                                     float* y) {
  using Vector = Eigen::Map<Eigen::VectorXf>;
  using ConstVector = Eigen::Map<const Eigen::VectorXf>;
  const Conv2dGeometry& g = p.geometry;
  const DepthwiseLayout l(p);
  A2Q_ASSERT(l.unit_stride);
  const std::int64_t taps = g.kernel_h * g.kernel_w;
  const std::int64_t planes = p.batch * p.in_channels;
  const std::int64_t chunks = parallel_chunk_count(planes, p.positions * taps);
  Tensor<float> scratch = Tensor<float>::uninitialized(Shape{chunks * l.scratch()});
  for_each_chunk(planes, chunks, [&](std::int64_t chunk, std::int64_t begin, std::int64_t end) {
    float* padded = scratch.data() + chunk * l.scratch();
    float* acc = padded + 2 * l.plane();
    for (std::int64_t plane = begin; plane < end; ++plane) {
      const std::int64_t c = plane % p.in_channels;
      const float* wc = w + c * taps;
      pad_plane(x + plane * g.height * g.width, g, l, padded);
      Vector out(acc, l.span);
      out.setConstant(bias != nullptr ? bias[c] : 0.0f);
      for (std::int64_t i = 0; i < g.kernel_h; ++i)
        for (std::int64_t j = 0; j < g.kernel_w; ++j)
          out += wc[i * g.kernel_w + j] * ConstVector(padded + i * l.wp + j, l.span);
      float* yp = y + plane * p.positions;
      for (std::int64_t oh = 0; oh < p.out_h; ++oh)
        std::copy(acc + oh * l.wp, acc + oh * l.wp + p.out_w, yp + oh * p.out_w);
    }
  });
}

/// Depthwise backward: dx and dw (each overwritten where non-null). Channels are independent, so the
/// work is split by channel and no weight gradient is shared between threads.
inline void depthwise_conv2d_backward(const Conv2dPlan& p, const float* x, const float* w, const float* dy,
                                      float* dx, float* dw) {
  using Vector = Eigen::Map<Eigen::VectorXf>;
  using ConstVector = Eigen::Map<const Eigen::VectorXf>;
  using Strided = Eigen::Map<Eigen::VectorXf, 0, Eigen::InnerStride<>>;
  using ConstStrided = Eigen::Map<const Eigen::VectorXf, 0, Eigen::InnerStride<>>;
  const Conv2dGeometry& g = p.geometry;
  const DepthwiseLayout l(p);
  const std::int64_t taps = g.kernel_h * g.kernel_w;
  const std::int64_t channels = p.in_channels;
  const std::int64_t chunks = parallel_chunk_count(channels, 2 * p.batch * p.positions * taps);
  Tensor<float> scratch = Tensor<float>::uninitialized(Shape{chunks * l.scratch()});
  Tensor<double> sums = Tensor<double>::uninitialized(Shape{chunks * taps}); // dw accumulators
  for_each_chunk(channels, chunks, [&](std::int64_t chunk, std::int64_t begin, std::int64_t end) {
    float* padded = scratch.data() + chunk * l.scratch();
    float* dpad = padded + l.plane();
    float* dyw = dpad + l.plane(); // dy at padded-width indices, zero in the scratch columns
    double* sum = sums.data() + chunk * taps;
    for (std::int64_t c = begin; c < end; ++c) {
      const float* wc = w + c * taps;
      std::fill(sum, sum + taps, 0.0);
      for (std::int64_t n = 0; n < p.batch; ++n) {
        const std::int64_t plane = n * channels + c;
        const float* dyp = dy + plane * p.positions;
        if (dw != nullptr)
          pad_plane(x + plane * g.height * g.width, g, l, padded);
        if (dx != nullptr)
          std::fill(dpad, dpad + l.plane(), 0.0f);
        if (l.unit_stride) {
          for (std::int64_t oh = 0; oh < p.out_h; ++oh) {
            std::copy(dyp + oh * p.out_w, dyp + (oh + 1) * p.out_w, dyw + oh * l.wp);
            if (oh + 1 < p.out_h)
              std::fill(dyw + oh * l.wp + p.out_w, dyw + (oh + 1) * l.wp, 0.0f);
          }
          const ConstVector grad(dyw, l.span);
          for (std::int64_t i = 0; i < g.kernel_h; ++i)
            for (std::int64_t j = 0; j < g.kernel_w; ++j) {
              const std::int64_t offset = i * l.wp + j;
              if (dw != nullptr)
                sum[i * g.kernel_w + j] += grad.dot(ConstVector(padded + offset, l.span));
              if (dx != nullptr)
                Vector(dpad + offset, l.span) += wc[i * g.kernel_w + j] * grad;
            }
        } else {
          for (std::int64_t oh = 0; oh < p.out_h; ++oh) {
            const ConstVector grad(dyp + oh * p.out_w, p.out_w);
            for (std::int64_t i = 0; i < g.kernel_h; ++i)
              for (std::int64_t j = 0; j < g.kernel_w; ++j) {
                const std::int64_t offset = (oh * g.stride_h + i) * l.wp + j;
                if (dw != nullptr)
                  sum[i * g.kernel_w + j] +=
                      grad.dot(ConstStrided(padded + offset, p.out_w, Eigen::InnerStride<>(g.stride_w)));
                if (dx != nullptr)
                  Strided(dpad + offset, p.out_w, Eigen::InnerStride<>(g.stride_w)) +=
                      wc[i * g.kernel_w + j] * grad;
              }
          }
        }
        if (dx != nullptr) {
          float* dxp = dx + plane * g.height * g.width;
          for (std::int64_t h = 0; h < g.height; ++h) {
            const float* row = dpad + (h + g.pad_h) * l.wp + g.pad_w;
            std::copy(row, row + g.width, dxp + h * g.width);
          }
        }
      }
      if (dw != nullptr)
        for (std::int64_t t = 0; t < taps; ++t)
          dw[c * taps + t] = static_cast<float>(sum[t]);
    }
  });
}

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
  // Strided depthwise forward reads short strided rows; the GEMM path (one 1-row product per channel) is
  // faster there. The backward pass takes the direct loops for every stride.
  if (p.depthwise && p.geometry.stride_h == 1 && p.geometry.stride_w == 1) {
    depthwise_conv2d_forward(p, x, w, bias, y);
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
#if defined(A2Q_WITH_ONEDNN)
  if (!p.depthwise && (dx != nullptr || dw != nullptr)) {
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
  if (p.depthwise) {
    if (dx != nullptr || dw != nullptr)
      depthwise_conv2d_backward(p, x, w, dy, dx, dw);
    return;
  }
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

} // namespace detail

Var conv2d(const Var& x, const Var& weight, const Var& bias, const Conv2dOptions& opt) {
  const detail::Conv2dPlan plan = detail::conv2d_plan(x.shape(), weight.shape(), opt);
  const bool has_bias = bias.defined();
  if (has_bias && (bias.shape().rank() != 1 || bias.shape()[0] != plan.out_channels))
    throw shape_error("conv2d: bias " + bias.shape().to_string() + " does not match the " +
                      std::to_string(plan.out_channels) + " output channels of weight " +
                      weight.shape().to_string());
  Tensor<float> out = Tensor<float>::uninitialized(plan.output_shape());
  detail::conv2d_forward(plan, x.value().data(), weight.value().data(),
                         has_bias ? bias.value().data() : nullptr, out.data());
  auto backward = [plan, has_bias](detail::Node& self) {
    const detail::Node& xn = detail::input(self, 0);
    const detail::Node& wn = detail::input(self, 1);
    const bool need_dx = xn.requires_grad;
    const bool need_dw = wn.requires_grad;
    const bool need_db = has_bias && detail::input(self, 2).requires_grad;
    Tensor<float> dx = need_dx ? Tensor<float>::uninitialized(xn.value.shape()) : Tensor<float>();
    Tensor<float> dw = need_dw ? Tensor<float>::uninitialized(wn.value.shape()) : Tensor<float>();
    Tensor<float> db = need_db ? Tensor<float>::uninitialized(Shape{plan.out_channels}) : Tensor<float>();
    detail::conv2d_backward(plan, xn.value.data(), wn.value.data(), self.grad.data(),
                            need_dx ? dx.data() : nullptr, need_dw ? dw.data() : nullptr,
                            need_db ? db.data() : nullptr);
    if (need_dx)
      detail::accumulate_grad(self, 0, std::move(dx));
    if (need_dw)
      detail::accumulate_grad(self, 1, std::move(dw));
    if (need_db)
      detail::accumulate_grad(self, 2, std::move(db));
  };
  if (has_bias)
    return detail::make_result(std::move(out), {x, weight, bias}, "conv2d", backward);
  return detail::make_result(std::move(out), {x, weight}, "conv2d", backward);
}

} // namespace a2q
