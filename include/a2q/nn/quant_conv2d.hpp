#pragma once
/// @file
/// Quantized convolutions: QuantConv2d (any method; grouped and depthwise with K = C_in/groups·kh·kw),
/// and A2QConv2d / A2QPlusConv2d, which fix the method to A2Q / A2Q+.

#include "a2q/autograd/conv.hpp"
#include "a2q/nn/init.hpp"
#include "a2q/nn/quant_layer.hpp"
#include "a2q/nn/quant_linear.hpp"

namespace a2q::nn {

class QuantConv2d : public QuantLayer {
public:
  QuantConv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Rng& rng,
              const LayerQuantConfig& config, const ActQuant& input, Conv2dOptions options = {},
              bool with_bias = true)
      : QuantLayer(initial(in_channels, out_channels, kernel, options, rng), config, input, with_bias),
        options_(options) {}

  Var forward(const Var& x) override {
    auto [w, b] = effective_parameters();
    return conv2d(x, w, b, options_);
  }
  std::string type_name() const override { return "QuantConv2d"; }
  std::string kind() const override { return "conv2d"; }
  const Conv2dOptions& options() const { return options_; }

private:
  static Tensor<float> initial(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel,
                               const Conv2dOptions& options, Rng& rng) {
    if (in_channels < 1 || out_channels < 1 || kernel < 1 || options.groups < 1 ||
        in_channels % options.groups != 0 || out_channels % options.groups != 0)
      throw config_error("QuantConv2d: invalid configuration in " + std::to_string(in_channels) + ", out " +
                         std::to_string(out_channels) + ", kernel " + std::to_string(kernel) + ", groups " +
                         std::to_string(options.groups));
    Tensor<float> w(Shape{out_channels, in_channels / options.groups, kernel, kernel});
    init::kaiming_uniform(w, rng);
    return w;
  }

  Conv2dOptions options_;
};

class A2QConv2d : public QuantConv2d {
public:
  A2QConv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Rng& rng,
            const LayerQuantConfig& config, const ActQuant& input, Conv2dOptions options = {},
            bool with_bias = true)
      : QuantConv2d(in_channels, out_channels, kernel, rng,
                    A2QLinear::with_method(config, quant::QuantMethod::a2q), input, options, with_bias) {}
};

class A2QPlusConv2d : public QuantConv2d {
public:
  A2QPlusConv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Rng& rng,
                const LayerQuantConfig& config, const ActQuant& input, Conv2dOptions options = {},
                bool with_bias = true)
      : QuantConv2d(in_channels, out_channels, kernel, rng,
                    A2QLinear::with_method(config, quant::QuantMethod::a2q_plus), input, options, with_bias) {
  }
};

} // namespace a2q::nn
