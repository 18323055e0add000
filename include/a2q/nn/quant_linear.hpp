#pragma once
/// @file
/// Quantized fully connected layers: QuantLinear (any method), and A2QLinear / A2QPlusLinear, which
/// fix the method to A2Q / A2Q+.

#include "a2q/autograd/linear.hpp"
#include "a2q/core/config.hpp"
#include "a2q/nn/init.hpp"
#include "a2q/nn/quant_layer.hpp"

namespace a2q::nn {

class QuantLinear : public QuantLayer {
public:
  /// @param input the quantizer feeding this layer (its format fixes N and signedness)
  QuantLinear(std::int64_t in_features, std::int64_t out_features, Rng& rng, const LayerQuantConfig& config,
              const ActQuant& input, bool with_bias = true)
      : QuantLayer(initial(in_features, out_features, rng), config, input, with_bias) {}

  A2Q_DECL Var forward(const Var& x) override;
  std::string type_name() const override { return "QuantLinear"; }
  std::string kind() const override { return "linear"; }

private:
  A2Q_DECL static Tensor<float> initial(std::int64_t in_features, std::int64_t out_features, Rng& rng);
};

/// QuantLinear with A2Q weights (spec §4).
class A2QLinear : public QuantLinear {
public:
  A2Q_DECL A2QLinear(std::int64_t in_features, std::int64_t out_features, Rng& rng, LayerQuantConfig config,
                     const ActQuant& input, bool with_bias = true);
  A2Q_DECL static LayerQuantConfig with_method(LayerQuantConfig c, quant::QuantMethod m);
};

/// QuantLinear with A2Q+ weights (spec §5).
class A2QPlusLinear : public QuantLinear {
public:
  A2Q_DECL A2QPlusLinear(std::int64_t in_features, std::int64_t out_features, Rng& rng,
                         LayerQuantConfig config, const ActQuant& input, bool with_bias = true);
};

} // namespace a2q::nn

#if A2Q_HEADER_ONLY
#include "a2q/nn/quant_linear.ipp"
#endif
