#pragma once
/// @file
/// Quantized fully connected layers: QuantLinear (any method), and A2QLinear / A2QPlusLinear, which
/// fix the method to A2Q / A2Q+.

#include "a2q/autograd/linear.hpp"
#include "a2q/nn/init.hpp"
#include "a2q/nn/quant_layer.hpp"

namespace a2q::nn {

class QuantLinear : public QuantLayer {
public:
  /// @param input the quantizer feeding this layer (its format fixes N and signedness)
  QuantLinear(std::int64_t in_features, std::int64_t out_features, Rng& rng, const LayerQuantConfig& config,
              const ActQuant& input, bool with_bias = true)
      : QuantLayer(initial(in_features, out_features, rng), config, input, with_bias) {}

  Var forward(const Var& x) override {
    auto [w, b] = effective_parameters();
    return linear(x, w, b);
  }
  std::string type_name() const override { return "QuantLinear"; }
  std::string kind() const override { return "linear"; }

private:
  static Tensor<float> initial(std::int64_t in_features, std::int64_t out_features, Rng& rng) {
    if (in_features < 1 || out_features < 1)
      throw config_error("QuantLinear: features must be >= 1, got in " + std::to_string(in_features) +
                         ", out " + std::to_string(out_features));
    Tensor<float> w(Shape{out_features, in_features});
    init::kaiming_uniform(w, rng);
    return w;
  }
};

/// QuantLinear with A2Q weights (spec §4).
class A2QLinear : public QuantLinear {
public:
  A2QLinear(std::int64_t in_features, std::int64_t out_features, Rng& rng, LayerQuantConfig config,
            const ActQuant& input, bool with_bias = true)
      : QuantLinear(in_features, out_features, rng, with_method(config, quant::QuantMethod::a2q), input,
                    with_bias) {}
  static LayerQuantConfig with_method(LayerQuantConfig c, quant::QuantMethod m) {
    c.method = m;
    return c;
  }
};

/// QuantLinear with A2Q+ weights (spec §5).
class A2QPlusLinear : public QuantLinear {
public:
  A2QPlusLinear(std::int64_t in_features, std::int64_t out_features, Rng& rng, LayerQuantConfig config,
                const ActQuant& input, bool with_bias = true)
      : QuantLinear(in_features, out_features, rng,
                    A2QLinear::with_method(config, quant::QuantMethod::a2q_plus), input, with_bias) {}
};

} // namespace a2q::nn
