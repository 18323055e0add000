// Tests for a2q/ptq/quantize_model.hpp: a small MLP and CNN quantized after training-free initialisation,
// every accumulator-aware result proven from its integers (engine/verify.hpp), the plain methods not
// (negative control), tiles proven per tile, and refusals of networks PTQ cannot handle.

#include "a2q/ptq/quantize_model.hpp"
#include "a2q/engine/verify.hpp"
#include "a2q/models/quant_zoo.hpp"
#include "a2q/models/zoo.hpp"
#include "a2q/nn/activation.hpp"
#include "a2q/nn/conv2d.hpp"
#include "a2q/nn/linear.hpp"
#include "a2q/nn/pooling.hpp"
#include "a2q/nn/quant_model.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

namespace {

using a2q::ptq::PtqMethod;

/// Pixel-grid images (k / 255), smooth enough that neighbouring inputs correlate.
a2q::Tensor<float> images(std::int64_t count, const a2q::Shape& sample, std::uint64_t seed) {
  a2q::Rng rng(seed);
  std::vector<std::int64_t> dims{count};
  dims.insert(dims.end(), sample.begin(), sample.end());
  a2q::Tensor<float> x{a2q::Shape(std::span<const std::int64_t>(dims))};
  const std::int64_t n = sample.numel();
  for (std::int64_t s = 0; s < count; ++s) {
    const double phase = rng.uniform(0.0, 6.28), frequency = rng.uniform(0.05, 0.4);
    for (std::int64_t i = 0; i < n; ++i) {
      const double v =
          0.5 + 0.5 * std::sin(phase + frequency * static_cast<double>(i)) * rng.uniform(0.5, 1.0);
      x[s * n + i] = static_cast<float>(std::round(v * 255.0) / 255.0);
    }
  }
  return x;
}

a2q::models::QuantPolicy baseline_policy(int P, std::int64_t tile = 0, int inner_bits = 0,
                                         bool per_channel = true, bool bias_in_accumulator = false) {
  a2q::models::QuantPolicy policy;
  policy.per_channel = per_channel;
  policy.bias_mode =
      bias_in_accumulator ? a2q::nn::BiasMode::in_accumulator : a2q::nn::BiasMode::after_accumulation;
  policy.method = a2q::quant::QuantMethod::baseline;
  policy.acc_bits = P;
  policy.tile = tile;
  policy.inner_bits = inner_bits;
  return policy;
}

struct Pair {
  std::unique_ptr<a2q::nn::Sequential> float_model, quantized;
};

Pair mlp_pair(int P, std::int64_t tile = 0, int inner_bits = 0, bool per_channel = true,
              bool bias_in_accumulator = false) {
  a2q::Rng rng(3);
  Pair p{a2q::models::mlp(64, {48, 32}, 6, rng), nullptr};
  p.quantized = a2q::models::quant_mlp(
      64, {48, 32}, 6, baseline_policy(P, tile, inner_bits, per_channel, bias_in_accumulator), rng);
  a2q::models::load_float_weights(*p.quantized, *p.float_model);
  return p;
}

Pair cnn_pair(int P) {
  a2q::Rng rng(4);
  Pair p{a2q::models::mnist_cnn(rng, false, 12, 12, 5), nullptr};
  p.quantized = a2q::models::quant_mnist_cnn(baseline_policy(P), rng, 12, 12, 5);
  a2q::models::load_float_weights(*p.quantized, *p.float_model);
  return p;
}

std::vector<a2q::engine::LayerProof> quantize_and_prove(Pair& p, const a2q::Tensor<float>& x, PtqMethod m,
                                                        const a2q::ptq::PtqOptions& base = {}) {
  a2q::ptq::calibrate_activations(*p.quantized, x, 64);
  a2q::ptq::PtqOptions options = base;
  options.method = m;
  options.batch_size = 64;
  const auto results = a2q::ptq::quantize_weights(*p.quantized, *p.float_model, x, options);
  CHECK(results.size() == 3);
  std::vector<a2q::engine::LayerProof> proofs;
  for (const auto& layer : a2q::nn::integer_layers(*p.quantized))
    proofs.push_back(a2q::engine::prove_layer(layer));
  return proofs;
}

double relative_output_error(Pair& p, const a2q::Tensor<float>& x) {
  const a2q::NoGradGuard no_grad;
  const auto y = p.float_model->forward(a2q::Var(x)).value();
  const auto yq = p.quantized->forward(a2q::Var(x)).value();
  double err = 0.0, ref = 0.0;
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    err += (yq[i] - y[i]) * (yq[i] - y[i]);
    ref += y[i] * y[i];
  }
  return std::sqrt(err / ref);
}

} // namespace

