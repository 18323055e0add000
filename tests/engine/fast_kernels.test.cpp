// Tests for a2q/engine/dense_kernel.hpp, sparse_kernel.hpp, grouped_kernel.hpp (and cpu_features.hpp): on
// every ISA this CPU supports, the fast dense and sparse paths equal the int64 reference kernels bit for bit,
// on seeded random shapes that are not multiples of any vector width, on extreme inputs, at every sparsity,
// and at the int16-lane bound of the sparse path; weights and inputs outside the kernels' contract are
// rejected.

#include "a2q/engine/cpu_features.hpp"
#include "a2q/engine/dense_kernel.hpp"
#include "a2q/engine/grouped_kernel.hpp"
#include "a2q/engine/reference_kernels.hpp"
#include "a2q/engine/sparse_kernel.hpp"

#include "a2q/core/rng.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace {

using a2q::Rng;
using a2q::Shape;
using a2q::Tensor;
using a2q::engine::Conv2dGeometry;
using a2q::engine::KernelIsa;
using a2q::engine::OverflowPolicy;
using a2q::engine::PackedDenseWeights;
using a2q::engine::PackedSparseWeights;

#ifdef A2Q_SANITIZED
constexpr int scale = 1; // sanitizers slow the reference kernels down ~10x
#else
constexpr int scale = 3;
#endif

/// Integer weights [C, K] with the given fraction of zeros, in [-max_abs, min(max_abs, 127)].
Tensor<std::int32_t> random_weights(Rng& rng, std::int64_t C, std::int64_t K, double zero_fraction,
                                    std::int64_t max_abs = 128) {
  Tensor<std::int32_t> w(Shape{C, K});
  for (std::int32_t& v : w)
    if (!rng.bernoulli(zero_fraction))
      v = static_cast<std::int32_t>(rng.uniform_int(-max_abs, std::min<std::int64_t>(max_abs, 127)));
  return w;
}

/// Weights like A2Q's at P = 16 for 8-bit inputs: mostly zeros, small magnitudes, and Σ_k|w[c, k]| <= 128
/// for every channel, so that 255·Σ|w| <= 32767 and the sparse kernel accumulates in int16 lanes.
Tensor<std::int32_t> a2q_like_weights(Rng& rng, std::int64_t C, std::int64_t K, double density) {
  Tensor<std::int32_t> w(Shape{C, K});
  for (std::int64_t c = 0; c < C; ++c) {
    std::int64_t l1 = 0;
    for (std::int64_t k = 0; k < K; ++k) {
      if (!rng.bernoulli(density))
        continue;
      const double u = rng.uniform01();
      const std::int64_t m = u < 0.6 ? 1 : u < 0.85 ? 2 : u < 0.95 ? 3 : rng.uniform_int(4, 12);
      if (l1 + m > 128)
        continue;
      l1 += m;
      w[c * K + k] = static_cast<std::int32_t>(rng.bernoulli(0.5) ? m : -m);
    }
  }
  return w;
}

Tensor<std::int32_t> random_inputs(Rng& rng, const Shape& shape, bool input_signed) {
  return input_signed ? Tensor<std::int32_t>::uniform(shape, -128, 127, rng)
                      : Tensor<std::int32_t>::uniform(shape, 0, 255, rng);
}

std::vector<std::int64_t> random_bias(Rng& rng, std::int64_t C) {
  if (rng.bernoulli(0.3))
    return {};
  std::vector<std::int64_t> bias(static_cast<std::size_t>(C));
  for (std::int64_t& b : bias)
    b = rng.uniform_int(-1'000'000'000'000, 1'000'000'000'000);
  return bias;
}

/// REQUIREs equal shapes and elements, naming the first differing element.
void require_same(const Tensor<std::int64_t>& got, const Tensor<std::int64_t>& expected) {
  REQUIRE(got.shape() == expected.shape());
  for (std::int64_t i = 0; i < got.numel(); ++i) {
    if (got[i] != expected[i]) {
      INFO("first difference at flat index " << i << " of " << got.shape().to_string() << ": got " << got[i]
                                             << ", expected " << expected[i]);
      REQUIRE(got[i] == expected[i]);
    }
  }
}

