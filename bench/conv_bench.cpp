// One convolution layer's forward and backward pass on each float backend, timed, as JSON lines: the
// layers whose kernels differ most (the CNN's first and second layers, the ESPCN's 5x5 first layer, a
// MobileNet depthwise layer, the ResNet's 3x3 layers), batch 128, best of 15 rounds. The 3x3 layers with
// stride 1 run as Winograd on every backend by default; for those the GEMM and oneDNN rows have it turned
// off, and a "winograd" row times it. A kernel change shows here in isolation before it shows in an
// epoch (bench/run_train.sh).
//
//   conv_bench [--threads T] [--rounds R]

#include <a2q/autograd/backend.hpp>
#include <a2q/autograd/conv.hpp>
#include <a2q/autograd/winograd_conv.hpp>
#include <a2q/core/parallel.hpp>
#include <a2q/core/rng.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Layer {
  const char* name;
  std::int64_t in_channels, out_channels, size, kernel, groups;
  bool input_gradient; ///< false for a first layer: its input needs no gradient
};

double milliseconds_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

} // namespace

int main(int argc, char** argv) {
  int threads = 1;
  int rounds = 15;
  CLI::App app{"a2q convolution-layer benchmark (one forward and backward pass per backend)"};
  app.add_option("--threads", threads, "Threads")->check(CLI::Range(1, 256));
  app.add_option("--rounds", rounds, "Rounds; the fastest is reported")->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);
  a2q::set_num_threads(threads);
  // Each round allocates and frees megabytes of tensors; glibc would hand them back to the system and take
  // page faults on every round. A training step reuses its memory (page faults were 0.3% of a CNN epoch in
  // a profile), so keep it here too: the rounds time the kernels.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);

  const std::vector<Layer> layers = {
      {"cnn first 1->16 3x3 28x28", 1, 16, 28, 3, 1, false},
      {"cnn second 16->32 3x3 14x14", 16, 32, 14, 3, 1, true},
      {"espcn first 1->64 5x5 14x14", 1, 64, 14, 5, 1, false},
      {"depthwise 64 3x3 14x14", 64, 64, 14, 3, 64, true},
      {"resnet 16->16 3x3 32x32", 16, 16, 32, 3, 1, true},
      {"resnet 32->32 3x3 16x16", 32, 32, 16, 3, 1, true},
      {"resnet 64->64 3x3 8x8", 64, 64, 8, 3, 1, true},
  };
  // (backend, Winograd allowed): the GEMM and oneDNN paths as they are without Winograd, then Winograd.
  std::vector<std::pair<a2q::FloatBackend, bool>> runs{{a2q::FloatBackend::eigen, false}};
  if constexpr (a2q::onednn_available)
    runs.emplace_back(a2q::FloatBackend::onednn, false);
  runs.emplace_back(a2q::onednn_available ? a2q::FloatBackend::onednn : a2q::FloatBackend::eigen, true);
  constexpr std::int64_t batch = 128;
  a2q::Rng rng(1);
  for (const Layer& layer : layers) {
    const a2q::Shape x_shape{batch, layer.in_channels, layer.size, layer.size};
    const a2q::Shape w_shape{layer.out_channels, layer.in_channels / layer.groups, layer.kernel,
                             layer.kernel};
    const a2q::Tensor<float> x = a2q::Tensor<float>::uniform(x_shape, -1.0f, 1.0f, rng);
    const a2q::Tensor<float> w = a2q::Tensor<float>::uniform(w_shape, -1.0f, 1.0f, rng);
    const a2q::Tensor<float> b =
        a2q::Tensor<float>::uniform(a2q::Shape{layer.out_channels}, -1.0f, 1.0f, rng);
    const a2q::Conv2dOptions options{1, static_cast<int>(layer.kernel / 2), static_cast<int>(layer.groups)};
    const double multiply_adds =
        static_cast<double>(batch * layer.out_channels * layer.size * layer.size *
                            (layer.in_channels / layer.groups) * layer.kernel * layer.kernel);
    a2q::detail::winograd_mode().store(a2q::detail::WinogradMode::always);
    const bool winograd_layer =
        a2q::detail::winograd_pays(a2q::detail::conv2d_plan(x_shape, w_shape, options));
    for (const auto& [backend, winograd] : runs) {
      a2q::detail::winograd_mode().store(winograd ? a2q::detail::WinogradMode::always
                                                  : a2q::detail::WinogradMode::off);
      if (winograd && !winograd_layer)
        continue;
      a2q::set_float_backend(backend);
      double forward = 1e30, backward = 1e30;
      for (int round = 0; round < rounds; ++round) {
        const a2q::Var xv(x, layer.input_gradient), wv(w, true), bv(b, true);
        Clock::time_point start = Clock::now();
        const a2q::Var y = a2q::conv2d(xv, wv, bv, options);
        forward = std::min(forward, milliseconds_since(start));
        const a2q::Tensor<float> dy(y.shape(), 1e-3f);
        start = Clock::now();
        y.backward(dy);
        backward = std::min(backward, milliseconds_since(start));
      }
      // The backward pass does two products when the input needs a gradient, one otherwise.
      const double backward_products = layer.input_gradient ? 2.0 : 1.0;
      fmt::print("{{\"layer\": \"{}\", \"backend\": \"{}\", \"threads\": {}, \"forward_ms\": {:.3f}, "
                 "\"backward_ms\": {:.3f}, \"forward_gflops\": {:.1f}, \"backward_gflops\": {:.1f}}}\n",
                 layer.name,
                 winograd                              ? "winograd"
                 : backend == a2q::FloatBackend::eigen ? "eigen"
                                                       : "onednn",
                 threads, forward, backward, 2.0 * multiply_adds / forward / 1e6,
                 2.0 * backward_products * multiply_adds / backward / 1e6);
    }
  }
  return 0;
}
