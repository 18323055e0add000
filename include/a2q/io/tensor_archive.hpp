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
#include "a2q/io/crc32.hpp"

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
/// Shape's element limit.
inline constexpr std::uint64_t shape_max_elements = std::uint64_t{1} << 48;

/// Serialises little-endian values to a stream while keeping the running CRC.
class ArchiveEncoder {
public:
  explicit ArchiveEncoder(std::ostream& out) : out_(out) {}

  void bytes(const void* data, std::size_t size) {
    crc_.update(data, size);
    out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  void u32(std::uint32_t v) {
    std::array<unsigned char, 4> b{};
    for (std::size_t i = 0; i < 4; ++i)
      b[i] = static_cast<unsigned char>(v >> (8 * i));
    bytes(b.data(), b.size());
  }
  void u64(std::uint64_t v) {
    std::array<unsigned char, 8> b{};
    for (std::size_t i = 0; i < 8; ++i)
      b[i] = static_cast<unsigned char>(v >> (8 * i));
    bytes(b.data(), b.size());
  }
  void string(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  void floats(std::span<const float> values) {
    if constexpr (std::endian::native == std::endian::little) {
      bytes(values.data(), values.size_bytes());
    } else {
      for (const float v : values)
        u32(std::bit_cast<std::uint32_t>(v));
    }
  }
  std::uint32_t crc() const { return crc_.value(); }

private:
  std::ostream& out_;
  Crc32 crc_;
};

/// Checks what the reader would reject, so that save never writes an archive that cannot be loaded.
/// @return the payload size in bytes.
inline std::uint64_t archive_payload_size(const TensorArchive& archive, const std::filesystem::path& path) {
  const std::string who = "save_archive " + path.string() + ": ";
  auto check_count = [&](std::size_t n, const char* what) {
    if (n > tensor_archive_max_entries)
      throw config_error(who + std::to_string(n) + " " + what + ", at most " +
                         std::to_string(tensor_archive_max_entries) + " allowed");
  };
  auto check_name = [&](const std::string& name, const char* what, std::set<std::string_view>& seen) {
    if (name.empty() || name.size() > tensor_archive_max_name_bytes)
      throw config_error(who + what + " '" + name.substr(0, 64) + "' has " + std::to_string(name.size()) +
                         " bytes, expected 1.." + std::to_string(tensor_archive_max_name_bytes));
    if (!seen.insert(name).second)
      throw config_error(who + what + " '" + name + "' appears more than once");
  };
  check_count(archive.metadata.size(), "metadata entries");
  check_count(archive.tensors.size(), "tensors");
  std::uint64_t size = 4 + 4;
  std::set<std::string_view> keys;
  for (const auto& [key, value] : archive.metadata) {
    check_name(key, "metadata key", keys);
    if (value.size() > tensor_archive_max_value_bytes)
      throw config_error(who + "metadata value of '" + key + "' has " + std::to_string(value.size()) +
                         " bytes, at most " + std::to_string(tensor_archive_max_value_bytes) + " allowed");
    size += 4 + key.size() + 4 + value.size();
  }
  std::set<std::string_view> names;
  for (const auto& [name, tensor] : archive.tensors) {
    check_name(name, "tensor name", names);
    size += 4 + name.size() + 4 + 8 * static_cast<std::uint64_t>(tensor.rank()) +
            4 * static_cast<std::uint64_t>(tensor.numel());
  }
  if (size > tensor_archive_max_payload)
    throw config_error(who + "payload of " + std::to_string(size) + " bytes exceeds the limit of " +
                       std::to_string(tensor_archive_max_payload));
  return size;
}

/// Reads little-endian fields from the in-memory payload, naming the file and the absolute file offset
/// in every error.
class ArchiveDecoder {
public:
  ArchiveDecoder(std::span<const unsigned char> payload, const std::filesystem::path& path,
                 std::uint64_t base_offset)
      : data_(payload), path_(path), base_(base_offset) {}

  /// Position in the payload, and the absolute file offset of that position.
  std::uint64_t pos() const { return pos_; }
  std::uint64_t offset() const { return base_ + pos_; }
  std::uint64_t remaining() const { return data_.size() - pos_; }

  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(std::uint64_t pos, const std::string& what) const {
    throw io_error(path_.string() + ": corrupt tensor archive at offset " + std::to_string(base_ + pos) +
                   ": " + what);
  }

  void need(std::uint64_t n, const std::string& what) const {
    if (n > remaining())
      fail("expected " + what + " (" + std::to_string(n) + " bytes), but only " +
           std::to_string(remaining()) + " bytes of payload remain");
  }
  std::uint32_t u32(const std::string& what) {
    need(4, what);
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i)
      v |= static_cast<std::uint32_t>(data_[pos_ + i]) << (8 * i);
    pos_ += 4;
    return v;
  }
  std::uint64_t u64(const std::string& what) {
    need(8, what);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i)
      v |= static_cast<std::uint64_t>(data_[pos_ + i]) << (8 * i);
    pos_ += 8;
    return v;
  }
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
  void floats(float* out, std::uint64_t count) {
    if (count == 0)
      return;
    const unsigned char* src = data_.data() + pos_;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(out, src, static_cast<std::size_t>(count * 4));
    } else {
      for (std::uint64_t i = 0; i < count; ++i) {
        std::uint32_t bits = 0;
        for (std::size_t b = 0; b < 4; ++b)
          bits |= static_cast<std::uint32_t>(src[4 * i + b]) << (8 * b);
        out[i] = std::bit_cast<float>(bits);
      }
    }
    pos_ += count * 4;
  }