/// The raw u8 kernels of one ISA write every result: their output starts as a sentinel, since a result
/// left unwritten in a reused buffer could otherwise still hold the right value from an earlier call.
void check_raw_kernels(const Tensor<std::int32_t>& x, const Tensor<std::int32_t>& w, KernelIsa isa) {
  const std::int64_t N = x.dim(0);
  const Tensor<std::int64_t> expected = a2q::engine::linear_reference(x, w, {}, 64, OverflowPolicy::check);
  std::vector<std::uint8_t> x_u8(x.begin(), x.end());
  std::vector<std::int32_t> out(static_cast<std::size_t>(expected.numel()));
  const auto require_written = [&](const char* kernel) {
    INFO(kernel << " kernel");
    for (std::size_t i = 0; i < out.size(); ++i)
      if (out[i] != expected[static_cast<std::int64_t>(i)]) {
        INFO("first difference at flat index " << i << ": got " << out[i] << ", expected "
                                               << expected[static_cast<std::int64_t>(i)]);
        REQUIRE(out[i] == expected[static_cast<std::int64_t>(i)]);
      }
  };
  std::fill(out.begin(), out.end(), -0x5a5a5a5a);
  a2q::engine::dense_gemm_u8s8(x_u8.data(), N, PackedDenseWeights(w, isa), out.data());
  require_written("dense");
  std::fill(out.begin(), out.end(), -0x5a5a5a5a);
  a2q::engine::sparse_gemm_u8s8(x_u8.data(), N, PackedSparseWeights(w, isa), out.data());
  require_written("sparse");
}

/// Dense and sparse linear layers on every supported ISA against linear_reference (and, for u8
/// inputs, the raw kernels into a buffer of sentinels).
void check_linear(const Tensor<std::int32_t>& x, const Tensor<std::int32_t>& w,
                  const std::vector<std::int64_t>& bias) {
  const Tensor<std::int64_t> expected = a2q::engine::linear_reference(x, w, bias, 64, OverflowPolicy::check);
  const bool u8_inputs = std::all_of(x.begin(), x.end(), [](std::int32_t v) { return v >= 0 && v <= 255; });
  for (const KernelIsa isa : a2q::engine::supported_isas()) {
    INFO("ISA " << a2q::engine::to_string(isa) << ", x " << x.shape().to_string() << ", w "
                << w.shape().to_string());
    require_same(a2q::engine::linear_dense(x, PackedDenseWeights(w, isa), bias), expected);
    require_same(a2q::engine::linear_sparse(x, PackedSparseWeights(w, isa), bias), expected);
    if (u8_inputs)
      check_raw_kernels(x, w, isa);
  }
}

/// Dense and sparse convolutions on every supported ISA against conv2d_reference.
void check_conv2d(const Tensor<std::int32_t>& x, const Tensor<std::int32_t>& w,
                  const std::vector<std::int64_t>& bias, const Conv2dGeometry& g) {
  const Tensor<std::int64_t> expected =
      a2q::engine::conv2d_reference(x, w, bias, g, 64, OverflowPolicy::check);
  for (const KernelIsa isa : a2q::engine::supported_isas()) {
    INFO("ISA " << a2q::engine::to_string(isa) << ", x " << x.shape().to_string() << ", w "
                << w.shape().to_string() << ", stride " << g.stride_h << "x" << g.stride_w << ", padding "
                << g.pad_h << "x" << g.pad_w);
    require_same(a2q::engine::conv2d_dense(x, PackedDenseWeights(w, isa), bias, g, w.dim(2), w.dim(3)),
                 expected);
    require_same(a2q::engine::conv2d_sparse(x, PackedSparseWeights(w, isa), bias, g, w.dim(2), w.dim(3)),
                 expected);
  }
}