TEST_CASE("PTQ of an MLP: every accumulator-aware method is proven at P = 12, the plain ones are not",
          "[ptq][model]") {
  const a2q::Tensor<float> x = images(256, a2q::Shape{64}, 1);
  for (PtqMethod m : a2q::ptq::all_ptq_methods) {
    Pair p = mlp_pair(12);
    const auto proofs = quantize_and_prove(p, x, m);
    INFO(a2q::ptq::to_string(m));
    REQUIRE(proofs.size() == 3);
    CHECK(proofs[1].target_bits == 12); // the hidden layer
    CHECK(proofs[0].target_bits == 32); // the edges keep 32 bits
    CHECK(proofs[1].proven() == a2q::ptq::fits_by_construction(m));
    CHECK(proofs[0].proven());
    CHECK(proofs[2].proven());
  }
}

TEST_CASE("PTQ with per-tensor scales or the bias in the accumulator is proven too", "[ptq][model]") {
  const a2q::Tensor<float> x = images(256, a2q::Shape{64}, 6);
  for (PtqMethod m : {PtqMethod::axe_gpfq, PtqMethod::axe_optq, PtqMethod::rtn})
    for (const bool per_channel : {false, true}) {
      Pair p = mlp_pair(13, 0, 0, per_channel, per_channel);
      const auto proofs = quantize_and_prove(p, x, m);
      INFO(a2q::ptq::to_string(m) << (per_channel ? ", bias in the accumulator" : ", per-tensor scale"));
      for (const auto& proof : proofs)
        CHECK(proof.proven());
      const auto layers = a2q::nn::integer_layers(*p.quantized);
      CHECK(layers[1].bias_in_accumulator == per_channel);
      if (per_channel) // the accumulator starts at the bias, which the proof includes
        CHECK(layers[1].bias.has_value());
      else
        CHECK(std::all_of(layers[1].weight_scale.begin(), layers[1].weight_scale.end(),
                          [&](float s) { return s == layers[1].weight_scale[0]; }));
    }
}

TEST_CASE("PTQ of a depthwise convolution with one scale per tensor is proven and round-trips",
          "[ptq][model]") {
  // conv(1 -> 4) -> ReLU -> depthwise 3x3 (4 groups, K = 9) -> ReLU -> flatten -> linear, per-tensor scales.
  a2q::Rng rng(7);
  auto float_model = std::make_unique<a2q::nn::Sequential>();
  float_model->emplace<a2q::nn::Conv2d>(1, 4, 3, rng, a2q::Conv2dOptions{.stride = 1, .padding = 1});
  float_model->emplace<a2q::nn::ReLU>();
  float_model->emplace<a2q::nn::Conv2d>(4, 4, 3, rng,
                                        a2q::Conv2dOptions{.stride = 1, .padding = 1, .groups = 4});
  float_model->emplace<a2q::nn::ReLU>();
  float_model->emplace<a2q::nn::Flatten>();
  float_model->emplace<a2q::nn::Linear>(4 * 6 * 6, 3, rng);
  a2q::models::QuantPolicy policy = baseline_policy(12, 0, 0, /*per_channel=*/false);
  auto quantized = std::make_unique<a2q::nn::Sequential>();
  const auto& input = quantized->emplace<a2q::nn::ActQuant>(a2q::models::pixel_input());
  auto& c1 =
      quantized->emplace_named<a2q::nn::QuantConv2d>("c1", 1, 4, 3, rng, policy.layer("c1", true, false),
                                                     input, a2q::Conv2dOptions{.stride = 1, .padding = 1});
  (void)c1;
  quantized->emplace<a2q::nn::ReLU>();
  const auto& a1 = quantized->emplace<a2q::nn::ActQuant>(policy.activation_options());
  quantized->emplace_named<a2q::nn::QuantConv2d>("dw", 4, 4, 3, rng, policy.layer("dw", false, false), a1,
                                                 a2q::Conv2dOptions{.stride = 1, .padding = 1, .groups = 4});
  quantized->emplace<a2q::nn::ReLU>();
  const auto& a2 = quantized->emplace<a2q::nn::ActQuant>(policy.activation_options());
  quantized->emplace<a2q::nn::Flatten>();
  quantized->emplace_named<a2q::nn::QuantLinear>("fc", 4 * 6 * 6, 3, rng, policy.layer("fc", false, true),
                                                 a2);
  a2q::models::load_float_weights(*quantized, *float_model);
  Pair p{std::move(float_model), std::move(quantized)};
  const a2q::Tensor<float> x = images(64, a2q::Shape{1, 6, 6}, 8);
  for (PtqMethod m : {PtqMethod::axe_gpfq, PtqMethod::axe_optq}) {
    const auto proofs = quantize_and_prove(p, x, m);
    INFO(a2q::ptq::to_string(m));
    CHECK(proofs[1].name == "dw");
    CHECK(proofs[1].K == 9);
    CHECK(proofs[1].proven());
    // One scale for all four groups: the layer keeps a single scale, and its integers round-trip.
    const auto layers = a2q::nn::integer_layers(*p.quantized);
    for (const float scale : layers[1].weight_scale)
      CHECK(scale == layers[1].weight_scale[0]);
  }
}

