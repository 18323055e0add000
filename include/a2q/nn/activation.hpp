#pragma once
/// @file
/// Parameter-free layers: ReLU, Flatten, Dropout.

#include "a2q/autograd/dropout.hpp"
#include "a2q/autograd/elementwise.hpp"
#include "a2q/autograd/shape_ops.hpp"
#include "a2q/core/config.hpp"
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
  A2Q_DECL Dropout(float p, std::uint64_t seed);
  Var forward(const Var& x) override { return dropout(x, p_, training(), rng_); }
  std::string type_name() const override { return "Dropout"; }
  float p() const { return p_; }
  /// The seed the module was constructed with (what a saved architecture records).
  std::uint64_t seed() const { return seed_; }

private:
  float p_;
  std::uint64_t seed_;
  Rng rng_;
};

} // namespace a2q::nn

#if A2Q_HEADER_ONLY
#include "a2q/nn/activation.ipp"
#endif
