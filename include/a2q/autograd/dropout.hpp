#pragma once
/// @file
/// Inverted dropout: in training, each element is zeroed with probability p and the survivors are
/// scaled by 1 / (1 - p), so the expected value is unchanged and evaluation needs no rescaling.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"
#include "a2q/core/rng.hpp"

#include <cstdint>

namespace a2q {

namespace detail {

/// splitmix64's output function: a bijective avalanche mix. Applied to a counter it gives a stream of
/// independent-looking 64-bit words that can be computed in any order (and so in parallel).
constexpr std::uint64_t splitmix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

} // namespace detail

/// Inverted dropout. Returns `x` itself (no copy, no new graph node, no random draws) when not training
/// or when p == 0. Otherwise draws one 64-bit number from `rng` and derives the mask from it with a
/// counter-based hash (32 random bits per element, two elements per splitmix64 word): reproducible from
/// the seed, independent of the thread count, and fast enough not to matter next to a layer.
/// @param p probability of zeroing an element, in [0, 1)
/// @param training whether dropout is active
/// @param rng the source of the mask
/// @throws config_error for p outside [0, 1)
A2Q_DECL Var dropout(const Var& x, float p, bool training, Rng& rng);

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/autograd/dropout.ipp"
#endif
