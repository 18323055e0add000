#pragma once
/// @file
/// Where a training step spends its time, per autograd operation, forward and backward.
///
/// While an OpProfiler is alive on a thread, the tape times every operation recorded on that thread.
/// A backward function is timed exactly. A forward operation computes its value before it reaches the
/// tape, so its time is the interval since the previous operation was recorded (or since mark()): the
/// operation itself plus the glue before it (shape checks, a module's bookkeeping). Call mark() after
/// work that is not an operation (loading a batch, an optimizer step) so it is not charged to the next
/// one, or time that work with add(). Off by default: the cost is one thread-local load per operation.

#include "a2q/core/error.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace a2q {

/// Time spent in one operation kind (e.g. "conv2d") since the profiler started.
struct OpTiming {
  std::string op;
  std::int64_t forward_calls = 0;
  std::int64_t backward_calls = 0;
  double forward_seconds = 0.0;
  double backward_seconds = 0.0;

  double total_seconds() const { return forward_seconds + backward_seconds; }
};

class OpProfiler;

namespace detail {

/// The profiler active on this thread, or null.
inline OpProfiler*& active_profiler() {
  thread_local OpProfiler* profiler = nullptr;
  return profiler;
}

} // namespace detail

/// Times the autograd operations of this thread for its lifetime (see the file comment). Profilers do
/// not nest: a second one on the same thread is refused.
class OpProfiler {
public:
  using Clock = std::chrono::steady_clock;

  OpProfiler() : last_(Clock::now()) {
    if (detail::active_profiler() != nullptr)
      throw config_error("a2q::OpProfiler: a profiler is already active on this thread");
    detail::active_profiler() = this;
  }
  ~OpProfiler() { detail::active_profiler() = nullptr; }
  OpProfiler(const OpProfiler&) = delete;
  OpProfiler& operator=(const OpProfiler&) = delete;

  /// Starts the next forward interval now: what ran since the last operation is not charged to any.
  void mark() { last_ = Clock::now(); }

  /// Adds `seconds` of forward (or backward) time to `op`, e.g. an optimizer step timed by the caller.
  void add(const std::string& op, double seconds, bool backward = false) {
    OpTiming& t = entry(op);
    (backward ? t.backward_calls : t.forward_calls) += 1;
    (backward ? t.backward_seconds : t.forward_seconds) += seconds;
  }

  /// Called by the tape when operation `op` has computed its value.
  void record_forward(const char* op) {
    const Clock::time_point now = Clock::now();
    add(op, std::chrono::duration<double>(now - last_).count());
    last_ = now;
  }

  /// Called by the tape around one backward function; returns the time to pass to end_backward.
  Clock::time_point begin_backward() const { return Clock::now(); }
  void end_backward(const char* op, Clock::time_point start) {
    const Clock::time_point now = Clock::now();
    add(op, std::chrono::duration<double>(now - start).count(), true);
    last_ = now;
  }

  /// Every operation seen, the most expensive (forward + backward) first.
  std::vector<OpTiming> timings() const {
    std::vector<OpTiming> sorted = timings_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const OpTiming& a, const OpTiming& b) {
      return a.total_seconds() > b.total_seconds();
    });
    return sorted;
  }

private:
  OpTiming& entry(const std::string& op) {
    for (OpTiming& t : timings_)
      if (t.op == op)
        return t;
    timings_.push_back(OpTiming{op});
    return timings_.back();
  }

  std::vector<OpTiming> timings_;
  Clock::time_point last_;
};

} // namespace a2q
