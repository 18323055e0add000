#pragma once
/// @file
/// Definitions for cifar10.hpp (see a2q/core/config.hpp).

#include "a2q/data/cifar10.hpp"

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

namespace a2q::detail {

std::int64_t cifar10_record_count(const std::filesystem::path& path) {
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

void read_cifar10_records(const std::filesystem::path& path, std::int64_t records, std::uint8_t* images,
                          std::int32_t* labels) {
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

Cifar10Batch read_cifar10_batch(const std::filesystem::path& path) {
  const std::int64_t records = detail::cifar10_record_count(path);
  Cifar10Batch batch{
      Tensor<std::uint8_t>::uninitialized({records, cifar10_channels, cifar10_height, cifar10_width}),
      std::vector<std::int32_t>(static_cast<std::size_t>(records))};
  detail::read_cifar10_records(path, records, batch.images.data(), batch.labels.data());
  return batch;
}

} // namespace a2q::data
