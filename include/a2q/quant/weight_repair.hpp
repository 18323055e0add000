#pragma once
/// @file
/// The last step of a quantizer that guarantees a width by construction: if floating-point error (or a
/// bias rounded at a slightly different scale) leaves a channel one unit over its accumulator, the
/// largest-magnitude weights move one step toward zero until the exact worst case (bounds.hpp) fits.
/// Used by the A2Q/A2Q+ weight quantizer and by post-training quantization.

#include "a2q/quant/bounds.hpp"
#include "a2q/quant/l1_budget.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>

namespace a2q::detail {

/// Exact worst case of one channel, with `reserved` added to both ends (a bias that starts the
/// accumulator); true if it fits a P-bit register.
inline bool channel_fits(std::span<const std::int32_t> q, InputRange x, std::int64_t reserved, int P) {
  const AccumulatorRange r = worst_case_accumulator(q, x);
  const int128 limit = quant::accumulator_limit(P);
  // In 128 bits: at P = 64 a reservation near 2^63 plus the worst case can leave int64.
  return int128{r.hi} + reserved <= limit && int128{r.lo} - reserved >= -limit;
}

/// Moves the largest-magnitude weights one step toward zero until the channel fits. Only needed when
/// floating-point error in the norm lets RTZ land one unit over the budget.
inline std::int64_t repair_channel(std::span<std::int32_t> q, InputRange x, std::int64_t reserved, int P) {
  std::int64_t repairs = 0;
  while (!channel_fits(q, x, reserved, P)) {
    std::size_t largest = 0;
    for (std::size_t i = 1; i < q.size(); ++i)
      if (std::abs(q[i]) > std::abs(q[largest]))
        largest = i;
    if (q[largest] == 0)
      break; // the bias alone exceeds the register: reported by the caller's checks
    q[largest] += q[largest] > 0 ? -1 : 1;
    ++repairs;
  }
  return repairs;
}

/// repair_channel for each tile of a tiled channel (inner register from 0).
inline std::int64_t repair_tiles(std::span<std::int32_t> q, InputRange x, std::int64_t tile, int inner_bits) {
  std::int64_t repairs = 0;
  for (std::size_t begin = 0; begin < q.size(); begin += static_cast<std::size_t>(tile))
    repairs += repair_channel(q.subspan(begin, std::min(static_cast<std::size_t>(tile), q.size() - begin)), x,
                              0, inner_bits);
  return repairs;
}

} // namespace a2q::detail
