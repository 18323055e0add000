#pragma once
/// @file
/// The reference models of the examples and benchmarks:
/// - MLP 784-256-256-10 with ReLU (Fashion-MNIST/MNIST),
/// - CNN: conv 1->16 3x3 pad 1, ReLU, max-pool 2, conv 16->32 3x3 pad 1, ReLU, max-pool 2, linear 1568->10
///   (optionally with batch norm after each convolution),
/// - a small ResNet for CIFAR-10 (a stem and three stages of residual blocks).

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

/// Multi-layer perceptron on flattened images: in -> hidden... -> classes, ReLU between.
inline std::unique_ptr<nn::Sequential> mlp(std::int64_t in_features, const std::vector<std::int64_t>& hidden,
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

/// The MLP of the examples: 784-256-256-10.
inline std::unique_ptr<nn::Sequential> mnist_mlp(Rng& rng) {
  return mlp(28 * 28, {256, 256}, 10, rng);
}

/// The CNN of the examples for 1 x height x width images (28 x 28 gives a 1568-wide classifier).
inline std::unique_ptr<nn::Sequential> mnist_cnn(Rng& rng, bool batch_norm = false, std::int64_t height = 28,
                                                 std::int64_t width = 28, std::int64_t classes = 10) {
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

/// A small ResNet for 3 x 32 x 32 images: 3x3 stem, three stages of `blocks_per_stage` residual
/// blocks (widths w, 2w, 4w; stride 2 between stages), global average pooling, linear classifier.
inline std::unique_ptr<nn::Sequential> cifar_resnet(Rng& rng, std::int64_t width = 16,
                                                    int blocks_per_stage = 1, std::int64_t classes = 10) {
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

} // namespace a2q::models
