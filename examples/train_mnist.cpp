// Trains the MLP (784-256-256-10) or the CNN on Fashion-MNIST, or any MNIST-format IDX directory.
//
//   train_mnist --model mlp --epochs 10 --metrics mlp.json
//   train_mnist --data /path/to/mnist --model cnn --threads 1

#include "common/training_run.hpp"

#include <a2q/data/dataset.hpp>
#include <a2q/models/zoo.hpp>

int main(int argc, char** argv) {
  CLI::App app{"Train an MLP or CNN on Fashion-MNIST / MNIST (IDX files, raw or .gz)"};
  std::string data_dir = a2q::data::default_fashion_mnist_dir;
  std::string model_name = "mlp";
  examples::TrainingOptions options;
  app.add_option("--data", data_dir, "Directory with the four IDX files")->capture_default_str();
  app.add_option("--model", model_name, "Model")
      ->check(CLI::IsMember({"mlp", "cnn", "cnn-bn"}))
      ->capture_default_str();
  examples::add_training_flags(app, options);
  CLI11_PARSE(app, argc, argv);

  return examples::guarded_main([&] {
    const auto train =
        examples::limited(a2q::data::load_mnist(data_dir, a2q::data::Split::train), options.train_limit);
    const auto test =
        examples::limited(a2q::data::load_mnist(data_dir, a2q::data::Split::test), options.test_limit);
    a2q::Rng rng(options.seed);
    auto model = model_name == "mlp"
                     ? a2q::models::mnist_mlp(rng)
                     : a2q::models::mnist_cnn(rng, model_name == "cnn-bn", train.height(), train.width());
    if (!options.quiet)
      fmt::print("{}: {} parameters; {} training and {} test images from {}\n", model_name,
                 model->parameter_count(), train.size(), test.size(), data_dir);

    // Pixels are scaled to [0, 1] and not shifted, so the first layer sees 8-bit unsigned inputs as they are.
    const auto summary = examples::run_training(*model, train, test, options, {}, {});
    fmt::print("test accuracy {:.2f}% after {} epochs ({:.2f} s/epoch, {} threads)\n",
               100.0 * summary.test.accuracy, summary.fit.history.size(),
               summary.fit.history.empty() ? 0.0 : summary.fit.history.back().seconds, summary.threads);
    examples::write_metrics(options.metrics, model_name, data_dir, options, summary,
                            model->parameter_count());
    return examples::accuracy_exit_code(options, summary);
  });
}
