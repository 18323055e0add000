#pragma once
/// @file
/// Inverted dropout: in training, each element is zeroed with probability p and the survivors are
/// scaled by 1 / (1 - p), so the expected value is unchanged and evaluation needs no rescaling.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/parallel.hpp"
#include "a2q/core/rng.hpp"
#include "a2q/core/tensor.hpp"

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

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
inline Var dropout(const Var& x, float p, bool training, Rng& rng) {
  if (!(p >= 0.0f && p < 1.0f))
    throw config_error("dropout: p must be in [0, 1), got " + std::to_string(p));
  if (!training || p == 0.0f)
    return x;
  const float keep_scale = 1.0f / (1.0f - p);
  // An element is dropped when its 32 random bits, read as an integer, are below p * 2^32.
  const auto threshold = static_cast<std::uint64_t>(std::ldexp(static_cast<double>(p), 32));
  const std::uint64_t stream = rng();
  // The mask holds the factor of each element (0 or keep_scale); the backward pass reuses it.
  Tensor<float> mask = Tensor<float>::uninitialized(x.shape());
  const std::int64_t n = mask.numel();
  float* m = mask.data();
  auto word = [stream](std::int64_t i) {
    return detail::splitmix64(stream + static_cast<std::uint64_t>(i + 1) * 0x9e3779b97f4a7c15ULL);
  };
  // keep * (bits >= threshold) rather than a conditional: the compiler would branch, and with p = 0.5
  // half of the branches mispredict.
  auto factor = [threshold, keep_scale](std::uint64_t bits32) {
    return keep_scale * static_cast<float>(bits32 >= threshold);
  };
  const std::int64_t pairs = n / 2;
  // Threads only for enough work (~10 microseconds): a parallel region costs more than a tiny loop.
  [[maybe_unused]] const bool threaded = n >= 32768;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (threaded)
#endif
  for (std::int64_t i = 0; i < pairs; ++i) {
    const std::uint64_t bits = word(i);
    m[2 * i] = factor(bits & 0xffffffffULL);
    m[2 * i + 1] = factor(bits >> 32);
  }
  if (n % 2 != 0)
    m[n - 1] = factor(word(pairs) & 0xffffffffULL);
  Tensor<float> out = Tensor<float>::uninitialized(x.shape());
  out.vector() = x.value().vector().cwiseProduct(mask.vector());
  return detail::make_result(std::move(out), {x}, "dropout", [mask = std::move(mask)](detail::Node& self) {
    Tensor<float> dx = Tensor<float>::uninitialized(mask.shape());
    dx.vector() = self.grad.vector().cwiseProduct(mask.vector());
    detail::accumulate_grad(self, 0, std::move(dx));
  });
}

} // namespace a2q
