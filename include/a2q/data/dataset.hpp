#pragma once
/// @file
/// a2q::data::ImageDataset: labelled images held as bytes, and the loaders that fill it from MNIST-format
/// (IDX) and CIFAR-10 binary files. Needs zlib (through idx.hpp): link the CMake target a2q::data.

#include "a2q/core/config.hpp"
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

/// Where the Fashion-MNIST files (train-images-idx3-ubyte.gz, ...) are installed on the project machines.
inline constexpr const char* default_fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";

/// Which part of a dataset to load.
enum class Split { train, test };

/// "train" or "test".
A2Q_DECL const char* to_string(Split split);

/// Labelled images kept as raw bytes (0..255); the DataLoader converts batches to float on the fly.
struct ImageDataset {
  Tensor<std::uint8_t> images{};      ///< [N, C, H, W], pixels 0..255
  std::vector<std::int32_t> labels{}; ///< N labels in [0, num_classes)
  int num_classes = 0;
  std::string name{}; ///< for messages and logs, e.g. "fashion-mnist/train"
  /// Image-to-image tasks (super-resolution): the target image of each sample, [N, C', H', W'], pixels
  /// 0..255; empty for classification.
  Tensor<std::uint8_t> targets{};

  /// The samples have target images (a regression task) rather than only labels.
  bool has_targets() const { return targets.rank() == 4; }

  /// Number of samples N.
  std::int64_t size() const { return static_cast<std::int64_t>(labels.size()); }
  std::int64_t channels() const { return images.rank() == 4 ? images.dim(1) : 0; }
  std::int64_t height() const { return images.rank() == 4 ? images.dim(2) : 0; }
  std::int64_t width() const { return images.rank() == 4 ? images.dim(3) : 0; }

  /// Samples per class, indexed by label (call validate() first if the labels may be out of range).
  std::vector<std::int64_t> class_counts() const {
    std::vector<std::int64_t> counts(static_cast<std::size_t>(std::max(num_classes, 0)), 0);
    for (const std::int32_t label : labels)
      if (label >= 0 && label < num_classes)
        ++counts[static_cast<std::size_t>(label)];
    return counts;
  }

  /// Checks the invariants: images of rank 4, one label per image, num_classes >= 1, every label in
  /// [0, num_classes).
  /// @throws shape_error for a wrong rank or a count mismatch, config_error for bad classes or labels.
  void validate() const {
    const std::string who = "dataset '" + name + "': ";
    if (images.rank() != 4)
      throw shape_error(who + "images must have rank 4 [N, C, H, W], got shape " +
                        images.shape().to_string());
    if (images.dim(0) != size())
      throw shape_error(who + std::to_string(images.dim(0)) + " images (shape " + images.shape().to_string() +
                        ") but " + std::to_string(size()) + " labels");
    if (num_classes < 1)
      throw config_error(who + "num_classes must be >= 1, got " + std::to_string(num_classes));
    if (targets.numel() > 0 && (targets.rank() != 4 || targets.dim(0) != size()))
      throw shape_error(who + "targets must be [N, C, H, W] with one per sample, got shape " +
                        targets.shape().to_string() + " for " + std::to_string(size()) + " samples");
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (labels[i] < 0 || labels[i] >= num_classes)
        throw config_error(who + "label " + std::to_string(labels[i]) + " of sample " + std::to_string(i) +
                           " is out of range [0, " + std::to_string(num_classes) + ")");
  }
};

/// Samples [first, first + count) of `dataset` as a new dataset (a copy), e.g. for quick runs and smoke
/// tests. The name gets "[first:first+count]" appended.
/// @throws config_error if the range does not lie within the dataset.
A2Q_DECL ImageDataset subset(const ImageDataset& dataset, std::int64_t first, std::int64_t count);

/// Super-resolution pairs from `images`: each target is an image itself, each input its r x r average
/// pooling rounded to the nearest pixel value (a low-resolution image stored in 8 bits, as a camera or a
/// file holds it). Labels are kept. Sides that r does not divide lose their last rows or columns.
/// @throws config_error for a factor outside [2, 8] or images smaller than r x r
A2Q_DECL ImageDataset super_resolution_pairs(const ImageDataset& images, int factor);

/// Loads an MNIST-format dataset (MNIST, Fashion-MNIST, KMNIST: 10 classes) from `dir`, which holds
/// train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte,
/// each raw or with ".gz" appended (the raw file wins if both exist).
/// @param dir e.g. default_fashion_mnist_dir
/// @param split Split::train (train-*) or Split::test (t10k-*).
/// @return images [N, 1, H, W] (any H, W), labels in 0..9, num_classes 10, name "<dir name>/<split>".
/// @throws io_error for a missing directory or file (naming what was looked for), a malformed file (see
///   read_idx), images that are not rank 3, labels that are not rank 1 or not in 0..9, or an image count
///   that differs from the label count (naming both files and counts).
A2Q_DECL ImageDataset load_mnist(const std::filesystem::path& dir, Split split);

/// Loads CIFAR-10 from the binary-version directory `dir` (cifar-10-batches-bin).
/// @param split Split::train reads data_batch_1.bin, data_batch_2.bin, ... up to data_batch_5.bin, stopping
///   at the first missing one (data_batch_1.bin must exist, so a few synthetic batches work; a gap
///   followed by a later batch is an error); Split::test reads test_batch.bin.
/// @return images [N, 3, 32, 32], labels in 0..9, num_classes 10, name "<dir name>/<split>".
/// @throws io_error for a missing directory or file, or a malformed batch (see read_cifar10_batch).
A2Q_DECL ImageDataset load_cifar10(const std::filesystem::path& dir, Split split);

} // namespace a2q::data

#if A2Q_HEADER_ONLY
#include "a2q/data/dataset.ipp"
#endif
