#pragma once
/// @file
/// a2q::io::TensorArchive: a versioned binary file of named float tensors plus string metadata, the
/// format of checkpoints. Saved atomically; read with every field validated before anything is
/// allocated from it.
///
/// Layout (all integers little-endian, floats IEEE-754 binary32 little-endian):
///
///     offset  size  field
///     0       8     magic "A2QTNSR\0"
///     8       4     u32 format version (tensor_archive_version)
///     12      8     u64 payload size P
///     20      P     payload:
///                     metadata section: u32 count, then per entry
///                       u32 key length, key bytes, u32 value length, value bytes
///                     tensor section: u32 count, then per tensor
///                       u32 name length, name bytes, u32 rank (0..5), rank x u64 dimensions,
///                       numel x f32 elements in row-major order
///     20 + P  4     u32 CRC-32 (IEEE, as zlib) of bytes [8, 20 + P): version, size and payload
///
/// Nothing may follow the checksum. Names and keys are non-empty, at most tensor_archive_max_name_bytes
/// long and unique within their section; values are at most tensor_archive_max_value_bytes long.

#include "a2q/core/error.hpp"
#include "a2q/core/shape.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/io/atomic_file.hpp"
#include "a2q/io/binary_codec.hpp"
#include "a2q/io/crc32.hpp"
#include "a2q/io/input_file.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace a2q::io {

/// Named float tensors (the same type as nn::NamedTensors, so state dicts go in and out unchanged).
using NamedTensors = std::vector<std::pair<std::string, Tensor<float>>>;

/// The archive's magic bytes, including the terminating zero.
inline constexpr std::array<char, 8> tensor_archive_magic = {'A', '2', 'Q', 'T', 'N', 'S', 'R', '\0'};
/// The format version this code writes; it reads this version and older ones.
inline constexpr std::uint32_t tensor_archive_version = 1;
/// Longest tensor name or metadata key, in bytes.
inline constexpr std::uint32_t tensor_archive_max_name_bytes = 4096;
/// Longest metadata value, in bytes.
inline constexpr std::uint32_t tensor_archive_max_value_bytes = std::uint32_t{1} << 24;
/// Most metadata entries, and most tensors, in one archive.
inline constexpr std::uint32_t tensor_archive_max_entries = std::uint32_t{1} << 20;
/// Largest payload accepted (1 TiB): anything bigger is taken as a corrupt header.
inline constexpr std::uint64_t tensor_archive_max_payload = std::uint64_t{1} << 40;

/// The contents of a tensor archive: metadata strings and tensors, each in file order.
struct TensorArchive {
  std::vector<std::pair<std::string, std::string>> metadata;
  NamedTensors tensors;

  /// The value stored under `key`, if any.
  std::optional<std::string> find_metadata(std::string_view key) const {
    for (const auto& [k, v] : metadata)
      if (k == key)
        return v;
    return std::nullopt;
  }
  /// The tensor called `name`, or nullptr.
  const Tensor<float>* find_tensor(std::string_view name) const {
    for (const auto& [n, t] : tensors)
      if (n == name)
        return &t;
    return nullptr;
  }
};

} // namespace a2q::io

