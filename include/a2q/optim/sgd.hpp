#pragma once
/// @file
/// a2q::SGD: stochastic gradient descent with optional momentum, dampening and Nesterov momentum,
/// following torch.optim.SGD exactly.

#include "a2q/optim/optimizer.hpp"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace a2q {

/// Hyper-parameters of SGD. Weight decay comes from each ParamGroup.
struct SGDOptions {
  /// Base learning rate (finite, >= 0).
  double lr = 0.01;
  /// Momentum factor in [0, 1); 0 keeps no buffer.
  double momentum = 0.0;
  /// Nesterov momentum; needs momentum > 0 and dampening == 0.
  bool nesterov = false;
  /// Dampening of the gradient's contribution to the momentum buffer, in [0, 1].
  double dampening = 0.0;
};

/// Stochastic gradient descent. For each parameter p with gradient g, group weight decay wd and group
/// learning rate lr (PyTorch's formulas):
///
///     d   = g + wd * p
///     buf = d                                      on the first update (momentum != 0)
///     buf = momentum * buf + (1 - dampening) * d   afterwards
///     d   = nesterov ? d + momentum * buf : buf    (momentum != 0)
///     p   = p - lr * d
///
/// State per parameter: "momentum_buffer" when momentum != 0.
class SGD : public Optimizer {
public:
  /// @param groups parameter groups (see ParamGroup); weight decay is taken from each group.
  /// @param options hyper-parameters; inconsistent values throw config_error.
  SGD(std::vector<ParamGroup> groups, const SGDOptions& options)
      : Optimizer(std::move(groups), options.lr, buffers_for(options)), options_(options) {}

  /// One group holding `params`, without weight decay.
  SGD(std::vector<Var> params, const SGDOptions& options)
      : SGD(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, options) {}

  const SGDOptions& options() const { return options_; }

protected:
  void update(Var& param, ParamState& st, const ParamGroup& group, double lr) override {
    auto p = param.value().vector();
    const auto g = std::as_const(param).grad().vector();
    const float wd = static_cast<float>(group.weight_decay);
    const float step = static_cast<float>(lr);
    if (options_.momentum == 0.0) {
      p -= step * (g + wd * p);
      return;
    }
    const float momentum = static_cast<float>(options_.momentum);
    if (st.buffers.empty()) {
      Tensor<float> buffer = Tensor<float>::uninitialized(param.shape());
      buffer.vector() = g + wd * p;
      st.buffers.push_back(std::move(buffer));
    } else {
      const float keep = static_cast<float>(1.0 - options_.dampening);
      st.buffers[0].vector() = momentum * st.buffers[0].vector() + keep * (g + wd * p);
    }
    const auto buf = std::as_const(st.buffers[0]).vector();
    if (options_.nesterov)
      p -= step * ((g + wd * p) + momentum * buf);
    else
      p -= step * buf;
  }

private:
  static std::vector<std::string> buffers_for(const SGDOptions& o) {
    check_unit_interval("SGD", "momentum", o.momentum);
    if (!std::isfinite(o.dampening) || o.dampening < 0.0 || o.dampening > 1.0)
      throw config_error("SGD: dampening must be in [0, 1], got " + std::to_string(o.dampening));
    if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0))
      throw config_error("SGD: nesterov needs momentum > 0 and dampening == 0, got momentum " +
                         std::to_string(o.momentum) + " and dampening " + std::to_string(o.dampening));
    if (o.momentum == 0.0)
      return {};
    return {"momentum_buffer"};
  }

  SGDOptions options_;
};

} // namespace a2q
