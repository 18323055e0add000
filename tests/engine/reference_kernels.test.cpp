// Tests for a2q/engine/reference_kernels.hpp: adversarial inputs against the exact bounds
// (quant/bounds.hpp), linear/conv against naive int64 loops, the fixed-point multiplier against an
// independent exact rounding and against double arithmetic.

#include "a2q/engine/reference_kernels.hpp"

#include "a2q/core/rng.hpp"
#include "a2q/quant/bounds.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace {

__extension__ typedef __int128 i128;

using a2q::AccumulatorRange;
using a2q::InputRange;
using a2q::Tensor;
using a2q::engine::Accumulator;
using a2q::engine::accumulator_overflow;
using a2q::engine::FixedPointMultiplier;
using a2q::engine::OverflowPolicy;
using a2q::engine::TiledAccumulator;

std::vector<std::int32_t> random_weights(a2q::Rng& rng, std::int64_t K, int M) {
  const std::int64_t qmax = (std::int64_t{1} << (M - 1)) - 1;
  std::vector<std::int32_t> q(static_cast<std::size_t>(K));
  for (std::int32_t& v : q)
    v = rng.bernoulli(0.2) ? 0 : static_cast<std::int32_t>(rng.uniform_int(-qmax, qmax));
  return q;
}

/// x_i = hi where q_i > 0, lo where q_i < 0 (toward_max), or the opposite; zero weights get random x.
std::vector<std::int32_t> adversarial(a2q::Rng& rng, std::span<const std::int32_t> q, InputRange r,
                                      bool toward_max) {
  std::vector<std::int32_t> x(q.size());
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (q[i] == 0)
      x[i] = static_cast<std::int32_t>(rng.uniform_int(r.lo, r.hi));
    else
      x[i] = static_cast<std::int32_t>((q[i] > 0) == toward_max ? r.hi : r.lo);
  }
  return x;
}

/// Bits of a single value.
int bits_of(std::int64_t v) {
  return a2q::required_accumulator_bits(AccumulatorRange{v, v});
}

/// round-half-away-from-zero(num / 2^right) by truncating division and the remainder.
i128 round_shift(i128 num, int right) {
  const i128 d = i128{1} << right;
  i128 q = num / d;
  const i128 r = num % d;
  const i128 twice = r < 0 ? -2 * r : 2 * r;
  if (twice >= d)
    q += num < 0 ? -1 : 1;
  return q;
}

i128 exact_requantize(std::int64_t acc, FixedPointMultiplier m) {
  const i128 p = static_cast<i128>(acc) * m.multiplier;
  const int right = 31 - m.shift;
  return right <= 0 ? p * (i128{1} << -right) : round_shift(p, right);
}

} // namespace

TEST_CASE("dot_product: the adversarial input reaches the exact worst case; P - 1 overflows",
          "[engine][reference][adversarial]") {
  a2q::Rng rng(0xa2a2);
  int negative_controls = 0;
  for (int trial = 0; trial < 600; ++trial) {
    const int M = static_cast<int>(rng.uniform_int(2, 8));
    const int N = static_cast<int>(rng.uniform_int(1, 8));
    const bool is_signed = rng.bernoulli(0.5);
    const std::int64_t K = rng.uniform_int(1, 300);
    const InputRange r = InputRange::of_bits(N, is_signed);
    const std::vector<std::int32_t> q = random_weights(rng, K, M);
    const std::int64_t bias = rng.bernoulli(0.5) ? 0 : rng.uniform_int(-5000, 5000);

    const AccumulatorRange worst = a2q::worst_case_accumulator(q, r, bias);
    const int P = std::max(2, a2q::required_accumulator_bits(q, r, bias));
    const std::vector<std::int32_t> x_max = adversarial(rng, q, r, true);
    const std::vector<std::int32_t> x_min = adversarial(rng, q, r, false);

    Accumulator acc(P, OverflowPolicy::check);
    acc.reset(bias);
    REQUIRE(a2q::engine::dot_product(q, x_max, acc, {.layer = "adv", .channel = trial}) == worst.hi);
    acc.reset(bias);
    REQUIRE(a2q::engine::dot_product(q, x_min, acc) == worst.lo);

    // Random inputs in range never overflow at P either.
    std::vector<std::int32_t> x(q.size());
    for (std::int32_t& v : x)
      v = static_cast<std::int32_t>(rng.uniform_int(r.lo, r.hi));
    acc.reset(bias);
    REQUIRE_NOTHROW(a2q::engine::dot_product(q, x, acc));

    // Negative control: one bit fewer is reported for the binding extreme.
    if (P - 1 >= 2 && std::max(bits_of(worst.hi), bits_of(worst.lo)) == P) {
      const std::vector<std::int32_t>& binding = bits_of(worst.hi) == P ? x_max : x_min;
      Accumulator narrow(P - 1, OverflowPolicy::check);
      narrow.reset(bias < narrow.min() || bias > narrow.max() ? 0 : bias);
      if (bias >= narrow.min() && bias <= narrow.max()) {
        REQUIRE_THROWS_AS(a2q::engine::dot_product(q, binding, narrow), accumulator_overflow);
        ++negative_controls;
      }
    }
  }
  REQUIRE(negative_controls > 400);
}

