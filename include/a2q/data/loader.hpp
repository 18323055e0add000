#pragma once
/// @file
/// a2q::data::DataLoader: turns an ImageDataset into shuffled, augmented, normalised float batches.
///
/// Everything random is a pure function of (seed, epoch, position in the epoch): the order comes from
/// Rng(seed).fork(epoch), and the augmentation of the sample at position p from
/// Rng(seed).fork(epoch).fork(p). So batch(i) does not depend on which batches were built before it, and a
/// trainer may build batches in any order, in parallel, or ahead of time.

#include "a2q/core/config.hpp"
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
  Tensor<float> targets{};            ///< [B, C', H', W'] target images in [0, 1] (never normalised); empty
                                      ///< for classification
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
  A2Q_DECL explicit DataLoader(const ImageDataset& dataset, DataLoaderOptions options = {});
  DataLoader(ImageDataset&&, DataLoaderOptions = {}) = delete;

  /// Sets the epoch: the sample order becomes Rng(seed).fork(epoch).permutation(N) (or 0..N-1 without
  /// shuffle), and the augmentation draws change. Reproducible: the same (seed, epoch) always gives the
  /// same batches, whatever happened before.
  /// @throws config_error if epoch is negative.
  A2Q_DECL void start_epoch(std::int64_t epoch);

  std::int64_t epoch() const { return epoch_; }

  /// Batches in an epoch: ceil(N / batch_size), or floor with drop_last.
  A2Q_DECL std::int64_t num_batches() const;

  /// Samples delivered per epoch (N, or fewer with drop_last).
  std::int64_t num_samples() const { return std::min(dataset_->size(), num_batches() * options_.batch_size); }

  /// Batch `index` of the current epoch: samples at positions [index * batch_size, ...) of the epoch
  /// order, augmented and normalised. Depends only on (dataset, options, epoch, index).
  /// @throws shape_error if index is not in [0, num_batches()).
  A2Q_DECL Batch batch(std::int64_t index) const;

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
  A2Q_DECL void convert(const std::uint8_t* source, float* target, std::int64_t position) const;

  const ImageDataset* dataset_;
  DataLoaderOptions options_;
  std::vector<float> lut_;
  std::int64_t epoch_ = 0;
  Rng epoch_rng_;
  std::vector<std::int64_t> order_;
};

} // namespace a2q::data

#if A2Q_HEADER_ONLY
#include "a2q/data/loader.ipp"
#endif
