#include "a2q/autograd/gradcheck.hpp"
#include "a2q/autograd/loss.hpp"
#include "a2q/engine/simulate.hpp"
#include "a2q/io/int_weights_json.hpp"

#include "a2q/models/quant_zoo.hpp"
#include "a2q/optim/adam.hpp"
#include "a2q/optim/sgd.hpp"
#include "a2q/quant/a2q_init.hpp"
#include "a2q/quant/a2q_penalty.hpp"
#include <nlohmann/json.hpp>

#include <sstream>

#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;
using a2q::nn::BiasMode;
using a2q::nn::LayerQuantConfig;
using a2q::quant::IntFormat;
using a2q::quant::QuantMethod;

namespace {

struct Case {
  QuantMethod method;
  int P, N, M;
  bool input_signed, per_channel, conv, depthwise;
  BiasMode bias_mode;
};

Case random_case(a2q::Rng& rng) {
  Case c{};
  const QuantMethod methods[] = {QuantMethod::a2q, QuantMethod::a2q_plus, QuantMethod::a2q_split};
  c.method = methods[rng.uniform_int(0, 2)];
  c.N = static_cast<int>(rng.uniform_int(2, 8));
  c.M = static_cast<int>(rng.uniform_int(2, 8));
  c.input_signed = rng.bernoulli(0.5);
  // P in 8..32, but with room for at least one unit of weight (budget >= 1).
  c.P = static_cast<int>(rng.uniform_int(std::max(8, c.N + 3), 32));
  c.per_channel = rng.bernoulli(0.7);
  const auto kind = rng.uniform_int(0, 2);
  c.conv = kind > 0;
  c.depthwise = kind == 2;
  c.bias_mode = rng.bernoulli(0.5) ? BiasMode::in_accumulator : BiasMode::after_accumulation;
  return c;
}

// An input quantizer with a fixed scale, standing in for the layer that feeds the tested one.
a2q::nn::ActQuantOptions input_options(const Case& c) {
  a2q::nn::ActQuantOptions o;
  o.format = c.input_signed ? IntFormat::signed_bits(c.N) : IntFormat::unsigned_bits(c.N);
  o.fixed_scale = 0.05f;
  return o;
}

struct Harness {
  std::unique_ptr<a2q::nn::ActQuant> input;
  std::unique_ptr<a2q::nn::QuantLayer> layer;
  Shape input_shape;
};

Harness make_layer(const Case& c, a2q::Rng& rng, std::optional<a2q::quant::RoundingMode> rounding = {}) {
  Harness h;
  h.input = std::make_unique<a2q::nn::ActQuant>(input_options(c));
  LayerQuantConfig cfg;
  cfg.method = c.method;
  cfg.weight_bits = c.M;
  cfg.accumulator_bits = c.P;
  cfg.per_channel_scale = c.per_channel;
  cfg.bias_mode = c.bias_mode;
  cfg.rounding = rounding;
  if (!c.conv) {
    h.layer = std::make_unique<a2q::nn::QuantLinear>(48, 6, rng, cfg, *h.input);
    h.input_shape = Shape{8, 48};
  } else if (!c.depthwise) {
    h.layer = std::make_unique<a2q::nn::QuantConv2d>(
        4, 6, 3, rng, cfg, *h.input, a2q::Conv2dOptions{.stride = 1, .padding = 1, .groups = 2});
    h.input_shape = Shape{4, 4, 5, 5};
  } else {
    h.layer = std::make_unique<a2q::nn::QuantConv2d>(
        6, 6, 3, rng, cfg, *h.input, a2q::Conv2dOptions{.stride = 1, .padding = 1, .groups = 6});
    h.input_shape = Shape{4, 6, 5, 5};
  }
  return h;
}

// Every channel's exact worst case (sign split, bias included where it starts the accumulator) fits P.
bool all_channels_fit(const a2q::nn::IntegerLayer& layer, int P) {
  for (std::int64_t c = 0; c < layer.out_channels; ++c)
    if (layer.required_bits(c) > P)
      return false;
  return true;
}

} // namespace

