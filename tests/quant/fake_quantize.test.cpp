// Tests for a2q/quant/fake_quantize.hpp and a2q/autograd/exp2.hpp: the forward pass against a naive
// reference (per tensor, per channel on axes 0 and 1, every rounding mode), the integer twin, the
// straight-through and LSQ gradients against hand-computed values and the formula, and the checks.

#include "a2q/quant/fake_quantize.hpp"

#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/exp2.hpp"
#include "a2q/autograd/gradcheck.hpp"
#include "a2q/core/parallel.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;
using a2q::quant::FakeQuantOptions;
using a2q::quant::IntFormat;
using a2q::quant::RoundingMode;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

const std::vector<RoundingMode> deterministic_modes{
    RoundingMode::nearest_even, RoundingMode::half_away_from_zero, RoundingMode::toward_zero,
    RoundingMode::floor, RoundingMode::ceil};

float c_round(float x, RoundingMode mode) {
  switch (mode) {
  case RoundingMode::nearest_even:
    return std::nearbyint(x);
  case RoundingMode::half_away_from_zero:
    return std::round(x);
  case RoundingMode::toward_zero:
    return std::trunc(x);
  case RoundingMode::floor:
    return std::floor(x);
  case RoundingMode::ceil:
    return std::ceil(x);
  case RoundingMode::stochastic:
    break;
  }
  return std::numeric_limits<float>::quiet_NaN();
}

/// Index of the scale that element `flat` of a tensor of shape `shape` uses.
std::int64_t channel_of(const Shape& shape, std::int64_t flat, int axis) {
  if (axis == -1)
    return 0;
  std::int64_t inner = 1;
  for (int d = axis + 1; d < shape.rank(); ++d)
    inner *= shape[d];
  return (flat / inner) % shape[axis];
}

struct Reference {
  Tensor<float> y;
  Tensor<float> q;
};

/// y = s * clip(round(x / s), qmin, qmax), one element at a time with the C library's rounding.
Reference naive_fake_quantize(const Tensor<float>& x, const Tensor<float>& scale,
                              const FakeQuantOptions& opt) {
  Reference r{Tensor<float>(x.shape()), Tensor<float>(x.shape())};
  const auto qmin = static_cast<float>(opt.format.qmin());
  const auto qmax = static_cast<float>(opt.format.qmax());
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const float s = scale[channel_of(x.shape(), i, opt.channel_axis)];
    const float q = std::min(std::max(c_round(x[i] / s, opt.rounding), qmin), qmax);
    r.q[i] = q;
    r.y[i] = s * q;
  }
  return r;
}

/// The LSQ scale gradient by its definition, in double: Σ g · (inside ? q - u : q) per scale, times
/// the factor.
std::vector<double> naive_scale_grad(const Tensor<float>& x, const Tensor<float>& scale,
                                     const Tensor<float>& g, const FakeQuantOptions& opt, double factor) {
  std::vector<double> out(static_cast<std::size_t>(scale.numel()), 0.0);
  const Reference ref = naive_fake_quantize(x, scale, opt);
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const std::int64_t c = channel_of(x.shape(), i, opt.channel_axis);
    const double u = static_cast<double>(x[i] / scale[c]);
    const bool inside =
        u >= static_cast<double>(opt.format.qmin()) && u <= static_cast<double>(opt.format.qmax());
    out[static_cast<std::size_t>(c)] += static_cast<double>(g[i]) * (inside ? ref.q[i] - u : ref.q[i]);
  }
  for (double& v : out)
    v *= factor;
  return out;
}

FakeQuantOptions options(IntFormat format, RoundingMode rounding, int axis = -1) {
  FakeQuantOptions opt;
  opt.format = format;
  opt.rounding = rounding;
  opt.channel_axis = axis;
  return opt;
}

struct Layout {
  Shape shape;
  int axis;
};

Tensor<float> positive_scales(std::int64_t n, a2q::Rng& rng) {
  Tensor<float> s = Tensor<float>::uniform(Shape{n}, 0.05f, 0.4f, rng);
  return s;
}

} // namespace

