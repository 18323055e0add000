// Training speed of one epoch (batch 128, Adam, lr 1e-3), timed, as one JSON line: seconds per epoch,
// samples/s, achieved GFLOP/s against the fp32 peak measured in the same process, and peak resident
// memory. bench/run_train.sh runs it beside bench/torch_reference.py and prints the ratios.
//
//   train_bench --model mlp|cnn|resnet [--quant float|a2q+] [--threads T] [--epochs E] [--samples N]
//               [--profile]      # per-operation forward/backward times on stderr (a2q::OpProfiler)
//   train_bench --peak [--threads T]   # only the fp32 FMA peak probe
//
// mlp and cnn train on Fashion-MNIST; resnet (cifar_resnet, width 16, one block per stage) on random
// CIFAR-sized images, 10000 unless --samples says otherwise.

#include <a2q/autograd/ops.hpp>
#include <a2q/core/parallel.hpp>
#include <a2q/data/dataset.hpp>
#include <a2q/data/loader.hpp>
#include <a2q/models/recipe.hpp>
#include <a2q/nn/quant_model.hpp>
#include <a2q/nn/sequential.hpp>
#include <a2q/optim/adam.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <unordered_set>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The fp32 peak of `threads` cores: each runs independent chains of vector FMAs on registers (enough
// chains to cover the FMA latency on every pipe), so nothing but the FMA units limits it. The probe is
// compiled for 512-, 256- and 128-bit vectors and picks at run time the widest this CPU has, so the peak
// is the machine's whatever flags the benchmark was built with. The chains and the two operands must all
// stay in registers: AVX-512 has 32 vector registers, AVX2 and SSE 16 (16 chains there spill to memory and
// halve the probe).
#define A2Q_FMA_PROBE(NAME, TARGET, FLOATS, CHAINS)                                                          \
  __attribute__((target(TARGET))) double NAME(std::int64_t iterations) {                                     \
    using Vector = float __attribute__((vector_size((FLOATS) * sizeof(float))));                             \
    constexpr int chains = (CHAINS);                                                                         \
    Vector acc[chains];                                                                                      \
    Vector a;                                                                                                \
    Vector b;                                                                                                \
    for (int i = 0; i < (FLOATS); ++i) {                                                                     \
      a[i] = 0.999999f;                                                                                      \
      b[i] = 1e-7f;                                                                                          \
      for (int c = 0; c < chains; ++c)                                                                       \
        acc[c][i] = static_cast<float>(c + i) * 1e-3f;                                                       \
    }                                                                                                        \
    const Clock::time_point start = Clock::now();                                                            \
    for (std::int64_t it = 0; it < iterations; ++it) {                                                       \
      for (int c = 0; c < chains; ++c)                                                                       \
        acc[c] = acc[c] * a + b;  /* one FMA where the target has them */                                    \
      asm volatile("" : "+x"(a)); /* keeps the loop from being folded away */                                \
    }                                                                                                        \
    const double seconds = seconds_since(start);                                                             \
    float sink = 0.0f;                                                                                       \
    for (int c = 0; c < chains; ++c)                                                                         \
      for (int i = 0; i < (FLOATS); ++i)                                                                     \
        sink += acc[c][i];                                                                                   \
    if (sink == 12345.0f) /* never true; uses the result */                                                  \
      std::cerr << sink;                                                                                     \
    return 2.0 * chains * (FLOATS) * static_cast<double>(iterations) / seconds / 1e9;                        \
  }

A2Q_FMA_PROBE(fma_chains_512, "avx512f,fma", 16, 16)
A2Q_FMA_PROBE(fma_chains_256, "avx2,fma", 8, 12)
A2Q_FMA_PROBE(fma_chains_128, "sse2", 4, 12)

int probe_vector_bits() {
  if (__builtin_cpu_supports("avx512f"))
    return 512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return 256;
  return 128;
}

double fma_chains_gflops(std::int64_t iterations) {
  switch (probe_vector_bits()) {
  case 512:
    return fma_chains_512(iterations);
  case 256:
    return fma_chains_256(2 * iterations);
  default:
    return fma_chains_128(4 * iterations);
  }
}

