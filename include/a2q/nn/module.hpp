#pragma once
/// @file
/// a2q::nn::Module: the base of every layer and model. A module owns its parameters (Vars),
/// buffers (e.g. batch-norm running statistics) and child modules, and exposes them by dotted
/// name ("features.0.weight") so models can be saved, loaded, converted and optimised.

#include "a2q/autograd/variable.hpp"
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
  void train(bool on = true) {
    training_ = on;
    for (auto& [name, child] : children_)
      child->train(on);
  }
  void eval() { train(false); }
  bool training() const { return training_; }

  /// Every parameter of this module and its descendants, with dotted names, in registration order.
  std::vector<std::pair<std::string, Var>> named_parameters() const {
    std::vector<std::pair<std::string, Var>> out;
    visit("", [&](const std::string& prefix, const Module& m) {
      for (const auto& [name, param] : m.parameters_)
        out.emplace_back(prefix + name, *param);
    });
    return out;
  }
  std::vector<Var> parameters() const {
    std::vector<Var> out;
    for (auto& [name, param] : named_parameters())
      out.push_back(param);
    return out;
  }

  /// Every buffer (non-trained state) with dotted names.
  std::vector<std::pair<std::string, const Tensor<float>*>> named_buffers() const {
    std::vector<std::pair<std::string, const Tensor<float>*>> out;
    visit("", [&](const std::string& prefix, const Module& m) {
      for (const auto& [name, buffer] : m.buffers_)
        out.emplace_back(prefix + name, buffer);
    });
    return out;
  }
  /// Same, mutable (for loading and for operations that update statistics).
  std::vector<std::pair<std::string, Tensor<float>*>> named_buffers() {
    std::vector<std::pair<std::string, Tensor<float>*>> out;
    visit_mutable("", [&](const std::string& prefix, Module& m) {
      for (const auto& [name, buffer] : m.buffers_)
        out.emplace_back(prefix + name, buffer);
    });
    return out;
  }

  /// Direct children with their names.
  const std::vector<std::pair<std::string, Module*>>& named_children() const { return children_; }

  /// Calls f(dotted_prefix, module) on this module and every descendant, parents first.
  void visit(const std::string& prefix,
             const std::function<void(const std::string&, const Module&)>& f) const {
    f(prefix, *this);
    for (const auto& [name, child] : children_)
      child->visit(prefix + name + ".", f);
  }
  void visit_mutable(const std::string& prefix, const std::function<void(const std::string&, Module&)>& f) {
    f(prefix, *this);
    for (auto& [name, child] : children_)
      child->visit_mutable(prefix + name + ".", f);
  }

  /// Copies of all parameters and buffers by name.
  NamedTensors state_dict() const {
    NamedTensors out;
    for (const auto& [name, param] : named_parameters())
      out.emplace_back(name, param.value());
    for (const auto& [name, buffer] : named_buffers())
      out.emplace_back(name, *buffer);
    return out;
  }

  /// Loads parameters and buffers by name. Every entry must match a tensor of the same shape; with
  /// `strict`, every parameter and buffer must also be present. All-or-nothing: everything is checked
  /// before anything is copied.
  void load_state_dict(const NamedTensors& state, bool strict = true) {
    std::vector<std::pair<std::string, Tensor<float>*>> targets;
    for (auto& [name, param] : named_parameters())
      targets.emplace_back(name, &param.value());
    for (auto& entry : named_buffers())
      targets.push_back(entry);
    std::vector<std::size_t> source(targets.size(), state.size());
    for (std::size_t s = 0; s < state.size(); ++s) {
      const auto& [name, tensor] = state[s];
      std::size_t i = 0;
      while (i < targets.size() && targets[i].first != name)
        ++i;
      if (i == targets.size())
        throw config_error("state dict entry '" + name + "' matches no parameter or buffer of this " +
                           type_name());
      if (targets[i].second->shape() != tensor.shape())
        throw shape_error("state dict entry '" + name + "' has shape " + tensor.shape().to_string() +
                          ", the model expects " + targets[i].second->shape().to_string());
      source[i] = s;
    }
    if (strict)
      for (std::size_t i = 0; i < targets.size(); ++i)
        if (source[i] == state.size())
          throw config_error("state dict has no entry for '" + targets[i].first + "'");
    for (std::size_t i = 0; i < targets.size(); ++i)
      if (source[i] != state.size())
        *targets[i].second = state[source[i]].second;
  }

  /// Drops every parameter's gradient.
  void zero_grad() {
    for (auto& [name, param] : named_parameters())
      param.zero_grad();
  }

  /// Number of trainable scalars.
  std::int64_t parameter_count() const {
    std::int64_t n = 0;
    for (const auto& [name, param] : named_parameters())
      n += param.value().numel();
    return n;
  }

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
