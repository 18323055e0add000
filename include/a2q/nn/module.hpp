#pragma once
/// @file
/// a2q::nn::Module: the base of every layer and model. A module owns its parameters (Vars),
/// buffers (e.g. batch-norm running statistics) and child modules, and exposes them by dotted
/// name ("features.0.weight") so models can be saved, loaded, converted and optimised.

#include "a2q/autograd/variable.hpp"
#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace a2q::nn {

/// Named tensors, the currency of state dicts and checkpoints.
using NamedTensors = std::vector<std::pair<std::string, Tensor<float>>>;

/// Base class of layers and models. Modules are neither copyable nor movable: they register
/// pointers to their own members.
class Module {
public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// Computes the module's output.
  virtual Var forward(const Var& x) = 0;
  Var operator()(const Var& x) { return forward(x); }

  /// Short type name for reports ("Linear", "Conv2d", ...).
  virtual std::string type_name() const = 0;

  /// Switches training behaviour (batch-norm statistics, dropout) on or off, recursively.
  A2Q_DECL void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }

  /// Every parameter of this module and its descendants, with dotted names, in registration order.
  A2Q_DECL std::vector<std::pair<std::string, Var>> named_parameters() const;
  A2Q_DECL std::vector<Var> parameters() const;

  /// Every buffer (non-trained state) with dotted names.
  A2Q_DECL std::vector<std::pair<std::string, const Tensor<float>*>> named_buffers() const;
  /// Same, mutable (for loading and for operations that update statistics).
  A2Q_DECL std::vector<std::pair<std::string, Tensor<float>*>> named_buffers();

  /// Direct children with their names.
  const std::vector<std::pair<std::string, Module*>>& named_children() const { return children_; }

  /// Calls f(dotted_prefix, module) on this module and every descendant, parents first.
  A2Q_DECL void visit(const std::string& prefix,
                      const std::function<void(const std::string&, const Module&)>& f) const;
  A2Q_DECL void visit_mutable(const std::string& prefix,
                              const std::function<void(const std::string&, Module&)>& f);

  /// Copies of all parameters and buffers by name.
  A2Q_DECL NamedTensors state_dict() const;

  /// Loads parameters and buffers by name. Every entry must match a tensor of the same shape; with
  /// `strict`, every parameter and buffer must also be present. All-or-nothing: everything is checked
  /// before anything is copied.
  A2Q_DECL void load_state_dict(const NamedTensors& state, bool strict = true);

  /// Drops every parameter's gradient.
  A2Q_DECL void zero_grad();

  /// Number of trainable scalars.
  A2Q_DECL std::int64_t parameter_count() const;

protected:
  /// Registers a parameter member; it must outlive nothing but this module (it is a member).
  void register_parameter(std::string name, Var& param) { parameters_.emplace_back(std::move(name), &param); }
  void register_buffer(std::string name, Tensor<float>& buffer) {
    buffers_.emplace_back(std::move(name), &buffer);
  }
  void register_module(std::string name, Module& child) { children_.emplace_back(std::move(name), &child); }

private:
  std::vector<std::pair<std::string, Var*>> parameters_;
  std::vector<std::pair<std::string, Tensor<float>*>> buffers_;
  std::vector<std::pair<std::string, Module*>> children_;
  bool training_ = true;
};

} // namespace a2q::nn

#if A2Q_HEADER_ONLY
#include "a2q/nn/module.ipp"
#endif
