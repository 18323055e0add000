#pragma once
/// @file
/// Definitions for reference_kernels.hpp (see a2q/core/config.hpp).

#include "a2q/engine/reference_kernels.hpp"

#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/engine/accumulator.hpp"
#include "a2q/quant/bounds.hpp"
#include "a2q/quant/int_format.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace a2q::engine {

std::int64_t dot_product(std::span<const std::int32_t> w, std::span<const std::int32_t> x, Accumulator& acc,
                         const OverflowContext& context) {
  if (w.size() != x.size())
    throw shape_error("dot_product: " + std::to_string(w.size()) + " weights and " +
                      std::to_string(x.size()) + " inputs");
  acc.set_context(context);
  for (std::size_t i = 0; i < w.size(); ++i)
    acc.add(static_cast<std::int64_t>(w[i]) * static_cast<std::int64_t>(x[i]));
  return acc.value();
}

std::int64_t dot_product(std::span<const std::int32_t> w, std::span<const std::int32_t> x,
                         TiledAccumulator& acc, const OverflowContext& context) {
  if (w.size() != x.size())
    throw shape_error("dot_product: " + std::to_string(w.size()) + " weights and " +
                      std::to_string(x.size()) + " inputs");
  acc.set_context(context);
  for (std::size_t i = 0; i < w.size(); ++i)
    acc.add(static_cast<std::int64_t>(w[i]) * static_cast<std::int64_t>(x[i]));
  return acc.finish();
}

namespace detail {

/// One accumulator of `layout`'s kind; Run is called with it (an Accumulator or a TiledAccumulator).
template <class Run>
auto with_accumulator(const AccumulatorLayout& layout, OverflowPolicy policy, Run run) {
  if (layout.tile > 0) {
    TiledAccumulator acc(layout.inner_bits, layout.bits, layout.tile, policy);
    return run(acc);
  }
  Accumulator acc(layout.bits, policy);
  return run(acc);
}

inline std::int64_t finish(Accumulator& acc) {
  return acc.value();
}

inline std::int64_t finish(TiledAccumulator& acc) {
  return acc.finish();
}

} // namespace detail

Tensor<std::int64_t> linear_reference(const Tensor<std::int32_t>& x, const Tensor<std::int32_t>& w,
                                      std::span<const std::int64_t> bias_start, int P, OverflowPolicy policy,
                                      OverflowStats* stats, std::string_view layer) {
  return linear_reference(x, w, bias_start, AccumulatorLayout{.bits = P}, policy, stats, layer);
}

Tensor<std::int64_t> linear_reference(const Tensor<std::int32_t>& x, const Tensor<std::int32_t>& w,
                                      std::span<const std::int64_t> bias_start,
                                      const AccumulatorLayout& layout, OverflowPolicy policy,
                                      OverflowStats* stats, std::string_view layer) {
  if (x.rank() != 2 || w.rank() != 2 || x.dim(1) != w.dim(1))
    throw shape_error("linear_reference: inputs " + x.shape().to_string() + " and weights " +
                      w.shape().to_string() + " are not [N, K] and [C, K]");
  const std::int64_t N = x.dim(0);
  const std::int64_t K = x.dim(1);
  const std::int64_t C = w.dim(0);
  detail::check_bias_start("linear_reference", bias_start, C);
  if (stats != nullptr)
    stats->prepare(C);

  return detail::with_accumulator(layout, policy, [&](auto& acc) {
    Tensor<std::int64_t> out({N, C});
    const auto k = static_cast<std::size_t>(K);
    for (std::int64_t n = 0; n < N; ++n) {
      const std::span<const std::int32_t> row{x.data() + n * K, k};
      for (std::int64_t c = 0; c < C; ++c) {
        acc.reset(detail::bias_at(bias_start, c));
        out(n, c) = dot_product({w.data() + c * K, k}, row, acc, {.layer = layer, .channel = c, .sample = n});
        if (stats != nullptr)
          stats->record(c, acc.overflow_events(), acc.final_affected());
      }
    }
    return out;
  });
}

