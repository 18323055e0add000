#include "a2q/engine/adversarial.hpp"

#include <catch2/catch.hpp>

#include <vector>

namespace {

a2q::nn::IntegerLayer layer_with(const std::vector<std::vector<std::int32_t>>& rows, bool input_signed,
                                 std::vector<std::int64_t> bias = {}) {
  a2q::nn::IntegerLayer layer;
  layer.name = "probe";
  layer.kind = "linear";
  layer.out_channels = static_cast<std::int64_t>(rows.size());
  layer.fan_in = static_cast<std::int64_t>(rows[0].size());
  layer.input_bits = 8;
  layer.input_signed = input_signed;
  std::vector<std::int32_t> flat;
  for (const auto& r : rows)
    flat.insert(flat.end(), r.begin(), r.end());
  layer.weights = a2q::Tensor<std::int32_t>(a2q::Shape{layer.out_channels, layer.fan_in}, flat);
  if (!bias.empty()) {
    layer.bias = bias;
    layer.bias_in_accumulator = true;
  }
  return layer;
}

} // namespace

TEST_CASE("adversarial inputs pass exactly at the required width and overflow one bit below",
          "[engine][adversarial]") {
  a2q::Rng rng(9);
  for (int trial = 0; trial < 50; ++trial) {
    const bool input_signed = rng.bernoulli(0.5);
    std::vector<std::vector<std::int32_t>> rows(3, std::vector<std::int32_t>(20));
    for (auto& r : rows)
      for (auto& q : r)
        q = static_cast<std::int32_t>(rng.uniform_int(-127, 127));
    std::vector<std::int64_t> bias;
    if (rng.bernoulli(0.5))
      bias = {rng.uniform_int(-5000, 5000), rng.uniform_int(-5000, 5000), rng.uniform_int(-5000, 5000)};
    const auto layer = layer_with(rows, input_signed, bias);
    const int P = layer.required_bits();
    const auto at_p = a2q::engine::adversarial_check(layer, P);
    CHECK(at_p.channels == 3);
    CHECK(at_p.overflowing_channels == 0);
    // Negative control: the widest channel overflows one bit narrower.
    const auto below = a2q::engine::adversarial_check(layer, P - 1);
    CHECK(below.overflowing_channels >= 1);
    CHECK(below.overflow_events >= 1);
  }
}

TEST_CASE("a zero channel never overflows", "[engine][adversarial]") {
  const auto layer = layer_with({{0, 0, 0}}, false);
  CHECK(a2q::engine::adversarial_check(layer, 2).overflowing_channels == 0);
}
