// Trains the MLP (784-256-256-10) or the CNN on Fashion-MNIST, or any MNIST-format IDX directory.
//
//   train_mnist --model mlp --epochs 10 --metrics mlp.json
//   train_mnist --data /path/to/mnist --model cnn --threads 1

#include "common/quant_flags.hpp"
#include "common/training_run.hpp"

#include <a2q/data/dataset.hpp>
#include <a2q/models/zoo.hpp>

int main(int argc, char** argv) {
  CLI::App app{"Train an MLP or CNN on Fashion-MNIST / MNIST (IDX files, raw or .gz)"};
  std::string data_dir = a2q::data::default_fashion_mnist_dir;
  std::string model_name = "mlp";
  examples::TrainingOptions options;
  examples::QuantFlags quant;
  bool verify = false;
  int crop_padding = 0;
  bool flip = false;
  app.add_option("--data", data_dir, "Directory with the four IDX files")->capture_default_str();
  app.add_option("--model", model_name, "Model")
      ->check(CLI::IsMember({"mlp", "cnn", "cnn-bn"}))
      ->capture_default_str();
  examples::add_training_flags(app, options);
  examples::add_quant_flags(app, quant);
  app.add_option("--crop-padding", crop_padding, "Augment with random crops of the image padded by this much")
      ->check(CLI::Range(0, 8));
  app.add_flag("--flip", flip, "Augment with random horizontal flips");
  app.add_flag("--verify", verify,
               "After training, prove per layer that no input can overflow its accumulator "
               "(exit 4 if one can)");
  CLI11_PARSE(app, argc, argv);

  return examples::guarded_main([&] {
    const auto train =
        examples::limited(a2q::data::load_mnist(data_dir, a2q::data::Split::train), options.train_limit);
    const auto test =
        examples::limited(a2q::data::load_mnist(data_dir, a2q::data::Split::test), options.test_limit);
    a2q::Rng rng(options.seed);
    const a2q::models::QuantPolicy policy = examples::make_policy(quant);
    auto model = model_name == "mlp"
                     ? a2q::models::quant_mnist_mlp(policy, rng)
                     : (model_name == "cnn-bn"
                            ? a2q::models::mnist_cnn(rng, true, train.height(), train.width())
                            : a2q::models::quant_mnist_cnn(policy, rng, train.height(), train.width()));
    if (model_name == "cnn-bn" && policy.method != a2q::quant::QuantMethod::none)
      throw a2q::config_error("--model cnn-bn is float only; use --model cnn with --quant");
    if (!quant.init_from.empty()) {
      a2q::Rng unused(0);
      auto float_model = model_name == "mlp" ? a2q::models::mnist_mlp(unused)
                                             : a2q::models::mnist_cnn(unused, model_name == "cnn-bn",
                                                                      train.height(), train.width());
      examples::initialise_from_float_checkpoint(quant.init_from, *float_model, *model, policy.method);
    }
    if (!options.quiet)
      fmt::print("{}: {} parameters; {} training and {} test images from {}\n", model_name,
                 model->parameter_count(), train.size(), test.size(), data_dir);

    // Pixels are scaled to [0, 1] and not shifted, so the first layer sees 8-bit unsigned inputs as they are.
    a2q::train::TrainerOptions trainer_options;
    trainer_options.extra_loss = [](a2q::nn::Module& m) { return a2q::nn::quant_penalty(m); };
    a2q::data::DataLoaderOptions train_loader;
    train_loader.augmentation = {.random_crop_padding = crop_padding, .horizontal_flip = flip};
    const auto summary =
        examples::run_training(*model, train, test, options, train_loader, {}, trainer_options);
    fmt::print("test accuracy {:.2f}% after {} epochs ({:.2f} s/epoch, {} threads)\n",
               100.0 * summary.test.accuracy, summary.fit.history.size(),
               summary.fit.history.empty() ? 0.0 : summary.fit.history.back().seconds, summary.threads);
    if (!options.quiet)
      examples::print_layer_summary(*model);
    std::optional<examples::AccumulatorEval> accumulator_eval;
    if (!quant.eval_accumulator.empty())
      accumulator_eval = examples::evaluate_with_accumulators(*model, test, quant);
    examples::write_metrics(options.metrics, model_name, data_dir, options, summary, model->parameter_count(),
                            [&](nlohmann::ordered_json& doc) {
                              doc["quant"] = quant.method;
                              examples::write_layer_metrics(doc, *model);
                              if (accumulator_eval)
                                examples::write_accumulator_eval(doc, quant, *accumulator_eval);
                            });
    if (!quant.export_int.empty()) {
      examples::create_parent_directory(quant.export_int);
      a2q::io::save_integer_weights(quant.export_int, a2q::nn::integer_layers(*model));
    }
    if (verify && !examples::verify_accumulators(*model))
      return 4;
    return examples::accuracy_exit_code(options, summary);
  });
}
