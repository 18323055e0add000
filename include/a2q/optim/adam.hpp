#pragma once
/// @file
/// a2q::Adam and a2q::AdamW, following torch.optim.Adam and torch.optim.AdamW (without amsgrad).

#include "a2q/core/config.hpp"
#include "a2q/optim/optimizer.hpp"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace a2q {

/// Hyper-parameters of Adam and AdamW. Weight decay comes from each ParamGroup.
struct AdamOptions {
  /// Base learning rate (finite, >= 0).
  double lr = 1e-3;
  /// Decay of the first-moment estimate, in [0, 1).
  double beta1 = 0.9;
  /// Decay of the second-moment estimate, in [0, 1).
  double beta2 = 0.999;
  /// Added to the denominator for numerical stability (finite, >= 0).
  double eps = 1e-8;
};

/// Adam with L2 weight decay. For each parameter p with gradient g, group weight decay wd, group
/// learning rate lr and t the parameter's own update count (1 on its first update):
///
///     g = g + wd * p
///     m = beta1 * m + (1 - beta1) * g          (m, v start at 0)
///     v = beta2 * v + (1 - beta2) * g^2
///     p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
///
/// State per parameter: "exp_avg" (m) and "exp_avg_sq" (v).
class Adam : public Optimizer {
public:
  /// @param groups parameter groups (see ParamGroup); weight decay is taken from each group.
  /// @param options hyper-parameters; out-of-range values throw config_error.
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options = {})
      : Adam(std::move(groups), options, false, "Adam") {}

  /// One group holding `params`, without weight decay.
  Adam(std::vector<Var> params, const AdamOptions& options = {})
      : Adam(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, options) {}

  const AdamOptions& options() const { return options_; }

protected:
  /// @param decoupled true for AdamW's decoupled weight decay.
  /// @param kind optimizer name for error messages.
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options, bool decoupled, const char* kind)
      : Optimizer(std::move(groups), options.lr, buffers_for(options, kind)), options_(options),
        decoupled_(decoupled) {}

  A2Q_DECL void update(Var& param, ParamState& st, const ParamGroup& group, double lr) override;

private:
  A2Q_DECL static std::vector<std::string> buffers_for(const AdamOptions& o, const char* kind);

  AdamOptions options_;
  bool decoupled_ = false;
};

/// Adam with decoupled weight decay (Loshchilov & Hutter): before the Adam update (which then sees the
/// plain gradient), p = p - lr * wd * p with the group's learning rate and weight decay.
/// State per parameter: "exp_avg" and "exp_avg_sq", as Adam.
class AdamW : public Adam {
public:
  /// @param groups parameter groups (see ParamGroup); weight decay is taken from each group.
  /// @param options hyper-parameters; out-of-range values throw config_error.
  AdamW(std::vector<ParamGroup> groups, const AdamOptions& options = {})
      : Adam(std::move(groups), options, true, "AdamW") {}

  /// One group holding `params`, without weight decay.
  AdamW(std::vector<Var> params, const AdamOptions& options = {})
      : AdamW(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, options) {}
};

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/optim/adam.ipp"
#endif
