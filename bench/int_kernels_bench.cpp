// Integer kernels, single-threaded: a2q's dense int8 path (dense_kernel.hpp) and sparse path
// (sparse_kernel.hpp) against oneDNN's u8 x s8 -> s32 matmul on the same layer shapes.
//  - oneDNN: dnnl::matmul, primitive and reordered weights created once, only execute() is timed;
//  - dense: dense_gemm_u8s8 on prepacked weights;
//  - sparse: sparse_gemm_u8s8 (its input transpose included), on A2Q-like weights: >= 90% zeros and
//    255·Σ|w| <= 32767 per channel, so the int16 lanes apply.
// GOPS count 2·N·K·C operations for every kernel (the sparse one as dense-equivalent work). Every output
// is checked bit for bit against the portable path before anything is timed.
// Depthwise 3x3 convolutions (MobileNet's, K = 9): a2q's grouped kernel (grouped_kernel.hpp; int32 NCHW
// inputs, int64 outputs, as the engine runs it) against oneDNN's u8s8s32 grouped convolution, given its
// preferred layouts (reordered once, untimed).
// bench/run_int.sh builds and runs it; bench_layer() takes further layers.

#include <a2q/core/parallel.hpp>
#include <a2q/core/rng.hpp>
#include <a2q/core/tensor.hpp>
#include <a2q/engine/cpu_features.hpp>
#include <a2q/engine/dense_kernel.hpp>
#include <a2q/engine/grouped_kernel.hpp>
#include <a2q/engine/sparse_kernel.hpp>
#include <a2q/engine/verify.hpp>
#include <a2q/io/model_io.hpp>

#include <CLI/CLI.hpp>
#include <dnnl.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace {

using a2q::Shape;
using a2q::Tensor;

struct BenchOptions {
  int warmup = 20;        ///< untimed runs first
  int repeats = 200;      ///< timed runs; the median is reported
  std::uint64_t seed = 1; ///< inputs (and generated weights)
};

struct LayerResult {
  std::string name;
  std::int64_t N = 0, K = 0, C = 0;
  double sparsity = 0;
  bool int16_lanes = false;
  double onednn_gops = 0, dense_gops = 0, sparse_gops = 0;
  bool onednn_exact = true; ///< false where oneDNN's int16 intermediate sums saturate (no VNNI)
};

/// Median wall times in seconds of each of `kernels`, timed in turns (one call of each per round, after
/// `warmup` rounds), so that a burst of load from a neighbour on this shared machine slows all of them
/// alike instead of skewing one kernel's ratio to the others.
std::vector<double> interleaved_median_seconds(const std::vector<std::function<void()>>& kernels,
                                               const BenchOptions& options) {
  for (int i = 0; i < options.warmup; ++i)
    for (const auto& f : kernels)
      f();
  std::vector<std::vector<double>> seconds(kernels.size());
  for (int i = 0; i < options.repeats; ++i)
    for (std::size_t k = 0; k < kernels.size(); ++k) {
      const auto start = std::chrono::steady_clock::now();
      kernels[k]();
      seconds[k].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  std::vector<double> medians;
  for (std::vector<double>& s : seconds) {
    std::nth_element(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(s.size() / 2), s.end());
    medians.push_back(s[s.size() / 2]);
  }
  return medians;
}

/// Median wall time of f() in seconds, after `warmup` untimed calls.
template <class F>
double median_seconds(F&& f, const BenchOptions& options) {
  for (int i = 0; i < options.warmup; ++i)
    f();
  std::vector<double> seconds;
  for (int i = 0; i < options.repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    f();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(seconds.begin(), seconds.begin() + seconds.size() / 2, seconds.end());
  return seconds[seconds.size() / 2];
}

/// oneDNN's u8 [N, K] x s8 [K, C] -> s32 [N, C] matmul on caller-owned buffers. The primitive and the
/// weights in oneDNN's preferred layout are made once, so run() is the execution alone.
class OneDnnMatmul {
public:
  OneDnnMatmul(const Tensor<std::int32_t>& w, std::int64_t N, const std::uint8_t* x, std::int32_t* out)
      : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const std::int64_t C = w.dim(0);
    const std::int64_t K = w.dim(1);
    const dnnl::memory::desc src({N, K}, dt::u8, tag::ab);
    const dnnl::memory::desc any_weights({K, C}, dt::s8, tag::any);
    const dnnl::memory::desc dst({N, C}, dt::s32, tag::ab);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, any_weights, dst), engine_);
    implementation_ = pd.impl_info_str();
    // Our [C, K] weights are oneDNN's [K, C] in the transposed ("ba") layout.
    std::vector<std::int8_t> w8(static_cast<std::size_t>(w.numel()));
    std::transform(w.begin(), w.end(), w8.begin(),
                   [](std::int32_t v) { return static_cast<std::int8_t>(v); });
    dnnl::memory user_weights({{K, C}, dt::s8, tag::ba}, engine_, w8.data());
    weights_ = dnnl::memory(pd.weights_desc(), engine_);
    dnnl::reorder(user_weights, weights_).execute(stream_, user_weights, weights_);
    stream_.wait();
    src_ = dnnl::memory(src, engine_, const_cast<std::uint8_t*>(x));
    dst_ = dnnl::memory(dst, engine_, out);
    matmul_ = dnnl::matmul(pd);
  }

  void run() {
    matmul_.execute(stream_, {{DNNL_ARG_SRC, src_}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst_}});
    stream_.wait();
  }
  const std::string& implementation() const { return implementation_; }

