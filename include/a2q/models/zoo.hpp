#pragma once
/// @file
/// The reference models of the examples and benchmarks:
/// - MLP 784-256-256-10 with ReLU (Fashion-MNIST/MNIST),
/// - CNN: conv 1->16 3x3 pad 1, ReLU, max-pool 2, conv 16->32 3x3 pad 1, ReLU, max-pool 2, linear 1568->10
///   (optionally with batch norm after each convolution),
/// - a small ResNet for CIFAR-10 (a stem and three stages of residual blocks),
/// - a MobileNetV1-style network of depthwise-separable convolutions (depthwise 3x3, K = 9: the extreme
///   case of the accumulator bounds),
/// - an ESPCN-style super-resolution network (Shi et al. 2016): convolutions on the low-resolution image and
///   a sub-pixel (pixel shuffle) upscaling at the end.

#include "a2q/core/config.hpp"
#include "a2q/nn/activation.hpp"
#include "a2q/nn/batch_norm.hpp"
#include "a2q/nn/conv2d.hpp"
#include "a2q/nn/linear.hpp"
#include "a2q/nn/pooling.hpp"
#include "a2q/nn/residual.hpp"
#include "a2q/nn/sequential.hpp"

#include <array>
#include <memory>
#include <vector>

namespace a2q::models {

/// Multi-layer perceptron on flattened images: in -> hidden... -> classes, ReLU between.
A2Q_DECL std::unique_ptr<nn::Sequential>
mlp(std::int64_t in_features, const std::vector<std::int64_t>& hidden, std::int64_t classes, Rng& rng);

/// The MLP of the examples: 784-256-256-10.
A2Q_DECL std::unique_ptr<nn::Sequential> mnist_mlp(Rng& rng);

/// The CNN of the examples for 1 x height x width images (28 x 28 gives a 1568-wide classifier).
A2Q_DECL std::unique_ptr<nn::Sequential> mnist_cnn(Rng& rng, bool batch_norm = false,
                                                   std::int64_t height = 28, std::int64_t width = 28,
                                                   std::int64_t classes = 10);

/// A small ResNet for 3 x 32 x 32 images: 3x3 stem, three stages of `blocks_per_stage` residual
/// blocks (widths w, 2w, 4w; stride 2 between stages), global average pooling, linear classifier.
A2Q_DECL std::unique_ptr<nn::Sequential> cifar_resnet(Rng& rng, std::int64_t width = 16,
                                                      int blocks_per_stage = 1, std::int64_t classes = 10);

/// The stride of each depthwise-separable block of mobilenet(): two of the five halve the image.
inline constexpr std::array<int, 5> mobilenet_strides = {1, 2, 1, 2, 1};
/// Each block's output channels as a multiple of the stem's width.
inline constexpr std::array<int, 5> mobilenet_widths = {2, 4, 4, 8, 8};

/// MobileNetV1-style network for C x H x W images: a 3x3 stem conv (`width` channels), five
/// depthwise-separable blocks (depthwise 3x3 + batch norm + ReLU, pointwise 1x1 + batch norm + ReLU; widths
/// 2w, 4w, 4w, 8w, 8w; strides 1, 2, 1, 2, 1), global average pooling and a linear classifier.
A2Q_DECL std::unique_ptr<nn::Sequential> mobilenet(Rng& rng, std::int64_t in_channels, std::int64_t width = 8,
                                                   std::int64_t classes = 10);

/// ESPCN-style super-resolution for C-channel images, upscaling by `factor`: conv 5x5 C -> w, ReLU,
/// conv 3x3 w -> w/2, ReLU, conv 3x3 w/2 -> C·factor², pixel shuffle. Its output is the high-resolution
/// image (pixel values in [0, 1]); trained with the mean squared error.
A2Q_DECL std::unique_ptr<nn::Sequential> espcn(Rng& rng, std::int64_t channels = 1, std::int64_t width = 32,
                                               std::int64_t factor = 2);

} // namespace a2q::models

#if A2Q_HEADER_ONLY
#include "a2q/models/zoo.ipp"
#endif
