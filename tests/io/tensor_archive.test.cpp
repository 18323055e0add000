#include "a2q/io/tensor_archive.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using a2q::config_error;
using a2q::io_error;
using a2q::Shape;
using a2q::Tensor;
using a2q::io::load_archive;
using a2q::io::save_archive;
using a2q::io::TensorArchive;
using a2q_test::read_all;
using a2q_test::ScratchDir;
using a2q_test::write_all;
using Catch::Matchers::Contains;
using Bytes = std::vector<unsigned char>;

namespace {

TensorArchive sample_archive() {
  a2q::Rng rng(7);
  TensorArchive a;
  a.metadata = {{"epochs_completed", "3"},
                {"empty", ""},
                {"binary", std::string("a\0b\xff", 4)},
                {"utf8", "\xc3\xa9t\xc3\xa9"}};
  a.tensors.emplace_back("scalar", Tensor<float>(Shape{}, 2.5f));
  a.tensors.emplace_back("fc.weight", Tensor<float>::normal({4, 16}, 0.0, 1.0, rng));
  a.tensors.emplace_back("fc.bias", Tensor<float>({4}, {0.0f, -0.0f, 1e-40f, -3.5f}));
  a.tensors.emplace_back("empty", Tensor<float>(Shape{0, 3}));
  a.tensors.emplace_back("rank5", Tensor<float>::uniform({2, 1, 3, 1, 2}, -1.0f, 1.0f, rng));
  a.tensors.emplace_back("special", Tensor<float>({3}, {std::numeric_limits<float>::infinity(),
                                                        -std::numeric_limits<float>::infinity(),
                                                        std::numeric_limits<float>::quiet_NaN()}));
  return a;
}

// Bit-exact comparison (NaN == NaN, -0 != +0).
bool same_bits(const Tensor<float>& a, const Tensor<float>& b) {
  return a.shape() == b.shape() &&
         (a.numel() == 0 ||
          std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.numel()) * sizeof(float)) == 0);
}

void require_equal(const TensorArchive& a, const TensorArchive& b) {
  REQUIRE(a.metadata == b.metadata);
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    INFO(a.tensors[i].first);
    CHECK(a.tensors[i].first == b.tensors[i].first);
    CHECK(same_bits(a.tensors[i].second, b.tensors[i].second));
  }
}

// Builds raw archive bytes with a correct checksum around any payload, for crafted-corruption tests.
struct Builder {
  Bytes payload;
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i)
      payload.push_back(static_cast<unsigned char>(v >> (8 * i)));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i)
      payload.push_back(static_cast<unsigned char>(v >> (8 * i)));
  }
  void str(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    payload.insert(payload.end(), s.begin(), s.end());
  }
  Bytes file(std::uint32_t version = 1) const {
    Bytes out = {'A', '2', 'Q', 'T', 'N', 'S', 'R', '\0'};
    Bytes rest;
    for (int i = 0; i < 4; ++i)
      rest.push_back(static_cast<unsigned char>(version >> (8 * i)));
    for (int i = 0; i < 8; ++i)
      rest.push_back(static_cast<unsigned char>(static_cast<std::uint64_t>(payload.size()) >> (8 * i)));
    rest.insert(rest.end(), payload.begin(), payload.end());
    const std::uint32_t crc = a2q::io::crc32(rest.data(), rest.size());
    out.insert(out.end(), rest.begin(), rest.end());
    for (int i = 0; i < 4; ++i)
      out.push_back(static_cast<unsigned char>(crc >> (8 * i)));
    return out;
  }
};

} // namespace

TEST_CASE("tensor archives round-trip bit-exactly", "[io][tensor_archive]") {
  ScratchDir dir;
  const TensorArchive original = sample_archive();
  save_archive(dir / "a.a2q", original);
  require_equal(load_archive(dir / "a.a2q"), original);
  CHECK(dir.entries() == std::vector<std::string>{"a.a2q"});

  const TensorArchive empty;
  save_archive(dir / "empty.a2q", empty);
  require_equal(load_archive(dir / "empty.a2q"), empty);
  CHECK(read_all(dir / "empty.a2q").size() == 20 + 8 + 4);

  const TensorArchive loaded = load_archive(dir / "a.a2q");
  CHECK(loaded.find_metadata("epochs_completed") == std::optional<std::string>("3"));
  CHECK_FALSE(loaded.find_metadata("missing"));
  REQUIRE(loaded.find_tensor("fc.bias") != nullptr);
  CHECK(loaded.find_tensor("fc.bias")->shape() == Shape{4});
  CHECK(loaded.find_tensor("nope") == nullptr);
}

