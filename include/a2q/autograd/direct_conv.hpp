#pragma once
/// @file
/// Direct loops for the convolutions whose output channels each read a single input channel
/// (Conv2dPlan::single_input: depthwise layers, channel multipliers, a first layer on one-channel
/// images). As a GEMM these have an inner dimension of kh * kw (9 for 3x3) and spend their time packing;
/// oneDNN's kernels for one input channel are slower still (its 3x3 weight gradient ran at 5 GFLOP/s on the
/// CNN's first layer). The loops work on one zero-padded plane [hp, wp] = [H + 2 pad, W + 2 pad] at a time,
/// so they need no bounds checks. With stride 1, output (oh, ow) sits at padded-width index oh * wp + ow
/// and kernel tap (i, j) reads the plane at the fixed offset i * wp + j: the whole plane is one long vector
/// loop despite short image rows, the columns past out_w of each row being scratch. A 3x3 kernel keeps its
/// nine weights (forward) or nine gradient sums (backward) in registers.

#include "a2q/autograd/conv_plan.hpp"
#include "a2q/core/assert.hpp"
#include "a2q/core/eigen_view.hpp"
#include "a2q/core/tensor.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace a2q::detail {

/// Sizes of the padded plane of a single_input convolution and of the scratch one thread needs.
struct PlaneLayout {
  std::int64_t hp = 0;   ///< padded height
  std::int64_t wp = 0;   ///< padded width
  std::int64_t span = 0; ///< (out_h - 1) * wp + out_w: padded-width indices covering every output
  bool unit_stride = false;

  explicit PlaneLayout(const Conv2dGeometry& g)
      : hp(g.height + 2 * g.pad_h), wp(g.width + 2 * g.pad_w),
        span(g.out_h() == 0 ? 0 : (g.out_h() - 1) * wp + g.out_w()),
        unit_stride(g.stride_h == 1 && g.stride_w == 1) {}
  std::int64_t plane() const { return hp * wp; }
  /// Floats of scratch one thread needs: a padded plane and one output (or gradient) plane of span floats.
  std::int64_t scratch() const { return plane() + span; }
};

// One register of floats: a GCC/Clang vector that the compiler maps onto the target's registers (16 floats
// with AVX-512, 8 with AVX, 4 with SSE), so the loops need no intrinsics. Eight, not sixteen, with AVX2:
// nine sums and a gradient must fit in its sixteen registers.
#if defined(__AVX512F__)
inline constexpr std::int64_t plane_lanes = 16;
#elif defined(__AVX__)
inline constexpr std::int64_t plane_lanes = 8;
#else
inline constexpr std::int64_t plane_lanes = 4;
#endif
using PlaneFloats = float __attribute__((vector_size(plane_lanes * sizeof(float))));
using PlaneInts = std::int32_t __attribute__((vector_size(plane_lanes * sizeof(std::int32_t))));

inline PlaneFloats load_lanes(const float* source) {
  PlaneFloats v;
  std::memcpy(&v, source, sizeof v);
  return v;
}

/// Stores a vector at any float address. (A typed store through a vector type declared with float
/// alignment is not portable: clang keeps the vector's natural alignment, and UBSan flags the store.)
inline void store_lanes(float* to, const PlaneFloats& v) {
  std::memcpy(to, &v, sizeof v);
}

/// to[i] = from[i] for i in [0, count), in 8-float vectors, the last one overlapping the one before:
/// image rows are short (28 floats and less), where std::copy's call and size dispatch cost more than the
/// copy itself.
inline void copy_floats(const float* from, std::int64_t count, float* to) {
  using Eight = float __attribute__((vector_size(8 * sizeof(float))));
  if (count < 8) {
    for (std::int64_t i = 0; i < count; ++i)
      to[i] = from[i];
    return;
  }
  Eight v;
  for (std::int64_t i = 0; i + 8 < count; i += 8) {
    std::memcpy(&v, from + i, sizeof v);
    std::memcpy(to + i, &v, sizeof v);
  }
  std::memcpy(&v, from + count - 8, sizeof v);
  std::memcpy(to + count - 8, &v, sizeof v);
}

// The padded planes' borders and the gradient planes' scratch columns are zeroed once per buffer, when a
// thread takes it: the copies below write only the rows' own columns. (Zeroing them per plane took loops of
// two floats, which GCC turns into calls of memset.)