private:
  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::memory weights_, src_, dst_;
  dnnl::matmul matmul_;
  std::string implementation_;
};

/// Aborts the benchmark if `got` differs from the portable path's result.
void require_exact(const std::string& layer, const char* kernel, const std::vector<std::int32_t>& got,
                   const std::vector<std::int32_t>& expected) {
  const auto [g, e] = std::mismatch(got.begin(), got.end(), expected.begin());
  if (g == got.end())
    return;
  fmt::print(stderr, "{}: {} differs from the portable path at output {}: {} instead of {}\n", layer, kernel,
             g - got.begin(), *g, *e);
  std::abort();
}

/// One layer: weights [C, K] applied to N random u8 samples by oneDNN, the dense and the sparse kernels.
LayerResult bench_layer(std::string name, const Tensor<std::int32_t>& weights, std::int64_t N,
                        const BenchOptions& options = {}) {
  namespace eng = a2q::engine;
  const std::int64_t C = weights.dim(0);
  const std::int64_t K = weights.dim(1);
  a2q::Rng rng(options.seed);
  a2q::detail::KernelBuffer<std::uint8_t> x(static_cast<std::size_t>(N * K));
  for (std::uint8_t& v : x)
    v = static_cast<std::uint8_t>(rng.uniform_int(0, 255));
  const auto outputs = static_cast<std::size_t>(N * C);

  std::vector<std::int32_t> expected(outputs);
  eng::dense_gemm_u8s8(x.data(), N, eng::PackedDenseWeights(weights, eng::KernelIsa::portable),
                       expected.data());

  const eng::PackedDenseWeights dense(weights);
  const eng::PackedSparseWeights sparse(weights);
  std::vector<std::int32_t> onednn_out(outputs), dense_out(outputs), sparse_out(outputs);
  OneDnnMatmul onednn(weights, N, x.data(), onednn_out.data());
  onednn.run();
  eng::dense_gemm_u8s8(x.data(), N, dense, dense_out.data());
  eng::sparse_gemm_u8s8(x.data(), N, sparse, sparse_out.data());
  // Without VNNI, oneDNN's u8s8 kernels add pairs of products in saturating int16 (vpmaddubsw), so
  // its results can be wrong; it is still timed as the peer, and the table marks the layer.
  const bool onednn_exact = onednn_out == expected;
  require_exact(name, "dense", dense_out, expected);
  require_exact(name, "sparse", sparse_out, expected);

  const double ops = 2.0 * static_cast<double>(N) * static_cast<double>(K) * static_cast<double>(C);
  LayerResult r{.name = std::move(name),
                .N = N,
                .K = K,
                .C = C,
                .sparsity = sparse.sparsity(),
                .int16_lanes = sparse.int16_lanes(),
                .onednn_exact = onednn_exact};
  std::vector<std::function<void()>> kernels = {
      [&] { onednn.run(); }, [&] { eng::dense_gemm_u8s8(x.data(), N, dense, dense_out.data()); }};
  // The sparse path is for sparse weights; on dense ones it is far slower than the dense path, so there
  // it is checked above but not timed.
  const bool time_sparse = r.sparsity >= 0.5;
  if (time_sparse)
    kernels.emplace_back([&] { eng::sparse_gemm_u8s8(x.data(), N, sparse, sparse_out.data()); });
  const std::vector<double> seconds = interleaved_median_seconds(kernels, options);
  r.onednn_gops = ops / seconds[0] * 1e-9;
  r.dense_gops = ops / seconds[1] * 1e-9;
  if (time_sparse)
    r.sparse_gops = ops / seconds[2] * 1e-9;
  return r;
}

