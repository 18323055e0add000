#pragma once
/// @file
/// Definitions for zoo.hpp (see a2q/core/config.hpp).

#include "a2q/models/zoo.hpp"

#include "a2q/nn/activation.hpp"
#include "a2q/nn/batch_norm.hpp"
#include "a2q/nn/conv2d.hpp"
#include "a2q/nn/linear.hpp"
#include "a2q/nn/pooling.hpp"
#include "a2q/nn/residual.hpp"
#include "a2q/nn/sequential.hpp"

#include <memory>
#include <vector>

namespace a2q::models {

std::unique_ptr<nn::Sequential> mlp(std::int64_t in_features, const std::vector<std::int64_t>& hidden,
                                    std::int64_t classes, Rng& rng) {
  auto model = std::make_unique<nn::Sequential>();
  model->emplace<nn::Flatten>();
  std::int64_t width = in_features;
  for (std::int64_t h : hidden) {
    model->emplace<nn::Linear>(width, h, rng);
    model->emplace<nn::ReLU>();
    width = h;
  }
  model->emplace<nn::Linear>(width, classes, rng);
  return model;
}

std::unique_ptr<nn::Sequential> mnist_mlp(Rng& rng) {
  return mlp(28 * 28, {256, 256}, 10, rng);
}

std::unique_ptr<nn::Sequential> mnist_cnn(Rng& rng, bool batch_norm, std::int64_t height, std::int64_t width,
                                          std::int64_t classes) {
  auto model = std::make_unique<nn::Sequential>();
  std::int64_t channels = 1;
  for (std::int64_t out : {16, 32}) {
    model->emplace<nn::Conv2d>(channels, out, 3, rng, Conv2dOptions{.stride = 1, .padding = 1}, !batch_norm);
    if (batch_norm)
      model->emplace<nn::BatchNorm2d>(out);
    model->emplace<nn::ReLU>();
    model->emplace<nn::MaxPool2d>(2);
    channels = out;
    height /= 2;
    width /= 2;
  }
  model->emplace<nn::Flatten>();
  model->emplace<nn::Linear>(channels * height * width, classes, rng);
  return model;
}

std::unique_ptr<nn::Sequential> cifar_resnet(Rng& rng, std::int64_t width, int blocks_per_stage,
                                             std::int64_t classes) {
  if (width < 1 || blocks_per_stage < 1)
    throw config_error("cifar_resnet: width and blocks_per_stage must be >= 1, got " + std::to_string(width) +
                       " and " + std::to_string(blocks_per_stage));
  auto model = std::make_unique<nn::Sequential>();
  model->emplace<nn::Conv2d>(3, width, 3, rng, Conv2dOptions{.stride = 1, .padding = 1}, false);
  model->emplace<nn::BatchNorm2d>(width);
  model->emplace<nn::ReLU>();
  std::int64_t channels = width;
  for (int stage = 0; stage < 3; ++stage) {
    const std::int64_t out = width << stage;
    for (int b = 0; b < blocks_per_stage; ++b) {
      const int stride = (stage > 0 && b == 0) ? 2 : 1;
      model->emplace<nn::ResidualBlock>(channels, out, stride, rng);
      channels = out;
    }
  }
  model->emplace<nn::GlobalAvgPool2d>();
  model->emplace<nn::Linear>(channels, classes, rng);
  return model;
}

std::unique_ptr<nn::Sequential> mobilenet(Rng& rng, std::int64_t in_channels, std::int64_t width,
                                          std::int64_t classes) {
  if (in_channels < 1 || width < 1)
    throw config_error("mobilenet: input channels and width must be >= 1, got " +
                       std::to_string(in_channels) + " and " + std::to_string(width));
  auto model = std::make_unique<nn::Sequential>();
  model->emplace<nn::Conv2d>(in_channels, width, 3, rng, Conv2dOptions{.stride = 1, .padding = 1}, false);
  model->emplace<nn::BatchNorm2d>(width);
  model->emplace<nn::ReLU>();
  std::int64_t channels = width;
  for (std::size_t b = 0; b < mobilenet_strides.size(); ++b) {
    const std::int64_t out = width * mobilenet_widths[b];
    model->emplace<nn::Conv2d>(
        channels, channels, 3, rng,
        Conv2dOptions{.stride = mobilenet_strides[b], .padding = 1, .groups = static_cast<int>(channels)},
        false);
    model->emplace<nn::BatchNorm2d>(channels);
    model->emplace<nn::ReLU>();
    model->emplace<nn::Conv2d>(channels, out, 1, rng, Conv2dOptions{}, false);
    model->emplace<nn::BatchNorm2d>(out);
    model->emplace<nn::ReLU>();
    channels = out;
  }
  model->emplace<nn::GlobalAvgPool2d>();
  model->emplace<nn::Linear>(channels, classes, rng);
  return model;
}

std::unique_ptr<nn::Sequential> espcn(Rng& rng, std::int64_t channels, std::int64_t width,
                                      std::int64_t factor) {
  if (channels < 1 || width < 2 || factor < 2 || factor > 8)
    throw config_error("espcn: channels >= 1, width >= 2 and factor in [2, 8] needed, got " +
                       std::to_string(channels) + ", " + std::to_string(width) + " and " +
                       std::to_string(factor));
  auto model = std::make_unique<nn::Sequential>();
  model->emplace<nn::Conv2d>(channels, width, 5, rng, Conv2dOptions{.stride = 1, .padding = 2});
  model->emplace<nn::ReLU>();
  model->emplace<nn::Conv2d>(width, width / 2, 3, rng, Conv2dOptions{.stride = 1, .padding = 1});
  model->emplace<nn::ReLU>();
  model->emplace<nn::Conv2d>(width / 2, channels * factor * factor, 3, rng,
                             Conv2dOptions{.stride = 1, .padding = 1});
  model->emplace<nn::PixelShuffle>(factor);
  return model;
}

} // namespace a2q::models
