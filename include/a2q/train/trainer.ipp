#pragma once
/// @file
/// Definitions for trainer.hpp (see a2q/core/config.hpp).

#include "a2q/core/eigen_view.hpp"

#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/loss.hpp"
#include "a2q/autograd/variable.hpp"
#include "a2q/core/error.hpp"
#include "a2q/data/loader.hpp"
#include "a2q/nn/module.hpp"
#include "a2q/optim/optimizer.hpp"
#include "a2q/optim/schedule.hpp"
#include "a2q/train/callback.hpp"
#include "a2q/train/checkpoint.hpp"
#include "a2q/train/trainer.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace a2q::train {

Trainer::Trainer(nn::Module& model, Optimizer& optimizer, TrainerOptions options)
    : model_(model), optimizer_(optimizer), options_(std::move(options)) {
  check_options();
}

void Trainer::add_callback(std::shared_ptr<Callback> callback) {
  if (!callback)
    throw config_error("Trainer::add_callback: null callback");
  callbacks_.push_back(std::move(callback));
}

CheckpointInfo Trainer::resume(const std::filesystem::path& path) {
  CheckpointInfo info = load_checkpoint(path, model_, &optimizer_);
  options_.start_epoch = info.epochs_completed;
  return info;
}

FitResult Trainer::fit(data::DataLoader& train, data::DataLoader* validation) {
  check_options();
  const std::int64_t batches = train.num_batches();
  if (batches == 0)
    throw config_error("Trainer::fit: the training loader yields no batches (dataset '" +
                       train.dataset().name + "', " + std::to_string(train.dataset().size()) +
                       " samples, batch size " + std::to_string(train.options().batch_size) + ")");

  TrainInfo info;
  info.start_epoch = options_.start_epoch;
  info.epochs = options_.epochs;
  info.batches_per_epoch = batches;
  info.train_samples = train.num_samples();
  info.validation_samples = validation != nullptr ? validation->num_samples() : 0;
  info.parameter_count = model_.parameter_count();
  info.data_seed = train.options().seed;
  info.model_type = model_.type_name();
  info.model = &model_;
  info.optimizer = &optimizer_;

  FitResult result;
  result.epochs_completed = options_.start_epoch;
  model_.train();
  for (const auto& cb : callbacks_)
    cb->on_train_begin(info);

  for (int epoch = options_.start_epoch; epoch < options_.epochs; ++epoch) {
    for (const auto& cb : callbacks_)
      cb->on_epoch_begin(epoch);
    EpochStats stats = train_epoch(train, epoch);
    std::optional<EvalResult> validated;
    if (validation != nullptr)
      validated = evaluate(*validation);
    result.history.push_back(stats);
    result.validation_history.push_back(validated);
    if (validated)
      result.validation = validated;
    result.epochs_completed = epoch + 1;
    for (const auto& cb : callbacks_)
      cb->on_epoch_end(stats, validated);
    bool stop = false;
    for (const auto& cb : callbacks_)
      stop = cb->stop_requested() || stop;
    if (stop && epoch + 1 < options_.epochs) {
      result.stopped_early = true;
      break;
    }
  }
  for (const auto& cb : callbacks_)
    cb->on_train_end(result);
  return result;
}

