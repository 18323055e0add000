#pragma once
/// @file
/// a2q::train::ProgressBar: a callback that reports training progress to a stream, either as one line
/// redrawn in place (a terminal) or as one plain line per epoch (logs, pipes, CI). And
/// stdout_is_terminal() to choose between them.

#include "a2q/train/callback.hpp"

#include <unistd.h>

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

namespace a2q::train {

/// True when the process's standard output is a terminal (isatty(fileno(stdout))).
inline bool stdout_is_terminal() {
  return ::isatty(::fileno(stdout)) != 0;
}

/// Writes training progress to a stream.
///
/// Interactive mode redraws one line with '\r' after training batches, at most once per
/// `min_redraw_seconds` (the first and last batch of an epoch are always drawn):
///
///     epoch 2/10 [=========>          ]  45/100 loss 0.4321 acc 87.50% 1234 samples/s ETA 0:12
///
/// and ends the epoch's line with the validation results and a newline. Non-interactive mode writes only
/// one line per epoch:
///
///     epoch 2/10: loss 0.4321, acc 87.50%, val loss 0.5000, val acc 85.00%, 1.2 s, 1234 samples/s
class ProgressBar : public Callback {
public:
  /// @param out where to write; must outlive the callback.
  /// @param interactive redraw a live line (for a terminal) or print one line per epoch.
  /// @param min_redraw_seconds least time between two redraws in interactive mode.
  /// @param width characters of the bar itself.
  ProgressBar(std::ostream& out, bool interactive, double min_redraw_seconds = 0.1, int width = 20)
      : out_(out), interactive_(interactive), min_redraw_(min_redraw_seconds), width_(std::max(width, 1)) {}

  void on_train_begin(const TrainInfo& info) override { epochs_ = info.epochs; }

  void on_epoch_begin(int /*epoch*/) override {
    last_draw_.reset();
    last_length_ = 0;
  }

  void on_batch_end(const BatchProgress& p) override {
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
         << " loss " << p.loss << std::setprecision(2) << " acc " << 100.0 * p.accuracy << '%'
         << std::setprecision(0) << ' ' << p.samples_per_second << " samples/s ETA "
         << format_duration(p.eta_seconds);
    draw(line.str());
  }

  void on_epoch_end(const EpochStats& s, const std::optional<EvalResult>& v) override {
    std::ostringstream line;
    line << std::fixed;
    if (interactive_) {
      // Finish the live line: keep the bar, replace the ETA by the epoch's totals.
      line << "epoch " << s.epoch + 1 << '/' << epochs_ << " ["
           << std::string(static_cast<std::size_t>(width_), '=') << "] " << std::setprecision(4) << "loss "
           << s.loss << std::setprecision(2) << " acc " << 100.0 * s.accuracy << '%';
      if (v)
        line << std::setprecision(4) << " val loss " << v->loss << std::setprecision(2) << " val acc "
             << 100.0 * v->accuracy << '%';
      line << std::setprecision(1) << ' ' << s.seconds << " s " << std::setprecision(0)
           << s.samples_per_second << " samples/s";
      draw(line.str());
      out_ << '\n';
    } else {
      line << "epoch " << s.epoch + 1 << '/' << epochs_ << ": " << std::setprecision(4) << "loss " << s.loss
           << ", acc " << std::setprecision(2) << 100.0 * s.accuracy << '%';
      if (v)
        line << ", val loss " << std::setprecision(4) << v->loss << ", val acc " << std::setprecision(2)
             << 100.0 * v->accuracy << '%';
      line << ", " << std::setprecision(1) << s.seconds << " s, " << std::setprecision(0)
           << s.samples_per_second << " samples/s";
      out_ << line.str() << '\n';
    }
    out_.flush();
  }

  /// "m:ss" or "h:mm:ss" ("?" for a negative or non-finite time).
  static std::string format_duration(double seconds) {
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

private:
  using Clock = std::chrono::steady_clock;

  // Redraws the live line, padding with spaces to wipe a longer previous line.
  void draw(const std::string& text) {
    out_ << '\r' << text;
    if (text.size() < last_length_)
      out_ << std::string(last_length_ - text.size(), ' ');
    last_length_ = text.size();
    out_.flush();
  }

  std::ostream& out_;
  bool interactive_;
  double min_redraw_;
  int width_;
  int epochs_ = 0;
  std::optional<Clock::time_point> last_draw_;
  std::size_t last_length_ = 0;
};

} // namespace a2q::train
