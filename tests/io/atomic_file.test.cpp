#include "a2q/io/atomic_file.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>

using a2q::io_error;
using a2q::io::atomic_temp_path;
using a2q::io::write_file_atomically;
using a2q_test::read_text;
using a2q_test::ScratchDir;
using Catch::Matchers::Contains;

TEST_CASE("write_file_atomically creates and replaces a file", "[io][atomic_file]") {
  ScratchDir dir;
  const auto path = dir / "out.txt";
  write_file_atomically(path, [](std::ostream& out) { out << "first\n"; });
  CHECK(read_text(path) == "first\n");
  write_file_atomically(path, [](std::ostream& out) { out << "second, longer contents\n"; });
  CHECK(read_text(path) == "second, longer contents\n");
  write_file_atomically(path, [](std::ostream&) {});
  CHECK(read_text(path).empty());
  CHECK(dir.entries() == std::vector<std::string>{"out.txt"});
}

TEST_CASE("write_file_atomically handles output larger than its buffer", "[io][atomic_file]") {
  ScratchDir dir;
  const auto path = dir / "big.bin";
  std::string big(300000, '\0');
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>(i * 7 + 3);
  write_file_atomically(path, [&](std::ostream& out) {
    out << 'x';                                                      // buffered
    out.write(big.data(), static_cast<std::streamsize>(big.size())); // bypasses the buffer
    for (int i = 0; i < 70000; ++i) // many small writes across buffer refills
      out.put(static_cast<char>('a' + i % 26));
  });
  const std::string text = read_text(path);
  REQUIRE(text.size() == 1 + big.size() + 70000);
  CHECK(text[0] == 'x');
  CHECK(text.compare(1, big.size(), big) == 0);
  CHECK(text.back() == static_cast<char>('a' + 69999 % 26));
}

TEST_CASE("a throwing writer leaves the previous file intact and no temporary file", "[io][atomic_file]") {
  ScratchDir dir;
  const auto path = dir / "state.bin";
  write_file_atomically(path, [](std::ostream& out) { out << "good old contents"; });
  CHECK_THROWS_WITH(write_file_atomically(path,
                                          [](std::ostream& out) {
                                            out << std::string(100000, 'z'); // partly on disk already
                                            throw std::runtime_error("writer failed midway");
                                          }),
                    "writer failed midway");
  CHECK(read_text(path) == "good old contents");
  CHECK(dir.entries() == std::vector<std::string>{"state.bin"});

  // Also when the target does not exist yet: nothing at all is left behind.
  const auto fresh = dir / "fresh.bin";
  CHECK_THROWS_AS(write_file_atomically(fresh, [](std::ostream&) { throw std::logic_error("no"); }),
                  std::logic_error);
  CHECK_FALSE(std::filesystem::exists(fresh));
  CHECK(dir.entries() == std::vector<std::string>{"state.bin"});
}

TEST_CASE("a stream left failed by the writer is an io_error", "[io][atomic_file]") {
  ScratchDir dir;
  const auto path = dir / "f.txt";
  write_file_atomically(path, [](std::ostream& out) { out << "keep"; });
  CHECK_THROWS_AS(write_file_atomically(path, [](std::ostream& out) { out.setstate(std::ios::failbit); }),
                  io_error);
  CHECK(read_text(path) == "keep");
  CHECK(dir.entries() == std::vector<std::string>{"f.txt"});
}

TEST_CASE("write_file_atomically reports the path and the system's reason", "[io][atomic_file]") {
  ScratchDir dir;
  const auto missing = dir / "no-such-dir" / "file.txt";
  CHECK_THROWS_MATCHES(write_file_atomically(missing, [](std::ostream& out) { out << "x"; }), io_error,
                       Catch::Matchers::Message(missing.string() + ": cannot create temporary file " +
                                                atomic_temp_path(missing).string() +
                                                ": No such file or directory"));
  // Renaming over a directory fails after the temporary file was written: it must be removed.
  std::filesystem::create_directory(dir / "a-dir");
  std::filesystem::create_directory(dir / "a-dir" / "inside");
  CHECK_THROWS_WITH(write_file_atomically(dir / "a-dir", [](std::ostream& out) { out << "x"; }),
                    Contains("cannot rename") && Contains((dir / "a-dir").string()));
  CHECK(dir.entries() == std::vector<std::string>{"a-dir"});
  CHECK_THROWS_AS(write_file_atomically("", [](std::ostream&) {}), io_error);
}

TEST_CASE("the temporary file sits next to the target and carries the pid", "[io][atomic_file]") {
  const std::filesystem::path target = "/some/dir/model.ckpt";
  CHECK(atomic_temp_path(target) ==
        std::filesystem::path("/some/dir/model.ckpt.tmp." + std::to_string(::getpid())));
  ScratchDir dir;
  const auto path = dir / "seen.txt";
  bool temp_existed = false;
  write_file_atomically(path, [&](std::ostream& out) {
    temp_existed = std::filesystem::exists(atomic_temp_path(path));
    out << "y";
  });
  CHECK(temp_existed);
  CHECK_FALSE(std::filesystem::exists(atomic_temp_path(path)));
}
