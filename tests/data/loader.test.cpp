#include "a2q/data/loader.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <set>
#include <type_traits>
#include <vector>

using a2q::data::Batch;
using a2q::data::DataLoader;
using a2q::data::DataLoaderOptions;
using a2q::data::ImageDataset;
using Catch::Matchers::Contains;
using Catch::Matchers::WithinRel;

static_assert(std::input_iterator<DataLoader::iterator>);
static_assert(!std::is_constructible_v<DataLoader, ImageDataset&&>,
              "a loader must not bind to a temporary dataset");

namespace {

// n samples of c x h x w; every pixel of sample i is i (mod 256), label i % classes.
ImageDataset indexed_dataset(std::int64_t n, std::int64_t c = 1, std::int64_t h = 4, std::int64_t w = 4,
                             int classes = 10) {
  ImageDataset ds;
  ds.images = a2q::Tensor<std::uint8_t>::uninitialized({n, c, h, w});
  const std::int64_t size = c * h * w;
  for (std::int64_t i = 0; i < n; ++i)
    std::fill_n(ds.images.data() + i * size, size, static_cast<std::uint8_t>(i));
  for (std::int64_t i = 0; i < n; ++i)
    ds.labels.push_back(static_cast<std::int32_t>(i % classes));
  ds.num_classes = classes;
  ds.name = "indexed";
  return ds;
}

// n copies of one asymmetric 1 x h x w image with pixel (y, x) = 1 + 10 * y + x (never zero).
ImageDataset asymmetric_dataset(std::int64_t n, std::int64_t h = 5, std::int64_t w = 6) {
  ImageDataset ds;
  ds.images = a2q::Tensor<std::uint8_t>::uninitialized({n, 1, h, w});
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x)
        ds.images(i, 0, y, x) = static_cast<std::uint8_t>(1 + 10 * y + x);
  ds.labels.assign(static_cast<std::size_t>(n), 0);
  ds.num_classes = 1;
  ds.name = "asymmetric";
  return ds;
}

// Sample index recovered from an indexed_dataset batch element (pixels are i / 255 without normalisation).
std::int64_t sample_of(const Batch& batch, std::int64_t b) {
  return static_cast<std::int64_t>(batch.images(b, 0, 0, 0) * 255.0f + 0.5f);
}

std::vector<std::int64_t> epoch_samples(const DataLoader& loader) {
  std::vector<std::int64_t> samples;
  for (std::int64_t i = 0; i < loader.num_batches(); ++i) {
    const Batch batch = loader.batch(i);
    for (std::int64_t b = 0; b < batch.size(); ++b)
      samples.push_back(sample_of(batch, b));
  }
  return samples;
}

} // namespace

TEST_CASE("DataLoader batch shapes, last partial batch and drop_last", "[data][loader]") {
  const ImageDataset ds = indexed_dataset(10, 3, 4, 5);
  DataLoader loader(ds, {.batch_size = 4, .shuffle = false});
  REQUIRE(loader.num_batches() == 3);
  CHECK(loader.num_samples() == 10);
  CHECK(loader.batch(0).images.shape() == a2q::Shape{4, 3, 4, 5});
  CHECK(loader.batch(1).labels.size() == 4);
  const Batch last = loader.batch(2);
  CHECK(last.images.shape() == a2q::Shape{2, 3, 4, 5});
  CHECK(last.labels == std::vector<std::int32_t>{8, 9});
  CHECK(sample_of(last, 1) == 9);
  CHECK_THROWS_AS(loader.batch(3), a2q::shape_error);
  CHECK_THROWS_WITH(loader.batch(-1), Contains("index -1 is out of range [0, 3)"));

  DataLoader dropping(ds, {.batch_size = 4, .drop_last = true});
  CHECK(dropping.num_batches() == 2);
  CHECK(dropping.num_samples() == 8);
  CHECK(dropping.batch(1).images.shape() == a2q::Shape{4, 3, 4, 5});

  DataLoader exact(ds, {.batch_size = 5, .drop_last = true});
  CHECK(exact.num_batches() == 2);
  DataLoader big(ds, {.batch_size = 128});
  CHECK(big.num_batches() == 1);
  CHECK(big.batch(0).size() == 10);
  DataLoader none(ds, {.batch_size = 128, .drop_last = true});
  CHECK(none.num_batches() == 0);
  CHECK(none.begin() == none.end());
}

