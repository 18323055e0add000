// Tests for a2q/nn/act_quant.hpp: calibration from the first training batches, then a learned log2
// scale; the fixed-scale mode for 8-bit pixels; state dict round trips; evaluation before calibration;
// and the rejection of bad settings.

#include "a2q/nn/act_quant.hpp"

#include "a2q/autograd/elementwise.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;
using a2q::nn::ActQuant;
using a2q::nn::ActQuantOptions;
using a2q::quant::IntFormat;
using Catch::Matchers::WithinRel;

namespace {

ActQuantOptions learned(IntFormat format, int calibration_batches = 4, double percentile = 99.99) {
  ActQuantOptions opt;
  opt.format = format;
  opt.calibration_batches = calibration_batches;
  opt.percentile = percentile;
  return opt;
}

/// A batch whose maximum is `max` (values spread over [0, max]).
Tensor<float> batch_with_max(float max, std::int64_t n = 64) {
  Tensor<float> t(Shape{2, n / 2});
  for (std::int64_t i = 0; i < n; ++i)
    t[i] = max * static_cast<float>(i) / static_cast<float>(n - 1);
  return t;
}

} // namespace

TEST_CASE("ActQuant calibrates on the first training batches, then learns log2_scale", "[nn][act_quant]") {
  ActQuant aq(learned(IntFormat::unsigned_bits(8), 3, 100.0));
  CHECK(aq.type_name() == "ActQuant");
  CHECK_FALSE(aq.fixed());
  CHECK_FALSE(aq.calibrated());
  CHECK(aq.observed_batches() == 0);
  const auto params = aq.named_parameters();
  REQUIRE(params.size() == 1);
  CHECK(params[0].first == "log2_scale");
  CHECK(params[0].second.shape() == Shape{1});
  std::vector<std::string> buffers;
  for (const auto& [name, tensor] : std::as_const(aq).named_buffers())
    buffers.push_back(name);
  CHECK(buffers == std::vector<std::string>{"calibrated", "observed_batches"});

  // Calibration: the scale is the running mean of the batch maxima (percentile 100) over qmax = 255.
  const std::vector<float> maxima{1.0f, 2.0f, 6.0f};
  double sum = 0.0;
  for (std::size_t b = 0; b < maxima.size(); ++b) {
    sum += maxima[b];
    Var x(batch_with_max(maxima[b]), true);
    const Var y = aq(x);
    CHECK(aq.observed_batches() == static_cast<std::int64_t>(b + 1));
    const auto expected_scale = static_cast<float>(sum / static_cast<double>(b + 1) / 255.0);
    CHECK_THAT(aq.scale(), WithinRel(expected_scale, 1e-5f));
    CHECK(aq.calibrated() == (b + 1 == maxima.size()));
    // The batch was fake-quantized with the updated estimate...
    const Tensor<std::int32_t> q = aq.quantize_to_int(x.value());
    for (std::int64_t i = 0; i < q.numel(); ++i)
      REQUIRE(y.value()[i] == static_cast<float>(q[i]) * aq.scale());
    // ...and the input gets its straight-through gradient, the scale none yet.
    a2q::sum(y).backward();
    CHECK(x.has_grad());
    CHECK_FALSE(aq.log2_scale.has_grad());
  }

  // After calibration the scale is learned: log2_scale receives the LSQ gradient and an update moves it.
  const float calibrated_scale = aq.scale();
  Var x(batch_with_max(20.0f), true); // clips heavily: the gradient pushes the scale up
  const Var y = aq(x);
  CHECK(aq.observed_batches() == 3); // no more observation
  a2q::sum(y).backward();
  REQUIRE(aq.log2_scale.has_grad());
  const float g = aq.log2_scale.grad()[0];
  CHECK(std::isfinite(g));
  CHECK(g > 0.0f); // d sum(y) / d log2_scale > 0: clipped elements sit at qmax · s
  aq.log2_scale.value()[0] += 0.1f;
  CHECK(aq.scale() > calibrated_scale);
  CHECK(aq.calibrated());
}

TEST_CASE("fixed-scale ActQuant reproduces 8-bit pixels exactly", "[nn][act_quant]") {
  ActQuantOptions opt;
  opt.format = IntFormat::unsigned_bits(8);
  opt.fixed_scale = 1.0f / 255.0f;
  ActQuant aq(opt);
  CHECK(aq.fixed());
  CHECK(aq.calibrated());
  CHECK(aq.parameters().empty());
  CHECK(aq.scale() == 1.0f / 255.0f);

  // Pixels as a loader produces them: k / 255 and k * (1 / 255), for every k.
  Tensor<float> divided(Shape{256});
  Tensor<float> multiplied(Shape{256});
  for (int k = 0; k < 256; ++k) {
    divided[k] = static_cast<float>(k) / 255.0f;
    multiplied[k] = static_cast<float>(k) * (1.0f / 255.0f);
  }
  for (const Tensor<float>* pixels : {&divided, &multiplied}) {
    const Tensor<std::int32_t> q = aq.quantize_to_int(*pixels);
    Var x(*pixels, true);
    const Var y = aq(x);
    bool exact = true;
    for (int k = 0; k < 256; ++k) {
      exact = exact && q[k] == k && y.value()[k] == static_cast<float>(k) * (1.0f / 255.0f);
      exact = exact && std::abs(y.value()[k] - (*pixels)[k]) <= 1e-7f;
    }
    CHECK(exact);
    // The gradient passes straight through (every pixel is inside the range), and there is no parameter.
    a2q::sum(y).backward();
    CHECK(x.grad() == Tensor<float>(Shape{256}, 1.0f));
  }
  // Evaluation mode behaves the same, no calibration needed.
  aq.eval();
  CHECK(aq(Var(multiplied)).value() == multiplied);
}

