// A network that is not in the model zoo, built from the library's modules in a user's own trainer:
// a depthwise-separable CNN whose hidden layers are A2Q+ at P = 16. It trains on Fashion-MNIST,
// converts to the integer engine, proves every layer overflow-free and writes a C header.
//
//   custom_cnn [--data DIR] [--epochs 1] [--train-limit 4000] [--test-limit 1000] [--header custom_cnn.h]
//
// scripts/compile_times.sh also times this file as "a user's program" (one translation unit).

#include <a2q/a2q.hpp>
#include <a2q/data/dataset.hpp>
#include <a2q/data/loader.hpp>
#include <a2q/train/train.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

namespace nn = a2q::nn;

// Each quantized layer reads its input through the activation quantizer before it.
std::unique_ptr<nn::Sequential> build(const a2q::models::QuantPolicy& policy, a2q::Rng& rng) {
  auto m = std::make_unique<nn::Sequential>();
  const nn::ActQuant* in = &m->emplace_named<nn::ActQuant>("input_quant", a2q::models::pixel_input());
  const auto conv = [&](const std::string& name, std::int64_t cin, std::int64_t cout, std::int64_t k,
                        a2q::Conv2dOptions options, bool first) {
    m->emplace_named<nn::QuantConv2d>(name, cin, cout, k, rng, policy.layer(name, first, false), *in,
                                      options);
    m->emplace_named<nn::ReLU>(name + "_relu");
    in = &m->emplace_named<nn::ActQuant>(name + "_act", policy.activation_options());
  };
  conv("stem", 1, 16, 3, {.stride = 2, .padding = 1}, true);   // 14x14
  conv("dw1", 16, 16, 3, {.padding = 1, .groups = 16}, false); // depthwise: K = 9
  conv("pw1", 16, 32, 1, {}, false);                           // pointwise: K = 16
  m->emplace_named<nn::MaxPool2d>("pool", 2);                  // 7x7
  conv("dw2", 32, 32, 3, {.padding = 1, .groups = 32}, false);
  conv("pw2", 32, 32, 1, {}, false);
  m->emplace_named<nn::GlobalAvgPool2d>("gap");
  in = &m->emplace_named<nn::ActQuant>("gap_act", policy.activation_options());
  m->emplace_named<nn::Flatten>("flatten");
  m->emplace_named<nn::QuantLinear>("fc", 32, 10, rng, policy.layer("fc", false, true), *in);
  return m;
}

int main(int argc, char** argv) try {
  std::string data = a2q::data::default_fashion_mnist_dir, header = "custom_cnn.h";
  int epochs = 1;
  std::int64_t train_limit = 4000, test_limit = 1000;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 == argc)
      throw a2q::config_error("flag '" + flag + "' needs a value");
    const std::string value = argv[i + 1];
    if (flag == "--data")
      data = value;
    else if (flag == "--epochs")
      epochs = std::stoi(value);
    else if (flag == "--train-limit")
      train_limit = std::stoll(value);
    else if (flag == "--test-limit")
      test_limit = std::stoll(value);
    else if (flag == "--header")
      header = value;
    else
      throw a2q::config_error("unknown flag '" + flag + "'");
  }
  const auto train = a2q::data::subset(a2q::data::load_mnist(data, a2q::data::Split::train), 0, train_limit);
  const auto test = a2q::data::subset(a2q::data::load_mnist(data, a2q::data::Split::test), 0, test_limit);

  a2q::Rng rng(1);
  a2q::models::QuantPolicy policy; // edge layers 8-bit with 32-bit accumulators, hidden ones at P
  policy.method = a2q::quant::QuantMethod::a2q_plus;
  policy.acc_bits = 16;
  auto model = build(policy, rng);

  a2q::Adam adam(model->parameters(), {.lr = 2e-3});
  a2q::train::Trainer trainer(
      *model, adam, {.epochs = epochs, .extra_loss = [](nn::Module& m) { return nn::quant_penalty(m); }});
  trainer.add_callback(
      std::make_shared<a2q::train::ProgressBar>(std::cout, a2q::train::stdout_is_terminal()));
  a2q::data::DataLoader train_loader(train, {.batch_size = 64, .seed = 1});
  a2q::data::DataLoader test_loader(test, {.batch_size = test.size(), .shuffle = false});
  trainer.fit(train_loader);
  model->eval();
  std::cout << "test accuracy " << 100.0 * trainer.evaluate(test_loader).accuracy << "%\n";

  const a2q::engine::IntegerModel ints = a2q::engine::convert_to_integer(*model, a2q::Shape{1, 28, 28});
  bool proven = true;
  for (const auto& proof : a2q::engine::prove_model(ints)) {
    std::cout << proof.name << ": K = " << proof.K << ", needs " << proof.required_bits << " of "
              << proof.checked_bits << " bits" << (proof.proven() ? "" : "  OVERFLOW POSSIBLE") << "\n";
    proven = proven && proof.proven();
  }
  const a2q::data::Batch all = test_loader.batch(0); // the whole test subset
  const auto overflows = a2q::engine::count_dataset_overflows(ints, all.images, all.labels);
  std::cout << "integer engine: accuracy " << 100.0 * overflows.accuracy() << "%, " << overflows.events()
            << " overflow events\n";
  a2q::io::save_c_header(header, ints, "custom_cnn");
  std::cout << "wrote " << header << "\n";
  return proven && overflows.events() == 0 ? EXIT_SUCCESS : 4;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
