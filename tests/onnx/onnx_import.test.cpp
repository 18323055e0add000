// io::import_onnx on graphs built here with ONNX's own classes: what it computes, what it refuses (with
// the node and the reason), and QONNX export -> import giving back the same integer weights.

#include "a2q/onnx/onnx_import.hpp"
#include "a2q/onnx/qonnx_export.hpp"

#include "a2q/autograd/variable.hpp"
#include "a2q/io/model_io.hpp"
#include "a2q/models/recipe.hpp"
#include "a2q/nn/quant_model.hpp"
#include "a2q/nn/residual_add.hpp"
#include "a2q/nn/sequential.hpp"

#include "onnx_graph_builder.hpp"

#include <catch2/catch.hpp>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

using a2q::io_error;
using a2q::io::import_onnx_bytes;
using a2q_test::OnnxGraphBuilder;
using Catch::Matchers::Contains;
using GraphBuilder = OnnxGraphBuilder;

namespace {

/// x[4] -> Gemm(W1 [3x4], transB) + b1 -> Relu -> MatMul(W2 [3x2]) -> Add(b2): what torch writes for an MLP.
GraphBuilder small_mlp() {
  GraphBuilder g({4});
  g.initializer("W1", {3, 4}, {0.5f, -1.0f, 0.25f, 2.0f, 1.0f, 0.0f, -0.5f, 0.75f, -1.5f, 0.5f, 1.0f, 0.0f});
  g.initializer("b1", {3}, {0.1f, -0.2f, 0.3f});
  g.initializer("W2", {3, 2}, {1.0f, -1.0f, 0.5f, 2.0f, -0.25f, 0.5f});
  g.initializer("b2", {2}, {0.05f, -0.05f});
  auto& gemm = g.node("Gemm", "/fc1/Gemm", {"x", "W1", "b1"}, "h");
  GraphBuilder::attr(gemm, "transB", 1);
  g.node("Relu", "/relu/Relu", {"h"}, "r");
  g.node("MatMul", "/fc2/MatMul", {"r", "W2"}, "m");
  g.node("Add", "/fc2/Add", {"m", "b2"}, "y");
  g.output("y");
  return g;
}

a2q::Tensor<float> run(a2q::nn::Module& m, const a2q::Tensor<float>& x) {
  const a2q::NoGradGuard no_grad;
  return m.forward(a2q::Var(x)).value();
}

} // namespace

TEST_CASE("a float MLP graph imports and computes what the graph says", "[onnx]") {
  const auto imported = import_onnx_bytes(small_mlp().bytes(), "mlp.onnx");
  CHECK_FALSE(imported.quantized);
  CHECK(imported.input == a2q::Shape{4});
  const a2q::Tensor<float> x(a2q::Shape{2, 4}, {1.0f, 2.0f, -1.0f, 0.5f, -0.5f, 0.25f, 3.0f, -2.0f});
  const auto y = run(*imported.model, x);
  REQUIRE(y.shape() == a2q::Shape{2, 2});
  const float W1[3][4] = {{0.5f, -1.0f, 0.25f, 2.0f}, {1.0f, 0.0f, -0.5f, 0.75f}, {-1.5f, 0.5f, 1.0f, 0.0f}};
  const float b1[3] = {0.1f, -0.2f, 0.3f};
  const float W2[3][2] = {{1.0f, -1.0f}, {0.5f, 2.0f}, {-0.25f, 0.5f}};
  const float b2[2] = {0.05f, -0.05f};
  for (int n = 0; n < 2; ++n)
    for (int o = 0; o < 2; ++o) {
      double sum = b2[o];
      for (int j = 0; j < 3; ++j) {
        double h = b1[j];
        for (int k = 0; k < 4; ++k)
          h += W1[j][k] * x[n * 4 + k];
        sum += std::max(h, 0.0) * W2[j][o];
      }
      CHECK(y[n * 2 + o] == Approx(sum).epsilon(1e-6));
    }
  // the MatMul + Add pair became one Linear with a bias
  const auto& seq = dynamic_cast<const a2q::nn::Sequential&>(*imported.model);
  REQUIRE(seq.size() == 3);
  CHECK(seq[2].type_name() == "Linear");
  bool has_input_std = false;
  for (const auto& [k, v] : imported.metadata)
    has_input_std = has_input_std || (k == a2q::io::input_std_key && v == "1");
  CHECK(has_input_std);
}