namespace a2q::io::detail {

inline constexpr std::uint64_t archive_header_bytes = 20;
inline constexpr std::uint64_t archive_trailer_bytes = 4;

/// Key/value strings in file order.
using MetadataEntries = std::vector<std::pair<std::string, std::string>>;

// The metadata and tensor sections below are shared with the model file (io/model_file.hpp), whose META
// and PARM payloads have exactly this layout. The *_size functions check what the reader would reject,
// so that a writer never produces a file that cannot be loaded; `who` starts their config_errors.

inline void check_entry_count(std::size_t n, const char* what, const std::string& who) {
  if (n > tensor_archive_max_entries)
    throw config_error(who + std::to_string(n) + " " + what + ", at most " +
                       std::to_string(tensor_archive_max_entries) + " allowed");
}

/// Names and keys are non-empty, at most tensor_archive_max_name_bytes long and unique in `seen`.
inline void check_entry_name(const std::string& name, const char* what, std::set<std::string_view>& seen,
                             const std::string& who) {
  if (name.empty() || name.size() > tensor_archive_max_name_bytes)
    throw config_error(who + what + " '" + name.substr(0, 64) + "' has " + std::to_string(name.size()) +
                       " bytes, expected 1.." + std::to_string(tensor_archive_max_name_bytes));
  if (!seen.insert(name).second)
    throw config_error(who + what + " '" + name + "' appears more than once");
}

/// @return the encoded size of the metadata section.
inline std::uint64_t metadata_section_size(const MetadataEntries& metadata, const std::string& who) {
  check_entry_count(metadata.size(), "metadata entries", who);
  std::uint64_t size = 4;
  std::set<std::string_view> keys;
  for (const auto& [key, value] : metadata) {
    check_entry_name(key, "metadata key", keys, who);
    if (value.size() > tensor_archive_max_value_bytes)
      throw config_error(who + "metadata value of '" + key + "' has " + std::to_string(value.size()) +
                         " bytes, at most " + std::to_string(tensor_archive_max_value_bytes) + " allowed");
    size += 4 + key.size() + 4 + value.size();
  }
  return size;
}

/// @return the encoded size of the tensor section.
inline std::uint64_t tensor_section_size(const NamedTensors& tensors, const std::string& who) {
  check_entry_count(tensors.size(), "tensors", who);
  std::uint64_t size = 4;
  std::set<std::string_view> names;
  for (const auto& [name, tensor] : tensors) {
    check_entry_name(name, "tensor name", names, who);
    size += 4 + name.size() + 4 + 8 * static_cast<std::uint64_t>(tensor.rank()) +
            4 * static_cast<std::uint64_t>(tensor.numel());
  }
  return size;
}

inline void write_metadata_section(ByteEncoder& enc, const MetadataEntries& metadata) {
  enc.u32(static_cast<std::uint32_t>(metadata.size()));
  for (const auto& [key, value] : metadata) {
    enc.string(key);
    enc.string(value);
  }
}

inline void write_tensor_section(ByteEncoder& enc, const NamedTensors& tensors) {
  enc.u32(static_cast<std::uint32_t>(tensors.size()));
  for (const auto& [name, tensor] : tensors) {
    enc.string(name);
    enc.shape(tensor.shape());
    enc.floats(tensor.span());
  }
}

/// A u32 count of entries that each take at least `min_entry_bytes`: a count the remaining bytes cannot
/// hold is rejected before anything is reserved for it.
inline std::uint32_t read_entry_count(ByteDecoder& in, const std::string& what,
                                      std::uint64_t min_entry_bytes = 8) {
  const std::uint64_t at = in.pos();
  const std::uint32_t n = in.u32("the number of " + what);
  const std::uint64_t limit =
      std::min<std::uint64_t>(tensor_archive_max_entries, in.remaining() / min_entry_bytes);
  if (n > limit)
    in.fail_at(at, "the number of " + what + " is " + std::to_string(n) + ", expected at most " +
                       std::to_string(limit) + " (the limit, and what the remaining payload can hold)");
  return n;
}

/// Every entry takes at least 8 bytes (two lengths).
inline MetadataEntries read_metadata_section(ByteDecoder& in) {
  const std::uint32_t count = read_entry_count(in, "metadata entries");
  MetadataEntries metadata;
  metadata.reserve(count);
  std::set<std::string> keys;
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint64_t at = in.pos();
    const std::string label = "metadata entry " + std::to_string(i);
    std::string key = in.string("the key of " + label, tensor_archive_max_name_bytes, false);
    if (!keys.insert(key).second)
      in.fail_at(at, label + ": key '" + key + "' appears more than once");
    std::string value =
        in.string("the value of " + label + " ('" + key + "')", tensor_archive_max_value_bytes, true);
    metadata.emplace_back(std::move(key), std::move(value));
  }
  return metadata;
}