EvalResult Trainer::evaluate(data::DataLoader& loader) {
  const auto start = Clock::now();
  const bool was_training = model_.training();
  struct ModeRestorer {
    nn::Module& model;
    bool training;
    ~ModeRestorer() { model.train(training); }
  } restore{model_, was_training};
  model_.eval();
  NoGradGuard no_grad;

  EvalResult result;
  double loss_sum = 0.0;
  double psnr_sum = 0.0;
  bool regression = false;
  for (std::int64_t b = 0; b < loader.num_batches(); ++b) {
    data::Batch batch = loader.batch(b);
    const Var logits = model_(Var(std::move(batch.images)));
    if (batch.targets.numel() > 0) { // an image-to-image task: MSE and PSNR
      const Var loss = mse_loss(logits, Var(batch.targets));
      loss_sum += static_cast<double>(loss.value()[0]) * static_cast<double>(batch.size());
      psnr_sum += sum_psnr_db(logits.value(), batch.targets);
      regression = true;
    } else {
      const Var loss = softmax_cross_entropy(logits, batch.labels);
      loss_sum += static_cast<double>(loss.value()[0]) * static_cast<double>(batch.size());
      result.correct += count_correct(logits.value(), batch.labels);
    }
    result.samples += batch.size();
  }
  if (result.samples > 0) {
    result.loss = loss_sum / static_cast<double>(result.samples);
    result.accuracy = static_cast<double>(result.correct) / static_cast<double>(result.samples);
    if (regression)
      result.psnr_db = psnr_sum / static_cast<double>(result.samples);
  }
  result.seconds = seconds_since(start);
  return result;
}

void Trainer::check_options() const {
  if (options_.epochs < 0)
    throw config_error("TrainerOptions: epochs must be >= 0, got " + std::to_string(options_.epochs));
  if (options_.start_epoch < 0)
    throw config_error("TrainerOptions: start_epoch must be >= 0, got " +
                       std::to_string(options_.start_epoch));
  if (!(options_.label_smoothing >= 0.0f && options_.label_smoothing <= 1.0f))
    throw config_error("TrainerOptions: label_smoothing must be in [0, 1], got " +
                       std::to_string(options_.label_smoothing));
  if (!std::isfinite(options_.grad_clip_norm) || options_.grad_clip_norm < 0.0)
    throw config_error("TrainerOptions: grad_clip_norm must be finite and >= 0 (0 = off), got " +
                       std::to_string(options_.grad_clip_norm));
}

std::string Trainer::position(int epoch, std::int64_t batch, std::int64_t batches) const {
  return "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options_.epochs) + ", batch " +
         std::to_string(batch + 1) + "/" + std::to_string(batches) + " (global step " +
         std::to_string(static_cast<std::int64_t>(epoch) * batches + batch) + ")";
}

std::string Trainer::format_value(double v) {
  std::ostringstream s;
  s.precision(9);
  s << v;
  return s.str();
}

