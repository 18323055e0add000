#pragma once
/// @file
/// Definitions for idx.hpp (see a2q/core/config.hpp).

#include "a2q/data/idx.hpp"

#include "a2q/core/error.hpp"
#include "a2q/core/shape.hpp"
#include "a2q/core/tensor.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>
#include <zlib.h>

namespace a2q::detail {

/// "0x0000abcd" with `digits` hex digits.
inline std::string idx_hex(std::uint64_t value, int digits) {
  std::array<char, 24> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "0x%0*llx", digits, static_cast<unsigned long long>(value));
  return buffer.data();
}

/// Name of an IDX element-type code, for error messages.
inline const char* idx_dtype_name(unsigned code) {
  switch (code) {
  case 0x08:
    return "unsigned byte";
  case 0x09:
    return "signed byte";
  case 0x0B:
    return "int16";
  case 0x0C:
    return "int32";
  case 0x0D:
    return "float32";
  case 0x0E:
    return "float64";
  default:
    return "not an IDX type";
  }
}

/// Reads a file sequentially, decompressing it if it starts with the gzip magic bytes 1f 8b (the
/// extension is not trusted). Tracks the offset in the (decompressed) data for error messages.
class IdxStream {
public:
  explicit IdxStream(const std::filesystem::path& path) : path_(path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(status))
      throw io_error(path.string() + ": file not found");
    if (std::filesystem::is_directory(status))
      throw io_error(path.string() + ": is a directory, expected an IDX file");
    const auto size = std::filesystem::file_size(path, ec);
    if (ec)
      throw io_error(path.string() + ": cannot determine the file size (" + ec.message() + ")");
    file_size_ = static_cast<std::uint64_t>(size);

    raw_.open(path, std::ios::binary);
    if (!raw_)
      throw io_error(path.string() + ": cannot open for reading");
    std::array<char, 2> head{};
    raw_.read(head.data(), 2);
    compressed_ = raw_.gcount() == 2 && static_cast<unsigned char>(head[0]) == 0x1f &&
                  static_cast<unsigned char>(head[1]) == 0x8b;
    if (compressed_) {
      raw_.close();
      gz_.reset(gzopen(path.string().c_str(), "rb"));
      if (!gz_)
        throw io_error(path.string() + ": cannot open for reading (gzip)");
      gzbuffer(gz_.get(), 1U << 17);
    } else {
      raw_.clear();
      raw_.seekg(0);
    }
  }

  bool compressed() const { return compressed_; }
  /// Size of the file on disk (compressed size for a gzip file).
  std::uint64_t file_size() const { return file_size_; }
  /// Bytes delivered so far: the offset of the next byte in the (decompressed) data.
  std::uint64_t offset() const { return offset_; }
  /// zlib's complaint when a gzip stream ended early or was corrupt; empty otherwise.
  const std::string& note() const { return note_; }

  /// Reads up to `n` bytes; fewer only at the end of the data. Throws io_error on corrupt gzip data.
  std::size_t read(void* destination, std::size_t n) {
    auto* out = static_cast<char*>(destination);
    std::size_t done = 0;
    if (!compressed_) {
      raw_.read(out, static_cast<std::streamsize>(n));
      done = static_cast<std::size_t>(raw_.gcount());
    } else {
      while (done < n) {
        // Modest chunks: zlib drops what a failing call decompressed, so this keeps the offset close.
        const auto chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, gz_chunk));
        const int got = gzread(gz_.get(), out + done, chunk);
        if (got < 0)
          fail_at(offset_ + done,
                  "corrupt gzip data found while reading from here (zlib: " + zlib_message() + ")");
        if (got == 0) {
          // A clean end of stream leaves Z_OK; a truncated one leaves Z_BUF_ERROR with a message.
          int code = Z_OK;
          gzerror(gz_.get(), &code);
          if (code != Z_OK)
            note_ = "gzip stream ends early (zlib: " + zlib_message() + ")";
          break;
        }
        done += static_cast<std::size_t>(got);
      }
    }
    offset_ += done;
    return done;
  }

  /// Throws io_error "<path>: offset <offset()>: <what>".
  [[noreturn]] void fail(const std::string& what) const { fail_at(offset_, what); }
  [[noreturn]] void fail_at(std::uint64_t offset, const std::string& what) const {
    throw io_error(path_.string() + ": offset " + std::to_string(offset) +
                   (compressed_ ? " (decompressed)" : "") + ": " + what);
  }

private:
  struct GzClose {
    void operator()(gzFile file) const noexcept { gzclose(file); }
  };

  std::string zlib_message() const {
    int code = Z_OK;
    const char* raw = gzerror(gz_.get(), &code);
    std::string message = raw != nullptr && *raw != '\0' ? raw : "error " + std::to_string(code);
    // zlib prefixes the path it was opened with; the caller's message names the file already.
    const std::string prefix = path_.string() + ": ";
    if (message.compare(0, prefix.size(), prefix) == 0)
      message.erase(0, prefix.size());
    return message;
  }

  static constexpr std::size_t gz_chunk = std::size_t{1} << 16;

  std::filesystem::path path_;
  std::ifstream raw_;
  std::unique_ptr<gzFile_s, GzClose> gz_;
  bool compressed_ = false;
  std::uint64_t file_size_ = 0;
  std::uint64_t offset_ = 0;
  std::string note_;
};

