#include "a2q/engine/model_conversion.hpp"
#include "a2q/models/quant_zoo.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <memory>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;
using a2q::engine::ExecutionOptions;
using a2q::engine::OverflowPolicy;
using a2q::models::QuantPolicy;
using a2q::quant::QuantMethod;

namespace {

// Pixel-like inputs k/255, so the input quantizer sees its own grid.
Tensor<float> pixels(Shape shape, a2q::Rng& rng) {
  Tensor<float> x(std::move(shape));
  for (float& v : x)
    v = static_cast<float>(rng.uniform_int(0, 255)) / 255.0f;
  return x;
}

// Calibrates every activation quantizer with training-mode passes, then switches to evaluation.
void calibrate(a2q::nn::Module& model, const Tensor<float>& x) {
  a2q::NoGradGuard no_grad;
  model.train();
  for (int i = 0; i < 4; ++i)
    (void)model.forward(Var(x));
  model.eval();
}

Tensor<float> fake_quant_logits(a2q::nn::Module& model, const Tensor<float>& x) {
  a2q::NoGradGuard no_grad;
  model.eval();
  return model.forward(Var(x)).value();
}

std::int64_t argmax_row(const Tensor<float>& t, std::int64_t n) {
  const std::int64_t C = t.dim(1);
  std::int64_t best = 0;
  for (std::int64_t c = 1; c < C; ++c)
    if (t(n, c) > t(n, best))
      best = c;
  return best;
}

// Max |a - b| over the max |b|.
double relative_gap(const Tensor<float>& a, const Tensor<float>& b) {
  double gap = 0.0, scale = 0.0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    gap = std::max(gap, static_cast<double>(std::abs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::abs(b[i])));
  }
  return gap / scale;
}

QuantPolicy policy_for(QuantMethod method, int P) {
  QuantPolicy p;
  p.method = method;
  p.acc_bits = P;
  return p;
}

} // namespace

TEST_CASE("Integer MLP logits match the fake-quantized model", "[engine][integer_model]") {
  for (const QuantMethod method : {QuantMethod::baseline, QuantMethod::a2q, QuantMethod::a2q_plus}) {
    a2q::Rng rng(11);
    auto model = a2q::models::quant_mnist_mlp(policy_for(method, 16), rng);
    const Tensor<float> x = pixels(Shape{32, 1, 28, 28}, rng);
    calibrate(*model, x);
    const auto ints = a2q::engine::convert_to_integer(*model, Shape{1, 28, 28});
    REQUIRE(ints.layers().size() == 3);
    const Tensor<float> expected = fake_quant_logits(*model, x);
    ExecutionOptions o;
    o.policy = OverflowPolicy::wrap; // the baseline may overflow P = 16 hidden layers
    o.accumulator_bits = 64;
    const Tensor<float> got = ints.forward(x, o);
    REQUIRE(got.shape() == expected.shape());
    CHECK(relative_gap(got, expected) < 1e-3);
    for (std::int64_t n = 0; n < x.dim(0); ++n)
      CHECK(argmax_row(got, n) == argmax_row(expected, n));
  }
}

TEST_CASE("Integer CNN logits match the fake-quantized model", "[engine][integer_model]") {
  a2q::Rng rng(12);
  auto model = a2q::models::quant_mnist_cnn(policy_for(QuantMethod::a2q_plus, 16), rng);
  const Tensor<float> x = pixels(Shape{8, 1, 28, 28}, rng);
  calibrate(*model, x);
  const auto ints = a2q::engine::convert_to_integer(*model, Shape{1, 28, 28});
  const Tensor<float> expected = fake_quant_logits(*model, x);
  const Tensor<float> got = ints.forward(x);
  CHECK(relative_gap(got, expected) < 1e-3);
}

TEST_CASE("Integer ResNet folds batch norm and adds residual branches", "[engine][integer_model]") {
  a2q::Rng rng(13);
  auto model = a2q::models::quant_cifar_resnet(policy_for(QuantMethod::a2q_plus, 18), rng, 4, 1);
  Tensor<float> x(Shape{6, 3, 16, 16});
  for (float& v : x)
    v = static_cast<float>(rng.normal());
  calibrate(*model, x); // also gives the batch norms running statistics
  const auto ints = a2q::engine::convert_to_integer(*model, Shape{3, 16, 16});
  const Tensor<float> expected = fake_quant_logits(*model, x);
  ExecutionOptions o;
  o.accumulator_bits = 64;
  const Tensor<float> got = ints.forward(x, o);
  CHECK(relative_gap(got, expected) < 1e-2);
}

