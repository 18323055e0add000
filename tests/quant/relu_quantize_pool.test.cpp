// Tests for a2q/quant/relu_quantize_pool.hpp: the fused ReLU + fake quantizer + max pooling, alone and
// after a convolution, against the composition of relu, fake_quantize and max_pool2d (values bit for bit,
// the input gradient bit for bit, the scale and weight gradients to rounding), on coarse grids where ties
// and clipping are common; thread counts, the bypass, the checks, and nn::Sequential's use of it.

#include "a2q/quant/relu_quantize_pool.hpp"

#include "a2q/autograd/conv.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/pool.hpp"
#include "a2q/core/parallel.hpp"
#include "a2q/models/quant_zoo.hpp"
#include "a2q/nn/act_quant.hpp"
#include "a2q/nn/module.hpp"
#include "a2q/quant/bypass.hpp"
#include "a2q/quant/fake_quantize.hpp"

#include "../autograd/conv_pool_cases.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;
using a2q::quant::FakeQuantOptions;
using a2q::quant::IntFormat;
using a2q::quant::RoundingMode;
using a2q_test::conv_pool_cases;
using a2q_test::ConvPoolCase;

namespace {

struct PoolCase {
  const char* name;
  Shape shape;
  int kernel, stride, padding;
};

const std::vector<PoolCase>& pool_cases() {
  static const std::vector<PoolCase> all = {
      {"2x2, stride 2", Shape{3, 4, 28, 28}, 2, 2, 0},
      {"2x2, stride 2, odd sizes", Shape{2, 3, 13, 11}, 2, 2, 0},
      {"3x3, stride 2, padded (overlapping)", Shape{2, 3, 12, 10}, 3, 2, 1},
      {"2x2, stride 1 (overlapping)", Shape{2, 2, 9, 8}, 2, 1, 0},
      {"4x4, stride 3 (any kernel size)", Shape{2, 2, 14, 13}, 4, 3, 2},
  };
  return all;
}

struct GridCase {
  const char* name;
  IntFormat format;
  float scale;
};

// Coarse grids: many windows hold several elements on the same integer (ties) or clipped to qmax, so the
// first of the largest quantized values is often not the largest raw value.
const std::vector<GridCase>& grid_cases() {
  static const std::vector<GridCase> all = {
      {"unsigned 3 bits", IntFormat::unsigned_bits(3), 0.1f},
      {"unsigned 8 bits", IntFormat::unsigned_bits(8), 1.0f / 200.0f},
      {"signed 4 bits", IntFormat::signed_bits(4), 0.15f},
  };
  return all;
}

const std::vector<RoundingMode> deterministic_modes{
    RoundingMode::nearest_even, RoundingMode::half_away_from_zero, RoundingMode::toward_zero,
    RoundingMode::floor, RoundingMode::ceil};

/// Uniform values in [-1, 1], a fifth of them repeated from their left neighbour (exact ties).
Tensor<float> with_ties(const Shape& shape, a2q::Rng& rng) {
  Tensor<float> t = Tensor<float>::uniform(shape, -1.0f, 1.0f, rng);
  for (std::int64_t i = 1; i < t.numel(); ++i)
    if (rng.uniform01() < 0.2)
      t[i] = t[i - 1];
  return t;
}

struct Results {
  Tensor<float> y, dx, ds, dw, db;
};

Results run_pool(bool fused, const Tensor<float>& xt, float scale, const FakeQuantOptions& opt,
                 const PoolCase& c, const Tensor<float>& r) {
  const Var x(xt, true);
  const Var s(Tensor<float>(Shape{1}, scale), true);
  const Var y =
      fused ? a2q::quant::relu_quantize_max_pool2d(x, s, opt, c.kernel, c.stride, c.padding)
            : a2q::max_pool2d(a2q::quant::fake_quantize(a2q::relu(x), s, opt), c.kernel, c.stride, c.padding);
  if (r.numel() > 0)
    a2q::sum(a2q::mul(y, Var(r))).backward();
  return {y.value(), x.grad(), s.grad(), {}, {}};
}

void require_equal(const Tensor<float>& a, const Tensor<float>& b) {
  REQUIRE(a.shape() == b.shape());
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    INFO("element " << i);
    REQUIRE(a[i] == b[i]);
  }
}

void require_close(const Tensor<float>& a, const Tensor<float>& b, float tolerance) {
  REQUIRE(a.shape() == b.shape());
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    INFO("element " << i);
    REQUIRE(std::abs(a[i] - b[i]) <= tolerance * (1.0f + std::abs(b[i])));
  }
}

