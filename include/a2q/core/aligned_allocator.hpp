#pragma once
/// @file
/// Allocator for tensor storage: 64-byte aligned (one cache line, one AVX-512 register) and
/// default-initialising, so that a buffer about to be overwritten is not zeroed first.

#include <cstddef>
#include <new>
#include <type_traits>

namespace a2q::detail {

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
