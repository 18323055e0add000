#pragma once
/// @file
/// a2q::io::write_file_atomically: replaces a file so that readers (and a crash at any moment) see either
/// the complete old contents or the complete new ones, never a mixture. POSIX only.
///
/// The new contents go to `<path>.tmp.<pid>` in the same directory (so the rename stays within one file
/// system), which is flushed and fsync'ed, then renamed over `path`, and finally the directory is
/// fsync'ed so that the rename itself is durable.

#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <ostream>
#include <streambuf>
#include <string>
#include <system_error>

namespace a2q::io::detail {

/// strerror(err) as a std::string (thread-safe, unlike strerror itself).
inline std::string errno_message(int err) {
  return std::system_category().message(err);
}

} // namespace a2q::io::detail

namespace a2q::io {

/// The temporary file write_file_atomically uses for `path`: `<path>.tmp.<pid>`.
A2Q_DECL std::filesystem::path atomic_temp_path(const std::filesystem::path& path);

/// Writes a file atomically: calls `writer` with a stream onto a temporary file next to `path`, flushes
/// and fsyncs it, renames it over `path` and fsyncs the directory.
///
/// If `writer` throws, or any step fails, the temporary file is removed and `path` keeps its previous
/// contents (or stays absent). The writer's own exceptions propagate unchanged.
/// @param path the file to create or replace; its directory must exist.
/// @param writer writes the complete new contents to the stream it is given. Setting exceptions on the
///   stream is allowed; a stream left in a failed state counts as a write error.
/// @throws io_error naming the path and the system's reason (strerror) when the temporary file cannot be
///   created, written, synced or renamed.
A2Q_DECL void write_file_atomically(const std::filesystem::path& path,
                                    const std::function<void(std::ostream&)>& writer);

} // namespace a2q::io

#if A2Q_HEADER_ONLY
#include "a2q/io/atomic_file.ipp"
#endif