TEST_CASE("linear_reference: per-channel adversarial rows, P passes and P - 1 throws",
          "[engine][reference][adversarial]") {
  a2q::Rng rng(11);
  for (int trial = 0; trial < 50; ++trial) {
    const std::int64_t C = rng.uniform_int(1, 6);
    const std::int64_t K = rng.uniform_int(1, 64);
    const InputRange r = InputRange::of_bits(static_cast<int>(rng.uniform_int(2, 8)), rng.bernoulli(0.5));
    Tensor<std::int32_t> w({C, K});
    Tensor<std::int32_t> x({C, K}); // row c is channel c's worst-case (max) input
    int P = 2;
    for (std::int64_t c = 0; c < C; ++c) {
      const std::vector<std::int32_t> q = random_weights(rng, K, 6);
      std::copy(q.begin(), q.end(), w.data() + c * K);
      const std::vector<std::int32_t> xc = adversarial(rng, q, r, true);
      std::copy(xc.begin(), xc.end(), x.data() + c * K);
      P = std::max(P, a2q::required_accumulator_bits(q, r));
    }
    a2q::engine::OverflowStats stats;
    const Tensor<std::int64_t> out =
        a2q::engine::linear_reference(x, w, {}, P, OverflowPolicy::check, &stats);
    for (std::int64_t c = 0; c < C; ++c) {
      const std::span<const std::int32_t> q{w.data() + c * K, static_cast<std::size_t>(K)};
      REQUIRE(out(c, c) == a2q::worst_case_accumulator(q, r).hi);
    }
    REQUIRE(stats.events == 0);
    REQUIRE(stats.outputs == C * C);
    // Find the channel whose max side needs P bits; its adversarial row overflows P - 1.
    bool binding = false;
    for (std::int64_t c = 0; c < C; ++c) {
      const std::span<const std::int32_t> q{w.data() + c * K, static_cast<std::size_t>(K)};
      binding = binding || bits_of(a2q::worst_case_accumulator(q, r).hi) == P;
    }
    if (binding && P - 1 >= 2)
      REQUIRE_THROWS_AS(a2q::engine::linear_reference(x, w, {}, P - 1, OverflowPolicy::check),
                        accumulator_overflow);
  }
}

