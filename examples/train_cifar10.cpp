// Trains a small ResNet on CIFAR-10 binary batches (data_batch_1.bin ... data_batch_5.bin, test_batch.bin).
//
//   train_cifar10 --data cifar-10-batches-bin --epochs 30 --metrics resnet.json

#include "common/quant_flags.hpp"
#include "common/training_run.hpp"

#include <a2q/data/dataset.hpp>
#include <a2q/models/zoo.hpp>

int main(int argc, char** argv) {
  CLI::App app{"Train a small ResNet on CIFAR-10 (binary batches)"};
  std::string data_dir;
  std::int64_t width = 16;
  int blocks = 1;
  bool no_augment = false;
  examples::TrainingOptions options;
  examples::QuantFlags quant;
  bool verify = false;
  options.optimizer = "sgd";
  options.lr = 0.1;
  options.weight_decay = 5e-4;
  options.epochs = 30;
  options.warmup_epochs = 1.0;
  app.add_option("--data", data_dir, "Directory with the CIFAR-10 binary batches")->required();
  app.add_option("--width", width, "Channels of the first stage (then 2x, 4x)")->check(CLI::Range(1, 512));
  app.add_option("--blocks", blocks, "Residual blocks per stage")->check(CLI::Range(1, 16));
  app.add_flag("--no-augment", no_augment, "Disable random crop (padding 4) and horizontal flip");
  examples::add_training_flags(app, options);
  examples::add_quant_flags(app, quant);
  app.add_flag("--verify", verify,
               "After training, prove per layer that no input can overflow (exit 4 if one can)");
  CLI11_PARSE(app, argc, argv);

  return examples::guarded_main([&] {
    const auto train =
        examples::limited(a2q::data::load_cifar10(data_dir, a2q::data::Split::train), options.train_limit);
    const auto test =
        examples::limited(a2q::data::load_cifar10(data_dir, a2q::data::Split::test), options.test_limit);
    a2q::Rng rng(options.seed);
    const a2q::models::QuantPolicy policy = examples::make_policy(quant);
    auto model = a2q::models::quant_cifar_resnet(policy, rng, width, blocks);
    if (!quant.init_from.empty()) {
      a2q::Rng unused(0);
      auto float_model = a2q::models::cifar_resnet(unused, width, blocks);
      examples::initialise_from_float_checkpoint(quant.init_from, *float_model, *model, policy.method);
    }
    if (!options.quiet)
      fmt::print("resnet (width {}, {} block(s)/stage): {} parameters; {} training and {} test images\n",
                 width, blocks, model->parameter_count(), train.size(), test.size());

    // The usual CIFAR-10 channel statistics.
    const a2q::data::Normalization normalization{{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}};
    a2q::data::DataLoaderOptions train_options{.normalization = normalization};
    if (!no_augment)
      train_options.augmentation = {.random_crop_padding = 4, .horizontal_flip = true};
    a2q::train::TrainerOptions trainer_options;
    trainer_options.extra_loss = [](a2q::nn::Module& m) { return a2q::nn::quant_penalty(m); };
    const auto summary = examples::run_training(*model, train, test, options, train_options,
                                                {.normalization = normalization}, trainer_options);
    fmt::print("test accuracy {:.2f}% after {} epochs ({:.2f} s/epoch, {} threads)\n",
               100.0 * summary.test.accuracy, summary.fit.history.size(),
               summary.fit.history.empty() ? 0.0 : summary.fit.history.back().seconds, summary.threads);
    if (!options.quiet)
      examples::print_layer_summary(*model);
    examples::write_metrics(options.metrics, "resnet", data_dir, options, summary, model->parameter_count(),
                            [&](nlohmann::ordered_json& doc) {
                              doc["quant"] = quant.method;
                              examples::write_layer_metrics(doc, *model);
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