TEST_CASE("DataLoader scales pixels to [0, 1] and normalises per channel", "[data][loader]") {
  ImageDataset ds = indexed_dataset(1, 2, 1, 3);
  // Channel 0: 0, 51, 255; channel 1: 102, 153, 204.
  const std::vector<std::uint8_t> pixels = {0, 51, 255, 102, 153, 204};
  std::copy(pixels.begin(), pixels.end(), ds.images.begin());

  DataLoader plain(ds, {.batch_size = 1});
  const Batch p = plain.batch(0);
  for (std::size_t k = 0; k < pixels.size(); ++k)
    CHECK_THAT(p.images[static_cast<std::int64_t>(k)], WithinRel(pixels[k] / 255.0f, 1e-6f));

  DataLoader normalised(ds, {.batch_size = 1, .normalization = {{0.5f, 0.25f}, {0.25f, 2.0f}}});
  const Batch n = normalised.batch(0);
  CHECK_THAT(n.images(0, 0, 0, 0), WithinRel(-2.0f, 1e-6f));  // (0 - 0.5) / 0.25
  CHECK_THAT(n.images(0, 0, 0, 1), WithinRel(-1.2f, 1e-5f));  // (0.2 - 0.5) / 0.25
  CHECK_THAT(n.images(0, 0, 0, 2), WithinRel(2.0f, 1e-6f));   // (1 - 0.5) / 0.25
  CHECK_THAT(n.images(0, 1, 0, 0), WithinRel(0.075f, 1e-5f)); // (0.4 - 0.25) / 2
  CHECK_THAT(n.images(0, 1, 0, 2), WithinRel(0.275f, 1e-5f)); // (0.8 - 0.25) / 2
}

TEST_CASE("DataLoader rejects bad options with the values", "[data][loader]") {
  const ImageDataset ds = indexed_dataset(4, 3);
  CHECK_THROWS_AS(DataLoader(ds, {.batch_size = 0}), a2q::config_error);
  CHECK_THROWS_WITH(DataLoader(ds, {.batch_size = -3}), Contains("batch_size must be >= 1, got -3"));
  CHECK_THROWS_WITH(DataLoader(ds, {.normalization = {{0.5f}, {0.25f}}}),
                    Contains("normalization has 1 mean and 1 stddev values") && Contains("3 channel(s)"));
  CHECK_THROWS_WITH(DataLoader(ds, {.normalization = {{0.5f, 0.5f, 0.5f}, {0.25f, 0.25f}}}),
                    Contains("3 mean and 2 stddev"));
  CHECK_THROWS_WITH(DataLoader(ds, {.normalization = {{0.5f, 0.5f, 0.5f}, {0.25f, 0.0f, 0.25f}}}),
                    Contains("channel 1") && Contains("stddev must be positive"));
  CHECK_THROWS_WITH(DataLoader(ds, {.augmentation = {.random_crop_padding = -1}}),
                    Contains("random_crop_padding must be >= 0, got -1"));
  DataLoader loader(ds);
  CHECK_THROWS_WITH(loader.start_epoch(-2), Contains("epoch must be >= 0, got -2"));

  ImageDataset broken = ds;
  broken.labels.push_back(0);
  CHECK_THROWS_AS(DataLoader(broken), a2q::shape_error);
}

