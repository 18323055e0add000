#pragma once
// Networks that are not in the model zoo, for the architecture, model-file and C-header tests.

#include "a2q/autograd/variable.hpp"
#include "a2q/models/quant_zoo.hpp"
#include "a2q/nn/activation.hpp"
#include "a2q/nn/batch_norm.hpp"
#include "a2q/nn/conv2d.hpp"
#include "a2q/nn/linear.hpp"
#include "a2q/nn/pooling.hpp"
#include "a2q/nn/residual.hpp"
#include "a2q/nn/sequential.hpp"

#include "a2q/nn/residual_add.hpp"

#include <memory>
#include <string>

namespace test_nets {

/// A depthwise-separable A2Q+ CNN for 1 x 16 x 16 inputs: depthwise and pointwise convolutions, batch
/// norm, average and global average pooling, a residual block, dropout, and signed and unsigned
/// quantizers, with hidden layers at P.
inline std::unique_ptr<a2q::nn::Sequential> separable_cnn(a2q::Rng& rng, int P = 14) {
  namespace nn = a2q::nn;
  a2q::models::QuantPolicy policy;
  policy.method = a2q::quant::QuantMethod::a2q_plus;
  policy.acc_bits = P;
  auto m = std::make_unique<nn::Sequential>();
  const nn::ActQuant* in = &m->emplace_named<nn::ActQuant>("input_quant", a2q::models::pixel_input());
  const auto conv = [&](const std::string& name, std::int64_t cin, std::int64_t cout, std::int64_t k,
                        a2q::Conv2dOptions options, bool first) {
    m->emplace_named<nn::QuantConv2d>(name, cin, cout, k, rng, policy.layer(name, first, false), *in,
                                      options);
    m->emplace_named<nn::BatchNorm2d>(name + "_bn", cout);
    m->emplace_named<nn::ReLU>(name + "_relu");
    in = &m->emplace_named<nn::ActQuant>(name + "_act", policy.activation_options());
  };
  conv("stem", 1, 8, 3, {.stride = 1, .padding = 1}, true);
  conv("dw1", 8, 8, 3, {.padding = 1, .groups = 8}, false); // depthwise: K = 9
  conv("pw1", 8, 16, 1, {}, false);
  m->emplace_named<nn::AvgPool2d>("pool", 2); // 8 x 8
  in = &m->emplace_named<nn::ActQuant>("pool_act", policy.activation_options());
  auto& block =
      m->emplace_named<a2q::models::QuantResidualBlock>("block", 16, 24, 2, *in, policy, "block", rng);
  in = &block.output;
  m->emplace_named<nn::GlobalAvgPool2d>("gap");
  in = &m->emplace_named<nn::ActQuant>("gap_act", policy.activation_options());
  m->emplace_named<nn::Dropout>("drop", 0.1f, 7);
  m->emplace_named<nn::QuantLinear>("fc", 24, 10, rng, policy.layer("fc", false, true), *in);
  return m;
}

/// Every float module type: Linear, Conv2d (non-square, grouped), BatchNorm2d, ReLU, Flatten, Dropout,
/// MaxPool2d, AvgPool2d, GlobalAvgPool2d, ResidualBlock and nested Sequentials, for 3 x 12 x 12 inputs.
inline std::unique_ptr<a2q::nn::Sequential> float_zoo_of_types(a2q::Rng& rng) {
  namespace nn = a2q::nn;
  auto m = std::make_unique<nn::Sequential>();
  m->emplace_named<nn::Conv2d>("conv", 3, 6, 3, 1, rng, a2q::Conv2dOptions{.padding = 1, .groups = 3});
  m->emplace_named<nn::BatchNorm2d>("bn", 6, 0.2f, 1e-4f);
  m->emplace_named<nn::ReLU>("relu");
  m->emplace_named<nn::MaxPool2d>("max", 2, 2, 0); // the 3 x 1 kernel made it 6 x 12 x 14: now 6 x 6 x 7
  auto& inner = m->emplace_named<nn::Sequential>("inner");
  inner.emplace<nn::ResidualBlock>(6, 8, 2, rng); // 8 x 3 x 4
  inner.emplace<nn::AvgPool2d>(3, 1, 1);
  // y = relu(conv(x)) + x with an identity shortcut, and one with a projection shortcut
  auto body = std::make_unique<nn::Sequential>();
  body->emplace_named<nn::Conv2d>("conv", 8, 8, 3, 3, rng, a2q::Conv2dOptions{.padding = 1});
  body->emplace_named<nn::ReLU>("relu");
  m->emplace_named<nn::ResidualAdd>("skip", std::move(body), nullptr);
  auto body2 = std::make_unique<nn::Sequential>();
  body2->emplace_named<nn::ReLU>("relu");
  auto shortcut = std::make_unique<nn::Sequential>();
  shortcut->emplace_named<nn::Conv2d>("proj", 8, 8, 1, 1, rng);
  m->emplace_named<nn::ResidualAdd>("project", std::move(body2), std::move(shortcut));
  m->emplace_named<nn::GlobalAvgPool2d>("gap");
  m->emplace_named<nn::Dropout>("drop", 0.25f, 99);
  m->emplace_named<nn::Flatten>("flatten");
  m->emplace_named<nn::Linear>("fc", 8, 5, rng, false);
  return m;
}

/// Calibrates a network's activation quantizers and batch-norm statistics with a few training batches.
inline void calibrate(a2q::nn::Module& net, const a2q::Tensor<float>& x) {
  const a2q::NoGradGuard no_grad;
  net.train();
  for (int i = 0; i < 4; ++i)
    (void)net.forward(a2q::Var(x));
  net.eval();
}

} // namespace test_nets
