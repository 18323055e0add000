// Multi-stage accumulation (spec §6) through the engine: the static proof checks every tile's inner
// register and names an over-budget tile, the adversarial check and the reference kernels run the tiled
// registers, and a model with a proven tiled layer gives the same logits on the fast and the reference
// kernels, while one whose tile overflows does not get the fast kernels (negative control). QAT with a
// per-tile budget keeps every tile inside its register.

#include "a2q/engine/adversarial.hpp"
#include "a2q/engine/model_conversion.hpp"
#include "a2q/engine/reference_kernels.hpp"
#include "a2q/engine/verify.hpp"
#include "a2q/models/quant_zoo.hpp"
#include "a2q/nn/quant_model.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::engine::AccumulatorLayout;
using a2q::engine::OverflowPolicy;

namespace {

/// A linear layer with 8-bit unsigned inputs, 2 channels of K = 12, tiles of 4 at P_i = 12, P = 16.
a2q::nn::IntegerLayer tiled_layer(std::vector<std::int32_t> weights) {
  a2q::nn::IntegerLayer l;
  l.name = "fc";
  l.kind = "linear";
  l.out_channels = 2;
  l.fan_in = 12;
  l.input_bits = 8;
  l.accumulator_bits = 16;
  l.tile = 4;
  l.inner_bits = 12;
  l.weights = Tensor<std::int32_t>(Shape{2, 12}, weights);
  l.weight_scale = {1.0f, 1.0f};
  return l;
}

// Each tile's positive weights sum to at most 8: 255 · 8 = 2040 <= 2047 fits 12 bits.
const std::vector<std::int32_t> fitting = {8,  -8, 0,  0, 4, 4, -3, -5, 1, 2,  3, 2,
                                           -1, -1, -6, 0, 0, 0, 0,  0,  7, -7, 1, -1};

} // namespace

TEST_CASE("the static proof checks every tile's inner register and names an over-budget tile",
          "[engine][verify][tiles]") {
  const a2q::nn::IntegerLayer ok = tiled_layer(fitting);
  const a2q::engine::LayerProof proven = a2q::engine::prove_layer(ok);
  CHECK(proven.proven());
  CHECK(proven.required_inner_bits == 12);
  CHECK(proven.required_inner_bits == ok.required_inner_bits());
  CHECK(a2q::engine::adversarial_check(ok, 16).overflowing_channels == 0);

  // One unit more in tile 1 of channel 1 (weights 4..7): 255 · 9 = 2295 needs 13 bits. The outer register
  // (16 bits) still holds the whole sum, so only the tile check can catch it.
  std::vector<std::int32_t> over = fitting;
  over[12 + 4] = 9; // channel 1, weight 4
  const a2q::nn::IntegerLayer bad = tiled_layer(over);
  const a2q::engine::LayerProof refused = a2q::engine::prove_layer(bad);
  CHECK_FALSE(refused.proven());
  CHECK(refused.required_bits <= 16);
  CHECK(refused.failing_channels == 1);
  CHECK(a2q::engine::failed_proof_text(refused) ==
        "layer 'fc', channel 1, tile 1 (weights 4..7) needs a 13-bit inner accumulator, but P_i = 12 is "
        "claimed (1 of 2 channels can overflow)");
  CHECK(a2q::engine::adversarial_check(bad, 16).overflowing_channels == 1);
  // Untiled, the same weights fit the 16-bit register: the tiles are what the proof refuses.
  a2q::nn::IntegerLayer untiled = bad;
  untiled.tile = 0;
  untiled.inner_bits = 0;
  CHECK(a2q::engine::prove_layer(untiled).proven());
}

