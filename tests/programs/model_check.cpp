// Checks for the command-line workflow in CTest, on model files the commands wrote:
//
//   model_check same A.a2q B.a2q
//       the two files hold the same architecture, parameters (bit for bit) and integer layers;
//   model_check break-arch IN.a2q OUT.a2q
//       OUT is IN with a kernel size of 0 in its architecture (valid checksums, an impossible layer);
//   model_check header MODEL.a2q HEADER.h DATA_DIR N
//       the C header, compiled with cc and run on the first N test images of DATA_DIR, computes exactly
//       the logits of the integer engine on the model file;
//   model_check lie MLP.a2q OUTDIR
//       writes model files that lie, all with valid checksums, from MLP.a2q (the zoo MLP, A2Q+ at P = 16):
//         integers.a2q   fc2's channel 0 set to 127 in every weight, its parameters left alone;
//         claimed_p.a2q  fc2's stored accumulator width set to 12, its description left at 16;
//         arch_p.a2q     fc2 described and stored at P = 12, with the parameters trained for 16;
//         baseline.a2q   an honest baseline MLP whose fc2 is stored at P = 16 but needs more.

#include <a2q/a2q.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

/// The exact accumulator width the integer layer `name` of `model` needs.
int nn_required_bits(const a2q::nn::Module& model, const std::string& name) {
  for (const auto& layer : a2q::nn::integer_layers(model))
    if (layer.name == name)
      return layer.required_bits();
  throw std::runtime_error("the model has no layer '" + name + "'");
}

bool same_floats(const a2q::Tensor<float>& a, const a2q::Tensor<float>& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.numel())) == 0;
}

int same(const std::string& a_path, const std::string& b_path) {
  const a2q::io::ModelFile a = a2q::io::load_model_file(a_path);
  const a2q::io::ModelFile b = a2q::io::load_model_file(b_path);
  if (a.architecture.empty() || a.architecture != b.architecture) {
    std::cerr << "the architectures differ (or are missing)\n";
    return 1;
  }
  if (a.parameters.size() != b.parameters.size()) {
    std::cerr << a.parameters.size() << " against " << b.parameters.size() << " parameters\n";
    return 1;
  }
  for (std::size_t i = 0; i < a.parameters.size(); ++i)
    if (a.parameters[i].first != b.parameters[i].first ||
        !same_floats(a.parameters[i].second, b.parameters[i].second)) {
      std::cerr << "parameter " << a.parameters[i].first << " differs\n";
      return 1;
    }
  if (a.integer_layers.size() != b.integer_layers.size()) {
    std::cerr << "the integer layers differ in number\n";
    return 1;
  }
  for (std::size_t i = 0; i < a.integer_layers.size(); ++i)
    if (!(a.integer_layers[i].weights == b.integer_layers[i].weights)) {
      std::cerr << "integer layer " << a.integer_layers[i].name << " differs\n";
      return 1;
    }
  std::cout << "same architecture, " << a.parameters.size() << " parameter tensors and "
            << a.integer_layers.size() << " integer layers\n";
  return 0;
}

int break_architecture(const std::string& in, const std::string& out) {
  a2q::io::ModelFile file = a2q::io::load_model_file(in);
  const std::string from = "\"kernel\": 3";
  const auto at = file.architecture.find(from);
  if (at == std::string::npos) {
    std::cerr << in << " has no 3x3 kernel to break\n";
    return 1;
  }
  file.architecture.replace(at, from.size(), "\"kernel\": 0");
  a2q::io::save_model_file(out, file);
  return 0;
}

/// The integer layer called `name`.
a2q::nn::IntegerLayer& layer_named(a2q::io::ModelFile& file, const std::string& name) {
  for (auto& layer : file.integer_layers)
    if (layer.name == name)
      return layer;
  throw std::runtime_error("the model has no layer '" + name + "'");
}

int write_lies(const std::string& in, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const a2q::io::ModelFile original = a2q::io::load_model_file(in);

  a2q::io::ModelFile integers = original;
  a2q::nn::IntegerLayer& fc2 = layer_named(integers, "fc2");
  std::fill(fc2.weights.data(), fc2.weights.data() + fc2.fan_in, 127);
  a2q::io::save_model_file(dir / "integers.a2q", integers);

  a2q::io::ModelFile claimed = original;
  layer_named(claimed, "fc2").accumulator_bits = 12;
  a2q::io::save_model_file(dir / "claimed_p.a2q", claimed);

  // fc2 is the only layer with "acc_bits": 16 (the first and last are the 32-bit edge layers).
  a2q::io::ModelFile described = original;
  const std::string from = "\"acc_bits\": 16";
  const auto at = described.architecture.find(from);
  if (at == std::string::npos || described.architecture.find(from, at + 1) != std::string::npos)
    throw std::runtime_error(in + ": expected exactly one layer at P = 16");
  described.architecture.replace(at, from.size(), "\"acc_bits\": 12");
  layer_named(described, "fc2").accumulator_bits = 12;
  a2q::io::save_model_file(dir / "arch_p.a2q", described);

  a2q::models::ModelRecipe recipe;
  recipe.mlp_width = 32;
  recipe.policy.method = a2q::quant::QuantMethod::baseline;
  recipe.policy.acc_bits = 16;
  a2q::Rng rng(5);
  const auto baseline = recipe.build(rng);
  a2q::Tensor<float> images(a2q::Shape{8, 1, 28, 28});
  for (std::int64_t i = 0; i < images.numel(); ++i)
    images[i] = static_cast<float>(rng.uniform01());
  {
    const a2q::NoGradGuard no_grad;
    baseline->train(true);
    for (int b = 0; b < 4; ++b)
      (void)baseline->forward(a2q::Var(images));
  }
  baseline->eval();
  const auto needs = nn_required_bits(*baseline, "fc2");
  if (needs <= 16)
    throw std::runtime_error("the baseline fc2 needs only " + std::to_string(needs) +
                             " bits; it must need more");
  a2q::io::save_model(dir / "baseline.a2q", recipe, *baseline);
  std::cout << "wrote 4 lying model files to " << dir.string() << " (the baseline fc2 needs " << needs
            << " bits)\n";
  return 0;
}