TEST_CASE("A2Q, A2Q+ and A2Q-split layers fit their accumulator after every optimizer step",
          "[qat][a2q][property]") {
  a2q::Rng rng(2024);
  const int cases = 40;
  for (int trial = 0; trial < cases; ++trial) {
    const Case c = random_case(rng);
    INFO("trial " << trial << ": " << a2q::quant::to_string(c.method) << " P=" << c.P << " N=" << c.N << " M="
                  << c.M << (c.input_signed ? " signed" : " unsigned") << (c.conv ? " conv" : " linear")
                  << (c.depthwise ? " depthwise" : "") << (c.per_channel ? " per-channel" : " per-tensor")
                  << (c.bias_mode == BiasMode::in_accumulator ? " bias-in-acc" : ""));
    Harness h = make_layer(c, rng);
    // Big learning rate so the weights move a lot; the bias grows to test its budget too.
    a2q::Adam opt(h.layer->parameters(), {.lr = 0.05});
    for (int step = 0; step < 12; ++step) {
      const Var x = (*h.input)(Var(Tensor<float>::normal(h.input_shape, 0.0, 2.0, rng)));
      const Var y = h.layer->forward(x);
      const Var target(Tensor<float>::normal(y.shape(), 0.0, 50.0, rng));
      Var loss = a2q::mse_loss(y, target);
      if (const Var p = h.layer->penalty(); p.defined())
        loss = a2q::add(loss, p);
      opt.zero_grad();
      loss.backward();
      opt.step();
      const a2q::nn::IntegerLayer ints = h.layer->integer_layer("layer");
      REQUIRE(all_channels_fit(ints, c.P));
      // The fake-quantized weight is exactly scale times these integers.
      const auto [w, b] = std::pair{h.layer->weight_quant.effective(h.layer->bias_reservation()), 0};
      for (std::int64_t ch = 0; ch < ints.out_channels; ++ch)
        for (std::int64_t i = 0; i < ints.fan_in; ++i)
          REQUIRE(w.value()[ch * ints.fan_in + i] ==
                  ints.weight_scale[static_cast<std::size_t>(ch)] *
                      static_cast<float>(ints.channel(ch)[static_cast<std::size_t>(i)]));
    }
  }
}

TEST_CASE("negative control: the same layers with round-to-nearest overflow", "[qat][a2q][negative]") {
  a2q::Rng rng(77);
  int violations = 0, total = 0;
  for (int trial = 0; trial < 40; ++trial) {
    Case c = random_case(rng);
    c.bias_mode = BiasMode::after_accumulation;
    c.M = 8;
    Harness h = make_layer(c, rng, a2q::quant::RoundingMode::nearest_even);
    const a2q::nn::IntegerLayer ints = h.layer->integer_layer("layer");
    for (std::int64_t ch = 0; ch < ints.out_channels; ++ch) {
      ++total;
      violations += ints.required_bits(ch) > c.P;
    }
    // The same layer with round-toward-zero (the real configuration) never does.
    Harness safe = make_layer(c, rng);
    REQUIRE(all_channels_fit(safe.layer->integer_layer("layer"), c.P));
  }
  INFO(violations << " of " << total << " channels overflow with round-to-nearest");
  CHECK(violations * 50 > total); // a measurable fraction (here about 6%)
}

TEST_CASE("the worst-case input really overflows an over-budget channel", "[qat][a2q][negative]") {
  // Adversarial inputs on integers, accumulated exactly in int64 and compared with the P-bit range.
  const int P = 16;
  const std::int64_t limit = (std::int64_t{1} << (P - 1)) - 1;
  auto dot = [](const std::vector<std::int32_t>& q, std::int64_t x) {
    std::int64_t acc = 0;
    for (std::int32_t w : q)
      acc += x * w;
    return acc;
  };
  // Signed 8-bit inputs: T = floor(32767 / 128) = 255 units of negative weight fit at x = -128; one more
  // overflows.
  const int T_signed = static_cast<int>(std::floor(a2q::a2q_l1_limit(P, 8, true)));
  std::vector<std::int32_t> q(300, 0);
  for (int i = 0; i < T_signed; ++i)
    q[static_cast<std::size_t>(i)] = -1;
  CHECK(dot(q, -128) <= limit);
  CHECK(a2q::required_accumulator_bits(q, IntFormat::signed_bits(8).range()) <= P);
  q[299] = -1;
  CHECK(dot(q, -128) > limit);
  CHECK(a2q::required_accumulator_bits(q, IntFormat::signed_bits(8).range()) > P);

  // Unsigned 8-bit inputs: T is conservative by 256/255; the exact threshold is floor(32767/255) = 128
  // positive units at x = 255, and 129 overflow.
  std::vector<std::int32_t> p(200, 0);
  for (int i = 0; i < 128; ++i)
    p[static_cast<std::size_t>(i)] = 1;
  CHECK(dot(p, 255) <= limit);
  p[150] = 1;
  CHECK(dot(p, 255) > limit);
  CHECK(a2q::required_accumulator_bits(p, IntFormat::unsigned_bits(8).range()) > P);
}

