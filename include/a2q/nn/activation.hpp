#pragma once
/// @file
/// Parameter-free layers: ReLU, Flatten, Dropout.

#include "a2q/autograd/dropout.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/shape_ops.hpp"
#include "a2q/nn/module.hpp"

namespace a2q::nn {

class ReLU : public Module {
public:
  Var forward(const Var& x) override { return relu(x); }
  std::string type_name() const override { return "ReLU"; }
};

/// [N, ...] -> [N, prod(...)].
class Flatten : public Module {
public:
  Var forward(const Var& x) override { return flatten(x); }
  std::string type_name() const override { return "Flatten"; }
};

/// Inverted dropout with its own seeded generator (identity in eval mode).
class Dropout : public Module {
public:
  Dropout(float p, std::uint64_t seed) : p_(p), rng_(seed) {
    if (!(p >= 0.0f && p < 1.0f))
      throw config_error("Dropout: p must be in [0, 1), got " + std::to_string(p));
  }
  Var forward(const Var& x) override { return dropout(x, p_, training(), rng_); }
  std::string type_name() const override { return "Dropout"; }

private:
  float p_;
  Rng rng_;
};

} // namespace a2q::nn