/// Copies an image plane [H, W] into the middle of a [hp, wp] plane whose border is zero.
inline void copy_into_padded(const float* image, const Conv2dGeometry& g, const PlaneLayout& l,
                             float* padded) {
  for (std::int64_t h = 0; h < g.height; ++h)
    copy_floats(image + h * g.width, g.width, padded + (h + g.pad_h) * l.wp + g.pad_w);
}

/// Copies a gradient plane [out_h, out_w] to padded-width indices (stride 1) of a plane whose scratch
/// columns are zero, so that they add nothing to a weight gradient.
inline void spread_rows(const float* dy, const Conv2dPlan& p, const PlaneLayout& l, float* out) {
  for (std::int64_t oh = 0; oh < p.out_h; ++oh)
    copy_floats(dy + oh * p.out_w, p.out_w, out + oh * l.wp);
}

/// The kernel taps' offsets i * wp + j in a padded plane, row-major.
inline std::vector<std::int64_t> tap_offsets(const Conv2dGeometry& g, const PlaneLayout& l) {
  std::vector<std::int64_t> offsets;
  for (std::int64_t i = 0; i < g.kernel_h; ++i)
    for (std::int64_t j = 0; j < g.kernel_w; ++j)
      offsets.push_back(i * l.wp + j);
  return offsets;
}

/// out[k] = bias + sum over taps t of w[t] * in[k + offset[t]], for k in [0, span) (stride 1). Taps > 0 is
/// the tap count fixed at compile time: the weights and offsets stay in registers, and `unroll` vectors
/// of outputs are summed side by side (one vector alone would be a chain of dependent FMAs). With
/// Taps == 0 the count is `taps`.
template <int Taps>
inline void correlate_plane(const float* in, const std::int64_t* offset, std::int64_t taps, const float* w,
                            float bias, std::int64_t span, float* out) {
  const std::int64_t count = Taps > 0 ? Taps : taps;
  std::int64_t k = 0;
  if constexpr (Taps > 0) {
    // Nine weights and six sums fill AVX2's sixteen registers; AVX-512 has 32.
    constexpr std::int64_t unroll = plane_lanes == 16 ? 8 : 6;
    PlaneFloats weight[Taps];
    std::int64_t at[Taps];
    for (int t = 0; t < Taps; ++t) {
      weight[t] = PlaneFloats{} + w[t];
      at[t] = offset[t];
    }
    for (; k + unroll * plane_lanes <= span; k += unroll * plane_lanes) {
      PlaneFloats acc[unroll];
#pragma GCC unroll 8
      for (std::int64_t u = 0; u < unroll; ++u)
        acc[u] = PlaneFloats{} + bias;
#pragma GCC unroll 9
      for (int t = 0; t < Taps; ++t)
#pragma GCC unroll 8
        for (std::int64_t u = 0; u < unroll; ++u)
          acc[u] += weight[t] * load_lanes(in + k + u * plane_lanes + at[t]);
#pragma GCC unroll 8
      for (std::int64_t u = 0; u < unroll; ++u)
        std::memcpy(out + k + u * plane_lanes, &acc[u], sizeof acc[u]);
    }
    for (; k + plane_lanes <= span; k += plane_lanes) {
      PlaneFloats acc = PlaneFloats{} + bias;
#pragma GCC unroll 9
      for (int t = 0; t < Taps; ++t)
        acc += weight[t] * load_lanes(in + k + at[t]);
      std::memcpy(out + k, &acc, sizeof acc);
    }
  } else {
    constexpr std::int64_t unroll = 4;
    for (; k + unroll * plane_lanes <= span; k += unroll * plane_lanes) {
      PlaneFloats acc[unroll];
#pragma GCC unroll 4
      for (std::int64_t u = 0; u < unroll; ++u)
        acc[u] = PlaneFloats{} + bias;
      for (std::int64_t t = 0; t < count; ++t) {
        const PlaneFloats weight = PlaneFloats{} + w[t];
        const float* at = in + k + offset[t];
#pragma GCC unroll 4
        for (std::int64_t u = 0; u < unroll; ++u)
          acc[u] += weight * load_lanes(at + u * plane_lanes);
      }
#pragma GCC unroll 4
      for (std::int64_t u = 0; u < unroll; ++u)
        std::memcpy(out + k + u * plane_lanes, &acc[u], sizeof acc[u]);
    }
    for (; k + plane_lanes <= span; k += plane_lanes) {
      PlaneFloats acc = PlaneFloats{} + bias;
      for (std::int64_t t = 0; t < count; ++t)
        acc += w[t] * load_lanes(in + k + offset[t]);
      std::memcpy(out + k, &acc, sizeof acc);
    }
  }
  for (; k < span; ++k) {
    float acc = bias;
    for (std::int64_t t = 0; t < count; ++t)
      acc += w[t] * in[k + offset[t]];
    out[k] = acc;
  }
}

