#include "a2q/io/model_io.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

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
