#include "a2q/io/model_io.hpp"

#include "a2q/engine/verify.hpp"
#include "a2q/io/c_header.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

using a2q::config_error;
using a2q::io_error;
using a2q::Rng;
using a2q::io::load_model;
using a2q::io::load_model_file;
using a2q::io::save_model;
using a2q::io::save_model_file;
using a2q::models::ModelRecipe;
using a2q_test::ScratchDir;
using Catch::Matchers::Contains;

namespace {

ModelRecipe a2q_mlp(std::int64_t width) {
  ModelRecipe r;
  r.architecture = "mlp";
  r.input = a2q::Shape{1, 6, 6};
  r.mlp_width = width;
  r.policy.method = a2q::quant::QuantMethod::a2q;
  r.policy.acc_bits = 14;
  return r;
}

} // namespace

TEST_CASE("an mlp of any hidden width survives save_model and load_model", "[io][model_io]") {
  const ScratchDir dir;
  for (const std::int64_t width : {1, 24, 256}) {
    INFO("width " << width);
    const ModelRecipe recipe = a2q_mlp(width);
    Rng rng(7);
    const auto model = recipe.build(rng);
    save_model(dir.path() / "m.a2q", recipe, *model);
    const auto loaded = load_model(dir.path() / "m.a2q");
    CHECK(loaded.file.find_metadata("mlp_width") == std::to_string(width));
    CHECK(loaded.input == recipe.input);
    const auto layers = a2q::nn::integer_layers(*loaded.model);
    REQUIRE(layers.size() == 3);
    CHECK(layers[0].weights.shape() == a2q::Shape{width, 36});
    CHECK(layers[1].weights.shape() == a2q::Shape{width, width});
    CHECK(layers[2].weights.shape() == a2q::Shape{10, width});
    CHECK(layers[1].accumulator_bits == 14);
  }
}

TEST_CASE("a recipe file without the mlp_width key is the 256-wide mlp", "[io][model_io]") {
  const ScratchDir dir;
  const auto path = dir.path() / "old.a2q";
  Rng rng(3);
  const ModelRecipe recipe = a2q_mlp(256);
  save_model(path, recipe, *recipe.build(rng));
  auto file = load_model_file(path);
  file.architecture.clear(); // as in format version 1: the recipe alone says what the network is
  const auto before = file.metadata.size();
  std::erase_if(file.metadata, [](const auto& entry) { return entry.first == "mlp_width"; });
  REQUIRE(file.metadata.size() == before - 1); // the key was written, and is now gone
  save_model_file(path, file);
  CHECK(a2q::nn::integer_layers(*load_model(path).model)[1].weights.shape() == a2q::Shape{256, 256});

  // The same file stating another width no longer fits its parameters: a clear error, not garbage.
  file.metadata.emplace_back("mlp_width", "128");
  save_model_file(path, file);
  CHECK_THROWS_AS(load_model(path), io_error);
}

TEST_CASE("hidden widths out of range are refused", "[io][model_io]") {
  Rng rng(1);
  CHECK_THROWS_AS(a2q_mlp(0).build(rng), config_error);
  CHECK_THROWS_WITH(a2q_mlp(-3).build(rng), Contains("hidden width must be in [1, 8192], got -3"));
  CHECK_THROWS_AS(a2q_mlp(a2q::models::max_mlp_width + 1).validate(), config_error);
  CHECK_NOTHROW(a2q_mlp(a2q::models::max_mlp_width).validate());
}

TEST_CASE("a file whose integer layers are not what its parameters give is refused, naming layer and channel",
          "[io][model_io][untrusted]") {
  const ScratchDir dir;
  const ModelRecipe recipe = a2q_mlp(16);
  Rng rng(11);
  const auto model = recipe.build(rng);
  save_model(dir.path() / "m.a2q", recipe, *model);
  CHECK_NOTHROW(load_model(dir.path() / "m.a2q")); // the honest file loads

  // Each lie is saved through the writer, so its checksums are valid.
  const auto lie = [&](const char* name, auto&& change) {
    a2q::io::ModelFile file = load_model_file(dir.path() / "m.a2q");
    change(file.integer_layers.at(1));
    save_model_file(dir.path() / name, file);
    return dir.path() / name;
  };
  const auto weight = lie("weight.a2q", [](a2q::nn::IntegerLayer& l) { l.weights[3 * l.fan_in + 5] += 1; });
  CHECK_THROWS_AS(load_model(weight), a2q::proof_error);
  CHECK_THROWS_WITH(load_model(weight), Contains("layer 'fc2': channel 3, weight 5: the integer is") &&
                                            Contains("(1 of 16 channels differ)"));
  CHECK_THROWS_WITH(load_model(lie("p.a2q", [](a2q::nn::IntegerLayer& l) { l.accumulator_bits = 20; })),
                    Contains("layer 'fc2': accumulator_bits is 20 in the file but 14 from its parameters"));
  CHECK_THROWS_WITH(load_model(lie("scale.a2q", [](a2q::nn::IntegerLayer& l) { l.weight_scale[2] *= 2.0f; })),
                    Contains("layer 'fc2': channel 2: the weight scale is"));
  CHECK_THROWS_WITH(load_model(lie("bias.a2q", [](a2q::nn::IntegerLayer& l) { (*l.bias)[7] -= 3; })),
                    Contains("layer 'fc2': channel 7: the bias is"));
  CHECK_THROWS_WITH(
      load_model(
          lie("method.a2q", [](a2q::nn::IntegerLayer& l) { l.method = a2q::quant::QuantMethod::baseline; })),
      Contains("layer 'fc2': the method is baseline in the file but a2q from its parameters"));
}

