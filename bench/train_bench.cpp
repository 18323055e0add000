// One training epoch of the example MLP or CNN on Fashion-MNIST (batch 128, Adam, lr 1e-3), timed, as
// one JSON line: seconds per epoch, samples/s, achieved GFLOP/s and peak resident memory.
// bench/run_train.sh runs it beside bench/torch_reference.py and prints the ratios.

#include <a2q/autograd/ops.hpp>
#include <a2q/core/parallel.hpp>
#include <a2q/data/dataset.hpp>
#include <a2q/data/loader.hpp>
#include <a2q/models/zoo.hpp>
#include <a2q/optim/adam.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <iostream>

namespace {

// Multiply-adds count 2 FLOPs; forward + backward is taken as 3x forward, as in torch_reference.py.
double forward_backward_flops(const std::string& model) {
  const double forward = model == "mlp" ? 2.0 * (784 * 256 + 256 * 256 + 256 * 10)
                                        : 2.0 * (28 * 28 * 16 * 9 + 14 * 14 * 32 * 16 * 9 + 1568 * 10);
  return 3.0 * forward;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"a2q training-speed benchmark (one epoch, Fashion-MNIST)"};
  std::string data = a2q::data::default_fashion_mnist_dir;
  std::string model_name = "mlp";
  int threads = 1;
  int epochs = 1;
  app.add_option("--data", data, "IDX directory");
  app.add_option("--model", model_name)->check(CLI::IsMember({"mlp", "cnn"}));
  app.add_option("--threads", threads)->check(CLI::Range(1, 256));
  app.add_option("--epochs", epochs, "Epochs to run; the fastest is reported")->check(CLI::Range(1, 100));
  CLI11_PARSE(app, argc, argv);

  try {
    a2q::set_num_threads(threads);
    a2q::keep_freed_memory_for_reuse();
    const auto train = a2q::data::load_mnist(data, a2q::data::Split::train);
    a2q::Rng rng(1);
    auto model = model_name == "mlp" ? a2q::models::mnist_mlp(rng) : a2q::models::mnist_cnn(rng);
    a2q::Adam adam(model->parameters(), {.lr = 1e-3});
    a2q::data::DataLoader loader(train, {.batch_size = 128, .shuffle = true, .seed = 1});
    double best = 1e30;
    for (int epoch = 0; epoch < epochs; ++epoch) {
      loader.start_epoch(epoch);
      const auto start = std::chrono::steady_clock::now();
      for (std::int64_t b = 0; b < loader.num_batches(); ++b) {
        const a2q::data::Batch batch = loader.batch(b);
        const a2q::Var loss = a2q::softmax_cross_entropy((*model)(a2q::Var(batch.images)), batch.labels);
        adam.zero_grad();
        loss.backward();
        adam.step();
      }
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto samples = static_cast<double>(train.size());
    fmt::print("{{\"peer\": \"a2q\", \"model\": \"{}\", \"threads\": {}, \"epoch_seconds\": {:.4f}, "
               "\"samples_per_second\": {:.1f}, \"gflops\": {:.2f}, \"peak_rss_mib\": {:.1f}}}\n",
               model_name, threads, best, samples / best,
               samples * forward_backward_flops(model_name) / best / 1e9,
               static_cast<double>(usage.ru_maxrss) / 1024.0);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