TEST_CASE("fake_quantize forward equals the naive reference", "[quant][fake_quantize]") {
  const std::vector<Layout> layouts{{Shape{2, 3, 4, 5}, -1}, {Shape{6, 3, 3, 3}, 0}, {Shape{4, 5, 6}, 1},
                                    {Shape{3, 7}, 1},        {Shape{}, -1},          {Shape{5}, 0}};
  const std::vector<IntFormat> formats{IntFormat::signed_bits(4), IntFormat::unsigned_bits(3),
                                       IntFormat::signed_bits(8, true), IntFormat::unsigned_bits(1),
                                       IntFormat::signed_bits(2)};
  a2q::Rng rng(2024);
  for (const Layout& layout : layouts) {
    const Tensor<float> x = Tensor<float>::normal(layout.shape, 0.0, 1.5, rng);
    const std::int64_t scales = layout.axis == -1 ? 1 : layout.shape[layout.axis];
    const Tensor<float> s = positive_scales(scales, rng);
    for (const IntFormat& format : formats) {
      for (const RoundingMode mode : deterministic_modes) {
        INFO("shape " << layout.shape.to_string() << ", axis " << layout.axis << ", " << format.to_string()
                      << ", " << a2q::quant::to_string(mode));
        const FakeQuantOptions opt = options(format, mode, layout.axis);
        const Var y = a2q::quant::fake_quantize(Var(x), Var(s), opt);
        const Reference ref = naive_fake_quantize(x, s, opt);
        CHECK(y.value() == ref.y);
        const Tensor<std::int32_t> q = a2q::quant::quantize_to_int(x, s, opt);
        bool consistent = true;
        for (std::int64_t i = 0; i < x.numel(); ++i) {
          const float si = s[channel_of(x.shape(), i, layout.axis)];
          consistent = consistent && q[i] >= format.qmin() && q[i] <= format.qmax() &&
                       static_cast<float>(q[i]) == ref.q[i] &&
                       y.value()[i] == static_cast<float>(q[i]) * si &&
                       y.value()[i] >= static_cast<float>(format.qmin()) * si &&
                       y.value()[i] <= static_cast<float>(format.qmax()) * si;
        }
        CHECK(consistent);
      }
    }
  }
}

TEST_CASE("fake_quantize resolves ties by the rounding mode", "[quant][fake_quantize]") {
  // With a power-of-two scale, x / s is exact, so these are exact ties.
  const Tensor<float> x(Shape{6}, {0.125f, 0.375f, -0.125f, -0.625f, 0.875f, -1.125f});
  const Tensor<float> s(Shape{1}, 0.25f); // x / s = 0.5, 1.5, -0.5, -2.5, 3.5, -4.5
  auto q_of = [&](RoundingMode mode) {
    return a2q::quant::quantize_to_int(x, s, options(IntFormat::signed_bits(4), mode));
  };
  CHECK(q_of(RoundingMode::nearest_even) == Tensor<std::int32_t>(Shape{6}, {0, 2, 0, -2, 4, -4}));
  CHECK(q_of(RoundingMode::half_away_from_zero) == Tensor<std::int32_t>(Shape{6}, {1, 2, -1, -3, 4, -5}));
  CHECK(q_of(RoundingMode::toward_zero) == Tensor<std::int32_t>(Shape{6}, {0, 1, 0, -2, 3, -4}));
  CHECK(q_of(RoundingMode::floor) == Tensor<std::int32_t>(Shape{6}, {0, 1, -1, -3, 3, -5}));
  CHECK(q_of(RoundingMode::ceil) == Tensor<std::int32_t>(Shape{6}, {1, 2, 0, -2, 4, -4}));
}