std::int64_t nonzero_count(const Tensor<float>& t) {
  std::int64_t count = 0;
  for (float v : t)
    count += v != 0.0f ? 1 : 0;
  return count;
}

} // namespace

TEST_CASE("relu_quantize_max_pool2d equals relu, fake_quantize and max_pool2d", "[quant][pool]") {
  a2q::Rng rng(401);
  for (const PoolCase& c : pool_cases())
    for (const GridCase& g : grid_cases())
      for (const RoundingMode mode : deterministic_modes) {
        INFO(c.name << ", " << g.name << ", rounding " << static_cast<int>(mode));
        const Tensor<float> xt = with_ties(c.shape, rng);
        FakeQuantOptions opt{.format = g.format, .rounding = mode};
        const Results composed = run_pool(false, xt, g.scale, opt, c, Tensor<float>());
        const Tensor<float> r = Tensor<float>::uniform(composed.y.shape(), -1.0f, 1.0f, rng);
        const Results a = run_pool(false, xt, g.scale, opt, c, r);
        const Results b = run_pool(true, xt, g.scale, opt, c, r);
        require_equal(b.y, a.y);
        require_equal(b.dx, a.dx);
        require_close(b.ds, a.ds, 1e-5f);
        CHECK(nonzero_count(b.dx) > 0); // some gradient reached the input
      }
}

TEST_CASE("relu_quantize_max_pool2d routes each window's gradient to its first largest quantized value",
          "[quant][pool]") {
  // One window [0.62, 0.95; -0.3, 0.66] on the grid 0.1 · {0..7}: 0.62 -> 0.6, 0.95 -> 0.7 (clipped),
  // 0.66 -> 0.7. The first largest quantized value is 0.95's, clipped: no input gradient, and the scale
  // gets the clipped element's LSQ term q = 7. (The largest raw value is the same element here; swap the
  // clipped one to the end to see the first 0.7 win instead.)
  const FakeQuantOptions opt{.format = IntFormat::unsigned_bits(3), .scale_grad_factor = 1.0};
  const auto window = [&](std::vector<float> values) {
    const Var x(Tensor<float>(Shape{1, 1, 2, 2}, values), true);
    const Var s(Tensor<float>(Shape{1}, 0.1f), true);
    const Var y = a2q::quant::relu_quantize_max_pool2d(x, s, opt, 2, 2);
    y.backward(Tensor<float>(Shape{1, 1, 1, 1}, 1.0f));
    return std::vector<Tensor<float>>{y.value(), x.grad(), s.grad()};
  };
  const auto clipped_first = window({0.62f, 0.95f, -0.3f, 0.66f});
  CHECK(clipped_first[0][0] == 0.1f * 7.0f);
  CHECK(clipped_first[1] == Tensor<float>(Shape{1, 1, 2, 2}, {0.0f, 0.0f, 0.0f, 0.0f}));
  CHECK(clipped_first[2][0] == 7.0f);
  // [0.66, 0.62; -0.3, 0.95]: 0.66 comes first with q = 7 and lies inside: it gets the gradient, and the
  // scale q - u = 7 - 6.6.
  const auto inside_first = window({0.66f, 0.62f, -0.3f, 0.95f});
  CHECK(inside_first[1] == Tensor<float>(Shape{1, 1, 2, 2}, {1.0f, 0.0f, 0.0f, 0.0f}));
  CHECK_THAT(inside_first[2][0], Catch::Matchers::WithinAbs(7.0 - 0.66 / 0.1, 1e-5));
  // All negative: the ReLU's zeros tie, the first wins and has no gradient (x <= 0).
  const auto negative = window({-0.5f, -0.1f, -0.2f, -0.9f});
  CHECK(negative[0][0] == 0.0f);
  CHECK(negative[1] == Tensor<float>(Shape{1, 1, 2, 2}, {0.0f, 0.0f, 0.0f, 0.0f}));
  CHECK(negative[2][0] == 0.0f);
}