/// oneDNN's u8 x s8 -> s32 depthwise convolution (groups = channels), primitive, weights and input in
/// its preferred layouts made once; run() is the execution alone.
class OneDnnDepthwise {
public:
  OneDnnDepthwise(const Tensor<std::int32_t>& x, const Tensor<std::int32_t>& w, std::int64_t stride,
                  std::int64_t pad)
      : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const std::int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), k = w.dim(2);
    const std::int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
    const dnnl::memory::desc src({N, C, H, W}, dt::u8, tag::any);
    const dnnl::memory::desc weights({C, 1, 1, k, k}, dt::s8, tag::any);
    const dnnl::memory::desc dst({N, C, Ho, Wo}, dt::s32, tag::any);
    const dnnl::convolution_forward::primitive_desc pd(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                        dnnl::algorithm::convolution_direct, src, weights, dst,
                                        {stride, stride}, {pad, pad}, {pad, pad}),
        engine_);
    implementation_ = pd.impl_info_str();
    std::vector<std::uint8_t> x8(x.begin(), x.end());
    std::vector<std::int8_t> w8(w.begin(), w.end());
    dnnl::memory user_src({{N, C, H, W}, dt::u8, tag::nchw}, engine_, x8.data());
    dnnl::memory user_weights({{C, 1, 1, k, k}, dt::s8, tag::goihw}, engine_, w8.data());
    src_ = dnnl::memory(pd.src_desc(), engine_);
    weights_ = dnnl::memory(pd.weights_desc(), engine_);
    dst_ = dnnl::memory(pd.dst_desc(), engine_);
    dnnl::reorder(user_src, src_).execute(stream_, user_src, src_);
    dnnl::reorder(user_weights, weights_).execute(stream_, user_weights, weights_);
    stream_.wait();
    conv_ = dnnl::convolution_forward(pd);
    dst_nchw_ = dnnl::memory({{N, C, Ho, Wo}, dt::s32, tag::nchw}, engine_);
  }
  void run() {
    conv_.execute(stream_, {{DNNL_ARG_SRC, src_}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst_}});
    stream_.wait();
  }
  /// The last result in NCHW order (for the exactness check; not timed).
  std::vector<std::int32_t> result() {
    dnnl::reorder(dst_, dst_nchw_).execute(stream_, dst_, dst_nchw_);
    stream_.wait();
    const auto* p = static_cast<const std::int32_t*>(dst_nchw_.get_data_handle());
    return {p, p + dst_nchw_.get_desc().get_size() / sizeof(std::int32_t)};
  }
  const std::string& implementation() const { return implementation_; }

private:
  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::memory src_, weights_, dst_, dst_nchw_;
  dnnl::convolution_forward conv_;
  std::string implementation_;
};