EpochStats Trainer::train_epoch(data::DataLoader& train, int epoch) {
  const auto start = Clock::now();
  train.start_epoch(epoch);
  model_.train();
  const std::int64_t batches = train.num_batches();
  double loss_sum = 0.0;  // cross-entropy times batch size, summed in batch order
  double extra_sum = 0.0; // extra loss, summed in batch order
  double psnr_sum = 0.0;  // image-to-image tasks: per-sample PSNR, summed in batch order
  bool any_regression = false;
  std::int64_t correct = 0;
  std::int64_t seen = 0;

  for (std::int64_t b = 0; b < batches; ++b) {
    data::Batch batch = train.batch(b);
    const std::int64_t step = static_cast<std::int64_t>(epoch) * batches + b;
    if (options_.schedule)
      optimizer_.set_lr(options_.schedule->lr_at(step));

    // Zero before backward: also clears gradients that reached parameters the optimizer does not own.
    optimizer_.zero_grad();
    model_.zero_grad();
    const Var logits = model_(Var(std::move(batch.images)));
    const bool regression = batch.targets.numel() > 0; // an image-to-image task: MSE, scored by PSNR
    const Var cross_entropy = regression
                                  ? mse_loss(logits, Var(batch.targets))
                                  : softmax_cross_entropy(logits, batch.labels, options_.label_smoothing);
    Var loss = cross_entropy;
    double extra_value = 0.0;
    if (options_.extra_loss) {
      const Var extra = options_.extra_loss(model_);
      if (extra.defined()) {
        if (extra.value().numel() != 1)
          throw config_error("TrainerOptions::extra_loss must return one element, got shape " +
                             extra.shape().to_string() + " at " + position(epoch, b, batches));
        extra_value = static_cast<double>(extra.value()[0]);
        loss = add(cross_entropy, sum(extra));
      }
    }
    const float loss_value = loss.value()[0];
    if (!std::isfinite(loss_value))
      throw numeric_error(
          "training diverged at " + position(epoch, b, batches) + ": loss is " + format_value(loss_value) +
          (regression ? " (mean squared error " : " (cross-entropy ") +
          format_value(cross_entropy.value()[0]) +
          (options_.extra_loss ? ", extra loss " + format_value(extra_value) : std::string()) +
          ", learning rate " + format_value(optimizer_.lr()) + ")");
    const std::int64_t batch_correct = regression ? 0 : count_correct(logits.value(), batch.labels);
    if (regression) {
      psnr_sum += sum_psnr_db(logits.value(), batch.targets);
      any_regression = true;
    }
    if (loss.requires_grad())
      loss.backward();
    if (options_.grad_clip_norm > 0.0)
      clip_gradients(epoch, b, batches);
    optimizer_.step();
    if (options_.after_step)
      options_.after_step(model_);

    loss_sum += static_cast<double>(cross_entropy.value()[0]) * static_cast<double>(batch.size());
    extra_sum += extra_value;
    correct += batch_correct;
    seen += batch.size();

    if (!callbacks_.empty()) {
      BatchProgress progress;
      progress.epoch = epoch;
      progress.epochs = options_.epochs;
      progress.batch = b + 1;
      progress.batches = batches;
      progress.global_step = step;
      progress.loss = loss_sum / static_cast<double>(seen);
      progress.accuracy = static_cast<double>(correct) / static_cast<double>(seen);
      if (any_regression)
        progress.psnr_db = psnr_sum / static_cast<double>(seen);
      progress.lr = optimizer_.lr();
      progress.elapsed_seconds = seconds_since(start);
      progress.samples_per_second =
          progress.elapsed_seconds > 0.0 ? static_cast<double>(seen) / progress.elapsed_seconds : 0.0;
      progress.eta_seconds =
          progress.elapsed_seconds / static_cast<double>(b + 1) * static_cast<double>(batches - b - 1);
      for (const auto& cb : callbacks_)
        cb->on_batch_end(progress);
    }
  }

  EpochStats stats;
  stats.epoch = epoch;
  stats.samples = seen;
  stats.loss = seen > 0 ? loss_sum / static_cast<double>(seen) : 0.0;
  stats.extra_loss = batches > 0 ? extra_sum / static_cast<double>(batches) : 0.0;
  stats.accuracy = seen > 0 ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
  if (any_regression && seen > 0)
    stats.psnr_db = psnr_sum / static_cast<double>(seen);
  stats.seconds = seconds_since(start);
  stats.samples_per_second = stats.seconds > 0.0 ? static_cast<double>(seen) / stats.seconds : 0.0;
  stats.lr = optimizer_.lr();
  return stats;
}

void Trainer::clip_gradients(int epoch, std::int64_t b, std::int64_t batches) {
  double squared = 0.0;
  for (const ParamGroup& group : optimizer_.groups())
    for (const Var& param : group.params)
      if (param.has_grad())
        squared += as_vector(param.grad()).template cast<double>().squaredNorm();
  const double norm = std::sqrt(squared);
  if (!std::isfinite(norm))
    throw numeric_error("training diverged at " + position(epoch, b, batches) + ": gradient norm is " +
                        format_value(norm) + " (loss was finite)");
  if (norm <= options_.grad_clip_norm)
    return;
  const auto factor = static_cast<float>(options_.grad_clip_norm / (norm + 1e-6));
  for (const ParamGroup& group : optimizer_.groups())
    for (Var param : group.params) // a copy of the handle shares the node
      if (param.has_grad())
        as_vector(param.grad()) *= factor;
}

} // namespace a2q::train