/// Sets an environment variable for one scope.
class ScopedEnv {
public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name); old != nullptr)
      old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_.has_value())
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
  const char* name_;
  std::optional<std::string> old_;
};

} // namespace

TEST_CASE("cpu features: the ISA levels and the A2Q_KERNEL_ISA override", "[engine][fast_kernels]") {
  const KernelIsa detected = a2q::engine::detected_isa();
  const auto isas = a2q::engine::supported_isas();
  REQUIRE(isas.front() == KernelIsa::portable);
  REQUIRE(isas.back() == detected);
  CHECK(std::string(a2q::engine::to_string(KernelIsa::avx512_vnni)) == "avx512_vnni");
  {
    ScopedEnv env("A2Q_KERNEL_ISA", "");
    CHECK(a2q::engine::active_isa() == detected);
  }
  {
    ScopedEnv env("A2Q_KERNEL_ISA", "portable");
    CHECK(a2q::engine::active_isa() == KernelIsa::portable);
    const Tensor<std::int32_t> w(Shape{2, 3}, 1);
    CHECK(PackedDenseWeights(w).isa() == KernelIsa::portable);
    CHECK(PackedSparseWeights(w).isa() == KernelIsa::portable);
  }
  {
    ScopedEnv env("A2Q_KERNEL_ISA", "bogus");
    REQUIRE_THROWS_AS(a2q::engine::active_isa(), a2q::config_error);
    REQUIRE_THROWS_WITH(a2q::engine::active_isa(), Catch::Matchers::Contains("bogus"));
    REQUIRE_THROWS_AS(PackedDenseWeights(Tensor<std::int32_t>(Shape{1, 1}, 1)), a2q::config_error);
  }
  {
    ScopedEnv env("A2Q_KERNEL_ISA", "avx512");
    if (detected == KernelIsa::avx512_vnni)
      CHECK(a2q::engine::active_isa() == KernelIsa::avx512_vnni);
    else
      REQUIRE_THROWS_AS(a2q::engine::active_isa(), a2q::config_error);
  }
  if (detected != KernelIsa::avx512_vnni) // packing for an ISA the CPU lacks is refused
    REQUIRE_THROWS_AS(PackedDenseWeights(Tensor<std::int32_t>(Shape{1, 1}, 1), KernelIsa::avx512_vnni),
                      a2q::config_error);
}

TEST_CASE("fast kernels: random linear layers with odd shapes equal the reference",
          "[engine][fast_kernels]") {
  Rng rng(0xfa57);
  const std::vector<std::array<std::int64_t, 3>> shapes = {
      {1, 1, 1}, {3, 1, 5}, {7, 13, 1}, {5, 4, 16}, {17, 33, 19}, {33, 77, 35}, {137, 61, 21}, {70, 130, 67}};
  for (const auto& [N, K, C] : shapes)
    for (const double zeros : {0.0, 0.5, 0.95, 1.0})
      for (const bool input_signed : {false, true}) {
        CAPTURE(N, K, C, zeros, input_signed);
        check_linear(random_inputs(rng, Shape{N, K}, input_signed), random_weights(rng, C, K, zeros),
                     random_bias(rng, C));
      }
  for (int trial = 0; trial < 20 * scale; ++trial) {
    const std::int64_t N = rng.uniform_int(1, 150);
    const std::int64_t K = rng.uniform_int(1, 100);
    const std::int64_t C = rng.uniform_int(1, 40);
    const bool input_signed = rng.bernoulli(0.5);
    CAPTURE(N, K, C, input_signed);
    check_linear(random_inputs(rng, Shape{N, K}, input_signed),
                 random_weights(rng, C, K, rng.uniform01(), rng.uniform_int(1, 128)), random_bias(rng, C));
  }
}

TEST_CASE("fast kernels: an empty batch gives an empty result", "[engine][fast_kernels]") {
  Rng rng(3);
  check_linear(Tensor<std::int32_t>(Shape{0, 9}), random_weights(rng, 4, 9, 0.5), {});
}

