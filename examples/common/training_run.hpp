#pragma once
// Shared by the training examples: the command-line options every trainer takes, and one function that
// builds the optimizer and schedule, trains with progress bar / CSV / checkpoints, and writes metrics.

#include <a2q/autograd/ops.hpp>
#include <a2q/core/parallel.hpp>
#include <a2q/data/loader.hpp>
#include <a2q/io/json_file.hpp>
#include <a2q/optim/optim.hpp>
#include <a2q/train/train.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

namespace examples {

struct TrainingOptions {
  int epochs = 10;
  std::int64_t batch = 128;
  double lr = 1e-3;
  std::string optimizer = "adam";
  double momentum = 0.9;
  double weight_decay = 0.0;
  std::string schedule = "cosine";
  double warmup_epochs = 0.0;
  float label_smoothing = 0.0f;
  std::uint64_t seed = 1;
  int threads = 0; // 0: A2Q_NUM_THREADS or every core
  std::int64_t train_limit = 0;
  std::int64_t test_limit = 0;
  std::string metrics;
  std::string csv;
  std::string checkpoint;
  std::string resume;
  bool quiet = false;
  double min_accuracy = 0.0; // exit with an error when the final test accuracy is lower (for smoke tests)
  double min_psnr = 0.0;     // the same for image-to-image tasks, in dB
};

inline void add_training_flags(CLI::App& app, TrainingOptions& o) {
  app.add_option("--epochs", o.epochs, "Training epochs")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--batch", o.batch, "Batch size")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--lr", o.lr, "Peak learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--optimizer", o.optimizer, "Optimizer")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}))
      ->capture_default_str();
  app.add_option("--momentum", o.momentum, "SGD momentum (Nesterov)")->check(CLI::Range(0.0, 0.999));
  app.add_option("--weight-decay", o.weight_decay, "Weight decay on weights (not biases or norms)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--schedule", o.schedule, "Learning-rate schedule")
      ->check(CLI::IsMember({"constant", "cosine", "step"}))
      ->capture_default_str();
  app.add_option("--warmup-epochs", o.warmup_epochs, "Linear warm-up length in epochs")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--label-smoothing", o.label_smoothing, "Label smoothing")->check(CLI::Range(0.0, 0.5));
  app.add_option("--seed", o.seed, "Seed of initialisation, shuffling and augmentation")
      ->capture_default_str();
  app.add_option("--threads", o.threads, "Threads (default: A2Q_NUM_THREADS or all cores)")
      ->check(CLI::Range(1, 256));
  app.add_option("--train-limit", o.train_limit, "Use only the first N training images (0 = all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--test-limit", o.test_limit, "Use only the first N test images (0 = all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--metrics", o.metrics, "Write metrics JSON to this file");
  app.add_option("--csv", o.csv, "Write a per-epoch CSV log to this file");
  app.add_option("--checkpoint", o.checkpoint, "Save a checkpoint to this file after every epoch");
  app.add_option("--resume", o.resume, "Resume from this checkpoint");
  app.add_flag("--quiet", o.quiet, "No progress output");
  app.add_option("--min-accuracy", o.min_accuracy,
                 "Fail (exit 3) if the final test accuracy is below this fraction")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--min-psnr", o.min_psnr,
                 "Super-resolution: fail (exit 3) if the final test PSNR is below this many dB")
      ->check(CLI::Range(0.0, 200.0));
}

inline a2q::data::ImageDataset limited(a2q::data::ImageDataset data, std::int64_t limit) {
  if (limit > 0 && limit < data.size())
    return a2q::data::subset(data, 0, limit);
  return data;
}

inline std::unique_ptr<a2q::Optimizer> make_optimizer(const TrainingOptions& o, a2q::nn::Module& model) {
  auto groups = a2q::decay_groups(model.named_parameters(), o.weight_decay);
  if (o.optimizer == "sgd")
    return std::make_unique<a2q::SGD>(
        std::move(groups), a2q::SGDOptions{.lr = o.lr, .momentum = o.momentum, .nesterov = o.momentum > 0});
  if (o.optimizer == "adamw")
    return std::make_unique<a2q::AdamW>(std::move(groups), a2q::AdamOptions{.lr = o.lr});
  return std::make_unique<a2q::Adam>(std::move(groups), a2q::AdamOptions{.lr = o.lr});
}

inline a2q::LRSchedule make_schedule(const TrainingOptions& o, std::int64_t batches_per_epoch) {
  const std::int64_t total = static_cast<std::int64_t>(o.epochs) * batches_per_epoch;
  a2q::LRSchedule schedule = a2q::constant_lr(o.lr);
  if (o.schedule == "cosine")
    schedule = a2q::cosine_lr(o.lr, total);
  else if (o.schedule == "step")
    schedule = a2q::step_lr(o.lr, std::max<std::int64_t>(1, total / 3), 0.1);
  const auto warmup = static_cast<std::int64_t>(o.warmup_epochs * static_cast<double>(batches_per_epoch));
  return warmup > 0 ? a2q::with_linear_warmup(schedule, warmup) : schedule;
}

/// Creates the directory an output file goes into, so `--csv out/run.csv` works on a fresh checkout.
inline void create_parent_directory(const std::string& file) {
  if (file.empty())
    return;
  if (const auto parent = std::filesystem::path(file).parent_path(); !parent.empty())
    std::filesystem::create_directories(parent);
}

/// What a run produced, for the metrics file.
struct RunSummary {
  a2q::train::FitResult fit;
  a2q::train::EvalResult test;
  int threads = 1;
};