TEST_CASE("quantizer state that finite numbers make meaningless is refused, naming the quantizer",
          "[io][model_io][untrusted]") {
  const ScratchDir dir;
  ModelRecipe recipe = a2q_mlp(8);
  recipe.policy.method = a2q::quant::QuantMethod::baseline;
  Rng rng(5);
  save_model(dir.path() / "m.a2q", recipe, *recipe.build(rng));
  CHECK_NOTHROW(load_model(dir.path() / "m.a2q")); // the honest file loads
  const auto changed = [&](const char* name, const std::string& parameter, float value) {
    a2q::io::ModelFile file = load_model_file(dir.path() / "m.a2q");
    const auto it = std::find_if(file.parameters.begin(), file.parameters.end(),
                                 [&](const auto& entry) { return entry.first == parameter; });
    REQUIRE(it != file.parameters.end());
    it->second[0] = value;
    save_model_file(dir.path() / name, file);
    return dir.path() / name;
  };
  // Scales are stored as log2: -200 and 200 are finite, the scales 0 and infinity are not usable (a zero
  // bias divided by a zero step was NaN on its way to an integer: undefined behaviour before this check).
  CHECK_THROWS_WITH(load_model(changed("zero.a2q", "act1.log2_scale", -200.0f)),
                    Contains("activation quantizer 'act1' has scale 0"));
  CHECK_THROWS_WITH(load_model(changed("inf.a2q", "fc2.weight_quant.log2_scale", 200.0f)),
                    Contains("layer 'fc2' has weight scale inf in channel 0"));
  CHECK_THROWS_WITH(load_model(changed("count.a2q", "act1.observed_batches", 1e30f)),
                    Contains("activation quantizer 'act1'") && Contains("observed_batches"));
  CHECK_THROWS_WITH(load_model(changed("flag.a2q", "act1.calibrated", 0.5f)), Contains("calibrated = 0.5"));
  // A tiny scale is still a scale: it passes this check and meets the next one, the stored integer layers.
  CHECK_THROWS_WITH(load_model(changed("small.a2q", "act1.log2_scale", -100.0f)),
                    Contains("the input scale is 1 in the file but"));
}

TEST_CASE("require_proven and the C header refuse a model that can overflow the P it claims",
          "[io][model_io][untrusted]") {
  ModelRecipe recipe = a2q_mlp(16);
  recipe.policy.method = a2q::quant::QuantMethod::baseline; // unconstrained weights claiming P = 14
  Rng rng(4);
  const auto baseline = recipe.build(rng);
  std::vector<std::int64_t> dims{4, 1, 6, 6};
  a2q::Tensor<float> images{a2q::Shape(dims)};
  for (std::int64_t i = 0; i < images.numel(); ++i)
    images[i] = static_cast<float>(rng.uniform01());
  baseline->train(true);
  {
    const a2q::NoGradGuard no_grad;
    for (int b = 0; b < 4; ++b)
      (void)baseline->forward(a2q::Var(images));
  }
  baseline->eval();
  const auto ints = a2q::engine::convert_to_integer(*baseline, recipe.input);
  const int needs = a2q::nn::integer_layers(*baseline).at(1).required_bits();
  REQUIRE(needs > 14);
  CHECK_THROWS_AS(a2q::engine::require_proven(ints, "m.a2q"), a2q::proof_error);
  CHECK_THROWS_WITH(a2q::engine::require_proven(ints, "m.a2q"),
                    Contains("m.a2q: layer 'fc2', channel") &&
                        Contains("needs a " + std::to_string(needs) + "-bit accumulator") &&
                        Contains("but P = 14 is claimed"));
  std::ostringstream header;
  CHECK_THROWS_AS(a2q::io::write_c_header(header, ints, "m"), a2q::proof_error);
  CHECK(header.str().empty());
  // Negative control: at the width the widest layer needs, the same integers are proven.
  int widest = 0;
  for (const auto& layer : a2q::nn::integer_layers(*baseline))
    widest = std::max(widest, layer.required_bits());
  CHECK_NOTHROW(a2q::engine::require_proven(ints, "m.a2q", widest));
}
