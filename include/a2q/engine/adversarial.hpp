#pragma once
/// @file
/// Adversarial verification: for every output channel, the two inputs that drive its dot product to the
/// exact maximum and minimum (x_i at the range's top where q_i > 0 and at its bottom where q_i < 0, and
/// the reverse), run through a simulated P-bit accumulator that starts at the channel's bias when the
/// bias initialises it. Complements the static proof: it exercises the accumulator itself, partial
/// sums included.

#include "a2q/core/assert.hpp"
#include "a2q/core/config.hpp"
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
A2Q_DECL AdversarialResult adversarial_check(const nn::IntegerLayer& layer, int P);

} // namespace a2q::engine

#if A2Q_HEADER_ONLY
#include "a2q/engine/adversarial.ipp"
#endif
