#pragma once
/// @file
/// Which library runs the float products of training: Eigen (always there, the reference) or oneDNN
/// (optional: builds with A2Q_WITH_ONEDNN, which the CMake option A2Q_ONEDNN defines when Debian's
/// libdnnl-dev is found). oneDNN chooses its kernels for the CPU it runs on (JIT), so a program built
/// without -march=native still gets AVX-512 there; Eigen's kernels are fixed when the program is compiled.
/// oneDNN runs ungrouped convolutions (onednn_conv.hpp) and the matrix products of linear and matmul
/// (gemm.hpp). Tests compare both backends.

#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"

#include <atomic>
#include <cstdlib>
#include <string>

namespace a2q {

enum class FloatBackend {
  eigen,  ///< im2col + Eigen's GEMM: the reference
  onednn, ///< oneDNN's convolution primitives and sgemm
};

/// Whether this build has the oneDNN backend.
#if defined(A2Q_WITH_ONEDNN)
inline constexpr bool onednn_available = true;
#else
inline constexpr bool onednn_available = false;
#endif

namespace detail {

/// The default: A2Q_FLOAT_BACKEND from the environment ("eigen" or "onednn") if set, else oneDNN when
/// available. A value this build cannot honour is refused.
inline FloatBackend default_float_backend() {
  const char* value = std::getenv("A2Q_FLOAT_BACKEND");
  if (value == nullptr || *value == '\0')
    return onednn_available ? FloatBackend::onednn : FloatBackend::eigen;
  const std::string name(value);
  if (name == "eigen")
    return FloatBackend::eigen;
  if (name == "onednn" && onednn_available)
    return FloatBackend::onednn;
  throw config_error("A2Q_FLOAT_BACKEND must be 'eigen'" +
                     std::string(onednn_available ? " or 'onednn'" : "") + " in this build, got '" + name +
                     "'");
}

inline std::atomic<FloatBackend>& float_backend_flag() {
  static std::atomic<FloatBackend> backend{default_float_backend()};
  return backend;
}

} // namespace detail

/// Selects the backend for the whole process (default: A2Q_FLOAT_BACKEND, else oneDNN when available).
/// @throws config_error when asked for oneDNN in a build without it
inline void set_float_backend(FloatBackend backend) {
  if (backend == FloatBackend::onednn && !onednn_available)
    throw config_error("the oneDNN backend is not in this build (install libdnnl-dev and configure with "
                       "-DA2Q_ONEDNN=ON or AUTO)");
  detail::float_backend_flag().store(backend);
}

/// The backend in effect.
inline FloatBackend float_backend() {
  return detail::float_backend_flag().load();
}

} // namespace a2q
