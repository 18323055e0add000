// Architecture descriptions: every module type round-trips, custom networks save and load through model
// files, unknown types and malformed descriptions are refused naming the layer, users can register types.
#include "a2q/io/architecture.hpp"
#include "a2q/engine/model_conversion.hpp"
#include "a2q/engine/verify.hpp"
#include "a2q/io/model_io.hpp"
#include "a2q/nn/quant_model.hpp"

#include "custom_nets.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <string>

using a2q::config_error;
using a2q::Rng;
using a2q::Shape;
using a2q::Tensor;
using a2q::Var;
using a2q::io::build_architecture;
using a2q::io::describe_architecture;
using a2q_test::ScratchDir;
using Catch::Matchers::Contains;
using json = nlohmann::ordered_json;

namespace {

Tensor<float> pixels(const Shape& sample, std::int64_t n, std::uint64_t seed) {
  std::vector<std::int64_t> dims{n};
  for (const std::int64_t d : sample.dims())
    dims.push_back(d);
  Tensor<float> x{Shape(dims)};
  Rng rng(seed);
  for (float& v : x)
    v = static_cast<float>(rng.uniform_int(0, 255)) / 255.0f;
  return x;
}

Tensor<float> eval_forward(a2q::nn::Module& net, const Tensor<float>& x) {
  const a2q::NoGradGuard no_grad;
  net.eval();
  return net.forward(Var(x)).value();
}

bool same_bits(const Tensor<float>& a, const Tensor<float>& b) {
  return a.shape() == b.shape() && std::equal(a.begin(), a.end(), b.begin(), [](float x, float y) {
           return std::memcmp(&x, &y, sizeof x) == 0;
         });
}

std::vector<std::string> types_in(const json& node) {
  std::vector<std::string> out;
  if (node.is_object()) {
    if (node.contains("type"))
      out.push_back(node["type"].get<std::string>());
    if (node.contains("layers"))
      for (const json& child : node["layers"])
        for (auto& t : types_in(child))
          out.push_back(t);
  }
  return out;
}

// A module of a type the format does not know.
struct Unregistered : a2q::nn::Module {
  Var forward(const Var& x) override { return x; }
  std::string type_name() const override { return "Unregistered"; }
};

// A user's own module type, registered in a test below: y = factor · x.
// [module]
struct ScaleBy : a2q::nn::Module {
  explicit ScaleBy(float f) : factor(f) {}
  Var forward(const Var& x) override { return a2q::scale(x, factor); }
  std::string type_name() const override { return "ScaleBy"; }
  float factor;
};
// [module end]

// A user type whose serializer forgets the accumulator width of the layer inside it.
struct Forgetful : a2q::nn::Module {
  Forgetful(int acc_bits, Rng& rng)
      : quantizer(a2q::models::pixel_input()), layer(4, 3, rng, config(acc_bits), quantizer) {
    register_module("quantizer", quantizer);
    register_module("layer", layer);
  }
  static a2q::nn::LayerQuantConfig config(int acc_bits) {
    a2q::nn::LayerQuantConfig c;
    c.method = a2q::quant::QuantMethod::a2q;
    c.accumulator_bits = acc_bits;
    return c;
  }
  Var forward(const Var& x) override { return layer(quantizer(x)); }
  std::string type_name() const override { return "Forgetful"; }
  a2q::nn::ActQuant quantizer;
  a2q::nn::QuantLinear layer;
};

} // namespace

