#pragma once
/// @file
/// Definitions for tensor_archive.hpp (see a2q/core/config.hpp).

#include "a2q/io/tensor_archive.hpp"

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

namespace a2q::io::detail {

void check_entry_count(std::size_t n, const char* what, const std::string& who) {
  if (n > tensor_archive_max_entries)
    throw config_error(who + std::to_string(n) + " " + what + ", at most " +
                       std::to_string(tensor_archive_max_entries) + " allowed");
}

void check_entry_name(const std::string& name, const char* what, std::set<std::string_view>& seen,
                      const std::string& who) {
  if (name.empty() || name.size() > tensor_archive_max_name_bytes)
    throw config_error(who + what + " '" + name.substr(0, 64) + "' has " + std::to_string(name.size()) +
                       " bytes, expected 1.." + std::to_string(tensor_archive_max_name_bytes));
  if (!seen.insert(name).second)
    throw config_error(who + what + " '" + name + "' appears more than once");
}

std::uint64_t metadata_section_size(const MetadataEntries& metadata, const std::string& who) {
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

std::uint64_t tensor_section_size(const NamedTensors& tensors, const std::string& who) {
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

void write_metadata_section(ByteEncoder& enc, const MetadataEntries& metadata) {
  enc.u32(static_cast<std::uint32_t>(metadata.size()));
  for (const auto& [key, value] : metadata) {
    enc.string(key);
    enc.string(value);
  }
}

void write_tensor_section(ByteEncoder& enc, const NamedTensors& tensors) {
  enc.u32(static_cast<std::uint32_t>(tensors.size()));
  for (const auto& [name, tensor] : tensors) {
    enc.string(name);
    enc.shape(tensor.shape());
    enc.floats(tensor.span());
  }
}

std::uint32_t read_entry_count(ByteDecoder& in, const std::string& what, std::uint64_t min_entry_bytes) {
  const std::uint64_t at = in.pos();
  const std::uint32_t n = in.u32("the number of " + what);
  const std::uint64_t limit =
      std::min<std::uint64_t>(tensor_archive_max_entries, in.remaining() / min_entry_bytes);
  if (n > limit)
    in.fail_at(at, "the number of " + what + " is " + std::to_string(n) + ", expected at most " +
                       std::to_string(limit) + " (the limit, and what the remaining payload can hold)");
  return n;
}

MetadataEntries read_metadata_section(ByteDecoder& in) {
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

NamedTensors read_tensor_section(ByteDecoder& in) {
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

void write_archive(std::ostream& out, const TensorArchive& archive, const std::filesystem::path& path) {
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

void save_archive(const std::filesystem::path& path, const TensorArchive& archive) {
  detail::archive_payload_size(archive, path); // validate before touching the file system
  write_file_atomically(path, [&](std::ostream& out) { write_archive(out, archive, path); });
}

TensorArchive load_archive(const std::filesystem::path& path) {
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
