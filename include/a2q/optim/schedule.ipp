#pragma once
/// @file
/// Definitions for schedule.hpp (see a2q/core/config.hpp).

#include "a2q/optim/schedule.hpp"

#include "a2q/core/error.hpp"

#include <cmath>
#include <cstdint>
#include <functional>
#include <numbers>
#include <string>
#include <utility>

namespace a2q {

LRSchedule::LRSchedule(std::function<double(std::int64_t)> f) : f_(std::move(f)) {
  if (!f_)
    throw config_error("LRSchedule: empty function");
}

double LRSchedule::lr_at(std::int64_t step) const {
  if (step < 0)
    throw config_error("LRSchedule: step must be >= 0, got " + std::to_string(step));
  return f_(step);
}

namespace detail {

inline void check_base_lr(const char* schedule, const char* what, double lr) {
  if (!std::isfinite(lr) || lr < 0.0)
    throw config_error(std::string(schedule) + ": " + what + " must be finite and >= 0, got " +
                       std::to_string(lr));
}

} // namespace detail

LRSchedule constant_lr(double base) {
  detail::check_base_lr("constant_lr", "base", base);
  return LRSchedule([base](std::int64_t) { return base; });
}

LRSchedule step_lr(double base, std::int64_t step_size, double gamma) {
  detail::check_base_lr("step_lr", "base", base);
  if (step_size <= 0)
    throw config_error("step_lr: step_size must be > 0, got " + std::to_string(step_size));
  if (!std::isfinite(gamma) || gamma <= 0.0)
    throw config_error("step_lr: gamma must be finite and > 0, got " + std::to_string(gamma));
  return LRSchedule([base, step_size, gamma](std::int64_t step) {
    return base * std::pow(gamma, static_cast<double>(step / step_size));
  });
}

LRSchedule cosine_lr(double base, std::int64_t total_steps, double min_lr) {
  detail::check_base_lr("cosine_lr", "base", base);
  if (total_steps <= 0)
    throw config_error("cosine_lr: total_steps must be > 0, got " + std::to_string(total_steps));
  if (!std::isfinite(min_lr) || min_lr < 0.0 || min_lr > base)
    throw config_error("cosine_lr: min_lr must be in [0, base = " + std::to_string(base) + "], got " +
                       std::to_string(min_lr));
  return LRSchedule([base, total_steps, min_lr](std::int64_t step) {
    if (step >= total_steps)
      return min_lr;
    const double progress = static_cast<double>(step) / static_cast<double>(total_steps);
    return min_lr + (base - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  });
}

LRSchedule with_linear_warmup(LRSchedule inner, std::int64_t warmup_steps) {
  if (warmup_steps < 0)
    throw config_error("with_linear_warmup: warmup_steps must be >= 0, got " + std::to_string(warmup_steps));
  if (warmup_steps == 0)
    return inner;
  return LRSchedule([inner = std::move(inner), warmup_steps](std::int64_t step) {
    const double rate = inner.lr_at(step);
    if (step >= warmup_steps)
      return rate;
    // The factor first, so that the ramp's last step is inner's value exactly (factor 1).
    return rate * (static_cast<double>(step + 1) / static_cast<double>(warmup_steps));
  });
}

} // namespace a2q
