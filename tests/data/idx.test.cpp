#include "a2q/data/idx.hpp"

#include "test_files.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

using a2q::io_error;
using a2q::data::read_idx;
using Catch::Matchers::Contains;
using namespace a2q_test;

TEST_CASE("read_idx reads raw and gzip IDX files of rank 1 to 5", "[data][idx]") {
  TempDir dir;
  const Bytes images = iota_bytes(2 * 3 * 4);
  write_bytes(dir / "images-idx3-ubyte", idx_file({2, 3, 4}, images));
  write_gzip(dir / "images-idx3-ubyte.gz", idx_file({2, 3, 4}, images));

  for (const char* name : {"images-idx3-ubyte", "images-idx3-ubyte.gz"}) {
    INFO(name);
    const auto t = read_idx(dir / name);
    REQUIRE(t.shape() == a2q::Shape{2, 3, 4});
    CHECK(std::equal(t.begin(), t.end(), images.begin(), images.end()));
    CHECK(t(1, 2, 3) == 23);
  }

  write_gzip(dir / "labels.gz", idx_file({5}, {9, 8, 7, 6, 5}));
  const auto labels = read_idx(dir / "labels.gz");
  REQUIRE(labels.shape() == a2q::Shape{5});
  CHECK(labels[0] == 9);
  CHECK(labels[4] == 5);

  write_bytes(dir / "rank5", idx_file({1, 2, 1, 2, 3}, iota_bytes(12)));
  CHECK(read_idx(dir / "rank5").shape() == a2q::Shape{1, 2, 1, 2, 3});

  // A zero dimension is a valid, empty file.
  write_bytes(dir / "empty", idx_file({0, 28, 28}, {}));
  const auto empty = read_idx(dir / "empty");
  CHECK(empty.shape() == a2q::Shape{0, 28, 28});
  CHECK(empty.numel() == 0);
}

TEST_CASE("read_idx detects gzip from the magic bytes, not the extension", "[data][idx]") {
  TempDir dir;
  const Bytes payload = iota_bytes(6, 100);
  write_gzip(dir / "compressed-without-extension", idx_file({2, 3}, payload));
  write_bytes(dir / "raw-with-extension.gz", idx_file({2, 3}, payload));
  for (const char* name : {"compressed-without-extension", "raw-with-extension.gz"}) {
    INFO(name);
    const auto t = read_idx(dir / name);
    CHECK(t.shape() == a2q::Shape{2, 3});
    CHECK(std::equal(t.begin(), t.end(), payload.begin(), payload.end()));
  }
}

TEST_CASE("read_idx rejects a bad magic, data type or rank with the offset", "[data][idx]") {
  TempDir dir;
  const auto path = dir / "train-images-idx3-ubyte";

  write_bytes(path, {0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0});
  CHECK_THROWS_MATCHES(read_idx(path), io_error,
                       Catch::Matchers::Message(
                           path.string() + ": offset 0: bad magic 0x12345678, expected 0x000008NN with rank "
                                           "NN in 1..5 (IDX unsigned-byte, e.g. 0x00000803 for images or "
                                           "0x00000801 for labels)"));

  Bytes float_file = idx_header({2}, 0x0D);
  float_file.resize(float_file.size() + 8);
  write_bytes(path, float_file);
  CHECK_THROWS_WITH(read_idx(path), Contains(path.string()) && Contains("offset 2") && Contains("0x0d") &&
                                        Contains("float32") && Contains("expected 0x08"));
  write_gzip(path, float_file);
  CHECK_THROWS_WITH(read_idx(path), Contains("offset 2 (decompressed)") && Contains("0x0d"));

  write_bytes(path, {0, 0, 0x08, 0});
  CHECK_THROWS_WITH(read_idx(path), Contains(path.string()) && Contains("offset 3") &&
                                        Contains("unsupported rank 0, expected 1..5"));

  Bytes rank6 = idx_header({1, 1, 1, 1, 1, 1});
  rank6.push_back(7);
  write_bytes(path, rank6);
  CHECK_THROWS_WITH(read_idx(path), Contains("offset 3") && Contains("unsupported rank 6, expected 1..5"));
}

TEST_CASE("read_idx rejects truncated headers", "[data][idx]") {
  TempDir dir;
  const auto path = dir / "labels-idx1-ubyte";

  write_bytes(path, {});
  CHECK_THROWS_WITH(read_idx(path), Contains(path.string()) && Contains("offset 0: truncated header") &&
                                        Contains("expected a 4-byte magic number, found 0 byte(s)"));
  write_bytes(path, {0, 0, 8});
  CHECK_THROWS_WITH(read_idx(path), Contains("offset 3: truncated header") && Contains("found 3 byte(s)"));

  // Rank 3 needs 12 bytes of dimensions; give 6.
  Bytes header = idx_header({2, 3, 4});
  header.resize(4 + 6);
  write_bytes(path, header);
  CHECK_THROWS_WITH(read_idx(path), Contains("offset 10: truncated header") &&
                                        Contains("expected 12 bytes of dimensions (rank 3), found 6"));
  write_gzip(path, header);
  CHECK_THROWS_WITH(read_idx(path), Contains("offset 10 (decompressed): truncated header"));
}

