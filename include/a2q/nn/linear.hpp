#pragma once
/// @file
/// nn::Linear: y = x W^T + b.

#include "a2q/autograd/linear.hpp"
#include "a2q/core/config.hpp"
#include "a2q/nn/init.hpp"
#include "a2q/nn/module.hpp"

namespace a2q::nn {

/// Fully connected layer with weight [out, in] and optional bias [out].
class Linear : public Module {
public:
  /// He-uniform weights from `rng`, zero bias.
  A2Q_DECL Linear(std::int64_t in_features, std::int64_t out_features, Rng& rng, bool with_bias = true);

  Var forward(const Var& x) override { return linear(x, weight, bias); }
  std::string type_name() const override { return "Linear"; }

  std::int64_t in_features() const { return in_features_; }
  std::int64_t out_features() const { return out_features_; }

  Var weight;
  Var bias; ///< undefined when constructed without bias

private:
  std::int64_t in_features_;
  std::int64_t out_features_;
};

} // namespace a2q::nn

#if A2Q_HEADER_ONLY
#include "a2q/nn/linear.ipp"
#endif
