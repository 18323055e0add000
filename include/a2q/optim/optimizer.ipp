#pragma once
/// @file
/// Definitions for optimizer.hpp (see a2q/core/config.hpp).

#include "a2q/optim/optimizer.hpp"

#include "a2q/autograd/variable.hpp"
#include "a2q/core/assert.hpp"
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

ParamGroup::ParamGroup(std::vector<Var> group_params, double group_weight_decay, double group_lr_scale,
                       std::string group_name)
    : params(std::move(group_params)), weight_decay(group_weight_decay), lr_scale(group_lr_scale),
      name(std::move(group_name)) {}

void Optimizer::set_lr(double lr) {
  check_lr(lr);
  lr_ = lr;
}

void Optimizer::step() {
  NoGradGuard no_grad;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    ParamGroup& group = groups_[g];
    const double group_lr = lr_ * group.lr_scale;
    for (std::size_t i = 0; i < group.params.size(); ++i) {
      Var& param = group.params[i];
      if (!param.has_grad())
        continue;
      ParamState& st = state_[g][i];
      ++st.step;
      update(param, st, group, group_lr);
      A2Q_ASSERT(st.buffers.size() == buffer_names_.size());
    }
  }
  ++step_count_;
}

void Optimizer::zero_grad() {
  for (ParamGroup& group : groups_)
    for (Var& param : group.params)
      param.zero_grad();
}

OptimizerState Optimizer::state() const {
  OptimizerState out;
  out.emplace_back("step", counter_tensor("step", step_count_));
  for (std::size_t g = 0; g < state_.size(); ++g)
    for (std::size_t i = 0; i < state_[g].size(); ++i) {
      const ParamState& st = state_[g][i];
      const std::string prefix = param_prefix(g, i);
      out.emplace_back(prefix + "step", counter_tensor(prefix + "step", st.step));
      for (std::size_t b = 0; b < st.buffers.size(); ++b)
        out.emplace_back(prefix + buffer_names_[b], st.buffers[b]);
    }
  return out;
}

void Optimizer::load_state(const OptimizerState& saved) {
  std::map<std::string, const Tensor<float>*> by_name;
  for (const auto& [name, tensor] : saved)
    if (!by_name.emplace(name, &tensor).second)
      throw config_error("optimizer state: entry '" + name + "' appears more than once");

  std::set<std::string> used;
  auto take = [&](const std::string& name) -> const Tensor<float>* {
    auto it = by_name.find(name);
    if (it == by_name.end())
      return nullptr;
    used.insert(name);
    return it->second;
  };
  auto take_counter = [&](const std::string& name) {
    const Tensor<float>* t = take(name);
    if (t == nullptr)
      throw config_error("optimizer state: entry '" + name + "' is missing");
    return read_counter(name, *t);
  };

  const std::int64_t step_count = take_counter("step");
  std::vector<std::vector<ParamState>> loaded(groups_.size());
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    loaded[g].resize(groups_[g].params.size());
    for (std::size_t i = 0; i < groups_[g].params.size(); ++i) {
      const std::string prefix = param_prefix(g, i);
      ParamState& st = loaded[g][i];
      st.step = take_counter(prefix + "step");
      const Shape& shape = groups_[g].params[i].shape();
      for (const std::string& buffer : buffer_names_) {
        const std::string name = prefix + buffer;
        const Tensor<float>* t = take(name);
        if (st.step == 0 && t != nullptr)
          throw config_error("optimizer state: entry '" + name + "' is present but '" + prefix +
                             "step' is 0 (buffers exist only after the first update)");
        if (st.step > 0 && t == nullptr)
          throw config_error("optimizer state: entry '" + name + "' is missing ('" + prefix + "step' is " +
                             std::to_string(st.step) + ")");
        if (t == nullptr)
          continue;
        if (t->shape() != shape)
          throw config_error("optimizer state: entry '" + name + "' has shape " + t->shape().to_string() +
                             ", the parameter (" + group_label(g) + ", index " + std::to_string(i) +
                             ") has shape " + shape.to_string());
        st.buffers.push_back(*t);
      }
    }
  }
  for (const auto& [name, tensor] : saved)
    if (used.count(name) == 0)
      throw config_error("optimizer state: unexpected entry '" + name + "' (shape " +
                         tensor.shape().to_string() + "); is it from a different optimizer or model?");

  state_ = std::move(loaded);
  step_count_ = step_count;
}