namespace {

/// need_dx false: the input takes no gradient, as an image's first layer (dx comes back empty).
Results run_conv(bool fused, const ConvPoolCase& c, const Tensor<float>& xt, const Tensor<float>& wt,
                 const Tensor<float>& bt, float scale, const FakeQuantOptions& opt, const Tensor<float>& r,
                 bool need_dx = true) {
  const Var x(xt, need_dx), w(wt, true), b = c.bias ? Var(bt, true) : Var();
  const Var s(Tensor<float>(Shape{1}, scale), true);
  const Var y =
      fused ? a2q::quant::conv2d_relu_quantize_max_pool2d(x, w, b, c.conv, s, opt, c.pool_kernel,
                                                          c.pool_stride, c.pool_padding)
            : a2q::max_pool2d(a2q::quant::fake_quantize(a2q::relu(a2q::conv2d(x, w, b, c.conv)), s, opt),
                              c.pool_kernel, c.pool_stride, c.pool_padding);
  if (r.numel() > 0)
    a2q::sum(a2q::mul(y, Var(r))).backward();
  return {y.value(), need_dx ? x.grad() : Tensor<float>(), s.grad(), w.grad(),
          c.bias ? b.grad() : Tensor<float>()};
}

} // namespace

TEST_CASE("conv2d_relu_quantize_max_pool2d equals conv2d, relu, fake_quantize and max_pool2d",
          "[quant][pool][conv]") {
  a2q::Rng rng(409);
  for (const ConvPoolCase& c : conv_pool_cases()) {
    INFO(c.name);
    const Tensor<float> xt = Tensor<float>::uniform(Shape{c.n, c.c_in, c.h, c.w}, -1.0f, 1.0f, rng);
    const Tensor<float> wt =
        Tensor<float>::uniform(Shape{c.c_out, c.c_in / c.conv.groups, c.k, c.k}, -0.3f, 0.3f, rng);
    const Tensor<float> bt = Tensor<float>::uniform(Shape{c.c_out}, -0.2f, 0.2f, rng);
    const FakeQuantOptions opt{.format = IntFormat::unsigned_bits(4)};
    const float scale = 0.08f; // clips the largest outputs
    const Results plain = run_conv(false, c, xt, wt, bt, scale, opt, Tensor<float>());
    const Tensor<float> r = Tensor<float>::uniform(plain.y.shape(), -1.0f, 1.0f, rng);
    const Results a = run_conv(false, c, xt, wt, bt, scale, opt, r);
    const Results b = run_conv(true, c, xt, wt, bt, scale, opt, r);
    require_equal(b.y, a.y);
    require_close(b.dx, a.dx, 1e-5f);
    require_close(b.dw, a.dw, 1e-5f);
    if (c.bias)
      require_close(b.db, a.db, 1e-5f);
    require_close(b.ds, a.ds, 1e-5f);
    // Without the input gradient (the first layer's single channel then takes the windows' argmax).
    const Results weights_only = run_conv(true, c, xt, wt, bt, scale, opt, r, false);
    require_close(weights_only.dw, a.dw, 1e-5f);
    if (c.bias)
      require_close(weights_only.db, a.db, 1e-5f);
    require_close(weights_only.ds, a.ds, 1e-5f);
    // The grid clipped some outputs and zeroed others.
    std::int64_t clipped = 0, zeros = 0;
    for (float v : b.y) {
      clipped += v == scale * 15.0f ? 1 : 0;
      zeros += v == 0.0f ? 1 : 0;
    }
    CHECK(clipped > 0);
    CHECK(zeros > 0);
  }
}

#ifdef _OPENMP
TEST_CASE("relu_quantize_max_pool2d and its convolution give the same results on one and several threads",
          "[quant][pool][threads]") {
  const int saved = a2q::num_threads();
  a2q::Rng rng(419);
  const FakeQuantOptions opt{.format = IntFormat::unsigned_bits(3)};
  const PoolCase& p = pool_cases()[0];
  const Tensor<float> xt = with_ties(p.shape, rng);
  const Tensor<float> r = Tensor<float>::uniform(Shape{3, 4, 14, 14}, -1.0f, 1.0f, rng);
  a2q::set_num_threads(1);
  const Results one = run_pool(true, xt, 0.1f, opt, p, r);
  a2q::set_num_threads(3);
  const Results three = run_pool(true, xt, 0.1f, opt, p, r);
  require_equal(three.y, one.y);
  require_equal(three.dx, one.dx);
  require_equal(three.ds, one.ds); // summed in plane order on any number of threads

  const ConvPoolCase& c = conv_pool_cases()[1];
  const Tensor<float> cx = Tensor<float>::uniform(Shape{c.n, c.c_in, c.h, c.w}, -1.0f, 1.0f, rng);
  const Tensor<float> cw = Tensor<float>::uniform(Shape{c.c_out, c.c_in, c.k, c.k}, -0.3f, 0.3f, rng);
  const Tensor<float> cr = Tensor<float>::uniform(Shape{c.n, c.c_out, 7, 7}, -1.0f, 1.0f, rng);
  a2q::set_num_threads(1);
  const Results conv_one = run_conv(true, c, cx, cw, Tensor<float>(), 0.1f, opt, cr);
  a2q::set_num_threads(3);
  const Results conv_three = run_conv(true, c, cx, cw, Tensor<float>(), 0.1f, opt, cr);
  a2q::set_num_threads(saved);
  require_equal(conv_three.y, conv_one.y);
  require_close(conv_three.dx, conv_one.dx, 1e-6f);
  require_close(conv_three.dw, conv_one.dw, 1e-5f);
  require_equal(conv_three.ds, conv_one.ds);
  CHECK(a2q::num_threads() == saved);
}
#endif

