#pragma once
/// @file
/// a2q::train::EarlyStopping: a callback that stops training when a validation metric stops improving.

#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"
#include "a2q/train/callback.hpp"

#include <cmath>
#include <limits>
#include <optional>
#include <string>

namespace a2q::train {

/// Requests a stop when the monitored validation metric has not improved by more than `min_delta` for
/// `patience` consecutive epochs. Needs a validation loader in Trainer::fit.
class EarlyStopping : public Callback {
public:
  /// What to watch.
  enum class Metric {
    validation_accuracy, ///< higher is better
    validation_loss,     ///< lower is better
  };

  /// @param patience epochs without improvement tolerated before stopping (>= 1).
  /// @param min_delta an improvement must exceed this (>= 0), e.g. 0.001 for a tenth of a percent of
  ///   accuracy.
  /// @param metric validation accuracy (default) or validation loss.
  A2Q_DECL explicit EarlyStopping(int patience, double min_delta = 0.0,
                                  Metric metric = Metric::validation_accuracy);

  A2Q_DECL void on_train_begin(const TrainInfo& info) override;

  A2Q_DECL void on_epoch_end(const EpochStats& stats, const std::optional<EvalResult>& validation) override;

  bool stop_requested() const override { return stop_; }

  /// Best value of the metric seen so far.
  std::optional<double> best() const { return best_; }
  /// Epoch (from 0) of the best value, -1 before any.
  int best_epoch() const { return best_epoch_; }

private:
  int patience_;
  double min_delta_;
  Metric metric_;
  std::optional<double> best_;
  int best_epoch_ = -1;
  int waited_ = 0;
  bool stop_ = false;
};

} // namespace a2q::train

#if A2Q_HEADER_ONLY
#include "a2q/train/early_stopping.ipp"
#endif
