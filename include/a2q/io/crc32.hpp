#pragma once
/// @file
/// a2q::io::crc32: table-driven CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum of
/// zlib's crc32(), gzip and PNG. Our own so that file formats do not depend on zlib; constexpr, so the
/// table is built at compile time and never written.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace a2q::io {

namespace detail {

/// The 256-entry lookup table of the reflected IEEE polynomial.
constexpr std::array<std::uint32_t, 256> make_crc32_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit)
      c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}

inline constexpr std::array<std::uint32_t, 256> crc32_table = make_crc32_table();

} // namespace detail

/// CRC-32 of `size` bytes at `data`, continuing from `crc` (the CRC of the bytes before them; 0 to
/// start). Chains like zlib's crc32(): crc32(b, crc32(a)) == crc32(a followed by b).
inline std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc = 0) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
  for (std::size_t i = 0; i < size; ++i)
    c = detail::crc32_table[(c ^ bytes[i]) & 0xFFU] ^ (c >> 8);
  return ~c;
}

/// CRC-32 of `bytes`, continuing from `crc`.
inline std::uint32_t crc32(std::span<const std::byte> bytes, std::uint32_t crc = 0) {
  return crc32(bytes.data(), bytes.size(), crc);
}

/// CRC-32 of the characters of `text`, continuing from `crc`; usable in constant expressions
/// (static_assert(crc32("123456789") == 0xCBF43926)).
constexpr std::uint32_t crc32(std::string_view text, std::uint32_t crc = 0) {
  std::uint32_t c = ~crc;
  for (const char ch : text)
    c = detail::crc32_table[(c ^ static_cast<unsigned char>(ch)) & 0xFFU] ^ (c >> 8);
  return ~c;
}

/// Incremental CRC-32 over data that arrives in pieces.
class Crc32 {
public:
  /// Adds `size` bytes at `data`.
  void update(const void* data, std::size_t size) { value_ = crc32(data, size, value_); }
  void update(std::span<const std::byte> bytes) { value_ = crc32(bytes, value_); }
  /// CRC-32 of everything added so far (0 for nothing).
  std::uint32_t value() const { return value_; }

private:
  std::uint32_t value_ = 0;
};

} // namespace a2q::io
