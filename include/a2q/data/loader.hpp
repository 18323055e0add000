#pragma once
/// @file
/// a2q::data::DataLoader: turns an ImageDataset into shuffled, augmented, normalised float batches.
///
/// Everything random is a pure function of (seed, epoch, position in the epoch): the order comes from
/// Rng(seed).fork(epoch), and the augmentation of the sample at position p from
/// Rng(seed).fork(epoch).fork(p). So batch(i) does not depend on which batches were built before it, and a
/// trainer may build batches in any order, in parallel, or ahead of time.

#include "a2q/core/error.hpp"
#include "a2q/core/rng.hpp"
#include "a2q/core/tensor.hpp"
#include "a2q/data/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

// Converting a batch in parallel with OpenMP is opt-in: define A2Q_DATA_OPENMP and compile with -fopenmp.
// It is off by default because batch() is thread-safe, so a trainer can parallelise or prefetch at a
// higher level, and an OpenMP team inside every batch oversubscribes a busy machine (measured on 2 cores
// under load: one CIFAR-10-sized epoch took 6 s with the team, 0.2 s without).
#if defined(_OPENMP) && defined(A2Q_DATA_OPENMP)
#define A2Q_DATA_PARALLEL_FOR _Pragma("omp parallel for schedule(static)")
#else
#define A2Q_DATA_PARALLEL_FOR
#endif

namespace a2q::data {

/// A batch of samples as float.
struct Batch {
  Tensor<float> images{};             ///< [B, C, H, W], normalised
  std::vector<std::int32_t> labels{}; ///< B labels
  /// Number of samples B.
  std::int64_t size() const { return static_cast<std::int64_t>(labels.size()); }
};

/// Per-channel normalisation applied after scaling pixels to [0, 1]: x = (pixel / 255 - mean[c]) / stddev[c]
/// (like torchvision ToTensor + Normalize). Both empty: no normalisation, x = pixel / 255.
struct Normalization {
  std::vector<float> mean{};
  std::vector<float> stddev{};
  bool empty() const { return mean.empty() && stddev.empty(); }
};

/// Training-time augmentation, applied in pixel space before normalisation, in torchvision's order.
struct Augmentation {
  /// Random crop with zero padding: pad every side with this many zero pixels, then crop back to H x W at a
  /// uniformly random position (torchvision RandomCrop(size, padding)). 0 disables it.
  int random_crop_padding = 0;
  /// Mirror left-right with probability 0.5 (torchvision RandomHorizontalFlip).
  bool horizontal_flip = false;
  bool enabled() const { return random_crop_padding > 0 || horizontal_flip; }
};

/// Options of a DataLoader. Every member has a default (`{}` initialisers keep GCC's
/// -Wmissing-field-initializers quiet for designated initialisers such as `{.batch_size = 64}`).
struct DataLoaderOptions {
  std::int64_t batch_size = 128;
  /// Reshuffle every epoch; otherwise samples come in dataset order.
  bool shuffle = true;
  /// Drop the last batch if it is smaller than batch_size.
  bool drop_last = false;
  std::uint64_t seed = Rng::default_seed;
  Normalization normalization{};
  Augmentation augmentation{};
};

/// Builds float batches from an ImageDataset.
///
/// The loader keeps a reference to the dataset, which must outlive it and must not change while it is
/// used (binding to a temporary dataset does not compile). It starts at epoch 0; call start_epoch(e)
/// before each epoch. batch() is const and thread-safe for concurrent calls.
///
///     DataLoader loader(train, {.batch_size = 128, .augmentation = {.random_crop_padding = 4}});
///     for (std::int64_t epoch = 0; epoch < epochs; ++epoch) {
///       loader.start_epoch(epoch);
///       for (const Batch& batch : loader) { ... }
///     }
class DataLoader {
public:
  /// Input iterator over the batches of the current epoch; dereferencing builds the batch.
  class iterator {
  public:
    using iterator_concept = std::input_iterator_tag;
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using reference = Batch;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    Batch operator*() const { return loader_->batch(index_); }
    iterator& operator++() {
      ++index_;
      return *this;
    }
    void operator++(int) { ++index_; }
    /// Index of the batch this iterator points at.
    std::int64_t index() const { return index_; }
    friend bool operator==(const iterator& a, const iterator& b) { return a.index_ == b.index_; }