TEST_CASE("every module type survives describe and build", "[io][architecture]") {
  for (const bool quantized : {true, false}) {
    INFO((quantized ? "quantized" : "float") << " network");
    Rng rng(3);
    const auto net = quantized ? test_nets::separable_cnn(rng) : test_nets::float_zoo_of_types(rng);
    const Shape sample = quantized ? Shape{1, 16, 16} : Shape{3, 12, 12};
    const Tensor<float> x = pixels(sample, 4, 5);
    test_nets::calibrate(*net, x);
    const std::string text = describe_architecture(*net, sample);

    Rng other(99); // the stored parameters replace whatever the rebuild draws
    a2q::io::Architecture arch = build_architecture(text, other, nullptr, /*check_shapes=*/true);
    CHECK(arch.input == sample);
    arch.network->load_state_dict(net->state_dict()); // strict: the same parameters and buffers
    CHECK(describe_architecture(*arch.network, sample) == text);
    CHECK(same_bits(eval_forward(*arch.network, x), eval_forward(*net, x)));

    const auto types = types_in(json::parse(text)["network"]);
    const std::vector<std::string> expected =
        quantized
            ? std::vector<std::string>{"Sequential", "ActQuant",   "QuantConv2d",        "BatchNorm2d",
                                       "ReLU",       "AvgPool2d",  "QuantResidualBlock", "GlobalAvgPool2d",
                                       "Dropout",    "QuantLinear"}
            : std::vector<std::string>{"Sequential",      "Conv2d",        "BatchNorm2d", "ReLU",
                                       "MaxPool2d",       "ResidualBlock", "AvgPool2d",   "ResidualAdd",
                                       "GlobalAvgPool2d", "Dropout",       "Flatten",     "Linear"};
    for (const std::string& type : expected)
      CHECK(std::count(types.begin(), types.end(), type) > 0);
  }
}

TEST_CASE("the A2Q layer classes are written as the layers they specialise", "[io][architecture]") {
  Rng rng(1);
  a2q::nn::Sequential net;
  const auto& q = net.emplace_named<a2q::nn::ActQuant>("q", a2q::models::pixel_input());
  net.emplace_named<a2q::nn::A2QPlusLinear>("fc", 6, 4, rng, a2q::nn::LayerQuantConfig{}, q);
  const json doc = json::parse(describe_architecture(net, Shape{6}));
  CHECK(doc["network"]["layers"][1]["type"] == "QuantLinear");
  CHECK(doc["network"]["layers"][1]["quant"]["method"] == "a2q+");
}

TEST_CASE("a custom network saves, loads and runs in the integer engine like the original",
          "[io][architecture][model_io]") {
  const ScratchDir dir;
  Rng rng(11);
  const auto net = test_nets::separable_cnn(rng, 14);
  const Shape sample{1, 16, 16};
  const Tensor<float> x = pixels(sample, 6, 2);
  test_nets::calibrate(*net, x);
  const auto path = dir.path() / "custom.a2q";
  a2q::io::save_model(path, *net, sample, {{"note", "custom"}});

  const a2q::io::LoadedModel loaded = a2q::io::load_model(path);
  CHECK(loaded.input == sample);
  CHECK(loaded.quantized());
  CHECK(loaded.file.find_metadata("note") == "custom");
  CHECK(same_bits(eval_forward(*loaded.model, x), eval_forward(*net, x)));
  const auto original = a2q::engine::convert_to_integer(*net, sample);
  const auto reloaded = a2q::io::to_integer_model(loaded);
  CHECK(same_bits(reloaded.forward(x), original.forward(x)));
  for (const auto& proof : a2q::engine::prove_model(reloaded)) {
    INFO(proof.name);
    CHECK(proof.proven());
    CHECK(proof.checked_bits == (proof.name == "stem" || proof.name == "fc" ? 32 : 14));
  }
}

TEST_CASE("save_model refuses a module type it cannot describe, naming it, and writes nothing",
          "[io][architecture][model_io]") {
  const ScratchDir dir;
  Rng rng(1);
  a2q::nn::Sequential net;
  net.emplace_named<a2q::nn::Linear>("fc", 4, 4, rng);
  auto& inner = net.emplace_named<a2q::nn::Sequential>("inner");
  inner.emplace_named<Unregistered>("odd");
  const auto path = dir.path() / "never.a2q";
  CHECK_THROWS_MATCHES(a2q::io::save_model(path, net, Shape{4}), config_error,
                       Catch::Matchers::Predicate<config_error>([](const config_error& e) {
                         const std::string s = e.what();
                         return s.find("layer 'inner.odd' of type Unregistered") != std::string::npos &&
                                s.find("register_module_type") != std::string::npos;
                       }));
  CHECK_FALSE(std::filesystem::exists(path));
  CHECK(std::filesystem::is_empty(dir.path())); // no temporary file left behind either
}