/// sum += the lanes of `lanes` (the products over [0, body) of one tap), then g[k] * in_at[k] over [body,
/// span): one tap's part of a weight gradient from one plane, summed in float and added in double.
inline void finish_tap_sum(const PlaneFloats& lanes, const float* g, const float* in_at, std::int64_t body,
                           std::int64_t span, double& sum) {
  float total = 0.0f;
  for (std::int64_t i = 0; i < plane_lanes; ++i)
    total += lanes[i];
  for (std::int64_t k = body; k < span; ++k)
    total += g[k] * in_at[k];
  sum += total;
}

/// sums[t] += sum over k in [0, span) of g[k] * in[k + offset[t]], for every tap t (stride 1): the weight
/// gradient of correlate_plane. Lanes are summed in float over one plane, planes in double. Taps as there.
template <int Taps>
inline void correlate_gradient(const float* in, const std::int64_t* offset, std::int64_t taps, const float* g,
                               std::int64_t span, double* sums) {
  const std::int64_t body = span - span % plane_lanes;
  if constexpr (Taps > 0) {
    PlaneFloats acc[Taps] = {};
    for (std::int64_t k = 0; k < body; k += plane_lanes) {
      const PlaneFloats grad = load_lanes(g + k);
#pragma GCC unroll 9
      for (int t = 0; t < Taps; ++t)
        acc[t] += grad * load_lanes(in + k + offset[t]);
    }
    for (int t = 0; t < Taps; ++t)
      finish_tap_sum(acc[t], g, in + offset[t], body, span, sums[t]);
  } else {
    // Four sums per tap side by side: one alone would be a chain of dependent FMAs.
    for (std::int64_t t = 0; t < taps; ++t) {
      const float* at = in + offset[t];
      PlaneFloats acc[4] = {};
      std::int64_t k = 0;
      for (; k + 4 * plane_lanes <= body; k += 4 * plane_lanes)
#pragma GCC unroll 4
        for (std::int64_t u = 0; u < 4; ++u)
          acc[u] += load_lanes(g + k + u * plane_lanes) * load_lanes(at + k + u * plane_lanes);
      for (; k < body; k += plane_lanes)
        acc[0] += load_lanes(g + k) * load_lanes(at + k);
      finish_tap_sum((acc[0] + acc[1]) + (acc[2] + acc[3]), g, at, body, span, sums[t]);
    }
  }
}

/// Channels whose 3x3 weight gradients correlate_gradients_3x3 takes together.
inline constexpr int gradient_channels = 4;

/// correlate_gradient<9> of gradient_channels channels that read the same plane `in`: channel i's gradient
/// g[i] (at padded-width indices) and sums sums[i]. One kernel row at a time, so that the sums (three taps
/// by four channels) fit in AVX2's sixteen registers with the inputs: each input vector loaded serves four
/// channels and each gradient vector three taps, where the loop of one channel loads ten vectors for nine
/// FMAs (on a Zen 1, where a 256-bit load takes both load ports, the loads set its pace). The sums are
/// those of correlate_gradient<9>, in the same order.
inline void correlate_gradients_3x3(const float* in, const std::int64_t* offset,
                                    const float* const (&g)[gradient_channels], std::int64_t span,
                                    double* const (&sums)[gradient_channels]) {
  const std::int64_t body = span - span % plane_lanes;
  for (int row = 0; row < 3; ++row) {
    const float* at[3] = {in + offset[3 * row], in + offset[3 * row + 1], in + offset[3 * row + 2]};
    PlaneFloats acc[gradient_channels][3] = {};
    for (std::int64_t k = 0; k < body; k += plane_lanes) {
      const PlaneFloats x[3] = {load_lanes(at[0] + k), load_lanes(at[1] + k), load_lanes(at[2] + k)};
#pragma GCC unroll 4
      for (int c = 0; c < gradient_channels; ++c) {
        const PlaneFloats grad = load_lanes(g[c] + k);
#pragma GCC unroll 3
        for (int j = 0; j < 3; ++j)
          acc[c][j] += grad * x[j];
      }
    }
    for (int c = 0; c < gradient_channels; ++c)
      for (int j = 0; j < 3; ++j)
        finish_tap_sum(acc[c][j], g[c], at[j], body, span, sums[c][3 * row + j]);
  }
}