  private:
    friend class DataLoader;
    iterator(const DataLoader* loader, std::int64_t index) : loader_(loader), index_(index) {}
    const DataLoader* loader_ = nullptr;
    std::int64_t index_ = 0;
  };

  /// @param dataset Kept by reference: it must outlive the loader. Validated here.
  /// @param options Checked here.
  /// @throws config_error for batch_size < 1, a normalisation whose channel count differs from the
  ///   dataset's (or whose stddev is not positive), or a negative crop padding; the dataset's own
  ///   errors from ImageDataset::validate().
  explicit DataLoader(const ImageDataset& dataset, DataLoaderOptions options = {})
      : dataset_(&dataset), options_(std::move(options)) {
    dataset.validate();
    const Normalization& norm = options_.normalization;
    if (options_.batch_size < 1)
      throw config_error("DataLoader: batch_size must be >= 1, got " + std::to_string(options_.batch_size));
    if (norm.mean.size() != norm.stddev.size() ||
        (!norm.empty() && static_cast<std::int64_t>(norm.mean.size()) != dataset.channels()))
      throw config_error("DataLoader: normalization has " + std::to_string(norm.mean.size()) + " mean and " +
                         std::to_string(norm.stddev.size()) + " stddev values, dataset '" + dataset.name +
                         "' has " + std::to_string(dataset.channels()) + " channel(s)");
    for (std::size_t c = 0; c < norm.stddev.size(); ++c)
      if (!(norm.stddev[c] > 0.0f) || !std::isfinite(norm.stddev[c]) || !std::isfinite(norm.mean[c]))
        throw config_error("DataLoader: normalization channel " + std::to_string(c) + " has mean " +
                           std::to_string(norm.mean[c]) + ", stddev " + std::to_string(norm.stddev[c]) +
                           "; stddev must be positive and both finite");
    if (options_.augmentation.random_crop_padding < 0)
      throw config_error("DataLoader: random_crop_padding must be >= 0, got " +
                         std::to_string(options_.augmentation.random_crop_padding));

    // One lookup table per channel: the u8 -> float conversion is a single table read per pixel.
    const auto channels = static_cast<std::size_t>(dataset.channels());
    lut_.resize(256 * channels);
    for (std::size_t c = 0; c < channels; ++c)
      for (int v = 0; v < 256; ++v) {
        float x = static_cast<float>(v) / 255.0f;
        if (!norm.empty())
          x = (x - norm.mean[c]) / norm.stddev[c];
        lut_[256 * c + static_cast<std::size_t>(v)] = x;
      }
    start_epoch(0);
  }
  DataLoader(ImageDataset&&, DataLoaderOptions = {}) = delete;

  /// Sets the epoch: the sample order becomes Rng(seed).fork(epoch).permutation(N) (or 0..N-1 without
  /// shuffle), and the augmentation draws change. Reproducible: the same (seed, epoch) always gives the
  /// same batches, whatever happened before.
  /// @throws config_error if epoch is negative.
  void start_epoch(std::int64_t epoch) {
    if (epoch < 0)
      throw config_error("DataLoader::start_epoch: epoch must be >= 0, got " + std::to_string(epoch));
    epoch_ = epoch;
    epoch_rng_ = Rng(options_.seed).fork(static_cast<std::uint64_t>(epoch));
    if (options_.shuffle) {
      Rng shuffler = epoch_rng_;
      order_ = shuffler.permutation(dataset_->size());
    } else {
      order_.resize(static_cast<std::size_t>(dataset_->size()));
      std::iota(order_.begin(), order_.end(), std::int64_t{0});
    }
  }

  std::int64_t epoch() const { return epoch_; }

  /// Batches in an epoch: ceil(N / batch_size), or floor with drop_last.
  std::int64_t num_batches() const {
    const std::int64_t n = dataset_->size();
    const std::int64_t b = options_.batch_size;
    return options_.drop_last ? n / b : (n + b - 1) / b;
  }

  /// Samples delivered per epoch (N, or fewer with drop_last).
  std::int64_t num_samples() const { return std::min(dataset_->size(), num_batches() * options_.batch_size); }

