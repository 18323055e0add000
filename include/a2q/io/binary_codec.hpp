#pragma once
/// @file
/// Little-endian binary encoding shared by a2q's file formats (tensor archives, model files): a stream
/// encoder that keeps a running CRC-32, and a bounds-checked decoder over bytes in memory whose every
/// error names where it happened. Internal: everything here is in a2q::io::detail.
///
/// Integers are little-endian two's complement; floats are IEEE-754 binary32, little-endian; strings are
/// a u32 byte count followed by the bytes; a shape is a u32 rank followed by rank x u64 dimensions.

#include "a2q/core/error.hpp"
#include "a2q/core/shape.hpp"
#include "a2q/io/crc32.hpp"

#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace a2q::io::detail {

/// Shape's element limit: dimensions are checked against it while being multiplied.
inline constexpr std::uint64_t shape_max_elements = std::uint64_t{1} << 48;

inline std::uint32_t load_u32_le(const unsigned char* p) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(p[i]) << (8 * i);
  return v;
}

inline std::uint64_t load_u64_le(const unsigned char* p) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i)
    v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return v;
}

/// "0x0123abcd": checksums in error messages.
inline std::string hex32(std::uint32_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s = "0x00000000";
  for (std::size_t i = 0; i < 8; ++i)
    s[9 - i] = digits[(v >> (4 * i)) & 0xFU];
  return s;
}

/// Element types stored as raw little-endian arrays.
template <class T>
concept LittleEndianElement = std::same_as<T, float> || std::same_as<T, std::int32_t> ||
    std::same_as<T, std::int64_t> || std::same_as<T, std::uint32_t> || std::same_as<T, std::uint64_t>;

/// The unsigned integer with T's bits (floats travel as their bit patterns).
template <LittleEndianElement T>
using UnsignedBits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;

/// Serialises little-endian values to a stream while keeping the running CRC of everything written.
class ByteEncoder {
public:
  explicit ByteEncoder(std::ostream& out) : out_(out) {}