/// Shape as "[60000, 28, 28]" from raw dimensions (which may not form a valid Shape).
inline std::string idx_dims_string(const std::vector<std::uint64_t>& dims) {
  std::string out = "[";
  for (std::size_t i = 0; i < dims.size(); ++i)
    out += (i > 0 ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

} // namespace a2q::detail

namespace a2q::data {

Tensor<std::uint8_t> read_idx(const std::filesystem::path& path) {
  detail::IdxStream in(path);

  std::array<std::uint8_t, 4> magic{};
  if (const std::size_t got = in.read(magic.data(), magic.size()); got < magic.size())
    in.fail("truncated header: expected a 4-byte magic number, found " + std::to_string(got) + " byte(s)");
  const std::uint32_t magic_value = std::uint32_t{magic[0]} << 24 | std::uint32_t{magic[1]} << 16 |
                                    std::uint32_t{magic[2]} << 8 | std::uint32_t{magic[3]};
  if (magic[0] != 0 || magic[1] != 0)
    in.fail_at(0, "bad magic " + detail::idx_hex(magic_value, 8) +
                      ", expected 0x000008NN with rank NN in 1..5 (IDX unsigned-byte, e.g. 0x00000803 "
                      "for images or 0x00000801 for labels)");
  if (magic[2] != 0x08)
    in.fail_at(2, "unsupported IDX data type " + detail::idx_hex(magic[2], 2) + " (" +
                      detail::idx_dtype_name(magic[2]) + "), expected 0x08 (unsigned byte)");
  const int rank = magic[3];
  if (rank < 1 || rank > max_rank)
    in.fail_at(3, "unsupported rank " + std::to_string(rank) + ", expected 1.." + std::to_string(max_rank));

  std::array<std::uint8_t, 4 * max_rank> dim_bytes{};
  const auto dims_size = static_cast<std::size_t>(4 * rank);
  if (const std::size_t got = in.read(dim_bytes.data(), dims_size); got < dims_size)
    in.fail("truncated header: expected " + std::to_string(dims_size) + " bytes of dimensions (rank " +
            std::to_string(rank) + "), found " + std::to_string(got));
  std::vector<std::uint64_t> dims(static_cast<std::size_t>(rank));
  for (std::size_t i = 0; i < dims.size(); ++i)
    dims[i] = std::uint64_t{dim_bytes[4 * i]} << 24 | std::uint64_t{dim_bytes[4 * i + 1]} << 16 |
              std::uint64_t{dim_bytes[4 * i + 2]} << 8 | std::uint64_t{dim_bytes[4 * i + 3]};

  // Element count, checked against the cap before anything is allocated (and before it can overflow).
  const auto cap = static_cast<std::uint64_t>(idx_max_elements);
  std::uint64_t count = 1;
  for (const std::uint64_t d : dims)
    count = d == 0 || count == 0 ? 0 : (count > cap / d ? cap + 1 : count * d);
  const std::uint64_t header_size = 4 + dims_size;
  if (count > cap)
    in.fail_at(4, "dimensions " + detail::idx_dims_string(dims) +
                      " hold more than 2^31 elements (the limit of read_idx); the header is corrupt");

  std::vector<std::int64_t> shape_dims(dims.begin(), dims.end());
  const Shape shape{std::span<const std::int64_t>(shape_dims)};
  const std::string expected_text =
      "expected " + std::to_string(count) + " bytes of data for dimensions " + detail::idx_dims_string(dims);

  if (!in.compressed()) {
    // The file size proves (or disproves) the payload before the tensor is allocated.
    const std::uint64_t available = in.file_size() - header_size;
    if (available < count)
      in.fail_at(header_size + available, "truncated payload: " + expected_text + ", found " +
                                              std::to_string(available) + " (file size " +
                                              std::to_string(in.file_size()) + ")");
    if (available > count) {
      const std::uint64_t end = header_size + count;
      in.fail_at(end, std::to_string(available - count) + " trailing byte(s) after the " +
                          std::to_string(count) + "-byte payload, expected the file to end at offset " +
                          std::to_string(end) + " (file size " + std::to_string(in.file_size()) + ")");
    }
    Tensor<std::uint8_t> out = Tensor<std::uint8_t>::uninitialized(shape);
    if (const std::size_t got = in.read(out.data(), static_cast<std::size_t>(count)); got < count)
      in.fail("truncated payload: " + expected_text + ", found " + std::to_string(got) +
              " (the file shrank while being read)");
    return out;
  }

  const std::vector<std::uint8_t> payload =
      detail::read_growing([&in](void* destination, std::size_t n) { return in.read(destination, n); },
                           static_cast<std::size_t>(count));
  if (payload.size() < count)
    in.fail("truncated payload: " + expected_text + ", found " + std::to_string(payload.size()) +
            (in.note().empty() ? "" : "; " + in.note()));
  std::array<std::uint8_t, 4096> probe{};
  if (const std::size_t extra = in.read(probe.data(), probe.size()); extra > 0)
    in.fail_at(header_size + count, (extra == probe.size() ? "at least " : "") + std::to_string(extra) +
                                        " trailing byte(s) after the " + std::to_string(count) +
                                        "-byte payload, expected the data to end at offset " +
                                        std::to_string(header_size + count));
  if (!in.note().empty())
    in.fail(in.note());
  Tensor<std::uint8_t> out = Tensor<std::uint8_t>::uninitialized(shape);
  if (count > 0)
    std::memcpy(out.data(), payload.data(), payload.size());
  return out;
}

} // namespace a2q::data
