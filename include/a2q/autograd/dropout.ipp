#pragma once
/// @file
/// Definitions for dropout.hpp (see a2q/core/config.hpp).

#include "a2q/autograd/dropout.hpp"

#include "a2q/autograd/variable.hpp"
#include "a2q/core/eigen_view.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/parallel.hpp"
#include "a2q/core/rng.hpp"
#include "a2q/core/tensor.hpp"

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

namespace a2q {

Var dropout(const Var& x, float p, bool training, Rng& rng) {
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
  as_vector(out) = as_vector(x.value()).cwiseProduct(as_vector(mask));
  return detail::make_result(std::move(out), {x}, "dropout", [mask = std::move(mask)](detail::Node& self) {
    Tensor<float> dx = Tensor<float>::uninitialized(mask.shape());
    as_vector(dx) = as_vector(self.grad).cwiseProduct(as_vector(mask));
    detail::accumulate_grad(self, 0, std::move(dx));
  });
}

} // namespace a2q
