#pragma once
// a2q train: trains a model on a data set and writes a model file (plus the progress bar, CSV log and
// metrics JSON of the examples).

#include "data_source.hpp"

#include "common/quant_flags.hpp"
#include "common/training_run.hpp"

#include <a2q/io/architecture.hpp>
#include <a2q/io/model_io.hpp>
#include <a2q/io/quantized_architecture.hpp>
#include <a2q/models/quant_zoo.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <array>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>

namespace a2q_cli {

struct TrainCommand {
  std::string model = "mlp";
  std::string arch; ///< a network described in JSON instead of a recipe
  std::string data = a2q::data::default_fashion_mnist_dir;
  std::string out;
  std::int64_t width = 0; // 0: the architecture's default
  int blocks = 1;
  int crop_padding = 0;
  bool flip = false;
  examples::TrainingOptions training;
  examples::QuantFlags quant;

  void add_to(CLI::App& app) {
    auto* cmd = app.add_subcommand("train", "Train a model and write it to a model file");
    cmd->add_option("--model", model, "Architecture")
        ->check(CLI::IsMember({"mlp", "cnn", "resnet", "mobilenet", "espcn"}))
        ->capture_default_str();
    cmd->add_option("--arch", arch,
                    "Train the network described in this JSON file (see docs/architecture.md) instead of "
                    "--model; the quantization flags fill in the settings it leaves out")
        ->check(CLI::ExistingFile);
    cmd->add_option("--data", data,
                    "Data directory: MNIST-format IDX files, or CIFAR-10 binary for resnet (and mobilenet)")
        ->capture_default_str();
    cmd->add_option("-o,--out", out, "Model file to write")->required();
    cmd->add_option(
           "--width", width,
           "mlp: hidden-layer width (default 256); resnet: channels of the first stage (default 16); "
           "mobilenet: channels of the stem (default 8); espcn: channels of the first convolution (default "
           "32)")
        ->check(CLI::Range(1, 4096));
    cmd->add_option("--blocks", blocks, "resnet: residual blocks per stage")->check(CLI::Range(1, 16));
    cmd->add_option("--crop-padding", crop_padding,
                    "Augment with random crops of the image padded by this much")
        ->check(CLI::Range(0, 8));
    cmd->add_flag("--flip", flip, "Augment with random horizontal flips");
    examples::add_training_flags(*cmd, training);
    examples::add_policy_flags(*cmd, quant);
    cmd->callback([this] { selected = true; });
  }

  bool selected = false;

  int run(const std::string& command_line) const {
    examples::create_parent_directory(out);
    if (!arch.empty())
      return run_architecture(command_line);
    if (!quant.init_from.empty() && is_model_file(quant.init_from))
      return run_from_model(command_line);
    a2q::models::ModelRecipe recipe = make_recipe();
    const std::int64_t upscale = recipe.super_resolution() ? recipe.upscale : 0;
    refuse_augmentation(upscale, "the " + model);
    const auto train = load_split(data, recipe.input, a2q::data::Split::train, training.train_limit, upscale);
    const auto test = load_split(data, recipe.input, a2q::data::Split::test, training.test_limit, upscale);
    recipe.classes = std::max(train.num_classes, 2);

    a2q::Rng rng(training.seed);
    auto net = recipe.build(rng);
    if (!quant.init_from.empty()) {
      a2q::models::ModelRecipe float_recipe = recipe;
      float_recipe.policy.method = a2q::quant::QuantMethod::none;
      a2q::Rng unused(0);
      auto float_model = float_recipe.build(unused);
      examples::initialise_from_float_checkpoint(quant.init_from, *float_model, *net, recipe.policy.method);
    }
    return train_and_save(*net, model, recipe.input, normalization_for(recipe.input), train, test,
                          command_line,
                          [&](const a2q::io::Metadata& m) { a2q::io::save_model(out, recipe, *net, m); });
  }

