#include "a2q/train/trainer.hpp"

#include "a2q/autograd/elementwise.hpp"
#include "a2q/optim/adam.hpp"
#include "a2q/optim/schedule.hpp"
#include "a2q/optim/sgd.hpp"

#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

using a2q::config_error;
using a2q::numeric_error;
using a2q::SGD;
using a2q::SGDOptions;
using a2q::Var;
using a2q::data::DataLoader;
using a2q::train::BatchProgress;
using a2q::train::Callback;
using a2q::train::EpochStats;
using a2q::train::EvalResult;
using a2q::train::FitResult;
using a2q::train::Trainer;
using a2q::train::TrainerOptions;
using a2q::train::TrainInfo;
using a2q_test::quadrant_dataset;
using a2q_test::TinyNet;
using Catch::Matchers::Contains;

namespace {

// Records every event as a line of text and keeps the structured values.
class Recorder : public Callback {
public:
  void on_train_begin(const TrainInfo& i) override {
    log.push_back("train_begin " + std::to_string(i.start_epoch) + ".." + std::to_string(i.epochs));
    info = i;
  }
  void on_epoch_begin(int epoch) override { log.push_back("epoch_begin " + std::to_string(epoch)); }
  void on_batch_end(const BatchProgress& p) override {
    log.push_back("batch " + std::to_string(p.epoch) + ":" + std::to_string(p.batch) + "/" +
                  std::to_string(p.batches));
    progress.push_back(p);
  }
  void on_epoch_end(const EpochStats& s, const std::optional<EvalResult>& v) override {
    log.push_back("epoch_end " + std::to_string(s.epoch) + (v ? " val" : ""));
    epochs.push_back(s);
  }
  void on_train_end(const FitResult& r) override {
    log.push_back("train_end " + std::to_string(r.epochs_completed));
  }

  std::vector<std::string> log;
  TrainInfo info;
  std::vector<BatchProgress> progress;
  std::vector<EpochStats> epochs;
};

struct Run {
  FitResult result;
  std::vector<std::vector<float>> params;
};

Run train_tiny(int epochs, std::uint64_t seed = 1) {
  const auto ds = quadrant_dataset(256, 4, 99);
  DataLoader loader(ds, {.batch_size = 32, .seed = seed});
  TinyNet model(4, seed);
  SGD sgd(model.parameters(), {.lr = 0.5, .momentum = 0.9});
  Trainer trainer(model, sgd, {.epochs = epochs});
  Run run{trainer.fit(loader), {}};
  run.params = a2q_test::parameter_values(model);
  return run;
}

} // namespace

TEST_CASE("training reduces the loss and separates the classes", "[train][trainer]") {
  const auto train_set = quadrant_dataset(256, 4, 1);
  const auto test_set = quadrant_dataset(128, 4, 2);
  DataLoader train(train_set, {.batch_size = 32, .seed = 5});
  DataLoader test(test_set, {.batch_size = 64, .shuffle = false});
  TinyNet model(4, 3);
  SGD sgd(model.parameters(), {.lr = 0.5, .momentum = 0.9});
  Trainer trainer(model, sgd, {.epochs = 5});

  const EvalResult before = trainer.evaluate(test);
  const FitResult result = trainer.fit(train, &test);
  REQUIRE(result.history.size() == 5);
  REQUIRE(result.validation_history.size() == 5);
  CHECK(result.epochs_completed == 5);
  CHECK_FALSE(result.stopped_early);
  CHECK(result.history.back().loss < 0.5 * result.history.front().loss);
  CHECK(result.history.back().accuracy > 0.95);
  REQUIRE(result.validation);
  CHECK(result.validation->samples == 128);
  CHECK(result.validation->accuracy > 0.95);
  CHECK(result.validation->loss < before.loss);
  CHECK(result.validation->correct ==
        static_cast<std::int64_t>(std::lround(result.validation->accuracy * 128)));
  for (const EpochStats& s : result.history) {
    CHECK(s.samples == 256);
    CHECK(s.seconds >= 0.0);
    CHECK(s.samples_per_second >= 0.0);
    CHECK(s.lr == 0.5);
    CHECK(s.extra_loss == 0.0);
  }
  CHECK(model.training());
  // evaluate() is repeatable and does not disturb the model.
  const auto params = a2q_test::parameter_values(model);
  const EvalResult again = trainer.evaluate(test);
  CHECK(again.loss == result.validation->loss);
  CHECK(again.correct == result.validation->correct);
  CHECK(a2q_test::same_bits(params, a2q_test::parameter_values(model)));
}