Tensor<std::int64_t> conv2d_reference(const Tensor<std::int32_t>& x, const Tensor<std::int32_t>& w,
                                      std::span<const std::int64_t> bias_start,
                                      const Conv2dGeometry& geometry, int P, OverflowPolicy policy,
                                      OverflowStats* stats, std::string_view layer) {
  return conv2d_reference(x, w, bias_start, geometry, AccumulatorLayout{.bits = P}, policy, stats, layer);
}

Tensor<std::int64_t> conv2d_reference(const Tensor<std::int32_t>& x, const Tensor<std::int32_t>& w,
                                      std::span<const std::int64_t> bias_start,
                                      const Conv2dGeometry& geometry, const AccumulatorLayout& layout,
                                      OverflowPolicy policy, OverflowStats* stats, std::string_view layer) {
  const Conv2dGeometry& g = geometry;
  if (g.stride_h < 1 || g.stride_w < 1 || g.pad_h < 0 || g.pad_w < 0 || g.groups < 1)
    throw config_error("conv2d_reference: stride " + std::to_string(g.stride_h) + "x" +
                       std::to_string(g.stride_w) + ", padding " + std::to_string(g.pad_h) + "x" +
                       std::to_string(g.pad_w) + ", groups " + std::to_string(g.groups) +
                       " (strides and groups must be >= 1, padding >= 0)");
  if (x.rank() != 4 || w.rank() != 4)
    throw shape_error("conv2d_reference: inputs " + x.shape().to_string() + " and weights " +
                      w.shape().to_string() + " are not [N, C_in, H, W] and [C_out, C_in/groups, kh, kw]");
  const std::int64_t N = x.dim(0), C_in = x.dim(1), H = x.dim(2), W = x.dim(3);
  const std::int64_t C_out = w.dim(0), C_group = w.dim(1), kh = w.dim(2), kw = w.dim(3);
  if (C_in % g.groups != 0 || C_out % g.groups != 0 || C_group != C_in / g.groups)
    throw shape_error("conv2d_reference: " + std::to_string(g.groups) + " groups do not fit inputs " +
                      x.shape().to_string() + " and weights " + w.shape().to_string());
  const std::int64_t H_pad = H + 2 * g.pad_h;
  const std::int64_t W_pad = W + 2 * g.pad_w;
  if (kh < 1 || kw < 1 || kh > H_pad || kw > W_pad)
    throw shape_error("conv2d_reference: kernel " + std::to_string(kh) + "x" + std::to_string(kw) +
                      " does not fit the padded input " + std::to_string(H_pad) + "x" +
                      std::to_string(W_pad));
  detail::check_bias_start("conv2d_reference", bias_start, C_out);
  if (stats != nullptr)
    stats->prepare(C_out);

  const std::int64_t H_out = (H_pad - kh) / g.stride_h + 1;
  const std::int64_t W_out = (W_pad - kw) / g.stride_w + 1;
  const std::int64_t out_per_group = C_out / g.groups;
  return detail::with_accumulator(layout, policy, [&](auto& acc) {
    Tensor<std::int64_t> out({N, C_out, H_out, W_out});
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t co = 0; co < C_out; ++co) {
        const std::int64_t first_in = (co / out_per_group) * C_group;
        for (std::int64_t oy = 0; oy < H_out; ++oy)
          for (std::int64_t ox = 0; ox < W_out; ++ox) {
            acc.reset(detail::bias_at(bias_start, co));
            acc.set_context({.layer = layer, .channel = co, .sample = n, .position = oy * W_out + ox});
            for (std::int64_t ci = 0; ci < C_group; ++ci)
              for (std::int64_t ky = 0; ky < kh; ++ky)
                for (std::int64_t kx = 0; kx < kw; ++kx) {
                  const std::int64_t iy = oy * g.stride_h - g.pad_h + ky;
                  const std::int64_t ix = ox * g.stride_w - g.pad_w + kx;
                  const bool inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
                  const std::int64_t xv = inside ? x(n, first_in + ci, iy, ix) : 0;
                  acc.add(static_cast<std::int64_t>(w(co, ci, ky, kx)) * xv);
                }
            out(n, co, oy, ox) = detail::finish(acc);
            if (stats != nullptr)
              stats->record(co, acc.overflow_events(), acc.final_affected());
          }
      }
    return out;
  });
}

} // namespace a2q::engine
