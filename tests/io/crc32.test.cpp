#include "a2q/io/crc32.hpp"

#include <catch2/catch.hpp>

#include <zlib.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

using a2q::io::Crc32;
using a2q::io::crc32;

// Known vectors, checked at compile time.
static_assert(crc32(std::string_view("")) == 0x00000000U);
static_assert(crc32(std::string_view("123456789")) == 0xCBF43926U);
static_assert(a2q::io::detail::crc32_table[1] == 0x77073096U);
static_assert(a2q::io::detail::crc32_table[255] == 0x2D02EF8DU);

TEST_CASE("crc32 matches the standard check values", "[io][crc32]") {
  CHECK(crc32(std::string_view("123456789")) == 0xCBF43926U);
  CHECK(crc32(std::string_view("The quick brown fox jumps over the lazy dog")) == 0x414FA339U);
  CHECK(crc32(std::string_view("a")) == 0xE8B7BE43U);
  const std::string text = "123456789";
  CHECK(crc32(text.data(), text.size()) == 0xCBF43926U);
  CHECK(crc32(nullptr, 0) == 0U);
}

TEST_CASE("crc32 agrees with zlib on random data and chains like zlib", "[io][crc32]") {
  std::mt19937 gen(1234);
  for (std::size_t size : {0, 1, 2, 3, 7, 8, 15, 16, 17, 255, 256, 1000, 4097}) {
    std::vector<unsigned char> data(size);
    for (auto& b : data)
      b = static_cast<unsigned char>(gen());
    const auto expected =
        static_cast<std::uint32_t>(::crc32(0L, data.data(), static_cast<uInt>(data.size())));
    CHECK(crc32(data.data(), data.size()) == expected);
    // Split anywhere: crc32(b, crc32(a)) == crc32(a + b).
    const std::size_t cut = size / 3;
    CHECK(crc32(data.data() + cut, size - cut, crc32(data.data(), cut)) == expected);
    Crc32 incremental;
    for (std::size_t i = 0; i < size; i += 5)
      incremental.update(data.data() + i, std::min<std::size_t>(5, size - i));
    CHECK(incremental.value() == expected);
  }
}

TEST_CASE("Crc32 of nothing is 0 and std::byte spans work", "[io][crc32]") {
  Crc32 c;
  CHECK(c.value() == 0U);
  const std::byte bytes[] = {std::byte{'1'}, std::byte{'2'}, std::byte{'3'}, std::byte{'4'}, std::byte{'5'},
                             std::byte{'6'}, std::byte{'7'}, std::byte{'8'}, std::byte{'9'}};
  c.update(std::span<const std::byte>(bytes));
  CHECK(c.value() == 0xCBF43926U);
  CHECK(crc32(std::span<const std::byte>(bytes)) == 0xCBF43926U);
}
