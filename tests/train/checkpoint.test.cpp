#include "a2q/train/checkpoint.hpp"
#include "a2q/train/csv_logger.hpp"
#include "a2q/train/trainer.hpp"

#include "a2q/io/atomic_file.hpp"
#include "a2q/optim/adam.hpp"
#include "a2q/optim/schedule.hpp"
#include "a2q/optim/sgd.hpp"

#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using a2q::config_error;
using a2q::io_error;
using a2q::SGD;
using a2q::data::DataLoader;
using a2q::train::CheckpointCallback;
using a2q::train::CheckpointInfo;
using a2q::train::load_checkpoint;
using a2q::train::save_checkpoint;
using a2q::train::Trainer;
using a2q::train::TrainerOptions;
using a2q_test::parameter_values;
using a2q_test::quadrant_dataset;
using a2q_test::same_bits;
using a2q_test::ScratchDir;
using a2q_test::TinyNet;
using Catch::Matchers::Contains;

namespace {

TrainerOptions options(int epochs) {
  TrainerOptions o;
  o.epochs = epochs;
  o.schedule = a2q::cosine_lr(0.5, 3 * 8, 0.01); // depends on the global step
  return o;
}

} // namespace

TEST_CASE("save_checkpoint and load_checkpoint round-trip model and optimizer", "[train][checkpoint]") {
  ScratchDir dir;
  const auto ds = quadrant_dataset(64, 2, 1);
  DataLoader loader(ds, {.batch_size = 16});
  TinyNet model(2, 1);
  a2q::Adam adam(model.parameters(), {.lr = 0.01});
  Trainer(model, adam, {.epochs = 1}).fit(loader);
  save_checkpoint(dir / "c.ckpt", model, &adam, 1, {{"model_seed", "1"}});

  TinyNet other(2, 2);
  a2q::Adam other_adam(other.parameters(), {.lr = 0.01});
  const CheckpointInfo info = load_checkpoint(dir / "c.ckpt", other, &other_adam);
  CHECK(info.epochs_completed == 1);
  CHECK(info.has_optimizer_state);
  CHECK(same_bits(parameter_values(model), parameter_values(other)));
  CHECK(other_adam.step_count() == 4);
  const auto a = adam.state();
  const auto b = other_adam.state();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    CHECK((a[i].first == b[i].first && a[i].second == b[i].second));
  auto has = [&](const std::string& key, const std::string& value) {
    for (const auto& [k, v] : info.metadata)
      if (k == key)
        return v == value;
    return false;
  };
  CHECK(has("a2q.format", "checkpoint"));
  CHECK(has("epochs_completed", "1"));
  CHECK(has("model_type", "TinyNet"));
  CHECK(has("model_seed", "1"));
  CHECK(has("lr", "0.01"));
  CHECK(has("a2q.version", A2Q_VERSION_STRING));

  // Model only.
  TinyNet third(2, 3);
  CHECK(load_checkpoint(dir / "c.ckpt", third).epochs_completed == 1);
  CHECK(same_bits(parameter_values(model), parameter_values(third)));
  CHECK_THROWS_AS(save_checkpoint(dir / "x", model, &adam, 1, {{"epochs_completed", "9"}}), config_error);
  CHECK_THROWS_AS(save_checkpoint(dir / "x", model, &adam, -1), config_error);
}

TEST_CASE("a mismatching checkpoint leaves model and optimizer untouched", "[train][checkpoint]") {
  ScratchDir dir;
  const auto ds = quadrant_dataset(32, 2, 1);
  DataLoader loader(ds, {.batch_size = 16});
  TinyNet model(2, 1);
  SGD sgd(model.parameters(), {.lr = 0.1, .momentum = 0.9});
  Trainer(model, sgd, {.epochs = 1}).fit(loader); // creates the momentum buffers
  save_checkpoint(dir / "two.ckpt", model, &sgd, 1);
  save_checkpoint(dir / "no-opt.ckpt", model, nullptr, 0);

  TinyNet wider(3, 5);
  const auto before = parameter_values(wider);
  SGD wider_sgd(wider.parameters(), {.lr = 0.1});
  CHECK_THROWS_WITH(load_checkpoint(dir / "two.ckpt", wider, &wider_sgd),
                    Contains((dir / "two.ckpt").string()) && Contains("shape"));
  CHECK(same_bits(before, parameter_values(wider)));

  // Same model, different optimizer kind: the model has been loaded first, then rolled back.
  TinyNet same(2, 7);
  const auto same_before = parameter_values(same);
  a2q::Adam adam(same.parameters(), {});
  CHECK_THROWS_AS(load_checkpoint(dir / "two.ckpt", same, &adam), config_error);
  CHECK(same_bits(same_before, parameter_values(same)));
  CHECK_THROWS_WITH(load_checkpoint(dir / "no-opt.ckpt", same, &adam), Contains("no optimizer state"));
  CHECK(same_bits(same_before, parameter_values(same)));

  // A tensor archive that is not a checkpoint.
  a2q::io::TensorArchive plain;
  plain.tensors.emplace_back("weight", a2q::Tensor<float>(a2q::Shape{2, 16}));
  a2q::io::save_archive(dir / "plain", plain);
  CHECK_THROWS_WITH(load_checkpoint(dir / "plain", same), Contains("not a checkpoint"));
  CHECK_THROWS_AS(load_checkpoint(dir / "missing", same), io_error);
}