TEST_CASE("linear_reference matches a naive int64 loop; count/wrap statistics",
          "[engine][reference][linear]") {
  a2q::Rng rng(5);
  for (int trial = 0; trial < 40; ++trial) {
    const std::int64_t N = rng.uniform_int(1, 5), C = rng.uniform_int(1, 7), K = rng.uniform_int(1, 50);
    const Tensor<std::int32_t> x = Tensor<std::int32_t>::uniform({N, K}, -128, 127, rng);
    const Tensor<std::int32_t> w = Tensor<std::int32_t>::uniform({C, K}, -127, 127, rng);
    std::vector<std::int64_t> bias(static_cast<std::size_t>(C));
    for (std::int64_t& b : bias)
      b = rng.uniform_int(-100000, 100000);
    Tensor<std::int64_t> naive({N, C});
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t c = 0; c < C; ++c) {
        std::int64_t s = bias[static_cast<std::size_t>(c)];
        for (std::int64_t k = 0; k < K; ++k)
          s += std::int64_t{w(c, k)} * std::int64_t{x(n, k)};
        naive(n, c) = s;
      }
    REQUIRE(a2q::engine::linear_reference(x, w, bias, 64, OverflowPolicy::check) == naive);
    REQUIRE(a2q::engine::linear_reference(x, w, bias, 32, OverflowPolicy::saturate) == naive);

    // With a narrow accumulator, wrap gives the exact sum mod 2^P (order does not matter), and the count
    // policy marks as affected exactly the outputs whose exact value is out of range.
    const int P = static_cast<int>(rng.uniform_int(12, 20));
    a2q::engine::OverflowStats stats;
    const Tensor<std::int64_t> wrapped =
        a2q::engine::linear_reference(x, w, bias, P, OverflowPolicy::count, &stats, "fc");
    std::int64_t out_of_range = 0;
    std::vector<std::int64_t> per_channel(static_cast<std::size_t>(C), 0);
    const std::int64_t lo = -(std::int64_t{1} << (P - 1)), hi = (std::int64_t{1} << (P - 1)) - 1;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t c = 0; c < C; ++c) {
        const std::int64_t v = naive(n, c);
        const std::int64_t m = v & ((std::int64_t{1} << P) - 1);
        REQUIRE(wrapped(n, c) == (m > hi ? m - (std::int64_t{1} << P) : m));
        if (v < lo || v > hi) {
          ++out_of_range;
          ++per_channel[static_cast<std::size_t>(c)];
        }
      }
    REQUIRE(stats.affected == out_of_range);
    REQUIRE(stats.affected_per_channel == per_channel);
    REQUIRE(stats.events >= stats.affected);
    REQUIRE(stats.outputs == N * C);
    std::int64_t sum = 0;
    for (const std::int64_t e : stats.events_per_channel)
      sum += e;
    REQUIRE(sum == stats.events);
  }
  REQUIRE_THROWS_AS(a2q::engine::linear_reference(Tensor<std::int32_t>({2, 3}), Tensor<std::int32_t>({2, 4}),
                                                  {}, 32, OverflowPolicy::check),
                    a2q::shape_error);
  const std::vector<std::int64_t> wrong_bias{1, 2, 3};
  REQUIRE_THROWS_AS(a2q::engine::linear_reference(Tensor<std::int32_t>({2, 3}), Tensor<std::int32_t>({2, 3}),
                                                  wrong_bias, 32, OverflowPolicy::check),
                    a2q::shape_error);
}

TEST_CASE("linear_reference: overflow messages name the layer, channel and sample", "[engine][reference]") {
  const Tensor<std::int32_t> x({2, 2}, {1, 1, 100, 100});
  const Tensor<std::int32_t> w({2, 2}, {1, 1, 1, -1});
  try {
    a2q::engine::linear_reference(x, w, {}, 8, OverflowPolicy::check, nullptr, "fc2");
    FAIL("overflow not reported");
  } catch (const accumulator_overflow& e) {
    REQUIRE(e.layer() == "fc2");
    REQUIRE(e.sample() == 1);
    REQUIRE(e.channel() == 0);
    REQUIRE(e.partial_sum() == 1); // 100, then 200 > 127
  }
}

