// The integer engine against the fake-quantized model on real data: a briefly trained Fashion-MNIST
// MLP, test accuracy identical, logits within the documented tolerance; the overflow counts on real
// data, negative control included.
#include "a2q/data/dataset.hpp"
#include "a2q/data/loader.hpp"
#include "a2q/engine/model_conversion.hpp"
#include "a2q/engine/verify.hpp"
#include "a2q/models/quant_zoo.hpp"
#include "a2q/optim/adam.hpp"
#include "a2q/train/trainer.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;
using a2q::quant::QuantMethod;

namespace {

struct Trained {
  std::unique_ptr<a2q::nn::Sequential> model;
  a2q::engine::IntegerModel ints;
};

Trained train_mlp(QuantMethod method, const a2q::data::ImageDataset& train) {
  a2q::Rng rng(5);
  a2q::models::QuantPolicy policy;
  policy.method = method;
  policy.acc_bits = 16;
  Trained t;
  t.model = a2q::models::quant_mnist_mlp(policy, rng);
  a2q::Adam adam(t.model->parameters(), a2q::AdamOptions{.lr = 2e-3});
  a2q::train::TrainerOptions options{.epochs = 1};
  options.extra_loss = [](a2q::nn::Module& m) { return a2q::nn::quant_penalty(m); };
  a2q::train::Trainer trainer(*t.model, adam, options);
  a2q::data::DataLoader loader(train, {.batch_size = 64, .seed = 5});
  (void)trainer.fit(loader);
  t.model->eval();
  t.ints = a2q::engine::convert_to_integer(*t.model, Shape{1, 28, 28});
  return t;
}

} // namespace

TEST_CASE("Fashion-MNIST: integer engine accuracy equals the fake-quantized model", "[engine][agreement]") {
  const std::filesystem::path dir = a2q::data::default_fashion_mnist_dir;
  if (!std::filesystem::exists(dir)) {
    WARN("Fashion-MNIST is not installed at " << dir << " (Debian package dataset-fashion-mnist): skipped");
    return;
  }
  const auto train = a2q::data::subset(a2q::data::load_mnist(dir, a2q::data::Split::train), 0, 3000);
  const auto test = a2q::data::subset(a2q::data::load_mnist(dir, a2q::data::Split::test), 0, 2000);
  a2q::data::DataLoader test_loader(test, {.batch_size = 2000, .shuffle = false});
  const a2q::data::Batch batch = test_loader.batch(0);

  const Trained a2q_plus = train_mlp(QuantMethod::a2q_plus, train);
  Tensor<float> expected;
  {
    a2q::NoGradGuard no_grad;
    expected = a2q_plus.model->forward(Var(batch.images)).value();
  }
  // Each hidden layer's layer proof holds, so the fast and reference kernels give the same sums.
  for (const auto& proof : a2q::engine::prove_model(a2q_plus.ints))
    CHECK(proof.proven());
  const Tensor<float> got = a2q_plus.ints.forward(batch.images);
  std::int64_t fake_correct = 0, int_correct = 0, disagreements = 0;
  double gap = 0.0, scale = 0.0;
  for (std::int64_t n = 0; n < batch.size(); ++n) {
    const auto label = batch.labels[static_cast<std::size_t>(n)];
    fake_correct += a2q::engine::predicted_class(expected, n) == label;
    int_correct += a2q::engine::predicted_class(got, n) == label;
    disagreements += a2q::engine::predicted_class(expected, n) != a2q::engine::predicted_class(got, n);
  }
  for (std::int64_t i = 0; i < got.numel(); ++i) {
    gap = std::max(gap, static_cast<double>(std::abs(got[i] - expected[i])));
    scale = std::max(scale, static_cast<double>(std::abs(expected[i])));
  }
  INFO("fake-quantized correct " << fake_correct << ", integer " << int_correct << ", max logit gap " << gap
                                 << " of " << scale);
  CHECK(fake_correct > 1400); // it learned something: above 70%
  CHECK(int_correct == fake_correct);
  CHECK(disagreements == 0);
  CHECK(gap <= 2e-3 * scale); // the documented tolerance (docs/engine.md)

  // On the same real data: no overflow at P = 16 for A2Q+, many for the baseline run at P = 12.
  const auto safe = a2q::engine::count_dataset_overflows(a2q_plus.ints, batch.images, batch.labels);
  CHECK(safe.events() == 0);
  CHECK(safe.correct == int_correct);
  const Trained baseline = train_mlp(QuantMethod::baseline, train);
  const auto unsafe = a2q::engine::count_dataset_overflows(baseline.ints, batch.images, batch.labels, 12);
  CHECK(unsafe.layers.at("fc2").events > 0);
}