TEST_CASE("a module type registered by the user round-trips through a model file",
          "[io][architecture][model_io]") {
  // [register]
  a2q::io::register_module_type<ScaleBy>(
      "ScaleBy",
      [](const ScaleBy& m, json& node, a2q::io::ArchitectureWriter&, const std::string&) {
        node["factor"] = m.factor;
      },
      [](const json& node, a2q::io::ArchitectureReader& r, const std::string&) {
        r.only_keys(node, {"factor"});
        return std::make_unique<ScaleBy>(static_cast<float>(r.number(node, "factor")));
      });
  // [register end]
  const ScratchDir dir;
  Rng rng(4);
  a2q::nn::Sequential net;
  net.emplace_named<a2q::nn::Linear>("fc", 3, 2, rng);
  net.emplace_named<ScaleBy>("scale", 2.5f);
  a2q::io::save_model(dir.path() / "m.a2q", net, Shape{3});
  const auto loaded = a2q::io::load_model(dir.path() / "m.a2q");
  const auto& scale = dynamic_cast<const ScaleBy&>(*loaded.model->named_children()[1].second);
  CHECK(scale.factor == 2.5f);
  const Tensor<float> x = pixels(Shape{3}, 2, 1);
  CHECK(same_bits(eval_forward(*loaded.model, x), eval_forward(net, x)));
  // Its errors name the layer like the built-in types' do.
  Rng unused(0);
  CHECK_THROWS_WITH(
      build_architecture(R"({"input": [3], "network": {"type": "ScaleBy", "factor": "big"}})", unused),
      Contains("the network (ScaleBy): 'factor' must be a number"));
}