TEST_CASE("A2Q+ centres each channel before rounding", "[qat][a2q+]") {
  a2q::Rng rng(3);
  const Tensor<float> v = Tensor<float>::normal(Shape{5, 40}, 0.3, 1.0, rng); // deliberately not centred
  const a2q::quant::A2QWeightSpec spec{.method = QuantMethod::a2q_plus,
                                       .weight_bits = 8,
                                       .input_bits = 4,
                                       .input_signed = false,
                                       .accumulator_bits = 14};
  const std::vector<float> g(5, 100.0f), s(5, 1.0f);
  const auto f = a2q::detail::a2q_forward(v, g, s, spec, {});
  for (std::size_t c = 0; c < 5; ++c) {
    double sum = 0.0, positive = 0.0, negative = 0.0;
    for (std::size_t i = 0; i < 40; ++i) {
      const double z = f.centred[c * 40 + i] * f.g_prime[c] / f.norm[c];
      sum += f.centred[c * 40 + i];
      (z > 0 ? positive : negative) += std::abs(z);
    }
    CHECK(std::abs(sum) < 1e-9);
    CHECK(std::abs(positive - negative) < 1e-9); // A = B before rounding
    CHECK(positive <= a2q::a2q_plus_l1_limit(14, 4) / 2 + 1e-9);
  }
}

TEST_CASE("A2Q-split bounds each channel by its own sign-split worst case and keeps its mean",
          "[qat][a2q-split]") {
  const int P = 12, N = 4; // a budget below K·(2^(M-1)-1), so no weight saturates
  for (const bool input_signed : {false, true}) {
    const double T = a2q::quant::l1_budget(QuantMethod::a2q, P, N, input_signed);
    const double Z = a2q::quant::l1_budget(QuantMethod::a2q_plus, P, N, input_signed);
    // A balanced direction gets A2Q+'s Z; every direction at least A2Q's T.
    CHECK(a2q::quant::sign_split_budget(P, N, input_signed, 0.5) == Approx(Z));
    for (const double share : {0.0, 0.2, 0.5, 0.7, 1.0}) {
      const double budget = a2q::quant::sign_split_budget(P, N, input_signed, share);
      CHECK(budget >= T * (1 - 1e-12));
      CHECK(budget <= Z * (1 + 1e-12));
    }
  }
  a2q::Rng rng(6);
  const Tensor<float> v = Tensor<float>::normal(Shape{6, 9}, 0.4, 1.0, rng); // a positive mean, as a blur
  const std::vector<float> g(6, 1e4f), s(6, 1.0f);                           // far above any budget
  const a2q::InputRange x = IntFormat::unsigned_bits(N).range();
  const std::int64_t limit = (std::int64_t{1} << (P - 1)) - 1;
  a2q::quant::A2QWeightSpec spec{.method = QuantMethod::a2q_split,
                                 .weight_bits = 8,
                                 .input_bits = N,
                                 .input_signed = false,
                                 .accumulator_bits = P};
  const auto split = a2q::detail::a2q_forward(v, g, s, spec, {});
  spec.method = QuantMethod::a2q;
  const auto plain = a2q::detail::a2q_forward(v, g, s, spec, {});
  int unbalanced = 0;
  for (std::size_t c = 0; c < 6; ++c) {
    const std::span<const std::int32_t> q(split.q.data() + c * 9, 9);
    const a2q::AccumulatorRange worst = a2q::worst_case_accumulator(q, x);
    CHECK(worst.hi <= limit);
    CHECK(worst.lo >= -limit - 1);
    std::int64_t sum = 0, l1 = 0, plain_l1 = 0;
    double float_sum = 0.0;
    for (std::size_t i = 0; i < 9; ++i) {
      float_sum += v[static_cast<std::int64_t>(c * 9 + i)];
      sum += q[i];
      l1 += std::abs(q[i]);
      plain_l1 += std::abs(plain.q[c * 9 + i]);
    }
    CHECK(sum != 0); // not zero-centred: the kernel still passes its input's mean, with its sign
    CHECK((sum > 0) == (float_sum > 0));
    CHECK(l1 >= plain_l1); // at least A2Q's budget for the same direction
    // Negative control: the same direction given A2Q+'s budget Z (sound only for centred channels) overflows.
    std::vector<std::int32_t> over(9);
    const double Z = a2q::quant::l1_budget(QuantMethod::a2q_plus, P, N, false);
    for (std::size_t i = 0; i < 9; ++i)
      over[i] = static_cast<std::int32_t>(std::trunc(Z * split.centred[c * 9 + i] / split.norm[c]));
    if (split.g_prime[c] < Z * 0.98) { // an unbalanced channel
      ++unbalanced;
      CHECK(a2q::worst_case_accumulator(over, x).hi > limit);
    }
  }
  CHECK(unbalanced >= 3); // the negative control ran
}

