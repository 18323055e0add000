#pragma once
// Shared pieces of the trainer tests: a tiny separable image dataset and a tiny linear classifier.

#include "a2q/autograd/linear.hpp"
#include "a2q/autograd/shape_ops.hpp"
#include "a2q/core/rng.hpp"
#include "a2q/data/dataset.hpp"
#include "a2q/data/loader.hpp"
#include "a2q/nn/module.hpp"

#include "../io/temp_dir.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace a2q_test {

/// n images 1x4x4 of `classes` (<= 4) classes: class c lights up quadrant c (a 2x2 block of pixels
/// 160..255), the rest is dim noise 0..60. Linearly separable.
inline a2q::data::ImageDataset quadrant_dataset(std::int64_t n, int classes, std::uint64_t seed) {
  a2q::Rng rng(seed);
  a2q::data::ImageDataset ds;
  ds.images = a2q::Tensor<std::uint8_t>({n, 1, 4, 4});
  ds.num_classes = classes;
  ds.name = "quadrants";
  for (std::int64_t i = 0; i < n; ++i) {
    const auto label = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(classes)));
    ds.labels.push_back(label);
    const int qy = label / 2;
    const int qx = label % 2;
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) {
        const bool lit = y / 2 == qy && x / 2 == qx;
        ds.images(i, 0, y, x) =
            static_cast<std::uint8_t>(lit ? rng.uniform_int(160, 255) : rng.uniform_int(0, 60));
      }
  }
  return ds;
}

/// flatten -> linear: [B, 1, 4, 4] -> [B, classes].
class TinyNet : public a2q::nn::Module {
public:
  TinyNet(int classes, std::uint64_t seed, std::int64_t inputs = 16) {
    a2q::Rng rng(seed);
    weight = a2q::Var(a2q::Tensor<float>::uniform({classes, inputs}, -0.25f, 0.25f, rng), true);
    bias = a2q::Var(a2q::Tensor<float>::uniform({classes}, -0.1f, 0.1f, rng), true);
    register_parameter("weight", weight);
    register_parameter("bias", bias);
  }
  a2q::Var forward(const a2q::Var& x) override { return a2q::linear(a2q::flatten(x), weight, bias); }
  std::string type_name() const override { return "TinyNet"; }

  a2q::Var weight;
  a2q::Var bias;
};

/// Copies of all parameter values, for bit-exact comparisons.
inline std::vector<std::vector<float>> parameter_values(const a2q::nn::Module& m) {
  std::vector<std::vector<float>> out;
  for (const auto& [name, p] : m.named_parameters())
    out.emplace_back(p.value().begin(), p.value().end());
  return out;
}

/// Bit-level equality of two parameter snapshots.
inline bool same_bits(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].size() != b[i].size() ||
        (!a[i].empty() && std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)) != 0))
      return false;
  return true;
}

} // namespace a2q_test