TEST_CASE("save_model refuses a file that would not load back into the same network",
          "[io][architecture][model_io]") {
  a2q::io::register_module_type<Forgetful>(
      "Forgetful", [](const Forgetful&, json&, a2q::io::ArchitectureWriter&, const std::string&) {},
      [](const json&, a2q::io::ArchitectureReader& r, const std::string&) {
        return std::make_unique<Forgetful>(16, r.rng()); // the width it forgot to store
      });
  const ScratchDir dir;
  Rng rng(2);
  Forgetful at16(16, rng);
  test_nets::calibrate(at16, pixels(Shape{4}, 3, 1));
  CHECK_NOTHROW(a2q::io::save_model(dir.path() / "ok.a2q", at16, Shape{4}));

  Forgetful at12(12, rng);
  test_nets::calibrate(at12, pixels(Shape{4}, 3, 1));
  const auto path = dir.path() / "bad.a2q";
  CHECK_THROWS_WITH(
      a2q::io::save_model(path, at12, Shape{4}),
      Contains("layer 'layer' would not load back: accumulator_bits is 12 in the file but 16 from its "
               "parameters"));
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("save_model with a recipe refuses a network that is not the recipe's",
          "[io][architecture][model_io]") {
  const ScratchDir dir;
  a2q::models::ModelRecipe recipe;
  recipe.architecture = "cnn";
  recipe.input = Shape{1, 16, 16};
  recipe.policy.method = a2q::quant::QuantMethod::a2q_plus;
  Rng rng(1);
  const auto custom = test_nets::separable_cnn(rng);
  const auto path = dir.path() / "wrong.a2q";
  CHECK_THROWS_WITH(a2q::io::save_model(path, recipe, *custom),
                    Contains("is not the network of the 'cnn' recipe: it differs at 'conv1'") ||
                        Contains("is not the network of the 'cnn' recipe: it differs at 'stem'"));
  CHECK_FALSE(std::filesystem::exists(path));
  // The recipe's own network is accepted, and records the recipe's metadata.
  const auto own = recipe.build(rng);
  test_nets::calibrate(*own, pixels(recipe.input, 2, 1));
  a2q::io::save_model(path, recipe, *own);
  CHECK(a2q::io::load_model(path).file.find_metadata("model") == "cnn");
}

TEST_CASE("model files of format version 1 still load, evaluate and prove", "[io][architecture][model_io]") {
  for (const char* name : {"v1_mlp_a2q+.a2q", "v1_cnn_a2q.a2q"}) {
    INFO(name);
    const auto path = std::filesystem::path(A2Q_TEST_DATA_DIR) / "models" / name;
    const auto bytes = a2q_test::read_all(path);
    REQUIRE(bytes.size() > 12);
    CHECK(bytes[8] == 1); // written by the recipe-based format
    const a2q::io::LoadedModel loaded = a2q::io::load_model(path);
    CHECK(loaded.file.architecture.empty());
    CHECK(loaded.input == Shape{1, 28, 28});
    // The network the recipe rebuilt is described like any other, and that description rebuilds it.
    Rng rng(0);
    auto again = build_architecture(loaded.architecture, rng);
    again.network->load_state_dict(loaded.file.parameters);
    const auto ints = a2q::io::to_integer_model(loaded);
    const Tensor<float> x = pixels(loaded.input, 3, 8);
    CHECK(
        same_bits(ints.forward(x), a2q::engine::convert_to_integer(*again.network, loaded.input).forward(x)));
    for (const auto& proof : a2q::engine::prove_model(ints))
      CHECK(proof.proven());
  }
}

TEST_CASE("malformed descriptions are refused with one sentence naming the layer", "[io][architecture]") {
  const auto refuse = [](const std::string& text, const std::string& fragment, bool shapes = false) {
    INFO(text);
    Rng rng(0);
    CHECK_THROWS_WITH(build_architecture(text, rng, nullptr, shapes), Contains(fragment));
  };
  const std::string q =
      R"({"name": "q", "type": "ActQuant", "bits": 8, "signed": false, "fixed_scale": 0.5})";
  const auto net = [](const std::string& layers) {
    return R"({"a2q_architecture": 1, "input": [8], "network": {"type": "Sequential", "layers": [)" + layers +
           "]}}";
  };
  refuse("{\"input\": [8], \"network\": ", "not valid JSON");
  refuse(R"({"input": [8]})", "needs \"network\"");
  refuse(R"({"input": [8], "network": {}, "extra": 1})", "unknown key 'extra'");
  refuse(R"({"a2q_architecture": 7, "input": [8], "network": {}})", "this build reads up to 1");
  refuse(net(R"({"name": "x", "type": "Magic"})"), "layer 'x' (Magic): unknown module type (known: ");
  refuse(net(R"({"name": "fc", "type": "Linear", "in": 8, "out": 4, "bais": true})"),
         "layer 'fc' (Linear): unknown key 'bais' (expected in, out, bias)");
  refuse(net(R"({"name": "fc", "type": "Linear", "in": 8})"), "layer 'fc' (Linear): needs 'out'");
  refuse(net(R"({"name": "fc", "type": "Linear", "in": 8, "out": -2})"),
         "layer 'fc' (Linear): 'out' is -2, expected an integer in [1, ");
  refuse(net(R"({"name": "fc", "type": "Linear", "in": 8, "out": 4}, {"name": "fc", "type": "ReLU"})"),
         "two layers are named 'fc'");
  refuse(net(R"({"name": "fc", "type": "QuantLinear", "in": 8, "out": 4, "input": "nope", "quant": {}})"),
         "layer 'fc' (QuantLinear): 'input' names 'nope', which is not an ActQuant that comes before 'fc'");
  refuse(net(R"({"name": "fc", "type": "QuantLinear", "in": 8, "out": 4, "input": "q", "quant": {}}, )" + q),
         "layer 'fc' (QuantLinear): 'input' names 'q', which is not an ActQuant that comes before");
  refuse(net(q + R"(, {"name": "fc", "type": "QuantLinear", "in": 8, "out": 4, "input": "q",
                       "input_bits": 8, "input_signed": true, "quant": {"method": "a2q"}})"),
         "layer 'fc' (QuantLinear): declares a signed 8-bit input, but its input quantizer 'q' is unsigned");
  refuse(net(q + R"(, {"name": "fc", "type": "QuantLinear", "in": 8, "out": 4, "input": "q",
                       "quant": {"method": "a2q", "acc_bits": 8}})"),
         "layer 'fc' (QuantLinear): a 8-bit accumulator leaves an L1 budget");
  refuse(net(q + R"(, {"name": "fc", "type": "QuantLinear", "in": 8, "out": 4, "input": "q"})"),
         "layer 'fc' (QuantLinear): has no 'quant' settings");
  refuse(net(q + R"(, {"name": "fc", "type": "QuantLinear", "in": 8, "out": 4, "input": "q",
                       "quant": {"method": "a2q", "rounding": "sideways"}})"),
         "layer 'fc' (QuantLinear): ");
  refuse(net(R"({"name": "fc1", "type": "Linear", "in": 8, "out": 16},
                {"name": "fc2", "type": "Linear", "in": 10, "out": 4})"),
         "layer 'fc2' (Linear) cannot take its input of shape [2, 16]", true);
  refuse(R"({"input": [1, 8, 8], "network": {"type": "Sequential", "layers": [
            {"name": "body", "type": "Sequential", "layers": [
              {"name": "conv", "type": "Conv2d", "in": 3, "out": 4, "kernel": 3}]}]}})",
         "layer 'body.conv' (Conv2d) cannot take its input of shape [2, 1, 8, 8]", true);
}