TEST_CASE("the archive layout is the documented one", "[io][tensor_archive]") {
  ScratchDir dir;
  TensorArchive a;
  a.metadata = {{"k", "vv"}};
  a.tensors.emplace_back("t", Tensor<float>({2}, {1.0f, -2.0f}));
  save_archive(dir / "x", a);
  Builder b;
  b.u32(1);
  b.str("k");
  b.str("vv");
  b.u32(1);
  b.str("t");
  b.u32(1);
  b.u64(2);
  b.u32(std::bit_cast<std::uint32_t>(1.0f));
  b.u32(std::bit_cast<std::uint32_t>(-2.0f));
  CHECK(read_all(dir / "x") == b.file());
}

TEST_CASE("flipping any byte is detected, payload flips by the checksum", "[io][tensor_archive]") {
  ScratchDir dir;
  save_archive(dir / "good", sample_archive());
  const Bytes good = read_all(dir / "good");
  const auto path = dir / "bad";
  for (std::size_t i = 0; i < good.size(); ++i) {
    Bytes bad = good;
    bad[i] ^= 0x20;
    write_all(path, bad);
    INFO("flipped byte " << i << " of " << good.size());
    try {
      load_archive(path);
      FAIL("a corrupt archive loaded");
    } catch (const io_error& e) {
      const std::string message = e.what();
      CHECK_THAT(message, Contains(path.string()));
      if (i >= 20)
        CHECK_THAT(message, Contains("checksum mismatch"));
    }
  }
}

TEST_CASE("truncated and over-long archives are io_errors", "[io][tensor_archive]") {
  ScratchDir dir;
  save_archive(dir / "good", sample_archive());
  const Bytes good = read_all(dir / "good");
  const auto path = dir / "cut";
  for (int tenth = 0; tenth < 10; ++tenth) {
    const std::size_t length = good.size() * static_cast<std::size_t>(tenth) / 10;
    write_all(path, Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(length)));
    INFO("truncated to " << length << " of " << good.size() << " bytes");
    CHECK_THROWS_MATCHES(
        load_archive(path), io_error, Catch::Matchers::Predicate<io_error>([&](const io_error& e) {
          const std::string m = e.what();
          return m.find(path.string()) != std::string::npos &&
                 (m.find("truncated") != std::string::npos || m.find("should hold") != std::string::npos);
        }));
  }
  for (std::size_t cut = 1; cut <= 8; ++cut) {
    write_all(path, Bytes(good.begin(), good.end() - static_cast<std::ptrdiff_t>(cut)));
    CHECK_THROWS_AS(load_archive(path), io_error);
  }
  Bytes longer = good;
  longer.push_back(0);
  write_all(path, longer);
  CHECK_THROWS_WITH(load_archive(path), Contains("over-long") && Contains("offset 12"));
}

TEST_CASE("header errors name the offset and what was expected", "[io][tensor_archive]") {
  ScratchDir dir;
  const auto path = dir / "h";
  CHECK_THROWS_WITH(load_archive(path), Contains(path.string()) && Contains("file not found"));
  CHECK_THROWS_WITH(load_archive(dir.path()), Contains("not a regular file"));

  Builder b;
  b.u32(0);
  b.u32(0);
  Bytes file = b.file();
  file[0] = 'X';
  write_all(path, file);
  CHECK_THROWS_WITH(load_archive(path), Contains("bad magic at offset 0") && Contains("A2QTNSR"));

  write_all(path, b.file(2));
  CHECK_THROWS_WITH(load_archive(path),
                    Contains("version 2 at offset 8 is newer") && Contains("expected 1..1"));
  write_all(path, b.file(0));
  CHECK_THROWS_WITH(load_archive(path), Contains("version 0 at offset 8 is invalid"));

  write_all(path, Bytes{'A', '2', 'Q'});
  CHECK_THROWS_WITH(load_archive(path), Contains("holds 3 bytes, expected at least 24"));

  // A payload size of 2^63 must not be trusted for an allocation.
  Bytes huge = b.file();
  huge[19] = 0x80;
  write_all(path, huge);
  CHECK_THROWS_WITH(load_archive(path), Contains("payload size at offset 12 is 9223372036854775816"));
}

