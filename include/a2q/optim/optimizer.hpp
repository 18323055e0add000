#pragma once
/// @file
/// a2q::ParamGroup and the a2q::Optimizer base class: parameter groups with their own weight decay and
/// learning-rate scale, a base learning rate, gradient-skipping updates and checkpointable state.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/assert.hpp"
#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace a2q {

/// Parameters that share optimizer settings (e.g. weights with weight decay, biases without).
struct ParamGroup {
  /// The parameters; copies of a Var share the node, so the optimizer updates the module's own values.
  std::vector<Var> params;
  /// Weight decay for this group (L2 added to the gradient, or decoupled for AdamW). Must be >= 0.
  double weight_decay = 0.0;
  /// Multiplies the optimizer's learning rate for this group. Must be >= 0.
  double lr_scale = 1.0;
  /// Shown in error messages; "group<i>" is used when empty.
  std::string name;

  ParamGroup() = default;
  /// A constructor rather than aggregate initialisation, so that `ParamGroup{params, 0.01}` does not
  /// trip -Wmissing-field-initializers.
  A2Q_DECL ParamGroup(std::vector<Var> group_params, double group_weight_decay = 0.0,
                      double group_lr_scale = 1.0, std::string group_name = {});
};

/// Named tensors describing an optimizer's state (see Optimizer::state()).
using OptimizerState = std::vector<std::pair<std::string, Tensor<float>>>;

/// Base class of the optimizers. Holds the parameter groups, the base learning rate and per-parameter
/// state (an update counter and the buffers the concrete optimizer names, e.g. "exp_avg").
///
/// A parameter's buffers are created on its first update, so they exist exactly when its counter is
/// positive; parameters without a gradient are skipped and their counters do not advance (as in PyTorch,
/// where Adam's bias correction counts the parameter's own updates).
class Optimizer {
public:
  virtual ~Optimizer() = default;

  /// Sets the base learning rate (a schedule calls this before each step). Must be finite and >= 0.
  A2Q_DECL void set_lr(double lr);
  /// The base learning rate; group `g` uses lr() * groups()[g].lr_scale.
  double lr() const { return lr_; }

  /// Updates every parameter that holds a gradient; parameters without one are left untouched.
  /// Runs with graph recording off: the updates write parameter values directly.
  A2Q_DECL void step();

  /// Drops the gradient of every parameter in every group.
  A2Q_DECL void zero_grad();

  const std::vector<ParamGroup>& groups() const { return groups_; }

  /// Number of step() calls so far (restored by load_state), e.g. to resume a learning-rate schedule.
  std::int64_t step_count() const { return step_count_; }

  /// The optimizer's state for a checkpoint, as named tensors:
  /// "step" (the step() count), then per parameter "group<g>.param<i>.step" (its update count) and,
  /// once it has been updated, one tensor per buffer, e.g. "group0.param3.exp_avg".
  /// Counters are stored as 1-element float tensors, exact up to 2^24 updates (checked).
  /// Hyper-parameters and the learning rate are not part of the state: they come from construction
  /// and set_lr().
  A2Q_DECL OptimizerState state() const;

  /// Restores a state produced by state() of an optimizer of the same kind over parameters of the same
  /// shapes. The names must match exactly (none unknown, missing or repeated) and every tensor must have
  /// the expected shape; otherwise config_error names the mismatch and the current state is kept.
  A2Q_DECL void load_state(const OptimizerState& saved);

protected:
  /// Per-parameter state: the number of updates applied and the optimizer's buffers, one per name in
  /// buffer_names (empty before the first update).
  struct ParamState {
    std::int64_t step = 0;
    std::vector<Tensor<float>> buffers;
  };

  /// @param groups the parameter groups; every Var must be defined and appear only once overall.
  /// @param lr base learning rate (finite, >= 0).
  /// @param buffer_names names of the per-parameter buffers the concrete optimizer keeps.
  A2Q_DECL Optimizer(std::vector<ParamGroup> groups, double lr, std::vector<std::string> buffer_names);

  Optimizer(const Optimizer&) = default;
  Optimizer(Optimizer&&) = default;
  Optimizer& operator=(const Optimizer&) = default;
  Optimizer& operator=(Optimizer&&) = default;

  /// Applies one update to `param`, which holds a gradient. `st.step` has already been incremented
  /// (1 on the first update); on the first update `st.buffers` is empty and must be filled with one
  /// tensor per buffer name.
  /// @param lr the group's learning rate (base rate times the group's lr_scale).
  virtual void update(Var& param, ParamState& st, const ParamGroup& group, double lr) = 0;

  /// Throws config_error unless `value` is finite and >= 0.
  A2Q_DECL static void check_non_negative(const char* optimizer, const char* what, double value);

  /// Throws config_error unless `value` is finite and in [0, 1).
  A2Q_DECL static void check_unit_interval(const char* optimizer, const char* what, double value);

private:
  A2Q_DECL static void check_lr(double lr);

  A2Q_DECL std::string group_label(std::size_t g) const;

  static std::string param_prefix(std::size_t g, std::size_t i) {
    return "group" + std::to_string(g) + ".param" + std::to_string(i) + ".";
  }

  // Largest counter a float holds exactly.
  static constexpr std::int64_t max_counter = std::int64_t{1} << 24;

  A2Q_DECL static Tensor<float> counter_tensor(const std::string& name, std::int64_t value);

  A2Q_DECL static std::int64_t read_counter(const std::string& name, const Tensor<float>& t);

  std::vector<ParamGroup> groups_;
  std::vector<std::string> buffer_names_;
  std::vector<std::vector<ParamState>> state_;
  double lr_ = 0.0;
  std::int64_t step_count_ = 0;
};

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/optim/optimizer.ipp"
#endif
