#pragma once
/// @file
/// Definitions for progress_bar.hpp (see a2q/core/config.hpp).

#include "a2q/train/progress_bar.hpp"

#include "a2q/train/callback.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iomanip>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace a2q::detail {

/// "<lead>acc 85.12%", or "<lead>psnr 27.31 dB" for an image-to-image task.
inline std::string metric_text(const char* lead, double accuracy, const std::optional<double>& psnr_db) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << lead;
  if (psnr_db)
    out << "psnr " << *psnr_db << " dB";
  else
    out << "acc " << 100.0 * accuracy << '%';
  return out.str();
}

} // namespace a2q::detail

namespace a2q::train {

using a2q::detail::metric_text;

bool stdout_is_terminal() {
  return ::isatty(::fileno(stdout)) != 0;
}

void ProgressBar::on_epoch_begin(int /*epoch*/) {
  last_draw_.reset();
  last_length_ = 0;
}

void ProgressBar::on_batch_end(const BatchProgress& p) {
  if (!interactive_)
    return;
  const auto now = Clock::now();
  const bool edge = p.batch == 1 || p.batch == p.batches;
  if (!edge && last_draw_ && std::chrono::duration<double>(now - *last_draw_).count() < min_redraw_)
    return;
  last_draw_ = now;
  std::ostringstream line;
  line << "epoch " << p.epoch + 1 << '/' << p.epochs << " [";
  const auto filled = static_cast<int>(static_cast<double>(width_) * static_cast<double>(p.batch) /
                                       static_cast<double>(std::max<std::int64_t>(p.batches, 1)));
  for (int i = 0; i < width_; ++i)
    line << (i < filled ? '=' : i == filled ? '>' : ' ');
  const int digits = static_cast<int>(std::to_string(p.batches).size());
  line << "] " << std::setw(digits) << p.batch << '/' << p.batches << std::fixed << std::setprecision(4)
       << " loss " << p.loss << std::setprecision(2) << metric_text(" ", p.accuracy, p.psnr_db)
       << std::setprecision(0) << ' ' << p.samples_per_second << " samples/s ETA "
       << format_duration(p.eta_seconds);
  draw(line.str());
}

void ProgressBar::on_epoch_end(const EpochStats& s, const std::optional<EvalResult>& v) {
  std::ostringstream line;
  line << std::fixed;
  if (interactive_) {
    // Finish the live line: keep the bar, replace the ETA by the epoch's totals.
    line << "epoch " << s.epoch + 1 << '/' << epochs_ << " ["
         << std::string(static_cast<std::size_t>(width_), '=') << "] " << std::setprecision(4) << "loss "
         << s.loss << std::setprecision(2) << metric_text(" ", s.accuracy, s.psnr_db);
    if (v)
      line << std::setprecision(4) << " val loss " << v->loss << std::setprecision(2)
           << metric_text(" val ", v->accuracy, v->psnr_db);
    line << std::setprecision(1) << ' ' << s.seconds << " s " << std::setprecision(0) << s.samples_per_second
         << " samples/s";
    draw(line.str());
    out_ << '\n';
  } else {
    line << "epoch " << s.epoch + 1 << '/' << epochs_ << ": " << std::setprecision(4) << "loss " << s.loss
         << std::setprecision(2) << metric_text(", ", s.accuracy, s.psnr_db);
    if (v)
      line << ", val loss " << std::setprecision(4) << v->loss << std::setprecision(2)
           << metric_text(", val ", v->accuracy, v->psnr_db);
    line << ", " << std::setprecision(1) << s.seconds << " s, " << std::setprecision(0)
         << s.samples_per_second << " samples/s";
    out_ << line.str() << '\n';
  }
  out_.flush();
}

std::string ProgressBar::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0.0)
    return "?";
  const auto total = static_cast<std::int64_t>(std::llround(seconds));
  const std::int64_t h = total / 3600;
  const std::int64_t m = total / 60 % 60;
  const std::int64_t s = total % 60;
  std::ostringstream out;
  out << std::setfill('0');
  if (h > 0)
    out << h << ':' << std::setw(2) << m;
  else
    out << m;
  out << ':' << std::setw(2) << s;
  return out.str();
}

void ProgressBar::draw(const std::string& text) {
  out_ << '\r' << text;
  if (text.size() < last_length_)
    out_ << std::string(last_length_ - text.size(), ' ');
  last_length_ = text.size();
  out_.flush();
}

} // namespace a2q::train