TEST_CASE("a description without quantization settings takes them from the policy", "[io][architecture]") {
  a2q::models::QuantPolicy policy;
  policy.method = a2q::quant::QuantMethod::a2q_plus;
  policy.acc_bits = 14;
  // The same network as test_nets::separable_cnn, in a hand-written description that leaves the
  // quantization to the policy: the same rng gives the same network, parameter for parameter.
  const std::string text = R"({
    "input": [1, 16, 16],
    "network": {"type": "Sequential", "layers": [
      {"name": "input_quant", "type": "ActQuant", "bits": 8, "signed": false, "fixed_scale": 0.00392156862745098},
      {"name": "stem", "type": "QuantConv2d", "in": 1, "out": 8, "kernel": 3, "padding": 1, "input": "input_quant"},
      {"name": "stem_bn", "type": "BatchNorm2d", "channels": 8}, {"name": "stem_relu", "type": "ReLU"},
      {"name": "stem_act", "type": "ActQuant"},
      {"name": "dw1", "type": "QuantConv2d", "in": 8, "out": 8, "kernel": 3, "padding": 1, "groups": 8,
       "input": "stem_act"},
      {"name": "dw1_bn", "type": "BatchNorm2d", "channels": 8}, {"name": "dw1_relu", "type": "ReLU"},
      {"name": "dw1_act", "type": "ActQuant"},
      {"name": "pw1", "type": "QuantConv2d", "in": 8, "out": 16, "kernel": 1, "input": "dw1_act"},
      {"name": "pw1_bn", "type": "BatchNorm2d", "channels": 16}, {"name": "pw1_relu", "type": "ReLU"},
      {"name": "pw1_act", "type": "ActQuant"},
      {"name": "pool", "type": "AvgPool2d", "kernel": 2}, {"name": "pool_act", "type": "ActQuant"},
      {"name": "block", "type": "QuantResidualBlock", "in": 16, "out": 24, "stride": 2, "input": "pool_act"},
      {"name": "gap", "type": "GlobalAvgPool2d"}, {"name": "gap_act", "type": "ActQuant"},
      {"name": "drop", "type": "Dropout", "p": 0.1, "seed": 7},
      {"name": "fc", "type": "QuantLinear", "in": 24, "out": 10, "input": "gap_act"}]}})";
  Rng rng_json(21), rng_cpp(21);
  const a2q::io::Architecture from_json = build_architecture(text, rng_json, &policy, true);
  const auto from_cpp = test_nets::separable_cnn(rng_cpp, 14);
  CHECK(from_json.output == Shape{10});
  CHECK(describe_architecture(*from_json.network, Shape{1, 16, 16}) ==
        describe_architecture(*from_cpp, Shape{1, 16, 16}));
  const auto a = from_json.network->state_dict();
  const auto b = from_cpp->state_dict();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK(a[i].first == b[i].first);
    CHECK(same_bits(a[i].second, b[i].second));
  }
  // The edge layers follow the policy: the first and last keep 8-bit baseline weights and 32 bits.
  const auto layers = a2q::nn::quant_layers(*from_json.network);
  CHECK(layers.front().second->config().method == a2q::quant::QuantMethod::baseline);
  CHECK(layers.back().second->config().accumulator_bits == 32);
  CHECK(layers[1].second->config().accumulator_bits == 14);
}