TEST_CASE("an Add of two branches becomes a ResidualAdd", "[onnx]") {
  GraphBuilder g({2, 4, 4});
  std::vector<float> w(2 * 2 * 3 * 3, 0.0f);
  for (std::size_t i = 0; i < w.size(); ++i)
    w[i] = 0.05f * static_cast<float>(static_cast<int>(i % 7) - 3);
  g.initializer("W", {2, 2, 3, 3}, w);
  auto& c = g.node("Conv", "/block/conv/Conv", {"x", "W"}, "c");
  GraphBuilder::attr(c, "pads", std::vector<std::int64_t>{1, 1, 1, 1});
  g.node("Relu", "/block/relu/Relu", {"c"}, "r");
  g.node("Add", "/block/Add", {"r", "x"}, "s");
  g.node("GlobalAveragePool", "/gap/GlobalAveragePool", {"s"}, "p");
  auto& f = g.node("Flatten", "/Flatten", {"p"}, "y");
  GraphBuilder::attr(f, "axis", 1);
  g.output("y");
  const auto imported = import_onnx_bytes(g.bytes(), "residual.onnx");
  const auto& seq = dynamic_cast<const a2q::nn::Sequential&>(*imported.model);
  REQUIRE(seq.size() == 3);
  const auto& block = dynamic_cast<const a2q::nn::ResidualAdd&>(seq[0]);
  CHECK(block.body().size() == 2);
  CHECK(block.identity_shortcut());
  // y = mean over the image of relu(conv(x)) + x: with a zero kernel it would be mean(x) alone
  a2q::Tensor<float> x(a2q::Shape{1, 2, 4, 4});
  for (std::int64_t i = 0; i < x.numel(); ++i)
    x[i] = static_cast<float>(i % 5) - 1.0f;
  const auto y = run(*imported.model, x);
  REQUIRE(y.shape() == a2q::Shape{1, 2});
  auto body_only = run(const_cast<a2q::nn::Sequential&>(block.body()), x);
  for (int ch = 0; ch < 2; ++ch) {
    double expected = 0.0;
    for (int i = 0; i < 16; ++i)
      expected += body_only[ch * 16 + i] + x[ch * 16 + i];
    CHECK(y[ch] == Approx(expected / 16.0).epsilon(1e-6));
  }
}

TEST_CASE("Reshape imports when it flattens (torch shape arithmetic included) and is refused otherwise",
          "[onnx]") {
  for (const bool flatten : {true, false}) {
    GraphBuilder g({2, 3, 3});
    g.node("Shape", "/Shape", {"x"}, "shape");
    g.int_initializer("zero", {0});
    auto& gather = g.node("Gather", "/Gather", {"shape", "zero"}, "batch");
    GraphBuilder::attr(gather, "axis", std::int64_t{0});
    g.int_initializer("rest", flatten ? std::vector<std::int64_t>{-1} : std::vector<std::int64_t>{2, 9});
    auto& concat = g.node("Concat", "/Concat", {"batch", "rest"}, "target");
    GraphBuilder::attr(concat, "axis", std::int64_t{0});
    g.node("Reshape", "/Reshape", {"x", "target"}, "y");
    g.output("y");
    if (flatten) {
      const auto imported = import_onnx_bytes(g.bytes(), "reshape.onnx");
      CHECK(run(*imported.model, a2q::Tensor<float>(a2q::Shape{3, 2, 3, 3})).shape() == a2q::Shape{3, 18});
    } else {
      CHECK_THROWS_WITH(import_onnx_bytes(g.bytes(), "reshape.onnx"),
                        Contains("/Reshape") && Contains("flatten kind"));
    }
  }
}

