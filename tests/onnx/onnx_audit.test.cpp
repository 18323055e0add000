// io::audit_onnx: the exact width per channel against a brute-force search on small layers, for the QDQ,
// QLinear and integer-op forms, the Brevitas-written fixture, and the refusals that name the node.

#include "a2q/onnx/onnx_audit.hpp"

#include "../io/temp_dir.hpp"
#include "onnx_graph_builder.hpp"

#include <catch2/catch.hpp>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using a2q::io::audit_onnx;
using a2q::io::audit_onnx_bytes;
using Catch::Matchers::Contains;

namespace {

/// A quantized graph under construction: float input [batch, 1, 3, 3].
struct QGraph : a2q_test::OnnxGraphBuilder {
  QGraph() : OnnxGraphBuilder({1, 3, 3}) {}
};

constexpr int u8 = onnx::TensorProto::UINT8;
constexpr int i8 = onnx::TensorProto::INT8;
constexpr int i32 = onnx::TensorProto::INT32;
constexpr int f32 = onnx::TensorProto::FLOAT;

// two output channels of a 3x3 convolution; channel 1 has weight zero point 2
const std::vector<double> weights{5, -3, 0, 127, -128, 7, 1, 1, -9, /**/ 2, 2, 2, 40, -100, 3, 2, 2, 2};
const std::vector<double> weight_zero_points{0, 2};

/// The exact extremes of Σ w·x by trying every input in {lo, hi}^9 (the extremes of a linear function
/// lie at the corners).
std::pair<std::int64_t, std::int64_t> brute_force(const std::vector<std::int64_t>& w, std::int64_t lo,
                                                  std::int64_t hi) {
  std::int64_t mn = INT64_MAX, mx = INT64_MIN;
  for (unsigned corner = 0; corner < (1u << w.size()); ++corner) {
    std::int64_t sum = 0;
    for (std::size_t k = 0; k < w.size(); ++k)
      sum += w[k] * (((corner >> k) & 1u) ? hi : lo);
    mn = std::min(mn, sum);
    mx = std::max(mx, sum);
  }
  return {mn, mx};
}

void check_against_brute_force(const a2q::io::AuditLayer& layer, std::int64_t lo, std::int64_t hi) {
  REQUIRE(layer.channels.size() == 2);
  CHECK(layer.input.lo == lo);
  CHECK(layer.input.hi == hi);
  for (int c = 0; c < 2; ++c) {
    std::vector<std::int64_t> w;
    for (int k = 0; k < 9; ++k)
      w.push_back(static_cast<std::int64_t>(weights[static_cast<std::size_t>(c * 9 + k)] -
                                            weight_zero_points[static_cast<std::size_t>(c)]));
    const auto [mn, mx] = brute_force(w, lo, hi);
    INFO("channel " << c);
    CHECK(layer.channels[static_cast<std::size_t>(c)].range.lo == mn);
    CHECK(layer.channels[static_cast<std::size_t>(c)].range.hi == mx);
  }
}

/// ONNX Runtime's QDQ form: Q(uint8, zp 128) -> DQ -> Conv(DQ(int8 w, per-channel), DQ(int32 bias)).
QGraph qdq_conv(const std::string& between = "") {
  QGraph g;
  g.tensor("sx", f32, {}, {0.02});
  g.tensor("zx", u8, {}, {128});
  g.node("QuantizeLinear", "quant_x", {"x", "sx", "zx"}, "xq");
  g.node("DequantizeLinear", "dequant_x", {"xq", "sx", "zx"}, "xd");
  std::string conv_in = "xd";
  if (!between.empty()) {
    g.node(between, "between", {"xd"}, "xb");
    conv_in = "xb";
  }
  g.tensor("w", i8, {2, 1, 3, 3}, weights);
  g.tensor("sw", f32, {2}, {0.01, 0.02});
  g.tensor("zw", i8, {2}, weight_zero_points);
  auto& dq = g.node("DequantizeLinear", "dequant_w", {"w", "sw", "zw"}, "wd");
  QGraph::attr(dq, "axis", std::int64_t{0});
  g.tensor("b", i32, {2}, {1000, -70000});
  g.tensor("sb", f32, {2}, {0.0002, 0.0004});
  g.tensor("zb", i32, {2}, {0, 0});
  auto& dqb = g.node("DequantizeLinear", "dequant_b", {"b", "sb", "zb"}, "bd");
  QGraph::attr(dqb, "axis", std::int64_t{0});
  g.node("Conv", "conv", {conv_in, "wd", "bd"}, "y");
  g.output("y");
  return g;
}

} // namespace

