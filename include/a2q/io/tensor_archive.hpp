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

#include "a2q/core/config.hpp"
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

A2Q_DECL void check_entry_count(std::size_t n, const char* what, const std::string& who);

/// Names and keys are non-empty, at most tensor_archive_max_name_bytes long and unique in `seen`.
A2Q_DECL void check_entry_name(const std::string& name, const char* what, std::set<std::string_view>& seen,
                               const std::string& who);

/// @return the encoded size of the metadata section.
A2Q_DECL std::uint64_t metadata_section_size(const MetadataEntries& metadata, const std::string& who);

/// @return the encoded size of the tensor section.
A2Q_DECL std::uint64_t tensor_section_size(const NamedTensors& tensors, const std::string& who);

A2Q_DECL void write_metadata_section(ByteEncoder& enc, const MetadataEntries& metadata);

A2Q_DECL void write_tensor_section(ByteEncoder& enc, const NamedTensors& tensors);

/// A u32 count of entries that each take at least `min_entry_bytes`: a count the remaining bytes cannot
/// hold is rejected before anything is reserved for it.
A2Q_DECL std::uint32_t read_entry_count(ByteDecoder& in, const std::string& what,
                                        std::uint64_t min_entry_bytes = 8);

/// Every entry takes at least 8 bytes (two lengths).
A2Q_DECL MetadataEntries read_metadata_section(ByteDecoder& in);

/// Every tensor takes at least 12 bytes (name length, a name byte would make 9, rank, an empty shape).
A2Q_DECL NamedTensors read_tensor_section(ByteDecoder& in);

} // namespace a2q::io::detail

namespace a2q::io {

/// Writes `archive` to `out` in the tensor-archive format.
/// @throws config_error for names or keys that are empty, too long or repeated, or contents beyond the
///   format's limits (the archive would not load back).
/// @throws io_error if the stream fails.
A2Q_DECL void write_archive(std::ostream& out, const TensorArchive& archive,
                            const std::filesystem::path& path = "<stream>");

/// Saves `archive` to `path` atomically (see write_file_atomically): a failure leaves any previous file
/// intact.
/// @throws config_error for contents the format cannot hold (see write_archive), io_error for I/O errors.
A2Q_DECL void save_archive(const std::filesystem::path& path, const TensorArchive& archive);

/// Loads a tensor archive, validating it completely: magic, version, size, checksum, then every field.
/// Nothing is allocated from an unchecked size: the payload size must match the file's actual size
/// before the payload is read, and every count and dimension is checked against the bytes that remain.
/// @throws io_error naming the file, the byte offset and what was expected, for a missing or unreadable
///   file, a truncated or over-long file, bad magic, a version newer than tensor_archive_version, a
///   checksum mismatch, a rank above 5, repeated names, or sizes the file cannot hold.
A2Q_DECL TensorArchive load_archive(const std::filesystem::path& path);

} // namespace a2q::io

#if A2Q_HEADER_ONLY
#include "a2q/io/tensor_archive.ipp"
#endif
