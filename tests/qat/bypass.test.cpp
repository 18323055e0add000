#include "a2q/quant/bypass.hpp"
#include "a2q/autograd/linear.hpp"
#include "a2q/nn/act_quant.hpp"
#include "a2q/nn/quant_linear.hpp"
#include "a2q/quant/fake_quantize.hpp"
#include "a2q/quant/l1_budget.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;
using a2q::quant::IntFormat;
using a2q::quant::QuantMethod;

namespace {

a2q::nn::ActQuantOptions fixed_input() {
  a2q::nn::ActQuantOptions o;
  o.format = IntFormat::unsigned_bits(8);
  o.fixed_scale = 1.0f / 255.0f;
  return o;
}

a2q::nn::LayerQuantConfig config(QuantMethod method, int P) {
  a2q::nn::LayerQuantConfig c;
  c.method = method;
  c.weight_bits = 8;
  c.accumulator_bits = P;
  return c;
}

std::int64_t count_different(const Tensor<float>& a, const Tensor<float>& b) {
  std::int64_t n = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i)
    n += a[i] != b[i];
  return n;
}

} // namespace

TEST_CASE("fake quantizers under QuantizationBypass keep the range and skip the rounding", "[qat][bypass]") {
  a2q::Rng rng(7);
  const Var x(Tensor<float>::uniform(Shape{4, 50}, -3.0f, 3.0f, rng));
  const Var scale(Tensor<float>(Shape{1}, 0.1f));
  a2q::quant::FakeQuantOptions opt;
  opt.format = IntFormat::signed_bits(4); // the range is [-0.8, 0.7]
  const a2q::NoGradGuard no_grad;
  CHECK_FALSE(a2q::quant::quantization_bypassed());
  std::int64_t inside = 0;
  {
    const a2q::quant::QuantizationBypass bypass;
    {
      const a2q::quant::QuantizationBypass nested; // guards nest and restore the outer state
    }
    CHECK(a2q::quant::quantization_bypassed());
    const Tensor<float> y = a2q::quant::fake_quantize(x, scale, opt).value();
    for (std::int64_t i = 0; i < x.value().numel(); ++i) {
      const float expected = std::clamp(x.value()[i], -0.8f, 0.7f);
      CHECK(y[i] == expected);
      inside += expected == x.value()[i];
    }
  }
  CHECK(inside > 20);
  CHECK_FALSE(a2q::quant::quantization_bypassed());
  // The negative control: outside the guard the values move onto the 4-bit grid.
  const Tensor<float> q = a2q::quant::fake_quantize(x, scale, opt).value();
  std::int64_t off_grid = 0;
  for (std::int64_t i = 0; i < q.numel(); ++i)
    off_grid += std::abs(q[i] / 0.1f - std::nearbyint(q[i] / 0.1f)) > 1e-4f;
  CHECK(off_grid == 0);
}

TEST_CASE("A2Q and A2Q+ weights under the bypass are the unrounded weights the integers round toward zero",
          "[qat][bypass]") {
  for (const QuantMethod method : {QuantMethod::a2q, QuantMethod::a2q_plus}) {
    INFO(a2q::quant::to_string(method));
    a2q::Rng rng(11);
    a2q::nn::ActQuant input(fixed_input());
    // P = 14 with K = 200: the L1 budget is binding, so the clamp shapes the float weight too.
    a2q::nn::QuantLinear layer(200, 6, rng, config(method, 14), input, false);
    const Tensor<float> rounded = layer.weight_quant.effective().value();
    Tensor<float> unrounded;
    {
      const a2q::NoGradGuard no_grad;
      const a2q::quant::QuantizationBypass bypass;
      unrounded = layer.weight_quant.effective().value();
    }
    REQUIRE(unrounded.shape() == rounded.shape());
    CHECK(count_different(unrounded, rounded) > 100);
    const std::vector<float> scales = layer.weight_quant.channel_scales();
    const double budget = a2q::quant::l1_budget(method, 14, 8, false);
    for (std::int64_t c = 0; c < 6; ++c) {
      const double s = scales[static_cast<std::size_t>(c)];
      double l1 = 0.0, sum = 0.0;
      for (std::int64_t k = 0; k < 200; ++k) {
        const double u = unrounded[c * 200 + k];
        const double q = rounded[c * 200 + k];
        l1 += std::abs(u);
        sum += u;
        // Round toward zero (and the same clip): q lies between 0 and u, less than one step away.
        CHECK(std::abs(q) <= std::abs(u) + 1e-6 * s);
        CHECK(q * u >= 0.0);
        CHECK(std::abs(u - q) < s * (1.0 + 1e-5));
      }
      CHECK(l1 / s <= budget * (1.0 + 1e-5)); // the constraint holds before rounding, too
      if (method == QuantMethod::a2q_plus)
        CHECK(std::abs(sum) / s < 1e-3); // zero-centred
    }
  }
}

TEST_CASE("a bypassed baseline layer computes the float linear layer within the weight range",
          "[qat][bypass]") {
  a2q::Rng rng(3);
  a2q::nn::ActQuant input(fixed_input());
  a2q::nn::QuantLinear layer(30, 5, rng, config(QuantMethod::baseline, 32), input);
  layer.bias.value() = Tensor<float>::uniform(Shape{5}, -0.5f, 0.5f, rng);
  const Var x(Tensor<float>::uniform(Shape{3, 30}, 0.0f, 1.0f, rng));
  const a2q::NoGradGuard no_grad;
  const Tensor<float> quantized = layer.forward(x).value();
  const a2q::quant::QuantizationBypass bypass;
  const Tensor<float> bypassed = layer.forward(x).value();
  const Tensor<float> expected = a2q::linear(x, layer.weight_quant.weight, layer.bias).value();
  // Equal up to the float rounding of the range ends s·qmax (the largest weight sits at one end).
  double bypass_gap = 0.0, quantized_gap = 0.0;
  for (std::int64_t i = 0; i < expected.numel(); ++i) {
    bypass_gap = std::max(bypass_gap, static_cast<double>(std::abs(bypassed[i] - expected[i])));
    quantized_gap = std::max(quantized_gap, static_cast<double>(std::abs(quantized[i] - expected[i])));
  }
  CHECK(bypass_gap < 1e-6);
  CHECK(quantized_gap > 1e-4);
}

TEST_CASE("quantizers refuse the bypass while gradients are recorded", "[qat][bypass]") {
  a2q::Rng rng(5);
  a2q::nn::ActQuant input(fixed_input());
  a2q::nn::QuantLinear a2q_layer(20, 4, rng, config(QuantMethod::a2q, 16), input);
  a2q::nn::QuantLinear baseline_layer(20, 4, rng, config(QuantMethod::baseline, 32), input);
  const a2q::quant::QuantizationBypass bypass;
  CHECK_THROWS_AS(a2q_layer.weight_quant.effective(), a2q::config_error);
  CHECK_THROWS_AS(baseline_layer.weight_quant.effective(), a2q::config_error);
}
