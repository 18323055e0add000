#include "a2q/autograd/conv_pool.hpp"
#include "a2q/autograd/conv.hpp"
#include "a2q/autograd/conv_plan.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/image_slices.hpp"
#include "a2q/autograd/pool.hpp"
#include "a2q/core/parallel.hpp"

#include "close.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using a2q::Conv2dOptions;
using a2q::Shape;
using a2q::Tensor;
using a2q::Var;

using a2q_test::BackendRestorer;
using a2q_test::require_close;
using a2q_test::require_close_to_scale;

namespace {

/// A convolution [n, c_in, h, w] * [c_out, c_in / groups, k, k] followed by ReLU and max pooling.
struct ConvPoolCase {
  const char* name;
  std::int64_t n, c_in, h, w, c_out, k;
  Conv2dOptions conv;
  int pool_kernel, pool_stride, pool_padding;
  bool bias;
};

// Each case needs several slices of images (conv_pool_slice_images), so that a slice's offsets are tested
// beyond the first one, and together they take every convolution kernel and both pooling kernels.
const std::vector<ConvPoolCase>& cases() {
  static const std::vector<ConvPoolCase> all = {
      // Direct loops (one input channel): 5 images a slice, so slices of 5, 5 and 2.
      {"direct, the CNN's first layer", 12, 1, 28, 28, 16, 3, {1, 1, 1}, 2, 2, 0, true},
      // Winograd (3x3, stride 1, 16 -> 32): 10 images a slice.
      {"Winograd, the CNN's second layer", 13, 16, 14, 14, 32, 3, {1, 1, 1}, 2, 2, 0, false},
      // GEMM (5x5) with a 64-channel 32x32 output: one image a slice; overlapping padded pooling windows.
      {"GEMM, overlapping pooling", 3, 3, 32, 32, 64, 5, {1, 2, 1}, 3, 2, 1, true},
      // Grouped and strided, odd sizes: pooling drops the last row and column.
      {"grouped, strided, ragged pooling", 5, 4, 61, 47, 64, 3, {2, 1, 2}, 2, 2, 0, true},
  };
  return all;
}

Tensor<float> uniform(const Shape& shape, a2q::Rng& rng) {
  return Tensor<float>::uniform(shape, -1.0f, 1.0f, rng);
}

/// Output, input gradient, weight gradient and bias gradient (empty without bias) of the fused operation
/// or of its composition, with the output gradient r.
std::vector<Tensor<float>> run(const ConvPoolCase& c, bool fused, const Tensor<float>& xt,
                               const Tensor<float>& wt, const Tensor<float>& bt, Tensor<float>& r,
                               a2q::Rng& rng) {
  const Var x(xt, true), w(wt, true), b = c.bias ? Var(bt, true) : Var();
  const Var y =
      fused ? a2q::conv2d_relu_max_pool2d(x, w, b, c.conv, c.pool_kernel, c.pool_stride, c.pool_padding)
            : a2q::max_pool2d(a2q::relu(a2q::conv2d(x, w, b, c.conv)), c.pool_kernel, c.pool_stride,
                              c.pool_padding);
  if (r.numel() != y.value().numel())
    r = uniform(y.shape(), rng);
  a2q::sum(a2q::mul(y, Var(r))).backward();
  return {y.value(), x.grad(), w.grad(), c.bias ? b.grad() : Tensor<float>()};
}

void require_same(const std::vector<Tensor<float>>& fused, const std::vector<Tensor<float>>& composed) {
  require_close(fused[0], composed[0], 1e-5f);
  require_close(fused[1], composed[1], 1e-5f);
  // Summed over slices in another order.
  require_close_to_scale(fused[2], composed[2], 1e-5f);
  if (composed[3].numel() > 0)
    require_close_to_scale(fused[3], composed[3], 1e-5f);
}

} // namespace

