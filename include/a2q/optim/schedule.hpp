#pragma once
/// @file
/// Learning-rate schedules: a2q::LRSchedule, a type-erased map from step to learning rate, and the
/// factories constant_lr, step_lr, cosine_lr and with_linear_warmup.
///
/// Steps count optimizer steps (batches) from 0, so a trainer calls
/// `optimizer.set_lr(schedule.lr_at(step))` before each optimizer step. For per-epoch schedules, pass
/// step sizes and totals in batches (epochs * batches_per_epoch).

#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"

#include <cmath>
#include <cstdint>
#include <functional>
#include <numbers>
#include <string>
#include <utility>

namespace a2q {

/// A learning-rate schedule: a copyable value holding any callable double(std::int64_t step).
class LRSchedule {
public:
  /// Wraps `f`; it is called with steps >= 0 and should return a finite, non-negative rate.
  A2Q_DECL explicit LRSchedule(std::function<double(std::int64_t)> f);

  /// The learning rate for `step` (>= 0; negative steps throw config_error).
  A2Q_DECL double lr_at(std::int64_t step) const;
  double operator()(std::int64_t step) const { return lr_at(step); }

private:
  std::function<double(std::int64_t)> f_;
};

/// `base` at every step.
A2Q_DECL LRSchedule constant_lr(double base);

/// base * gamma^floor(step / step_size): multiplied by gamma every step_size steps (torch's StepLR).
/// @param step_size steps between decays (> 0).
/// @param gamma decay factor (finite, > 0).
A2Q_DECL LRSchedule step_lr(double base, std::int64_t step_size, double gamma);

/// Cosine annealing from `base` at step 0 to `min_lr` at `total_steps`, then `min_lr`:
/// min_lr + (base - min_lr) * (1 + cos(pi * step / total_steps)) / 2.
/// @param total_steps length of the annealing (> 0).
/// @param min_lr final rate, in [0, base].
A2Q_DECL LRSchedule cosine_lr(double base, std::int64_t total_steps, double min_lr = 0.0);

/// `inner` scaled by a linear warm-up factor: inner(step) * (step + 1) / warmup_steps while
/// step < warmup_steps, then inner(step). The first step uses inner(0) / warmup_steps, and the ramp
/// reaches inner's own value at step warmup_steps - 1. The inner schedule is not delayed, so a
/// cosine_lr(base, total) still ends at `total`.
/// @param warmup_steps length of the warm-up (>= 0; 0 returns `inner` unchanged).
A2Q_DECL LRSchedule with_linear_warmup(LRSchedule inner, std::int64_t warmup_steps);

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/optim/schedule.ipp"
#endif