TEST_CASE("ActQuant state dicts keep the calibration", "[nn][act_quant]") {
  const ActQuantOptions opt = learned(IntFormat::unsigned_bits(4), 4, 99.0);
  a2q::Rng rng(4);
  std::vector<Tensor<float>> batches;
  for (int b = 0; b < 5; ++b)
    batches.push_back(Tensor<float>::uniform(Shape{4, 50}, 0.0f, 1.0f + static_cast<float>(b), rng));

  // Mid-calibration: two batches seen.
  ActQuant a(opt);
  a(Var(batches[0]));
  a(Var(batches[1]));
  ActQuant b(opt);
  b.load_state_dict(a.state_dict());
  CHECK(b.observed_batches() == 2);
  CHECK_FALSE(b.calibrated());
  CHECK(b.scale() == a.scale());
  // Both continue calibrating identically (up to float rounding of the resumed mean).
  for (int i = 2; i < 4; ++i) {
    a(Var(batches[static_cast<std::size_t>(i)]));
    b(Var(batches[static_cast<std::size_t>(i)]));
  }
  CHECK(a.calibrated());
  CHECK(b.calibrated());
  CHECK_THAT(b.scale(), WithinRel(a.scale(), 1e-5f));

  // Fully calibrated: a fresh module loaded from the state is calibrated and evaluates identically.
  ActQuant c(opt);
  c.load_state_dict(a.state_dict());
  CHECK(c.calibrated());
  CHECK(c.observed_batches() == 4);
  a.eval();
  c.eval();
  CHECK(c(Var(batches[4])).value() == a(Var(batches[4])).value());
  // And training continues with the learned scale, no re-calibration.
  c.train();
  c(Var(batches[4]));
  CHECK(c.observed_batches() == 4);
}

TEST_CASE("ActQuant in evaluation mode before calibration", "[nn][act_quant]") {
  ActQuant aq(learned(IntFormat::signed_bits(8), 4));
  const Tensor<float> x = batch_with_max(3.0f);
  aq.eval();
  try {
    aq(Var(x));
    FAIL("no exception");
  } catch (const a2q::config_error& e) {
    CHECK(std::string(e.what()).find("never calibrated") != std::string::npos);
  }
  CHECK_THROWS_AS(aq.quantize_to_int(x), a2q::config_error);
  CHECK(aq.observed_batches() == 0); // evaluation observes nothing

  // After one training batch, evaluation uses the estimate so far and still observes nothing.
  aq.train();
  aq(Var(x));
  aq.eval();
  const Var y = aq(Var(x));
  CHECK(aq.observed_batches() == 1);
  CHECK_FALSE(aq.calibrated());
  const Tensor<std::int32_t> q = aq.quantize_to_int(x);
  for (std::int64_t i = 0; i < q.numel(); ++i)
    REQUIRE(y.value()[i] == static_cast<float>(q[i]) * aq.scale());
  // Signed 8-bit and percentile 99.99 of |x|: the largest value maps to (almost) 127.
  CHECK(q[q.numel() - 1] >= 126);
}

TEST_CASE("ActQuant rejects bad settings", "[nn][act_quant]") {
  CHECK_THROWS_AS(ActQuant(ActQuantOptions{}), a2q::config_error); // no format chosen
  CHECK_THROWS_AS(ActQuant(learned(IntFormat{1, true})), a2q::config_error);
  CHECK_THROWS_AS(ActQuant(learned(IntFormat{8, false, true})), a2q::config_error);
  CHECK_THROWS_AS(ActQuant(learned(IntFormat{17, false})), a2q::config_error);
  CHECK_THROWS_AS(ActQuant(learned(IntFormat::unsigned_bits(8), 0)), a2q::config_error);
  CHECK_THROWS_AS(ActQuant(learned(IntFormat::unsigned_bits(8), 4, 0.0)), a2q::config_error);
  CHECK_THROWS_AS(ActQuant(learned(IntFormat::unsigned_bits(8), 4, 101.0)), a2q::config_error);
  ActQuantOptions stochastic = learned(IntFormat::unsigned_bits(8));
  stochastic.rounding = a2q::quant::RoundingMode::stochastic;
  CHECK_THROWS_AS(ActQuant(stochastic), a2q::config_error);
  for (const float s :
       {0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    ActQuantOptions fixed = learned(IntFormat::unsigned_bits(8));
    fixed.fixed_scale = s;
    CHECK_THROWS_AS(ActQuant(fixed), a2q::config_error);
  }
  // A fixed scale needs no calibration batches.
  ActQuantOptions fixed = learned(IntFormat::unsigned_bits(8), 0);
  fixed.fixed_scale = 0.5f;
  CHECK_NOTHROW(ActQuant(fixed));
}