Optimizer::Optimizer(std::vector<ParamGroup> groups, double lr, std::vector<std::string> buffer_names)
    : groups_(std::move(groups)), buffer_names_(std::move(buffer_names)) {
  check_lr(lr);
  lr_ = lr;
  std::unordered_set<const detail::Node*> seen;
  std::size_t total = 0;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const ParamGroup& group = groups_[g];
    if (!std::isfinite(group.weight_decay) || group.weight_decay < 0.0)
      throw config_error("optimizer " + group_label(g) + ": weight_decay must be finite and >= 0, got " +
                         std::to_string(group.weight_decay));
    if (!std::isfinite(group.lr_scale) || group.lr_scale < 0.0)
      throw config_error("optimizer " + group_label(g) + ": lr_scale must be finite and >= 0, got " +
                         std::to_string(group.lr_scale));
    for (std::size_t i = 0; i < group.params.size(); ++i) {
      const Var& param = group.params[i];
      if (!param.defined())
        throw config_error("optimizer " + group_label(g) + ": parameter " + std::to_string(i) +
                           " is an undefined Var");
      if (!seen.insert(param.node().get()).second)
        throw config_error("optimizer " + group_label(g) + ": parameter " + std::to_string(i) + " (shape " +
                           param.shape().to_string() +
                           ") appears more than once; it would be updated twice per step");
    }
    total += group.params.size();
  }
  if (total == 0)
    throw config_error("optimizer given no parameters (" + std::to_string(groups_.size()) +
                       " groups, all empty)");
  state_.resize(groups_.size());
  for (std::size_t g = 0; g < groups_.size(); ++g)
    state_[g].resize(groups_[g].params.size());
}

void Optimizer::check_non_negative(const char* optimizer, const char* what, double value) {
  if (!std::isfinite(value) || value < 0.0)
    throw config_error(std::string(optimizer) + ": " + what + " must be finite and >= 0, got " +
                       std::to_string(value));
}

void Optimizer::check_unit_interval(const char* optimizer, const char* what, double value) {
  if (!std::isfinite(value) || value < 0.0 || value >= 1.0)
    throw config_error(std::string(optimizer) + ": " + what + " must be in [0, 1), got " +
                       std::to_string(value));
}

void Optimizer::check_lr(double lr) {
  if (!std::isfinite(lr) || lr < 0.0)
    throw config_error("optimizer: learning rate must be finite and >= 0, got " + std::to_string(lr));
}

std::string Optimizer::group_label(std::size_t g) const {
  const std::string index = "group " + std::to_string(g);
  return groups_[g].name.empty() ? index : index + " '" + groups_[g].name + "'";
}

Tensor<float> Optimizer::counter_tensor(const std::string& name, std::int64_t value) {
  if (value > max_counter)
    throw config_error("optimizer state: counter '" + name + "' = " + std::to_string(value) +
                       " exceeds 2^24 and cannot be stored exactly in a float tensor");
  return Tensor<float>(Shape{1}, static_cast<float>(value));
}

std::int64_t Optimizer::read_counter(const std::string& name, const Tensor<float>& t) {
  if (t.numel() != 1)
    throw config_error("optimizer state: counter '" + name + "' must hold 1 element, has shape " +
                       t.shape().to_string());
  const float v = t[0];
  if (!std::isfinite(v) || v < 0.0f || v > static_cast<float>(max_counter) || v != std::floor(v))
    throw config_error("optimizer state: counter '" + name + "' must be a whole number in [0, 2^24], got " +
                       std::to_string(v));
  return static_cast<std::int64_t>(v);
}

} // namespace a2q