// When the direct loops beat a GEMM, as measured on one Zen 3 core (128 images; bench/conv_bench times each
// layer): depthwise layers (one output channel per input channel) always; a 3x3 kernel with stride 1 over a
// one-channel image with 16 output channels in the forward pass (0.8 ms against 1.0 for oneDNN and 1.1 for
// Eigen) and the weight gradient (1.2 ms against 1.4 for Eigen and 5.2 for oneDNN). With more taps and
// output channels per input (a 5x5 kernel, 64 channels) Eigen's GEMM wins every pass.

/// Whether y = conv(x, w) of plan `p` runs on single_input_conv2d_forward.
inline bool direct_forward_pays(const Conv2dPlan& p) {
  const Conv2dGeometry& g = p.geometry;
  return p.single_input && g.stride_h == 1 && g.stride_w == 1 &&
         (p.out_per_group == 1 || g.kernel_h * g.kernel_w == 9);
}

/// Whether the weight gradient of plan `p` runs on single_input_weight_grad.
inline bool direct_weight_grad_pays(const Conv2dPlan& p) {
  const Conv2dGeometry& g = p.geometry;
  return p.single_input &&
         (p.out_per_group == 1 || (g.kernel_h * g.kernel_w == 9 && g.stride_h == 1 && g.stride_w == 1));
}

/// Whether the input gradient of plan `p` runs on single_input_input_grad.
inline bool direct_input_grad_pays(const Conv2dPlan& p) {
  return p.single_input && p.out_per_group == 1;
}

/// Forward pass with stride 1: y[n, c] = x[n, g(c)] (*) w[c] + b[c], one padded input plane per iteration
/// shared by the output channels of its group.
inline void single_input_conv2d_forward(const Conv2dPlan& p, const float* x, const float* w,
                                        const float* bias, float* y) {
  const Conv2dGeometry& g = p.geometry;
  const PlaneLayout l(p.geometry);
  A2Q_ASSERT(p.single_input && l.unit_stride);
  const std::vector<std::int64_t> offsets = tap_offsets(g, l);
  const auto taps = static_cast<std::int64_t>(offsets.size());
  const std::int64_t planes = p.batch * p.groups; // input planes: in_channels == groups
  const std::int64_t chunks = parallel_chunk_count(planes, p.out_per_group * p.positions * taps);
  Tensor<float> scratch = Tensor<float>::uninitialized(Shape{chunks * l.scratch()});
  for_each_chunk(planes, chunks, [&](std::int64_t chunk, std::int64_t begin, std::int64_t end) {
    float* padded = scratch.data() + chunk * l.scratch();
    float* acc = padded + l.plane();
    std::fill(padded, padded + l.plane(), 0.0f);
    for (std::int64_t plane = begin; plane < end; ++plane) {
      copy_into_padded(x + plane * g.height * g.width, g, l, padded);
      const std::int64_t n = plane / p.groups;
      const std::int64_t first = plane % p.groups * p.out_per_group;
      for (std::int64_t c = first; c < first + p.out_per_group; ++c) {
        const float b = bias != nullptr ? bias[c] : 0.0f;
        if (taps == 9)
          correlate_plane<9>(padded, offsets.data(), taps, w + c * taps, b, l.span, acc);
        else
          correlate_plane<0>(padded, offsets.data(), taps, w + c * taps, b, l.span, acc);
        float* yp = y + (n * p.out_channels + c) * p.positions;
        for (std::int64_t oh = 0; oh < p.out_h; ++oh)
          copy_floats(acc + oh * l.wp, p.out_w, yp + oh * p.out_w);
      }
    }
  });
}

