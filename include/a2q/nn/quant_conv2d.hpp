#pragma once
/// @file
/// Quantized convolutions: QuantConv2d (any method; grouped and depthwise with K = C_in/groups·kh·kw),
/// and A2QConv2d / A2QPlusConv2d, which fix the method to A2Q / A2Q+.

#include "a2q/autograd/conv.hpp"
#include "a2q/core/config.hpp"
#include "a2q/nn/init.hpp"
#include "a2q/nn/quant_layer.hpp"
#include "a2q/nn/quant_linear.hpp"

namespace a2q::nn {

class QuantConv2d : public QuantLayer {
public:
  A2Q_DECL QuantConv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Rng& rng,
                       const LayerQuantConfig& config, const ActQuant& input, Conv2dOptions options = {},
                       bool with_bias = true);

  A2Q_DECL Var forward(const Var& x) override;
  std::string type_name() const override { return "QuantConv2d"; }
  std::string kind() const override { return "conv2d"; }
  const Conv2dOptions& options() const { return options_; }

private:
  A2Q_DECL static Tensor<float> initial(std::int64_t in_channels, std::int64_t out_channels,
                                        std::int64_t kernel, const Conv2dOptions& options, Rng& rng);

  Conv2dOptions options_;
};

class A2QConv2d : public QuantConv2d {
public:
  A2Q_DECL A2QConv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Rng& rng,
                     const LayerQuantConfig& config, const ActQuant& input, Conv2dOptions options = {},
                     bool with_bias = true);
};

class A2QPlusConv2d : public QuantConv2d {
public:
  A2Q_DECL A2QPlusConv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Rng& rng,
                         const LayerQuantConfig& config, const ActQuant& input, Conv2dOptions options = {},
                         bool with_bias = true);
};

} // namespace a2q::nn

#if A2Q_HEADER_ONLY
#include "a2q/nn/quant_conv2d.ipp"
#endif