  /// Batch `index` of the current epoch: samples at positions [index * batch_size, ...) of the epoch
  /// order, augmented and normalised. Depends only on (dataset, options, epoch, index).
  /// @throws shape_error if index is not in [0, num_batches()).
  Batch batch(std::int64_t index) const {
    if (index < 0 || index >= num_batches())
      throw shape_error("DataLoader::batch: index " + std::to_string(index) + " is out of range [0, " +
                        std::to_string(num_batches()) + ") for dataset '" + dataset_->name + "'");
    const std::int64_t first = index * options_.batch_size;
    const std::int64_t count = std::min(options_.batch_size, dataset_->size() - first);
    const ImageDataset& ds = *dataset_;
    Batch out{Tensor<float>::uninitialized({count, ds.channels(), ds.height(), ds.width()}),
              std::vector<std::int32_t>(static_cast<std::size_t>(count))};
    const std::int64_t sample_size = ds.channels() * ds.height() * ds.width();
    A2Q_DATA_PARALLEL_FOR
    for (std::int64_t i = 0; i < count; ++i) {
      const std::int64_t sample = order_[static_cast<std::size_t>(first + i)];
      out.labels[static_cast<std::size_t>(i)] = ds.labels[static_cast<std::size_t>(sample)];
      convert(ds.images.data() + sample * sample_size, out.images.data() + i * sample_size, first + i);
    }
    return out;
  }

  /// Iteration over the batches of the current epoch, in index order.
  iterator begin() const { return {this, 0}; }
  iterator end() const { return {this, num_batches()}; }

  /// The sample order of the current epoch (dataset indices by position).
  const std::vector<std::int64_t>& order() const { return order_; }
  const DataLoaderOptions& options() const { return options_; }
  const ImageDataset& dataset() const { return *dataset_; }

private:
  // Converts one [C, H, W] sample at epoch position `position` to float. Must not throw (it runs inside
  // an OpenMP loop).
  void convert(const std::uint8_t* source, float* target, std::int64_t position) const {
    const std::int64_t channels = dataset_->channels();
    const std::int64_t height = dataset_->height();
    const std::int64_t width = dataset_->width();
    const std::int64_t plane = height * width;
    const Augmentation& aug = options_.augmentation;
    if (!aug.enabled()) {
      for (std::int64_t c = 0; c < channels; ++c) {
        const float* lut = lut_.data() + 256 * c;
        const std::uint8_t* in = source + c * plane;
        float* out = target + c * plane;
        for (std::int64_t k = 0; k < plane; ++k)
          out[k] = lut[in[k]];
      }
      return;
    }
    // Draws in a fixed order: crop row offset, crop column offset, flip.
    Rng rng = epoch_rng_.fork(static_cast<std::uint64_t>(position));
    const std::int64_t pad = aug.random_crop_padding;
    std::int64_t dy = 0;
    std::int64_t dx = 0;
    if (pad > 0) {
      // Crop window top-left in the padded image is (pad + dy, pad + dx), dy, dx in [-pad, pad].
      dy = rng.uniform_int(0, 2 * pad) - pad;
      dx = rng.uniform_int(0, 2 * pad) - pad;
    }
    const bool flip = aug.horizontal_flip && rng.bernoulli(0.5);
    for (std::int64_t c = 0; c < channels; ++c) {
      const float* lut = lut_.data() + 256 * c;
      const float zero = lut[0];
      for (std::int64_t y = 0; y < height; ++y) {
        float* out = target + c * plane + y * width;
        const std::int64_t sy = y + dy;
        if (sy < 0 || sy >= height) {
          std::fill(out, out + width, zero);
          continue;
        }
        // Output column x reads source column sx = x + dx, or (width - 1 - x) + dx when flipped; the
        // columns whose source lies in the padding form a prefix and a suffix [lo, hi) leaves out.
        const std::uint8_t* in = source + c * plane + sy * width;
        const std::int64_t lo = std::clamp(flip ? dx : -dx, std::int64_t{0}, width);
        const std::int64_t hi = std::clamp(flip ? width + dx : width - dx, lo, width);
        std::fill(out, out + lo, zero);
        if (flip) {
          for (std::int64_t x = lo; x < hi; ++x)
            out[x] = lut[in[width - 1 + dx - x]];
        } else {
          for (std::int64_t x = lo; x < hi; ++x)
            out[x] = lut[in[x + dx]];
        }
        std::fill(out + hi, out + width, zero);
      }
    }
  }

  const ImageDataset* dataset_;
  DataLoaderOptions options_;
  std::vector<float> lut_;
  std::int64_t epoch_ = 0;
  Rng epoch_rng_;
  std::vector<std::int64_t> order_;
};

} // namespace a2q::data