/// A depthwise 3x3 convolution on N random u8 images of C channels, by oneDNN and by conv2d_grouped;
/// prints one line. Both results are checked against conv2d_reference first.
void bench_depthwise(const std::string& name, std::int64_t N, std::int64_t C, std::int64_t size,
                     std::int64_t stride, const Tensor<std::int32_t>& w, const BenchOptions& options) {
  namespace eng = a2q::engine;
  a2q::Rng rng(options.seed);
  const Tensor<std::int32_t> x = Tensor<std::int32_t>::uniform(Shape{N, C, size, size}, 0, 255, rng);
  const eng::Conv2dGeometry g{.stride_h = stride, .stride_w = stride, .pad_h = 1, .pad_w = 1, .groups = C};
  const eng::GroupedConvWeights grouped(w, 1, 3, 3, C);
  const Tensor<std::int64_t> expected = eng::conv2d_reference(x, w, {}, g, 64, eng::OverflowPolicy::check);
  Tensor<std::int64_t> ours = eng::conv2d_grouped(x, grouped, {}, g);
  OneDnnDepthwise onednn(x, w, stride, 1);
  onednn.run();
  const std::vector<std::int32_t> theirs = onednn.result();
  bool onednn_exact = true;
  for (std::int64_t i = 0; i < expected.numel(); ++i) {
    if (ours[i] != expected[i]) {
      fmt::print(stderr, "{}: output {} is {} instead of {}\n", name, i, ours[i], expected[i]);
      std::abort();
    }
    onednn_exact = onednn_exact && theirs[static_cast<std::size_t>(i)] == expected[i];
  }
  const std::vector<double> seconds = interleaved_median_seconds(
      {[&] { onednn.run(); }, [&] { ours = eng::conv2d_grouped(x, grouped, {}, g); }}, options);
  const double ops = 2.0 * 9.0 * static_cast<double>(expected.numel());
  fmt::print("{:<44} {:>8.1f}{} {:>9.1f} {:>12.2f}x   (oneDNN: {})\n", name, ops / seconds[0] * 1e-9,
             onednn_exact ? " " : "*", ops / seconds[1] * 1e-9, seconds[0] / seconds[1],
             onednn.implementation());
}

/// Uniform int8 weights [C, K]: no zeros to exploit.
Tensor<std::int32_t> int8_weights(std::int64_t C, std::int64_t K, std::uint64_t seed) {
  a2q::Rng rng(seed);
  return Tensor<std::int32_t>::uniform(Shape{C, K}, -128, 127, rng);
}

/// Weights like A2Q's at P = 16 for u8 inputs: each weight nonzero with probability `density`, small
/// magnitudes (mostly 1 and 2), and Σ_k|w[c, k]| <= 128 per channel, so 255·Σ|w| <= 32767.
Tensor<std::int32_t> a2q_like_weights(std::int64_t C, std::int64_t K, double density, std::uint64_t seed) {
  a2q::Rng rng(seed);
  Tensor<std::int32_t> w(Shape{C, K});
  for (std::int64_t c = 0; c < C; ++c) {
    std::int64_t l1 = 0;
    for (std::int64_t k = 0; k < K; ++k) {
      if (!rng.bernoulli(density))
        continue;
      const double u = rng.uniform01();
      const std::int64_t m = u < 0.6 ? 1 : u < 0.85 ? 2 : u < 0.95 ? 3 : rng.uniform_int(4, 8);
      if (l1 + m > 128)
        continue;
      l1 += m;
      w[c * K + k] = static_cast<std::int32_t>(rng.bernoulli(0.5) ? m : -m);
    }
  }
  return w;
}