TEST_CASE("A2Q weight gradients are the straight-through gradients", "[qat][a2q][ste]") {
  // Surrogate: the rounding linearised with slope 1 around the current point (q = q0 + z - z0), with
  // saturation and clamp flags held fixed. Its finite differences must equal the fused operation's
  // gradient, including the LSQ-style scale term q - z.
  a2q::Rng rng(4);
  for (QuantMethod method : {QuantMethod::a2q, QuantMethod::a2q_plus, QuantMethod::a2q_split}) {
    for (double log2_g0 : {2.0, 9.0}) { // unclamped and clamped norm
      const a2q::quant::A2QWeightSpec spec{
          .method = method, .weight_bits = 4, .input_bits = 4, .input_signed = false, .accumulator_bits = 12};
      const Var v(Tensor<float>::normal(Shape{3, 7}, 0.0, 1.0, rng), true);
      const Var lg(
          Tensor<float>(Shape{3}, {static_cast<float>(log2_g0), static_cast<float>(log2_g0 - 0.5), 1.5f}),
          true);
      const Var ls(Tensor<float>(Shape{3}, {-1.0f, -0.5f, 0.0f}), true);
      const Tensor<float> r = Tensor<float>::normal(Shape{3, 7}, 0.0, 1.0, rng);
      const Var w = a2q::quant::a2q_weight(v, lg, ls, spec);
      a2q::sum(a2q::mul(w, Var(r))).backward();

      const auto ref = a2q::detail::a2q_forward(
          v.value(),
          std::vector<float>{std::exp2(lg.value()[0]), std::exp2(lg.value()[1]), std::exp2(lg.value()[2])},
          std::vector<float>{std::exp2(ls.value()[0]), std::exp2(ls.value()[1]), std::exp2(ls.value()[2])},
          spec, {});
      auto surrogate = [&](const std::vector<double>& vv, const std::vector<double>& lgv,
                           const std::vector<double>& lsv) {
        double total = 0.0;
        for (std::size_t c = 0; c < 3; ++c) {
          double mean = 0.0;
          if (method == QuantMethod::a2q_plus) {
            for (std::size_t i = 0; i < 7; ++i)
              mean += vv[c * 7 + i];
            mean /= 7.0;
          }
          double norm = 0.0;
          for (std::size_t i = 0; i < 7; ++i)
            norm += std::abs(vv[c * 7 + i] - mean);
          const double s = std::exp2(lsv[c]);
          // Clamped, g' is the budget: a constant (A2Q-split's depends on the direction but is held fixed).
          const double gp = ref.clamped[c] ? ref.g_prime[c] : std::exp2(lgv[c]) / s;
          for (std::size_t i = 0; i < 7; ++i) {
            const double z = gp * (vv[c * 7 + i] - mean) / norm;
            // Straight-through linearisation around the current point: q = q0 + (z - z0).
            const double z0 = ref.g_prime[c] * ref.centred[c * 7 + i] / ref.norm[c];
            const double q = ref.saturated[c * 7 + i] ? ref.q[c * 7 + i] : ref.q[c * 7 + i] + (z - z0);
            total += r[static_cast<std::int64_t>(c * 7 + i)] * s * q;
          }
        }
        return total;
      };
      std::vector<double> vv(v.value().begin(), v.value().end()), lgv(lg.value().begin(), lg.value().end()),
          lsv(ls.value().begin(), ls.value().end());
      auto numeric = [&](std::vector<double>& param, std::size_t i) {
        const double saved = param[i], h = 1e-6;
        param[i] = saved + h;
        const double plus = surrogate(vv, lgv, lsv);
        param[i] = saved - h;
        const double minus = surrogate(vv, lgv, lsv);
        param[i] = saved;
        return (plus - minus) / (2 * h);
      };
      for (std::size_t i = 0; i < vv.size(); ++i)
        CHECK(v.grad()[static_cast<std::int64_t>(i)] == Approx(numeric(vv, i)).margin(1e-3).epsilon(1e-3));
      for (std::size_t c = 0; c < 3; ++c) {
        CHECK(lg.grad()[static_cast<std::int64_t>(c)] == Approx(numeric(lgv, c)).margin(1e-3).epsilon(1e-3));
        CHECK(ls.grad()[static_cast<std::int64_t>(c)] == Approx(numeric(lsv, c)).margin(1e-3).epsilon(1e-3));
      }
      if (log2_g0 > 5.0)
        CHECK(ref.clamped[0]); // the clamped case really was exercised
    }
  }
}