// Best of five rounds of about 0.1 s: a neighbour on a shared machine can only lower a round.
double measured_peak_gflops(int threads) {
  double best = 0.0;
  for (int round = 0; round < 5; ++round) {
    double total = 0.0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : total)
#endif
    total += fma_chains_gflops(20'000'000);
    best = std::max(best, total);
  }
  return best;
}

// Multiply-adds of one sample's forward pass, read off the recorded graph: every conv2d and linear
// node's output size times its weight's fan-in. A forward + backward step is counted as 3x the forward
// (as torch_reference.py and the issue do), ignoring that the first layer needs no input gradient. A
// Sequential's layers run one by one here, so that no convolution is fused with the pooling after it
// (conv2d_relu_max_pool2d's node holds only the pooled output).
double forward_flops_per_sample(a2q::nn::Module& model, const a2q::Shape& sample) {
  std::vector<std::int64_t> dims{1};
  for (int i = 0; i < sample.rank(); ++i)
    dims.push_back(sample[i]);
  a2q::Var out(a2q::Tensor<float>(a2q::Shape(dims), 0.5f));
  if (auto* layers = dynamic_cast<a2q::nn::Sequential*>(&model))
    for (std::size_t i = 0; i < layers->size(); ++i)
      out = (*layers)[i](out);
  else
    out = model(out);
  double macs = 0.0;
  std::unordered_set<const a2q::detail::Node*> seen;
  std::vector<const a2q::detail::Node*> stack{out.node().get()};
  while (!stack.empty()) {
    const a2q::detail::Node* node = stack.back();
    stack.pop_back();
    if (!seen.insert(node).second)
      continue;
    const std::string op = node->op;
    if ((op == "conv2d" || op == "linear") && node->inputs.size() >= 2) {
      const a2q::Tensor<float>& weight = node->inputs[1]->value;
      macs += static_cast<double>(node->value.numel()) *
              static_cast<double>(weight.numel() / std::max<std::int64_t>(weight.shape()[0], 1));
    }
    for (const auto& input : node->inputs)
      stack.push_back(input.get());
  }
  return 2.0 * macs;
}

a2q::data::ImageDataset random_cifar_images(std::int64_t count) {
  a2q::Rng rng(7);
  a2q::data::ImageDataset set;
  set.images = a2q::Tensor<std::uint8_t>::uninitialized(a2q::Shape{count, 3, 32, 32});
  for (std::int64_t i = 0; i < set.images.numel(); ++i)
    set.images.data()[i] = static_cast<std::uint8_t>(rng.below(256));
  for (std::int64_t i = 0; i < count; ++i)
    set.labels.push_back(static_cast<std::int32_t>(rng.below(10)));
  set.num_classes = 10;
  return set;
}