TEST_CASE("relu_quantize_max_pool2d under the quantization bypass clips like fake_quantize",
          "[quant][pool]") {
  a2q::Rng rng(421);
  const Tensor<float> xt = Tensor<float>::uniform(Shape{2, 2, 6, 6}, -1.0f, 1.0f, rng);
  const FakeQuantOptions opt{.format = IntFormat::unsigned_bits(3)};
  const Var s(Tensor<float>(Shape{1}, 0.1f));
  a2q::NoGradGuard no_grad;
  a2q::quant::QuantizationBypass bypass;
  const Var fused = a2q::quant::relu_quantize_max_pool2d(Var(xt), s, opt, 2, 2);
  const Var composed = a2q::max_pool2d(a2q::quant::fake_quantize(a2q::relu(Var(xt)), s, opt), 2, 2, 0);
  require_equal(fused.value(), composed.value());
  std::int64_t off_grid = 0; // the bypass keeps values between the grid's points
  for (float v : fused.value())
    off_grid += std::abs(v / 0.1f - std::nearbyint(v / 0.1f)) > 1e-3f ? 1 : 0;
  CHECK(off_grid > 0);
}

TEST_CASE("relu_quantize_max_pool2d rejects bad scales, options and windows", "[quant][pool]") {
  a2q::Rng rng(431);
  const Var x(Tensor<float>::uniform(Shape{2, 3, 8, 8}, -1.0f, 1.0f, rng));
  const Var w(Tensor<float>::uniform(Shape{4, 3, 3, 3}, -1.0f, 1.0f, rng));
  const Var s(Tensor<float>(Shape{1}, 0.1f));
  const FakeQuantOptions opt{.format = IntFormat::unsigned_bits(8)};
  const auto message = [](const auto& call) {
    try {
      call();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  using a2q::quant::conv2d_relu_quantize_max_pool2d;
  using a2q::quant::relu_quantize_max_pool2d;
  FakeQuantOptions stochastic = opt;
  stochastic.rounding = RoundingMode::stochastic;
  CHECK(message([&] {
          relu_quantize_max_pool2d(x, s, stochastic, 2, 2);
        }).find("relu_quantize_max_pool2d: stochastic rounding") != std::string::npos);
  CHECK_THROWS_AS(conv2d_relu_quantize_max_pool2d(x, w, Var(), {}, s, stochastic, 2, 2), a2q::config_error);
  FakeQuantOptions per_channel = opt;
  per_channel.channel_axis = 1;
  CHECK_THROWS_AS(relu_quantize_max_pool2d(x, Var(Tensor<float>(Shape{3}, 0.1f)), per_channel, 2, 2),
                  a2q::config_error);
  CHECK_THROWS_AS(relu_quantize_max_pool2d(x, Var(Tensor<float>(Shape{2}, 0.1f)), opt, 2, 2),
                  a2q::shape_error);
  CHECK_THROWS_AS(relu_quantize_max_pool2d(x, Var(Tensor<float>(Shape{1}, 0.0f)), opt, 2, 2),
                  a2q::config_error);
  CHECK(message([&] {
          relu_quantize_max_pool2d(x, Var(Tensor<float>(Shape{1}, std::numeric_limits<float>::quiet_NaN())),
                                   opt, 2, 2);
        }).find("relu_quantize_max_pool2d: the scale is nan") != std::string::npos);
  CHECK_THROWS_AS(relu_quantize_max_pool2d(x, s, FakeQuantOptions{}, 2, 2), a2q::config_error); // no format
  CHECK_THROWS_AS(relu_quantize_max_pool2d(x, s, opt, 9, 1), a2q::shape_error);
  CHECK_THROWS_AS(relu_quantize_max_pool2d(x, s, opt, 2, 2, 2), a2q::config_error);
  CHECK(message([&] {
          conv2d_relu_quantize_max_pool2d(x, w, Var(Tensor<float>(Shape{5}, 0.0f)), {}, s, opt, 2, 2);
        }).find("conv2d_relu_quantize_max_pool2d: bias [5]") != std::string::npos);
  CHECK_NOTHROW(conv2d_relu_quantize_max_pool2d(x, w, Var(), {1, 1, 1}, s, opt, 2, 2));
}

namespace {

/// The names of the operations in y's graph.
std::vector<std::string> ops(const Var& y) {
  std::vector<std::string> names;
  std::vector<const a2q::detail::Node*> todo{y.node().get()};
  while (!todo.empty()) {
    const a2q::detail::Node* node = todo.back();
    todo.pop_back();
    names.emplace_back(node->op);
    for (const auto& in : node->inputs)
      todo.push_back(in.get());
  }
  return names;
}

bool has(const std::vector<std::string>& names, const std::string& op) {
  return std::find(names.begin(), names.end(), op) != names.end();
}

/// Every parameter's gradient of the sum of y, then of the sum of h (both built from the same model).
std::pair<std::vector<Tensor<float>>, std::vector<Tensor<float>>> gradients(std::vector<Var> params,
                                                                            const Var& y, const Var& h) {
  std::vector<Tensor<float>> of_y, of_h;
  for (const Var* out : {&y, &h}) {
    out->backward(Tensor<float>(out->shape(), 1.0f));
    for (Var& p : params) {
      (out == &y ? of_y : of_h).push_back(p.grad());
      p.zero_grad();
    }
  }
  return {of_y, of_h};
}

} // namespace

TEST_CASE("Sequential fuses a quantized convolution, a ReLU, a calibrated ActQuant and max pooling",
          "[quant][pool][nn]") {
  a2q::Rng rng(433);
  a2q::models::QuantPolicy policy;
  policy.method = a2q::quant::QuantMethod::a2q_plus;
  auto model = a2q::models::quant_mnist_cnn(policy, rng);
  const Var x(Tensor<float>::uniform(Shape{6, 1, 28, 28}, 0.0f, 1.0f, rng));
  // While the activation quantizers calibrate, the layers run one by one.
  model->train();
  const Var calibrating = model->forward(x);
  CHECK_FALSE(has(ops(calibrating), "conv2d_relu_quantize_max_pool2d"));
  for (int i = 0; i < 8; ++i)
    model->forward(x);
  const Var y = model->forward(x);
  const std::vector<std::string> fused_ops = ops(y);
  CHECK(has(fused_ops, "conv2d_relu_quantize_max_pool2d"));
  CHECK_FALSE(has(fused_ops, "max_pool2d"));
  // Layer by layer, nothing is fused: the same values and gradients.
  Var h = x;
  for (std::size_t i = 0; i < model->size(); ++i)
    h = (*model)[i](h);
  CHECK_FALSE(has(ops(h), "conv2d_relu_quantize_max_pool2d"));
  require_equal(y.value(), h.value());
  const auto [fused, composed] = gradients(model->parameters(), y, h);
  std::int64_t scales = 0;
  for (std::size_t i = 0; i < fused.size(); ++i) {
    INFO("parameter " << i);
    require_close(fused[i], composed[i], 1e-4f);
    scales += composed[i].numel() == 1 && composed[i][0] != 0.0f ? 1 : 0;
  }
  CHECK(scales > 0); // the activation scales got gradients
}

TEST_CASE("Sequential fuses a ReLU and a calibrated ActQuant", "[quant][nn]") {
  a2q::Rng rng(439);
  a2q::models::QuantPolicy policy;
  policy.method = a2q::quant::QuantMethod::a2q_plus;
  auto model = a2q::models::quant_mnist_mlp(policy, rng);
  const Var x(Tensor<float>::uniform(Shape{16, 1, 28, 28}, 0.0f, 1.0f, rng));
  model->train();
  CHECK_FALSE(has(ops(model->forward(x)), "relu_fake_quantize")); // calibrating: one by one
  for (int i = 0; i < 8; ++i)
    model->forward(x);
  const Var y = model->forward(x);
  CHECK(has(ops(y), "relu_fake_quantize"));
  CHECK_FALSE(has(ops(y), "relu"));
  Var h = x;
  for (std::size_t i = 0; i < model->size(); ++i)
    h = (*model)[i](h);
  CHECK(has(ops(h), "relu"));
  require_equal(y.value(), h.value());
  const auto [fused, composed] = gradients(model->parameters(), y, h);
  for (std::size_t i = 0; i < fused.size(); ++i) {
    INFO("parameter " << i);
    require_equal(fused[i], composed[i]); // bit for bit
  }
}
