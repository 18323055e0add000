#pragma once
/// @file
/// Definitions for sequential.hpp (see a2q/core/config.hpp).

#include "a2q/nn/sequential.hpp"

#include "a2q/nn/module.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace a2q::nn {

Var Sequential::forward(const Var& x) {
  Var h = x;
  for (auto& layer : layers_)
    h = layer->forward(h);
  return h;
}

} // namespace a2q::nn