  /// The recipe the flags ask for; its input shape comes from the data (the test split, which is small).
  a2q::models::ModelRecipe make_recipe() const {
    a2q::models::ModelRecipe recipe;
    recipe.architecture = model;
    recipe.policy = examples::make_policy(quant);
    if (width > 0 && model == "cnn")
      throw a2q::config_error(
          "--width applies to the mlp, the resnet, the mobilenet and the espcn, not the cnn");
    if (width > 0)
      (model == "mlp"         ? recipe.mlp_width
       : model == "mobilenet" ? recipe.mobilenet_width
       : model == "espcn"     ? recipe.espcn_width
                              : recipe.resnet_width) = width;
    recipe.resnet_blocks = blocks;
    // The resnet takes CIFAR-10; the mobilenet takes either, as the data directory holds.
    const bool cifar =
        model == "resnet" ||
        (model == "mobilenet" && std::filesystem::exists(std::filesystem::path(data) / "test_batch.bin"));
    recipe.input = cifar ? a2q::Shape{3, 32, 32} : a2q::Shape{1, 28, 28};
    if (!cifar && std::filesystem::is_directory(data)) {
      const auto probe = a2q::data::load_mnist(data, a2q::data::Split::test);
      recipe.input = a2q::Shape{probe.channels(), probe.height(), probe.width()};
    }
    if (recipe.super_resolution()) // the network reads the low-resolution image
      recipe.input =
          a2q::Shape{recipe.input[0], recipe.input[1] / recipe.upscale, recipe.input[2] / recipe.upscale};
    recipe.validate();
    return recipe;
  }

  /// Augmentation is for classifiers: a super-resolution model (upscale > 0) is scored against its targets.
  void refuse_augmentation(std::int64_t upscale, const std::string& what) const {
    if (upscale > 0 && (crop_padding > 0 || flip))
      throw a2q::config_error("--crop-padding and --flip augment classifiers' inputs; " + what +
                              " is scored against its target images");
  }

  static bool is_model_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::array<char, 8> magic{};
    in.read(magic.data(), magic.size());
    return in && magic == a2q::io::model_file_magic;
  }

  /// a2q train --init-from model.a2q: fine-tunes a float model file (e.g. imported from ONNX) as it is, or
  /// its quantized twin (io/quantized_architecture.hpp) initialised from its weights (A2Q / A2Q+ with
  /// the Euclidean-projection init), keeping the input normalisation the file records.
  int run_from_model(const std::string& command_line) const {
    if (width > 0 || blocks != 1 || model != "mlp")
      throw a2q::config_error("--init-from a model file: the file gives the network; --model, --width and "
                              "--blocks do not apply");
    const a2q::io::LoadedModel source = a2q::io::load_model(quant.init_from);
    if (source.quantized())
      throw a2q::config_error("--init-from " + quant.init_from +
                              ": the model is already quantized (start from a float model)");
    const a2q::models::QuantPolicy policy = examples::make_policy(quant);
    const a2q::data::Normalization normalization = normalization_for(source.input, source.file);
    const bool quantize = policy.method != a2q::quant::QuantMethod::none;
    std::string description = source.architecture;
    try {
      if (quantize)
        description =
            a2q::io::quantized_architecture(description, policy, /*pixel_input=*/normalization.empty());
    } catch (const a2q::config_error& e) {
      throw a2q::config_error("--init-from " + quant.init_from + ": " + e.what());
    }
    a2q::Rng rng(training.seed);
    a2q::io::Architecture built =
        a2q::io::build_architecture(description, rng, &policy, /*check_shapes=*/true);
    a2q::nn::Module& net = *built.network;
    if (quantize)
      a2q::models::load_float_weights(net, *source.model);
    else
      net.load_state_dict(source.model->state_dict());
    // A super-resolution model (the ESPCN recipe's float model, say) keeps its task: its data are the
    // low-resolution images against the originals, and the file it writes says so for eval and verify.
    const std::int64_t upscale = upscale_of(source.file);
    refuse_augmentation(upscale, quant.init_from);
    const auto train = load_split(data, built.input, a2q::data::Split::train, training.train_limit, upscale);
    const auto test = load_split(data, built.input, a2q::data::Split::test, training.test_limit, upscale);
    const std::string name = std::filesystem::path(quant.init_from).filename().string();
    return train_and_save(
        net, name, built.input, normalization, train, test, command_line, [&](a2q::io::Metadata m) {
          m.insert(m.begin(), {{"model", name}, {"quant", quant.method}, {"init_from", quant.init_from}});
          if (upscale > 0)
            m.emplace_back("upscale", std::to_string(upscale));
          a2q::io::save_model(out, net, built.input, m);
        });
  }

