#pragma once
/// @file
/// a2q::Tensor<T>: a dense, contiguous, row-major array of rank 0..5 that owns its elements.
/// Float tensors carry training; integer tensors carry quantised weights and the integer engine.
/// Eigen views of a tensor are in a2q/core/eigen_view.hpp, so that this header does not need Eigen.

#include "a2q/core/aligned_allocator.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/rng.hpp"
#include "a2q/core/shape.hpp"

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace a2q {

/// Element types a Tensor may hold.
template <class T>
concept TensorElement = std::same_as<T, float> || std::same_as<T, double> || std::same_as<T, std::int8_t> ||
    std::same_as<T, std::uint8_t> || std::same_as<T, std::int16_t> || std::same_as<T, std::int32_t> ||
    std::same_as<T, std::int64_t>;

/// Owning dense tensor.
/// @tparam T element type: float, double, or a signed/unsigned integer type (see TensorElement).
template <TensorElement T>
class Tensor {
public:
  using value_type = T;
  using Storage = std::vector<T, detail::AlignedAllocator<T>>;

  /// Empty tensor of shape [0].
  Tensor() : shape_{0} {}
  /// Zero-filled tensor of the given shape.
  explicit Tensor(const Shape& shape) : shape_(shape), data_(static_cast<std::size_t>(shape.numel()), T{}) {}
  /// Tensor of the given shape with every element equal to `value`.
  Tensor(const Shape& shape, T value)
      : shape_(shape), data_(static_cast<std::size_t>(shape.numel()), value) {}
  /// Tensor of the given shape holding `values` in row-major order; their count must match.
  Tensor(const Shape& shape, std::initializer_list<T> values) : Tensor(shape, std::span<const T>(values)) {}
  Tensor(const Shape& shape, std::span<const T> values) : shape_(shape), data_(values.begin(), values.end()) {
    if (static_cast<std::int64_t>(values.size()) != shape.numel())
      throw shape_error("shape " + shape.to_string() + " holds " + std::to_string(shape.numel()) +
                        " elements, " + std::to_string(values.size()) + " values given");
  }

  /// Tensor whose elements are left unset (cheap; for outputs that are overwritten in full).
  static Tensor uninitialized(const Shape& shape) {
    Tensor t(detail_tag{}, shape);
    t.data_.resize(static_cast<std::size_t>(shape.numel()));
    return t;
  }
  static Tensor zeros(const Shape& shape) { return Tensor(shape); }
  static Tensor full(const Shape& shape, T value) { return Tensor(shape, value); }

  /// Elements drawn uniformly from [lo, hi) (floating point) or [lo, hi] (integers), in row-major order.
  static Tensor uniform(const Shape& shape, T lo, T hi, Rng& rng) {
    Tensor t = uninitialized(shape);
    for (T& x : t.data_) {
      if constexpr (std::is_floating_point_v<T>)
        x = static_cast<T>(rng.uniform(static_cast<double>(lo), static_cast<double>(hi)));
      else
        x = static_cast<T>(rng.uniform_int(lo, hi));
    }
    return t;
  }

  /// Elements drawn from a normal distribution, in row-major order.
  static Tensor normal(const Shape& shape, double mean, double stddev,
                       Rng& rng) requires std::is_floating_point_v<T> {
    Tensor t = uninitialized(shape);
    for (T& x : t.data_)
      x = static_cast<T>(rng.normal(mean, stddev));
    return t;
  }

  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  /// Dimension `axis` (negative counts from the end).
  std::int64_t dim(int axis) const { return shape_[axis]; }
  std::int64_t numel() const { return static_cast<std::int64_t>(data_.size()); }
  bool empty() const { return data_.empty(); }

  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }
  std::span<T> span() { return {data_.data(), data_.size()}; }
  std::span<const T> span() const { return {data_.data(), data_.size()}; }
  T* begin() { return data_.data(); }
  T* end() { return data_.data() + data_.size(); }
  const T* begin() const { return data_.data(); }
  const T* end() const { return data_.data() + data_.size(); }

  /// Flat element access, unchecked: the hot path.
  T& operator[](std::int64_t i) { return data_[static_cast<std::size_t>(i)]; }
  const T& operator[](std::int64_t i) const { return data_[static_cast<std::size_t>(i)]; }

  /// Multi-index access, unchecked (one index per dimension).
  template <std::integral... I>
  T& operator()(I... index) {
    return data_[static_cast<std::size_t>(offset_unchecked(index...))];
  }
  template <std::integral... I>
  const T& operator()(I... index) const {
    return data_[static_cast<std::size_t>(offset_unchecked(index...))];
  }

  /// Multi-index access with rank and bounds checks; throws shape_error.
  template <std::integral... I>
  T& at(I... index) {
    return data_[static_cast<std::size_t>(offset_checked({static_cast<std::int64_t>(index)...}))];
  }
  template <std::integral... I>
  const T& at(I... index) const {
    return data_[static_cast<std::size_t>(offset_checked({static_cast<std::int64_t>(index)...}))];
  }

  void fill(T value) { std::fill(data_.begin(), data_.end(), value); }

  /// Changes the shape in place; the element count must stay the same.
  void reshape(const Shape& shape) {
    if (shape.numel() != numel())
      throw shape_error("cannot reshape " + shape_.to_string() + " (" + std::to_string(numel()) +
                        " elements) to " + shape.to_string());
    shape_ = shape;
  }
  Tensor reshaped(const Shape& shape) const& {
    Tensor t = *this;
    t.reshape(shape);
    return t;
  }
  Tensor reshaped(const Shape& shape) && {
    reshape(shape);
    return std::move(*this);
  }

  /// Element-wise static_cast to another element type.
  template <TensorElement U>
  Tensor<U> cast() const {
    Tensor<U> out = Tensor<U>::uninitialized(shape_);
    std::transform(begin(), end(), out.begin(), [](T x) { return static_cast<U>(x); });
    return out;
  }

  friend bool operator==(const Tensor& a, const Tensor& b) {
    return a.shape_ == b.shape_ && std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

private:
  struct detail_tag {};
  Tensor(detail_tag, const Shape& shape) : shape_(shape) {}

  template <class... I>
  std::int64_t offset_unchecked(I... index) const {
    const std::int64_t* extent = shape_.begin();
    std::int64_t offset = 0;
    ((offset = offset * *extent++ + static_cast<std::int64_t>(index)), ...);
    return offset;
  }

  std::int64_t offset_checked(std::initializer_list<std::int64_t> index) const {
    if (static_cast<int>(index.size()) != rank())
      throw shape_error(std::to_string(index.size()) + " indices given for a tensor of shape " +
                        shape_.to_string());
    std::int64_t offset = 0;
    int axis = 0;
    for (std::int64_t i : index) {
      const std::int64_t extent = shape_[axis];
      if (i < 0 || i >= extent)
        throw shape_error("index " + std::to_string(i) + " is out of range [0, " + std::to_string(extent) +
                          ") on axis " + std::to_string(axis) + " of shape " + shape_.to_string());
      offset = offset * extent + i;
      ++axis;
    }
    return offset;
  }

  Shape shape_;
  Storage data_;
};

/// Entries [first, first + count) along the first axis (e.g. a batch of a data set), as a new tensor.
/// @throws shape_error for a scalar or a range outside the first axis
template <class T>
Tensor<T> leading_rows(const Tensor<T>& t, std::int64_t first, std::int64_t count) {
  if (t.rank() < 1 || first < 0 || count < 0 || first + count > t.dim(0))
    throw shape_error("leading_rows: rows [" + std::to_string(first) + ", " + std::to_string(first + count) +
                      ") of a tensor of shape " + t.shape().to_string());
  std::vector<std::int64_t> dims(t.shape().begin(), t.shape().end());
  dims[0] = count;
  Tensor<T> out = Tensor<T>::uninitialized(Shape(std::span<const std::int64_t>(dims)));
  const std::int64_t row = t.dim(0) > 0 ? t.numel() / t.dim(0) : 0;
  std::copy(t.data() + first * row, t.data() + (first + count) * row, out.data());
  return out;
}

} // namespace a2q
