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

/// Sub-pixel upscaling: [N, C·r², H, W] -> [N, C, H·r, W·r] (ESPCN's last layer, after a convolution).
class PixelShuffle : public Module {
public:
  explicit PixelShuffle(std::int64_t factor) : factor_(factor) {
    if (factor < 1 || factor > 64)
      throw config_error("PixelShuffle: factor must be in [1, 64], got " + std::to_string(factor));
  }
  Var forward(const Var& x) override { return pixel_shuffle(x, factor_); }
  std::string type_name() const override { return "PixelShuffle"; }
  std::int64_t factor() const { return factor_; }

private:
  std::int64_t factor_;
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
