#pragma once
// Convolution and its gradients as the obviously correct nested loops, in double: the reference the
// convolution tests (conv.test.cpp) and the Winograd kernels built for wider vectors (simd_kernels.cpp)
// compare against.

#include "a2q/autograd/conv_options.hpp"
#include "a2q/core/tensor.hpp"

#include <cstdint>
#include <utility>
#include <vector>

namespace a2q_test {

using a2q::Conv2dOptions;
using a2q::Shape;
using a2q::Tensor;

/// Direct convolution: the obviously correct seven nested loops (plus the group offset), in double.
inline Tensor<float> reference_conv(const Tensor<float>& x, const Tensor<float>& w, const Tensor<float>* b,
                                    const Conv2dOptions& opt) {
  const std::int64_t n_ = x.dim(0), h = x.dim(2), wd = x.dim(3);
  const std::int64_t c_out = w.dim(0), cg = w.dim(1), kh = w.dim(2), kw = w.dim(3);
  const std::int64_t s = opt.stride, p = opt.padding, out_per_group = c_out / opt.groups;
  const std::int64_t oh_n = (h + 2 * p - kh) / s + 1, ow_n = (wd + 2 * p - kw) / s + 1;
  Tensor<float> y(Shape{n_, c_out, oh_n, ow_n});
  for (std::int64_t n = 0; n < n_; ++n)
    for (std::int64_t co = 0; co < c_out; ++co)
      for (std::int64_t oh = 0; oh < oh_n; ++oh)
        for (std::int64_t ow = 0; ow < ow_n; ++ow) {
          double acc = b != nullptr ? (*b)[co] : 0.0;
          const std::int64_t group = co / out_per_group;
          for (std::int64_t ci = 0; ci < cg; ++ci)
            for (std::int64_t i = 0; i < kh; ++i)
              for (std::int64_t j = 0; j < kw; ++j) {
                const std::int64_t ih = oh * s - p + i, iw = ow * s - p + j;
                if (ih >= 0 && ih < h && iw >= 0 && iw < wd)
                  acc += double{x(n, group * cg + ci, ih, iw)} * double{w(co, ci, i, j)};
              }
          y(n, co, oh, ow) = static_cast<float>(acc);
        }
  return y;
}

/// Gradients of reference_conv for output gradient dy, in double: dx[n, ci] and dw[co, ci - group offset]
/// sum dy times the weight or input element that met at each output.
inline std::pair<Tensor<float>, Tensor<float>> reference_conv_grads(const Tensor<float>& x,
                                                                    const Tensor<float>& w,
                                                                    const Tensor<float>& dy,
                                                                    const Conv2dOptions& opt) {
  const std::int64_t n_ = x.dim(0), h = x.dim(2), wd = x.dim(3);
  const std::int64_t c_out = w.dim(0), cg = w.dim(1), kh = w.dim(2), kw = w.dim(3);
  const std::int64_t s = opt.stride, p = opt.padding, out_per_group = c_out / opt.groups;
  std::vector<double> dx(static_cast<std::size_t>(x.numel())), dw(static_cast<std::size_t>(w.numel()));
  for (std::int64_t n = 0; n < n_; ++n)
    for (std::int64_t co = 0; co < c_out; ++co)
      for (std::int64_t oh = 0; oh < dy.dim(2); ++oh)
        for (std::int64_t ow = 0; ow < dy.dim(3); ++ow) {
          const double g = dy(n, co, oh, ow);
          const std::int64_t group = co / out_per_group;
          for (std::int64_t ci = 0; ci < cg; ++ci)
            for (std::int64_t i = 0; i < kh; ++i)
              for (std::int64_t j = 0; j < kw; ++j) {
                const std::int64_t ih = oh * s - p + i, iw = ow * s - p + j;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd)
                  continue;
                const std::int64_t xi = ((n * x.dim(1) + group * cg + ci) * h + ih) * wd + iw;
                const std::int64_t wi = ((co * cg + ci) * kh + i) * kw + j;
                dx[static_cast<std::size_t>(xi)] += g * double{w[wi]};
                dw[static_cast<std::size_t>(wi)] += g * double{x[xi]};
              }
        }
  Tensor<float> dxt(x.shape()), dwt(w.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i)
    dxt[i] = static_cast<float>(dx[static_cast<std::size_t>(i)]);
  for (std::int64_t i = 0; i < w.numel(); ++i)
    dwt[i] = static_cast<float>(dw[static_cast<std::size_t>(i)]);
  return {dxt, dwt};
}

/// The bias gradient: dy summed over the batch and the positions of each channel, in double.
inline Tensor<float> reference_bias_grad(const Tensor<float>& dy) {
  Tensor<float> db(Shape{dy.dim(1)});
  for (std::int64_t c = 0; c < dy.dim(1); ++c) {
    double total = 0.0;
    for (std::int64_t n = 0; n < dy.dim(0); ++n)
      for (std::int64_t i = 0; i < dy.dim(2) * dy.dim(3); ++i)
        total += dy[(n * dy.dim(1) + c) * dy.dim(2) * dy.dim(3) + i];
    db[c] = static_cast<float>(total);
  }
  return db;
}

} // namespace a2q_test