TEST_CASE("DataLoader shuffles deterministically per (seed, epoch), each sample once", "[data][loader]") {
  const ImageDataset ds = indexed_dataset(50);
  const DataLoaderOptions options{.batch_size = 8, .seed = 42};
  DataLoader a(ds, options);
  DataLoader b(ds, options);

  for (std::int64_t epoch : {0, 1, 2}) {
    a.start_epoch(epoch);
    b.start_epoch(epoch);
    const auto samples = epoch_samples(a);
    CHECK(samples == epoch_samples(b));
    std::vector<std::int64_t> sorted = samples;
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::int64_t> all(50);
    for (std::int64_t i = 0; i < 50; ++i)
      all[static_cast<std::size_t>(i)] = i;
    CHECK(sorted == all);
    // Labels travel with their images.
    for (std::int64_t i = 0; i < a.num_batches(); ++i) {
      const Batch batch = a.batch(i);
      for (std::int64_t k = 0; k < batch.size(); ++k)
        REQUIRE(batch.labels[static_cast<std::size_t>(k)] == sample_of(batch, k) % 10);
    }
  }

  a.start_epoch(0);
  const auto epoch0 = epoch_samples(a);
  a.start_epoch(1);
  const auto epoch1 = epoch_samples(a);
  CHECK(epoch0 != epoch1);
  // Reproducible regardless of what happened in between.
  a.start_epoch(0);
  CHECK(epoch_samples(a) == epoch0);
  CHECK(a.order() == std::vector<std::int64_t>(epoch0.begin(), epoch0.end()));

  DataLoader other_seed(ds, {.batch_size = 8, .seed = 43});
  CHECK(epoch_samples(other_seed) != epoch0);

  DataLoader ordered(ds, {.batch_size = 8, .shuffle = false});
  ordered.start_epoch(5);
  const auto in_order = epoch_samples(ordered);
  CHECK(std::is_sorted(in_order.begin(), in_order.end()));
  CHECK(in_order.size() == 50);

  // drop_last drops different samples in different epochs, but never repeats one.
  DataLoader dropping(ds, {.batch_size = 8, .drop_last = true, .seed = 42});
  const auto kept = epoch_samples(dropping);
  CHECK(kept.size() == 48);
  CHECK(std::set<std::int64_t>(kept.begin(), kept.end()).size() == 48);
}

TEST_CASE("DataLoader horizontal flip mirrors the image with probability 1/2", "[data][loader][augment]") {
  const ImageDataset ds = asymmetric_dataset(64);
  DataLoader loader(ds, {.batch_size = 64, .augmentation = {.horizontal_flip = true}});
  const Batch batch = loader.batch(0);
  int flipped = 0;
  int kept = 0;
  for (std::int64_t b = 0; b < 64; ++b) {
    bool same = true;
    bool mirrored = true;
    for (std::int64_t y = 0; y < 5; ++y)
      for (std::int64_t x = 0; x < 6; ++x) {
        const float v = batch.images(b, 0, y, x) * 255.0f;
        same = same && std::abs(v - static_cast<float>(ds.images(0, 0, y, x))) < 1e-3f;
        mirrored = mirrored && std::abs(v - static_cast<float>(ds.images(0, 0, y, 5 - x))) < 1e-3f;
      }
    REQUIRE(same != mirrored); // exactly one of the two; the image is asymmetric
    flipped += mirrored;
    kept += same;
  }
  CHECK(flipped > 16);
  CHECK(kept > 16);
}