TEST_CASE("fake_quantize with stochastic rounding", "[quant][fake_quantize]") {
  a2q::Rng init(9);
  const Tensor<float> x = Tensor<float>::normal(Shape{8, 50}, 0.0, 1.0, init);
  const Tensor<float> s = positive_scales(8, init);
  a2q::Rng a(100), b(100);
  FakeQuantOptions opt = options(IntFormat::signed_bits(4), RoundingMode::stochastic, 0);
  opt.rng = &a;
  const Var y = a2q::quant::fake_quantize(Var(x), Var(s), opt);
  opt.rng = &b;
  const Tensor<std::int32_t> q = a2q::quant::quantize_to_int(x, s, opt);
  const FakeQuantOptions floor_opt = options(IntFormat::signed_bits(4), RoundingMode::floor, 0);
  const Reference lower = naive_fake_quantize(x, s, floor_opt);
  bool consistent = true;
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const float si = s[i / 50];
    const float u = x[i] / si;
    const float lo = std::min(std::max(std::floor(u), -8.0f), 7.0f);
    const float hi = std::min(std::max(std::floor(u) + 1.0f, -8.0f), 7.0f);
    const auto qi = static_cast<float>(q[i]);
    consistent = consistent && y.value()[i] == qi * si && (qi == lo || qi == hi) && lower.q[i] == lo;
  }
  CHECK(consistent);
  // Same generator state, same result; the next call differs.
  a2q::Rng c(100);
  opt.rng = &c;
  CHECK(a2q::quant::fake_quantize(Var(x), Var(s), opt).value() == y.value());
  CHECK_FALSE(a2q::quant::fake_quantize(Var(x), Var(s), opt).value() == y.value());
}

TEST_CASE("straight-through gradient for x and LSQ gradient for the scale, by hand",
          "[quant][fake_quantize]") {
  // int3: qmin = -4, qmax = 3; s = 0.5.
  // x:      0.3   -2.1   1.6   1.5   -2.0   0.75
  // u=x/s:  0.6   -4.2   3.2   3.0   -4.0   1.5
  // q:      1     -4     3     3     -4     2       (1.5 ties to even 2)
  // inside: yes   no     no    yes   yes    yes     (the ends of the range are inside)
  // dy/ds:  0.4   -4     3     0     0      0.5     (q - u inside, q outside)
  const Tensor<float> x(Shape{6}, {0.3f, -2.1f, 1.6f, 1.5f, -2.0f, 0.75f});
  const Tensor<float> g(Shape{6}, {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f});
  const double ds_sum = 1 * 0.4 + 2 * -4.0 + 3 * 3.0 + 4 * 0.0 + 5 * 0.0 + 6 * 0.5; // 4.4

  for (const double factor : {0.0, 0.5, 1.0}) {
    INFO("scale_grad_factor = " << factor);
    Var xv(x, true);
    Var sv(Tensor<float>(Shape{1}, 0.5f), true);
    FakeQuantOptions opt = options(IntFormat::signed_bits(3), RoundingMode::nearest_even);
    opt.scale_grad_factor = factor;
    const Var y = a2q::quant::fake_quantize(xv, sv, opt);
    CHECK(y.value() == Tensor<float>(Shape{6}, {0.5f, -2.0f, 1.5f, 1.5f, -2.0f, 1.0f}));
    y.backward(g);
    CHECK(xv.grad() == Tensor<float>(Shape{6}, {1.0f, 0.0f, 0.0f, 4.0f, 5.0f, 6.0f}));
    const double expected_factor = factor > 0.0 ? factor : 1.0 / std::sqrt(6.0 * 3.0);
    CHECK_THAT(a2q::quant::lsq_grad_factor(6, IntFormat::signed_bits(3)),
               WithinRel(1.0 / std::sqrt(18.0), 1e-12));
    REQUIRE(sv.grad().shape() == Shape{1});
    CHECK_THAT(sv.grad()[0], WithinRel(static_cast<float>(ds_sum * expected_factor), 1e-5f));
  }
}

