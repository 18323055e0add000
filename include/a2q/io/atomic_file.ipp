#pragma once
/// @file
/// Definitions for atomic_file.hpp (see a2q/core/config.hpp).

#include "a2q/io/atomic_file.hpp"

#include "a2q/core/error.hpp"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <ostream>
#include <streambuf>
#include <string>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

namespace a2q::io::detail {

/// Owns a POSIX file descriptor; closes it (ignoring errors) unless released.
class UniqueFd {
public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  /// Closes the descriptor and returns 0, or the errno of a failed close().
  int close() {
    const int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0)
      return errno;
    return 0;
  }

private:
  int fd_;
};

/// A buffered output streambuf over a file descriptor that records the errno of the first failed
/// write() instead of losing it in the stream's failbit.
class FdStreambuf : public std::streambuf {
public:
  explicit FdStreambuf(int fd) : fd_(fd) { setp(buffer_.data(), buffer_.data() + buffer_.size()); }
  FdStreambuf(const FdStreambuf&) = delete;
  FdStreambuf& operator=(const FdStreambuf&) = delete;

  /// errno of the first failed write, 0 if none.
  int error() const { return error_; }

protected:
  int_type overflow(int_type ch) override {
    if (!drain())
      return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }

  int sync() override { return drain() ? 0 : -1; }

  std::streamsize xsputn(const char* s, std::streamsize n) override {
    // Large writes bypass the buffer.
    if (n >= static_cast<std::streamsize>(buffer_.size())) {
      if (!drain() || !write_all(s, static_cast<std::size_t>(n)))
        return 0;
      return n;
    }
    return std::streambuf::xsputn(s, n);
  }

private:
  bool drain() {
    const auto pending = static_cast<std::size_t>(pptr() - pbase());
    const bool ok = write_all(pbase(), pending);
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return ok;
  }

  bool write_all(const char* data, std::size_t size) {
    if (error_ != 0)
      return false;
    while (size > 0) {
      const ssize_t written = ::write(fd_, data, size);
      if (written < 0) {
        if (errno == EINTR)
          continue;
        error_ = errno;
        return false;
      }
      data += written;
      size -= static_cast<std::size_t>(written);
    }
    return true;
  }

  int fd_;
  int error_ = 0;
  std::array<char, 1 << 16> buffer_{};
};

/// fsync()s directory `dir` so that a rename inside it is durable. File systems that cannot sync a
/// directory (EINVAL, ENOTSUP) are accepted: there is nothing more to do on them.
inline void sync_directory(const std::filesystem::path& dir, const std::filesystem::path& target) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0)
    throw io_error(target.string() + ": written, but cannot open its directory " + dir.string() +
                   " to sync it: " + errno_message(errno));
  if (::fsync(fd.get()) != 0 && errno != EINVAL && errno != ENOTSUP)
    throw io_error(target.string() + ": written, but syncing its directory " + dir.string() +
                   " failed: " + errno_message(errno));
}

} // namespace a2q::io::detail

namespace a2q::io {

std::filesystem::path atomic_temp_path(const std::filesystem::path& path) {
  std::filesystem::path temp = path;
  temp += ".tmp." + std::to_string(static_cast<long long>(::getpid()));
  return temp;
}

void write_file_atomically(const std::filesystem::path& path,
                           const std::function<void(std::ostream&)>& writer) {
  if (path.empty() || !path.has_filename())
    throw io_error("write_file_atomically: '" + path.string() + "' does not name a file");
  const std::filesystem::path temp = atomic_temp_path(path);
  const std::filesystem::path parent =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");

  detail::UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
  if (fd.get() < 0)
    throw io_error(path.string() + ": cannot create temporary file " + temp.string() + ": " +
                   detail::errno_message(errno));
  // From here on, every failure removes the temporary file.
  struct TempRemover {
    const std::filesystem::path& file;
    bool armed = true;
    ~TempRemover() {
      if (armed)
        ::unlink(file.c_str());
    }
  } remover{temp};

  {
    detail::FdStreambuf buffer(fd.get());
    std::ostream out(&buffer);
    writer(out);
    out.flush();
    if (buffer.error() != 0)
      throw io_error(path.string() + ": writing temporary file " + temp.string() +
                     " failed: " + detail::errno_message(buffer.error()));
    if (!out)
      throw io_error(path.string() + ": the writer left the output stream of " + temp.string() +
                     " in a failed state");
  }
  if (::fsync(fd.get()) != 0)
    throw io_error(path.string() + ": fsync of temporary file " + temp.string() +
                   " failed: " + detail::errno_message(errno));
  if (const int err = fd.close(); err != 0)
    throw io_error(path.string() + ": closing temporary file " + temp.string() +
                   " failed: " + detail::errno_message(err));
  if (std::rename(temp.c_str(), path.c_str()) != 0)
    throw io_error(path.string() + ": cannot rename " + temp.string() +
                   " over it: " + detail::errno_message(errno));
  remover.armed = false;
  detail::sync_directory(parent, path);
}

} // namespace a2q::io
