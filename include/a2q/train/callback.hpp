#pragma once
/// @file
/// a2q::train::Callback and the records the Trainer reports to it: TrainInfo, BatchProgress, EpochStats,
/// EvalResult and FitResult.
///
/// Epochs and batches are counted from 0 in these records, as DataLoader::start_epoch counts them;
/// text meant for people (progress bars, CSV files, error messages) counts them from 1.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace a2q {
class Optimizer;
namespace nn {
class Module;
} // namespace nn
} // namespace a2q

namespace a2q::train {

/// What a fit() is about to do; given to Callback::on_train_begin.
struct TrainInfo {
  int start_epoch = 0;                  ///< first epoch to run (0, or later when resuming)
  int epochs = 0;                       ///< epochs run are [start_epoch, epochs)
  std::int64_t batches_per_epoch = 0;   ///< training batches per epoch
  std::int64_t train_samples = 0;       ///< training samples per epoch
  std::int64_t validation_samples = 0;  ///< samples per validation pass, 0 without validation
  std::int64_t parameter_count = 0;     ///< trainable scalars of the model
  std::uint64_t data_seed = 0;          ///< the training loader's seed (log it, save it)
  std::string model_type;               ///< the model's type_name()
  nn::Module* model = nullptr;          ///< the model being trained; valid until on_train_end
  const Optimizer* optimizer = nullptr; ///< its optimizer; valid until on_train_end
};

/// Progress within an epoch, after each training batch; given to Callback::on_batch_end.
struct BatchProgress {
  int epoch = 0;                 ///< current epoch (from 0)
  int epochs = 0;                ///< total epochs of the fit
  std::int64_t batch = 0;        ///< batches finished in this epoch, 1..batches
  std::int64_t batches = 0;      ///< batches per epoch
  std::int64_t global_step = 0;  ///< optimizer steps since epoch 0 (epoch * batches + batch - 1)
  double loss = 0.0;             ///< running mean cross-entropy of the epoch so far
  double accuracy = 0.0;         ///< running accuracy of the epoch so far, in [0, 1]
  std::optional<double> psnr_db; ///< image-to-image tasks: running mean PSNR (loss is then the MSE)
  double lr = 0.0;               ///< learning rate of the last step
  double samples_per_second = 0.0;
  double elapsed_seconds = 0.0; ///< since the epoch began
  double eta_seconds = 0.0;     ///< estimated time to the end of the epoch's training batches
};

/// Result of one evaluation pass (Trainer::evaluate).
struct EvalResult {
  double loss = 0.0;     ///< mean cross-entropy (no label smoothing) over all samples; MSE with targets
  double accuracy = 0.0; ///< correct / samples, in [0, 1] (0 with targets)
  std::optional<double> psnr_db; ///< image-to-image tasks: mean PSNR over the samples, peak 1
  std::int64_t samples = 0;
  std::int64_t correct = 0;
  double seconds = 0.0;
};

/// Statistics of one training epoch.
struct EpochStats {
  int epoch = 0;                 ///< from 0
  double loss = 0.0;             ///< mean cross-entropy over the epoch's samples (with label smoothing)
  double extra_loss = 0.0;       ///< mean of TrainerOptions::extra_loss over the batches (0 if none)
  double accuracy = 0.0;         ///< training accuracy, in [0, 1]
  std::optional<double> psnr_db; ///< image-to-image tasks: mean training PSNR (loss is then the MSE)
  std::int64_t samples = 0;
  double seconds = 0.0; ///< training time of the epoch (validation excluded)
  double samples_per_second = 0.0;
  double lr = 0.0; ///< learning rate of the epoch's last step
};

/// Everything a fit() produced.
struct FitResult {
  std::vector<EpochStats> history;                           ///< one entry per epoch run
  std::vector<std::optional<EvalResult>> validation_history; ///< parallel to history
  std::optional<EvalResult> validation;                      ///< the last validation result, if any
  bool stopped_early = false;                                ///< a callback requested the stop
  int epochs_completed = 0;                                  ///< epochs done in total, counting resumed ones
};

/// Receives the Trainer's events. Every hook is a no-op by default; override what you need. Hooks are
/// called in this order: on_train_begin, then per epoch on_epoch_begin, on_batch_end for each batch,
/// on_epoch_end, and finally on_train_end (only when fit() returns normally). Callbacks run in the
/// order they were added.
class Callback {
public:
  virtual ~Callback() = default;

  virtual void on_train_begin(const TrainInfo& /*info*/) {}
  /// @param epoch the epoch about to start, from 0
  virtual void on_epoch_begin(int /*epoch*/) {}
  virtual void on_batch_end(const BatchProgress& /*progress*/) {}
  /// @param validation the epoch's validation result, when fit() was given a validation loader
  virtual void on_epoch_end(const EpochStats& /*stats*/, const std::optional<EvalResult>& /*validation*/) {}
  virtual void on_train_end(const FitResult& /*result*/) {}

  /// Asked after every epoch (after on_epoch_end): true stops training before the next epoch.
  virtual bool stop_requested() const { return false; }
};

} // namespace a2q::train