TEST_CASE("per-channel gradients by hand, on axis 0 and axis 1", "[quant][fake_quantize]") {
  // uint2: qmin = 0, qmax = 3. Channel scales 0.5 and 1.
  // axis 0, x [2, 3]: row 0 (s 0.5): u = 0.5, 2.4, -1 -> q 0, 2, 0; inside yes, yes, no
  //                   row 1 (s 1):   u = 3.7, 1.5, 2  -> q 3, 2, 2; inside no, yes, yes
  const Tensor<float> x0(Shape{2, 3}, {0.25f, 1.2f, -0.5f, 3.7f, 1.5f, 2.0f});
  const Tensor<float> s(Shape{2}, {0.5f, 1.0f});
  FakeQuantOptions opt = options(IntFormat::unsigned_bits(2), RoundingMode::nearest_even, 0);
  opt.scale_grad_factor = 1.0;
  Var xv(x0, true), sv(s, true);
  a2q::quant::fake_quantize(xv, sv, opt).backward(Tensor<float>(Shape{2, 3}, 1.0f));
  CHECK(xv.grad() == Tensor<float>(Shape{2, 3}, {1, 1, 0, 0, 1, 1}));
  // Channel 0: (0 - 0.5) + (2 - 2.4) + 0 = -0.9. Channel 1: 3 + (2 - 1.5) + (2 - 2) = 3.5.
  CHECK_THAT(sv.grad()[0], WithinAbs(-0.9, 1e-6));
  CHECK_THAT(sv.grad()[1], WithinAbs(3.5, 1e-6));

  // axis 1 of the transposed tensor [3, 2] gives the same numbers.
  const Tensor<float> x1(Shape{3, 2}, {0.25f, 3.7f, 1.2f, 1.5f, -0.5f, 2.0f});
  opt.channel_axis = 1;
  Var xv1(x1, true), sv1(s, true);
  a2q::quant::fake_quantize(xv1, sv1, opt).backward(Tensor<float>(Shape{3, 2}, 1.0f));
  CHECK(xv1.grad() == Tensor<float>(Shape{3, 2}, {1, 0, 1, 1, 0, 1}));
  CHECK_THAT(sv1.grad()[0], WithinAbs(-0.9, 1e-6));
  CHECK_THAT(sv1.grad()[1], WithinAbs(3.5, 1e-6));
}

TEST_CASE("gradients match the formula for every layout and mode", "[quant][fake_quantize]") {
  const std::vector<Layout> layouts{{Shape{2, 3, 4, 5}, -1}, {Shape{6, 3, 3, 3}, 0}, {Shape{4, 5, 6}, 1}};
  a2q::Rng rng(31);
  for (const Layout& layout : layouts) {
    const Tensor<float> x = Tensor<float>::normal(layout.shape, 0.0, 1.5, rng);
    const Tensor<float> g = Tensor<float>::normal(layout.shape, 0.0, 1.0, rng);
    const std::int64_t scales = layout.axis == -1 ? 1 : layout.shape[layout.axis];
    const Tensor<float> s = positive_scales(scales, rng);
    for (const RoundingMode mode : a2q::quant::all_rounding_modes) {
      INFO("shape " << layout.shape.to_string() << ", " << a2q::quant::to_string(mode));
      a2q::Rng stochastic_rng(7);
      FakeQuantOptions opt = options(IntFormat::signed_bits(4), mode, layout.axis);
      opt.rng = &stochastic_rng;
      Var xv(x, true), sv(s, true);
      const Var y = a2q::quant::fake_quantize(xv, sv, opt);
      y.backward(g);
      // The reference for stochastic rounding: the q the forward pass used.
      FakeQuantOptions ref_opt = opt;
      Tensor<float> q_used(layout.shape);
      if (mode == RoundingMode::stochastic) {
        a2q::Rng replay(7);
        ref_opt.rng = &replay;
        const Tensor<std::int32_t> q = a2q::quant::quantize_to_int(x, s, ref_opt);
        for (std::int64_t i = 0; i < x.numel(); ++i)
          q_used[i] = static_cast<float>(q[i]);
      } else {
        q_used = naive_fake_quantize(x, s, opt).q;
      }
      const double factor = a2q::quant::lsq_grad_factor(x.numel() / scales, opt.format);
      std::vector<double> expected(static_cast<std::size_t>(scales), 0.0);
      bool dx_ok = true;
      for (std::int64_t i = 0; i < x.numel(); ++i) {
        const std::int64_t c = channel_of(x.shape(), i, layout.axis);
        const float u = x[i] / s[c];
        const bool inside = u >= -8.0f && u <= 7.0f;
        dx_ok = dx_ok && xv.grad()[i] == (inside ? g[i] : 0.0f);
        expected[static_cast<std::size_t>(c)] +=
            static_cast<double>(g[i]) * (inside ? q_used[i] - static_cast<double>(u) : q_used[i]);
      }
      CHECK(dx_ok);
      for (std::int64_t c = 0; c < scales; ++c)
        CHECK_THAT(sv.grad()[c], WithinAbs(expected[static_cast<std::size_t>(c)] * factor, 1e-5));
    }
  }
}