TEST_CASE("two runs with the same seeds are bit-identical", "[train][trainer]") {
  const Run a = train_tiny(3);
  const Run b = train_tiny(3);
  REQUIRE(a.result.history.size() == 3);
  for (std::size_t e = 0; e < 3; ++e) {
    CHECK(std::memcmp(&a.result.history[e].loss, &b.result.history[e].loss, sizeof(double)) == 0);
    CHECK(a.result.history[e].accuracy == b.result.history[e].accuracy);
  }
  CHECK(a2q_test::same_bits(a.params, b.params));
  const Run c = train_tiny(3, 2);
  CHECK_FALSE(a2q_test::same_bits(a.params, c.params));
}

TEST_CASE("callbacks see the events in order with sane values", "[train][trainer][callback]") {
  const auto ds = quadrant_dataset(100, 3, 4);
  DataLoader train(ds, {.batch_size = 32, .seed = 11});
  DataLoader val(ds, {.batch_size = 50, .shuffle = false});
  TinyNet model(3, 1);
  SGD sgd(model.parameters(), {.lr = 0.2});
  Trainer trainer(model, sgd, {.epochs = 2});
  auto first = std::make_shared<Recorder>();
  auto second = std::make_shared<Recorder>();
  trainer.add_callback(first);
  trainer.add_callback(second);
  CHECK_THROWS_AS(trainer.add_callback(nullptr), config_error);
  trainer.fit(train, &val);

  const std::vector<std::string> expected = {
      "train_begin 0..2", "epoch_begin 0",   "batch 0:1/4",     "batch 0:2/4", "batch 0:3/4",
      "batch 0:4/4",      "epoch_end 0 val", "epoch_begin 1",   "batch 1:1/4", "batch 1:2/4",
      "batch 1:3/4",      "batch 1:4/4",     "epoch_end 1 val", "train_end 2"};
  CHECK(first->log == expected);
  CHECK(second->log == expected);

  const TrainInfo& info = first->info;
  CHECK(info.batches_per_epoch == 4);
  CHECK(info.train_samples == 100);
  CHECK(info.validation_samples == 100);
  CHECK(info.parameter_count == 3 * 16 + 3);
  CHECK(info.data_seed == 11);
  CHECK(info.model_type == "TinyNet");
  CHECK(info.model == &model);
  CHECK(info.optimizer == &sgd);

  REQUIRE(first->progress.size() == 8);
  for (std::size_t i = 0; i < first->progress.size(); ++i) {
    const BatchProgress& p = first->progress[i];
    CHECK(p.epochs == 2);
    CHECK(p.global_step == static_cast<std::int64_t>(i));
    CHECK(p.loss > 0.0);
    CHECK(p.accuracy >= 0.0);
    CHECK(p.accuracy <= 1.0);
    CHECK(p.lr == 0.2);
    CHECK(p.elapsed_seconds >= 0.0);
    CHECK(p.eta_seconds >= 0.0);
    CHECK(p.samples_per_second >= 0.0);
  }
  CHECK(first->progress[3].eta_seconds == 0.0);
  // The running loss at the end of an epoch is the epoch's loss.
  CHECK(first->progress[3].loss == first->epochs[0].loss);
  CHECK(first->progress[7].accuracy == first->epochs[1].accuracy);
}