TEST_CASE("fast kernels: extreme inputs and weights", "[engine][fast_kernels]") {
  Rng rng(0xe7);
  for (const std::int64_t K : {1, 31, 64, 129}) {
    const std::int64_t N = 19;
    const std::int64_t C = 18;
    CAPTURE(K);
    // u8: every input 255, weights at both ends of int8 (and a channel of each sign only).
    const Tensor<std::int32_t> x_max(Shape{N, K}, 255);
    Tensor<std::int32_t> w = random_weights(rng, C, K, 0.0);
    for (std::int32_t& v : w)
      v = v < 0 ? -128 : 127;
    for (std::int64_t k = 0; k < K; ++k) {
      w[0 * K + k] = -128;
      w[1 * K + k] = 127;
    }
    check_linear(x_max, w, {});
    // s8: every input -128 against weights -128 (the largest positive product), and 127 against -128.
    const Tensor<std::int32_t> all_minus_128(Shape{C, K}, -128);
    check_linear(Tensor<std::int32_t>(Shape{N, K}, -128), all_minus_128, {});
    check_linear(Tensor<std::int32_t>(Shape{N, K}, 127), all_minus_128, {});
    // Mixed extremes: each input is 0 or 255 (or -128 or 127).
    Tensor<std::int32_t> x_u(Shape{N, K});
    Tensor<std::int32_t> x_s(Shape{N, K});
    for (std::int64_t i = 0; i < x_u.numel(); ++i) {
      const bool high = rng.bernoulli(0.5);
      x_u[i] = high ? 255 : 0;
      x_s[i] = high ? 127 : -128;
    }
    check_linear(x_u, w, random_bias(rng, C));
    check_linear(x_s, w, random_bias(rng, C));
  }
}

TEST_CASE("fast kernels: the largest L1 norm the int32 path accepts, at its worst case",
          "[engine][fast_kernels]") {
  // 255·Σ|w| must fit int32: Σ|w| = 8'421'504 is the largest, reached with K = 65'793 weights -128 (and
  // one weight 0 fewer in magnitude). Checked on a few samples: the reference is slow at this length.
  const std::int64_t K = 65'793;
  Tensor<std::int32_t> w(Shape{2, K}, -128);
  w[K + 5] = 127; // channel 1: L1 = 8'421'503
  // Five samples, so that the sparse path's four samples per int32 lane all reach the extremes.
  Tensor<std::int32_t> x(Shape{5, K}, 255);
  x[3] = 0;
  for (std::int64_t k = 0; k < K; ++k) {
    x[2 * K + k] = 0;
    x[4 * K + k] = k % 2 == 0 ? 255 : 0;
  }
  const Tensor<std::int64_t> expected = a2q::engine::linear_reference(x, w, {}, 64, OverflowPolicy::check);
  CHECK(expected[0] == -128LL * 255 * (K - 1));
  for (const KernelIsa isa : a2q::engine::supported_isas()) {
    INFO("ISA " << a2q::engine::to_string(isa));
    require_same(a2q::engine::linear_dense(x, PackedDenseWeights(w, isa)), expected);
    const PackedSparseWeights sparse(w, isa);
    CHECK_FALSE(sparse.int16_lanes());
    require_same(a2q::engine::linear_sparse(x, sparse), expected);
  }
}

