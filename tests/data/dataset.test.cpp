#include "a2q/data/dataset.hpp"

#include "test_files.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

using a2q::io_error;
using a2q::data::ImageDataset;
using a2q::data::load_mnist;
using a2q::data::Split;
using Catch::Matchers::Contains;
using namespace a2q_test;

namespace {

// Writes an MNIST-format split of n images of h x w: image i has pixel (y, x) = i + y * w + x, label i % 10.
void write_mnist(const TempDir& dir, const std::string& prefix, std::uint32_t n, std::uint32_t h,
                 std::uint32_t w, bool gzip_images, bool gzip_labels) {
  Bytes pixels;
  Bytes labels;
  for (std::uint32_t i = 0; i < n; ++i) {
    for (std::uint32_t k = 0; k < h * w; ++k)
      pixels.push_back(static_cast<std::uint8_t>(i + k));
    labels.push_back(static_cast<std::uint8_t>(i % 10));
  }
  const std::string images_name = prefix + "-images-idx3-ubyte";
  const std::string labels_name = prefix + "-labels-idx1-ubyte";
  if (gzip_images)
    write_gzip(dir / (images_name + ".gz"), idx_file({n, h, w}, pixels));
  else
    write_bytes(dir / images_name, idx_file({n, h, w}, pixels));
  if (gzip_labels)
    write_gzip(dir / (labels_name + ".gz"), idx_file({n}, labels));
  else
    write_bytes(dir / labels_name, idx_file({n}, labels));
}

ImageDataset small_dataset(std::int64_t n) {
  ImageDataset ds;
  ds.images = a2q::Tensor<std::uint8_t>::uninitialized({n, 2, 3, 4});
  for (std::int64_t i = 0; i < ds.images.numel(); ++i)
    ds.images[i] = static_cast<std::uint8_t>(i);
  for (std::int64_t i = 0; i < n; ++i)
    ds.labels.push_back(static_cast<std::int32_t>(i % 3));
  ds.num_classes = 3;
  ds.name = "small";
  return ds;
}

} // namespace

TEST_CASE("load_mnist reads raw and gzip splits as [N, 1, H, W]", "[data][mnist]") {
  TempDir dir;
  write_mnist(dir, "train", 12, 28, 28, true, false);
  write_mnist(dir, "t10k", 5, 7, 9, false, true);

  const ImageDataset train = load_mnist(dir.path(), Split::train);
  REQUIRE_NOTHROW(train.validate());
  CHECK(train.images.shape() == a2q::Shape{12, 1, 28, 28});
  CHECK(train.size() == 12);
  CHECK(train.num_classes == 10);
  CHECK(train.labels[11] == 1);
  CHECK(train.images(3, 0, 2, 5) == 3 + 2 * 28 + 5);
  CHECK(train.name == dir.path().filename().string() + "/train");
  CHECK(train.class_counts() == std::vector<std::int64_t>{2, 2, 1, 1, 1, 1, 1, 1, 1, 1});

  // Any H, W; a trailing separator on the directory does not change the name.
  const ImageDataset test = load_mnist(dir.path().string() + "/", Split::test);
  CHECK(test.images.shape() == a2q::Shape{5, 1, 7, 9});
  CHECK(test.channels() == 1);
  CHECK(test.height() == 7);
  CHECK(test.width() == 9);
  CHECK(test.name == dir.path().filename().string() + "/test");
}

TEST_CASE("load_mnist reports missing directories and files by name", "[data][mnist]") {
  TempDir dir;
  CHECK_THROWS_WITH(load_mnist(dir / "absent", Split::train), Contains("absent") &&
                                                                  Contains("directory not found") &&
                                                                  Contains("train-images-idx3-ubyte"));
  CHECK_THROWS_WITH(load_mnist(dir.path(), Split::test),
                    Contains("test images not found") &&
                        Contains((dir / "t10k-images-idx3-ubyte").string() + " and " +
                                 (dir / "t10k-images-idx3-ubyte.gz").string()));
  write_mnist(dir, "train", 3, 28, 28, false, false);
  std::filesystem::remove(dir / "train-labels-idx1-ubyte");
  CHECK_THROWS_WITH(load_mnist(dir.path(), Split::train),
                    Contains("train labels not found") && Contains("train-labels-idx1-ubyte.gz"));
}

