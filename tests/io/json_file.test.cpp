// JSON files: written atomically, numbers exactly, what JSON cannot hold as null, never invalid text.
#include "a2q/io/json_file.hpp"
#include "a2q/io/int_weights_json.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>

using a2q::io::save_json;
using a2q_test::read_text;
using a2q_test::ScratchDir;
using json = nlohmann::ordered_json;

TEST_CASE("save_json writes the document, indented or on one line", "[io][json]") {
  ScratchDir dir;
  const json doc = {{"test_accuracy", 0.91}, {"layers", {"fc1", "fc2"}}};
  save_json(dir / "m.json", doc);
  CHECK(read_text(dir / "m.json") ==
        "{\n  \"test_accuracy\": 0.91,\n  \"layers\": [\n    \"fc1\",\n    \"fc2\"\n  ]\n}\n");
  save_json(dir / "c.json", doc, -1); // keys stay in the order they were written
  CHECK(read_text(dir / "c.json") == "{\"test_accuracy\":0.91,\"layers\":[\"fc1\",\"fc2\"]}\n");
  CHECK(dir.entries() == std::vector<std::string>{"c.json", "m.json"});
}

TEST_CASE("save_json writes numbers that read back exactly, and null for NaN and infinities", "[io][json]") {
  ScratchDir dir;
  const double third = 1.0 / 3.0;
  const float scale = 1.0f / 255.0f;
  const json doc = {{"third", third},
                    {"scale", static_cast<double>(scale)},
                    {"big", std::numeric_limits<std::int64_t>::min()},
                    {"nan", std::numeric_limits<double>::quiet_NaN()},
                    {"inf", -std::numeric_limits<double>::infinity()}};
  save_json(dir / "n.json", doc);
  const json back = json::parse(read_text(dir / "n.json"));
  CHECK(back["third"].get<double>() == third);
  CHECK(static_cast<float>(back["scale"].get<double>()) == scale);
  CHECK(back["big"].get<std::int64_t>() == std::numeric_limits<std::int64_t>::min());
  CHECK(back["nan"].is_null());
  CHECK(back["inf"].is_null());
}

TEST_CASE("save_json keeps the file valid JSON for text that is not UTF-8, and writes all or nothing",
          "[io][json]") {
  ScratchDir dir;
  const auto path = dir / "t.json";
  save_json(path, json{{"name", "Grüße"}});
  save_json(path, json{{"name", std::string("bad \xff byte")}});
  CHECK(json::parse(read_text(path))["name"] == "bad \xef\xbf\xbd byte"); // U+FFFD
  CHECK_THROWS_AS(save_json(dir / "missing" / "x.json", json{{"a", 1}}), a2q::io_error);
  CHECK(dir.entries() == std::vector<std::string>{"t.json"});
}

TEST_CASE("the integer-weight export holds every field of every layer", "[io][json]") {
  a2q::nn::IntegerLayer l;
  l.name = "fc";
  l.kind = "linear";
  l.method = a2q::quant::QuantMethod::a2q_plus;
  l.out_channels = 2;
  l.fan_in = 3;
  l.weights = a2q::Tensor<std::int32_t>({2, 3}, {1, -2, 0, 127, -128, 5});
  l.weight_scale = {0.5f, 0.25f};
  l.input_scale = 1.0f / 255.0f;
  l.bias = std::vector<std::int64_t>{-7, std::numeric_limits<std::int64_t>::max()};
  ScratchDir dir;
  a2q::io::save_integer_weights(dir / "w.json", {l});
  const json doc = json::parse(read_text(dir / "w.json"));
  CHECK(doc["format"] == "a2q-int-weights");
  CHECK(doc["version"] == 1);
  const json& layer = doc["layers"][0];
  CHECK(layer["method"] == "a2q+");
  CHECK(layer["weights"] == json::array({json::array({1, -2, 0}), json::array({127, -128, 5})}));
  CHECK(layer["weight_scale"] == json::array({0.5, 0.25}));
  CHECK(static_cast<float>(layer["input_scale"].get<double>()) == l.input_scale);
  CHECK(layer["bias"][1].get<std::int64_t>() == std::numeric_limits<std::int64_t>::max());
  l.bias.reset();
  CHECK(a2q::io::integer_weights_json({l})["layers"][0]["bias"].is_null());
}
