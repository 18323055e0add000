#pragma once
/// @file
/// Reader for IDX files, the format of MNIST, Fashion-MNIST and friends, raw or gzip-compressed.
/// Needs zlib: link the CMake target a2q::data. Only the unsigned-byte element type (0x08) is read.
///
/// Layout: magic 0x00 0x00 <dtype> <rank>, then `rank` big-endian uint32 dimensions, then the elements in
/// row-major order, nothing after them. Every check names the file, the byte offset (in the decompressed
/// data for a gzip file) and what was expected versus found. A header is never trusted for an
/// allocation: the element count is capped (idx_max_elements), a raw file must be exactly as long as its
/// header says before anything is allocated, and a compressed file is read into a buffer that only grows
/// as decompressed data actually arrives.

#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/shape.hpp"
#include "a2q/core/tensor.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace a2q::detail {

/// Reads up to `expected` bytes from `read(void*, size_t) -> size_t` into a buffer that starts small and
/// doubles only as data arrives, so that a header claiming gigabytes over a short stream costs no more
/// memory than the stream holds. Stops at `expected` bytes or at the end of the data.
template <class ReadFn>
std::vector<std::uint8_t> read_growing(ReadFn&& read, std::size_t expected,
                                       std::size_t initial = std::size_t{1} << 20) {
  std::vector<std::uint8_t> buffer;
  std::size_t size = 0;
  while (size < expected) {
    if (size == buffer.size())
      buffer.resize(std::min(expected, std::max(initial, 2 * buffer.size())));
    const std::size_t got = read(buffer.data() + size, buffer.size() - size);
    size += got;
    if (got == 0)
      break;
  }
  buffer.resize(size);
  return buffer;
}

} // namespace a2q::detail

namespace a2q::data {

/// Largest element count read_idx accepts (2^31, 2 GiB of bytes): a larger header is rejected as corrupt
/// before anything is allocated.
inline constexpr std::int64_t idx_max_elements = std::int64_t{1} << 31;

/// Reads an IDX file of unsigned bytes (magic 0x00000801 .. 0x00000805), raw or gzip-compressed (detected
/// from the first two bytes, not from the extension).
/// @param path The file, e.g. "train-images-idx3-ubyte.gz".
/// @return A tensor whose shape is the IDX dimensions (rank 1 to 5), e.g. [60000, 28, 28].
/// @throws io_error naming the file, the byte offset and what was expected versus found, for: a missing
///   file, a bad magic number, another element type, rank 0 or above 5, a truncated header, more than
///   idx_max_elements elements, a payload shorter or longer than the product of the dimensions, or
///   corrupt gzip data.
A2Q_DECL Tensor<std::uint8_t> read_idx(const std::filesystem::path& path);

} // namespace a2q::data

#if A2Q_HEADER_ONLY
#include "a2q/data/idx.ipp"
#endif