void print_profile(const a2q::OpProfiler& profiler, double epoch_seconds) {
  std::cerr << fmt::format("{:<22}{:>9}{:>12}{:>12}{:>9}\n", "operation", "calls", "forward s", "backward s",
                           "% epoch");
  for (const a2q::OpTiming& t : profiler.timings())
    std::cerr << fmt::format("{:<22}{:>9}{:>12.3f}{:>12.3f}{:>8.1f}%\n", t.op,
                             std::max(t.forward_calls, t.backward_calls), t.forward_seconds,
                             t.backward_seconds, 100.0 * t.total_seconds() / epoch_seconds);
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"a2q training-speed benchmark (one epoch)"};
  std::string data = a2q::data::default_fashion_mnist_dir;
  std::string model_name = "mlp";
  std::string quant = "float";
  int threads = 1;
  int epochs = 1;
  std::int64_t samples = 0;
  bool profile = false;
  bool peak_only = false;
  app.add_option("--data", data, "IDX directory (mlp, cnn)");
  app.add_option("--model", model_name)->check(CLI::IsMember({"mlp", "cnn", "resnet"}));
  app.add_option("--quant", quant, "float, or a2q+ (hidden layers at P = 16)")
      ->check(CLI::IsMember({"float", "a2q+"}));
  app.add_option("--threads", threads)->check(CLI::Range(1, 256));
  app.add_option("--epochs", epochs, "Epochs to run; the fastest is reported")->check(CLI::Range(1, 100));
  app.add_option("--samples", samples, "Training samples per epoch (0: all; resnet: 10000)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 30));
  app.add_flag("--profile", profile, "Per-operation times of the last epoch on stderr");
  app.add_flag("--peak", peak_only, "Only measure the fp32 FMA peak");
  CLI11_PARSE(app, argc, argv);

  try {
    a2q::set_num_threads(threads);
    const double peak = measured_peak_gflops(threads);
    if (peak_only) {
      fmt::print(
          "{{\"probe\": \"fp32_fma_peak\", \"threads\": {}, \"vector_bits\": {}, \"gflops\": {:.1f}}}\n",
          threads, probe_vector_bits(), peak);
      return 0;
    }
    a2q::keep_freed_memory_for_reuse();
    a2q::models::ModelRecipe recipe;
    recipe.architecture = model_name;
    a2q::data::ImageDataset train;
    if (model_name == "resnet") {
      recipe.input = a2q::Shape{3, 32, 32};
      train = random_cifar_images(samples > 0 ? samples : 10000);
    } else {
      train = a2q::data::load_mnist(data, a2q::data::Split::train);
      if (samples > 0)
        train = a2q::data::subset(train, 0, std::min(samples, train.size()));
    }
    recipe.policy.method =
        quant == "float" ? a2q::quant::QuantMethod::none : a2q::quant::QuantMethod::a2q_plus;
    a2q::Rng rng(1);
    auto model = recipe.build(rng);
    const double flops = 3.0 * forward_flops_per_sample(*model, recipe.input);
    a2q::Adam adam(model->parameters(), {.lr = 1e-3});
    a2q::data::DataLoader loader(train, {.batch_size = 128, .shuffle = true, .seed = 1});
    const bool quantized = recipe.policy.method != a2q::quant::QuantMethod::none;
    double best = 1e30;
    for (int epoch = 0; epoch < epochs; ++epoch) {
      std::unique_ptr<a2q::OpProfiler> profiler;
      if (profile && epoch + 1 == epochs)
        profiler = std::make_unique<a2q::OpProfiler>();
      loader.start_epoch(epoch);
      const Clock::time_point start = Clock::now();
      for (std::int64_t b = 0; b < loader.num_batches(); ++b) {
        const Clock::time_point load_start = Clock::now();
        const a2q::data::Batch batch = loader.batch(b);
        if (profiler) {
          profiler->add("(load batch)", seconds_since(load_start));
          profiler->mark();
        }
        a2q::Var loss = a2q::softmax_cross_entropy((*model)(a2q::Var(batch.images)), batch.labels);
        if (quantized)
          loss = a2q::add(loss, a2q::nn::quant_penalty(*model));
        adam.zero_grad();
        loss.backward();
        const Clock::time_point step_start = Clock::now();
        adam.step();
        if (profiler)
          profiler->add("(adam step)", seconds_since(step_start), true);
      }
      const double seconds = seconds_since(start);
      best = std::min(best, seconds);
      if (profiler)
        print_profile(*profiler, seconds);
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto n = static_cast<double>(train.size());
    const double gflops = n * flops / best / 1e9;
    fmt::print("{{\"peer\": \"a2q\", \"model\": \"{}\", \"quant\": \"{}\", \"threads\": {}, \"samples\": {}, "
               "\"epoch_seconds\": {:.4f}, \"samples_per_second\": {:.1f}, \"flops_per_sample\": {:.0f}, "
               "\"gflops\": {:.2f}, \"peak_gflops\": {:.1f}, \"percent_of_peak\": {:.1f}, "
               "\"peak_rss_mib\": {:.1f}}}\n",
               model_name, quant, threads, train.size(), best, n / best, flops, gflops, peak,
               100.0 * gflops / peak, static_cast<double>(usage.ru_maxrss) / 1024.0);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
