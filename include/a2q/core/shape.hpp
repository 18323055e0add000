#pragma once
/// @file
/// a2q::Shape: the dimensions of a tensor, rank 0 (a scalar) up to a2q::max_rank.

#include "a2q/core/error.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

namespace a2q {

/// Highest tensor rank supported (N, C, D, H, W).
inline constexpr int max_rank = 5;

/// Fixed-capacity list of non-negative dimensions. Row-major: the last dimension is contiguous.
class Shape {
public:
  /// Rank-0 shape: a scalar with one element.
  constexpr Shape() = default;
  constexpr Shape(std::initializer_list<std::int64_t> dims) { assign(dims.begin(), dims.size()); }
  explicit constexpr Shape(std::span<const std::int64_t> dims) { assign(dims.data(), dims.size()); }

  constexpr int rank() const { return rank_; }

  /// Dimension `axis`; negative axes count from the end (-1 is the last).
  constexpr std::int64_t operator[](int axis) const {
    return dims_[static_cast<std::size_t>(normalize(axis))];
  }

  /// Product of the dimensions (1 for a scalar).
  constexpr std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i)
      n *= dims_[static_cast<std::size_t>(i)];
    return n;
  }

  constexpr std::span<const std::int64_t> dims() const {
    return {dims_.data(), static_cast<std::size_t>(rank_)};
  }
  constexpr const std::int64_t* begin() const { return dims_.data(); }
  constexpr const std::int64_t* end() const { return dims_.data() + rank_; }

  /// Turns a possibly negative axis into 0..rank-1, or throws shape_error.
  constexpr int normalize(int axis) const {
    const int resolved = axis < 0 ? axis + rank_ : axis;
    if (resolved < 0 || resolved >= rank_)
      throw shape_error("axis " + std::to_string(axis) + " is out of range for shape " + to_string());
    return resolved;
  }

  friend constexpr bool operator==(const Shape& a, const Shape& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

  /// "[2, 3, 4]"
  std::string to_string() const {
    std::string out = "[";
    for (int i = 0; i < rank_; ++i) {
      if (i > 0)
        out += ", ";
      out += std::to_string(dims_[static_cast<std::size_t>(i)]);
    }
    return out + "]";
  }

private:
  constexpr void assign(const std::int64_t* dims, std::size_t count) {
    if (count > static_cast<std::size_t>(max_rank))
      throw shape_error("rank " + std::to_string(count) + " exceeds the maximum rank " +
                        std::to_string(max_rank));
    // Guard the element count as well, so numel() can never overflow int64.
    constexpr std::int64_t max_elements = std::int64_t{1} << 48;
    std::int64_t n = 1;
    for (std::size_t i = 0; i < count; ++i) {
      if (dims[i] < 0)
        throw shape_error("dimension " + std::to_string(i) + " is negative (" + std::to_string(dims[i]) +
                          ")");
      if (dims[i] > 0 && n > max_elements / dims[i])
        throw shape_error("shape has more than 2^48 elements");
      n *= dims[i];
      dims_[i] = dims[i];
    }
    rank_ = static_cast<int>(count);
  }

  std::array<std::int64_t, max_rank> dims_{};
  int rank_ = 0;
};

} // namespace a2q