/// Every tensor takes at least 12 bytes (name length, a name byte would make 9, rank, an empty shape).
inline NamedTensors read_tensor_section(ByteDecoder& in) {
  const std::uint32_t count = read_entry_count(in, "tensors");
  NamedTensors tensors;
  tensors.reserve(count);
  std::set<std::string> names;
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint64_t at = in.pos();
    std::string name =
        in.string("the name of tensor " + std::to_string(i), tensor_archive_max_name_bytes, false);
    const std::string label = "tensor " + std::to_string(i) + " ('" + name + "')";
    if (!names.insert(name).second)
      in.fail_at(at, label + ": name appears more than once");
    const Shape shape = in.shape(label);
    const auto numel = static_cast<std::uint64_t>(shape.numel());
    if (numel > in.remaining() / 4)
      in.fail(label + " needs " + std::to_string(numel) + " elements (" + std::to_string(numel * 4) +
              " bytes), but only " + std::to_string(in.remaining()) + " bytes of payload remain");
    Tensor<float> tensor = Tensor<float>::uninitialized(shape);
    in.floats(tensor.data(), numel);
    tensors.emplace_back(std::move(name), std::move(tensor));
  }
  return tensors;
}

/// Checks what the reader would reject, so that save never writes an archive that cannot be loaded.
/// @return the payload size in bytes.
inline std::uint64_t archive_payload_size(const TensorArchive& archive, const std::filesystem::path& path) {
  const std::string who = "save_archive " + path.string() + ": ";
  const std::uint64_t size =
      metadata_section_size(archive.metadata, who) + tensor_section_size(archive.tensors, who);
  if (size > tensor_archive_max_payload)
    throw config_error(who + "payload of " + std::to_string(size) + " bytes exceeds the limit of " +
                       std::to_string(tensor_archive_max_payload));
  return size;
}

/// Parses and validates the payload (whose checksum has already been verified).
inline TensorArchive parse_archive_payload(std::span<const unsigned char> payload,
                                           const std::filesystem::path& path) {
  ByteDecoder in(payload, path.string() + ": corrupt tensor archive at offset ", archive_header_bytes);
  TensorArchive archive;
  archive.metadata = read_metadata_section(in);
  archive.tensors = read_tensor_section(in);
  if (in.remaining() != 0)
    in.fail(std::to_string(in.remaining()) +
            " unexpected bytes after the last tensor, expected the end of the "
            "payload");
  return archive;
}

} // namespace a2q::io::detail