TEST_CASE("load_mnist rejects count mismatches, bad labels and wrong ranks", "[data][mnist]") {
  TempDir dir;
  write_mnist(dir, "train", 4, 28, 28, false, false);
  write_bytes(dir / "train-labels-idx1-ubyte", idx_file({3}, {0, 1, 2}));
  CHECK_THROWS_WITH(load_mnist(dir.path(), Split::train),
                    Contains("image/label count mismatch") &&
                        Contains("train-images-idx3-ubyte holds 4 images") &&
                        Contains("train-labels-idx1-ubyte holds 3 labels"));

  write_bytes(dir / "train-labels-idx1-ubyte", idx_file({4}, {0, 1, 10, 2}));
  CHECK_THROWS_WITH(load_mnist(dir.path(), Split::train),
                    Contains("train-labels-idx1-ubyte") && Contains("label 10 of item 2") &&
                        Contains("offset 10") && Contains("expected 0..9"));

  write_bytes(dir / "train-labels-idx1-ubyte", idx_file({2, 2}, {0, 1, 2, 3}));
  CHECK_THROWS_WITH(load_mnist(dir.path(), Split::train),
                    Contains("train-labels-idx1-ubyte") && Contains("expected labels of rank 1"));

  write_bytes(dir / "train-images-idx3-ubyte", idx_file({4, 784}, Bytes(4 * 784, 0)));
  CHECK_THROWS_WITH(load_mnist(dir.path(), Split::train), Contains("train-images-idx3-ubyte") &&
                                                              Contains("expected images of rank 3") &&
                                                              Contains("[4, 784]"));

  // A malformed file surfaces read_idx's message.
  write_bytes(dir / "train-images-idx3-ubyte", {1, 2, 3, 4});
  CHECK_THROWS_WITH(load_mnist(dir.path(), Split::train),
                    Contains("train-images-idx3-ubyte: offset 0: bad magic 0x01020304"));
}

TEST_CASE("ImageDataset::validate checks rank, counts and labels", "[data][dataset]") {
  ImageDataset ds = small_dataset(4);
  REQUIRE_NOTHROW(ds.validate());

  ImageDataset bad = ds;
  bad.labels.pop_back();
  CHECK_THROWS_AS(bad.validate(), a2q::shape_error);
  CHECK_THROWS_WITH(bad.validate(),
                    Contains("dataset 'small'") && Contains("4 images") && Contains("3 labels"));

  bad = ds;
  bad.labels[2] = 3;
  CHECK_THROWS_AS(bad.validate(), a2q::config_error);
  CHECK_THROWS_WITH(bad.validate(), Contains("label 3 of sample 2 is out of range [0, 3)"));
  bad.labels[2] = -1;
  CHECK_THROWS_WITH(bad.validate(), Contains("label -1 of sample 2"));

  bad = ds;
  bad.images.reshape({4, 24});
  CHECK_THROWS_WITH(bad.validate(), Contains("rank 4") && Contains("[4, 24]"));

  bad = ds;
  bad.num_classes = 0;
  CHECK_THROWS_WITH(bad.validate(), Contains("num_classes must be >= 1, got 0"));
}

TEST_CASE("subset copies a contiguous range of samples", "[data][dataset]") {
  const ImageDataset ds = small_dataset(5);
  const ImageDataset sub = a2q::data::subset(ds, 1, 3);
  REQUIRE_NOTHROW(sub.validate());
  CHECK(sub.images.shape() == a2q::Shape{3, 2, 3, 4});
  CHECK(sub.labels == std::vector<std::int32_t>{1, 2, 0});
  CHECK(sub.images(0, 0, 0, 0) == ds.images(1, 0, 0, 0));
  CHECK(sub.images(2, 1, 2, 3) == ds.images(3, 1, 2, 3));
  CHECK(sub.num_classes == 3);
  CHECK(sub.name == "small[1:4]");

  CHECK(a2q::data::subset(ds, 5, 0).size() == 0);
  CHECK(a2q::data::subset(ds, 0, 5).images == ds.images);
  CHECK_THROWS_AS(a2q::data::subset(ds, 3, 3), a2q::config_error);
  CHECK_THROWS_WITH(a2q::data::subset(ds, 3, 3),
                    Contains("first 3, count 3") && Contains("'small' of 5 samples"));
  CHECK_THROWS_AS(a2q::data::subset(ds, -1, 1), a2q::config_error);
  CHECK_THROWS_AS(a2q::data::subset(ds, 0, -1), a2q::config_error);
}

TEST_CASE("Fashion-MNIST loads with 60000 + 10000 balanced samples", "[data][mnist][real]") {
  const std::filesystem::path dir = a2q::data::default_fashion_mnist_dir;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    WARN("skipped: " << dir.string() << " does not exist");
    return;
  }
  const ImageDataset train = load_mnist(dir, Split::train);
  const ImageDataset test = load_mnist(dir, Split::test);
  REQUIRE_NOTHROW(train.validate());
  REQUIRE_NOTHROW(test.validate());
  CHECK(train.images.shape() == a2q::Shape{60000, 1, 28, 28});
  CHECK(test.images.shape() == a2q::Shape{10000, 1, 28, 28});
  CHECK(train.num_classes == 10);
  CHECK(train.name == "fashion-mnist/train");
  CHECK(train.class_counts() == std::vector<std::int64_t>(10, 6000));
  CHECK(test.class_counts() == std::vector<std::int64_t>(10, 1000));
  // Real images: not all black, full byte range used.
  std::int64_t sum = 0;
  int max_pixel = 0;
  for (std::int64_t i = 0; i < 784; ++i) {
    sum += train.images[i];
    max_pixel = std::max<int>(max_pixel, train.images[i]);
  }
  CHECK(sum > 0);
  CHECK(max_pixel > 200);
}