TEST_CASE("PTQ with a wide accumulator reproduces the float network closely", "[ptq][model]") {
  const a2q::Tensor<float> x = images(256, a2q::Shape{64}, 2);
  for (PtqMethod m : {PtqMethod::axe_gpfq, PtqMethod::axe_optq, PtqMethod::rtn}) {
    Pair p = mlp_pair(32);
    quantize_and_prove(p, x, m);
    INFO(a2q::ptq::to_string(m));
    CHECK(relative_output_error(p, x) < 0.05);
  }
}

TEST_CASE("PTQ of a CNN: convolutions are proven, and the greedy methods beat round-to-nearest",
          "[ptq][model]") {
  const a2q::Tensor<float> x = images(128, a2q::Shape{1, 12, 12}, 3);
  double rtn_error = 0.0;
  for (PtqMethod m : {PtqMethod::rtn, PtqMethod::axe_gpfq, PtqMethod::axe_optq}) {
    Pair p = cnn_pair(14);
    const auto proofs = quantize_and_prove(p, x, m);
    for (const auto& proof : proofs)
      CHECK(proof.proven());
    const double e = relative_output_error(p, x);
    INFO(a2q::ptq::to_string(m) << ": output error " << e << ", rtn " << rtn_error);
    if (m == PtqMethod::rtn)
      rtn_error = e;
    else
      CHECK(e < rtn_error);
  }
}

TEST_CASE("tiled PTQ holds every tile in the inner register, and the proof checks the tiles",
          "[ptq][model][tiles]") {
  const a2q::Tensor<float> x = images(256, a2q::Shape{64}, 4);
  for (PtqMethod m : {PtqMethod::axe_gpfq, PtqMethod::rtn, PtqMethod::gpfq}) {
    Pair p = mlp_pair(16, 8, 11);
    const auto proofs = quantize_and_prove(p, x, m);
    const auto layers = a2q::nn::integer_layers(*p.quantized);
    const auto& fc2 = layers[1];
    REQUIRE(fc2.name == "fc2");
    REQUIRE(fc2.tile == 8);
    REQUIRE(fc2.inner_bits == 11);
    int inner = 0, outer = 0;
    for (std::int64_t c = 0; c < fc2.out_channels; ++c) {
      const auto bits = a2q::tiled_accumulator_bits(fc2.channel(c), fc2.input_range(), 8);
      inner = std::max(inner, bits.inner_bits);
      outer = std::max(outer, bits.outer_bits);
    }
    INFO(a2q::ptq::to_string(m) << ": inner " << inner << ", outer " << outer);
    CHECK(proofs[1].required_inner_bits == inner);
    CHECK(proofs[1].proven() == a2q::ptq::fits_by_construction(m));
    if (a2q::ptq::fits_by_construction(m)) {
      CHECK(inner <= 11);
      CHECK(outer <= 16);
    } else { // the negative control: plain GPFQ's tiles overflow the inner register, and the text says which
      CHECK(inner > 11);
      CHECK_THAT(
          a2q::engine::failed_proof_text(proofs[1]),
          Catch::Matches("layer 'fc2', channel [0-9]+, tile [0-9] \\(weights [0-9]+\\.\\.[0-9]+\\) needs a "
                         "[0-9]+-bit inner accumulator, but P_i = 11 is claimed.*"));
    }
  }
}

TEST_CASE("PTQ refuses networks it cannot quantize", "[ptq][model]") {
  const a2q::Tensor<float> x = images(32, a2q::Shape{64}, 5);
  Pair p = mlp_pair(12);
  a2q::ptq::calibrate_activations(*p.quantized, x, 16);
  a2q::Rng rng(1);
  a2q::models::QuantPolicy a2q_policy;
  a2q_policy.method = a2q::quant::QuantMethod::a2q;
  auto trained = a2q::models::quant_mlp(64, {48, 32}, 6, a2q_policy, rng);
  a2q::ptq::calibrate_activations(*trained, x, 16);
  CHECK_THROWS_AS(a2q::ptq::quantize_weights(*trained, *p.float_model, x, {}), a2q::config_error);
  CHECK_THROWS_AS(a2q::ptq::calibrate_activations(*trained, a2q::Tensor<float>(a2q::Shape{0, 64}), 16),
                  a2q::config_error);
}
