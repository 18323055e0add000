#pragma once
// Helpers for the data tests: a self-deleting temporary directory and writers for raw, gzip, IDX and
// CIFAR-10 files.

#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace a2q_test {

using Bytes = std::vector<std::uint8_t>;

/// A fresh directory under the system temporary directory, removed with its contents on destruction.
class TempDir {
public:
  TempDir() {
    static std::atomic<int> counter{0};
    std::random_device entropy;
    for (int attempt = 0; attempt < 100; ++attempt) {
      const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
      path_ = std::filesystem::temp_directory_path() /
              ("a2q-data-test-" + std::to_string(stamp) + "-" + std::to_string(entropy()) + "-" +
               std::to_string(counter++));
      if (std::filesystem::create_directory(path_))
        return;
    }
    throw std::runtime_error("cannot create a temporary directory");
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::filesystem::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out)
    throw std::runtime_error("cannot write " + path.string());
}

inline void write_gzip(const std::filesystem::path& path, const Bytes& bytes) {
  gzFile file = gzopen(path.string().c_str(), "wb");
  if (file == nullptr)
    throw std::runtime_error("cannot open " + path.string());
  const int written = bytes.empty() ? 0 : gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  if (gzclose(file) != Z_OK || written != static_cast<int>(bytes.size()))
    throw std::runtime_error("cannot write " + path.string());
}

inline Bytes read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// IDX header: 0x00 0x00 dtype rank, then big-endian uint32 dims.
inline Bytes idx_header(const std::vector<std::uint32_t>& dims, std::uint8_t dtype = 0x08) {
  Bytes out = {0, 0, dtype, static_cast<std::uint8_t>(dims.size())};
  for (const std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8)
      out.push_back(static_cast<std::uint8_t>(d >> shift));
  return out;
}

/// A full IDX file: header plus payload.
inline Bytes idx_file(const std::vector<std::uint32_t>& dims, const Bytes& payload) {
  Bytes out = idx_header(dims);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

/// Bytes 0, 1, 2, ... (mod 256).
inline Bytes iota_bytes(std::size_t n, std::uint8_t start = 0) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = static_cast<std::uint8_t>(start + i);
  return out;
}

/// A CIFAR-10 batch: record r has label labels[r] and pixel (c, y, x) = (r + c + y + x) mod 256.
inline Bytes cifar10_records(const std::vector<std::uint8_t>& labels) {
  Bytes out;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    out.push_back(labels[r]);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x)
          out.push_back(static_cast<std::uint8_t>(r + static_cast<std::size_t>(c + y + x)));
  }
  return out;
}

} // namespace a2q_test
