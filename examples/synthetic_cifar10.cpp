// Writes a few CIFAR-10-format binary batches whose classes are learnable (each class has its own colour
// and stripe orientation, plus noise), so train_cifar10 can be exercised where the real data is absent.
//
//   synthetic_cifar10 --out DIR --train-batches 1 --images 500

#include <a2q/core/rng.hpp>
#include <a2q/io/atomic_file.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <vector>

namespace {

void write_batch(const std::filesystem::path& path, int images, a2q::Rng& rng) {
  std::vector<char> bytes;
  bytes.reserve(static_cast<std::size_t>(images) * 3073);
  for (int i = 0; i < images; ++i) {
    const int label = static_cast<int>(rng.below(10));
    bytes.push_back(static_cast<char>(label));
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) {
          const int colour = 40 + 20 * ((label + c * 3) % 10);
          const bool stripe = label < 5 ? ((y / (label + 2)) % 2 == 0) : ((x / (label - 3)) % 2 == 0);
          const int noise = static_cast<int>(rng.uniform_int(-30, 30));
          bytes.push_back(static_cast<char>(std::clamp(colour + (stripe ? 60 : 0) + noise, 0, 255)));
        }
  }
  a2q::io::write_file_atomically(
      path, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write synthetic CIFAR-10 binary batches"};
  std::string out;
  int train_batches = 1;
  int images = 500;
  std::uint64_t seed = 1;
  app.add_option("--out", out, "Output directory")->required();
  app.add_option("--train-batches", train_batches, "Number of data_batch_N.bin files")
      ->check(CLI::Range(1, 5));
  app.add_option("--images", images, "Images per batch file")->check(CLI::Range(1, 10000));
  app.add_option("--seed", seed, "Seed");
  CLI11_PARSE(app, argc, argv);
  try {
    std::filesystem::create_directories(out);
    a2q::Rng rng(seed);
    for (int b = 1; b <= train_batches; ++b)
      write_batch(std::filesystem::path(out) / fmt::format("data_batch_{}.bin", b), images, rng);
    write_batch(std::filesystem::path(out) / "test_batch.bin", images, rng);
    fmt::print("wrote {} training batch(es) and a test batch of {} images to {}\n", train_batches, images,
               out);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
