#pragma once
/// @file
/// Definitions for residual_add.hpp (see a2q/core/config.hpp).

#include "a2q/nn/residual_add.hpp"

#include "a2q/autograd/elementwise.hpp"
#include "a2q/core/error.hpp"

#include <memory>
#include <utility>

namespace a2q::nn {

ResidualAdd::ResidualAdd(std::unique_ptr<Sequential> body, std::unique_ptr<Sequential> shortcut)
    : body_(std::move(body)), shortcut_(shortcut ? std::move(shortcut) : std::make_unique<Sequential>()) {
  if (!body_)
    throw config_error("ResidualAdd needs a body");
  register_module("body", *body_);
  register_module("shortcut", *shortcut_);
}

Var ResidualAdd::forward(const Var& x) {
  const Var main = body_->forward(x);
  const Var skip = identity_shortcut() ? x : shortcut_->forward(x);
  if (main.shape() != skip.shape())
    throw shape_error("ResidualAdd: the body gives " + main.shape().to_string() + " but the shortcut " +
                      skip.shape().to_string());
  return add(main, skip);
}

} // namespace a2q::nn
