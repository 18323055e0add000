#pragma once
/// @file
/// Definitions for fake_quantize.hpp (see a2q/core/config.hpp).

#include "a2q/quant/fake_quantize.hpp"

#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/variable.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/parallel.hpp"
#include "a2q/core/rng.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/quant/bypass.hpp"
#include "a2q/quant/fake_quant_plan.hpp"
#include "a2q/quant/int_format.hpp"
#include "a2q/quant/rounding.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace a2q::detail {

/// Runs body(block) for every block, in parallel for large tensors. body must not throw.
template <class Body>
void fake_quant_for_each_block(const FakeQuantPlan& plan, const Body& body) {
  if (plan.parallel()) {
    A2Q_PARALLEL_FOR
    for (std::int64_t b = 0; b < plan.blocks; ++b)
      body(b);
  } else {
    for (std::int64_t b = 0; b < plan.blocks; ++b)
      body(b);
  }
}

/// x, or relu(x) (as relu() computes it: NaN becomes 0) when Relu is set.
template <bool Relu>
inline float fake_quant_input(float x) {
  if constexpr (Relu)
    return x > 0.0f ? x : 0.0f;
  else
    return x;
}

/// One run of n elements sharing scale s: out = s · q (Dequantize) or q, of x or (Relu) of relu(x).
/// `first` is the flat index of x[0], which keys the stochastic random numbers.
template <quant::RoundingMode M, bool Dequantize, bool Relu>
[[gnu::noinline]] void fake_quant_run(const float* __restrict x, float* __restrict out, std::int64_t n,
                                      float s, float qmin, float qmax, std::uint64_t stream,
                                      std::int64_t first) {
  auto element = [=](std::int64_t i) {
    const float u = fake_quant_input<Relu>(x[i]) / s;
    float r;
    if constexpr (M == quant::RoundingMode::stochastic)
      r = round_stochastic(u, stochastic_uniform(stream, first + i));
    else
      r = round_as<M>(u);
    const float q = fake_quant_clip(r, qmin, qmax);
    if constexpr (Dequantize)
      out[i] = s * q;
    else
      out[i] = q;
  };
  std::int64_t i = 0;
  for (; i + quant_vector_step <= n; i += quant_vector_step)
    for (int j = 0; j < quant_vector_step; ++j)
      element(i + j);
  for (; i < n; ++i)
    element(i);
}

/// Under QuantizationBypass: the range is kept, the rounding skipped, out = clip(x, s·qmin, s·qmax).
inline Var fake_quant_bypassed(const FakeQuantPlan& plan, const Tensor<float>& x,
                               const Tensor<float>& scale) {
  if (grad_enabled())
    throw config_error("fake_quantize: quantization is bypassed while gradients are recorded; the bypass "
                       "is for evaluation (add a NoGradGuard)");
  Tensor<float> out = Tensor<float>::uninitialized(x.shape());
  fake_quant_for_each_block(plan, [&](std::int64_t b) {
    const std::int64_t first = plan.begin(b);
    const float s = scale[plan.channel(b)];
    for (std::int64_t i = first; i < first + plan.length(b); ++i)
      out[i] = fake_quant_clip(x[i], s * plan.qmin, s * plan.qmax);
  });
  return Var(std::move(out));
}

/// The forward pass over all blocks: out = s · q (dequantize) or q, of x or (relu) of relu(x).
inline void fake_quant_forward(const FakeQuantPlan& plan, const float* x, const float* scale, float* out,
                               std::uint64_t stream, bool dequantize, bool relu = false) {
  dispatch_rounding(plan.rounding, [&](auto mode) {
    constexpr quant::RoundingMode M = decltype(mode)::value;
    fake_quant_for_each_block(plan, [&](std::int64_t b) {
      const std::int64_t first = plan.begin(b);
      const std::int64_t n = plan.length(b);
      const float s = scale[plan.channel(b)];
      if (relu)
        fake_quant_run<M, true, true>(x + first, out + first, n, s, plan.qmin, plan.qmax, stream, first);
      else if (dequantize)
        fake_quant_run<M, true, false>(x + first, out + first, n, s, plan.qmin, plan.qmax, stream, first);
      else
        fake_quant_run<M, false, false>(x + first, out + first, n, s, plan.qmin, plan.qmax, stream, first);
    });
  });
}

/// Backward over one run: dx = g inside the range (and, with Relu, where x > 0), 0 elsewhere (NeedDx);
/// returns Σ g · dy/ds (NeedDs). The sum uses quant_vector_step float lanes (vectorisable without
/// reassociation flags), added up in double.
template <quant::RoundingMode M, bool NeedDx, bool NeedDs, bool Relu>
[[gnu::noinline]] double fake_quant_backward_run(const float* __restrict x, const float* __restrict y,
                                                 const float* __restrict g, float* __restrict dx,
                                                 std::int64_t n, float s, float qmin, float qmax) {
  auto element = [=](std::int64_t i) -> float {
    const float u = fake_quant_input<Relu>(x[i]) / s;
    const bool inside = (u >= qmin) & (u <= qmax);
    if constexpr (NeedDx)
      dx[i] = select_float(Relu ? inside & (x[i] > 0.0f) : inside, g[i], 0.0f);
    if constexpr (NeedDs) {
      float q;
      if constexpr (M == quant::RoundingMode::stochastic)
        // The q the forward pass drew, recovered from y = fl(s · q): |q| <= 2^16, so the two roundings
        // leave y / s within about 2^-7 of q.
        q = round_half_even(y[i] / s);
      else
        q = fake_quant_clip(round_as<M>(u), qmin, qmax);
      return g[i] * (q - select_float(inside, u, 0.0f));
    } else {
      return 0.0f;
    }
  };
  float acc[quant_vector_step] = {};
  std::int64_t i = 0;
  for (; i + quant_vector_step <= n; i += quant_vector_step)
    for (int j = 0; j < quant_vector_step; ++j)
      acc[j] += element(i + j);
  double total = 0.0;
  for (; i < n; ++i)
    total += static_cast<double>(element(i));
  for (int j = 0; j < quant_vector_step; ++j)
    total += static_cast<double>(acc[j]);
  return total;
}