TEST_CASE("conv2d_reference matches a naive int64 convolution", "[engine][reference][conv]") {
  a2q::Rng rng(23);
  for (int trial = 0; trial < 60; ++trial) {
    const std::int64_t groups = rng.uniform_int(1, 3);
    const std::int64_t N = rng.uniform_int(1, 2);
    const std::int64_t C_in = groups * rng.uniform_int(1, 3);
    const std::int64_t C_out = groups * rng.uniform_int(1, 3);
    const std::int64_t kh = rng.uniform_int(1, 3), kw = rng.uniform_int(1, 3);
    const a2q::engine::Conv2dGeometry g{rng.uniform_int(1, 2), rng.uniform_int(1, 2), rng.uniform_int(0, 2),
                                        rng.uniform_int(0, 1), groups};
    const std::int64_t H = rng.uniform_int(std::max<std::int64_t>(1, kh - 2 * g.pad_h), 7);
    const std::int64_t W = rng.uniform_int(std::max<std::int64_t>(1, kw - 2 * g.pad_w), 7);
    const Tensor<std::int32_t> x = Tensor<std::int32_t>::uniform({N, C_in, H, W}, -128, 255, rng);
    const Tensor<std::int32_t> w =
        Tensor<std::int32_t>::uniform({C_out, C_in / groups, kh, kw}, -127, 127, rng);
    std::vector<std::int64_t> bias(static_cast<std::size_t>(C_out));
    for (std::int64_t& b : bias)
      b = rng.uniform_int(-1000, 1000);

    // Naive: pad explicitly, then slide the kernel.
    const std::int64_t Hp = H + 2 * g.pad_h, Wp = W + 2 * g.pad_w;
    Tensor<std::int64_t> padded({N, C_in, Hp, Wp});
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t c = 0; c < C_in; ++c)
        for (std::int64_t y = 0; y < H; ++y)
          for (std::int64_t xx = 0; xx < W; ++xx)
            padded(n, c, y + g.pad_h, xx + g.pad_w) = x(n, c, y, xx);
    const std::int64_t Ho = (Hp - kh) / g.stride_h + 1, Wo = (Wp - kw) / g.stride_w + 1;
    Tensor<std::int64_t> naive({N, C_out, Ho, Wo});
    const std::int64_t cin_g = C_in / groups, cout_g = C_out / groups;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t co = 0; co < C_out; ++co)
        for (std::int64_t oy = 0; oy < Ho; ++oy)
          for (std::int64_t ox = 0; ox < Wo; ++ox) {
            std::int64_t s = bias[static_cast<std::size_t>(co)];
            for (std::int64_t ci = 0; ci < cin_g; ++ci)
              for (std::int64_t ky = 0; ky < kh; ++ky)
                for (std::int64_t kx = 0; kx < kw; ++kx)
                  s += std::int64_t{w(co, ci, ky, kx)} *
                       padded(n, (co / cout_g) * cin_g + ci, oy * g.stride_h + ky, ox * g.stride_w + kx);
            naive(n, co, oy, ox) = s;
          }
    REQUIRE(a2q::engine::conv2d_reference(x, w, bias, g, 64, OverflowPolicy::check) == naive);

    // A 1x1, stride-1, unpadded, ungrouped conv is the linear layer on every pixel.
    if (kh == 1 && kw == 1 && groups == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 &&
        g.pad_w == 0) {
      Tensor<std::int32_t> rows({N * H * W, C_in});
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t c = 0; c < C_in; ++c)
          for (std::int64_t p = 0; p < H * W; ++p)
            rows(n * H * W + p, c) = x[(n * C_in + c) * H * W + p];
      const Tensor<std::int64_t> lin =
          a2q::engine::linear_reference(rows, w.reshaped({C_out, C_in}), bias, 64, OverflowPolicy::check);
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t co = 0; co < C_out; ++co)
          for (std::int64_t p = 0; p < H * W; ++p)
            REQUIRE(lin(n * H * W + p, co) == naive[(n * C_out + co) * H * W + p]);
    }
  }
  const a2q::engine::Conv2dGeometry bad{0, 1, 0, 0, 1};
  REQUIRE_THROWS_AS(a2q::engine::conv2d_reference(Tensor<std::int32_t>({1, 1, 3, 3}),
                                                  Tensor<std::int32_t>({1, 1, 2, 2}), {}, bad, 32,
                                                  OverflowPolicy::check),
                    a2q::config_error);
  REQUIRE_THROWS_AS(a2q::engine::conv2d_reference(Tensor<std::int32_t>({1, 3, 3, 3}),
                                                  Tensor<std::int32_t>({2, 2, 2, 2}), {}, {}, 32,
                                                  OverflowPolicy::check),
                    a2q::shape_error);
}