TEST_CASE("DepthToSpace in CRD mode imports as pixel shuffle; DCR and uneven channels are refused",
          "[onnx]") {
  // x [8, 2, 3] -> DepthToSpace(blocksize 2) -> [2, 4, 6]
  const auto graph = [](const std::string& mode, std::int64_t channels) {
    GraphBuilder g({channels, 2, 3});
    auto& d = g.node("DepthToSpace", "/upscale/DepthToSpace", {"x"}, "y");
    GraphBuilder::attr(d, "blocksize", std::int64_t{2});
    if (!mode.empty())
      GraphBuilder::attr(d, "mode", mode);
    g.output("y");
    return g.bytes();
  };
  const auto imported = import_onnx_bytes(graph("CRD", 8), "d2s.onnx");
  CHECK(imported.input == a2q::Shape{8, 2, 3});
  a2q::Tensor<float> x(a2q::Shape{1, 8, 2, 3});
  for (std::int64_t i = 0; i < x.numel(); ++i)
    x[i] = static_cast<float>(i);
  const auto y = run(*imported.model, x);
  REQUIRE(y.shape() == a2q::Shape{1, 2, 4, 6});
  // ONNX's CRD definition: y[c, h·r + i, w·r + j] = x[c·r² + i·r + j, h, w]
  for (int c = 0; c < 2; ++c)
    for (int h = 0; h < 2; ++h)
      for (int w = 0; w < 3; ++w)
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j)
            CHECK(y[(c * 4 + h * 2 + i) * 6 + w * 2 + j] == x[((c * 4 + i * 2 + j) * 2 + h) * 3 + w]);
  CHECK_THROWS_WITH(import_onnx_bytes(graph("DCR", 8), "d2s.onnx"),
                    Contains("/upscale/DepthToSpace") && Contains("mode 'DCR'"));
  CHECK_THROWS_WITH(import_onnx_bytes(graph("", 8), "d2s.onnx"), Contains("mode 'DCR'")); // ONNX's default
  CHECK_THROWS_WITH(import_onnx_bytes(graph("CRD", 6), "d2s.onnx"), Contains("not a multiple of blocksize"));
}

TEST_CASE("malformed ONNX files get a typed error naming the problem", "[onnx][errors]") {
  const std::string good = small_mlp().bytes();
  SECTION("a truncated protobuf") {
    CHECK_THROWS_AS(import_onnx_bytes(good.substr(0, good.size() / 2), "cut.onnx"), io_error);
    CHECK_THROWS_WITH(import_onnx_bytes(good.substr(0, good.size() / 2), "cut.onnx"), Contains("cut.onnx"));
  }
  SECTION("bytes that are not ONNX") {
    CHECK_THROWS_AS(import_onnx_bytes("A2QMODEL not a protobuf \xff\xff\xff", "x.onnx"), io_error);
  }
  SECTION("an initializer of the wrong size") {
    GraphBuilder g = small_mlp();
    g.proto().mutable_graph()->mutable_initializer(0)->mutable_float_data()->RemoveLast();
    CHECK_THROWS_AS(import_onnx_bytes(g.bytes(), "size.onnx"), io_error);
    CHECK_THROWS_WITH(import_onnx_bytes(g.bytes(), "size.onnx"), Contains("'W1'") && Contains("11 values"));
  }
  SECTION("a cycle") {
    GraphBuilder g({4});
    g.node("Relu", "a", {"b_out"}, "a_out");
    g.node("Relu", "b", {"a_out"}, "b_out");
    g.output("b_out");
    CHECK_THROWS_AS(import_onnx_bytes(g.bytes(), "cycle.onnx"), io_error);
    CHECK_THROWS_WITH(import_onnx_bytes(g.bytes(), "cycle.onnx"), Contains("cycle"));
  }
  SECTION("an unknown operator") {
    GraphBuilder g = small_mlp();
    g.node("Softmax", "/softmax/Softmax", {"y"}, "probabilities");
    g.proto().mutable_graph()->mutable_output(0)->set_name("probabilities");
    CHECK_THROWS_AS(import_onnx_bytes(g.bytes(), "softmax.onnx"), io_error);
    CHECK_THROWS_WITH(import_onnx_bytes(g.bytes(), "softmax.onnx"),
                      Contains("'/softmax/Softmax' (Softmax)") && Contains("supported: Gemm"));
  }
  SECTION("an input nobody provides") {
    GraphBuilder g({4});
    g.node("Relu", "r", {"nowhere"}, "y");
    g.output("y");
    CHECK_THROWS_WITH(import_onnx_bytes(g.bytes(), "dangling.onnx"), Contains("'nowhere'"));
  }
  SECTION("attributes a2q cannot take") {
    for (const auto& [name, value] : std::vector<std::pair<std::string, std::vector<std::int64_t>>>{
             {"dilations", {2, 2}}, {"pads", {0, 1, 0, 1}}, {"strides", {1, 2}}}) {
      INFO(name);
      GraphBuilder g({1, 6, 6});
      g.initializer("W", {1, 1, 3, 3}, std::vector<float>(9, 0.1f));
      auto& c = g.node("Conv", "/conv/Conv", {"x", "W"}, "y");
      GraphBuilder::attr(c, name, value);
      g.output("y");
      CHECK_THROWS_WITH(import_onnx_bytes(g.bytes(), "conv.onnx"), Contains("/conv/Conv") && Contains(name));
    }
  }
  SECTION("a dense layer on an unflattened image") {
    GraphBuilder g({1, 2, 2});
    g.initializer("W", {3, 4}, std::vector<float>(12, 0.5f));
    auto& gemm = g.node("Gemm", "/fc/Gemm", {"x", "W"}, "y");
    GraphBuilder::attr(gemm, "transB", 1);
    g.output("y");
    CHECK_THROWS_WITH(import_onnx_bytes(g.bytes(), "flat.onnx"), Contains("Flatten must come before"));
  }
}