/// dw [C_out, 1, kh, kw] and, unless null, db [C_out] (overwritten; the bias gradient while each dy plane is
/// in the cache, summed as conv2d_bias_backward sums it). Threads take contiguous ranges of output channels,
/// and each pads an input plane once for all of its channels that read it. A channel's sums over the batch
/// belong to one thread, so the result does not depend on the thread count.
inline void single_input_weight_grad(const Conv2dPlan& p, const float* x, const float* dy, float* dw,
                                     float* db) {
  using ConstStrided = Eigen::Map<const Eigen::VectorXf, 0, Eigen::InnerStride<>>;
  const Conv2dGeometry& g = p.geometry;
  const PlaneLayout l(p.geometry);
  const std::vector<std::int64_t> offsets = tap_offsets(g, l);
  const auto taps = static_cast<std::int64_t>(offsets.size());
  // Output channels that read one input plane go gradient_channels at a time with a 3x3 kernel.
  const bool grouped = l.unit_stride && taps == 9 && p.out_per_group >= gradient_channels;
  const std::int64_t chunks = parallel_chunk_count(p.out_channels, p.batch * p.positions * taps);
  // Per chunk: a padded input plane, then a gradient plane per channel taken together.
  const std::int64_t chunk_scratch = l.plane() + (grouped ? gradient_channels : 1) * l.span;
  Tensor<float> scratch = Tensor<float>::uninitialized(Shape{chunks * chunk_scratch});
  Tensor<double> sums(Shape{p.out_channels * taps}); // zero-filled
  Tensor<double> bias_sums(Shape{p.out_channels});   // zero-filled
  for_each_chunk(p.out_channels, chunks, [&](std::int64_t chunk, std::int64_t begin, std::int64_t end) {
    float* padded = scratch.data() + chunk * chunk_scratch;
    float* grad = padded + l.plane(); // dy at padded-width indices
    std::fill(padded, padded + chunk_scratch, 0.0f);
    for (std::int64_t n = 0; n < p.batch; ++n) {
      std::int64_t padded_input = -1;
      for (std::int64_t c = begin; c < end;) {
        const std::int64_t input = c / p.out_per_group;
        if (input != padded_input) {
          copy_into_padded(x + (n * p.in_channels + input) * g.height * g.width, g, l, padded);
          padded_input = input;
        }
        const float* dyp = dy + (n * p.out_channels + c) * p.positions;
        const std::int64_t together =
            grouped && std::min(end, (input + 1) * p.out_per_group) - c >= gradient_channels
                ? gradient_channels
                : 1;
        for (std::int64_t i = 0; i < together && db != nullptr; ++i)
          bias_sums[c + i] += Eigen::Map<const Eigen::VectorXf>(dyp + i * p.positions, p.positions).sum();
        if (together == gradient_channels) {
          const float* planes[gradient_channels];
          double* plane_sums[gradient_channels];
          for (int i = 0; i < gradient_channels; ++i) {
            spread_rows(dyp + i * p.positions, p, l, grad + i * l.span);
            planes[i] = grad + i * l.span;
            plane_sums[i] = sums.data() + (c + i) * taps;
          }
          correlate_gradients_3x3(padded, offsets.data(), planes, l.span, plane_sums);
          c += gradient_channels;
          continue;
        }
        double* sum = sums.data() + c * taps;
        ++c;
        if (l.unit_stride) {
          spread_rows(dyp, p, l, grad);
          if (taps == 9)
            correlate_gradient<9>(padded, offsets.data(), taps, grad, l.span, sum);
          else
            correlate_gradient<0>(padded, offsets.data(), taps, grad, l.span, sum);
          continue;
        }
        for (std::int64_t oh = 0; oh < p.out_h; ++oh) {
          const Eigen::Map<const Eigen::VectorXf> row(dyp + oh * p.out_w, p.out_w);
          for (std::int64_t t = 0; t < taps; ++t)
            sum[t] += row.dot(ConstStrided(padded + oh * g.stride_h * l.wp + offsets.data()[t], p.out_w,
                                           Eigen::InnerStride<>(g.stride_w)));
        }
      }
    }
    for (std::int64_t i = begin * taps; i < end * taps; ++i)
      dw[i] = static_cast<float>(sums[i]);
    if (db != nullptr)
      for (std::int64_t c = begin; c < end; ++c)
        db[c] = static_cast<float>(bias_sums[c]);
  });
}

