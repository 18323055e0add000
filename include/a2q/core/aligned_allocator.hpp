#pragma once
/// @file
/// Allocator for tensor storage: 64-byte aligned (one cache line, one AVX-512 register) and
/// default-initialising, so that a buffer about to be overwritten is not zeroed first. A
/// TensorAllocationLimit guard caps the size of each allocation on its thread, so that running a network
/// described by an untrusted file fails with a clear error instead of exhausting memory.

#include "a2q/core/error.hpp"

#include <cstddef>
#include <new>
#include <string>
#include <type_traits>

namespace a2q::detail {

/// The largest tensor allocation in bytes allowed on this thread (0: no limit).
inline std::size_t& tensor_allocation_limit() {
  thread_local std::size_t limit = 0;
  return limit;
}

/// Caps each tensor allocation on this thread at `bytes` for its lifetime (an allocation above it throws
/// config_error); restores the previous limit.
class TensorAllocationLimit {
public:
  explicit TensorAllocationLimit(std::size_t bytes) : previous_(tensor_allocation_limit()) {
    tensor_allocation_limit() = bytes;
  }
  ~TensorAllocationLimit() { tensor_allocation_limit() = previous_; }
  TensorAllocationLimit(const TensorAllocationLimit&) = delete;
  TensorAllocationLimit& operator=(const TensorAllocationLimit&) = delete;

private:
  std::size_t previous_;
};

template <class T, std::size_t Alignment = 64>
struct AlignedAllocator {
  static_assert(Alignment >= alignof(T) && (Alignment & (Alignment - 1)) == 0,
                "alignment must be a power of two no smaller than the type's");
  using value_type = T;
  template <class U>
  struct rebind {
    using other = AlignedAllocator<U, Alignment>;
  };

  AlignedAllocator() noexcept = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U, Alignment>&) noexcept {}

  T* allocate(std::size_t n) {
    if (const std::size_t limit = tensor_allocation_limit(); limit != 0 && n > limit / sizeof(T))
      throw config_error("a tensor of " + std::to_string(n) + " values (" + std::to_string(n * sizeof(T)) +
                         " bytes) exceeds the " + std::to_string(limit) + "-byte limit in force");
    return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{Alignment}));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete (p, std::align_val_t{Alignment}); }

  /// Value-less construction default-initialises (no zeroing for arithmetic types).
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(static_cast<Args&&>(args)...);
  }

  template <class U>
  friend bool operator==(const AlignedAllocator&, const AlignedAllocator<U, Alignment>&) noexcept {
    return true;
  }
};

} // namespace a2q::detail
