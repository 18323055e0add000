#pragma once
/// @file
/// a2q::train::Trainer: the supervised training loop (forward, softmax cross-entropy against the labels, or
/// the mean squared error against target images when the batches carry them, as super-resolution's do,
/// backward, optional gradient clipping, optimizer step), with a built-in divergence check, validation,
/// callbacks for all reporting, and resuming from checkpoints.
///
/// Deterministic: given the same model initialisation, optimizer, options and data loaders (whose
/// batches are a pure function of seed and epoch), two fits produce bit-identical losses and parameters.
/// The trainer's own reductions run in a fixed order; it never writes to stdout.

#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/loss.hpp"
#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"
#include "a2q/data/loader.hpp"
#include "a2q/nn/module.hpp"
#include "a2q/optim/optimizer.hpp"
#include "a2q/optim/schedule.hpp"
#include "a2q/train/callback.hpp"
#include "a2q/train/checkpoint.hpp"

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

/// Options of a Trainer.
struct TrainerOptions {
  /// Train epochs [start_epoch, epochs).
  int epochs = 10;
  /// First epoch to run: 0 for a fresh run, the checkpoint's epochs_completed when resuming (set by
  /// Trainer::resume).
  int start_epoch = 0;
  /// Label smoothing of the training loss, in [0, 1]. Validation always uses plain cross-entropy.
  float label_smoothing = 0.0f;
  /// Per-batch learning rate: before the step of batch b of epoch e the optimizer gets
  /// schedule->lr_at(e * batches_per_epoch + b), a pure function of the position, so a resumed run
  /// follows the same rates. Without a schedule the optimizer's rate is left alone.
  std::optional<LRSchedule> schedule{};
  /// Clip the global L2 norm of all parameter gradients to this value before each step; 0 = off.
  double grad_clip_norm = 0.0;
  /// Added to every batch's loss, e.g. a regulariser over the weights; must return a one-element Var or
  /// an undefined Var (nothing added). May be empty.
  std::function<Var(nn::Module&)> extra_loss{};
  /// Called after each optimizer step, e.g. to re-project constrained weights. May be empty.
  std::function<void(nn::Module&)> after_step{};
};

/// Trains a classifier.
///
///     Trainer trainer(model, sgd, {.epochs = 5});
///     trainer.add_callback(std::make_shared<ProgressBar>(std::cout, stdout_is_terminal()));
///     FitResult result = trainer.fit(train_loader, &test_loader);
class Trainer {
public:
  /// @param model trained in place; must outlive the trainer.
  /// @param optimizer updates the model's parameters; must outlive the trainer.
  /// @throws config_error for out-of-range options.
  A2Q_DECL Trainer(nn::Module& model, Optimizer& optimizer, TrainerOptions options = {});

  /// Adds a callback; callbacks are called in the order they were added.
  A2Q_DECL void add_callback(std::shared_ptr<Callback> callback);

  const TrainerOptions& options() const { return options_; }
  TrainerOptions& options() { return options_; }
  nn::Module& model() { return model_; }
  Optimizer& optimizer() { return optimizer_; }

  /// Loads a checkpoint (see load_checkpoint) into the model and optimizer and sets
  /// options().start_epoch to its epochs_completed, so that the next fit() continues where it stopped.
  /// @return the checkpoint's information.
  A2Q_DECL CheckpointInfo resume(const std::filesystem::path& path);

  /// Trains for epochs [options().start_epoch, options().epochs), validating after each epoch when
  /// `validation` is given. Calls train.start_epoch(epoch) before each epoch. Leaves the model in
  /// training mode.
  /// @throws numeric_error when a batch's loss is NaN or infinite (or, with clipping, the gradient norm
  ///   is), naming the epoch, the batch and the value; training stops there.
  /// @throws config_error for invalid options or an empty training loader; errors of the model, loss,
  ///   optimizer and callbacks propagate.
  A2Q_DECL FitResult fit(data::DataLoader& train, data::DataLoader* validation = nullptr);

  /// Evaluates the model on every batch of `loader` (its current epoch) in evaluation mode without
  /// recording gradients; restores the previous training mode afterwards, also on errors.
  /// @return mean cross-entropy (no label smoothing) and accuracy over all samples; with target images the
  ///   mean squared error and the mean PSNR.
  A2Q_DECL EvalResult evaluate(data::DataLoader& loader);

private:
  using Clock = std::chrono::steady_clock;

  static double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  A2Q_DECL void check_options() const;

  // "epoch 2/10, batch 5/8 (global step 13)", counted from 1 for people.
  A2Q_DECL std::string position(int epoch, std::int64_t batch, std::int64_t batches) const;

  A2Q_DECL static std::string format_value(double v);

  A2Q_DECL EpochStats train_epoch(data::DataLoader& train, int epoch);

  // Scales every gradient by clip / norm when the global L2 norm exceeds `clip` (as PyTorch's
  // clip_grad_norm_, with its 1e-6 guard). Parameters are visited in optimizer order, so the sum is
  // deterministic.
  A2Q_DECL void clip_gradients(int epoch, std::int64_t b, std::int64_t batches);

  nn::Module& model_;
  Optimizer& optimizer_;
  TrainerOptions options_;
  std::vector<std::shared_ptr<Callback>> callbacks_;
};

} // namespace a2q::train

#if A2Q_HEADER_ONLY
#include "a2q/train/trainer.ipp"
#endif
