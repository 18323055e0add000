#pragma once
/// @file
/// Reader for CIFAR-10 binary batches (data_batch_1.bin .. data_batch_5.bin, test_batch.bin): a sequence
/// of 3073-byte records, each a label byte (0..9) followed by a 3x32x32 image stored channel-major
/// (1024 red, then 1024 green, then 1024 blue bytes, rows top to bottom).

#include "a2q/core/config.hpp"
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
A2Q_DECL std::int64_t cifar10_record_count(const std::filesystem::path& path);

/// Reads `records` records of `path` (as counted by cifar10_record_count) into `images`
/// (records x 3072 bytes) and `labels` (records entries).
A2Q_DECL void read_cifar10_records(const std::filesystem::path& path, std::int64_t records,
                                   std::uint8_t* images, std::int32_t* labels);

} // namespace a2q::detail

namespace a2q::data {

/// Reads one CIFAR-10 binary batch file.
/// @param path e.g. "cifar-10-batches-bin/data_batch_1.bin"
/// @throws io_error if the file is missing, its size is not a positive multiple of 3073 bytes (the message
///   names the size and the record size), or a label is above 9 (the message names the record and offset).
A2Q_DECL Cifar10Batch read_cifar10_batch(const std::filesystem::path& path);

} // namespace a2q::data

#if A2Q_HEADER_ONLY
#include "a2q/data/cifar10.ipp"
#endif