TEST_CASE("fast kernels: the sparse int16 lanes are exact up to their bound", "[engine][fast_kernels]") {
  Rng rng(0x16);
  // A2Q-like weights at several densities: int16 lanes apply, and the result is exact.
  for (const double density : {0.02, 0.1, 0.3}) {
    const std::int64_t N = 29 + 64 * scale; // several sample blocks and a partial one
    const std::int64_t K = 211;
    const std::int64_t C = 37;
    const Tensor<std::int32_t> w = a2q_like_weights(rng, C, K, density);
    REQUIRE(PackedSparseWeights(w, KernelIsa::portable).int16_lanes());
    for (const bool input_signed : {false, true}) {
      CAPTURE(density, input_signed);
      check_linear(random_inputs(rng, Shape{N, K}, input_signed), w, random_bias(rng, C));
    }
  }
  // More channels than the transposed store takes per L1 chunk, and not a multiple of 8.
  for (const std::int64_t C : {203, 260}) {
    const std::int64_t N = 29 + 64 * scale;
    const Tensor<std::int32_t> w = a2q_like_weights(rng, C, 67, 0.1);
    CAPTURE(C);
    check_linear(random_inputs(rng, Shape{N, 67}, false), w, random_bias(rng, C));
  }
  // At the bound: Σ|w| = 128 (255·128 = 32'640 <= 32'767) with the worst-case inputs of both signs,
  // and one unit more, which must switch to int32 lanes.
  for (const std::int64_t l1 : {128, 129}) {
    const std::int64_t K = 300;
    const std::int64_t N = 70;
    Tensor<std::int32_t> w(Shape{4, K});
    for (std::int64_t k = 0; k < l1; ++k) {
      w[0 * K + k] = 1;                                                  // all positive
      w[1 * K + k] = -1;                                                 // all negative
      w[2 * K + 2 * k % K] += static_cast<std::int32_t>(k % 2 ? 1 : -1); // mixed signs
    }
    for (std::int64_t k = 0; k + 1 < l1; k += 2)
      w[3 * K + k] = 2; // magnitude-2 run: Σ|w| = l1 rounded down to even
    const PackedSparseWeights packed(w, KernelIsa::portable);
    CHECK(packed.int16_lanes() == (l1 == 128));
    Tensor<std::int32_t> x_u(Shape{N, K}, 255);
    Tensor<std::int32_t> x_s(Shape{N, K}, 127);
    for (std::int64_t i = N / 2 * K; i < N * K; ++i) { // the second half: opposite extreme
      x_u[i] = 0;
      x_s[i] = -128;
    }
    CAPTURE(l1);
    check_linear(x_u, w, {});
    check_linear(x_s, w, {});
  }
}

TEST_CASE("fast kernels: convolutions equal the reference", "[engine][fast_kernels]") {
  Rng rng(0xc0);
  struct Case {
    std::int64_t kh, kw, stride, pad;
  };
  for (const Case& k : {Case{1, 1, 1, 0}, Case{1, 1, 2, 0}, Case{3, 3, 1, 0}, Case{3, 3, 1, 1},
                        Case{3, 3, 2, 1}, Case{3, 3, 2, 0}, Case{3, 2, 1, 1}, Case{1, 1, 1, 1}})
    for (const bool input_signed : {false, true}) {
      const std::int64_t N = 3;
      const std::int64_t C_in = 3;
      const std::int64_t C_out = input_signed ? 17 : 5;
      const Conv2dGeometry g{.stride_h = k.stride, .stride_w = k.stride, .pad_h = k.pad, .pad_w = k.pad};
      const double zeros = rng.bernoulli(0.5) ? 0.0 : 0.9;
      Tensor<std::int32_t> w = random_weights(rng, C_out, C_in * k.kh * k.kw, zeros);
      w.reshape(Shape{C_out, C_in, k.kh, k.kw});
      CAPTURE(k.kh, k.kw, k.stride, k.pad, input_signed, zeros);
      check_conv2d(random_inputs(rng, Shape{N, C_in, 7, 6}, input_signed), w, random_bias(rng, C_out), g);
    }
  // Kernels, strides and padding that differ between the axes, and padding wider than a window needs.
  for (const auto& [kh, kw, sh, sw, ph, pw] : {std::array<std::int64_t, 6>{2, 5, 1, 2, 0, 2},
                                               {5, 1, 2, 1, 2, 0},
                                               {3, 4, 3, 1, 1, 3},
                                               {1, 2, 1, 3, 0, 4}}) {
    CAPTURE(kh, kw, sh, sw, ph, pw);
    Tensor<std::int32_t> w = random_weights(rng, 6, 2 * kh * kw, 0.3);
    w.reshape(Shape{6, 2, kh, kw});
    check_conv2d(random_inputs(rng, Shape{2, 2, 7, 6}, false), w, random_bias(rng, 6),
                 Conv2dGeometry{.stride_h = sh, .stride_w = sw, .pad_h = ph, .pad_w = pw});
  }
  // Extreme values through the padding: s8 inputs of -128 everywhere, weights -128: every padded tap
  // contributes 0, every other tap +16384.
  Tensor<std::int32_t> w(Shape{4, 2, 3, 3}, -128);
  check_conv2d(Tensor<std::int32_t>(Shape{2, 2, 5, 5}, -128), w, {},
               Conv2dGeometry{.stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1});
  check_conv2d(Tensor<std::int32_t>(Shape{2, 2, 5, 5}, 255), w, {},
               Conv2dGeometry{.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1});
  // A2Q-like sparse weights on a larger image (int16 lanes, several sample blocks of positions).
  Tensor<std::int32_t> sparse_w = a2q_like_weights(rng, 8, 4 * 9, 0.2);
  sparse_w.reshape(Shape{8, 4, 3, 3});
  check_conv2d(random_inputs(rng, Shape{2, 4, 12, 13}, true), sparse_w, random_bias(rng, 8),
               Conv2dGeometry{.stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1});
}