TEST_CASE("A2Q weights are z = g'·v'/||v'||_1 rounded toward zero and clipped, with their clipped elements "
          "flagged",
          "[qat][a2q]") {
  // Checked against the formula element by element (the gradient test above takes the flags from the
  // forward pass itself, so it cannot see a wrong one). 4-bit weights under wide budgets clip often.
  a2q::Rng rng(5);
  std::int64_t clipped = 0, checked = 0;
  for (QuantMethod method : {QuantMethod::a2q, QuantMethod::a2q_plus})
    for (const std::int64_t tile : {std::int64_t{0}, std::int64_t{4}}) {
      const a2q::quant::A2QWeightSpec spec{.method = method,
                                           .weight_bits = 4,
                                           .input_bits = 4,
                                           .input_signed = false,
                                           .accumulator_bits = 14,
                                           .tile = tile,
                                           .inner_bits = tile > 0 ? 11 : 0};
      const Tensor<float> v = Tensor<float>::normal(Shape{6, 9}, 0.0, 1.0, rng);
      const std::vector<float> g{1.0f, 30.0f, 100.0f, 300.0f, 1000.0f, 3000.0f};
      const std::vector<float> s(6, 1.0f);
      const auto f = a2q::detail::a2q_forward(v, g, s, spec, {});
      const double qmax = static_cast<double>(spec.weight_max());
      for (std::size_t c = 0; c < 6; ++c)
        for (std::size_t i = 0; i < 9; ++i) {
          const std::size_t k = c * 9 + i;
          const double tf = f.tile_factor.empty() ? 1.0 : f.tile_factor[k];
          const double z = f.g_prime[c] / f.norm[c] * tf * f.centred[k];
          const double t = std::trunc(z);
          INFO("method " << static_cast<int>(method) << ", tile " << tile << ", channel " << c << ", z "
                         << z);
          REQUIRE(static_cast<bool>(f.saturated[k]) == (std::abs(t) > qmax));
          if (f.repairs == 0)
            REQUIRE(f.q[k] == static_cast<std::int32_t>(std::clamp(t, -qmax, qmax)));
          clipped += f.saturated[k] ? 1 : 0;
          ++checked;
        }
    }
  CHECK(clipped > 0);
  CHECK(clipped < checked);
}

