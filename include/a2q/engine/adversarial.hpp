#pragma once
/// @file
/// Adversarial verification: for every output channel, the two inputs that drive its dot product to the
/// exact maximum and minimum (x_i at the range's top where q_i > 0 and at its bottom where q_i < 0, and
/// the reverse), run through a simulated P-bit accumulator that starts at the channel's bias when the
/// bias initialises it. Complements the static proof: it exercises the accumulator itself, partial
/// sums included.

#include "a2q/core/assert.hpp"
#include "a2q/engine/reference_kernels.hpp"
#include "a2q/nn/integer_layer.hpp"

#include <vector>

namespace a2q::engine {

struct AdversarialResult {
  std::int64_t channels = 0;             ///< channels tried (two inputs each)
  std::int64_t overflowing_channels = 0; ///< channels where some partial sum left the P-bit range
  std::int64_t overflow_events = 0;      ///< partial sums out of range, over all runs
};

/// Runs each channel's two worst-case inputs through a P-bit accumulator (count policy).
inline AdversarialResult adversarial_check(const nn::IntegerLayer& layer, int P) {
  AdversarialResult result;
  const InputRange range = layer.input_range();
  std::vector<std::int32_t> x(static_cast<std::size_t>(layer.fan_in));
  for (std::int64_t c = 0; c < layer.out_channels; ++c) {
    const auto q = layer.channel(c);
    const std::int64_t start = layer.accumulator_start(c);
    const AccumulatorRange exact = worst_case_accumulator(q, range, start);
    bool overflowed = false;
    for (const bool towards_max : {true, false}) {
      for (std::size_t i = 0; i < q.size(); ++i) {
        const bool high = (q[i] > 0) == towards_max;
        x[i] = q[i] == 0 ? 0 : static_cast<std::int32_t>(high ? range.hi : range.lo);
      }
      Accumulator acc(P, OverflowPolicy::count, {.layer = layer.name, .channel = c});
      acc.reset(start);
      dot_product(q, x, acc);
      // The constructed input reaches the exact worst case: the static bound is tight.
      A2Q_ASSERT(acc.exact_sum() == (towards_max ? exact.hi : exact.lo));
      result.overflow_events += acc.overflow_events();
      overflowed = overflowed || acc.overflow_events() > 0;
    }
    ++result.channels;
    result.overflowing_channels += overflowed;
  }
  return result;
}

} // namespace a2q::engine