/// A trained model file: every quantized layer with 8-bit operands as a GEMM of N rows (a conv layer as
/// its im2col GEMM), then the verification time and the whole model's integer throughput.
void bench_model(const std::string& path, const BenchOptions& options, std::vector<LayerResult>& results,
                 std::vector<std::string>& model_lines) {
  using clock = std::chrono::steady_clock;
  const auto loaded = a2q::io::load_model(path);
  const a2q::engine::IntegerModel ints = a2q::io::to_integer_model(loaded);
  const std::string label = std::filesystem::path(path).stem().string();
  for (const a2q::nn::IntegerLayer* layer : ints.layers())
    if (layer->weight_bits <= 8 && layer->input_bits <= 8 && !layer->input_signed)
      results.push_back(bench_layer(label + ":" + layer->name + " (" +
                                        std::string(a2q::quant::to_string(layer->method)) + ")",
                                    layer->weights, 256, options));

  const auto start = clock::now();
  const auto proofs = a2q::engine::prove_model(ints);
  std::int64_t overflowing = 0;
  for (const a2q::nn::IntegerLayer* layer : ints.layers())
    overflowing += a2q::engine::adversarial_check(*layer, layer->accumulator_bits).overflowing_channels;
  const double verify_ms = 1e3 * std::chrono::duration<double>(clock::now() - start).count();
  bool proven = true;
  for (const auto& p : proofs)
    proven = proven && p.proven();

  // Whole-model throughput on pixel-like inputs, batch 256.
  a2q::Rng rng(options.seed);
  const a2q::Shape& in = loaded.input;
  Tensor<float> x(Shape{256, in[0], in[1], in[2]});
  for (float& v : x)
    v = static_cast<float>(rng.uniform_int(0, 255)) / 255.0f;
  const auto samples_per_second = [&](a2q::engine::KernelChoice kernel) {
    a2q::engine::ExecutionOptions o;
    o.kernel = kernel;
    BenchOptions quick = options;
    quick.repeats = std::max(3, options.repeats / 20);
    quick.warmup = 1;
    return 256.0 / median_seconds([&] { (void)ints.forward(x, o); }, quick);
  };
  model_lines.push_back(fmt::format(
      "{:<28} verification (static proof + adversarial, every layer) {:7.2f} ms: {}; {} overflowing "
      "channels; "
      "whole model, batch 256: reference {:9.0f} samples/s, dense {:9.0f}, sparse {:9.0f}, automatic {:9.0f}",
      label, verify_ms, proven ? "proven" : "NOT proven", overflowing,
      samples_per_second(a2q::engine::KernelChoice::reference),
      samples_per_second(a2q::engine::KernelChoice::dense),
      samples_per_second(a2q::engine::KernelChoice::sparse),
      samples_per_second(a2q::engine::KernelChoice::automatic)));
}