/// The input gradient of a depthwise convolution with stride 1 as a forward pass: dx[h, w] sums w[i, j] ·
/// dy[h + pad - i, w + pad - j], which is dy zero-padded by kernel - 1 - pad and correlated with the flipped
/// kernel. A gather with the weights in registers, where scattering dy into dx takes a load and a store per
/// tap. Needs pad <= kernel - 1 in both directions.
inline bool depthwise_input_grad_as_forward(const Conv2dPlan& p, const float* w, const float* dy, float* dx) {
  const Conv2dGeometry& g = p.geometry;
  if (p.out_per_group != 1 || g.stride_h != 1 || g.stride_w != 1 || g.pad_h > g.kernel_h - 1 ||
      g.pad_w > g.kernel_w - 1)
    return false;
  // dy's plane, padded so that the correlation's output is the input image.
  const Conv2dGeometry back{
      1, p.out_h, p.out_w, g.kernel_h, g.kernel_w, 1, 1, g.kernel_h - 1 - g.pad_h, g.kernel_w - 1 - g.pad_w};
  const PlaneLayout l(back);
  const std::vector<std::int64_t> offsets = tap_offsets(back, l);
  const auto taps = static_cast<std::int64_t>(offsets.size());
  const std::int64_t planes = p.batch * p.out_channels;
  const std::int64_t chunks = parallel_chunk_count(planes, p.positions * taps);
  Tensor<float> scratch = Tensor<float>::uninitialized(Shape{chunks * (l.scratch() + taps)});
  for_each_chunk(planes, chunks, [&](std::int64_t chunk, std::int64_t begin, std::int64_t end) {
    float* padded = scratch.data() + chunk * (l.scratch() + taps);
    float* acc = padded + l.plane();
    float* flipped = acc + l.span;
    std::fill(padded, padded + l.plane(), 0.0f);
    for (std::int64_t plane = begin; plane < end; ++plane) {
      const float* wc = w + plane % p.out_channels * taps;
      for (std::int64_t t = 0; t < taps; ++t)
        flipped[t] = wc[taps - 1 - t];
      copy_into_padded(dy + plane * p.positions, back, l, padded);
      if (taps == 9)
        correlate_plane<9>(padded, offsets.data(), taps, flipped, 0.0f, l.span, acc);
      else
        correlate_plane<0>(padded, offsets.data(), taps, flipped, 0.0f, l.span, acc);
      float* dxp = dx + plane * g.height * g.width;
      for (std::int64_t h = 0; h < g.height; ++h)
        copy_floats(acc + h * l.wp, g.width, dxp + h * g.width);
    }
  });
  return true;
}

/// dx [N, C_in, H, W] (overwritten): each input plane gathers the gradients of its group's output
/// channels in a padded plane, one thread per group.
inline void single_input_input_grad(const Conv2dPlan& p, const float* w, const float* dy, float* dx) {
  if (depthwise_input_grad_as_forward(p, w, dy, dx))
    return;
  using Vector = Eigen::Map<Eigen::VectorXf>;
  using ConstVector = Eigen::Map<const Eigen::VectorXf>;
  using Strided = Eigen::Map<Eigen::VectorXf, 0, Eigen::InnerStride<>>;
  const Conv2dGeometry& g = p.geometry;
  const PlaneLayout l(p.geometry);
  const std::vector<std::int64_t> offsets = tap_offsets(g, l);
  const auto taps = static_cast<std::int64_t>(offsets.size());
  const std::int64_t chunks = parallel_chunk_count(p.groups, p.batch * p.out_per_group * p.positions * taps);
  Tensor<float> scratch = Tensor<float>::uninitialized(Shape{chunks * l.scratch()});
  for_each_chunk(p.groups, chunks, [&](std::int64_t chunk, std::int64_t begin, std::int64_t end) {
    float* dpad = scratch.data() + chunk * l.scratch();
    float* grad = dpad + l.plane();
    std::fill(grad, grad + l.span, 0.0f);
    for (std::int64_t input = begin; input < end; ++input)
      for (std::int64_t n = 0; n < p.batch; ++n) {
        std::fill(dpad, dpad + l.plane(), 0.0f);
        for (std::int64_t c = input * p.out_per_group; c < (input + 1) * p.out_per_group; ++c) {
          const float* dyp = dy + (n * p.out_channels + c) * p.positions;
          const float* wc = w + c * taps;
          if (l.unit_stride) {
            spread_rows(dyp, p, l, grad);
            const ConstVector gv(grad, l.span);
            for (std::int64_t t = 0; t < taps; ++t)
              Vector(dpad + offsets.data()[t], l.span) += wc[t] * gv;
            continue;
          }
          for (std::int64_t oh = 0; oh < p.out_h; ++oh) {
            const ConstVector row(dyp + oh * p.out_w, p.out_w);
            for (std::int64_t t = 0; t < taps; ++t)
              Strided(dpad + oh * g.stride_h * l.wp + offsets.data()[t], p.out_w,
                      Eigen::InnerStride<>(g.stride_w)) += wc[t] * row;
          }
        }
        float* dxp = dx + (n * p.in_channels + input) * g.height * g.width;
        for (std::int64_t h = 0; h < g.height; ++h) {
          copy_floats(dpad + (h + g.pad_h) * l.wp + g.pad_w, g.width, dxp + h * g.width);
        }
      }
  });
}

} // namespace a2q::detail