int header(const std::string& model_path, const std::filesystem::path& header_path, const std::string& data,
           std::int64_t n) {
  const a2q::io::LoadedModel m = a2q::io::load_model(model_path);
  auto test = a2q::data::load_mnist(data, a2q::data::Split::test);
  test = a2q::data::subset(test, 0, n);
  const a2q::data::Batch batch = a2q::data::DataLoader(test, {.batch_size = n, .shuffle = false}).batch(0);
  a2q::engine::ExecutionOptions wide;
  wide.accumulator_bits = 64; // the header sums in int64_t
  const a2q::Tensor<float> expected = a2q::io::to_integer_model(m).forward(batch.images, wide);

  const auto dir = header_path.parent_path() / (header_path.stem().string() + "_check");
  std::filesystem::create_directories(dir);
  std::string prefix;
  {
    std::ifstream h(header_path);
    std::string line;
    while (std::getline(h, line) && prefix.empty())
      if (const auto at = line.find("_predict_q(");
          at != std::string::npos && line.find("static inline") == 0)
        prefix = line.substr(line.find("void ") + 5, at - line.find("void ") - 5);
  }
  if (prefix.empty()) {
    std::cerr << header_path << " has no *_predict_q function\n";
    return 1;
  }
  std::ofstream driver(dir / "driver.c");
  const std::int64_t per_sample = batch.images.numel() / n;
  driver << "#include <stdio.h>\n#include \"" << std::filesystem::absolute(header_path).string()
         << "\"\nstatic const float inputs[" << batch.images.numel() << "] = {";
  for (const float v : batch.images) {
    char buffer[40];
    std::snprintf(buffer, sizeof buffer, "%af,", static_cast<double>(v)); // exact
    driver << buffer;
  }
  driver << "};\nint main(void) {\n  static float logits[4096];\n  int s, i;\n  for (s = 0; s < " << n
         << "; ++s) {\n    " << prefix << "_predict(inputs + s * " << per_sample << ", logits);\n"
         << "    for (i = 0; i < " << expected.numel() / n
         << "; ++i)\n      printf(\"%.9g\\n\", logits[i]);\n"
         << "  }\n  return 0;\n}\n";
  driver.close();
  const std::string compile = "cc -std=c99 -O1 -Wall -Wextra -Werror -pedantic -o " +
                              (dir / "driver").string() + " " + (dir / "driver.c").string() + " -lm";
  if (std::system(compile.c_str()) != 0) {
    std::cerr << "the C compiler rejected " << header_path << "\n";
    return 1;
  }
  const std::string run = (dir / "driver").string() + " > " + (dir / "out.txt").string();
  if (std::system(run.c_str()) != 0) {
    std::cerr << "the compiled header failed to run\n";
    return 1;
  }
  std::ifstream out(dir / "out.txt");
  std::vector<float> got;
  for (std::string line; std::getline(out, line);)
    got.push_back(std::strtof(line.c_str(), nullptr));
  if (got.size() != static_cast<std::size_t>(expected.numel())) {
    std::cerr << got.size() << " logits from the header, " << expected.numel() << " from the engine\n";
    return 1;
  }
  std::int64_t differ = 0;
  for (std::int64_t i = 0; i < expected.numel(); ++i)
    differ += std::memcmp(&got[static_cast<std::size_t>(i)], &expected[i], sizeof(float)) != 0;
  if (differ != 0) {
    std::cerr << differ << " of " << expected.numel() << " logits differ from the engine's\n";
    return 1;
  }
  std::cout << "the compiled header's " << expected.numel() << " logits on " << n
            << " test images equal the integer engine's bit for bit\n";
  return 0;
}

} // namespace

int main(int argc, char** argv) try {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 3 && args[0] == "same")
    return same(args[1], args[2]);
  if (args.size() == 3 && args[0] == "break-arch")
    return break_architecture(args[1], args[2]);
  if (args.size() == 3 && args[0] == "lie")
    return write_lies(args[1], args[2]);
  if (args.size() == 5 && args[0] == "header")
    return header(args[1], args[2], args[3], std::stoll(args[4]));
  std::cerr << "usage: model_check same A B | break-arch IN OUT | header MODEL HEADER DATA_DIR N | lie MLP "
               "OUTDIR\n";
  return 2;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