TEST_CASE("well-checksummed but malformed payloads are rejected before allocating", "[io][tensor_archive]") {
  ScratchDir dir;
  const auto path = dir / "m";
  auto expect = [&](const Builder& b, const std::string& fragment) {
    write_all(path, b.file());
    INFO(fragment);
    CHECK_THROWS_MATCHES(
        load_archive(path), io_error, Catch::Matchers::Predicate<io_error>([&](const io_error& e) {
          const std::string m = e.what();
          return m.find(path.string()) != std::string::npos && m.find(fragment) != std::string::npos;
        }));
  };
  {
    Builder b; // a billion metadata entries in a tiny payload
    b.u32(1000000000);
    b.u32(0);
    expect(b, "offset 20: the number of metadata entries is 1000000000");
  }
  {
    Builder b; // rank 6
    b.u32(0);
    b.u32(1);
    b.str("w");
    b.u32(6);
    for (int i = 0; i < 6; ++i)
      b.u64(1);
    b.u32(0);
    expect(b, "offset 33: tensor 0 ('w') has rank 6, expected 0..5");
  }
  {
    Builder b; // 2^62 elements
    b.u32(0);
    b.u32(1);
    b.str("w");
    b.u32(2);
    b.u64(std::uint64_t{1} << 31);
    b.u64(std::uint64_t{1} << 31);
    expect(b, "dimension 1 is 2147483648, which makes more than 2^48 elements");
  }
  {
    Builder b; // a plausible shape with too little data behind it
    b.u32(0);
    b.u32(1);
    b.str("w");
    b.u32(2);
    b.u64(1000);
    b.u64(1000);
    b.u32(0);
    expect(b, "tensor 0 ('w') needs 1000000 elements (4000000 bytes), but only 4 bytes of payload remain");
  }
  {
    Builder b; // a key length beyond the payload
    b.u32(1);
    b.u32(4000);
    b.u32(0);
    expect(b, "expected the key of metadata entry 0 (4000 bytes), but only 4 bytes of payload remain");
  }
  {
    Builder b; // a key length beyond the limit
    b.u32(1);
    b.u32(5000);
    b.u32(0);
    expect(b, "offset 24: the length of the key of metadata entry 0 is 5000, expected 1..4096");
  }
  {
    Builder b; // duplicate tensor names
    b.u32(0);
    b.u32(2);
    b.str("w");
    b.u32(0);
    b.u32(0);
    b.str("w");
    b.u32(0);
    b.u32(0);
    expect(b, "tensor 1 ('w'): name appears more than once");
  }
  {
    Builder b; // junk after the last tensor
    b.u32(0);
    b.u32(0);
    b.u32(0);
    expect(b, "4 unexpected bytes after the last tensor");
  }
}

TEST_CASE("save_archive refuses contents it could not load back", "[io][tensor_archive]") {
  ScratchDir dir;
  TensorArchive dup;
  dup.tensors.emplace_back("w", Tensor<float>(Shape{1}));
  dup.tensors.emplace_back("w", Tensor<float>(Shape{1}));
  CHECK_THROWS_AS(save_archive(dir / "d", dup), config_error);
  TensorArchive unnamed;
  unnamed.metadata = {{"", "x"}};
  CHECK_THROWS_AS(save_archive(dir / "d", unnamed), config_error);
  TensorArchive long_name;
  long_name.tensors.emplace_back(std::string(5000, 'n'), Tensor<float>(Shape{1}));
  CHECK_THROWS_AS(save_archive(dir / "d", long_name), config_error);
  CHECK(dir.entries().empty());
}

TEST_CASE("a failed save leaves the previous archive loadable", "[io][tensor_archive]") {
  ScratchDir dir;
  const TensorArchive original = sample_archive();
  save_archive(dir / "ckpt", original);
  CHECK_THROWS_AS(a2q::io::write_file_atomically(dir / "ckpt",
                                                 [](std::ostream& out) {
                                                   out << "A2QTNSR";
                                                   throw std::runtime_error("disk on fire");
                                                 }),
                  std::runtime_error);
  require_equal(load_archive(dir / "ckpt"), original);
  CHECK(dir.entries() == std::vector<std::string>{"ckpt"});
}