namespace a2q::io {

/// Writes `archive` to `out` in the tensor-archive format.
/// @throws config_error for names or keys that are empty, too long or repeated, or contents beyond the
///   format's limits (the archive would not load back).
/// @throws io_error if the stream fails.
inline void write_archive(std::ostream& out, const TensorArchive& archive,
                          const std::filesystem::path& path = "<stream>") {
  const std::uint64_t payload_size = detail::archive_payload_size(archive, path);
  out.write(tensor_archive_magic.data(), static_cast<std::streamsize>(tensor_archive_magic.size()));
  detail::ByteEncoder enc(out);
  enc.u32(tensor_archive_version);
  enc.u64(payload_size);
  detail::write_metadata_section(enc, archive.metadata);
  detail::write_tensor_section(enc, archive.tensors);
  const std::uint32_t crc = enc.crc();
  std::array<char, 4> trailer{};
  for (std::size_t i = 0; i < 4; ++i)
    trailer[i] = static_cast<char>((crc >> (8 * i)) & 0xFFU);
  out.write(trailer.data(), 4);
  if (!out)
    throw io_error(path.string() + ": writing the tensor archive failed");
}

/// Saves `archive` to `path` atomically (see write_file_atomically): a failure leaves any previous file
/// intact.
/// @throws config_error for contents the format cannot hold (see write_archive), io_error for I/O errors.
inline void save_archive(const std::filesystem::path& path, const TensorArchive& archive) {
  detail::archive_payload_size(archive, path); // validate before touching the file system
  write_file_atomically(path, [&](std::ostream& out) { write_archive(out, archive, path); });
}

/// Loads a tensor archive, validating it completely: magic, version, size, checksum, then every field.
/// Nothing is allocated from an unchecked size: the payload size must match the file's actual size
/// before the payload is read, and every count and dimension is checked against the bytes that remain.
/// @throws io_error naming the file, the byte offset and what was expected, for a missing or unreadable
///   file, a truncated or over-long file, bad magic, a version newer than tensor_archive_version, a
///   checksum mismatch, a rank above 5, repeated names, or sizes the file cannot hold.
inline TensorArchive load_archive(const std::filesystem::path& path) {
  const std::string who = path.string() + ": ";
  detail::InputFile file = detail::open_input_file(path, "a tensor archive");
  std::ifstream& in = file.stream;
  const std::uint64_t file_size = file.size;

  constexpr std::uint64_t header_bytes = detail::archive_header_bytes;
  if (file_size < header_bytes + detail::archive_trailer_bytes)
    throw io_error(who + "truncated tensor archive: the file holds " + std::to_string(file_size) +
                   " bytes, expected at least " +
                   std::to_string(header_bytes + detail::archive_trailer_bytes) + " (header and checksum)");
  std::array<unsigned char, header_bytes> header{};
  if (!in.read(reinterpret_cast<char*>(header.data()), header_bytes))
    throw io_error(who + "read error in the header at offset 0");
  if (std::memcmp(header.data(), tensor_archive_magic.data(), tensor_archive_magic.size()) != 0)
    throw io_error(who + "not a tensor archive: bad magic at offset 0, expected \"A2QTNSR\\0\"");
  const std::uint32_t version = detail::load_u32_le(header.data() + 8);
  if (version == 0 || version > tensor_archive_version)
    throw io_error(who + "tensor archive format version " + std::to_string(version) + " at offset 8" +
                   (version == 0 ? " is invalid" : " is newer than this library reads") + ", expected 1.." +
                   std::to_string(tensor_archive_version));
  const std::uint64_t payload_size = detail::load_u64_le(header.data() + 12);
  const std::uint64_t expected_size = payload_size + header_bytes + detail::archive_trailer_bytes;
  if (payload_size > tensor_archive_max_payload || expected_size != file_size)
    throw io_error(who +
                   (expected_size > file_size || payload_size > tensor_archive_max_payload
                        ? "truncated or corrupt tensor archive"
                        : "over-long tensor archive") +
                   ": the payload size at offset 12 is " + std::to_string(payload_size) +
                   " bytes, so the file " + "should hold " + std::to_string(expected_size) +
                   " bytes, but it holds " + std::to_string(file_size));

  // The size now matches the file on disk, so this allocation is as large as the file and no larger.
  std::vector<unsigned char> payload(static_cast<std::size_t>(payload_size));
  std::array<unsigned char, 4> trailer{};
  if (!in.read(reinterpret_cast<char*>(payload.data()), static_cast<std::streamsize>(payload_size)) ||
      !in.read(reinterpret_cast<char*>(trailer.data()), 4))
    throw io_error(who + "read error in the payload (the file changed while being read?), offset " +
                   std::to_string(static_cast<std::uint64_t>(in.gcount()) + header_bytes));

  std::uint32_t crc = crc32(header.data() + 8, header_bytes - 8);
  crc = crc32(payload.data(), payload.size(), crc);
  const std::uint32_t stored = detail::load_u32_le(trailer.data());
  if (crc != stored)
    throw io_error(who + "tensor archive checksum mismatch: the CRC-32 at offset " +
                   std::to_string(header_bytes + payload_size) + " is " + detail::hex32(stored) +
                   ", the contents give " + detail::hex32(crc) + " (the file is corrupt)");
  return detail::parse_archive_payload(payload, path);
}

} // namespace a2q::io