TEST_CASE("only the inputs that require a gradient get one", "[quant][fake_quantize]") {
  const Tensor<float> x(Shape{4}, {0.1f, 0.9f, -3.0f, 5.0f});
  const FakeQuantOptions opt = options(IntFormat::signed_bits(3), RoundingMode::nearest_even);
  {
    Var sv(Tensor<float>(Shape{1}, 0.5f), true);
    const Var xv(x);
    a2q::quant::fake_quantize(xv, sv, opt).backward(Tensor<float>(Shape{4}, 1.0f));
    CHECK(sv.has_grad());
    CHECK_FALSE(xv.has_grad());
  }
  {
    Var xv(x, true);
    const Var sv(Tensor<float>(Shape{1}, 0.5f));
    a2q::quant::fake_quantize(xv, sv, opt).backward(Tensor<float>(Shape{4}, 1.0f));
    CHECK(xv.grad() == Tensor<float>(Shape{4}, {1.0f, 1.0f, 0.0f, 0.0f}));
    CHECK_FALSE(sv.has_grad());
  }
  {
    const Var y = a2q::quant::fake_quantize(Var(x), Var(Tensor<float>(Shape{1}, 0.5f)), opt);
    CHECK_FALSE(y.requires_grad());
  }
}

TEST_CASE("the scale gradient reaches a log2-domain parameter through exp2", "[quant][fake_quantize]") {
  const Tensor<float> x(Shape{5}, {0.3f, -1.1f, 2.9f, 0.05f, -0.7f});
  const FakeQuantOptions opt = options(IntFormat::signed_bits(4), RoundingMode::nearest_even);
  Var log2_s(Tensor<float>(Shape{1}, -2.0f), true); // s = 0.25
  Var direct(Tensor<float>(Shape{1}, 0.25f), true);
  a2q::quant::fake_quantize(Var(x), a2q::exp2(log2_s), opt).backward(Tensor<float>(Shape{5}, 1.0f));
  a2q::quant::fake_quantize(Var(x), direct, opt).backward(Tensor<float>(Shape{5}, 1.0f));
  CHECK_THAT(log2_s.grad()[0], WithinRel(direct.grad()[0] * 0.25f * std::numbers::ln2_v<float>, 1e-5f));
}

TEST_CASE("exp2 passes the gradient check", "[quant][exp2]") {
  a2q::Rng rng(5);
  const Var t(Tensor<float>::uniform(Shape{2, 3}, -2.0f, 2.0f, rng), true);
  const Var w(Tensor<float>::normal(Shape{2, 3}, 0.0, 1.0, rng));
  const a2q::GradcheckResult r =
      a2q::gradcheck([&](const std::vector<Var>& in) { return a2q::sum(a2q::mul(a2q::exp2(in[0]), w)); }, {t},
                     1e-3, 1e-3, 1e-2);
  INFO(r.worst);
  CHECK(r.ok);
  const Tensor<float> v = a2q::exp2(Var(Tensor<float>(Shape{3}, {-3.0f, 0.0f, 10.0f}))).value();
  CHECK(v == Tensor<float>(Shape{3}, {0.125f, 1.0f, 1024.0f}));
}

