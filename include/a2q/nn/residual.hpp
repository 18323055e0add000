#pragma once
/// @file
/// nn::ResidualBlock: the basic block of ResNet (two 3x3 convolutions with batch norm, plus a
/// shortcut that is the identity or a 1x1 projection when the shape changes).

#include "a2q/autograd/elementwise.hpp"
#include "a2q/core/config.hpp"
#include "a2q/nn/batch_norm.hpp"
#include "a2q/nn/conv2d.hpp"

#include <memory>

namespace a2q::nn {

class ResidualBlock : public Module {
public:
  A2Q_DECL ResidualBlock(std::int64_t in_channels, std::int64_t out_channels, int stride, Rng& rng);

  A2Q_DECL Var forward(const Var& x) override;
  std::string type_name() const override { return "ResidualBlock"; }

  Conv2d conv1;
  BatchNorm2d bn1;
  Conv2d conv2;
  BatchNorm2d bn2;
  std::unique_ptr<Conv2d> shortcut_conv; ///< null for an identity shortcut
  std::unique_ptr<BatchNorm2d> shortcut_bn;
};

} // namespace a2q::nn

#if A2Q_HEADER_ONLY
#include "a2q/nn/residual.ipp"
#endif