/// Trains `model` on `train_set`, evaluates on `test_set` after every epoch, and writes the CSV log,
/// checkpoints and progress as the options ask.
inline RunSummary run_training(a2q::nn::Module& model, const a2q::data::ImageDataset& train_set,
                               const a2q::data::ImageDataset& test_set, const TrainingOptions& o,
                               a2q::data::DataLoaderOptions train_loader_options,
                               a2q::data::DataLoaderOptions test_loader_options,
                               a2q::train::TrainerOptions trainer_options = {}) {
  RunSummary summary;
  for (const std::string* file : {&o.metrics, &o.csv, &o.checkpoint})
    create_parent_directory(*file);
  a2q::keep_freed_memory_for_reuse();
  if (o.threads > 0)
    a2q::set_num_threads(o.threads);
  else
    a2q::threads_from_environment();
  summary.threads = a2q::num_threads();

  train_loader_options.batch_size = o.batch;
  train_loader_options.seed = o.seed;
  test_loader_options.batch_size = std::max<std::int64_t>(o.batch, 256);
  test_loader_options.shuffle = false;
  a2q::data::DataLoader train_loader(train_set, train_loader_options);
  a2q::data::DataLoader test_loader(test_set, test_loader_options);

  auto optimizer = make_optimizer(o, model);
  trainer_options.epochs = o.epochs;
  trainer_options.label_smoothing = o.label_smoothing;
  trainer_options.schedule = make_schedule(o, train_loader.num_batches());
  a2q::train::Trainer trainer(model, *optimizer, trainer_options);
  if (!o.quiet)
    trainer.add_callback(
        std::make_shared<a2q::train::ProgressBar>(std::cout, a2q::train::stdout_is_terminal()));
  if (!o.csv.empty())
    trainer.add_callback(std::make_shared<a2q::train::CsvLogger>(o.csv));
  if (!o.checkpoint.empty())
    trainer.add_callback(std::make_shared<a2q::train::CheckpointCallback>(
        o.checkpoint, 1, a2q::train::Metadata{{"seed", std::to_string(o.seed)}}));
  if (!o.resume.empty())
    trainer.resume(o.resume);

  summary.fit = trainer.fit(train_loader, &test_loader);
  summary.test = summary.fit.validation ? *summary.fit.validation : trainer.evaluate(test_loader);
  return summary;
}

/// Writes the common metrics: test accuracy, per-epoch seconds, and what the example adds.
inline void write_metrics(const std::string& path, const std::string& model_name, const std::string& dataset,
                          const TrainingOptions& o, const RunSummary& s, std::int64_t parameters,
                          const std::function<void(nlohmann::ordered_json&)>& extra = {}) {
  if (path.empty())
    return;
  std::vector<double> seconds;
  for (const auto& e : s.fit.history)
    seconds.push_back(e.seconds);
  const double mean_seconds = seconds.empty() ? 0.0
                                              : std::accumulate(seconds.begin(), seconds.end(), 0.0) /
                                                    static_cast<double>(seconds.size());
  std::vector<double> test_accuracy_each, test_psnr_each;
  for (const auto& v : s.fit.validation_history) {
    test_accuracy_each.push_back(v ? v->accuracy : 0.0);
    if (v && v->psnr_db)
      test_psnr_each.push_back(*v->psnr_db);
  }
  nlohmann::ordered_json doc = {
      {"model", model_name},
      {"dataset", dataset},
      {"parameters", parameters},
      {"epochs", s.fit.history.size()},
      {"batch", o.batch},
      {"optimizer", o.optimizer},
      {"lr", o.lr},
      {"seed", o.seed},
      {"threads", s.threads},
      {"test_accuracy", s.test.accuracy},
      {"test_loss", s.test.loss},
      {"train_accuracy", s.fit.history.empty() ? 0.0 : s.fit.history.back().accuracy},
      {"epoch_seconds", mean_seconds},
      {"epoch_seconds_each", seconds},
      {"test_accuracy_each", test_accuracy_each}};
  if (s.test.psnr_db) { // an image-to-image task: the losses are mean squared errors
    doc["test_psnr_db"] = *s.test.psnr_db;
    doc["test_psnr_db_each"] = test_psnr_each;
  }
  if (extra)
    extra(doc);
  a2q::io::save_json(path, doc);
}

/// Exit code for a run: 0, or 3 when the accuracy is under --min-accuracy.
inline int accuracy_exit_code(const TrainingOptions& o, const RunSummary& s) {
  if (s.test.psnr_db && *s.test.psnr_db < o.min_psnr) {
    std::cerr << "error: test PSNR " << *s.test.psnr_db << " dB is below the required " << o.min_psnr
              << " dB\n";
    return 3;
  }
  if (!s.test.psnr_db && s.test.accuracy < o.min_accuracy) {
    std::cerr << "error: test accuracy " << s.test.accuracy << " is below the required " << o.min_accuracy
              << "\n";
    return 3;
  }
  return 0;
}

/// Runs `body`, turning a2q and CLI errors into one clear sentence and exit code 1 (4 for a proof_error:
/// the no-overflow guarantee does not hold).
inline int guarded_main(const std::function<int()>& body) {
  try {
    return body();
  } catch (const a2q::proof_error& e) { // the guarantee does not hold: the status of a failed proof
    std::cerr << "error: " << e.what() << "\n";
    return 4;
  } catch (const a2q::error& e) {
    std::cerr << "error: " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
  }
  return 1;
}

} // namespace examples