namespace {

/// A QONNX graph: uint8 input quantizer (1/255) -> Gemm with an 8-bit narrow per-row quantized weight.
GraphBuilder qonnx_linear(float zero_point, bool narrow, float weight0) {
  GraphBuilder g({4});
  g.custom_domain("qonnx.custom_op.general");
  g.initializer("s_in", {}, {1.0f / 255.0f});
  g.initializer("zp", {}, {zero_point});
  g.initializer("zp0", {}, {0.0f});
  g.initializer("bits", {}, {8.0f});
  auto& qin = g.node("Quant", "in_quant", {"x", "s_in", "zp0", "bits"}, "xq", "qonnx.custom_op.general");
  GraphBuilder::attr(qin, "signed", std::int64_t{0});
  GraphBuilder::attr(qin, "narrow", std::int64_t{0});
  GraphBuilder::attr(qin, "rounding_mode", std::string("ROUND"));
  // integers [[weight0, 2, -3, 0], [5, 0, 0, -127]] times per-row scales 0.5 and 0.25
  g.initializer("W", {2, 4}, {weight0 * 0.5f, 1.0f, -1.5f, 0.0f, 1.25f, 0.0f, 0.0f, -31.75f});
  g.initializer("s_w", {2, 1}, {0.5f, 0.25f});
  auto& qw = g.node("Quant", "w_quant", {"W", "s_w", "zp", "bits"}, "Wq", "onnx.brevitas");
  GraphBuilder::attr(qw, "signed", 1);
  GraphBuilder::attr(qw, "narrow", narrow ? 1 : 0);
  auto& gemm = g.node("Gemm", "fc", {"xq", "Wq"}, "y");
  GraphBuilder::attr(gemm, "transB", 1);
  g.output("y");
  return g;
}

} // namespace