TEST_CASE("Euclidean projection onto the L1 ball equals a brute-force search", "[qat][init]") {
  a2q::Rng rng(5);
  for (int trial = 0; trial < 30; ++trial) {
    const std::vector<double> v{rng.uniform(-3, 3), rng.uniform(-3, 3)};
    const double radius = rng.uniform(0.1, 3.0);
    const std::vector<double> p = a2q::quant::project_l1_ball(v, radius);
    // Brute force over a fine grid of the ball.
    double best = 1e30;
    std::vector<double> arg(2);
    const int n = 600;
    for (int i = -n; i <= n; ++i)
      for (int j = -n; j <= n; ++j) {
        const double x = radius * i / n, y = radius * j / n;
        if (std::abs(x) + std::abs(y) > radius + 1e-12)
          continue;
        const double d = (x - v[0]) * (x - v[0]) + (y - v[1]) * (y - v[1]);
        if (d < best) {
          best = d;
          arg = {x, y};
        }
      }
    CHECK(std::abs(p[0] - arg[0]) <= 2.0 * radius / n + 1e-9);
    CHECK(std::abs(p[1] - arg[1]) <= 2.0 * radius / n + 1e-9);
  }
  // Higher dimensions: no random feasible point is closer, and the norm is exactly the radius.
  const std::vector<double> v{5, -1, 0.5, 3, -2, 0.1};
  const auto p = a2q::quant::project_l1_ball(v, 4.0);
  double l1 = 0, dist = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    l1 += std::abs(p[i]);
    dist += (p[i] - v[i]) * (p[i] - v[i]);
  }
  CHECK(l1 == Approx(4.0));
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<double> y(v.size());
    double norm = 0;
    for (double& e : y) {
      e = rng.uniform(-1, 1);
      norm += std::abs(e);
    }
    double d = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      y[i] *= 4.0 * rng.uniform01() / norm;
      d += (y[i] - v[i]) * (y[i] - v[i]);
    }
    REQUIRE(d >= dist - 1e-12);
  }
  CHECK(a2q::quant::project_l1_ball(std::vector<double>{0.5, -0.2}, 1.0) == std::vector<double>{0.5, -0.2});
}

TEST_CASE("the sign-split projection is the nearest point with both sign sums within the radius",
          "[qat][init]") {
  a2q::Rng rng(8);
  const std::vector<double> v{5, -1, 0.5, 3, -2, 0.1, -0.4};
  const double radius = 2.5;
  const auto p = a2q::quant::project_sign_split(v, radius);
  auto sums = [](const std::vector<double>& y) {
    double pos = 0, neg = 0;
    for (double e : y)
      (e > 0 ? pos : neg) += std::abs(e);
    return std::pair{pos, neg};
  };
  const auto [pos, neg] = sums(p);
  CHECK(pos == Approx(radius)); // 8.6 > 2.5: projected onto its ball
  CHECK(neg == Approx(radius)); // 3.4 > 2.5
  double dist = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    CHECK(p[i] * v[i] >= 0.0); // no entry changes sign
    dist += (p[i] - v[i]) * (p[i] - v[i]);
  }
  for (int trial = 0; trial < 2000; ++trial) { // no random feasible point is closer
    std::vector<double> y(v.size());
    for (double& e : y)
      e = rng.uniform(-1, 1);
    auto [yp, yn] = sums(y);
    const double shrink_p = radius * rng.uniform01() / yp, shrink_n = radius * rng.uniform01() / yn;
    double d = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      y[i] *= y[i] > 0 ? shrink_p : shrink_n;
      d += (y[i] - v[i]) * (y[i] - v[i]);
    }
    REQUIRE(d >= dist - 1e-12);
  }
  // Within both balls already: unchanged. A one-signed vector: its negative part is empty.
  CHECK(a2q::quant::project_sign_split(std::vector<double>{2.0, -2.0}, 2.0) ==
        std::vector<double>{2.0, -2.0});
  const auto one_signed = a2q::quant::project_sign_split(std::vector<double>{3.0, 1.0}, 2.0);
  CHECK(one_signed[0] == Approx(2.0));
  CHECK(one_signed[1] == Approx(0.0));

  // From float weights with a positive mean (blurring 3x3 kernels), A2Q-split keeps the kernels' sums;
  // A2Q+ centres them away.
  Tensor<float> w(Shape{8, 9});
  for (std::int64_t i = 0; i < w.numel(); ++i)
    w[i] = static_cast<float>(0.1 + 0.05 * rng.uniform(-1, 1));
  a2q::quant::A2QWeightSpec spec{.method = QuantMethod::a2q_split,
                                 .weight_bits = 8,
                                 .input_bits = 8,
                                 .input_signed = false,
                                 .accumulator_bits = 16};
  auto kernel_sums = [&](QuantMethod method) {
    spec.method = method;
    const auto params = a2q::quant::a2q_parameters_from_float(w, spec, true);
    std::vector<float> g, sc;
    for (std::int64_t c = 0; c < 8; ++c) {
      g.push_back(std::exp2(params.log2_g[c]));
      sc.push_back(std::exp2(params.log2_s[c]));
    }
    const auto q = a2q::quant::a2q_integer_weights(params.v, g, sc, spec);
    std::vector<double> out(8, 0.0);
    for (std::int64_t i = 0; i < q.numel(); ++i)
      out[static_cast<std::size_t>(i / 9)] += static_cast<double>(sc[static_cast<std::size_t>(i / 9)]) * q[i];
    return out;
  };
  const auto kept = kernel_sums(QuantMethod::a2q_split), centred = kernel_sums(QuantMethod::a2q_plus);
  for (std::size_t c = 0; c < 8; ++c) {
    double float_sum = 0;
    for (std::size_t i = 0; i < 9; ++i)
      float_sum += w[static_cast<std::int64_t>(c * 9 + i)];
    CHECK(kept[c] == Approx(float_sum).epsilon(0.1));
    CHECK(std::abs(centred[c]) < 0.1 * float_sum);
  }
}