private:
  std::span<const unsigned char> data_;
  const std::filesystem::path& path_;
  std::uint64_t base_;
  std::uint64_t pos_ = 0;
};

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

inline std::string hex32(std::uint32_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s = "0x00000000";
  for (std::size_t i = 0; i < 8; ++i)
    s[9 - i] = digits[(v >> (4 * i)) & 0xFU];
  return s;
}

/// Parses and validates the payload (whose checksum has already been verified).
inline TensorArchive parse_archive_payload(std::span<const unsigned char> payload,
                                           const std::filesystem::path& path) {
  ArchiveDecoder in(payload, path, archive_header_bytes);
  TensorArchive archive;

  // Every entry takes at least 8 bytes (two lengths), every tensor at least 12 (name length, a name byte
  // would make 9, rank, and an empty shape), so a count larger than remaining / 8 cannot be genuine.
  auto read_count = [&](const char* what) {
    const std::uint64_t at = in.pos();
    const std::uint32_t n = in.u32(std::string("the number of ") + what);
    if (n > tensor_archive_max_entries || n > in.remaining() / 8)
      in.fail_at(at,
                 std::string("the number of ") + what + " is " + std::to_string(n) + ", expected at most " +
                     std::to_string(std::min<std::uint64_t>(tensor_archive_max_entries, in.remaining() / 8)) +
                     " (the limit, and what the remaining payload can hold)");
    return n;
  };

  const std::uint32_t metadata_count = read_count("metadata entries");
  archive.metadata.reserve(metadata_count);
  std::set<std::string> keys;
  for (std::uint32_t i = 0; i < metadata_count; ++i) {
    const std::uint64_t at = in.pos();
    const std::string label = "metadata entry " + std::to_string(i);
    std::string key = in.string("the key of " + label, tensor_archive_max_name_bytes, false);
    if (!keys.insert(key).second)
      in.fail_at(at, label + ": key '" + key + "' appears more than once");
    std::string value =
        in.string("the value of " + label + " ('" + key + "')", tensor_archive_max_value_bytes, true);
    archive.metadata.emplace_back(std::move(key), std::move(value));
  }

  const std::uint32_t tensor_count = read_count("tensors");
  archive.tensors.reserve(tensor_count);
  std::set<std::string> names;
  for (std::uint32_t i = 0; i < tensor_count; ++i) {
    const std::uint64_t at = in.pos();
    std::string name =
        in.string("the name of tensor " + std::to_string(i), tensor_archive_max_name_bytes, false);
    const std::string label = "tensor " + std::to_string(i) + " ('" + name + "')";
    if (!names.insert(name).second)
      in.fail_at(at, label + ": name appears more than once");
    const std::uint64_t rank_at = in.pos();
    const std::uint32_t rank = in.u32("the rank of " + label);
    if (rank > static_cast<std::uint32_t>(max_rank))
      in.fail_at(rank_at,
                 label + " has rank " + std::to_string(rank) + ", expected 0.." + std::to_string(max_rank));
    std::array<std::int64_t, max_rank> dims{};
    std::uint64_t numel = 1;
    const std::uint64_t dims_at = in.pos();
    for (std::uint32_t d = 0; d < rank; ++d) {
      const std::uint64_t dim = in.u64("dimension " + std::to_string(d) + " of " + label);
      // The same limit as Shape (2^48 elements), checked as we multiply so the product cannot overflow;
      // the element data is checked against the remaining bytes below.
      if (dim > shape_max_elements || (dim != 0 && numel > shape_max_elements / dim))
        in.fail_at(dims_at + 8 * d, label + ": dimension " + std::to_string(d) + " is " +
                                        std::to_string(dim) + ", which makes more than 2^48 elements");
      numel *= dim;
      dims[d] = static_cast<std::int64_t>(dim);
    }
    if (numel > in.remaining() / 4)
      in.fail(label + " needs " + std::to_string(numel) + " elements (" + std::to_string(numel * 4) +
              " bytes), but only " + std::to_string(in.remaining()) + " bytes of payload remain");
    Tensor<float> tensor =
        Tensor<float>::uninitialized(Shape(std::span<const std::int64_t>(dims.data(), rank)));
    in.floats(tensor.data(), numel);
    archive.tensors.emplace_back(std::move(name), std::move(tensor));
  }
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
  detail::ArchiveEncoder enc(out);
  enc.u32(tensor_archive_version);
  enc.u64(payload_size);
  enc.u32(static_cast<std::uint32_t>(archive.metadata.size()));
  for (const auto& [key, value] : archive.metadata) {
    enc.string(key);
    enc.string(value);
  }
  enc.u32(static_cast<std::uint32_t>(archive.tensors.size()));
  for (const auto& [name, tensor] : archive.tensors) {
    enc.string(name);
    enc.u32(static_cast<std::uint32_t>(tensor.rank()));
    for (const std::int64_t d : tensor.shape().dims())
      enc.u64(static_cast<std::uint64_t>(d));
    enc.floats(tensor.span());
  }
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
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status))
    throw io_error(who + "file not found (expected a tensor archive)");
  if (!std::filesystem::is_regular_file(status))
    throw io_error(who + "not a regular file (expected a tensor archive)");
  const std::uintmax_t file_size = std::filesystem::file_size(path, ec);
  if (ec)
    throw io_error(who + "cannot determine the file size: " + ec.message());

  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw io_error(who + "cannot open for reading: " + detail::errno_message(errno));

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