TEST_CASE("a description cannot exhaust the stack or memory before it is refused", "[io][architecture]") {
  Rng rng(0);
  // Sequentials nested 10,000 deep.
  std::string deep = R"({"input": [4], "network": )";
  for (int i = 0; i < 10000; ++i)
    deep += R"({"type": "Sequential", "layers": [)";
  deep += R"({"type": "ReLU"})";
  for (int i = 0; i < 10000; ++i)
    deep += "]}";
  deep += "}";
  CHECK_THROWS_WITH(build_architecture(deep, rng), Contains("nests modules more than 64 deep"));
  // Layers whose weights would not fit in memory are refused before anything is allocated.
  CHECK_THROWS_WITH(build_architecture(R"({"input": [4], "network": {"type": "Linear", "in": 1048576,
                                         "out": 1048576}})",
                                       rng),
                    Contains("the network (Linear): would hold 1048576 x 1048576 weights, more than the"));
  CHECK_THROWS_WITH(build_architecture(R"({"input": [4], "network": {"type": "Conv2d", "in": 65536,
                                         "out": 65536, "kernel": 3}})",
                                       rng),
                    Contains("weights, more than the"));
  CHECK_THROWS_WITH(build_architecture(R"({"input": [65536, 65536, 3], "network": {"type": "ReLU"}})", rng),
                    Contains("values per sample"));
  // Values in error messages are short, whatever the file holds.
  const std::string long_name(100000, 'x');
  CHECK_THROWS_MATCHES(build_architecture(R"({"input": [4], "network": {"type": "Linear", "in": ")" +
                                              long_name + R"(", "out": 2}})",
                                          rng),
                       config_error, Catch::Matchers::Predicate<config_error>([](const config_error& e) {
                         return std::string(e.what()).size() < 300;
                       }));
}

TEST_CASE("a network is limited in total weights and in the tensors its shape check allocates",
          "[io][architecture][untrusted]") {
  Rng rng(0);
  const std::string two_layers = R"({"input": [30], "network": {"type": "Sequential", "layers": [
      {"name": "a", "type": "Linear", "in": 30, "out": 20}, {"name": "b", "type": "Linear", "in": 20, "out": 30}]}})";
  CHECK_NOTHROW(build_architecture(two_layers, rng, nullptr, false, 1200));
  // Negative control: one weight less than the two layers hold, and the second is refused by name.
  CHECK_THROWS_WITH(build_architecture(two_layers, rng, nullptr, false, 1199),
                    Contains("layer 'b' (Linear): would hold 30 x 20 weights, more than the 599 left"));
  // One output channel per weight, 2^14 channels on a 256 x 256 plane: a 8 GiB activation, refused by
  // the shape check before it is allocated.
  CHECK_THROWS_WITH(
      build_architecture(R"({"input": [1, 256, 256], "network": {"type": "Sequential", "layers": [
                        {"name": "wide", "type": "Conv2d", "in": 1, "out": 16384, "kernel": 1}]}})",
                         rng, nullptr, true),
      Contains("layer 'wide' (Conv2d) cannot take its input of shape [2, 1, 256, 256]") &&
          Contains("exceeds the 268435456-byte limit"));
}

TEST_CASE("a model file's description may not ask for more weights than the file stores",
          "[io][architecture][untrusted]") {
  const ScratchDir dir;
  Rng rng(1);
  a2q::nn::Sequential net;
  net.add(std::make_unique<a2q::nn::Linear>(4, 3, rng), "fc");
  a2q::io::save_model(dir.path() / "m.a2q", net, Shape{4});
  a2q::io::ModelFile file = a2q::io::load_model_file(dir.path() / "m.a2q");
  const std::string from = "\"out\": 3";
  REQUIRE(file.architecture.find(from) != std::string::npos);
  file.architecture.replace(file.architecture.find(from), from.size(), "\"out\": 100000");
  a2q::io::save_model_file(dir.path() / "big.a2q", file);
  CHECK_THROWS_WITH(a2q::io::load_model(dir.path() / "big.a2q"),
                    Contains("layer 'fc' (Linear): would hold 100000 x 4 weights, more than the 15 left"));
}