TEST_CASE("fast kernels: grouped and depthwise convolutions equal the reference", "[engine][fast_kernels]") {
  using a2q::engine::GroupedConvWeights;
  Rng rng(0x9d);
  struct Case {
    std::int64_t groups, in_per_group, out_per_group, kh, kw, sh, sw, ph, pw;
  };
  for (const Case& c : {Case{4, 1, 1, 3, 3, 1, 1, 1, 1},  // depthwise 3x3 (MobileNet's)
                        Case{4, 1, 1, 3, 3, 2, 2, 1, 1},  // depthwise, stride 2
                        Case{3, 1, 2, 3, 3, 1, 1, 0, 0},  // channel multiplier 2, no padding
                        Case{2, 3, 2, 3, 2, 1, 2, 2, 1},  // groups of 3 inputs, uneven kernel and strides
                        Case{5, 1, 1, 5, 5, 1, 1, 3, 3},  // padding wider than the kernel needs
                        Case{1, 2, 3, 1, 1, 1, 1, 0, 0},  // one group (a plain convolution)
                        Case{2, 2, 1, 2, 4, 3, 1, 0, 2}}) // stride larger than the kernel
    for (const bool input_signed : {false, true}) {
      CAPTURE(c.groups, c.in_per_group, c.out_per_group, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, input_signed);
      const std::int64_t C_out = c.groups * c.out_per_group;
      Tensor<std::int32_t> w =
          random_weights(rng, C_out, c.in_per_group * c.kh * c.kw, rng.bernoulli(0.5) ? 0.0 : 0.5);
      w.reshape(Shape{C_out, c.in_per_group, c.kh, c.kw});
      const Tensor<std::int32_t> x =
          random_inputs(rng, Shape{3, c.groups * c.in_per_group, 9, 8}, input_signed);
      const std::vector<std::int64_t> bias = random_bias(rng, C_out);
      const Conv2dGeometry g{
          .stride_h = c.sh, .stride_w = c.sw, .pad_h = c.ph, .pad_w = c.pw, .groups = c.groups};
      const GroupedConvWeights packed(w, c.in_per_group, c.kh, c.kw, c.groups);
      require_same(a2q::engine::conv2d_grouped(x, packed, bias, g),
                   a2q::engine::conv2d_reference(x, w, bias, g, 64, OverflowPolicy::check));
    }
  // The extremes: inputs ±255 and weights -128 everywhere, through the padding.
  for (const std::int32_t v : {-255, 255}) {
    const Tensor<std::int32_t> w(Shape{6, 1, 3, 3}, -128);
    const Tensor<std::int32_t> x(Shape{2, 6, 5, 4}, v);
    const Conv2dGeometry g{.stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1, .groups = 6};
    require_same(a2q::engine::conv2d_grouped(x, GroupedConvWeights(w, 1, 3, 3, 6), {}, g),
                 a2q::engine::conv2d_reference(x, w, {}, g, 64, OverflowPolicy::check));
  }
  // Outside the contract: a weight beyond int8, sizes that do not fit, an input beyond ±255, other groups.
  Tensor<std::int32_t> w(Shape{4, 1, 3, 3}, 1);
  w[5] = 128;
  REQUIRE_THROWS_WITH(GroupedConvWeights(w, 1, 3, 3, 4), Catch::Matchers::Contains("[0, 5]"));
  w[5] = 1;
  REQUIRE_THROWS_AS(GroupedConvWeights(w, 2, 3, 3, 4), a2q::shape_error);
  REQUIRE_THROWS_AS(GroupedConvWeights(w, 1, 3, 3, 3), a2q::shape_error);
  const GroupedConvWeights packed(w, 1, 3, 3, 4);
  const Conv2dGeometry g{.stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1, .groups = 4};
  Tensor<std::int32_t> x(Shape{1, 4, 3, 3}, 7);
  x[10] = 256;
  REQUIRE_THROWS_WITH(a2q::engine::conv2d_grouped(x, packed, {}, g), Catch::Matchers::Contains("256"));
  x[10] = 7;
  REQUIRE_THROWS_AS(a2q::engine::conv2d_grouped(x, packed, {}, Conv2dGeometry{.groups = 2}),
                    a2q::config_error);
  REQUIRE_THROWS_AS(a2q::engine::conv2d_grouped(Tensor<std::int32_t>(Shape{1, 3, 3, 3}), packed, {}, g),
                    a2q::shape_error);
}