  void bytes(const void* data, std::size_t size) {
    crc_.update(data, size);
    written_ += size;
    out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  void u32(std::uint32_t v) { little_endian(v); }
  void u64(std::uint64_t v) { little_endian(v); }
  void f32(float v) { little_endian(std::bit_cast<std::uint32_t>(v)); }
  void string(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  void shape(const Shape& shape) {
    u32(static_cast<std::uint32_t>(shape.rank()));
    for (const std::int64_t d : shape.dims())
      u64(static_cast<std::uint64_t>(d));
  }
  /// The elements of `values`, each little-endian, without a count.
  template <LittleEndianElement T>
  void array(std::span<const T> values) {
    if constexpr (std::endian::native == std::endian::little) {
      bytes(values.data(), values.size_bytes());
    } else {
      for (const T v : values)
        little_endian(std::bit_cast<UnsignedBits<T>>(v));
    }
  }
  void floats(std::span<const float> values) { array(values); }
  std::uint32_t crc() const { return crc_.value(); }
  /// Bytes written so far (what the stream was given, whether or not it failed).
  std::uint64_t written() const { return written_; }

private:
  template <class U>
  void little_endian(U v) {
    std::array<unsigned char, sizeof(U)> b{};
    for (std::size_t i = 0; i < sizeof(U); ++i)
      b[i] = static_cast<unsigned char>(v >> (8 * i));
    bytes(b.data(), b.size());
  }

  std::ostream& out_;
  Crc32 crc_;
  std::uint64_t written_ = 0;
};

/// Reads little-endian fields from bytes in memory. Every read is bounds-checked, and every error is an
/// io_error "<where><absolute byte offset>: <what>", so a message always says where the problem is.
class ByteDecoder {
public:
  /// @param data the bytes to decode (they must outlive the decoder).
  /// @param where the start of every error message, completed by the absolute offset, e.g.
  ///   "model.a2q: section PARM at byte ".
  /// @param base_offset the absolute file offset of data[0].
  ByteDecoder(std::span<const unsigned char> data, std::string where, std::uint64_t base_offset)
      : data_(data), where_(std::move(where)), base_(base_offset) {}

  /// Position in `data`, and the absolute file offset of that position.
  std::uint64_t pos() const { return pos_; }
  std::uint64_t offset() const { return base_ + pos_; }
  std::uint64_t remaining() const { return data_.size() - pos_; }

  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(std::uint64_t pos, const std::string& what) const {
    throw io_error(where_ + std::to_string(base_ + pos) + ": " + what);
  }

  void need(std::uint64_t n, const std::string& what) const {
    if (n > remaining())
      fail("expected " + what + " (" + std::to_string(n) + " bytes), but only " +
           std::to_string(remaining()) + " bytes of payload remain");
  }
  std::uint32_t u32(const std::string& what) {
    need(4, what);
    const std::uint32_t v = load_u32_le(data_.data() + pos_);
    pos_ += 4;
    return v;
  }
  std::uint64_t u64(const std::string& what) {
    need(8, what);
    const std::uint64_t v = load_u64_le(data_.data() + pos_);
    pos_ += 8;
    return v;
  }
  float f32(const std::string& what) { return std::bit_cast<float>(u32(what)); }

  /// A length-prefixed string of 1..max_bytes bytes (0..max_bytes with allow_empty).
  std::string string(const std::string& what, std::uint32_t max_bytes, bool allow_empty) {
    const std::uint64_t at = pos_;
    const std::uint32_t n = u32("the length of " + what);
    if (n > max_bytes || (n == 0 && !allow_empty))
      fail_at(at, "the length of " + what + " is " + std::to_string(n) + ", expected " +
                      (allow_empty ? "0.." : "1..") + std::to_string(max_bytes));
    need(n, what);
    std::string s(reinterpret_cast<const char*>(data_.data() + pos_), n);
    pos_ += n;
    return s;
  }

  /// A shape of rank 0..max_rank with at most 2^48 elements; `label` names its owner in errors.
  Shape shape(const std::string& label) {
    const std::uint64_t rank_at = pos_;
    const std::uint32_t rank = u32("the rank of " + label);
    if (rank > static_cast<std::uint32_t>(max_rank))
      fail_at(rank_at,
              label + " has rank " + std::to_string(rank) + ", expected 0.." + std::to_string(max_rank));
    std::array<std::int64_t, max_rank> dims{};
    std::uint64_t numel = 1;
    const std::uint64_t dims_at = pos_;
    for (std::uint32_t d = 0; d < rank; ++d) {
      const std::uint64_t dim = u64("dimension " + std::to_string(d) + " of " + label);
      // Checked as we multiply, so the product cannot overflow.
      if (dim > shape_max_elements || (dim != 0 && numel > shape_max_elements / dim))
        fail_at(dims_at + 8 * d, label + ": dimension " + std::to_string(d) + " is " + std::to_string(dim) +
                                     ", which makes more than 2^48 elements");
      numel *= dim;
      dims[d] = static_cast<std::int64_t>(dim);
    }
    return Shape(std::span<const std::int64_t>(dims.data(), rank));
  }

  /// `count` little-endian elements into `out`. Callers check the count against remaining() first, to
  /// report it in their own words before allocating `out`; this re-check only guards memory safety.
  template <LittleEndianElement T>
  void array(T* out, std::uint64_t count, const std::string& what) {
    if (count > remaining() / sizeof(T))
      fail("expected " + what + " (" + std::to_string(count) + " elements of " + std::to_string(sizeof(T)) +
           " bytes), but only " + std::to_string(remaining()) + " bytes of payload remain");
    if (count == 0)
      return;
    const unsigned char* src = data_.data() + pos_;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(out, src, static_cast<std::size_t>(count * sizeof(T)));
    } else {
      for (std::uint64_t i = 0; i < count; ++i) {
        UnsignedBits<T> bits = 0;
        for (std::size_t b = 0; b < sizeof(T); ++b)
          bits |= static_cast<UnsignedBits<T>>(src[sizeof(T) * i + b]) << (8 * b);
        out[i] = std::bit_cast<T>(bits);
      }
    }
    pos_ += count * sizeof(T);
  }
  void floats(float* out, std::uint64_t count) { array(out, count, "float data"); }

private:
  std::span<const unsigned char> data_;
  std::string where_;
  std::uint64_t base_;
  std::uint64_t pos_ = 0;
};

} // namespace a2q::io::detail
