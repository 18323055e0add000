#pragma once
// Networks the harnesses and the seed corpora share: the checkpoint harness loads every input into
// CheckpointTarget's network and optimizer, and the seeds program writes its seed checkpoints from the
// same two, so that the seeds load and mutations start from a checkpoint that fits.

#include <a2q/autograd/variable.hpp>
#include <a2q/core/rng.hpp>
#include <a2q/models/recipe.hpp>
#include <a2q/nn/module.hpp>
#include <a2q/nn/sequential.hpp>
#include <a2q/optim/adam.hpp>

#include <memory>

namespace a2q_fuzz {

/// A small zoo network of the given method (hidden width 8), calibrated on one batch of random images
/// so that every activation quantizer has a scale.
inline std::unique_ptr<a2q::nn::Sequential> small_network(const a2q::models::ModelRecipe& recipe,
                                                          std::uint64_t seed) {
  a2q::Rng rng(seed);
  auto model = recipe.build(rng);
  std::vector<std::int64_t> dims{4};
  for (const std::int64_t d : recipe.input.dims())
    dims.push_back(d);
  a2q::Tensor<float> images{a2q::Shape(dims)};
  for (std::int64_t i = 0; i < images.numel(); ++i)
    images[i] = static_cast<float>(rng.uniform(0.0, 1.0));
  {
    const a2q::NoGradGuard no_grad;
    model->train(true);
    for (int b = 0; b < 4; ++b)
      (void)model->forward(a2q::Var(images));
  }
  model->eval();
  return model;
}

inline a2q::models::ModelRecipe checkpoint_recipe() {
  a2q::models::ModelRecipe recipe;
  recipe.mlp_width = 8;
  recipe.policy.method = a2q::quant::QuantMethod::a2q_plus;
  return recipe;
}

/// The network and optimizer every checkpoint input is loaded into.
struct CheckpointTarget {
  std::unique_ptr<a2q::nn::Sequential> model = small_network(checkpoint_recipe(), 1);
  std::unique_ptr<a2q::Adam> optimizer = std::make_unique<a2q::Adam>(model->parameters());
};

} // namespace a2q_fuzz