TEST_CASE("fast kernels: a bias at the edge of int64 with narrow signed inputs", "[engine][fast_kernels]") {
  // Signed inputs are stored as x + 128 and corrected by 128·Σw. With 4-bit inputs and positive weights
  // bias - 128·Σw leaves int64 (signed overflow: undefined behaviour, caught under UBSan), while the
  // result, bias + Σ w·x >= bias - 8·Σw, fits.
  const std::vector<std::int64_t> bias{std::numeric_limits<std::int64_t>::min() + 1024,
                                       std::numeric_limits<std::int64_t>::max() - 1024};
  Tensor<std::int32_t> x(Shape{3, 16});
  for (std::int64_t i = 0; i < x.numel(); ++i)
    x[i] = i % 2 != 0 ? -8 : 7;
  check_linear(x, Tensor<std::int32_t>(Shape{2, 16}, 7), bias);
  check_conv2d(Tensor<std::int32_t>(Shape{1, 2, 3, 3}, -8), Tensor<std::int32_t>(Shape{2, 2, 2, 2}, 7), bias,
               Conv2dGeometry{.stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1});
}

TEST_CASE("fast kernels: the raw u8 kernels equal plain loops", "[engine][fast_kernels]") {
  Rng rng(0x4a);
  const std::int64_t N = 45;
  const std::int64_t K = 70;
  const std::int64_t C = 33;
  std::vector<std::uint8_t> x(static_cast<std::size_t>(N * K));
  for (std::uint8_t& v : x)
    v = static_cast<std::uint8_t>(rng.uniform_int(0, 255));
  const Tensor<std::int32_t> w = random_weights(rng, C, K, 0.7);
  std::vector<std::int32_t> expected(static_cast<std::size_t>(N * C));
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c) {
      std::int64_t sum = 0;
      for (std::int64_t k = 0; k < K; ++k)
        sum += std::int64_t{w[c * K + k]} * x[static_cast<std::size_t>(n * K + k)];
      expected[static_cast<std::size_t>(n * C + c)] = static_cast<std::int32_t>(sum);
    }
  for (const KernelIsa isa : a2q::engine::supported_isas()) {
    INFO("ISA " << a2q::engine::to_string(isa));
    std::vector<std::int32_t> out(expected.size(), -1);
    a2q::engine::dense_gemm_u8s8(x.data(), N, PackedDenseWeights(w, isa), out.data());
    CHECK(out == expected);
    std::fill(out.begin(), out.end(), -1);
    a2q::engine::sparse_gemm_u8s8(x.data(), N, PackedSparseWeights(w, isa), out.data());
    CHECK(out == expected);
  }
}