TEST_CASE("large tensors: parallel blocks match the reference and do not depend on the thread count",
          "[quant][fake_quantize]") {
  a2q::Rng rng(77);
  const std::vector<Layout> layouts{{Shape{3, 41000}, -1}, {Shape{3, 41000}, 0}, {Shape{40, 3, 1100}, 1}};
  const int threads = a2q::num_threads();
  for (const Layout& layout : layouts) {
    INFO("shape " << layout.shape.to_string() << ", axis " << layout.axis);
    const Tensor<float> x = Tensor<float>::normal(layout.shape, 0.0, 1.0, rng);
    const Tensor<float> g = Tensor<float>::normal(layout.shape, 0.0, 1.0, rng);
    const std::int64_t scales = layout.axis == -1 ? 1 : layout.shape[layout.axis];
    const Tensor<float> s = positive_scales(scales, rng);
    const FakeQuantOptions opt =
        options(IntFormat::unsigned_bits(4), RoundingMode::nearest_even, layout.axis);
    auto run = [&](int n_threads, Tensor<float>& dx, Tensor<float>& ds) {
      a2q::set_num_threads(n_threads);
      Var xv(x, true), sv(s, true);
      const Var y = a2q::quant::fake_quantize(xv, sv, opt);
      y.backward(g);
      dx = xv.grad();
      ds = sv.grad();
      return y.value();
    };
    Tensor<float> dx1, ds1, dx4, ds4;
    const Tensor<float> y1 = run(1, dx1, ds1);
    const Tensor<float> y4 = run(4, dx4, ds4);
    a2q::set_num_threads(threads);
    CHECK(y1 == naive_fake_quantize(x, s, opt).y);
    CHECK(y1 == y4);
    CHECK(dx1 == dx4);
    CHECK(ds1 == ds4);
    const std::vector<double> expected =
        naive_scale_grad(x, s, g, opt, a2q::quant::lsq_grad_factor(x.numel() / scales, opt.format));
    for (std::int64_t c = 0; c < scales; ++c)
      CHECK_THAT(ds1[c], WithinAbs(expected[static_cast<std::size_t>(c)],
                                   1e-3 + 1e-5 * std::abs(expected[static_cast<std::size_t>(c)])));
  }
}

TEST_CASE("learning the scale by LSQ reduces the quantization error", "[quant][fake_quantize]") {
  a2q::Rng rng(3);
  const Tensor<float> x = Tensor<float>::normal(Shape{2000}, 0.0, 1.0, rng);
  // Plain SGD on log2(s) with LSQ's gradient factor left at 1 (the automatic 1/sqrt(2000 * 7) is meant
  // for optimisers that also update the weights).
  FakeQuantOptions opt = options(IntFormat::signed_bits(4), RoundingMode::nearest_even);
  opt.scale_grad_factor = 1.0;
  Var log2_s(Tensor<float>(Shape{1}, -6.0f), true); // far too small: almost everything clips
  auto mse = [&]() {
    const Var err = a2q::sub(a2q::quant::fake_quantize(Var(x), a2q::exp2(log2_s), opt), Var(x));
    return a2q::mean(a2q::mul(err, err));
  };
  const float before = mse().value()[0];
  for (int step = 0; step < 200; ++step) {
    log2_s.zero_grad();
    mse().backward();
    log2_s.value()[0] -= 1.0f * log2_s.grad()[0];
  }
  const float after = mse().value()[0];
  INFO("MSE " << before << " -> " << after << ", scale " << std::exp2(log2_s.value()[0]));
  CHECK(after < 0.1f * before);
  // A 4-bit grid over N(0, 1) data wants a step of roughly 0.3 (the MSE-optimal one is about 0.34).
  CHECK(std::exp2(log2_s.value()[0]) > 0.15f);
  CHECK(std::exp2(log2_s.value()[0]) < 0.6f);
}

