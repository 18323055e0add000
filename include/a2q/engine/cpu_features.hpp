#pragma once
/// @file
/// Which instruction set the fast integer kernels (dense_kernel.hpp, sparse_kernel.hpp) may use. The
/// library is compiled without -march flags: each ISA-specific function carries its own
/// __attribute__((target(...))), and the choice between them is made here at run time, so one binary
/// runs everywhere and still uses AVX-512 VNNI where the CPU has it.
///
/// The environment variable A2Q_KERNEL_ISA (portable, avx2 or avx512) lowers the choice, e.g. to test or
/// benchmark the slower paths on a fast machine; it can never raise it above what the CPU supports.

#include "a2q/core/error.hpp"

#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/// Defined when the x86 kernels (AVX2, AVX-512) are compiled in.
#define A2Q_X86_KERNELS 1
#endif

namespace a2q::engine {

/// Instruction-set levels of the fast kernels, in increasing order of capability.
enum class KernelIsa {
  portable,    ///< plain C++ loops, any CPU
  avx2,        ///< x86 AVX2
  avx512_vnni, ///< x86 AVX-512 F, BW, VL and VNNI (vpdpbusd)
};

/// Name of an ISA level: "portable", "avx2" or "avx512_vnni".
constexpr const char* to_string(KernelIsa isa) {
  switch (isa) {
  case KernelIsa::portable:
    return "portable";
  case KernelIsa::avx2:
    return "avx2";
  case KernelIsa::avx512_vnni:
    return "avx512_vnni";
  }
  return "unknown";
}

/// The best level this CPU (and operating system) supports; portable on non-x86 machines and compilers
/// other than GCC and Clang.
inline KernelIsa detected_isa() {
#ifdef A2Q_X86_KERNELS
  // __builtin_cpu_supports also checks that the OS saves the AVX / AVX-512 register state.
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
    return KernelIsa::avx512_vnni;
  if (__builtin_cpu_supports("avx2"))
    return KernelIsa::avx2;
#endif
  return KernelIsa::portable;
}

/// Every level from portable up to detected_isa(), in increasing order (what a test should cover).
inline std::vector<KernelIsa> supported_isas() {
  std::vector<KernelIsa> isas;
  for (int level = 0; level <= static_cast<int>(detected_isa()); ++level)
    isas.push_back(static_cast<KernelIsa>(level));
  return isas;
}

/// Parses an A2Q_KERNEL_ISA value: "portable", "avx2", "avx512" (or "avx512_vnni").
/// @throws config_error for any other value
inline KernelIsa parse_kernel_isa(std::string_view name) {
  if (name == "portable")
    return KernelIsa::portable;
  if (name == "avx2")
    return KernelIsa::avx2;
  if (name == "avx512" || name == "avx512_vnni")
    return KernelIsa::avx512_vnni;
  throw config_error("A2Q_KERNEL_ISA = '" + std::string(name) +
                     "' is not a kernel ISA: use portable, avx2 or avx512");
}

/// The level the kernels use by default: detected_isa(), or the lower level named by the environment
/// variable A2Q_KERNEL_ISA when it is set and not empty.
/// @throws config_error if A2Q_KERNEL_ISA is unknown or names a level this CPU does not support
inline KernelIsa active_isa() {
  const KernelIsa detected = detected_isa();
  const char* requested = std::getenv("A2Q_KERNEL_ISA");
  if (requested == nullptr || *requested == '\0')
    return detected;
  const KernelIsa isa = parse_kernel_isa(requested);
  if (static_cast<int>(isa) > static_cast<int>(detected))
    throw config_error("A2Q_KERNEL_ISA = '" + std::string(requested) + "' asks for " + to_string(isa) +
                       ", but this CPU supports at most " + to_string(detected));
  return isa;
}

} // namespace a2q::engine
