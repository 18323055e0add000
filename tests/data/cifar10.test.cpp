#include "a2q/data/cifar10.hpp"
#include "a2q/data/dataset.hpp"

#include "test_files.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

using a2q::io_error;
using a2q::data::load_cifar10;
using a2q::data::read_cifar10_batch;
using a2q::data::Split;
using Catch::Matchers::Contains;
using namespace a2q_test;

TEST_CASE("read_cifar10_batch reads labels and channel-major images", "[data][cifar10]") {
  TempDir dir;
  write_bytes(dir / "data_batch_1.bin", cifar10_records({3, 0, 9}));
  const auto batch = read_cifar10_batch(dir / "data_batch_1.bin");
  REQUIRE(batch.images.shape() == a2q::Shape{3, 3, 32, 32});
  CHECK(batch.labels == std::vector<std::int32_t>{3, 0, 9});
  // Pixel (c, y, x) of record r is (r + c + y + x) mod 256.
  CHECK(batch.images(0, 0, 0, 0) == 0);
  CHECK(batch.images(0, 0, 0, 5) == 5);
  CHECK(batch.images(0, 0, 7, 0) == 7);
  CHECK(batch.images(0, 2, 0, 0) == 2);
  CHECK(batch.images(2, 1, 31, 31) == 2 + 1 + 31 + 31);
  CHECK(a2q::data::cifar10_class_names[9] == std::string("truck"));
}

TEST_CASE("read_cifar10_batch rejects bad sizes and labels", "[data][cifar10]") {
  TempDir dir;
  const auto path = dir / "data_batch_1.bin";

  Bytes odd = cifar10_records({1, 2});
  odd.push_back(0);
  write_bytes(path, odd);
  CHECK_THROWS_MATCHES(
      read_cifar10_batch(path), io_error,
      Catch::Matchers::Message(path.string() + ": size 6147 bytes is not a positive multiple of the CIFAR-10 "
                                               "record size 3073 (1 label byte + 3x32x32 pixels)"));
  write_bytes(path, {});
  CHECK_THROWS_WITH(read_cifar10_batch(path), Contains(path.string()) && Contains("size 0 bytes"));

  write_bytes(path, cifar10_records({1, 10, 2}));
  CHECK_THROWS_WITH(read_cifar10_batch(path), Contains(path.string()) && Contains("record 1 (offset 3073)") &&
                                                  Contains("label 10 is out of range, expected 0..9"));

  CHECK_THROWS_WITH(read_cifar10_batch(dir / "missing.bin"),
                    Contains("missing.bin") && Contains("not found"));
}

TEST_CASE("load_cifar10 concatenates the train batches and reads the test batch", "[data][cifar10]") {
  TempDir dir;
  write_bytes(dir / "data_batch_1.bin", cifar10_records({0, 1}));
  write_bytes(dir / "data_batch_2.bin", cifar10_records({2, 3, 4}));
  write_bytes(dir / "test_batch.bin", cifar10_records({5}));

  const auto train = load_cifar10(dir.path(), Split::train);
  REQUIRE_NOTHROW(train.validate());
  CHECK(train.size() == 5);
  CHECK(train.images.shape() == a2q::Shape{5, 3, 32, 32});
  CHECK(train.labels == std::vector<std::int32_t>{0, 1, 2, 3, 4});
  CHECK(train.num_classes == 10);
  CHECK(train.name == dir.path().filename().string() + "/train");
  // Record 0 of the second file is sample 2: pixel (c, y, x) = c + y + x.
  CHECK(train.images(2, 1, 2, 3) == 6);
  CHECK(train.images(4, 0, 0, 1) == 3);

  const auto test = load_cifar10(dir.path(), Split::test);
  CHECK(test.size() == 1);
  CHECK(test.labels == std::vector<std::int32_t>{5});
}

TEST_CASE("load_cifar10 reports missing and malformed files", "[data][cifar10]") {
  TempDir dir;
  CHECK_THROWS_WITH(load_cifar10(dir / "nope", Split::train),
                    Contains("nope") && Contains("directory not found") && Contains("data_batch_1.bin"));
  CHECK_THROWS_WITH(load_cifar10(dir.path(), Split::train),
                    Contains("data_batch_1.bin") && Contains("not found"));
  CHECK_THROWS_WITH(load_cifar10(dir.path(), Split::test),
                    Contains("test_batch.bin") && Contains("not found"));

  write_bytes(dir / "data_batch_1.bin", cifar10_records({0}));
  write_bytes(dir / "data_batch_3.bin", cifar10_records({0}));
  CHECK_THROWS_WITH(load_cifar10(dir.path(), Split::train),
                    Contains("data_batch_3.bin exists") && Contains("data_batch_2.bin is missing"));

  write_bytes(dir / "data_batch_2.bin", Bytes(100, 0));
  CHECK_THROWS_WITH(load_cifar10(dir.path(), Split::train),
                    Contains("data_batch_2.bin") && Contains("size 100 bytes") && Contains("3073"));
}
