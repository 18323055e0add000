#pragma once
/// @file
/// Definitions for early_stopping.hpp (see a2q/core/config.hpp).

#include "a2q/train/early_stopping.hpp"

#include "a2q/core/error.hpp"
#include "a2q/train/callback.hpp"

#include <cmath>
#include <limits>
#include <optional>
#include <string>

namespace a2q::train {

EarlyStopping::EarlyStopping(int patience, double min_delta, Metric metric)
    : patience_(patience), min_delta_(min_delta), metric_(metric) {
  if (patience < 1)
    throw config_error("EarlyStopping: patience must be >= 1, got " + std::to_string(patience));
  if (!std::isfinite(min_delta) || min_delta < 0.0)
    throw config_error("EarlyStopping: min_delta must be finite and >= 0, got " + std::to_string(min_delta));
}

void EarlyStopping::on_train_begin(const TrainInfo& info) {
  if (info.validation_samples == 0)
    throw config_error("EarlyStopping monitors a validation metric, but fit() was given no validation "
                       "loader (or an empty one)");
  best_.reset();
  best_epoch_ = -1;
  waited_ = 0;
  stop_ = false;
}

void EarlyStopping::on_epoch_end(const EpochStats& stats, const std::optional<EvalResult>& validation) {
  if (!validation)
    return;
  const double value = metric_ == Metric::validation_accuracy ? validation->accuracy : validation->loss;
  const bool improved = !best_ || (metric_ == Metric::validation_accuracy ? value > *best_ + min_delta_
                                                                          : value < *best_ - min_delta_);
  if (improved) {
    best_ = value;
    best_epoch_ = stats.epoch;
    waited_ = 0;
  } else if (++waited_ >= patience_) {
    stop_ = true;
  }
}

} // namespace a2q::train