TEST_CASE("the reference kernels run each tile in its inner register", "[engine][reference][tiles]") {
  const a2q::nn::IntegerLayer l = tiled_layer(fitting);
  Tensor<std::int32_t> x(Shape{3, 12});
  for (std::int64_t i = 0; i < x.numel(); ++i)
    x[i] = static_cast<std::int32_t>((i * 37) % 256);
  const AccumulatorLayout tiled{.bits = 16, .tile = 4, .inner_bits = 12};
  const Tensor<std::int64_t> plain =
      a2q::engine::linear_reference(x, l.weights, {}, 32, OverflowPolicy::check);
  CHECK(a2q::engine::linear_reference(x, l.weights, {}, tiled, OverflowPolicy::check) == plain);

  // Inputs of 255 on every positive weight: tile 0 of channel 0 reaches 255 · 8 = 2040 in its 12-bit
  // register. With P_i = 11 it overflows there, and the check policy says so (inner stage, tile 0).
  Tensor<std::int32_t> worst(Shape{1, 12});
  for (std::int64_t k = 0; k < 12; ++k)
    worst[k] = fitting[static_cast<std::size_t>(k)] > 0 ? 255 : 0;
  const AccumulatorLayout narrow{.bits = 16, .tile = 4, .inner_bits = 11};
  try {
    a2q::engine::linear_reference(worst, l.weights, {}, narrow, OverflowPolicy::check, nullptr, "fc");
    FAIL("no overflow reported");
  } catch (const a2q::engine::accumulator_overflow& e) {
    CHECK(e.tile() == 0);
    CHECK(e.channel() == 0);
    CHECK(e.bits() == 11);
  }
  a2q::engine::OverflowStats stats;
  const Tensor<std::int64_t> wrapped =
      a2q::engine::linear_reference(worst, l.weights, {}, narrow, OverflowPolicy::count, &stats);
  CHECK(stats.events > 0);
  CHECK(wrapped(0, 0) !=
        a2q::engine::linear_reference(worst, l.weights, {}, 32, OverflowPolicy::check)(0, 0));

  // A convolution tiles its (ci, ky, kx) order, padding positions included.
  Tensor<std::int32_t> image(Shape{1, 2, 3, 3});
  for (std::int64_t i = 0; i < image.numel(); ++i)
    image[i] = static_cast<std::int32_t>((i * 53) % 256);
  const Tensor<std::int32_t> w = l.weights.reshaped(Shape{2, 2, 2, 3}); // K = 2 · 2 · 3 = 12
  const a2q::engine::Conv2dGeometry g{.pad_h = 1, .pad_w = 1};
  CHECK(a2q::engine::conv2d_reference(image, w, {}, g, tiled, OverflowPolicy::check) ==
        a2q::engine::conv2d_reference(image, w, {}, g, 32, OverflowPolicy::check));
}

TEST_CASE("A2Q+ QAT with a per-tile budget keeps every tile in its inner register, and the model runs it",
          "[engine][qat][tiles]") {
  a2q::Rng rng(5);
  a2q::models::QuantPolicy policy;
  policy.method = a2q::quant::QuantMethod::a2q_plus;
  policy.acc_bits = 18;
  policy.tile = 64;
  policy.inner_bits = 14;
  auto net = a2q::models::quant_mnist_mlp(policy, rng);
  Tensor<float> images(Shape{16, 1, 28, 28});
  for (float& v : images)
    v = static_cast<float>(rng.uniform_int(0, 255)) / 255.0f;
  {
    a2q::NoGradGuard no_grad;
    net->train();
    for (int i = 0; i < 4; ++i)
      (void)net->forward(a2q::Var(images));
    net->eval();
  }
  const auto layers = a2q::nn::integer_layers(*net);
  REQUIRE(layers[1].tile == 64);
  CHECK(layers[1].required_inner_bits() <= 14);
  CHECK(layers[1].required_bits() <= 18);
  // Without the per-tile budget the same parameters overflow the inner register (negative control).
  policy.tile = 0;
  policy.inner_bits = 0;
  a2q::Rng same(5);
  auto untiled = a2q::models::quant_mnist_mlp(policy, same);
  untiled->load_state_dict(net->state_dict());
  a2q::nn::IntegerLayer plain = a2q::nn::integer_layers(*untiled)[1];
  plain.tile = 64;
  plain.inner_bits = 14;
  CHECK(plain.required_inner_bits() > 14);

  const a2q::engine::IntegerModel model = a2q::engine::convert_to_integer(*net, Shape{1, 28, 28});
  a2q::engine::require_proven(model, "tiled mlp");
  a2q::engine::ExecutionOptions options;
  const Tensor<float> fast = model.forward(images, options);
  options.kernel = a2q::engine::KernelChoice::reference;
  const Tensor<float> reference = model.forward(images, options);
  CHECK(fast == reference);
}
