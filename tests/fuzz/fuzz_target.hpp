#pragma once
// What every fuzz harness shares: the libFuzzer entry point it defines, scratch files for readers that
// take a path, checksum repair for the formats that carry CRC-32s, and the rule that a reader may refuse
// bytes only with one of a2q's own errors, with a message.

#include <a2q/core/error.hpp>
#include <a2q/io/crc32.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace a2q_fuzz {

using Bytes = std::vector<std::uint8_t>;

/// Runs `read` on untrusted bytes. a2q::error is the expected refusal; it must say something. Any other
/// exception (std::bad_alloc, a library's own exception type, ...) escapes, and libFuzzer reports it as a
/// crash: a reader must never let one out.
template <class Read>
void expect_clear_error(Read&& read) {
  try {
    read();
  } catch (const a2q::error& e) {
    if (std::string_view(e.what()).empty())
      std::abort();
  }
}

/// A per-process file for readers that take a path, in /dev/shm where it exists (no disk writes).
inline std::filesystem::path scratch_path(const std::string& name) {
  const std::filesystem::path shm = "/dev/shm";
  std::error_code ec;
  const std::filesystem::path dir =
      std::filesystem::is_directory(shm, ec) ? shm : std::filesystem::temp_directory_path();
  return dir / ("a2q-fuzz-" + std::to_string(::getpid()) + "-" + name);
}

/// Writes `bytes` to scratch_path(name) and returns the path.
inline std::filesystem::path write_scratch(const std::string& name, std::span<const std::uint8_t> bytes) {
  const std::filesystem::path path = scratch_path(name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out)
    std::abort(); // the harness itself failed, not the reader
  return path;
}

inline std::uint64_t load_le(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

inline void store_u32_le(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

/// Rewrites every section checksum of a model file (magic, version, count, then sections of tag, u64
/// length, payload, CRC-32 of tag + length + payload) to match the bytes before it, as far as the
/// lengths lead. Returns true if a checksum changed.
inline bool repair_model_file_checksums(Bytes& bytes) {
  bool changed = false;
  std::size_t pos = 16;
  while (pos + 12 <= bytes.size()) {
    const std::uint64_t length = load_le(bytes.data() + pos + 4, 8);
    if (length > bytes.size() - pos - 12 || bytes.size() - pos - 12 - length < 4)
      break;
    const std::size_t crc_at = pos + 12 + static_cast<std::size_t>(length);
    const std::uint32_t crc = a2q::io::crc32(bytes.data() + pos, crc_at - pos);
    if (load_le(bytes.data() + crc_at, 4) != crc) {
      store_u32_le(bytes.data() + crc_at, crc);
      changed = true;
    }
    pos = crc_at + 4;
  }
  return changed;
}

/// Rewrites a tensor archive's checksum (the CRC-32 of bytes [8, 20 + P), stored right after them, P the
/// u64 payload size at byte 12). Returns true if it changed.
inline bool repair_archive_checksum(Bytes& bytes) {
  if (bytes.size() < 24)
    return false;
  const std::uint64_t payload = load_le(bytes.data() + 12, 8);
  if (payload > bytes.size() - 24)
    return false;
  const std::size_t crc_at = 20 + static_cast<std::size_t>(payload);
  const std::uint32_t crc = a2q::io::crc32(bytes.data() + 8, crc_at - 8);
  if (load_le(bytes.data() + crc_at, 4) == crc)
    return false;
  store_u32_le(bytes.data() + crc_at, crc);
  return true;
}

/// Runs `read` on the input as it is and, if `repair` changed a checksum of it, once more on the repaired
/// bytes: the fuzzer then reaches the parsers behind the checksum as well as the checksum test itself.
template <class Repair, class Read>
void read_as_is_and_repaired(const std::uint8_t* data, std::size_t size, Repair&& repair, Read&& read) {
  Bytes bytes(data, data + size);
  read(std::span<const std::uint8_t>(bytes));
  if (repair(bytes))
    read(std::span<const std::uint8_t>(bytes));
}

} // namespace a2q_fuzz
