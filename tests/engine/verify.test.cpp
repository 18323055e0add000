#include "a2q/engine/verify.hpp"
#include "a2q/engine/model_conversion.hpp"
#include "a2q/models/quant_zoo.hpp"

#include <catch2/catch.hpp>

#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;
using a2q::quant::QuantMethod;

namespace {

struct Fixture {
  a2q::engine::IntegerModel model;
  Tensor<float> images;
  std::vector<std::int32_t> labels;
};

// A calibrated MLP with the given hidden-layer method and P, and pixel-like inputs k/255.
Fixture mlp(QuantMethod method, int P, std::uint64_t seed) {
  a2q::Rng rng(seed);
  a2q::models::QuantPolicy policy;
  policy.method = method;
  policy.acc_bits = P;
  auto net = a2q::models::quant_mnist_mlp(policy, rng);
  Fixture f;
  f.images = Tensor<float>(Shape{40, 1, 28, 28});
  for (float& v : f.images)
    v = static_cast<float>(rng.uniform_int(0, 255)) / 255.0f;
  for (int i = 0; i < 40; ++i)
    f.labels.push_back(static_cast<std::int32_t>(rng.uniform_int(0, 9)));
  {
    a2q::NoGradGuard no_grad;
    net->train();
    for (int i = 0; i < 4; ++i)
      (void)net->forward(Var(f.images));
    net->eval();
  }
  f.model = a2q::engine::convert_to_integer(*net, Shape{1, 28, 28});
  return f;
}

} // namespace

TEST_CASE("Static proof holds for A2Q+ hidden layers and agrees with the adversarial check",
          "[engine][verify]") {
  const Fixture f = mlp(QuantMethod::a2q_plus, 14, 21);
  const auto proofs = a2q::engine::prove_model(f.model);
  REQUIRE(proofs.size() == 3);
  for (const auto& p : proofs) {
    INFO(p.name);
    CHECK(p.proven());
    CHECK(p.margin_bits() >= 0);
    CHECK(p.required_bits <= p.datatype_bits);
    CHECK(p.channels.size() == static_cast<std::size_t>(p.out_channels));
    const auto* layer = f.model.layers()[static_cast<std::size_t>(&p - proofs.data())];
    const auto adversarial = a2q::engine::adversarial_check(*layer, p.checked_bits);
    CHECK(adversarial.overflowing_channels == 0);
  }
  CHECK(proofs[1].method == QuantMethod::a2q_plus);
  CHECK(proofs[1].checked_bits == 14);
  CHECK(proofs[1].l1_margin() >= 0.0);
}

TEST_CASE("Static proof fails for a baseline layer below its data-type bound", "[engine][verify]") {
  const Fixture f = mlp(QuantMethod::baseline, 14, 22);
  const auto proofs = a2q::engine::prove_model(f.model, 14);
  const auto& fc2 = proofs[1];
  CHECK_FALSE(fc2.proven());
  CHECK(fc2.margin_bits() < 0);
  // The proof is tight: exactly the failing channels overflow under their adversarial inputs.
  const auto adversarial = a2q::engine::adversarial_check(*f.model.layers()[1], 14);
  CHECK(adversarial.overflowing_channels == fc2.failing_channels);
  // At the data-type bound everything is proven.
  for (const auto& p : a2q::engine::prove_model(f.model, fc2.datatype_bits))
    if (p.name == "fc2")
      CHECK(p.proven());
}

TEST_CASE("Data set overflow counts: baseline overflows, A2Q+ does not", "[engine][verify]") {
  const Fixture baseline = mlp(QuantMethod::baseline, 16, 23);
  const auto bad = a2q::engine::count_dataset_overflows(baseline.model, baseline.images, baseline.labels, 12,
                                                        a2q::engine::OverflowPolicy::count, 16);
  CHECK(bad.samples == 40);
  CHECK(bad.events() > 0);
  const Fixture safe = mlp(QuantMethod::a2q_plus, 16, 23);
  const auto good = a2q::engine::count_dataset_overflows(safe.model, safe.images, safe.labels);
  CHECK(good.events() == 0);
  CHECK(good.layers.at("fc2").outputs == 40 * 256);
  CHECK_THROWS_AS(a2q::engine::count_dataset_overflows(safe.model, safe.images, std::vector<std::int32_t>(3)),
                  a2q::shape_error);
}

TEST_CASE("'Each layer's own P' is an empty optional everywhere, and P = 0 is an error everywhere",
          "[engine][verify]") {
  const Fixture f = mlp(QuantMethod::a2q_plus, 14, 5);
  const auto own = a2q::engine::prove_model(f.model);
  REQUIRE(own.size() == 3);
  CHECK(own[1].checked_bits == 14);
  CHECK(own[0].checked_bits == 32);
  CHECK(a2q::engine::prove_model(f.model, std::nullopt)[1].checked_bits == 14);
  CHECK(a2q::engine::prove_model(f.model, 20)[1].checked_bits == 20);
  const auto report = a2q::engine::count_dataset_overflows(f.model, f.images, f.labels, std::nullopt);
  CHECK(report.samples == 40);
  CHECK(report.events() == 0);
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(a2q::engine::prove_model(f.model, 0), Contains("P = 0 is outside [2, 64]"));
  CHECK_THROWS_WITH(a2q::engine::prove_layer(*f.model.layers()[0], 65),
                    Contains("P = 65 is outside [2, 64]"));
  CHECK_THROWS_WITH(a2q::engine::count_dataset_overflows(f.model, f.images, f.labels, 0),
                    Contains("P = 0 is outside [2, 64]"));
}