void print_table(const std::vector<LayerResult>& results) {
  fmt::print("{:<34} {:>4} {:>4} {:>4} {:>6} {:>5} {:>9} {:>9} {:>9} {:>13} {:>14}\n", "layer", "N", "K", "C",
             "zeros", "lanes", "oneDNN", "dense", "sparse", "dense/oneDNN", "sparse/oneDNN");
  fmt::print("{:<34} {:>4} {:>4} {:>4} {:>6} {:>5} {:>9} {:>9} {:>9} {:>13} {:>14}\n", "", "", "", "", "", "",
             "GOPS", "GOPS", "GOPS-eq", "", "dense");
  bool any_inexact = false;
  for (const LayerResult& r : results) {
    const bool timed = r.sparse_gops > 0;
    any_inexact = any_inexact || !r.onednn_exact;
    fmt::print("{:<34} {:>4} {:>4} {:>4} {:>5.1f}% {:>5} {:>8.1f}{} {:>9.1f} {:>9} {:>12.2f}x {:>14}\n",
               r.name, r.N, r.K, r.C, 100 * r.sparsity, r.int16_lanes ? "int16" : "int32", r.onednn_gops,
               r.onednn_exact ? " " : "*", r.dense_gops, timed ? fmt::format("{:.1f}", r.sparse_gops) : "-",
               r.dense_gops / r.onednn_gops,
               timed ? fmt::format("{:.2f}x", r.sparse_gops / r.onednn_gops) : "-");
  }
  if (any_inexact)
    fmt::print(
        "* oneDNN's results are wrong here: without VNNI its u8s8 kernels add product pairs in saturating "
        "int16 (a2q's are exact)\n");
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"a2q integer kernels vs oneDNN u8s8s32 matmul (single thread)"};
  BenchOptions options;
  double density = 0.1;
  app.add_option("--repeats", options.repeats, "Timed runs per kernel (median reported)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--warmup", options.warmup, "Untimed runs first")->check(CLI::Range(0, 100000));
  app.add_option("--seed", options.seed, "Seed of inputs and weights");
  app.add_option("--density", density, "Nonzero fraction of the A2Q-like weights")
      ->check(CLI::Range(0.0, 1.0));
  std::vector<std::string> models;
  app.add_option("--model", models, "Also benchmark the layers of these model files (a2q train)")
      ->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);

  try {
    a2q::set_num_threads(1);
    a2q::keep_freed_memory_for_reuse(); // the sparse kernel's per-call buffers: no page faults per call
    const dnnl_version_t* v = dnnl_version();
    fmt::print("a2q kernels: {} (detected {}); oneDNN {}.{}.{}; 1 thread; median of {} runs, kernels taking "
               "turns, after {} warm-up\n",
               a2q::engine::to_string(a2q::engine::active_isa()),
               a2q::engine::to_string(a2q::engine::detected_isa()), v->major, v->minor, v->patch,
               options.repeats, options.warmup);

    const std::uint64_t s = options.seed;
    std::vector<LayerResult> results;
    // Fully connected layers (an MLP on 28x28 inputs), N = 256 samples.
    results.push_back(bench_layer("fc 784->256, int8 weights", int8_weights(256, 784, s), 256, options));
    results.push_back(
        bench_layer("fc 784->256, A2Q-like weights", a2q_like_weights(256, 784, density, s), 256, options));
    results.push_back(bench_layer("fc 256->256, int8 weights", int8_weights(256, 256, s), 256, options));
    results.push_back(
        bench_layer("fc 256->256, A2Q-like weights", a2q_like_weights(256, 256, density, s), 256, options));
    // A 3x3 convolution 64 -> 64 channels on a 16x16 map as its im2col GEMM: N = 256 positions, K = 576.
    results.push_back(bench_layer("conv3x3 64->64 16x16, int8", int8_weights(64, 576, s), 256, options));
    results.push_back(
        bench_layer("conv3x3 64->64 16x16, A2Q-like", a2q_like_weights(64, 576, density, s), 256, options));
    std::vector<std::string> model_lines;
    for (const std::string& path : models)
      bench_model(path, options, results, model_lines);
    print_table(results);
    for (const std::string& line : model_lines)
      fmt::print("{}\n", line);
    fmt::print("\n{:<44} {:>9} {:>9} {:>13}\n", "depthwise 3x3 (u8 inputs), batch 32", "oneDNN", "grouped",
               "grouped/oneDNN");
    fmt::print("{:<44} {:>9} {:>9}\n", "", "GOPS", "GOPS");
    const auto depthwise_weights = [&](std::int64_t C, double nonzeros) {
      Tensor<std::int32_t> w = nonzeros < 1.0 ? a2q_like_weights(C, 9, nonzeros, s) : int8_weights(C, 9, s);
      w.reshape(Shape{C, 1, 3, 3});
      return w;
    };
    bench_depthwise("dw 64x14x14 stride 1, int8 weights", 32, 64, 14, 1, depthwise_weights(64, 1.0), options);
    bench_depthwise("dw 64x14x14 stride 1, A2Q-like (50% zeros)", 32, 64, 14, 1, depthwise_weights(64, 0.5),
                    options);
    bench_depthwise("dw 128x28x28 stride 2, int8 weights", 32, 128, 28, 2, depthwise_weights(128, 1.0),
                    options);
  } catch (const std::exception& e) {
    fmt::print(stderr, "int_kernels_bench: {}\n", e.what());
    return 1;
  }
  return 0;
}