TEST_CASE("QONNX Quant nodes become quantizers and integer layers with exactly the file's integers",
          "[onnx]") {
  const auto imported = import_onnx_bytes(qonnx_linear(0.0f, true, 1.0f).bytes(), "q.onnx");
  CHECK(imported.quantized);
  const auto layers = a2q::nn::integer_layers(*imported.model);
  REQUIRE(layers.size() == 1);
  const std::vector<std::int32_t> expected{1, 2, -3, 0, 5, 0, 0, -127};
  CHECK(std::vector<std::int32_t>(layers[0].weights.data(), layers[0].weights.data() + 8) == expected);
  CHECK(layers[0].input_bits == 8);
  CHECK_FALSE(layers[0].input_signed);
  // the width the weights need for inputs in [0, 255]: row 1 reaches -127 * 255 = -32385, within 16 bits
  CHECK(layers[0].accumulator_bits == layers[0].required_bits());
  CHECK(layers[0].required_bits() == 16);

  SECTION("a nonzero zero point is refused") {
    CHECK_THROWS_WITH(import_onnx_bytes(qonnx_linear(1.0f, true, 1.0f).bytes(), "zp.onnx"),
                      Contains("w_quant") && Contains("zero point"));
  }
  SECTION("a weight outside the narrow range a2q's layers use is refused") {
    CHECK_THROWS_WITH(import_onnx_bytes(qonnx_linear(0.0f, false, -128.0f).bytes(), "wide.onnx"),
                      Contains("fc") && Contains("narrow range"));
  }
}

TEST_CASE("QONNX export then import gives back every integer weight and P", "[onnx][qonnx]") {
  a2q::models::ModelRecipe recipe;
  recipe.architecture = "mlp";
  recipe.input = a2q::Shape{1, 6, 6};
  recipe.mlp_width = 12;
  recipe.policy.method = a2q::quant::QuantMethod::a2q_plus;
  recipe.policy.acc_bits = 13;
  a2q::Rng rng(11);
  auto net = recipe.build(rng);
  net->train();
  a2q::Tensor<float> x(a2q::Shape{16, 1, 6, 6});
  a2q::Rng data_rng(5);
  for (std::int64_t i = 0; i < x.numel(); ++i)
    x[i] = static_cast<float>(data_rng.uniform(0.0, 1.0));
  for (int step = 0; step < 4; ++step)
    (void)net->forward(a2q::Var(x));
  net->eval();
  const a2q::io::LoadedModel original =
      a2q::io::read_model(a2q::io::model_file_for(*net, recipe.input), "m.a2q");
  const std::string bytes = a2q::io::qonnx_bytes(original);
  const auto back = import_onnx_bytes(bytes, "m.onnx");
  const auto layers = a2q::nn::integer_layers(*back.model);
  REQUIRE(layers.size() == original.file.integer_layers.size());
  std::int64_t nonzero = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto& a = original.file.integer_layers[i];
    const auto& b = layers[i];
    INFO(a.name);
    CHECK(b.name == a.name);
    REQUIRE(b.weights.shape() == a.weights.shape());
    CHECK(std::equal(a.weights.data(), a.weights.data() + a.weights.numel(), b.weights.data()));
    CHECK(b.accumulator_bits == a.accumulator_bits);
    CHECK(b.required_bits() == a.required_bits());
    for (std::int64_t j = 0; j < a.weights.numel(); ++j)
      nonzero += a.weights[j] != 0;
  }
  CHECK(nonzero > 0);

  // negative control: the comparison above sees a changed weight
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromString(bytes));
  for (auto& t : *proto.mutable_graph()->mutable_initializer())
    if (t.name() == "fc1.weight") {
      float w0 = 0.0f;
      std::memcpy(&w0, t.raw_data().data(), sizeof w0);
      float scale = 0.0f;
      for (const auto& s : proto.graph().initializer())
        if (s.name() == "fc1.weight_scale")
          std::memcpy(&scale, s.raw_data().data(), sizeof scale);
      w0 += w0 > 0 ? -scale : scale;
      std::memcpy(t.mutable_raw_data()->data(), &w0, sizeof w0);
    }
  std::string changed;
  proto.SerializeToString(&changed);
  const auto tampered = a2q::nn::integer_layers(*import_onnx_bytes(changed, "changed.onnx").model);
  CHECK_FALSE(std::equal(original.file.integer_layers[0].weights.data(),
                         original.file.integer_layers[0].weights.data() +
                             original.file.integer_layers[0].weights.numel(),
                         tampered[0].weights.data()));
}
