#pragma once
/// @file
/// nn::Sequential: children applied in order, named "0", "1", ... unless named explicitly.

#include "a2q/core/config.hpp"
#include "a2q/nn/module.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace a2q::nn {

class Sequential : public Module {
public:
  /// Constructs a layer in place at the end and returns it.
  template <class M, class... Args>
  M& emplace(Args&&... args) {
    return add(std::make_unique<M>(std::forward<Args>(args)...));
  }

  /// Constructs a layer in place at the end under a chosen name (e.g. "fc1") instead of its index.
  template <class M, class... Args>
  M& emplace_named(std::string name, Args&&... args) {
    return add(std::make_unique<M>(std::forward<Args>(args)...), std::move(name));
  }

  /// Appends an existing layer, named by its index unless a name is given.
  template <class M>
  M& add(std::unique_ptr<M> layer, std::string name = {}) {
    M& ref = *layer;
    register_module(name.empty() ? std::to_string(layers_.size()) : std::move(name), ref);
    layers_.push_back(std::move(layer));
    return ref;
  }

  A2Q_DECL Var forward(const Var& x) override;
  std::string type_name() const override { return "Sequential"; }

  std::size_t size() const { return layers_.size(); }
  Module& operator[](std::size_t i) { return *layers_.at(i); }
  const Module& operator[](std::size_t i) const { return *layers_.at(i); }

private:
  std::vector<std::unique_ptr<Module>> layers_;
};

} // namespace a2q::nn

#if A2Q_HEADER_ONLY
#include "a2q/nn/sequential.ipp"
#endif
