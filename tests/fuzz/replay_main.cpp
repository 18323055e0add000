// Runs a fuzz harness without libFuzzer: every file named on the command line, and every file in every
// directory named, goes through LLVMFuzzerTestOneInput once, in name order. GCC builds run the seed
// corpora and the kept regressions this way in CTest; a crash or a sanitizer report fails the test.
// A directory that does not exist (no regression kept yet) is skipped.

#include "fuzz_target.hpp"

#include <algorithm>
#include <iostream>
#include <iterator>

int main(int argc, char** argv) {
  std::size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg = argv[i];
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg))
        if (entry.is_regular_file() && entry.path().filename().string().front() != '.')
          files.push_back(entry.path());
      std::sort(files.begin(), files.end());
    } else if (std::filesystem::exists(arg, ec)) {
      files.push_back(arg);
    } else {
      std::cout << arg.string() << ": nothing to replay\n";
      continue;
    }
    for (const auto& file : files) {
      std::ifstream in(file, std::ios::binary);
      const a2q_fuzz::Bytes bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      if (!in.eof() && in.fail()) {
        std::cerr << file.string() << ": cannot read\n";
        return 1;
      }
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
      ++replayed;
    }
  }
  std::cout << "replayed " << replayed << " inputs\n";
  return 0;
}
