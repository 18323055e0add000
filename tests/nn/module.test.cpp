#include "a2q/autograd/gradcheck.hpp"
#include "a2q/autograd/loss.hpp"
#include "a2q/autograd/pool.hpp"
#include "a2q/models/zoo.hpp"
#include "a2q/nn/activation.hpp"
#include "a2q/nn/conv2d.hpp"
#include "a2q/nn/init.hpp"
#include "a2q/nn/pooling.hpp"
#include "a2q/nn/sequential.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

using a2q::Shape;
using a2q::Tensor;
using a2q::Var;

namespace {

std::vector<std::string> names(const a2q::nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& [name, p] : m.named_parameters())
    out.push_back(name);
  return out;
}

} // namespace

TEST_CASE("modules expose parameters and buffers by dotted name", "[nn][module]") {
  a2q::Rng rng(1);
  auto model = a2q::models::mnist_cnn(rng, /*batch_norm=*/true);
  const auto params = names(*model);
  CHECK(params == std::vector<std::string>{"0.weight", "1.weight", "1.bias", "4.weight", "5.weight", "5.bias",
                                           "9.weight", "9.bias"});
  std::vector<std::string> buffers;
  for (const auto& [name, b] : std::as_const(*model).named_buffers())
    buffers.push_back(name);
  CHECK(buffers ==
        std::vector<std::string>{"1.running_mean", "1.running_var", "5.running_mean", "5.running_var"});
  CHECK(model->parameter_count() == 16 * 9 + 32 + 32 * 16 * 9 + 64 + 1568 * 10 + 10);

  auto resnet = a2q::models::cifar_resnet(rng, 4, 1);
  bool has_shortcut = false;
  for (const auto& name : names(*resnet))
    has_shortcut = has_shortcut || name == "4.shortcut_conv.weight";
  CHECK(has_shortcut);
}

TEST_CASE("train and eval mode propagate to children", "[nn][module]") {
  a2q::Rng rng(2);
  auto resnet = a2q::models::cifar_resnet(rng, 4, 1);
  resnet->eval();
  bool all_eval = true;
  resnet->visit("",
                [&](const std::string&, const a2q::nn::Module& m) { all_eval = all_eval && !m.training(); });
  CHECK(all_eval);
  resnet->train();
  CHECK((*resnet)[3].training());
}

TEST_CASE("state dicts round-trip and loading is checked and all-or-nothing", "[nn][module]") {
  a2q::Rng rng_a(3), rng_b(4);
  auto a = a2q::models::mnist_cnn(rng_a, true);
  auto b = a2q::models::mnist_cnn(rng_b, true);
  const a2q::Tensor<float> x = Tensor<float>::normal(Shape{2, 1, 28, 28}, 0, 1, rng_a);
  a->eval();
  b->eval();
  CHECK_FALSE((*a)(Var(x)).value() == (*b)(Var(x)).value());
  b->load_state_dict(a->state_dict());
  CHECK((*a)(Var(x)).value() == (*b)(Var(x)).value());

  auto state = a->state_dict();
  auto wrong_shape = state;
  wrong_shape.back().second = Tensor<float>(Shape{3});
  auto c = a2q::models::mnist_cnn(rng_b, true);
  const auto before = c->state_dict();
  CHECK_THROWS_AS(c->load_state_dict(wrong_shape), a2q::shape_error);
  // Nothing was copied before the mismatch was found.
  CHECK(c->state_dict() == before);

  auto unknown = state;
  unknown.emplace_back("nonexistent.weight", Tensor<float>(Shape{1}));
  CHECK_THROWS_WITH(c->load_state_dict(unknown), Catch::Matchers::Contains("nonexistent.weight"));
  auto missing = state;
  missing.pop_back();
  CHECK_THROWS_AS(c->load_state_dict(missing), a2q::config_error);
  CHECK_NOTHROW(c->load_state_dict(missing, /*strict=*/false));
}

TEST_CASE("a residual block passes the gradient check for its input and every parameter", "[nn][residual]") {
  // ReLU kinks make finite differences unreliable when many pre-activations sit within one step of 0, so
  // the check uses one small image and a small step; each parameter is checked on its own.
  a2q::Rng rng(5);
  a2q::nn::ResidualBlock block(2, 4, 2, rng);
  block.eval(); // running statistics: the block is then a fixed function
  const Var x(Tensor<float>::normal(Shape{1, 2, 4, 4}, 0, 1, rng), true);
  const Var r(Tensor<float>::normal(Shape{1, 4, 2, 2}, 0, 1, rng));
  auto f = [&](const std::vector<Var>&) { return a2q::sum(a2q::mul(block(x), r)); };
  std::vector<std::pair<std::string, Var>> checked{{"x", x}};
  for (const auto& entry : block.named_parameters())
    checked.push_back(entry);
  CHECK(checked.size() == 10);
  for (const auto& [name, v] : checked) {
    const auto result = a2q::gradcheck(f, {v}, 1e-3, 1e-3, 1e-2);
    INFO(name << ": " << result.worst);
    CHECK(result.ok);
  }
}

