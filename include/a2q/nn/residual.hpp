#pragma once
/// @file
/// nn::ResidualBlock: the basic block of ResNet (two 3x3 convolutions with batch norm, plus a
/// shortcut that is the identity or a 1x1 projection when the shape changes).

#include "a2q/autograd/elementwise.hpp"
#include "a2q/nn/batch_norm.hpp"
#include "a2q/nn/conv2d.hpp"

#include <memory>

namespace a2q::nn {

class ResidualBlock : public Module {
public:
  ResidualBlock(std::int64_t in_channels, std::int64_t out_channels, int stride, Rng& rng)
      : conv1(in_channels, out_channels, 3, rng, {.stride = stride, .padding = 1}, false), bn1(out_channels),
        conv2(out_channels, out_channels, 3, rng, {.stride = 1, .padding = 1}, false), bn2(out_channels) {
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    register_module("conv2", conv2);
    register_module("bn2", bn2);
    if (stride != 1 || in_channels != out_channels) {
      shortcut_conv = std::make_unique<Conv2d>(in_channels, out_channels, 1, rng,
                                               Conv2dOptions{.stride = stride, .padding = 0}, false);
      shortcut_bn = std::make_unique<BatchNorm2d>(out_channels);
      register_module("shortcut_conv", *shortcut_conv);
      register_module("shortcut_bn", *shortcut_bn);
    }
  }

  Var forward(const Var& x) override {
    const Var h = relu(bn1(conv1(x)));
    const Var main = bn2(conv2(h));
    const Var skip = shortcut_conv ? (*shortcut_bn)((*shortcut_conv)(x)) : x;
    return relu(add(main, skip));
  }
  std::string type_name() const override { return "ResidualBlock"; }

  Conv2d conv1;
  BatchNorm2d bn1;
  Conv2d conv2;
  BatchNorm2d bn2;
  std::unique_ptr<Conv2d> shortcut_conv; ///< null for an identity shortcut
  std::unique_ptr<BatchNorm2d> shortcut_bn;
};

} // namespace a2q::nn
