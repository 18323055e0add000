#pragma once
// Where the a2q command's images come from: an MNIST-format IDX directory (Fashion-MNIST by default) for
// 1-channel models, a CIFAR-10 binary directory for 3-channel ones, and the input normalisation each
// model was trained with.

#include <a2q/core/shape.hpp>
#include <a2q/data/dataset.hpp>
#include <a2q/data/loader.hpp>

#include <filesystem>
#include <string>

namespace a2q_cli {

/// The data set format a model's input shape ([C, H, W]) implies.
inline std::string data_format(const a2q::Shape& input) {
  return input.rank() == 3 && input[0] == 3 ? "cifar10" : "idx";
}

/// The normalisation the loaders apply for this input shape (CIFAR-10's channel statistics for 3 channels).
inline a2q::data::Normalization normalization_for(const a2q::Shape& input) {
  if (data_format(input) == "cifar10")
    return {{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}};
  return {};
}

/// Loads one split; throws config_error when the directory is missing and when the images do not have
/// the shape the model takes.
inline a2q::data::ImageDataset load_split(const std::filesystem::path& dir, const a2q::Shape& input,
                                          a2q::data::Split split, std::int64_t limit = 0) {
  if (!std::filesystem::is_directory(dir))
    throw a2q::config_error("the data directory " + dir.string() + " does not exist");
  a2q::data::ImageDataset data = data_format(input) == "cifar10" ? a2q::data::load_cifar10(dir, split)
                                                                 : a2q::data::load_mnist(dir, split);
  const a2q::Shape sample{data.images.dim(1), data.images.dim(2), data.images.dim(3)};
  if (sample != input)
    throw a2q::config_error("the model takes " + input.to_string() + " images, but " + dir.string() +
                            " holds " + sample.to_string() + " images");
  if (limit > 0 && limit < data.size())
    data = a2q::data::subset(data, 0, limit);
  return data;
}

} // namespace a2q_cli
