#pragma once
/// @file
/// Definitions for dataset.hpp (see a2q/core/config.hpp).

#include "a2q/data/dataset.hpp"

#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/data/cifar10.hpp"
#include "a2q/data/idx.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace a2q::data {

const char* to_string(Split split) {
  return split == Split::train ? "train" : "test";
}

ImageDataset subset(const ImageDataset& dataset, std::int64_t first, std::int64_t count) {
  dataset.validate();
  if (first < 0 || count < 0 || first > dataset.size() || count > dataset.size() - first)
    throw config_error("subset: first " + std::to_string(first) + ", count " + std::to_string(count) +
                       " is not within dataset '" + dataset.name + "' of " + std::to_string(dataset.size()) +
                       " samples");
  const std::int64_t sample_bytes = dataset.channels() * dataset.height() * dataset.width();
  ImageDataset out;
  out.images =
      Tensor<std::uint8_t>::uninitialized({count, dataset.channels(), dataset.height(), dataset.width()});
  if (count > 0)
    std::memcpy(out.images.data(), dataset.images.data() + first * sample_bytes,
                static_cast<std::size_t>(count * sample_bytes));
  out.labels.assign(dataset.labels.begin() + first, dataset.labels.begin() + first + count);
  out.num_classes = dataset.num_classes;
  out.name = dataset.name + "[" + std::to_string(first) + ":" + std::to_string(first + count) + "]";
  if (dataset.has_targets()) {
    const Shape& t = dataset.targets.shape();
    const std::int64_t target_bytes = t[1] * t[2] * t[3];
    out.targets = Tensor<std::uint8_t>::uninitialized({count, t[1], t[2], t[3]});
    if (count > 0)
      std::memcpy(out.targets.data(), dataset.targets.data() + first * target_bytes,
                  static_cast<std::size_t>(count * target_bytes));
  }
  return out;
}

ImageDataset super_resolution_pairs(const ImageDataset& images, int factor) {
  images.validate();
  if (factor < 2 || factor > 8)
    throw config_error("super_resolution_pairs: factor " + std::to_string(factor) + " is outside [2, 8]");
  const std::int64_t N = images.size(), C = images.channels();
  const std::int64_t H = images.height() / factor, W = images.width() / factor;
  if (H < 1 || W < 1)
    throw config_error("super_resolution_pairs: images of " + std::to_string(images.height()) + "x" +
                       std::to_string(images.width()) + " are smaller than the factor " +
                       std::to_string(factor));
  ImageDataset out;
  out.labels = images.labels;
  out.num_classes = images.num_classes;
  out.name = images.name + "/x" + std::to_string(factor);
  out.targets = Tensor<std::uint8_t>::uninitialized({N, C, H * factor, W * factor});
  out.images = Tensor<std::uint8_t>::uninitialized({N, C, H, W});
  const std::int64_t src_h = images.height(), src_w = images.width(), area = factor * factor;
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c) {
      const std::uint8_t* src = images.images.data() + (n * C + c) * src_h * src_w;
      std::uint8_t* target = out.targets.data() + (n * C + c) * H * factor * W * factor;
      std::uint8_t* low = out.images.data() + (n * C + c) * H * W;
      for (std::int64_t y = 0; y < H * factor; ++y)
        std::memcpy(target + y * W * factor, src + y * src_w, static_cast<std::size_t>(W * factor));
      for (std::int64_t y = 0; y < H; ++y)
        for (std::int64_t x = 0; x < W; ++x) {
          std::int64_t sum = 0;
          for (std::int64_t i = 0; i < factor; ++i)
            for (std::int64_t j = 0; j < factor; ++j)
              sum += src[(y * factor + i) * src_w + x * factor + j];
          low[y * W + x] = static_cast<std::uint8_t>((2 * sum + area) / (2 * area)); // round half up
        }
    }
  return out;
}

} // namespace a2q::data

namespace a2q::detail {

/// The last component of a directory path, ignoring a trailing separator ("data/cifar/" -> "cifar").
inline std::string directory_label(const std::filesystem::path& dir) {
  std::filesystem::path p = dir.lexically_normal();
  if (!p.has_filename())
    p = p.parent_path();
  const std::string label = p.filename().string();
  return label.empty() ? dir.string() : label;
}

inline void require_directory(const std::filesystem::path& dir, const std::string& looking_for) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw io_error(dir.string() + ": " +
                   (std::filesystem::exists(dir, ec) ? "not a directory" : "directory not found") +
                   " (looking for " + looking_for + ")");
}