TEST_CASE("read_idx rejects truncated payloads and trailing bytes, raw and gzip", "[data][idx]") {
  TempDir dir;
  const auto raw = dir / "t10k-images-idx3-ubyte";
  const auto gz = dir / "t10k-images-idx3-ubyte.gz";
  Bytes file = idx_file({2, 3, 4}, iota_bytes(24));

  Bytes shorter(file.begin(), file.end() - 4);
  write_bytes(raw, shorter);
  write_gzip(gz, shorter);
  CHECK_THROWS_WITH(read_idx(raw),
                    Contains(raw.string()) && Contains("offset 36: truncated payload") &&
                        Contains("expected 24 bytes of data for dimensions [2, 3, 4], found 20") &&
                        Contains("file size 36"));
  CHECK_THROWS_WITH(read_idx(gz), Contains(gz.string()) &&
                                      Contains("offset 36 (decompressed): truncated payload") &&
                                      Contains("expected 24 bytes") && Contains("found 20"));

  Bytes longer = file;
  longer.insert(longer.end(), {1, 2, 3});
  write_bytes(raw, longer);
  write_gzip(gz, longer);
  CHECK_THROWS_WITH(read_idx(raw), Contains(raw.string()) && Contains("offset 40: 3 trailing byte(s)") &&
                                       Contains("expected the file to end at offset 40"));
  CHECK_THROWS_WITH(read_idx(gz),
                    Contains(gz.string()) && Contains("offset 40 (decompressed): 3 trailing byte(s)"));

  // A gzip stream cut short (the compressed bytes themselves are truncated).
  write_gzip(gz, idx_file({64, 64}, iota_bytes(64 * 64)));
  Bytes compressed = read_bytes(gz);
  REQUIRE(compressed.size() > 20);
  compressed.resize(compressed.size() - 12);
  write_bytes(gz, compressed);
  CHECK_THROWS_WITH(read_idx(gz), Contains(gz.string()) && Contains("(decompressed)") && Contains("gzip"));

  // Only the 8-byte gzip trailer (CRC and length) is missing: all data arrives but the stream is cut.
  write_gzip(gz, file);
  compressed = read_bytes(gz);
  compressed.resize(compressed.size() - 8);
  write_bytes(gz, compressed);
  CHECK_THROWS_AS(read_idx(gz), io_error);

  // A corrupted gzip body fails the CRC or the inflate.
  write_gzip(gz, file);
  compressed = read_bytes(gz);
  compressed[compressed.size() - 8] ^= 0xff; // CRC byte
  write_bytes(gz, compressed);
  CHECK_THROWS_WITH(read_idx(gz), Contains(gz.string()) && Contains("gzip"));
}

TEST_CASE("read_idx rejects absurd dimensions before allocating", "[data][idx]") {
  TempDir dir;
  const auto raw = dir / "absurd";
  const auto gz = dir / "absurd.gz";
  // 4e9 x 4e9 elements: would overflow a 64-bit product of bytes in most languages' int32, and is far
  // beyond the 2^31 cap.
  const Bytes header = idx_header({4000000000U, 4000000000U});
  write_bytes(raw, header);
  write_gzip(gz, header);
  for (const auto& path : {raw, gz}) {
    INFO(path.string());
    CHECK_THROWS_WITH(read_idx(path), Contains(path.string()) && Contains("offset 4") &&
                                          Contains("[4000000000, 4000000000]") &&
                                          Contains("more than 2^31 elements"));
  }
  // Just over the cap, and an overflow-prone product of five large dimensions.
  write_bytes(raw, idx_header({65536, 32769}));
  CHECK_THROWS_WITH(read_idx(raw), Contains("more than 2^31 elements"));
  write_bytes(raw, idx_header({65536, 65536, 65536, 65536, 65536}));
  CHECK_THROWS_WITH(read_idx(raw), Contains("more than 2^31 elements"));

  // Within the cap but lying: 2^31 bytes claimed, 10 present. The raw file is rejected from its size, the
  // gzip file once its stream ends; neither allocates 2 GiB (see the read_growing test below).
  Bytes liar = idx_header({32768, 65536});
  liar.insert(liar.end(), 10, 7);
  write_bytes(raw, liar);
  write_gzip(gz, liar);
  CHECK_THROWS_WITH(read_idx(raw), Contains("truncated payload") && Contains("expected 2147483648 bytes") &&
                                       Contains("found 10"));
  CHECK_THROWS_WITH(read_idx(gz), Contains("truncated payload") && Contains("expected 2147483648 bytes") &&
                                      Contains("found 10"));
}

TEST_CASE("read_growing grows with the data, not with the claimed size", "[data][idx]") {
  const Bytes source = iota_bytes(3000);
  std::size_t position = 0;
  auto reader = [&](void* destination, std::size_t n) {
    const std::size_t k = std::min(n, source.size() - position);
    std::copy_n(source.begin() + static_cast<std::ptrdiff_t>(position), k,
                static_cast<std::uint8_t*>(destination));
    position += k;
    return k;
  };
  // Claims 2^31 bytes, delivers 3000: the buffer stays near 3000 bytes.
  const auto lying = a2q::detail::read_growing(reader, std::size_t{1} << 31, 1024);
  CHECK(lying == source);
  CHECK(lying.capacity() <= 4096);

  position = 0;
  const auto exact = a2q::detail::read_growing(reader, 2500, 1024);
  CHECK(exact.size() == 2500);
  CHECK(std::equal(exact.begin(), exact.end(), source.begin()));
  CHECK(position == 2500); // nothing read beyond what was asked for
}

TEST_CASE("read_idx reports missing files and directories", "[data][idx]") {
  TempDir dir;
  CHECK_THROWS_WITH(read_idx(dir / "nope-idx1-ubyte"),
                    Contains("nope-idx1-ubyte") && Contains("file not found"));
  CHECK_THROWS_WITH(read_idx(dir.path()), Contains(dir.path().string()) && Contains("is a directory"));
}
