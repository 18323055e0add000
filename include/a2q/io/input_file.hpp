#pragma once
/// @file
/// Opening a binary file for reading with errors that say what was wrong: the one place where the file
/// readers (tensor archives, model files) check that the path exists, is a regular file, has a size and
/// opens.

#include "a2q/core/error.hpp"
#include "a2q/io/atomic_file.hpp"

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace a2q::io::detail {

/// A binary input stream and the size of the file on disk.
struct InputFile {
  std::ifstream stream;
  std::uint64_t size = 0;
};

/// Opens `path` for binary reading.
/// @param expected what the file should be ("a tensor archive"), for the messages
/// @throws io_error naming the file, for a missing path, a directory or other non-regular file, an
///         unknown size or a file that does not open
inline InputFile open_input_file(const std::filesystem::path& path, const std::string& expected) {
  const std::string who = path.string() + ": ";
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status))
    throw io_error(who + "file not found (expected " + expected + ")");
  if (!std::filesystem::is_regular_file(status))
    throw io_error(who + "not a regular file (expected " + expected + ")");
  InputFile file;
  file.size = static_cast<std::uint64_t>(std::filesystem::file_size(path, ec));
  if (ec)
    throw io_error(who + "cannot determine the file size: " + ec.message());
  file.stream.open(path, std::ios::binary);
  if (!file.stream)
    throw io_error(who + "cannot open for reading: " + errno_message(errno));
  return file;
}

} // namespace a2q::io::detail
