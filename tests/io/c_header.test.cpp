// The exported C header, compiled by a C compiler, computes exactly the engine's logits.
#include "a2q/io/c_header.hpp"
#include "a2q/engine/model_conversion.hpp"
#include "a2q/models/quant_zoo.hpp"

#include "custom_nets.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;
using a2q::quant::QuantMethod;

namespace {

bool have_c_compiler() {
  return std::system("cc --version > /dev/null 2>&1") == 0;
}

// Builds, calibrates and converts a model; inputs x are k/255 pixels (or normal values for the resnet).
struct Case {
  std::unique_ptr<a2q::nn::Sequential> net;
  a2q::engine::IntegerModel ints;
  Tensor<float> x;
};

Case make_case(const std::string& kind) {
  a2q::Rng rng(31);
  a2q::models::QuantPolicy policy;
  policy.method = QuantMethod::a2q_plus;
  policy.acc_bits = 16;
  Case c;
  Shape sample{1, 28, 28};
  if (kind == "mlp") {
    c.net = a2q::models::quant_mnist_mlp(policy, rng);
  } else if (kind == "cnn") {
    c.net = a2q::models::quant_mnist_cnn(policy, rng);
  } else if (kind == "espcn") { // its output is an image: dequantized, then pixel-shuffled
    c.net = a2q::models::quant_espcn(policy, rng, 1, 8, 2);
    sample = Shape{1, 9, 9};
  } else if (kind == "mobilenet") {
    c.net = a2q::models::quant_mobilenet(policy, rng, 1, 4);
    sample = Shape{1, 16, 16};
  } else if (kind == "separable") { // depthwise, average pooling, a residual block: not in the zoo
    c.net = test_nets::separable_cnn(rng, 14);
    sample = Shape{1, 16, 16};
  } else {
    policy.bias_mode = a2q::nn::BiasMode::in_accumulator;
    c.net = a2q::models::quant_cifar_resnet(policy, rng, 4, 1);
    sample = Shape{3, 12, 12};
  }
  c.x = Tensor<float>(Shape{3, sample[0], sample[1], sample[2]});
  for (float& v : c.x)
    v = kind == "resnet" ? static_cast<float>(rng.normal())
                         : static_cast<float>(rng.uniform_int(0, 255)) / 255.0f;
  a2q::NoGradGuard no_grad;
  c.net->train();
  for (int i = 0; i < 4; ++i)
    (void)c.net->forward(Var(c.x));
  c.net->eval();
  c.ints = a2q::engine::convert_to_integer(*c.net, sample);
  return c;
}

// Compiles a driver that runs NAME_predict on every sample of x and prints the logits; returns them.
std::vector<float> run_header(const Case& c, const std::filesystem::path& dir) {
  a2q::io::save_c_header(dir / "model.h", c.ints, "net");
  std::ofstream driver(dir / "driver.c");
  const std::int64_t S = c.x.dim(0), n = c.x.numel() / S;
  driver << "#include <stdio.h>\n#include \"model.h\"\nstatic const float inputs[" << c.x.numel() << "] = {";
  for (const float v : c.x) {
    char buffer[40];
    std::snprintf(buffer, sizeof buffer, "%af,", static_cast<double>(v)); // exact
    driver << buffer;
  }
  driver
      << "};\nint main(void) {\n  float logits[NET_OUTPUT_SIZE];\n  int s, i;\n  for (s = 0; s < " << S
      << "; ++s) {\n    net_predict(inputs + s * " << n
      << ", logits);\n    for (i = 0; i < NET_OUTPUT_SIZE; ++i)\n      printf(\"%.9g\\n\", logits[i]);\n  }\n"
      << "  return 0;\n}\n";
  driver.close();
  const std::string compile = "cc -std=c99 -O1 -Wall -Wextra -Werror -pedantic -o " +
                              (dir / "driver").string() + " " + (dir / "driver.c").string() + " -lm 2> " +
                              (dir / "cc.log").string();
  if (std::system(compile.c_str()) != 0) {
    std::ifstream log(dir / "cc.log");
    std::stringstream text;
    text << log.rdbuf();
    FAIL("the C compiler rejected the header:\n" << text.str().substr(0, 4000));
  }
  const std::string run = (dir / "driver").string() + " > " + (dir / "out.txt").string();
  REQUIRE(std::system(run.c_str()) == 0);
  std::ifstream in(dir / "out.txt");
  std::vector<float> out;
  std::string line;
  while (std::getline(in, line))
    out.push_back(std::strtof(line.c_str(), nullptr));
  return out;
}

} // namespace

TEST_CASE("The C header compiles and reproduces the engine's logits exactly", "[io][c_header]") {
  if (!have_c_compiler()) {
    WARN("no C compiler (cc) on this machine: skipped");
    return;
  }
  for (const std::string kind : {"mlp", "cnn", "resnet", "separable", "mobilenet", "espcn"}) {
    INFO(kind);
    const Case c = make_case(kind);
    const auto dir = std::filesystem::temp_directory_path() / ("a2q_c_header_" + kind);
    std::filesystem::create_directories(dir);
    const std::vector<float> got = run_header(c, dir);
    a2q::engine::ExecutionOptions o;
    o.accumulator_bits = 64;
    const Tensor<float> expected = c.ints.forward(c.x, o);
    REQUIRE(got.size() == static_cast<std::size_t>(expected.numel()));
    for (std::int64_t i = 0; i < expected.numel(); ++i)
      CHECK(got[static_cast<std::size_t>(i)] == expected[i]);
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("write_c_header rejects a bad prefix", "[io][c_header]") {
  const Case c = make_case("mlp");
  std::ostringstream out;
  CHECK_THROWS_AS(a2q::io::write_c_header(out, c.ints, "9lives"), a2q::config_error);
  CHECK_THROWS_AS(a2q::io::write_c_header(out, c.ints, "my-model"), a2q::config_error);
}