TEST_CASE("audit: a QDQ convolution with an asymmetric input gives the brute-force extremes per channel",
          "[onnx][audit]") {
  const auto report = audit_onnx_bytes(qdq_conv().bytes(), "qdq.onnx");
  REQUIRE(report.layers.size() == 1);
  const auto& l = report.layers[0];
  CHECK(l.form == "qdq");
  CHECK(l.K == 9);
  check_against_brute_force(l, -128, 127); // uint8 with zero point 128: x - 128
  CHECK(l.input_signed);
  CHECK(l.has_bias);
  CHECK(l.channels[1].bias == -70000);
  CHECK(l.channels[1].needed_bits_with_bias >= l.channels[1].needed_bits);
  // the bias can change the width: channel 1's -70000 is the larger part of its range
  CHECK(l.needed_bits_with_bias ==
        std::max(l.channels[0].needed_bits_with_bias, l.channels[1].needed_bits_with_bias));
}

TEST_CASE("audit: a ReLU between the dequantizer and the layer clips the range; a float op is refused",
          "[onnx][audit]") {
  const auto report = audit_onnx_bytes(qdq_conv("Relu").bytes(), "relu.onnx");
  check_against_brute_force(report.layers.at(0), 0, 127);
  CHECK_THROWS_AS(audit_onnx_bytes(qdq_conv("Sigmoid").bytes(), "sigmoid.onnx"), a2q::io_error);
  CHECK_THROWS_WITH(audit_onnx_bytes(qdq_conv("Sigmoid").bytes(), "sigmoid.onnx"),
                    Contains("'conv' (Conv)") && Contains("'between' (Sigmoid)") && Contains("lies between"));
}

