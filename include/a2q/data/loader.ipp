#pragma once
/// @file
/// Definitions for loader.hpp (see a2q/core/config.hpp).

#include "a2q/data/loader.hpp"

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

namespace a2q::data {

DataLoader::DataLoader(const ImageDataset& dataset, DataLoaderOptions options)
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
  if (dataset.has_targets() && options_.augmentation.enabled())
    throw config_error("DataLoader: dataset '" + dataset.name +
                       "' has target images, which crops and flips of the input would no longer match; "
                       "use no augmentation");
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

void DataLoader::start_epoch(std::int64_t epoch) {
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

std::int64_t DataLoader::num_batches() const {
  const std::int64_t n = dataset_->size();
  const std::int64_t b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

Batch DataLoader::batch(std::int64_t index) const {
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
  if (ds.has_targets()) {
    const Shape& t = ds.targets.shape();
    const std::int64_t target_size = t[1] * t[2] * t[3];
    out.targets = Tensor<float>::uninitialized({count, t[1], t[2], t[3]});
    for (std::int64_t i = 0; i < count; ++i) {
      const std::int64_t sample = order_[static_cast<std::size_t>(first + i)];
      const std::uint8_t* in = ds.targets.data() + sample * target_size;
      float* target = out.targets.data() + i * target_size;
      for (std::int64_t k = 0; k < target_size; ++k)
        target[k] = static_cast<float>(in[k]) / 255.0f;
    }
  }
  return out;
}

void DataLoader::convert(const std::uint8_t* source, float* target, std::int64_t position) const {
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

} // namespace a2q::data
