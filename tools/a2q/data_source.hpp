#pragma once
// Where the a2q command's images come from: an MNIST-format IDX directory (Fashion-MNIST by default) for
// 1-channel models, a CIFAR-10 binary directory for 3-channel ones, and the input normalisation each
// model was trained with.

#include <a2q/autograd/variable.hpp>
#include <a2q/core/shape.hpp>
#include <a2q/data/dataset.hpp>
#include <a2q/data/loader.hpp>
#include <a2q/io/model_file.hpp>
#include <a2q/io/model_io.hpp>
#include <a2q/nn/module.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

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

/// Comma-separated finite numbers; an item that is not one throws Error naming `what`.
template <class Error>
std::vector<float> parse_numbers(const std::string& text, const std::string& what) {
  std::vector<float> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t used = 0;
    float v = 0.0f;
    try {
      v = std::stof(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || !std::isfinite(v))
      throw Error(what + ": '" + item + "' is not a number");
    out.push_back(v);
  }
  return out;
}

/// --normalize MEANS,STDS (import, audit): the C means, then the C standard deviations; empty: none.
inline a2q::data::Normalization parse_normalize_flag(const std::string& text) {
  if (text.empty())
    return {};
  const std::vector<float> values = parse_numbers<a2q::config_error>(text, "--normalize");
  if (values.empty() || values.size() % 2 != 0)
    throw a2q::config_error(
        "--normalize takes the C means then the C standard deviations (an even count), got " +
        std::to_string(values.size()) + " numbers");
  const auto half = static_cast<std::ptrdiff_t>(values.size() / 2);
  return {{values.begin(), values.begin() + half}, {values.begin() + half, values.end()}};
}

/// The normalisation a model file records (imported and recently trained models), else the default for its
/// input shape.
inline a2q::data::Normalization normalization_for(const a2q::Shape& input, const a2q::io::ModelFile& file) {
  const auto mean = file.find_metadata(a2q::io::input_mean_key);
  const auto stddev = file.find_metadata(a2q::io::input_std_key);
  if (!mean || !stddev)
    return normalization_for(input);
  a2q::data::Normalization n{
      parse_numbers<a2q::io_error>(*mean, std::string("the model file's ") + a2q::io::input_mean_key),
      parse_numbers<a2q::io_error>(*stddev, std::string("the model file's ") + a2q::io::input_std_key)};
  const std::int64_t channels = input.rank() == 3 ? input[0] : 1;
  if (static_cast<std::int64_t>(n.mean.size()) != channels || n.stddev.size() != n.mean.size() ||
      std::any_of(n.stddev.begin(), n.stddev.end(), [](float s) { return !(s > 0.0f); }))
    throw a2q::io_error(
        "the model file's input normalisation does not give one mean and one positive standard "
        "deviation per input channel");
  const bool identity = std::all_of(n.mean.begin(), n.mean.end(), [](float m) { return m == 0.0f; }) &&
                        std::all_of(n.stddev.begin(), n.stddev.end(), [](float s) { return s == 1.0f; });
  return identity ? a2q::data::Normalization{} : n;
}

/// The metadata entries that record `n` for a model taking `input` (mean 0, std 1 for no normalisation).
inline a2q::io::Metadata normalization_metadata(const a2q::Shape& input, const a2q::data::Normalization& n) {
  const std::size_t channels = input.rank() == 3 ? static_cast<std::size_t>(input[0]) : 1;
  const auto join = [&](const std::vector<float>& v, float fallback) {
    std::string out;
    for (std::size_t c = 0; c < channels; ++c) {
      if (c > 0)
        out += ',';
      out += fmt::format("{}", v.empty() ? fallback : v[c]);
    }
    return out;
  };
  return {{a2q::io::input_mean_key, join(n.mean, 0.0f)}, {a2q::io::input_std_key, join(n.stddev, 1.0f)}};
}

/// Loads one split; throws config_error when the directory is missing and when the images do not have
/// the shape the model takes. A super-resolution model (`upscale` > 0) takes each image's average pooling
/// by `upscale` and is scored against the image itself (data::super_resolution_pairs).
inline a2q::data::ImageDataset load_split(const std::filesystem::path& dir, const a2q::Shape& input,
                                          a2q::data::Split split, std::int64_t limit = 0,
                                          std::int64_t upscale = 0) {
  if (!std::filesystem::is_directory(dir))
    throw a2q::config_error("the data directory " + dir.string() + " does not exist");
  a2q::data::ImageDataset data = data_format(input) == "cifar10" ? a2q::data::load_cifar10(dir, split)
                                                                 : a2q::data::load_mnist(dir, split);
  if (limit > 0 && limit < data.size())
    data = a2q::data::subset(data, 0, limit);
  if (upscale > 0)
    data = a2q::data::super_resolution_pairs(data, static_cast<int>(upscale));
  const a2q::Shape sample{data.images.dim(1), data.images.dim(2), data.images.dim(3)};
  if (sample != input)
    throw a2q::config_error("the model takes " + input.to_string() + " images, but " + dir.string() +
                            " holds " + sample.to_string() + (upscale > 0 ? " low-resolution" : "") +
                            " images");
  return data;
}

/// The upscaling factor of a super-resolution model file (its recipe's "upscale"); 0 for a classifier.
inline std::int64_t upscale_of(const a2q::io::ModelFile& file) {
  const auto value = file.find_metadata("upscale");
  if (!value)
    return 0;
  const std::vector<float> v = parse_numbers<a2q::io_error>(*value, "the model file's upscale");
  if (v.size() != 1 || v[0] < 2 || v[0] > 8 || v[0] != std::floor(v[0]))
    throw a2q::io_error("the model file's upscale '" + *value + "' is not an integer in [2, 8]");
  return static_cast<std::int64_t>(v[0]);
}

/// The model's outputs for `images` ([S, ...]), computed `chunk` images at a time without gradients: whole
/// test sets in one batch make buffers of hundreds of MiB, whose page faults cost more than the arithmetic.
inline a2q::Tensor<float> forward_in_chunks(a2q::nn::Module& model, const a2q::Tensor<float>& images,
                                            std::int64_t chunk = 256) {
  const a2q::NoGradGuard no_grad;
  const std::int64_t S = images.dim(0);
  a2q::Tensor<float> out;
  for (std::int64_t begin = 0; begin < S; begin += chunk) {
    const a2q::Tensor<float> y =
        model.forward(a2q::Var(a2q::leading_rows(images, begin, std::min(chunk, S - begin)))).value();
    if (begin == 0) {
      std::vector<std::int64_t> dims(y.shape().begin(), y.shape().end());
      dims[0] = S;
      out = a2q::Tensor<float>::uninitialized(a2q::Shape(std::span<const std::int64_t>(dims)));
    }
    std::copy(y.data(), y.data() + y.numel(), out.data() + begin * (y.numel() / y.dim(0)));
  }
  return out;
}

} // namespace a2q_cli
