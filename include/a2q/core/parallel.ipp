#pragma once
/// @file
/// Definitions for parallel.hpp (see a2q/core/config.hpp).

#include "a2q/core/error.hpp"

#include "a2q/core/parallel.hpp"

#include <Eigen/Core>
#include <cstdlib>
#include <string>

namespace a2q {

void set_num_threads(int n) {
  if (n < 1)
    throw config_error("thread count must be >= 1, got " + std::to_string(n));
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
  Eigen::setNbThreads(n);
}

int threads_from_environment() {
  if (const char* value = std::getenv("A2Q_NUM_THREADS"); value != nullptr && *value != '\0') {
    char* end = nullptr;
    const long n = std::strtol(value, &end, 10);
    if (*end != '\0' || n < 1 || n > 1024)
      throw config_error(std::string("A2Q_NUM_THREADS must be a positive integer, got '") + value + "'");
    set_num_threads(static_cast<int>(n));
  }
  return num_threads();
}

} // namespace a2q