TEST_CASE("a NaN or infinite loss stops training with a numeric_error naming epoch and batch",
          "[train][trainer]") {
  const auto ds = quadrant_dataset(256, 4, 1);
  DataLoader loader(ds, {.batch_size = 32});

  SECTION("an extra loss that turns NaN") {
    TinyNet model(4, 1);
    SGD sgd(model.parameters(), {.lr = 0.1});
    int calls = 0;
    TrainerOptions options;
    options.epochs = 3;
    options.extra_loss = [&](a2q::nn::Module&) {
      ++calls;
      const float value = calls == 11 ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
      return Var(a2q::Tensor<float>(a2q::Shape{}, value));
    };
    auto recorder = std::make_shared<Recorder>();
    Trainer trainer(model, sgd, options);
    trainer.add_callback(recorder);
    try {
      trainer.fit(loader);
      FAIL("no numeric_error");
    } catch (const numeric_error& e) {
      const std::string m = e.what();
      CHECK_THAT(m, Contains("training diverged at epoch 2/3, batch 3/8 (global step 10): loss is nan"));
      CHECK_THAT(m, Contains("extra loss nan"));
      CHECK_THAT(m, Contains("learning rate 0.1"));
    }
    // Training stopped at once: 10 batches done, no train_end.
    CHECK(recorder->log.back() == "batch 1:2/8");
  }

  SECTION("an exploding regulariser (the loss overflows to infinity)") {
    TinyNet model(4, 1);
    SGD sgd(model.parameters(), {.lr = 1.0});
    TrainerOptions options;
    options.epochs = 2;
    options.extra_loss = [](a2q::nn::Module& m) {
      auto& net = static_cast<TinyNet&>(m);
      return a2q::scale(a2q::sum(a2q::mul(net.weight, net.weight)), 1e30f);
    };
    Trainer trainer(model, sgd, options);
    CHECK_THROWS_WITH(trainer.fit(loader),
                      Contains("training diverged at epoch 1/2, batch 2/8 (global step 1): loss is inf"));
  }

  SECTION("a non-scalar extra loss is a config_error") {
    TinyNet model(4, 1);
    SGD sgd(model.parameters(), {.lr = 0.1});
    TrainerOptions options;
    options.extra_loss = [](a2q::nn::Module& m) { return static_cast<TinyNet&>(m).bias; };
    Trainer trainer(model, sgd, options);
    CHECK_THROWS_WITH(trainer.fit(loader), Contains("extra_loss must return one element, got shape [4]"));
  }
}

TEST_CASE("extra_loss is added and after_step runs after every step", "[train][trainer]") {
  const auto ds = quadrant_dataset(128, 4, 1);
  DataLoader loader(ds, {.batch_size = 32});
  TinyNet model(4, 1);
  SGD sgd(model.parameters(), {.lr = 0.5});
  int steps = 0;
  TrainerOptions options;
  options.epochs = 2;
  options.extra_loss = [](a2q::nn::Module& m) {
    auto& net = static_cast<TinyNet&>(m);
    return a2q::scale(a2q::sum(a2q::mul(net.weight, net.weight)), 1e-3f);
  };
  options.after_step = [&](a2q::nn::Module& m) {
    ++steps;
    // Project the weights into [-0.3, 0.3] (a constrained-weight hook).
    auto& w = static_cast<TinyNet&>(m).weight.value();
    for (float& x : w)
      x = std::clamp(x, -0.3f, 0.3f);
  };
  Trainer trainer(model, sgd, options);
  const FitResult result = trainer.fit(loader);
  CHECK(steps == 8);
  for (const float x : model.weight.value())
    CHECK(std::abs(x) <= 0.3f);
  CHECK(result.history[0].extra_loss > 0.0);
  CHECK(result.history[1].accuracy > 0.8);
}

TEST_CASE("the schedule sets a per-batch learning rate from the global step", "[train][trainer]") {
  const auto ds = quadrant_dataset(96, 4, 1);
  DataLoader loader(ds, {.batch_size = 32});
  TinyNet model(4, 1);
  SGD sgd(model.parameters(), {.lr = 123.0});
  TrainerOptions options;
  options.epochs = 3;
  options.schedule = a2q::step_lr(0.1, 2, 0.5);
  Trainer trainer(model, sgd, options);
  auto recorder = std::make_shared<Recorder>();
  trainer.add_callback(recorder);
  const FitResult result = trainer.fit(loader);
  REQUIRE(recorder->progress.size() == 9);
  for (const BatchProgress& p : recorder->progress)
    CHECK(p.lr == options.schedule->lr_at(p.global_step));
  CHECK(result.history[2].lr == options.schedule->lr_at(8));
}