TEST_CASE("conv2d_reference: adversarial patch and overflow context", "[engine][reference][conv]") {
  // One 3x3 kernel on an unsigned 4-bit 3x3 image: the worst case is reached at the single output.
  const Tensor<std::int32_t> w({1, 1, 3, 3}, {7, -7, 7, -7, 7, -7, 7, -7, 7});
  const InputRange r = InputRange::of_bits(4, false);
  const std::span<const std::int32_t> q = w.span();
  a2q::Rng rng(1);
  const std::vector<std::int32_t> xv = adversarial(rng, q, r, true);
  const Tensor<std::int32_t> x({1, 1, 3, 3}, std::span<const std::int32_t>(xv));
  const int P = a2q::required_accumulator_bits(q, r); // 5 · 7 · 15 = 525 -> 11 bits
  REQUIRE(P == 11);
  const Tensor<std::int64_t> out = a2q::engine::conv2d_reference(x, w, {}, {}, P, OverflowPolicy::check);
  REQUIRE(out[0] == 525);
  try {
    a2q::engine::conv2d_reference(x, w, {}, {}, P - 1, OverflowPolicy::check, nullptr, "conv1");
    FAIL("overflow not reported");
  } catch (const accumulator_overflow& e) {
    REQUIRE(e.layer() == "conv1");
    REQUIRE(e.channel() == 0);
    REQUIRE(e.position() == 0);
    REQUIRE(e.partial_sum() == 8); // 420 after 7 products, 420 + 105 = 525 > 511 at the last one
  }
}

TEST_CASE("Tiled dot product: inner width from tiled_accumulator_bits is exact",
          "[engine][reference][tiled]") {
  a2q::Rng rng(31);
  int inner_controls = 0;
  int outer_controls = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const std::int64_t K = rng.uniform_int(1, 200);
    const std::int64_t T = rng.uniform_int(1, 40);
    const InputRange r = InputRange::of_bits(static_cast<int>(rng.uniform_int(1, 8)), rng.bernoulli(0.5));
    const std::vector<std::int32_t> q = random_weights(rng, K, static_cast<int>(rng.uniform_int(2, 8)));
    const a2q::TiledAccumulatorBits tb = a2q::tiled_accumulator_bits(q, r, T);
    REQUIRE(tb.outer_bits <= tb.outer_bits_formula);
    const AccumulatorRange worst = a2q::worst_case_accumulator(q, r);
    const int PI = std::max(2, tb.inner_bits);
    const int PO = std::max(2, tb.outer_bits);
    const std::vector<std::int32_t> x_max = adversarial(rng, q, r, true);
    const std::vector<std::int32_t> x_min = adversarial(rng, q, r, false);

    TiledAccumulator acc(PI, PO, T, OverflowPolicy::check);
    acc.reset(0);
    REQUIRE(a2q::engine::dot_product(q, x_max, acc) == worst.hi);
    acc.reset(0);
    REQUIRE(a2q::engine::dot_product(q, x_min, acc) == worst.lo);

    // One inner bit fewer: one of the two adversarial inputs overflows some tile.
    if (PI - 1 >= 2) {
      int thrown = 0;
      for (const auto* xs : {&x_max, &x_min}) {
        TiledAccumulator narrow(PI - 1, PO, T, OverflowPolicy::check);
        narrow.reset(0);
        try {
          a2q::engine::dot_product(q, *xs, narrow);
        } catch (const accumulator_overflow& e) {
          REQUIRE(e.bits() == PI - 1);
          ++thrown;
        }
      }
      REQUIRE(thrown >= 1);
      ++inner_controls;
    }
    // One outer bit fewer (inner exact): one of them overflows the outer register.
    if (PO - 1 >= 2) {
      int thrown = 0;
      for (const auto* xs : {&x_max, &x_min}) {
        TiledAccumulator narrow(PI, PO - 1, T, OverflowPolicy::check);
        narrow.reset(0);
        try {
          a2q::engine::dot_product(q, *xs, narrow);
        } catch (const accumulator_overflow& e) {
          REQUIRE(e.bits() == PO - 1);
          ++thrown;
        }
      }
      REQUIRE(thrown >= 1);
      ++outer_controls;
    }
  }
  REQUIRE(inner_controls > 300);
  REQUIRE(outer_controls > 300);
}

