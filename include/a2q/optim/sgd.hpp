#pragma once
/// @file
/// a2q::SGD: stochastic gradient descent with optional momentum, dampening and Nesterov momentum,
/// following torch.optim.SGD exactly.

#include "a2q/core/config.hpp"
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
  A2Q_DECL void update(Var& param, ParamState& st, const ParamGroup& group, double lr) override;

private:
  A2Q_DECL static std::vector<std::string> buffers_for(const SGDOptions& o);

  SGDOptions options_;
};

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/optim/sgd.ipp"
#endif