TEST_CASE("projection init keeps more of the float weights than the reference init", "[qat][init]") {
  a2q::Rng rng(6);
  Tensor<float> w(Shape{16, 256});
  a2q::nn::init::kaiming_uniform(w, rng);
  const a2q::quant::A2QWeightSpec spec{.method = QuantMethod::a2q,
                                       .weight_bits = 8,
                                       .input_bits = 8,
                                       .input_signed = false,
                                       .accumulator_bits = 16};
  auto error_of = [&](a2q::quant::A2QInitMode mode) {
    const auto p = a2q::quant::a2q_parameters_from_float(w, spec, true, mode);
    std::vector<float> g, s;
    for (std::int64_t c = 0; c < 16; ++c) {
      g.push_back(std::exp2(p.log2_g[c]));
      s.push_back(std::exp2(p.log2_s[c]));
    }
    const auto q = a2q::quant::a2q_integer_weights(p.v, g, s, spec);
    double err = 0, nonzero = 0;
    for (std::int64_t c = 0; c < 16; ++c)
      for (std::int64_t i = 0; i < 256; ++i) {
        const double d =
            w[c * 256 + i] - s[static_cast<std::size_t>(c)] * static_cast<double>(q[c * 256 + i]);
        err += d * d;
        nonzero += q[c * 256 + i] != 0;
      }
    return std::pair{err, nonzero};
  };
  const auto [err_ref, nz_ref] = error_of(a2q::quant::A2QInitMode::reference);
  const auto [err_proj, nz_proj] = error_of(a2q::quant::A2QInitMode::projection);
  INFO("reference: error " << err_ref << ", " << nz_ref << " nonzeros; projection: error " << err_proj << ", "
                           << nz_proj << " nonzeros");
  CHECK(err_proj < 0.9 * err_ref);
}

TEST_CASE("the A2Q penalty is ReLU(g - s·B) with the right gradient", "[qat][penalty]") {
  const Var lg(Tensor<float>(Shape{3}, {8.0f, 2.0f, 7.5f}), true);
  const Var ls(Tensor<float>(Shape{3}, {0.0f, 0.0f, -0.5f}), true);
  const std::vector<double> budget{100.0, 100.0, 100.0};
  const Var p = a2q::quant::a2q_penalty(lg, ls, budget);
  const double expected = (256.0 - 100.0) + 0.0 + std::max(0.0, std::exp2(7.5) - std::exp2(-0.5) * 100.0);
  CHECK(p.value()[0] == Approx(expected).epsilon(1e-5));
  const auto result = a2q::gradcheck(
      [&](const std::vector<Var>& in) { return a2q::quant::a2q_penalty(in[0], in[1], budget); }, {lg, ls},
      1e-3, 1e-2, 1e-3);
  INFO(result.worst);
  CHECK(result.ok);
}

TEST_CASE("misconfigured quantized layers fail at construction", "[qat][config]") {
  a2q::Rng rng(7);
  a2q::nn::ActQuant input(a2q::models::pixel_input());
  LayerQuantConfig cfg;
  cfg.accumulator_bits = 8; // 8-bit unsigned inputs leave T < 1: every weight would be zero
  CHECK_THROWS_AS(a2q::nn::A2QLinear(16, 4, rng, cfg, input), a2q::config_error);
  cfg.accumulator_bits = 16;
  cfg.weight_bits = 17;
  CHECK_THROWS_AS(a2q::nn::A2QLinear(16, 4, rng, cfg, input), a2q::config_error);
  cfg.weight_bits = 8;
  CHECK_NOTHROW(a2q::nn::A2QPlusConv2d(1, 4, 3, rng, cfg, input));
  CHECK_THROWS_AS(a2q::quant::parse_quant_method("a3q"), a2q::config_error);
}