namespace {

/// One 3x3 convolution with two channels on a [N, 1, 3, 3] input in the three forms ONNX Runtime writes
/// (input uint8 with zero point 128 everywhere), flattened: one value per channel.
std::string one_conv(const std::string& form, const std::vector<double>& bias = {300, -200}) {
  QGraph g;
  g.tensor("sx", f32, {}, {0.02});
  g.tensor("zx", u8, {}, {128});
  g.node("QuantizeLinear", "quant_x", {"x", "sx", "zx"}, "xq");
  g.tensor("w", i8, {2, 1, 3, 3}, weights);
  g.tensor("sw", f32, {2}, {0.01, 0.02});
  g.tensor("zw", i8, {2}, weight_zero_points);
  g.tensor("b", i32, {2}, bias);
  if (form == "qdq") {
    g.node("DequantizeLinear", "dequant_x", {"xq", "sx", "zx"}, "xd");
    auto& dq = g.node("DequantizeLinear", "dequant_w", {"w", "sw", "zw"}, "wd");
    QGraph::attr(dq, "axis", std::int64_t{0});
    g.tensor("sb", f32, {2}, {0.0002, 0.0004});
    auto& dqb = g.node("DequantizeLinear", "dequant_b", {"b", "sb"}, "bd");
    QGraph::attr(dqb, "axis", std::int64_t{0});
    g.node("Conv", "conv", {"xd", "wd", "bd"}, "y4");
  } else if (form == "qlinear") {
    g.tensor("sy", f32, {}, {0.1});
    g.tensor("zy", u8, {}, {0});
    g.node("QLinearConv", "conv", {"xq", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"}, "yq");
    g.node("DequantizeLinear", "dequant_y", {"yq", "sy", "zy"}, "y4");
  } else {
    g.node("ConvInteger", "conv", {"xq", "w", "zx", "zw"}, "y4");
  }
  auto& flat = g.node("Flatten", "flatten", {"y4"}, "y");
  QGraph::attr(flat, "axis", std::int64_t{1});
  g.output("y");
  return g.bytes();
}

} // namespace

TEST_CASE("audit: QLinearConv and ConvInteger give the same bounds as QDQ", "[onnx][audit]") {
  {
    const auto report = audit_onnx_bytes(one_conv("qlinear", {1000, -70000}), "qlinear.onnx");
    REQUIRE(report.layers.size() == 1);
    CHECK(report.layers[0].form == "qlinear");
    check_against_brute_force(report.layers[0], -128, 127);
    CHECK(report.layers[0].channels[1].bias == -70000);
  }
  {
    const auto report = audit_onnx_bytes(one_conv("integer"), "integer.onnx");
    REQUIRE(report.layers.size() == 1);
    CHECK(report.layers[0].form == "integer");
    check_against_brute_force(report.layers[0], -128, 127);
    CHECK_FALSE(report.layers[0].has_bias);
  }
}

TEST_CASE("audit: malformed quantizers are refused naming the node", "[onnx][audit][errors]") {
  SECTION("a per-channel scale of the wrong length") {
    QGraph g = qdq_conv();
    g.tensor("sw3", f32, {3}, {0.1, 0.1, 0.1});
    auto& dq = g.node("DequantizeLinear", "dequant_w3", {"w", "sw3", "zw"}, "wd3");
    QGraph::attr(dq, "axis", std::int64_t{0});
    g.node("Conv", "conv3", {"xd", "wd3"}, "y3");
    CHECK_THROWS_WITH(audit_onnx_bytes(g.bytes(), "scale.onnx"),
                      Contains("dequant_w3") && Contains("3 values"));
  }
  SECTION("a zero point outside its type") {
    QGraph g;
    g.tensor("sx", f32, {}, {0.02});
    g.tensor("zx", u8, {}, {300});
    g.node("QuantizeLinear", "quant_x", {"x", "sx", "zx"}, "xq");
    g.output("xq");
    CHECK_THROWS_WITH(audit_onnx_bytes(g.bytes(), "zp.onnx"), Contains("'quant_x' (QuantizeLinear)") &&
                                                                  Contains("'zx'") &&
                                                                  Contains("outside the range"));
  }
  for (const double bits : {0.0, 40.0}) {
    SECTION("a QONNX bit width of " + std::to_string(static_cast<int>(bits))) {
      QGraph g;
      g.tensor("s", f32, {}, {0.1});
      g.tensor("z", f32, {}, {0});
      g.tensor("b", f32, {}, {bits});
      auto& q = g.node("Quant", "quant_x", {"x", "s", "z", "b"}, "xq", "qonnx.custom_op.general");
      QGraph::attr(q, "signed", std::int64_t{0});
      g.output("xq");
      CHECK_THROWS_WITH(audit_onnx_bytes(g.bytes(), "bits.onnx"),
                        Contains("quant_x") && Contains("bit width"));
    }
  }
  SECTION("a graph without quantized layers") {
    QGraph g;
    g.node("Relu", "relu", {"x"}, "y");
    g.output("y");
    CHECK_THROWS_WITH(audit_onnx_bytes(g.bytes(), "float.onnx"), Contains("no quantized"));
  }
}

TEST_CASE("audit: the Brevitas-written QONNX fixture needs the widths its README gives", "[onnx][audit]") {
  const auto report =
      audit_onnx(std::filesystem::path(A2Q_TEST_DATA_DIR) / "onnx" / "brevitas" / "brevitas_a2q_cnn.onnx");
  REQUIRE(report.layers.size() == 3);
  const int expected[] = {20, 14, 14};
  for (std::size_t i = 0; i < 3; ++i) {
    INFO(report.layers[i].node);
    CHECK(report.layers[i].needed_bits == expected[i]);
    CHECK(report.layers[i].needed_bits_with_bias == expected[i]);
    CHECK(report.layers[i].input.lo == 0);
    CHECK(report.layers[i].input.hi == 255);
  }
  CHECK(report.layers[1].datatype_bits == 23);
  CHECK(report.layers[2].datatype_bits == 26);
  CHECK(report.fits(20));
  CHECK_FALSE(report.fits(19));
}

namespace {

/// What the graph computes, written out: the channel with the larger output, first on ties.
std::int32_t expected_class(const std::string& form, const float* x) {
  double best = 0.0;
  std::int32_t label = 0;
  for (int c = 0; c < 2; ++c) {
    std::int64_t acc = form == "integer" ? 0 : (c == 0 ? 300 : -200);
    for (int k = 0; k < 9; ++k) {
      const double q =
          std::clamp(std::nearbyint(static_cast<double>(x[k]) / 0.02) + 128.0, 0.0, 255.0) - 128.0;
      acc += static_cast<std::int64_t>(weights[static_cast<std::size_t>(c * 9 + k)] -
                                       weight_zero_points[static_cast<std::size_t>(c)]) *
             static_cast<std::int64_t>(q);
    }
    const double sw = c == 0 ? 0.01 : 0.02;
    double value = static_cast<double>(acc);
    if (form == "qdq")
      value *= 0.02 * sw;
    else if (form == "qlinear")
      value = std::clamp(std::nearbyint(value * 0.02 * sw / 0.1), 0.0, 255.0) * 0.1;
    if (c == 0 || value > best) {
      best = value;
      label = c;
    }
  }
  return label;
}

} // namespace

TEST_CASE("audit sweep: each form runs as the graph says, and narrow accumulators overflow",
          "[onnx][audit]") {
  const a2q_test::ScratchDir dir;
  constexpr std::int64_t N = 64;
  a2q::Tensor<float> x(a2q::Shape{N, 1, 3, 3});
  a2q::Rng rng(17);
  for (std::int64_t i = 0; i < x.numel(); ++i)
    x[i] = static_cast<float>(rng.uniform(-2.6, 2.6));
  for (const std::string form : {"qdq", "qlinear", "integer"}) {
    INFO(form);
    const auto path = dir.path() / (form + ".onnx");
    std::ofstream(path, std::ios::binary) << one_conv(form);
    std::vector<std::int32_t> labels;
    for (std::int64_t n = 0; n < N; ++n)
      labels.push_back(expected_class(form, x.data() + n * 9));
    const std::vector<int> widths{8, 64};
    const std::vector<a2q::engine::OverflowPolicy> policies{a2q::engine::OverflowPolicy::wrap};
    const auto sweep = a2q::io::sweep_accumulators(path, x, labels, widths, policies);
    CHECK(sweep.exact_accuracy == 1.0);
    REQUIRE(sweep.points.size() == 2);
    CHECK(sweep.points[1].accuracy == 1.0);
    CHECK(sweep.points[1].overflow_events == 0);
    CHECK(sweep.points[0].overflow_events > 0); // these weights need about 19 bits
  }
}