TEST_CASE("bad settings and scales are rejected with their values", "[quant][fake_quantize]") {
  const Tensor<float> x(Shape{2, 3}, 0.5f);
  const Var xv(x);
  const FakeQuantOptions per_channel = options(IntFormat::signed_bits(4), RoundingMode::nearest_even, 0);
  const FakeQuantOptions per_tensor = options(IntFormat::signed_bits(4), RoundingMode::nearest_even);

  try {
    a2q::quant::fake_quantize(xv, Var(Tensor<float>(Shape{2}, {0.5f, -0.25f})), per_channel);
    FAIL("no exception");
  } catch (const a2q::config_error& e) {
    const std::string what = e.what();
    CHECK(what.find("channel 1") != std::string::npos);
    CHECK(what.find("-0.25") != std::string::npos);
  }
  CHECK_THROWS_AS(a2q::quant::fake_quantize(xv, Var(Tensor<float>(Shape{1}, 0.0f)), per_tensor),
                  a2q::config_error);
  CHECK_THROWS_AS(a2q::quant::fake_quantize(
                      xv, Var(Tensor<float>(Shape{1}, std::numeric_limits<float>::quiet_NaN())), per_tensor),
                  a2q::numeric_error);
  CHECK_THROWS_AS(a2q::quant::fake_quantize(
                      xv, Var(Tensor<float>(Shape{1}, std::numeric_limits<float>::infinity())), per_tensor),
                  a2q::numeric_error);
  CHECK_THROWS_AS(a2q::quant::quantize_to_int(x, Tensor<float>(Shape{2}, {1.0f, 0.0f}), per_channel),
                  a2q::config_error);

  // Scale sizes and axes.
  CHECK_THROWS_AS(a2q::quant::fake_quantize(xv, Var(Tensor<float>(Shape{3}, 1.0f)), per_channel),
                  a2q::shape_error);
  CHECK_THROWS_AS(a2q::quant::fake_quantize(xv, Var(Tensor<float>(Shape{2}, 1.0f)), per_tensor),
                  a2q::shape_error);
  FakeQuantOptions bad_axis = per_channel;
  bad_axis.channel_axis = 2;
  CHECK_THROWS_AS(a2q::quant::fake_quantize(xv, Var(Tensor<float>(Shape{2}, 1.0f)), bad_axis),
                  a2q::shape_error);
  bad_axis.channel_axis = -2;
  CHECK_THROWS_AS(a2q::quant::fake_quantize(xv, Var(Tensor<float>(Shape{2}, 1.0f)), bad_axis),
                  a2q::shape_error);
  // A per-channel scale may have any shape with the right element count.
  CHECK_NOTHROW(a2q::quant::fake_quantize(xv, Var(Tensor<float>(Shape{2, 1}, 1.0f)), per_channel));

  // Options.
  FakeQuantOptions no_format;
  CHECK_THROWS_AS(a2q::quant::fake_quantize(xv, Var(Tensor<float>(Shape{1}, 1.0f)), no_format),
                  a2q::config_error);
  FakeQuantOptions no_rng = options(IntFormat::signed_bits(4), RoundingMode::stochastic);
  CHECK_THROWS_AS(a2q::quant::fake_quantize(xv, Var(Tensor<float>(Shape{1}, 1.0f)), no_rng),
                  a2q::config_error);
  FakeQuantOptions negative_factor = per_tensor;
  negative_factor.scale_grad_factor = -1.0;
  CHECK_THROWS_AS(a2q::quant::fake_quantize(xv, Var(Tensor<float>(Shape{1}, 1.0f)), negative_factor),
                  a2q::config_error);

  // NaN inputs propagate through fake_quantize but have no integer.
  Tensor<float> with_nan = x;
  with_nan[4] = std::numeric_limits<float>::quiet_NaN();
  const Tensor<float> one(Shape{1}, 1.0f);
  CHECK(std::isnan(a2q::quant::fake_quantize(Var(with_nan), Var(one), per_tensor).value()[4]));
  CHECK_THROWS_AS(a2q::quant::quantize_to_int(with_nan, one, per_tensor), a2q::numeric_error);
  // Infinities saturate.
  Tensor<float> with_inf = x;
  with_inf[0] = std::numeric_limits<float>::infinity();
  with_inf[1] = -std::numeric_limits<float>::infinity();
  const Tensor<std::int32_t> q = a2q::quant::quantize_to_int(with_inf, one, per_tensor);
  CHECK(q[0] == 7);
  CHECK(q[1] == -8);
}

