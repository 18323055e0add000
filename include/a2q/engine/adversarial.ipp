#pragma once
/// @file
/// Definitions for adversarial.hpp (see a2q/core/config.hpp).

#include "a2q/engine/adversarial.hpp"

#include "a2q/core/assert.hpp"
#include "a2q/engine/reference_kernels.hpp"
#include "a2q/nn/integer_layer.hpp"

#include <vector>

namespace a2q::engine {

AdversarialResult adversarial_check(const nn::IntegerLayer& layer, int P) {
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
      // The same input is the worst case of every tile as well, so one run checks every register.
      std::int64_t events = 0;
      if (layer.tiled()) {
        TiledAccumulator acc(layer.inner_bits, P, layer.tile, OverflowPolicy::count);
        acc.reset(start);
        dot_product(q, x, acc, {.layer = layer.name, .channel = c});
        A2Q_ASSERT(acc.exact_sum() == (towards_max ? exact.hi : exact.lo));
        events = acc.overflow_events();
      } else {
        Accumulator acc(P, OverflowPolicy::count, {.layer = layer.name, .channel = c});
        acc.reset(start);
        dot_product(q, x, acc);
        // The constructed input reaches the exact worst case: the static bound is tight.
        A2Q_ASSERT(acc.exact_sum() == (towards_max ? exact.hi : exact.lo));
        events = acc.overflow_events();
      }
      result.overflow_events += events;
      overflowed = overflowed || events > 0;
    }
    ++result.channels;
    result.overflowing_channels += overflowed;
  }
  return result;
}

} // namespace a2q::engine
