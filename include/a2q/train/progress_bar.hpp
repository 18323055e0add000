#pragma once
/// @file
/// a2q::train::ProgressBar: a callback that reports training progress to a stream, either as one line
/// redrawn in place (a terminal) or as one plain line per epoch (logs, pipes, CI). And
/// stdout_is_terminal() to choose between them.

#include "a2q/core/config.hpp"
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
A2Q_DECL bool stdout_is_terminal();

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

  A2Q_DECL void on_epoch_begin(int /*epoch*/) override;

  A2Q_DECL void on_batch_end(const BatchProgress& p) override;

  A2Q_DECL void on_epoch_end(const EpochStats& s, const std::optional<EvalResult>& v) override;

  /// "m:ss" or "h:mm:ss" ("?" for a negative or non-finite time).
  A2Q_DECL static std::string format_duration(double seconds);

private:
  using Clock = std::chrono::steady_clock;

  // Redraws the live line, padding with spaces to wipe a longer previous line.
  A2Q_DECL void draw(const std::string& text);

  std::ostream& out_;
  bool interactive_;
  double min_redraw_;
  int width_;
  int epochs_ = 0;
  std::optional<Clock::time_point> last_draw_;
  std::size_t last_length_ = 0;
};

} // namespace a2q::train

#if A2Q_HEADER_ONLY
#include "a2q/train/progress_bar.ipp"
#endif