TEST_CASE("empty tensors quantize to empty tensors", "[quant][fake_quantize]") {
  const FakeQuantOptions per_channel = options(IntFormat::signed_bits(4), RoundingMode::nearest_even, 1);
  Var x(Tensor<float>(Shape{0, 3}), true);
  Var s(Tensor<float>(Shape{3}, 1.0f), true);
  const Var y = a2q::quant::fake_quantize(x, s, per_channel);
  CHECK(y.value().numel() == 0);
  y.backward(Tensor<float>(Shape{0, 3}));
  CHECK(s.grad() == Tensor<float>(Shape{3}, 0.0f));
}

TEST_CASE("relu_fake_quantize equals fake_quantize of relu bit for bit, gradients included",
          "[quant][fake]") {
  a2q::Rng rng(71);
  // Large enough for the parallel blocks; per tensor and per channel; every mode, stochastic with the
  // same random state on both sides.
  const Shape shape{4, 8, 60, 61};
  const Tensor<float> xt = Tensor<float>::uniform(shape, -2.0f, 2.0f, rng);
  const Tensor<float> r = Tensor<float>::uniform(shape, -1.0f, 1.0f, rng);
  std::vector<RoundingMode> modes = deterministic_modes;
  modes.push_back(RoundingMode::stochastic);
  for (const int axis : {-1, 1})
    for (const RoundingMode mode : modes) {
      INFO("axis " << axis << ", rounding " << static_cast<int>(mode));
      const Tensor<float> st =
          axis == -1 ? Tensor<float>(Shape{1}, 0.02f) : Tensor<float>::uniform(Shape{8}, 0.005f, 0.03f, rng);
      const auto run = [&](bool fused) {
        a2q::Rng draw(5);
        FakeQuantOptions opt{.format = IntFormat::unsigned_bits(6), .rounding = mode, .channel_axis = axis};
        opt.rng = &draw;
        const Var x(xt, true), s(st, true);
        const Var y = fused ? a2q::quant::relu_fake_quantize(x, s, opt)
                            : a2q::quant::fake_quantize(a2q::relu(x), s, opt);
        a2q::sum(a2q::mul(y, Var(r))).backward();
        return std::vector<Tensor<float>>{y.value(), x.grad(), s.grad()};
      };
      const auto composed = run(false);
      const auto fused = run(true);
      REQUIRE(fused[0] == composed[0]);
      REQUIRE(fused[1] == composed[1]);
      REQUIRE(fused[2] == composed[2]);
      // Both masks were exercised: negative inputs and clipped ones got no gradient, the others did.
      std::int64_t passed = 0;
      for (float d : fused[1])
        passed += d != 0.0f ? 1 : 0;
      CHECK(passed > 0);
      CHECK(passed < xt.numel() / 2);
    }
  // The bypass clips relu(x) like fake_quantize does.
  const FakeQuantOptions opt{.format = IntFormat::unsigned_bits(3)};
  const Var s(Tensor<float>(Shape{1}, 0.1f));
  a2q::NoGradGuard no_grad;
  a2q::quant::QuantizationBypass bypass;
  CHECK(a2q::quant::relu_fake_quantize(Var(xt), s, opt).value() ==
        a2q::quant::fake_quantize(a2q::relu(Var(xt)), s, opt).value());
}
