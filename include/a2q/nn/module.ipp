#pragma once
/// @file
/// Definitions for module.hpp (see a2q/core/config.hpp).

#include "a2q/nn/module.hpp"

#include "a2q/autograd/variable.hpp"
#include "a2q/core/error.hpp"

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace a2q::nn {

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_)
    child->train(on);
}

std::vector<std::pair<std::string, Var>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Var>> out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& [name, param] : m.parameters_)
      out.emplace_back(prefix + name, *param);
  });
  return out;
}

std::vector<Var> Module::parameters() const {
  std::vector<Var> out;
  for (auto& [name, param] : named_parameters())
    out.push_back(param);
  return out;
}

std::vector<std::pair<std::string, const Tensor<float>*>> Module::named_buffers() const {
  std::vector<std::pair<std::string, const Tensor<float>*>> out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& [name, buffer] : m.buffers_)
      out.emplace_back(prefix + name, buffer);
  });
  return out;
}

std::vector<std::pair<std::string, Tensor<float>*>> Module::named_buffers() {
  std::vector<std::pair<std::string, Tensor<float>*>> out;
  visit_mutable("", [&](const std::string& prefix, Module& m) {
    for (const auto& [name, buffer] : m.buffers_)
      out.emplace_back(prefix + name, buffer);
  });
  return out;
}

void Module::visit(const std::string& prefix,
                   const std::function<void(const std::string&, const Module&)>& f) const {
  f(prefix, *this);
  for (const auto& [name, child] : children_)
    child->visit(prefix + name + ".", f);
}

void Module::visit_mutable(const std::string& prefix,
                           const std::function<void(const std::string&, Module&)>& f) {
  f(prefix, *this);
  for (auto& [name, child] : children_)
    child->visit_mutable(prefix + name + ".", f);
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  for (const auto& [name, param] : named_parameters())
    out.emplace_back(name, param.value());
  for (const auto& [name, buffer] : named_buffers())
    out.emplace_back(name, *buffer);
  return out;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
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

void Module::zero_grad() {
  for (auto& [name, param] : named_parameters())
    param.zero_grad();
}

std::int64_t Module::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& [name, param] : named_parameters())
    n += param.value().numel();
  return n;
}

} // namespace a2q::nn