TEST_CASE("fast kernels: weights and inputs outside the contract are rejected", "[engine][fast_kernels]") {
  for (const std::int32_t bad : {128, -129, 1000}) {
    Tensor<std::int32_t> w(Shape{3, 4}, 1);
    w[2 * 4 + 1] = bad;
    REQUIRE_THROWS_AS(PackedDenseWeights(w, KernelIsa::portable), a2q::config_error);
    REQUIRE_THROWS_WITH(PackedSparseWeights(w, KernelIsa::portable),
                        Catch::Matchers::Contains("[2, 1]") &&
                            Catch::Matchers::Contains(std::to_string(bad)));
  }
  // L1 norms just above what a 32-bit accumulator can take: 255·Σ|w| <= 2^31 - 1 needs Σ|w| <= 8'421'504.
  Tensor<std::int32_t> too_large(Shape{2, 65'794}, -128);
  too_large[0] = 0; // channel 0: Σ|w| = 8'421'504, acceptable; channel 1: 8'421'632
  REQUIRE_THROWS_WITH(PackedDenseWeights(too_large, KernelIsa::portable),
                      Catch::Matchers::Contains("channel 1"));
  REQUIRE_THROWS_AS(PackedSparseWeights(too_large, KernelIsa::portable), a2q::config_error);

  const Tensor<std::int32_t> w(Shape{2, 3}, 1);
  const PackedDenseWeights dense(w, KernelIsa::portable);
  const PackedSparseWeights sparse(w, KernelIsa::portable);
  const Tensor<std::int32_t> mixed(Shape{1, 3}, {-1, 200, 0}); // neither u8 nor s8
  REQUIRE_THROWS_WITH(a2q::engine::linear_dense(mixed, dense), Catch::Matchers::Contains("[-1, 200]"));
  REQUIRE_THROWS_AS(a2q::engine::linear_sparse(mixed, sparse), a2q::config_error);
  REQUIRE_THROWS_AS(a2q::engine::linear_dense(Tensor<std::int32_t>(Shape{1, 4}), dense), a2q::shape_error);
  const std::vector<std::int64_t> three_biases(3, 0);
  REQUIRE_THROWS_AS(a2q::engine::linear_sparse(Tensor<std::int32_t>(Shape{1, 3}), sparse, three_biases),
                    a2q::shape_error);

  Tensor<std::int32_t> conv_w(Shape{2, 2, 1, 1}, 1);
  const PackedDenseWeights conv_dense(conv_w, KernelIsa::portable);
  const Tensor<std::int32_t> image(Shape{1, 2, 4, 4});
  REQUIRE_THROWS_AS(a2q::engine::conv2d_dense(image, conv_dense, {}, Conv2dGeometry{.groups = 2}, 1, 1),
                    a2q::config_error);
  REQUIRE_THROWS_AS(a2q::engine::conv2d_dense(image, conv_dense, {}, Conv2dGeometry{.stride_h = 0}, 1, 1),
                    a2q::config_error);
  REQUIRE_THROWS_AS(a2q::engine::conv2d_dense(image, conv_dense, {}, Conv2dGeometry{}, 3, 3),
                    a2q::shape_error); // K = 2·3·3 does not match the weights' K = 2
  REQUIRE_THROWS_AS(a2q::engine::conv2d_sparse(image, PackedSparseWeights(conv_w, KernelIsa::portable), {},
                                               Conv2dGeometry{}, 1, 5),
                    a2q::shape_error); // does not fit the 4-wide input
}