/// fake_quantize, of relu(x) when `relu` is set (relu_fake_quantize); `op` names the operation.
inline Var fake_quantize_pass(const Var& x, const Var& scale, const quant::FakeQuantOptions& opt, bool relu,
                              const char* op) {
  const FakeQuantPlan plan = plan_fake_quant(x.shape(), scale.value(), opt, op);
  if (quant::quantization_bypassed())
    return fake_quant_bypassed(plan, relu ? a2q::relu(x).value() : x.value(), scale.value());
  const std::uint64_t stream = opt.rounding == quant::RoundingMode::stochastic ? (*opt.rng)() : 0;
  Tensor<float> out = Tensor<float>::uninitialized(x.shape());
  fake_quant_forward(plan, x.value().data(), scale.value().data(), out.data(), stream, true, relu);

  return make_result(std::move(out), {x, scale}, op, [plan, relu](Node& self) {
    const Node& xn = input(self, 0);
    const Node& sn = input(self, 1);
    const bool need_dx = xn.requires_grad;
    const bool need_ds = sn.requires_grad;
    const float* xv = xn.value.data();
    const float* sv = sn.value.data();
    const float* yv = self.value.data();
    const float* gv = self.grad.data();
    Tensor<float> dx = need_dx ? Tensor<float>::uninitialized(xn.value.shape()) : Tensor<float>();
    float* dxv = dx.data();
    std::vector<double> partial(need_ds ? static_cast<std::size_t>(plan.blocks) : 0);

    const auto run = [&](auto mode, auto with_relu) {
      constexpr quant::RoundingMode M = decltype(mode)::value;
      constexpr bool R = decltype(with_relu)::value;
      fake_quant_for_each_block(plan, [&](std::int64_t b) {
        const std::int64_t first = plan.begin(b);
        const std::int64_t n = plan.length(b);
        const float s = sv[plan.channel(b)];
        if (need_dx && need_ds)
          partial[static_cast<std::size_t>(b)] = fake_quant_backward_run<M, true, true, R>(
              xv + first, yv + first, gv + first, dxv + first, n, s, plan.qmin, plan.qmax);
        else if (need_dx)
          fake_quant_backward_run<M, true, false, R>(xv + first, yv + first, gv + first, dxv + first, n, s,
                                                     plan.qmin, plan.qmax);
        else if (need_ds)
          partial[static_cast<std::size_t>(b)] = fake_quant_backward_run<M, false, true, R>(
              xv + first, yv + first, gv + first, nullptr, n, s, plan.qmin, plan.qmax);
      });
    };
    dispatch_rounding(plan.rounding, [&](auto mode) {
      if (relu)
        run(mode, std::true_type{});
      else
        run(mode, std::false_type{});
    });

    if (need_dx)
      accumulate_grad(self, 0, std::move(dx));
    if (need_ds) {
      std::vector<double> sums(static_cast<std::size_t>(plan.channels), 0.0);
      for (std::int64_t b = 0; b < plan.blocks; ++b) // block order: deterministic
        sums[static_cast<std::size_t>(plan.channel(b))] += partial[static_cast<std::size_t>(b)];
      Tensor<float> ds = Tensor<float>::uninitialized(sn.value.shape());
      for (std::int64_t c = 0; c < plan.channels; ++c)
        ds[c] = static_cast<float>(sums[static_cast<std::size_t>(c)] * plan.grad_factor);
      accumulate_grad(self, 1, std::move(ds));
    }
  });
}

} // namespace a2q::detail

namespace a2q::quant {

Var fake_quantize(const Var& x, const Var& scale, const FakeQuantOptions& opt) {
  return a2q::detail::fake_quantize_pass(x, scale, opt, false, "fake_quantize");
}

Var relu_fake_quantize(const Var& x, const Var& scale, const FakeQuantOptions& opt) {
  return a2q::detail::fake_quantize_pass(x, scale, opt, true, "relu_fake_quantize");
}

Tensor<std::int32_t> quantize_to_int(const Tensor<float>& x, const Tensor<float>& scale,
                                     const FakeQuantOptions& opt) {
  const a2q::detail::FakeQuantPlan plan =
      a2q::detail::plan_fake_quant(x.shape(), scale, opt, "quantize_to_int");
  const std::uint64_t stream = opt.rounding == RoundingMode::stochastic ? (*opt.rng)() : 0;
  Tensor<float> q = Tensor<float>::uninitialized(x.shape());
  a2q::detail::fake_quant_forward(plan, x.data(), scale.data(), q.data(), stream, false);
  Tensor<std::int32_t> out = Tensor<std::int32_t>::uninitialized(x.shape());
  for (std::int64_t i = 0; i < q.numel(); ++i) {
    if (std::isnan(q[i]))
      throw numeric_error("quantize_to_int: element " + std::to_string(i) + " of the input is NaN");
    out[i] = static_cast<std::int32_t>(q[i]); // q is an integer in [qmin, qmax] (|q| <= 2^16)
  }
  return out;
}

} // namespace a2q::quant