TEST_CASE("DataLoader random crop shifts content and pads with zeros", "[data][loader][augment]") {
  constexpr std::int64_t h = 5;
  constexpr std::int64_t w = 6;
  constexpr std::int64_t pad = 2;
  const ImageDataset ds = asymmetric_dataset(400, h, w);
  const auto pixel = [&](std::int64_t y, std::int64_t x) -> float {
    return y < 0 || y >= h || x < 0 || x >= w ? 0.0f : static_cast<float>(ds.images(0, 0, y, x));
  };

  // Normalised, so that padding shows as (0 - mean) / stddev.
  const float mean = 0.5f;
  const float stddev = 0.25f;
  DataLoader loader(
      ds, {.batch_size = 400,
           .normalization = {{mean}, {stddev}},
           .augmentation = {.random_crop_padding = static_cast<int>(pad), .horizontal_flip = true}});
  const Batch batch = loader.batch(0);
  REQUIRE(batch.images.shape() == a2q::Shape{400, 1, h, w});

  std::set<std::tuple<std::int64_t, std::int64_t, bool>> seen;
  for (std::int64_t b = 0; b < 400; ++b) {
    // Find the (dy, dx, flip) that explains this output; exactly one must.
    int matches = 0;
    for (std::int64_t dy = -pad; dy <= pad; ++dy)
      for (std::int64_t dx = -pad; dx <= pad; ++dx)
        for (const bool flip : {false, true}) {
          bool ok = true;
          for (std::int64_t y = 0; y < h && ok; ++y)
            for (std::int64_t x = 0; x < w && ok; ++x) {
              const float expected = (pixel(y + dy, (flip ? w - 1 - x : x) + dx) / 255.0f - mean) / stddev;
              ok = std::abs(batch.images(b, 0, y, x) - expected) < 1e-4f;
            }
          if (ok) {
            ++matches;
            seen.insert({dy, dx, flip});
          }
        }
    REQUIRE(matches == 1);
  }
  // Every shift and both flips show up in 400 draws; zeros enter from the padding.
  CHECK(seen.size() == static_cast<std::size_t>((2 * pad + 1) * (2 * pad + 1) * 2));
  const float padded = (0.0f - mean) / stddev;
  CHECK(std::count_if(batch.images.begin(), batch.images.end(),
                      [&](float v) { return std::abs(v - padded) < 1e-6f; }) > 0);

  // Padding wider than the image: some crops are all padding, none reads outside the image.
  DataLoader wide(ds,
                  {.batch_size = 64, .augmentation = {.random_crop_padding = 9, .horizontal_flip = true}});
  const Batch far = wide.batch(0);
  CHECK(far.images.shape() == a2q::Shape{64, 1, h, w});
  CHECK(std::all_of(far.images.begin(), far.images.end(), [](float v) { return v >= 0.0f && v <= 1.0f; }));
  CHECK(std::count(far.images.begin(), far.images.end(), 0.0f) > 0);

  // Without augmentation nothing moves.
  DataLoader still(ds, {.batch_size = 400});
  const Batch plain = still.batch(0);
  CHECK(plain.images(7, 0, 0, 0) * 255.0f == Approx(1.0f));
  CHECK(plain.images(7, 0, 4, 5) * 255.0f == Approx(46.0f));
}

TEST_CASE("DataLoader batch(i) does not depend on the order batches are built", "[data][loader][augment]") {
  const ImageDataset ds = indexed_dataset(37, 3, 6, 6);
  const DataLoaderOptions options{.batch_size = 5,
                                  .seed = 7,
                                  .normalization = {{0.4f, 0.5f, 0.6f}, {0.2f, 0.3f, 0.4f}},
                                  .augmentation = {.random_crop_padding = 2, .horizontal_flip = true}};
  DataLoader forward(ds, options);
  forward.start_epoch(3);
  std::vector<Batch> in_order;
  for (const Batch& batch : forward)
    in_order.push_back(batch);
  REQUIRE(static_cast<std::int64_t>(in_order.size()) == forward.num_batches());

  DataLoader backward(ds, options);
  backward.start_epoch(9);
  (void)backward.batch(2); // unrelated work in another epoch first
  backward.start_epoch(3);
  for (std::int64_t i = backward.num_batches() - 1; i >= 0; --i) {
    const Batch batch = backward.batch(i);
    CHECK(batch.images == in_order[static_cast<std::size_t>(i)].images);
    CHECK(batch.labels == in_order[static_cast<std::size_t>(i)].labels);
  }
  // The same batch twice is identical, and another epoch augments differently.
  CHECK(forward.batch(4).images == forward.batch(4).images);
  forward.start_epoch(4);
  CHECK_FALSE(forward.batch(0).images == in_order[0].images);

  // Iterators visit batches 0..n-1.
  std::int64_t count = 0;
  for (auto it = backward.begin(); it != backward.end(); ++it) {
    CHECK(it.index() == count);
    ++count;
  }
  CHECK(count == backward.num_batches());
}