TEST_CASE("gradient clipping bounds every update", "[train][trainer]") {
  const auto ds = quadrant_dataset(128, 4, 1);
  DataLoader loader(ds, {.batch_size = 32});
  TinyNet model(4, 1);
  const double lr = 0.5;
  const double clip = 0.01;
  SGD sgd(model.parameters(), {.lr = lr});
  std::vector<std::vector<float>> previous = a2q_test::parameter_values(model);
  double largest = 0.0;
  TrainerOptions options;
  options.epochs = 1;
  options.grad_clip_norm = clip;
  options.after_step = [&](a2q::nn::Module& m) {
    const auto now = a2q_test::parameter_values(m);
    double squared = 0.0;
    for (std::size_t i = 0; i < now.size(); ++i)
      for (std::size_t j = 0; j < now[i].size(); ++j)
        squared += std::pow(static_cast<double>(now[i][j]) - previous[i][j], 2);
    largest = std::max(largest, std::sqrt(squared));
    previous = now;
  };
  Trainer trainer(model, sgd, options);
  trainer.fit(loader);
  CHECK(largest > 0.0);
  CHECK(largest <= lr * clip * 1.001);
}

TEST_CASE("evaluate switches to eval mode without gradients and restores the mode", "[train][trainer]") {
  struct ModeProbe : TinyNet {
    ModeProbe() : TinyNet(2, 1) {}
    Var forward(const Var& x) override {
      seen_training.push_back(training());
      seen_grad.push_back(a2q::grad_enabled());
      return TinyNet::forward(x);
    }
    std::vector<bool> seen_training;
    std::vector<bool> seen_grad;
  };
  const auto ds = quadrant_dataset(64, 2, 1);
  DataLoader loader(ds, {.batch_size = 32});
  ModeProbe model;
  SGD sgd(model.parameters(), {.lr = 0.1});
  Trainer trainer(model, sgd, {.epochs = 1});
  model.train();
  trainer.evaluate(loader);
  CHECK(model.training());
  model.eval();
  trainer.evaluate(loader);
  CHECK_FALSE(model.training());
  CHECK(model.seen_training == std::vector<bool>{false, false, false, false});
  CHECK(model.seen_grad == std::vector<bool>{false, false, false, false});
  model.seen_training.clear();
  trainer.fit(loader, &loader);
  CHECK(model.seen_training == std::vector<bool>{true, true, false, false});
  CHECK(model.training());
  CHECK(a2q::grad_enabled());
}

TEST_CASE("invalid trainer options are config_errors", "[train][trainer]") {
  const auto ds = quadrant_dataset(8, 2, 1);
  TinyNet model(2, 1);
  SGD sgd(model.parameters(), {.lr = 0.1});
  CHECK_THROWS_AS(Trainer(model, sgd, {.epochs = -1}), config_error);
  CHECK_THROWS_AS(Trainer(model, sgd, {.start_epoch = -2}), config_error);
  CHECK_THROWS_AS(Trainer(model, sgd, {.label_smoothing = 1.5f}), config_error);
  TrainerOptions bad_clip;
  bad_clip.grad_clip_norm = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(Trainer(model, sgd, bad_clip), config_error);
  a2q::data::ImageDataset tiny = quadrant_dataset(8, 2, 1);
  DataLoader nothing(tiny, {.batch_size = 16, .drop_last = true});
  Trainer trainer(model, sgd, {.epochs = 1});
  CHECK_THROWS_WITH(trainer.fit(nothing), Contains("yields no batches"));
  // Zero epochs is a valid no-op.
  Trainer idle(model, sgd, {.epochs = 0});
  DataLoader loader(ds, {.batch_size = 4});
  const FitResult r = idle.fit(loader);
  CHECK(r.history.empty());
  CHECK(r.epochs_completed == 0);
}

