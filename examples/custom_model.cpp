// A network that is not in the model zoo, built from the library's modules in a user's own trainer:
// a depthwise-separable CNN whose hidden layers are A2Q+ at P = 14. It trains on Fashion-MNIST with the
// A2Q penalty, converts to the integer engine, proves every layer overflow-free, counts overflows on the
// test set, saves a model file (which every `a2q` command reads), loads it back and writes a C header.
// docs/tutorial.md walks through this file; examples/custom_model.json is the same network for
// `a2q train --arch`.
//
//   custom_model [--data DIR] [--epochs 2] [--train-limit 0] [--test-limit 0] [--seed 1] [--threads 0]
//                [-o custom_model.a2q] [--header custom_model.h]
//
// scripts/compile_times.sh also times this file as "a user's program" (one translation unit).

#include <a2q/a2q.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

namespace nn = a2q::nn;

// [build]
// Each quantized layer reads its input through the activation quantizer before it, and takes its
// settings from the policy: the first and last layers keep 8-bit weights and a 32-bit accumulator, the
// hidden ones are A2Q+ at the policy's P.
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
  conv("stem", 1, 16, 3, {.stride = 2, .padding = 1}, true);   // 14 x 14
  conv("dw1", 16, 16, 3, {.padding = 1, .groups = 16}, false); // depthwise: K = 9
  conv("pw1", 16, 32, 1, {}, false);                           // pointwise: K = 16
  m->emplace_named<nn::MaxPool2d>("pool", 2);                  // 7 x 7
  conv("dw2", 32, 32, 3, {.padding = 1, .groups = 32}, false);
  conv("pw2", 32, 32, 1, {}, false);
  m->emplace_named<nn::Flatten>("flatten"); // 32 x 7 x 7 = 1568 features
  m->emplace_named<nn::QuantLinear>("fc", 32 * 7 * 7, 10, rng, policy.layer("fc", false, true), *in);
  return m;
}
// [build end]

namespace {

struct Options {
  std::string data = a2q::data::default_fashion_mnist_dir;
  std::string out = "custom_model.a2q";
  std::string header = "custom_model.h";
  int epochs = 2;
  std::int64_t train_limit = 0; // 0: all
  std::int64_t test_limit = 0;
  std::uint64_t seed = 1;
  int threads = 0; // 0: A2Q_NUM_THREADS or every core
};

std::int64_t count_flag(const std::string& flag, const std::string& value, std::int64_t lo) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || v < lo)
    throw a2q::config_error(flag + " needs an integer >= " + std::to_string(lo) + ", got '" + value + "'");
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 == argc)
      throw a2q::config_error("flag '" + flag + "' needs a value");
    const std::string value = argv[i + 1];
    if (flag == "--data")
      o.data = value;
    else if (flag == "-o" || flag == "--out")
      o.out = value;
    else if (flag == "--header")
      o.header = value;
    else if (flag == "--epochs")
      o.epochs = static_cast<int>(count_flag(flag, value, 1));
    else if (flag == "--train-limit")
      o.train_limit = count_flag(flag, value, 0);
    else if (flag == "--test-limit")
      o.test_limit = count_flag(flag, value, 0);
    else if (flag == "--seed")
      o.seed = static_cast<std::uint64_t>(count_flag(flag, value, 0));
    else if (flag == "--threads")
      o.threads = static_cast<int>(count_flag(flag, value, 0));
    else
      throw a2q::config_error(
          "unknown flag '" + flag +
          "' (expected --data, --epochs, --train-limit, --test-limit, --seed, --threads, -o, "
          "--header)");
  }
  return o;
}

a2q::data::ImageDataset first(a2q::data::ImageDataset data, std::int64_t limit) {
  return limit > 0 && limit < data.size() ? a2q::data::subset(data, 0, limit) : data;
}

} // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  if (o.threads > 0)
    a2q::set_num_threads(o.threads);
  const auto train = first(a2q::data::load_mnist(o.data, a2q::data::Split::train), o.train_limit);
  const auto test = first(a2q::data::load_mnist(o.data, a2q::data::Split::test), o.test_limit);

  // [train]
  a2q::models::QuantPolicy policy;
  policy.method = a2q::quant::QuantMethod::a2q_plus;
  policy.acc_bits = 14;
  a2q::Rng rng(o.seed);
  auto model = build(policy, rng);

  a2q::data::DataLoader train_loader(train, {.batch_size = 128, .seed = o.seed});
  a2q::data::DataLoader test_loader(test, {.batch_size = 256, .shuffle = false});
  a2q::Adam adam(model->parameters(), {.lr = 1e-3});
  a2q::train::Trainer trainer(
      *model, adam,
      {.epochs = o.epochs,
       .schedule = a2q::cosine_lr(1e-3, o.epochs * train_loader.num_batches()),
       .extra_loss = [](nn::Module& m) { return nn::quant_penalty(m); }}); // the A2Q penalty
  trainer.add_callback(
      std::make_shared<a2q::train::ProgressBar>(std::cout, a2q::train::stdout_is_terminal()));
  const a2q::train::FitResult fit = trainer.fit(train_loader, &test_loader);
  model->eval();
  const double accuracy = fit.validation ? fit.validation->accuracy : 0.0;
  // [train end]

  // [verify]
  const a2q::Shape input{1, 28, 28};
  const a2q::engine::IntegerModel ints = a2q::engine::convert_to_integer(*model, input);
  bool proven = true;
  for (const auto& proof : a2q::engine::prove_model(ints)) {
    std::cout << proof.name << ": K = " << proof.K << ", needs " << proof.required_bits << " of "
              << proof.checked_bits << " bits" << (proof.proven() ? "" : "  OVERFLOW POSSIBLE") << "\n";
    proven = proven && proof.proven();
  }
  const a2q::data::Batch all =
      a2q::data::DataLoader(test, {.batch_size = test.size(), .shuffle = false}).batch(0);
  const auto overflows = a2q::engine::count_dataset_overflows(ints, all.images, all.labels);
  std::cout << "integer engine: accuracy " << 100.0 * overflows.accuracy() << "%, " << overflows.events()
            << " overflow events\n";
  // [verify end]

  // [save]
  a2q::io::save_model(o.out, *model, input,
                      {{"model", "custom_model"},
                       {"quant", "a2q+"},
                       {"seed", std::to_string(o.seed)},
                       {"test_accuracy", std::to_string(accuracy)}});
  const a2q::io::LoadedModel loaded = a2q::io::load_model(o.out);
  const a2q::engine::IntegerModel reloaded = a2q::io::to_integer_model(loaded);
  const bool same = reloaded.forward(all.images) == ints.forward(all.images);
  a2q::io::save_c_header(o.header, reloaded, "custom_model");
  std::cout << "wrote " << o.out << " (reloaded: " << (same ? "same logits" : "LOGITS DIFFER") << ") and "
            << o.header << "\n";
  // [save end]
  return proven && overflows.events() == 0 && same ? EXIT_SUCCESS : 4;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