/// `dir/base` if it exists, else `dir/base.gz`, else io_error naming both.
inline std::filesystem::path find_mnist_file(const std::filesystem::path& dir, const std::string& base,
                                             const std::string& what) {
  std::error_code ec;
  const std::filesystem::path raw = dir / base;
  if (std::filesystem::is_regular_file(raw, ec))
    return raw;
  const std::filesystem::path gz = dir / (base + ".gz");
  if (std::filesystem::is_regular_file(gz, ec))
    return gz;
  throw io_error("load_mnist: " + what + " not found: looked for " + raw.string() + " and " + gz.string());
}

} // namespace a2q::detail

namespace a2q::data {

ImageDataset load_mnist(const std::filesystem::path& dir, Split split) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  const std::string image_base = prefix + "-images-idx3-ubyte";
  const std::string label_base = prefix + "-labels-idx1-ubyte";
  detail::require_directory(dir, "the MNIST-format " + std::string(to_string(split)) +
                                     " split: " + image_base + "[.gz], " + label_base + "[.gz]");
  const std::filesystem::path image_path =
      detail::find_mnist_file(dir, image_base, std::string(to_string(split)) + " images");
  const std::filesystem::path label_path =
      detail::find_mnist_file(dir, label_base, std::string(to_string(split)) + " labels");

  Tensor<std::uint8_t> images = read_idx(image_path);
  if (images.rank() != 3)
    throw io_error(image_path.string() + ": expected images of rank 3 [N, H, W], found rank " +
                   std::to_string(images.rank()) + " with dimensions " + images.shape().to_string());
  const Tensor<std::uint8_t> raw_labels = read_idx(label_path);
  if (raw_labels.rank() != 1)
    throw io_error(label_path.string() + ": expected labels of rank 1 [N], found rank " +
                   std::to_string(raw_labels.rank()) + " with dimensions " + raw_labels.shape().to_string());
  if (images.dim(0) != raw_labels.dim(0))
    throw io_error("load_mnist: image/label count mismatch: " + image_path.string() + " holds " +
                   std::to_string(images.dim(0)) + " images, " + label_path.string() + " holds " +
                   std::to_string(raw_labels.dim(0)) + " labels");

  constexpr int num_classes = 10;
  ImageDataset out;
  out.labels.resize(static_cast<std::size_t>(raw_labels.numel()));
  for (std::int64_t i = 0; i < raw_labels.numel(); ++i) {
    const int label = raw_labels[i];
    if (label >= num_classes)
      throw io_error(label_path.string() + ": label " + std::to_string(label) + " of item " +
                     std::to_string(i) + " (offset " + std::to_string(8 + i) +
                     " of the IDX data) is out of range, expected 0.." + std::to_string(num_classes - 1));
    out.labels[static_cast<std::size_t>(i)] = label;
  }
  images.reshape({images.dim(0), 1, images.dim(1), images.dim(2)});
  out.images = std::move(images);
  out.num_classes = num_classes;
  out.name = detail::directory_label(dir) + "/" + to_string(split);
  return out;
}

ImageDataset load_cifar10(const std::filesystem::path& dir, Split split) {
  detail::require_directory(dir, split == Split::train ? "CIFAR-10 data_batch_1.bin .. data_batch_5.bin"
                                                       : "CIFAR-10 test_batch.bin");
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  if (split == Split::train) {
    for (int i = 1; i <= 5; ++i) {
      const std::filesystem::path file = dir / ("data_batch_" + std::to_string(i) + ".bin");
      if (std::filesystem::exists(file, ec)) {
        if (files.size() + 1 != static_cast<std::size_t>(i))
          throw io_error("load_cifar10: " + file.string() + " exists but " +
                         (dir / ("data_batch_" + std::to_string(files.size() + 1) + ".bin")).string() +
                         " is missing");
        files.push_back(file);
      }
    }
    if (files.empty())
      throw io_error("load_cifar10: " + (dir / "data_batch_1.bin").string() + " not found");
  } else {
    files.push_back(dir / "test_batch.bin");
    if (!std::filesystem::exists(files.front(), ec))
      throw io_error("load_cifar10: " + files.front().string() + " not found");
  }

  // Size every file first so the images are read straight into one tensor.
  std::vector<std::int64_t> counts;
  std::int64_t total = 0;
  for (const auto& file : files)
    total += counts.emplace_back(detail::cifar10_record_count(file));
  ImageDataset out;
  out.images = Tensor<std::uint8_t>::uninitialized({total, cifar10_channels, cifar10_height, cifar10_width});
  out.labels.resize(static_cast<std::size_t>(total));
  std::int64_t first = 0;
  for (std::size_t f = 0; f < files.size(); ++f) {
    detail::read_cifar10_records(files[f], counts[f], out.images.data() + first * cifar10_image_bytes,
                                 out.labels.data() + first);
    first += counts[f];
  }
  out.num_classes = cifar10_num_classes;
  out.name = detail::directory_label(dir) + "/" + to_string(split);
  return out;
}

} // namespace a2q::data