TEST_CASE("super-resolution pairs: the input is the rounded average pooling, the target the image itself",
          "[data][loader][super_resolution]") {
  ImageDataset images;
  images.images = a2q::Tensor<std::uint8_t>::uninitialized({2, 1, 5, 4}); // 5 rows: the last is dropped
  for (std::int64_t k = 0; k < images.images.numel(); ++k)
    images.images[k] = static_cast<std::uint8_t>((k * 37 + 11) % 256);
  images.labels = {3, 7};
  images.num_classes = 10;
  images.name = "tiny";
  const ImageDataset pairs = a2q::data::super_resolution_pairs(images, 2);
  REQUIRE(pairs.images.shape() == a2q::Shape{2, 1, 2, 2});
  REQUIRE(pairs.targets.shape() == a2q::Shape{2, 1, 4, 4});
  CHECK(pairs.labels == images.labels);
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t y = 0; y < 2; ++y)
      for (std::int64_t x = 0; x < 2; ++x) {
        const auto px = [&](std::int64_t r, std::int64_t c) { return images.images[(n * 5 + r) * 4 + c]; };
        const int sum =
            px(2 * y, 2 * x) + px(2 * y, 2 * x + 1) + px(2 * y + 1, 2 * x) + px(2 * y + 1, 2 * x + 1);
        const int rounded = (sum + 2) / 4; // half up
        CHECK(pairs.images[(n * 2 + y) * 2 + x] == rounded);
        CHECK(std::abs(4.0 * pairs.images[(n * 2 + y) * 2 + x] - sum) <= 2.0);
      }
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t y = 0; y < 4; ++y)
      for (std::int64_t x = 0; x < 4; ++x)
        CHECK(pairs.targets[(n * 4 + y) * 4 + x] == images.images[(n * 5 + y) * 4 + x]);
  CHECK_THROWS_WITH(a2q::data::super_resolution_pairs(images, 9), Contains("outside [2, 8]"));
  CHECK_THROWS_WITH(a2q::data::super_resolution_pairs(images, 5), Contains("smaller than the factor"));

  // Batches carry the targets in the samples' (shuffled) order, scaled to [0, 1] and never normalised.
  DataLoaderOptions o;
  o.batch_size = 2;
  o.shuffle = true;
  o.seed = 5;
  const DataLoader loader(pairs, o);
  const Batch b = loader.batch(0);
  REQUIRE(b.targets.shape() == a2q::Shape{2, 1, 4, 4});
  for (std::int64_t i = 0; i < 2; ++i) {
    const std::int64_t sample = b.labels[static_cast<std::size_t>(i)] == 3 ? 0 : 1;
    for (std::int64_t k = 0; k < 16; ++k)
      CHECK(b.targets[i * 16 + k] == static_cast<float>(pairs.targets[sample * 16 + k]) / 255.0f);
  }
  // Subsets keep the targets.
  const ImageDataset second = a2q::data::subset(pairs, 1, 1);
  REQUIRE(second.targets.shape() == a2q::Shape{1, 1, 4, 4});
  CHECK(second.targets[0] == pairs.targets[16]);
  // Augmenting the input would break its pairing with the target.
  DataLoaderOptions augmented;
  augmented.augmentation.horizontal_flip = true;
  CHECK_THROWS_WITH(DataLoader(pairs, augmented), Contains("target images"));
}