TEST_CASE("an interrupted checkpoint save leaves the previous checkpoint intact", "[train][checkpoint]") {
  ScratchDir dir;
  const auto path = dir / "model.ckpt";
  TinyNet model(2, 1);
  SGD sgd(model.parameters(), {.lr = 0.1});
  save_checkpoint(path, model, &sgd, 4);
  const auto saved = parameter_values(model);
  // A writer that dies halfway through replacing the file.
  CHECK_THROWS_AS(a2q::io::write_file_atomically(path,
                                                 [](std::ostream& out) {
                                                   out << std::string(1000, 'x');
                                                   throw std::runtime_error("killed");
                                                 }),
                  std::runtime_error);
  CHECK(dir.entries() == std::vector<std::string>{"model.ckpt"});
  TinyNet restored(2, 9);
  CHECK(load_checkpoint(path, restored).epochs_completed == 4);
  CHECK(same_bits(saved, parameter_values(restored)));
  // A save into a missing directory fails cleanly too.
  CHECK_THROWS_AS(save_checkpoint(dir / "nope" / "m.ckpt", model, &sgd, 1), io_error);
  CHECK(dir.entries() == std::vector<std::string>{"model.ckpt"});
}

TEST_CASE("resuming from a checkpoint matches training straight through, bit for bit",
          "[train][checkpoint][resume]") {
  ScratchDir dir;
  const auto ds = quadrant_dataset(256, 4, 3);
  DataLoader loader(ds, {.batch_size = 32, .seed = 77});

  // 3 epochs straight.
  TinyNet straight(4, 1);
  SGD straight_sgd(straight.parameters(), {.lr = 0.5, .momentum = 0.9});
  const auto straight_result = Trainer(straight, straight_sgd, options(3)).fit(loader);

  // 2 epochs with a checkpoint callback every epoch...
  TinyNet first(4, 1);
  SGD first_sgd(first.parameters(), {.lr = 0.5, .momentum = 0.9});
  Trainer first_trainer(first, first_sgd, options(2));
  auto checkpoints =
      std::make_shared<CheckpointCallback>(dir / "run.ckpt", 1, a2q::train::Metadata{{"model_seed", "1"}});
  first_trainer.add_callback(checkpoints);
  first_trainer.add_callback(std::make_shared<a2q::train::CsvLogger>(dir / "run.csv"));
  first_trainer.fit(loader);
  CHECK(checkpoints->saves() == 2);
  CHECK(checkpoints->last_saved_epochs() == 2);

  // ...then a fresh process: a differently initialised model and a new optimizer resume for 1 more.
  TinyNet resumed(4, 12345);
  SGD resumed_sgd(resumed.parameters(), {.lr = 0.5, .momentum = 0.9});
  Trainer resumed_trainer(resumed, resumed_sgd, options(3));
  auto csv = std::make_shared<a2q::train::CsvLogger>(dir / "run.csv");
  resumed_trainer.add_callback(csv);
  const CheckpointInfo info = resumed_trainer.resume(dir / "run.ckpt");
  CHECK(info.epochs_completed == 2);
  CHECK(resumed_trainer.options().start_epoch == 2);
  const auto resumed_result = resumed_trainer.fit(loader);
  REQUIRE(resumed_result.history.size() == 1);
  CHECK(resumed_result.history[0].epoch == 2);
  CHECK(resumed_result.epochs_completed == 3);
  CHECK(resumed_result.history[0].loss == straight_result.history[2].loss);
  CHECK(same_bits(parameter_values(straight), parameter_values(resumed)));
  CHECK(resumed_sgd.step_count() == straight_sgd.step_count());
  CHECK(csv->rows().size() == 3); // rows 1-2 kept from the first run

  // Without the optimizer state (momentum) the result differs: the test above is meaningful.
  TinyNet no_state(4, 1);
  SGD fresh_sgd(no_state.parameters(), {.lr = 0.5, .momentum = 0.9});
  load_checkpoint(dir / "run.ckpt", no_state);
  TrainerOptions third = options(3);
  third.start_epoch = 2;
  Trainer(no_state, fresh_sgd, third).fit(loader);
  CHECK_FALSE(same_bits(parameter_values(straight), parameter_values(no_state)));
}

TEST_CASE("CheckpointCallback saves every n epochs and at the end", "[train][checkpoint]") {
  ScratchDir dir;
  const auto ds = quadrant_dataset(32, 2, 1);
  DataLoader loader(ds, {.batch_size = 16, .seed = 5});
  TinyNet model(2, 1);
  SGD sgd(model.parameters(), {.lr = 0.1});
  Trainer trainer(model, sgd, {.epochs = 5});
  auto every_two = std::make_shared<CheckpointCallback>(dir / "c.ckpt", 2);
  trainer.add_callback(every_two);
  trainer.fit(loader);
  CHECK(every_two->saves() == 3); // after epochs 2, 4 and the final 5
  TinyNet restored(2, 2);
  const CheckpointInfo info = load_checkpoint(dir / "c.ckpt", restored);
  CHECK(info.epochs_completed == 5);
  bool seed_saved = false;
  for (const auto& [k, v] : info.metadata)
    seed_saved = seed_saved || (k == "data_seed" && v == "5");
  CHECK(seed_saved);
  CHECK(same_bits(parameter_values(model), parameter_values(restored)));
  CHECK(dir.entries() == std::vector<std::string>{"c.ckpt"});
  CHECK_THROWS_AS(CheckpointCallback(dir / "x", 0), config_error);
}