TEST_CASE("Kaiming and Xavier initialisation have the intended spread", "[nn][init]") {
  a2q::Rng rng(6);
  Tensor<float> w(Shape{256, 512});
  auto variance = [](const Tensor<float>& t) {
    double s = 0, s2 = 0;
    for (float v : t) {
      s += v;
      s2 += static_cast<double>(v) * v;
    }
    const double n = static_cast<double>(t.numel());
    return s2 / n - (s / n) * (s / n);
  };
  a2q::nn::init::kaiming_uniform(w, rng);
  CHECK(std::abs(variance(w) - 2.0 / 512) < 0.05 * 2.0 / 512);
  a2q::nn::init::kaiming_normal(w, rng);
  CHECK(std::abs(variance(w) - 2.0 / 512) < 0.05 * 2.0 / 512);
  a2q::nn::init::xavier_uniform(w, rng);
  CHECK(std::abs(variance(w) - 2.0 / 768) < 0.05 * 2.0 / 768);
  a2q::nn::init::xavier_normal(w, rng);
  CHECK(std::abs(variance(w) - 2.0 / 768) < 0.05 * 2.0 / 768);
  Tensor<float> bias(Shape{4});
  CHECK_THROWS_AS(a2q::nn::init::kaiming_uniform(bias, rng), a2q::shape_error);
}

TEST_CASE("the example models produce logits of the right shape", "[nn][models]") {
  a2q::Rng rng(7);
  const Var x(Tensor<float>::normal(Shape{3, 1, 28, 28}, 0, 1, rng));
  CHECK((*a2q::models::mnist_mlp(rng))(x).shape() == Shape{3, 10});
  CHECK((*a2q::models::mnist_cnn(rng))(x).shape() == Shape{3, 10});
  const Var image(Tensor<float>::normal(Shape{2, 3, 32, 32}, 0, 1, rng));
  CHECK((*a2q::models::cifar_resnet(rng, 4, 2))(image).shape() == Shape{2, 10});
  CHECK_THROWS_AS(a2q::models::cifar_resnet(rng, 0, 1), a2q::config_error);
  CHECK_THROWS_AS(a2q::nn::Linear(0, 3, rng), a2q::config_error);
  CHECK_THROWS_AS(a2q::nn::Conv2d(3, 4, 3, rng, {.groups = 2}), a2q::config_error);
  CHECK_THROWS_AS(a2q::nn::Dropout(1.0f, 1), a2q::config_error);
}

TEST_CASE("Sequential runs a ReLU followed by max pooling as one fused pass", "[nn][module]") {
  a2q::Rng rng(61);
  a2q::nn::Sequential fused;
  fused.emplace<a2q::nn::ReLU>();
  fused.emplace<a2q::nn::MaxPool2d>(3, 2, 1);
  fused.emplace<a2q::nn::ReLU>(); // a trailing ReLU has no pooling to fuse with
  const Var x(Tensor<float>::uniform(Shape{2, 3, 9, 8}, -1.0f, 1.0f, rng), true);
  Var y = fused.forward(x);
  const Var x2(x.value(), true);
  Var composed = a2q::relu(a2q::max_pool2d(a2q::relu(x2), 3, 2, 1));
  REQUIRE(y.value() == composed.value());
  y.backward(Tensor<float>(y.shape(), 1.0f));
  composed.backward(Tensor<float>(composed.shape(), 1.0f));
  REQUIRE(x.grad() == x2.grad());
  // The trailing ReLU ran alone, fed by the fused pass.
  CHECK(std::string(y.op()) == "relu");

  // The fusion is visible in the graph: the last node of ReLU -> MaxPool2d is the fused operation.
  a2q::nn::Sequential pair;
  pair.emplace<a2q::nn::ReLU>();
  pair.emplace<a2q::nn::MaxPool2d>(2);
  CHECK(std::string(pair.forward(x).op()) == "relu_max_pool2d");
  // Pooling first: nothing to fuse.
  a2q::nn::Sequential reversed;
  reversed.emplace<a2q::nn::MaxPool2d>(2);
  reversed.emplace<a2q::nn::ReLU>();
  CHECK(std::string(reversed.forward(x).op()) == "relu");
}

TEST_CASE("Sequential runs a convolution, a ReLU and max pooling as one operation", "[nn][module]") {
  a2q::Rng rng(67);
  a2q::nn::Sequential model;
  model.emplace<a2q::nn::Conv2d>(2, 5, 3, rng, a2q::Conv2dOptions{.stride = 1, .padding = 1});
  model.emplace<a2q::nn::ReLU>();
  model.emplace<a2q::nn::MaxPool2d>(2);
  model.emplace<a2q::nn::Conv2d>(5, 4, 3, rng);
  model.emplace<a2q::nn::ReLU>(); // no pooling after it: runs alone
  const Var x(Tensor<float>::uniform(Shape{3, 2, 10, 9}, -1.0f, 1.0f, rng), true);
  const Var y = model.forward(x);
  CHECK(std::string(y.op()) == "relu");
  CHECK(std::string(y.node()->inputs[0]->inputs[0]->op) == "conv2d_relu_max_pool2d");
  // Layer by layer, nothing is fused.
  const Var x2(x.value(), true);
  Var h = x2;
  for (std::size_t i = 0; i < model.size(); ++i)
    h = model[i](h);
  REQUIRE(y.value() == h.value());
  y.backward(Tensor<float>(y.shape(), 1.0f));
  auto& conv = static_cast<a2q::nn::Conv2d&>(model[0]);
  const Tensor<float> fused_dw = conv.weight.grad();
  const Tensor<float> fused_db = conv.bias.grad();
  conv.weight.zero_grad();
  conv.bias.zero_grad();
  h.backward(Tensor<float>(h.shape(), 1.0f));
  REQUIRE(x.grad() == x2.grad());
  // Summed over slices of images in another order.
  const auto close = [](const Tensor<float>& a, const Tensor<float>& b) {
    REQUIRE(a.shape() == b.shape());
    for (std::int64_t i = 0; i < a.numel(); ++i)
      REQUIRE(std::abs(a[i] - b[i]) <= 1e-5f * (1.0f + std::abs(b[i])));
  };
  close(fused_dw, conv.weight.grad());
  close(fused_db, conv.bias.grad());
}