TEST_CASE(
    "Integer MobileNet: depthwise and pointwise layers with batch norm folded, every hidden layer proven",
    "[engine][integer_model]") {
  a2q::Rng rng(15);
  auto model = a2q::models::quant_mobilenet(policy_for(QuantMethod::a2q_plus, 13), rng, 1, 4);
  const Tensor<float> x = pixels(Shape{6, 1, 20, 20}, rng);
  calibrate(*model, x);
  const auto ints = a2q::engine::convert_to_integer(*model, Shape{1, 20, 20});
  REQUIRE(ints.layers().size() == 12); // stem, five depthwise and five pointwise layers, fc
  for (const auto* layer : ints.layers()) {
    if (layer->name.rfind("dw", 0) == 0)
      CHECK(layer->fan_in == 9); // depthwise 3x3: the shortest dot product
    if (layer->name != "stem" && layer->name != "fc") {
      CHECK(layer->accumulator_bits == 13);
      CHECK(layer->fits());
    }
  }
  const Tensor<float> expected = fake_quant_logits(*model, x);
  const Tensor<float> got = ints.forward(x);
  CHECK(relative_gap(got, expected) < 1e-2);
  // The depthwise layers run the grouped fast kernel, bit for bit the reference's logits.
  for (const auto& step : ints.steps())
    if (const auto* op = std::get_if<a2q::engine::LayerOp>(&step.op))
      CHECK((op->geometry.groups > 1 ? op->grouped != nullptr : op->dense != nullptr));
  ExecutionOptions o;
  o.kernel = a2q::engine::KernelChoice::reference;
  const Tensor<float> reference = ints.forward(x, o);
  for (const auto k : {a2q::engine::KernelChoice::automatic, a2q::engine::KernelChoice::dense,
                       a2q::engine::KernelChoice::sparse}) {
    o.kernel = k;
    const Tensor<float> fast = ints.forward(x, o);
    CHECK(std::equal(fast.begin(), fast.end(), reference.begin(), reference.end()));
  }
  // The same network with baseline weights at P = 13 is not proven (the negative control).
  auto baseline = a2q::models::quant_mobilenet(policy_for(QuantMethod::baseline, 13), rng, 1, 4);
  calibrate(*baseline, x);
  const auto unsafe = a2q::engine::convert_to_integer(*baseline, Shape{1, 20, 20});
  bool any_unproven = false;
  for (const auto* layer : unsafe.layers())
    any_unproven = any_unproven || !layer->fits();
  CHECK(any_unproven);
}

TEST_CASE("Integer ESPCN: the output is dequantized, then pixel-shuffled into the high-resolution image",
          "[engine][integer_model][pixel_shuffle]") {
  a2q::Rng rng(16);
  auto model = a2q::models::quant_espcn(policy_for(QuantMethod::a2q_plus, 14), rng, 1, 8, 2);
  const Tensor<float> x = pixels(Shape{5, 1, 7, 7}, rng);
  calibrate(*model, x);
  const auto ints = a2q::engine::convert_to_integer(*model, Shape{1, 7, 7});
  REQUIRE(ints.layers().size() == 3);
  const Tensor<float> expected = fake_quant_logits(*model, x);
  const Tensor<float> got = ints.forward(x);
  REQUIRE(expected.shape() == Shape{5, 1, 14, 14});
  REQUIRE(got.shape() == expected.shape());
  CHECK(relative_gap(got, expected) < 1e-3);
  // The engine's output before the shuffle, shuffled by hand: the step is the same permutation.
  const auto& steps = ints.steps();
  REQUIRE(std::holds_alternative<a2q::engine::PixelShuffleOp>(steps.back().op));
  CHECK(std::holds_alternative<a2q::engine::DequantizeOp>(steps[steps.size() - 2].op));
  CHECK(steps.back().shape == Shape{1, 14, 14});
}