TEST_CASE("quantize_multiplier: ranges, powers of two, relative error", "[engine][requantize]") {
  for (int k = -64; k <= 30; ++k) {
    const FixedPointMultiplier m = a2q::engine::quantize_multiplier(std::ldexp(1.0, k));
    REQUIRE(m.multiplier == (std::int32_t{1} << 30));
    REQUIRE(m.shift == k + 1);
  }
  // Just below 2^31 rounds up to 2^31 = 2^30 · 2^(32 - 31).
  const FixedPointMultiplier top = a2q::engine::quantize_multiplier(std::nextafter(std::ldexp(1.0, 31), 0.0));
  REQUIRE(top == FixedPointMultiplier{std::int32_t{1} << 30, 32});
  REQUIRE(a2q::engine::multiply_by_quantized_multiplier(3, top) == std::int64_t{3} << 31);
  for (const double bad : {0.0, -1.0, std::ldexp(1.0, 31), std::ldexp(1.0, -65), std::nan(""),
                           std::numeric_limits<double>::infinity()})
    REQUIRE_THROWS_AS(a2q::engine::quantize_multiplier(bad), a2q::config_error);

  a2q::Rng rng(77);
  for (int i = 0; i < 20000; ++i) {
    const double real = std::ldexp(1.0 + rng.uniform01(), static_cast<int>(rng.uniform_int(-64, 30)));
    const FixedPointMultiplier m = a2q::engine::quantize_multiplier(real);
    REQUIRE(m.multiplier >= (std::int32_t{1} << 30));
    REQUIRE(m.shift >= a2q::engine::min_multiplier_shift);
    REQUIRE(m.shift <= a2q::engine::max_multiplier_shift);
    const double represented = std::ldexp(static_cast<double>(m.multiplier), m.shift - 31);
    REQUIRE(std::abs(represented - real) <= real * std::ldexp(1.0, -31));
  }
}

TEST_CASE("multiply_by_quantized_multiplier: exact rounding and double agreement", "[engine][requantize]") {
  a2q::Rng rng(78);
  for (int i = 0; i < 20000; ++i) {
    // |acc · real| <= 2^30 keeps the multiplier's 2^-31 relative error under half a unit.
    const int acc_bits = static_cast<int>(rng.uniform_int(1, 31));
    const std::int64_t acc = rng.uniform_int(-(std::int64_t{1} << acc_bits), std::int64_t{1} << acc_bits);
    const int room = 30 - acc_bits;
    const double real = std::ldexp(1.0 + rng.uniform01(), static_cast<int>(rng.uniform_int(-40, room - 1)));
    const FixedPointMultiplier m = a2q::engine::quantize_multiplier(real);
    const std::int64_t got = a2q::engine::multiply_by_quantized_multiplier(acc, m);
    REQUIRE(i128{got} == exact_requantize(acc, m));
    REQUIRE(std::abs(static_cast<double>(got) - static_cast<double>(acc) * real) <= 1.0);
  }
  // Full-range accumulators against the exact rounding.
  for (int i = 0; i < 20000; ++i) {
    const std::int64_t acc =
        rng.uniform_int(std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max());
    const FixedPointMultiplier m{
        static_cast<std::int32_t>(rng.uniform_int(std::int64_t{1} << 30, (std::int64_t{1} << 31) - 1)),
        static_cast<int>(rng.uniform_int(-63, 0))};
    REQUIRE(i128{a2q::engine::multiply_by_quantized_multiplier(acc, m)} == exact_requantize(acc, m));
  }
}