  /// a2q train --arch: the network from a JSON description, every error naming its layer before any
  /// training starts.
  int run_architecture(const std::string& command_line) const {
    if (width > 0 || blocks != 1 || model != "mlp")
      throw a2q::config_error(
          "--arch describes the whole network: --model, --width and --blocks do not apply");
    if (!quant.init_from.empty())
      throw a2q::config_error("--init-from applies to --model recipes and to model files, not to --arch");
    std::ifstream file(arch, std::ios::binary);
    std::stringstream text;
    text << file.rdbuf();
    if (!file)
      throw a2q::io_error(arch + ": cannot be read");
    const a2q::models::QuantPolicy policy = examples::make_policy(quant);
    a2q::Rng rng(training.seed);
    a2q::io::Architecture built;
    try {
      built = a2q::io::build_architecture(text.str(), rng, &policy, /*check_shapes=*/true);
    } catch (const a2q::config_error& e) {
      throw a2q::config_error(arch + ": " + e.what());
    }
    a2q::nn::Module& net = *built.network;
    const auto train = load_split(data, built.input, a2q::data::Split::train, training.train_limit);
    const auto test = load_split(data, built.input, a2q::data::Split::test, training.test_limit);
    const std::int64_t classes = std::max(train.num_classes, 2);
    if (built.output.rank() != 1 || built.output[0] < classes)
      throw a2q::config_error(arch + ": the network's output has shape " + built.output.to_string() +
                              ", but " + data + " has " + std::to_string(classes) + " classes (expected [" +
                              std::to_string(classes) + "])");
    return train_and_save(net, arch, built.input, normalization_for(built.input), train, test, command_line,
                          [&](a2q::io::Metadata m) {
                            m.insert(m.begin(), {{"model", std::filesystem::path(arch).filename().string()},
                                                 {"quant", quant.method}});
                            a2q::io::save_model(out, net, built.input, m);
                          });
  }

  /// What both routes share: trains `net` (with the A2Q penalty and the augmentation flags), prints and
  /// writes the metrics, and has `save` write the model file with what the run was.
  int train_and_save(a2q::nn::Module& net, const std::string& name, const a2q::Shape& input,
                     const a2q::data::Normalization& normalization, const a2q::data::ImageDataset& train,
                     const a2q::data::ImageDataset& test, const std::string& command_line,
                     const std::function<void(a2q::io::Metadata)>& save) const {
    if (!training.quiet)
      fmt::print("{} ({}): {} parameters; {} training and {} test images from {}\n", name, quant.method,
                 net.parameter_count(), train.size(), test.size(), data);
    a2q::train::TrainerOptions trainer_options;
    trainer_options.extra_loss = [](a2q::nn::Module& m) { return a2q::nn::quant_penalty(m); };
    a2q::data::DataLoaderOptions train_loader;
    train_loader.normalization = normalization;
    train_loader.augmentation = {.random_crop_padding = crop_padding, .horizontal_flip = flip};
    a2q::data::DataLoaderOptions test_loader;
    test_loader.normalization = normalization;
    const auto summary =
        examples::run_training(net, train, test, training, train_loader, test_loader, trainer_options);
    fmt::print("test {} after {} epochs ({:.2f} s/epoch, {} threads)\n",
               summary.test.psnr_db ? fmt::format("PSNR {:.2f} dB", *summary.test.psnr_db)
                                    : fmt::format("accuracy {:.2f}%", 100.0 * summary.test.accuracy),
               summary.fit.history.size(),
               summary.fit.history.empty() ? 0.0 : summary.fit.history.back().seconds, summary.threads);
    examples::write_metrics(training.metrics, name, data, training, summary, net.parameter_count(),
                            [&](nlohmann::ordered_json& doc) {
                              doc["quant"] = quant.method;
                              examples::write_layer_metrics(doc, net);
                            });
    net.eval();
    a2q::io::Metadata metadata{{"seed", std::to_string(training.seed)},
                               {"command_line", command_line},
                               {"data", data},
                               {"epochs", std::to_string(summary.fit.history.size())},
                               {"test_accuracy", fmt::format("{:.6f}", summary.test.accuracy)}};
    if (summary.test.psnr_db)
      metadata.emplace_back("test_psnr_db", fmt::format("{:.4f}", *summary.test.psnr_db));
    for (auto& entry : normalization_metadata(input, normalization))
      metadata.push_back(std::move(entry));
    save(std::move(metadata));
    fmt::print("wrote {}\n", out);
    return examples::accuracy_exit_code(training, summary);
  }
};

} // namespace a2q_cli
