#pragma once
/// @file
/// Quantized versions of the example models, built from a layer policy.
///
/// Default policy (A2Q paper, spec §4): the first layer (raw 8-bit pixels) and the last layer keep 8-bit
/// baseline-quantized weights and a 32-bit accumulator; hidden layers use the chosen method and are
/// constrained to the target P. Activations after ReLU are unsigned N-bit with a learned scale; the
/// input is the 8-bit pixel grid itself (scale 1/255). Every layer's settings can be overridden by name.

#include "a2q/core/config.hpp"
#include "a2q/models/zoo.hpp"
#include "a2q/nn/act_quant.hpp"
#include "a2q/nn/quant_conv2d.hpp"
#include "a2q/nn/quant_linear.hpp"
#include "a2q/nn/quant_model.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace a2q::models {

/// How to quantize a model.
struct QuantPolicy {
  quant::QuantMethod method = quant::QuantMethod::a2q; ///< hidden layers (none: a float model)
  int weight_bits = 8;                                 ///< M of hidden layers
  int act_bits = 8;                                    ///< N of hidden activations
  int acc_bits = 16;                                   ///< P of hidden layers (the outer width with tiles)
  std::int64_t tile = 0; ///< hidden layers: products per inner register (0: none)
  int inner_bits = 0;    ///< hidden layers: P_i of the inner registers
  bool per_channel = true;
  nn::BiasMode bias_mode = nn::BiasMode::after_accumulation;
  bool constrain_first = false; ///< treat the first layer like a hidden one
  bool constrain_last = false;  ///< treat the last layer like a hidden one
  int edge_weight_bits = 8;
  int edge_acc_bits = 32;
  double penalty_weight = 1e-3;
  quant::A2QInitMode init = quant::A2QInitMode::projection;
  std::map<std::string, nn::LayerQuantConfig> overrides; ///< by layer name, e.g. "fc2"

  /// The settings of layer `name`, which is the first and/or last of its model as flagged.
  A2Q_DECL nn::LayerQuantConfig layer(const std::string& name, bool first, bool last) const;

  /// Hidden activations: unsigned N-bit after ReLU, learned scale calibrated from the first batches.
  A2Q_DECL nn::ActQuantOptions activation_options() const;
};

/// The 8-bit pixel grid: inputs are k/255, which this quantizer reproduces exactly.
A2Q_DECL nn::ActQuantOptions pixel_input();

/// Quantized MLP: in -> hidden... -> classes (fc1, fc2, ...), each input quantized.
A2Q_DECL std::unique_ptr<nn::Sequential> quant_mlp(std::int64_t in_features,
                                                   const std::vector<std::int64_t>& hidden,
                                                   std::int64_t classes, const QuantPolicy& policy, Rng& rng);

/// The quantized MLP of the examples: 784-256-256-10.
A2Q_DECL std::unique_ptr<nn::Sequential> quant_mnist_mlp(const QuantPolicy& policy, Rng& rng);

/// The quantized CNN of the examples (conv1, conv2, fc).
A2Q_DECL std::unique_ptr<nn::Sequential> quant_mnist_cnn(const QuantPolicy& policy, Rng& rng,
                                                         std::int64_t height = 28, std::int64_t width = 28,
                                                         std::int64_t classes = 10);

/// The quantized mobilenet() (layers stem, dw1, pw1, ..., dw5, pw5, fc): every depthwise and pointwise
/// convolution is a hidden layer, fed by an unsigned N-bit activation quantizer after its ReLU; batch norm
/// follows each convolution (folded by the integer engine). 1-channel input is the pixel grid, 3-channel
/// input normalised signed 8-bit (as the resnet's).
A2Q_DECL std::unique_ptr<nn::Sequential> quant_mobilenet(const QuantPolicy& policy, Rng& rng,
                                                         std::int64_t in_channels, std::int64_t width = 8,
                                                         std::int64_t classes = 10);

/// The quantized espcn() (layers conv1, conv2, conv3, then the pixel shuffle "upscale"): conv2 is the hidden
/// layer; conv1 reads the pixel grid, conv3's output is the image (dequantized, then shuffled).
A2Q_DECL std::unique_ptr<nn::Sequential> quant_espcn(const QuantPolicy& policy, Rng& rng,
                                                     std::int64_t channels = 1, std::int64_t width = 32,
                                                     std::int64_t factor = 2);

/// The settings of a QuantResidualBlock's layers and quantizers.
struct QuantResidualConfig {
  nn::LayerQuantConfig conv1, conv2;
  nn::LayerQuantConfig shortcut; ///< used only by a projection shortcut
  nn::ActQuantOptions act1;      ///< between the two convolutions
  nn::ActQuantOptions output;    ///< the block's output

  /// The policy's settings for the block named `name` (its layers are "name.conv1", ... for overrides).
  A2Q_DECL static QuantResidualConfig from_policy(const QuantPolicy& policy, const std::string& name);
};

/// Quantized ResNet basic block: both convolutions (and a projection shortcut) are quantized layers fed by
/// activation quantizers; batch norm follows each convolution (folded into it by the integer engine).
class QuantResidualBlock : public nn::Module {
public:
  /// @param input the quantizer of the block's input (the previous block's output quantizer)
  A2Q_DECL QuantResidualBlock(std::int64_t in_channels, std::int64_t out_channels, int stride,
                              const nn::ActQuant& input, const QuantResidualConfig& config, Rng& rng);

  /// The block with the policy's settings for the block named `name`.
  QuantResidualBlock(std::int64_t in_channels, std::int64_t out_channels, int stride,
                     const nn::ActQuant& input, const QuantPolicy& policy, const std::string& name, Rng& rng)
      : QuantResidualBlock(in_channels, out_channels, stride, input,
                           QuantResidualConfig::from_policy(policy, name), rng) {}

  std::int64_t in_channels() const { return conv1.weight_quant.shape()[1]; }
  std::int64_t out_channels() const { return conv1.weight_quant.shape()[0]; }
  int stride() const { return conv1.options().stride; }
  const nn::ActQuant& input_quantizer() const { return conv1.input_quantizer(); }

  A2Q_DECL Var forward(const Var& x) override;
  std::string type_name() const override { return "QuantResidualBlock"; }

  nn::QuantConv2d conv1;
  nn::BatchNorm2d bn1;
  nn::ActQuant act1;
  nn::QuantConv2d conv2;
  nn::BatchNorm2d bn2;
  nn::ActQuant output; ///< quantizes the block's output for the next block
  std::unique_ptr<nn::QuantConv2d> shortcut_conv;
  std::unique_ptr<nn::BatchNorm2d> shortcut_bn;
};

/// Quantized version of cifar_resnet: the stem sees the input through a signed 8-bit quantizer (the
/// normalised image), the stem and the classifier are the edge layers of the policy.
A2Q_DECL std::unique_ptr<nn::Sequential> quant_cifar_resnet(const QuantPolicy& policy, Rng& rng,
                                                            std::int64_t width = 16, int blocks_per_stage = 1,
                                                            std::int64_t classes = 10);

/// Loads float weights (e.g. a float checkpoint) into a quantized model of the same architecture: the
/// i-th Linear/Conv2d goes to the i-th quantized layer, whose quantizer is re-initialised from it
/// (Euclidean projection for A2Q/A2Q+), and the i-th BatchNorm2d to the i-th BatchNorm2d. Returns the
/// number of weight layers loaded.
A2Q_DECL int load_float_weights(nn::Module& quant_model, const nn::Module& float_model);

} // namespace a2q::models

#if A2Q_HEADER_ONLY
#include "a2q/models/quant_zoo.ipp"
#endif