TEST_CASE("conv2d_relu_max_pool2d equals conv2d, relu and max_pool2d in value and gradient",
          "[autograd][conv][pool]") {
  BackendRestorer restore;
  a2q::Rng rng(211);
  for (const ConvPoolCase& c : cases()) {
    const Tensor<float> xt = uniform(Shape{c.n, c.c_in, c.h, c.w}, rng);
    const Tensor<float> wt = uniform(Shape{c.c_out, c.c_in / c.conv.groups, c.k, c.k}, rng);
    const Tensor<float> bt = uniform(Shape{c.c_out}, rng);
    const a2q::detail::Conv2dPlan plan = a2q::detail::conv2d_plan(xt.shape(), wt.shape(), c.conv);
    REQUIRE(a2q::detail::conv_pool_slice_images(plan) < c.n); // several slices
    std::vector<a2q::FloatBackend> backends{a2q::FloatBackend::eigen};
    if constexpr (a2q::onednn_available)
      backends.push_back(a2q::FloatBackend::onednn);
    for (const a2q::FloatBackend backend : backends) {
      a2q::set_float_backend(backend);
      INFO(c.name << (backend == a2q::FloatBackend::eigen ? " (Eigen)" : " (oneDNN)"));
      Tensor<float> r;
      const std::vector<Tensor<float>> composed = run(c, false, xt, wt, bt, r, rng);
      const std::vector<Tensor<float>> fused = run(c, true, xt, wt, bt, r, rng);
      require_same(fused, composed);
      // A ReLU really ran: some windows' maxima were negative and came out as 0.
      std::int64_t zeros = 0;
      for (float v : fused[0])
        zeros += v == 0.0f ? 1 : 0;
      CHECK(zeros > 0);
    }
  }
}

#ifdef _OPENMP
TEST_CASE("conv2d_relu_max_pool2d gives the same results on one and several threads",
          "[autograd][conv][pool][threads]") {
  const int saved = a2q::num_threads();
  a2q::Rng rng(223);
  for (const ConvPoolCase& c : cases()) {
    INFO(c.name);
    const Tensor<float> xt = uniform(Shape{c.n, c.c_in, c.h, c.w}, rng);
    const Tensor<float> wt = uniform(Shape{c.c_out, c.c_in / c.conv.groups, c.k, c.k}, rng);
    const Tensor<float> bt = uniform(Shape{c.c_out}, rng);
    Tensor<float> r;
    a2q::set_num_threads(1);
    const std::vector<Tensor<float>> one = run(c, true, xt, wt, bt, r, rng);
    a2q::set_num_threads(3);
    const std::vector<Tensor<float>> three = run(c, true, xt, wt, bt, r, rng);
    a2q::set_num_threads(saved);
    require_same(three, one);
  }
  // The nested kernels ran on their thread alone, and the caller's thread count is untouched.
  CHECK(a2q::num_threads() == saved);
}
#endif

TEST_CASE("conv2d_relu_max_pool2d rejects what conv2d and max_pool2d reject", "[autograd][conv][pool]") {
  a2q::Rng rng(227);
  const Var x(uniform(Shape{2, 3, 8, 8}, rng));
  const Var w(uniform(Shape{4, 3, 3, 3}, rng));
  const auto message = [](const auto& call) {
    try {
      call();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string bias = message([&] {
    a2q::conv2d_relu_max_pool2d(x, w, Var(uniform(Shape{5}, rng)), {1, 1, 1}, 2, 2, 0);
  });
  CHECK(bias.find("conv2d_relu_max_pool2d: bias [5]") != std::string::npos);
  CHECK_THROWS_AS(a2q::conv2d_relu_max_pool2d(x, w, Var(uniform(Shape{5}, rng)), {1, 1, 1}, 2, 2, 0),
                  a2q::shape_error);
  CHECK_THROWS_AS(a2q::conv2d_relu_max_pool2d(x, w, Var(), {1, 1, 1}, 9, 1, 0), a2q::shape_error);
  CHECK_THROWS_AS(a2q::conv2d_relu_max_pool2d(x, w, Var(), {1, 1, 1}, 2, 2, 2), a2q::config_error);
  CHECK_THROWS_AS(
      a2q::conv2d_relu_max_pool2d(x, Var(uniform(Shape{4, 2, 3, 3}, rng)), Var(), {1, 1, 1}, 2, 2),
      a2q::shape_error);
  CHECK_NOTHROW(a2q::conv2d_relu_max_pool2d(x, w, Var(), {1, 1, 1}, 2, 2, 0));
}
