#pragma once
/// @file
/// Thread control. a2q parallelises with OpenMP when the build enables it (-fopenmp) and runs
/// serially otherwise; A2Q_PARALLEL_FOR expands to nothing then, so no unknown-pragma warnings.

#include "a2q/core/config.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#define A2Q_PRAGMA(x) _Pragma(#x)
/// Parallel for over the loop that follows, e.g. A2Q_PARALLEL_FOR for (std::int64_t i = 0; ...)
#define A2Q_PARALLEL_FOR A2Q_PRAGMA(omp parallel for schedule(static))
#else
#define A2Q_PARALLEL_FOR
#endif

namespace a2q {

/// Number of threads a2q's parallel loops and Eigen's GEMM use.
inline int num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// The calling thread's index in its parallel region, 0 <= index < num_threads() of the code that opened
/// the region (0 outside of one).
inline int current_thread() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/// Sets the thread count for a2q's loops and Eigen's GEMM (1 = single-threaded).
A2Q_DECL void set_num_threads(int n);

/// Applies A2Q_NUM_THREADS from the environment if set; returns the thread count in effect.
A2Q_DECL int threads_from_environment();

/// Runs body(begin, end) on contiguous blocks covering [0, n), one per thread, when each thread gets at
/// least 2^16 elements (element-wise passes over activations); in one call otherwise. Splitting the same
/// way in the forward and backward passes also keeps each block in the cache of the core that wrote it.
template <class Body>
void for_each_block(std::int64_t n, Body&& body) {
  constexpr std::int64_t min_per_thread = std::int64_t{1} << 16;
  const std::int64_t blocks =
      std::max<std::int64_t>(1, std::min<std::int64_t>(num_threads(), n / min_per_thread));
  if (blocks == 1) {
    body(std::int64_t{0}, n);
    return;
  }
  A2Q_PARALLEL_FOR
  for (std::int64_t b = 0; b < blocks; ++b)
    body(n * b / blocks, n * (b + 1) / blocks);
}

/// Keeps freed tensor buffers in the process instead of returning them to the OS. Training allocates
/// and frees the same large activation buffers every step; glibc serves blocks above 128 KiB with a
/// fresh mmap each time, so every step pays page faults on first touch (measured: batch-norm
/// forward+backward 31 ms -> 8 ms, a conv layer 15.5 ms -> 12.2 ms). Process-wide, so a program opts in
/// (the examples and benchmarks do); a no-op outside glibc.
inline void keep_freed_memory_for_reuse() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/core/parallel.ipp"
#endif