TEST_CASE("multiply_by_quantized_multiplier: ties, powers of two and extremes", "[engine][requantize]") {
  using a2q::engine::multiply_by_quantized_multiplier;
  using a2q::engine::quantize_multiplier;
  constexpr std::int64_t max64 = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t min64 = std::numeric_limits<std::int64_t>::min();
  const FixedPointMultiplier half = quantize_multiplier(0.5);
  REQUIRE(multiply_by_quantized_multiplier(3, half) == 2); // 1.5 -> 2 (away from zero)
  REQUIRE(multiply_by_quantized_multiplier(-3, half) == -2);
  REQUIRE(multiply_by_quantized_multiplier(1, half) == 1);
  REQUIRE(multiply_by_quantized_multiplier(-1, half) == -1);
  REQUIRE(multiply_by_quantized_multiplier(2, half) == 1);
  REQUIRE(multiply_by_quantized_multiplier(0, half) == 0);
  const FixedPointMultiplier quarter = quantize_multiplier(0.25);
  REQUIRE(multiply_by_quantized_multiplier(5, quarter) == 1);   // 1.25
  REQUIRE(multiply_by_quantized_multiplier(-6, quarter) == -2); // -1.5
  REQUIRE(multiply_by_quantized_multiplier(-7, quarter) == -2); // -1.75

  const FixedPointMultiplier one = quantize_multiplier(1.0);
  REQUIRE(multiply_by_quantized_multiplier(max64, one) == max64);
  REQUIRE(multiply_by_quantized_multiplier(min64, one) == min64);
  REQUIRE_THROWS_AS(multiply_by_quantized_multiplier(max64, quantize_multiplier(2.0)), a2q::overflow_error);
  REQUIRE_THROWS_AS(multiply_by_quantized_multiplier(min64, quantize_multiplier(2.0)), a2q::overflow_error);
  const FixedPointMultiplier tiny = quantize_multiplier(std::ldexp(1.0, -64));
  REQUIRE(multiply_by_quantized_multiplier(min64, tiny) == -1); // -0.5 -> -1
  REQUIRE(multiply_by_quantized_multiplier(max64, tiny) == 0);  // just under 0.5
  for (int k = -62; k <= 30; ++k) {
    const FixedPointMultiplier p = quantize_multiplier(std::ldexp(1.0, k));
    for (const std::int64_t acc :
         {std::int64_t{1}, std::int64_t{-1}, std::int64_t{12345}, std::int64_t{-98765}, std::int64_t{1} << 32,
          -(std::int64_t{1} << 32) - 1}) {
      const i128 expected = k >= 0 ? i128{acc} * (i128{1} << k) : round_shift(acc, -k);
      REQUIRE(i128{multiply_by_quantized_multiplier(acc, p)} == expected);
    }
  }
  REQUIRE_THROWS_AS(multiply_by_quantized_multiplier(1, FixedPointMultiplier{1 << 29, 0}), a2q::config_error);
  REQUIRE_THROWS_AS(multiply_by_quantized_multiplier(1, FixedPointMultiplier{1 << 30, 33}),
                    a2q::config_error);
  REQUIRE_THROWS_AS(multiply_by_quantized_multiplier(1, FixedPointMultiplier{1 << 30, -64}),
                    a2q::config_error);
}

TEST_CASE("requantize_to: rescale, add the zero point, clamp", "[engine][requantize]") {
  using a2q::engine::requantize_to;
  const FixedPointMultiplier m = a2q::engine::quantize_multiplier(0.01);
  REQUIRE(requantize_to(5000, m, -128, 127) == 50);
  REQUIRE(requantize_to(50000, m, -128, 127) == 127);
  REQUIRE(requantize_to(-50000, m, -128, 127) == -128);
  REQUIRE(requantize_to(5000, m, 0, 255, 100) == 150);
  REQUIRE(requantize_to(-20000, m, 0, 255, 100) == 0);
  const auto uint4 = a2q::quant::IntFormat::unsigned_bits(4);
  REQUIRE(requantize_to(1000, m, uint4) == 10);
  REQUIRE(requantize_to(5000, m, uint4) == 15);
  REQUIRE(requantize_to(-5000, m, a2q::quant::IntFormat::signed_bits(4, true)) == -7);
  REQUIRE(requantize_to(std::numeric_limits<std::int64_t>::max(), a2q::engine::quantize_multiplier(1.0), 0, 7,
                        std::numeric_limits<std::int64_t>::max()) == 7); // 128-bit zero-point add
  REQUIRE_THROWS_AS(requantize_to(0, m, 5, 4), a2q::config_error);
}