TEST_CASE("label smoothing raises the training loss floor", "[train][trainer]") {
  const auto ds = quadrant_dataset(128, 4, 1);
  DataLoader loader(ds, {.batch_size = 32});
  TinyNet plain_model(4, 1), smooth_model(4, 1);
  SGD plain_sgd(plain_model.parameters(), {.lr = 0.5}), smooth_sgd(smooth_model.parameters(), {.lr = 0.5});
  Trainer plain(plain_model, plain_sgd, {.epochs = 3});
  Trainer smooth(smooth_model, smooth_sgd, {.epochs = 3, .label_smoothing = 0.2f});
  const double plain_loss = plain.fit(loader).history.back().loss;
  const double smooth_loss = smooth.fit(loader).history.back().loss;
  CHECK(smooth_loss > plain_loss);
}

namespace {

// [B, 1, 4, 4] -> linear 16 -> 16 -> [B, 1, 4, 4]: learns an image-to-image map.
class ImageToImage : public a2q::nn::Module {
public:
  explicit ImageToImage(std::uint64_t seed) {
    a2q::Rng rng(seed);
    weight = Var(a2q::Tensor<float>::uniform({16, 16}, -0.25f, 0.25f, rng), true);
    bias = Var(a2q::Tensor<float>({16}), true);
    register_parameter("weight", weight);
    register_parameter("bias", bias);
  }
  Var forward(const Var& x) override {
    return a2q::reshape(a2q::linear(a2q::flatten(x), weight, bias), a2q::Shape{x.shape()[0], 1, 4, 4});
  }
  std::string type_name() const override { return "ImageToImage"; }
  Var weight, bias;
};

} // namespace

TEST_CASE("with target images the trainer minimises the mean squared error and reports PSNR",
          "[train][trainer][regression]") {
  auto data = quadrant_dataset(256, 4, 7);
  data.targets = data.images; // learn the identity: PSNR must rise far above the start
  DataLoader train(data, {.batch_size = 32, .seed = 2});
  DataLoader test(data, {.batch_size = 64, .shuffle = false});
  ImageToImage model(4);
  a2q::Adam adam(model.parameters(), {.lr = 0.01});
  Trainer trainer(model, adam, {.epochs = 30});
  const EvalResult before = trainer.evaluate(test);
  REQUIRE(before.psnr_db.has_value());
  const FitResult result = trainer.fit(train, &test);
  REQUIRE(result.validation);
  REQUIRE(result.validation->psnr_db.has_value());
  REQUIRE(result.history.back().psnr_db.has_value());
  CHECK(*result.validation->psnr_db > *before.psnr_db + 10.0);
  CHECK(*result.validation->psnr_db > 25.0);
  CHECK(result.validation->loss < before.loss / 10.0);
  CHECK(result.validation->accuracy == 0.0);
  // The PSNR is the mean over samples of 10·log10(1 / mse_n), as sum_psnr_db computes it.
  a2q::Tensor<float> same(a2q::Shape{2, 3});
  a2q::Tensor<float> off = same;
  off[0] = 0.1f; // sample 0: mse = 0.01/3; sample 1: perfect (floored at 1e-12: 120 dB)
  CHECK(a2q::sum_psnr_db(off, same) == Approx(10.0 * std::log10(300.0) + 120.0).epsilon(1e-6));

  // Negative control: a classifier's results carry no PSNR.
  const auto classes = quadrant_dataset(64, 4, 8);
  DataLoader plain(classes, {.batch_size = 32, .shuffle = false});
  TinyNet classifier(4, 3);
  SGD sgd(classifier.parameters(), {.lr = 0.5});
  Trainer classify(classifier, sgd, {.epochs = 1});
  CHECK_FALSE(classify.evaluate(plain).psnr_db.has_value());
  CHECK_FALSE(classify.fit(plain).history.back().psnr_db.has_value());
}
