#pragma once
/// @file
/// Reader for CIFAR-10 binary batches (data_batch_1.bin .. data_batch_5.bin, test_batch.bin): a sequence
/// of 3073-byte records, each a label byte (0..9) followed by a 3x32x32 image stored channel-major
/// (1024 red, then 1024 green, then 1024 blue bytes, rows top to bottom).

#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

namespace a2q::data {

inline constexpr std::int64_t cifar10_channels = 3;
inline constexpr std::int64_t cifar10_height = 32;
inline constexpr std::int64_t cifar10_width = 32;
/// Bytes of one image (3 x 32 x 32).
inline constexpr std::int64_t cifar10_image_bytes = cifar10_channels * cifar10_height * cifar10_width;
/// Bytes of one record: the label byte, then the image.
inline constexpr std::int64_t cifar10_record_bytes = 1 + cifar10_image_bytes;
inline constexpr int cifar10_num_classes = 10;
/// Class names in label order.
inline constexpr std::array<const char*, 10> cifar10_class_names = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

/// The contents of one CIFAR-10 batch file.
struct Cifar10Batch {
  Tensor<std::uint8_t> images{};      ///< [N, 3, 32, 32]
  std::vector<std::int32_t> labels{}; ///< N labels in 0..9
};

} // namespace a2q::data

namespace a2q::detail {

/// Number of records in a CIFAR-10 batch file, after checking that its size is a positive multiple of
/// the record size.
inline std::int64_t cifar10_record_count(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status))
    throw io_error(path.string() + ": file not found");
  if (std::filesystem::is_directory(status))
    throw io_error(path.string() + ": is a directory, expected a CIFAR-10 batch file");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec)
    throw io_error(path.string() + ": cannot determine the file size (" + ec.message() + ")");
  const auto bytes = static_cast<std::int64_t>(size);
  if (bytes == 0 || bytes % data::cifar10_record_bytes != 0)
    throw io_error(path.string() + ": size " + std::to_string(bytes) +
                   " bytes is not a positive multiple of the CIFAR-10 record size " +
                   std::to_string(data::cifar10_record_bytes) + " (1 label byte + 3x32x32 pixels)");
  return bytes / data::cifar10_record_bytes;
}

/// Reads `records` records of `path` (as counted by cifar10_record_count) into `images`
/// (records x 3072 bytes) and `labels` (records entries).
inline void read_cifar10_records(const std::filesystem::path& path, std::int64_t records,
                                 std::uint8_t* images, std::int32_t* labels) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw io_error(path.string() + ": cannot open for reading");
  constexpr std::int64_t chunk_records = 256;
  std::vector<char> buffer(static_cast<std::size_t>(chunk_records * data::cifar10_record_bytes));
  for (std::int64_t first = 0; first < records; first += chunk_records) {
    const std::int64_t count = std::min(chunk_records, records - first);
    const std::streamsize want = count * data::cifar10_record_bytes;
    in.read(buffer.data(), want);
    if (in.gcount() != want)
      throw io_error(path.string() + ": offset " +
                     std::to_string(first * data::cifar10_record_bytes + in.gcount()) +
                     ": file ended early, expected " + std::to_string(records) +
                     " records (the file shrank while being read)");
    for (std::int64_t r = 0; r < count; ++r) {
      const char* record = buffer.data() + r * data::cifar10_record_bytes;
      const int label = static_cast<unsigned char>(record[0]);
      const std::int64_t index = first + r;
      if (label >= data::cifar10_num_classes)
        throw io_error(path.string() + ": record " + std::to_string(index) + " (offset " +
                       std::to_string(index * data::cifar10_record_bytes) + "): label " +
                       std::to_string(label) + " is out of range, expected 0.." +
                       std::to_string(data::cifar10_num_classes - 1));
      labels[index] = label;
      std::memcpy(images + index * data::cifar10_image_bytes, record + 1,
                  static_cast<std::size_t>(data::cifar10_image_bytes));
    }
  }
}

} // namespace a2q::detail

namespace a2q::data {

/// Reads one CIFAR-10 binary batch file.
/// @param path e.g. "cifar-10-batches-bin/data_batch_1.bin"
/// @throws io_error if the file is missing, its size is not a positive multiple of 3073 bytes (the message
///   names the size and the record size), or a label is above 9 (the message names the record and offset).
inline Cifar10Batch read_cifar10_batch(const std::filesystem::path& path) {
  const std::int64_t records = detail::cifar10_record_count(path);
  Cifar10Batch batch{
      Tensor<std::uint8_t>::uninitialized({records, cifar10_channels, cifar10_height, cifar10_width}),
      std::vector<std::int32_t>(static_cast<std::size_t>(records))};
  detail::read_cifar10_records(path, records, batch.images.data(), batch.labels.data());
  return batch;
}

} // namespace a2q::data
