#pragma once
/// @file
/// Slices of a few images of a batch, for operations that keep one slice's intermediate results in the
/// cache (conv2d_relu_max_pool2d): how many images a slice holds, and a loop over the slices on threads.

#include "a2q/autograd/conv_plan.hpp"
#include "a2q/core/parallel.hpp"

#include <algorithm>
#include <cstdint>

namespace a2q::detail {

/// Images per slice: as many as keep one slice's convolution output within 256 KiB, half of a Zen 3 core's
/// L2 (the slice's input and the pooled output share the rest): 5 images on the CNN's first layer, 10 on
/// its second. There, on one Zen 3 core, convolution + ReLU + pooling forward and backward per batch of 128
/// took 4.0 ms fused against 4.7 unfused on the first layer (direct loops); on the second (Winograd) 9.8
/// against 10.1 ms once Winograd kept its scratch between calls (before, zeroing it on each slice's call
/// cancelled the gain). Budgets of 128 KiB to 1 MiB measured the same within noise.
inline std::int64_t conv_pool_slice_images(const Conv2dPlan& p) {
  constexpr std::int64_t budget_floats = 256 * 1024 / sizeof(float);
  return std::clamp<std::int64_t>(budget_floats / std::max<std::int64_t>(p.out_size(), 1), 1,
                                  std::max<std::int64_t>(p.batch, 1));
}

/// Runs body(thread, begin, end) for slices [begin, end) of at most `slice` images that cover [0, batch).
/// Each thread takes an equal share of the batch (to one image) and cuts it into slices of equal size (to
/// one image), so that no thread waits for another's extra slice; the kernels that body calls run on that
/// one thread (a2q's loops, Eigen's and oneDNN's products alike).
template <class Body>
void for_each_slice(std::int64_t batch, std::int64_t slice, Body&& body) {
  const auto run = [&](int thread, std::int64_t begin, std::int64_t end) {
    const std::int64_t count = (end - begin + slice - 1) / slice;
    for (std::int64_t s = 0; s < count; ++s)
      body(thread, begin + (end - begin) * s / count, begin + (end - begin) * (s + 1) / count);
  };
  const auto threads = static_cast<int>(std::min<std::int64_t>(num_threads(), batch));
  if (threads <= 1) {
    run(0, 0, batch);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  {
    const int thread = omp_get_thread_num();
    omp_set_num_threads(1); // this thread's nested regions only
    run(thread, batch * thread / threads, batch * (thread + 1) / threads);
  }
#endif
}

} // namespace a2q::detail
