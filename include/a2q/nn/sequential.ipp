#pragma once
/// @file
/// Definitions for sequential.hpp (see a2q/core/config.hpp).

#include "a2q/nn/sequential.hpp"

#include "a2q/autograd/pool.hpp"
#include "a2q/nn/activation.hpp"
#include "a2q/nn/module.hpp"
#include "a2q/nn/pooling.hpp"

#include <memory>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

namespace a2q::nn {

Var Sequential::forward(const Var& x) {
  Var h = x;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    // A ReLU followed by max pooling runs as one pass (relu_max_pool2d: the same values and gradients).
    // Exact types: a subclass may have its own forward().
    const bool relu_then_max_pool = i + 1 < layers_.size() && typeid(*layers_[i]) == typeid(ReLU) &&
                                    typeid(*layers_[i + 1]) == typeid(MaxPool2d);
    if (relu_then_max_pool) {
      const auto& pool = static_cast<const MaxPool2d&>(*layers_[i + 1]);
      h = relu_max_pool2d(h, pool.kernel(), pool.stride(), pool.padding());
      ++i;
      continue;
    }
    h = layers_[i]->forward(h);
  }
  return h;
}

} // namespace a2q::nn
