#pragma once
/// @file
/// Definitions for sgd.hpp (see a2q/core/config.hpp).

#include "a2q/core/eigen_view.hpp"

#include "a2q/optim/optimizer.hpp"
#include "a2q/optim/sgd.hpp"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace a2q {

void SGD::update(Var& param, ParamState& st, const ParamGroup& group, double lr) {
  auto p = as_vector(param.value());
  const auto g = as_vector(std::as_const(param).grad());
  const float wd = static_cast<float>(group.weight_decay);
  const float step = static_cast<float>(lr);
  if (options_.momentum == 0.0) {
    p -= step * (g + wd * p);
    return;
  }
  const float momentum = static_cast<float>(options_.momentum);
  if (st.buffers.empty()) {
    Tensor<float> buffer = Tensor<float>::uninitialized(param.shape());
    as_vector(buffer) = g + wd * p;
    st.buffers.push_back(std::move(buffer));
  } else {
    const float keep = static_cast<float>(1.0 - options_.dampening);
    as_vector(st.buffers[0]) = momentum * as_vector(st.buffers[0]) + keep * (g + wd * p);
  }
  const auto buf = as_vector(std::as_const(st.buffers[0]));
  if (options_.nesterov)
    p -= step * ((g + wd * p) + momentum * buf);
  else
    p -= step * buf;
}

std::vector<std::string> SGD::buffers_for(const SGDOptions& o) {
  check_unit_interval("SGD", "momentum", o.momentum);
  if (!std::isfinite(o.dampening) || o.dampening < 0.0 || o.dampening > 1.0)
    throw config_error("SGD: dampening must be in [0, 1], got " + std::to_string(o.dampening));
  if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0))
    throw config_error("SGD: nesterov needs momentum > 0 and dampening == 0, got momentum " +
                       std::to_string(o.momentum) + " and dampening " + std::to_string(o.dampening));
  if (o.momentum == 0.0)
    return {};
  return {"momentum_buffer"};
}

} // namespace a2q