TEST_CASE("a quantized MLP trains, stays within its accumulator and exports its integers", "[qat][model]") {
  a2q::Rng rng(8);
  a2q::models::QuantPolicy policy;
  policy.method = QuantMethod::a2q_plus;
  policy.acc_bits = 14;
  auto model = a2q::models::quant_mlp(16, {12}, 3, policy, rng);
  a2q::Adam opt(model->parameters(), {.lr = 1e-2});
  // Three separable classes of 4x4 "images".
  Tensor<float> x(Shape{60, 1, 4, 4});
  std::vector<std::int32_t> labels(60);
  for (std::int64_t i = 0; i < 60; ++i) {
    labels[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i % 3);
    for (std::int64_t p = 0; p < 16; ++p)
      x[i * 16 + p] = std::round(255.0f * static_cast<float>((p % 3 == i % 3) ? 0.8 : 0.1)) / 255.0f;
  }
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    Var loss = a2q::softmax_cross_entropy((*model)(Var(x)), labels);
    if (step == 0)
      first = loss.value()[0];
    last = loss.value()[0];
    if (const Var p = a2q::nn::quant_penalty(*model); p.defined())
      loss = a2q::add(loss, p);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  CHECK(last < 0.5 * first);
  const auto layers = a2q::nn::integer_layers(*model);
  REQUIRE(layers.size() == 2);
  CHECK(layers[0].name == "fc1");
  CHECK(layers[0].method == QuantMethod::baseline); // first layer: 8-bit weights, 32-bit accumulator
  CHECK(layers[0].accumulator_bits == 32);
  const nlohmann::ordered_json doc = a2q::io::integer_weights_json(layers);
  CHECK(doc["format"] == "a2q-int-weights");
  CHECK(doc["layers"][0]["method"] == "baseline");
  REQUIRE(doc["layers"][1]["weights"].size() == static_cast<std::size_t>(layers[1].out_channels));
  CHECK(doc["layers"][1]["weights"][0].get<std::vector<std::int32_t>>() ==
        std::vector<std::int32_t>(layers[1].channel(0).begin(), layers[1].channel(0).end()));
}

TEST_CASE("integer P-bit evaluation agrees with the fake-quantized model unless the baseline overflows",
          "[qat][engine][agreement]") {
  a2q::Rng rng(10);
  Tensor<float> x(Shape{32, 1, 6, 6});
  for (float& v : x)
    v = static_cast<float>(rng.uniform_int(0, 255)) / 255.0f;
  for (QuantMethod method : {QuantMethod::a2q, QuantMethod::a2q_plus, QuantMethod::baseline}) {
    a2q::models::QuantPolicy policy;
    policy.method = method;
    policy.acc_bits = 14;
    auto model = a2q::models::quant_mlp(36, {24, 24}, 5, policy, rng);
    model->train();
    (void)(*model)(Var(x)); // calibrate the activation quantizers
    model->eval();
    const Tensor<float> fake = (*model)(Var(x)).value();
    a2q::engine::LayerOverflowStats stats;
    const Tensor<float> ints =
        a2q::engine::forward_with_accumulators(*model, x, a2q::engine::OverflowPolicy::wrap, {}, &stats);
    double worst = 0.0;
    for (std::int64_t i = 0; i < fake.numel(); ++i)
      worst = std::max(worst, static_cast<double>(std::abs(fake[i] - ints[i])) / (1.0 + std::abs(fake[i])));
    INFO(a2q::quant::to_string(method) << ": largest relative difference " << worst);
    if (method == QuantMethod::baseline) {
      CHECK(stats["fc2"].affected > 0); // a 14-bit accumulator is far below the baseline's needs
      CHECK(worst > 0.1);
    } else {
      CHECK(stats["fc2"].affected == 0);
      CHECK(worst < 1e-4); // the same integers; only float summation order differs
    }
  }
}