TEST_CASE("Integer engine overflow policies on a baseline model", "[engine][integer_model]") {
  a2q::Rng rng(14);
  auto model = a2q::models::quant_mnist_mlp(policy_for(QuantMethod::baseline, 16), rng);
  const Tensor<float> x = pixels(Shape{16, 1, 28, 28}, rng);
  calibrate(*model, x);
  const auto ints = a2q::engine::convert_to_integer(*model, Shape{1, 28, 28});
  ExecutionOptions o;
  o.accumulator_bits = 12;
  o.policy = OverflowPolicy::check;
  CHECK_THROWS_AS(ints.forward(x, o), a2q::engine::accumulator_overflow);
  a2q::engine::LayerOverflowStats stats;
  o.policy = OverflowPolicy::count;
  o.stats = &stats;
  (void)ints.forward(x, o);
  CHECK(stats["fc1"].events > 0);
}

TEST_CASE("Integer A2Q+ model never overflows its own accumulators", "[engine][integer_model]") {
  a2q::Rng rng(15);
  auto model = a2q::models::quant_mnist_mlp(policy_for(QuantMethod::a2q_plus, 14), rng);
  const Tensor<float> x = pixels(Shape{16, 1, 28, 28}, rng);
  calibrate(*model, x);
  const auto ints = a2q::engine::convert_to_integer(*model, Shape{1, 28, 28});
  a2q::engine::LayerOverflowStats stats;
  ExecutionOptions o;
  o.policy = OverflowPolicy::count;
  o.kernel = a2q::engine::KernelChoice::reference;
  o.stats = &stats;
  (void)ints.forward(x, o);
  CHECK(stats["fc2"].events == 0);
  CHECK(stats["fc2"].outputs == 16 * 256);
}

TEST_CASE("convert_to_integer rejects what it cannot run", "[engine][integer_model]") {
  a2q::Rng rng(16);
  auto model = a2q::models::quant_mnist_cnn(policy_for(QuantMethod::a2q, 16), rng);
  const Tensor<float> x = pixels(Shape{2, 1, 28, 28}, rng);
  calibrate(*model, x);
  CHECK_THROWS_AS(a2q::engine::convert_to_integer(*model, Shape{1, 32, 32}), a2q::config_error);
  CHECK_THROWS_AS(a2q::engine::convert_to_integer(*model, Shape{3, 28, 28}), a2q::config_error);
  auto float_model = a2q::models::mnist_mlp(rng);
  CHECK_THROWS_AS(a2q::engine::convert_to_integer(*float_model, Shape{1, 28, 28}), a2q::config_error);
  a2q::Rng fresh(17);
  auto uncalibrated = a2q::models::quant_mnist_mlp(policy_for(QuantMethod::a2q, 16), fresh);
  CHECK_THROWS_AS(a2q::engine::convert_to_integer(*uncalibrated, Shape{1, 28, 28}), a2q::config_error);
}

TEST_CASE("Fast kernels give the reference kernels' logits on converted models", "[engine][integer_model]") {
  using a2q::engine::KernelChoice;
  a2q::Rng rng(18);
  auto mlp = a2q::models::quant_mnist_mlp(policy_for(QuantMethod::a2q_plus, 16), rng);
  auto cnn = a2q::models::quant_mnist_cnn(policy_for(QuantMethod::a2q_plus, 16), rng);
  const Tensor<float> x = pixels(Shape{8, 1, 28, 28}, rng);
  for (a2q::nn::Sequential* model : {mlp.get(), cnn.get()}) {
    calibrate(*model, x);
    const auto ints = a2q::engine::convert_to_integer(*model, Shape{1, 28, 28});
    for (const auto& step : ints.steps())
      if (const auto* op = std::get_if<a2q::engine::LayerOp>(&step.op))
        CHECK(op->dense != nullptr); // 8-bit weights and inputs: the fast kernels apply
    ExecutionOptions o;
    o.kernel = KernelChoice::reference;
    const Tensor<float> reference = ints.forward(x, o);
    for (const KernelChoice k : {KernelChoice::automatic, KernelChoice::dense, KernelChoice::sparse}) {
      o.kernel = k;
      const Tensor<float> fast = ints.forward(x, o);
      CHECK(std::equal(fast.begin(), fast.end(), reference.begin()));
    }
  }
}
