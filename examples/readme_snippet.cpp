#include <a2q/a2q.hpp>

#include <iostream>

int main() {
  namespace nn = a2q::nn;
  a2q::models::QuantPolicy policy; // hidden layers A2Q+ at P = 16; first and last 8-bit, 32-bit sums
  policy.method = a2q::quant::QuantMethod::a2q_plus;
  policy.acc_bits = 16;
  a2q::Rng rng(1);
  auto net = a2q::models::quant_mlp(28 * 28, {64, 64}, 10, policy, rng); // or your own nn::Sequential

  const auto train = a2q::data::subset( // 2000 Fashion-MNIST images, to be quick
      a2q::data::load_mnist(a2q::data::default_fashion_mnist_dir, a2q::data::Split::train), 0, 2000);
  a2q::data::DataLoader loader(train, {.batch_size = 128});
  a2q::Adam adam(net->parameters(), {.lr = 1e-3});
  a2q::train::Trainer trainer(
      *net, adam, {.epochs = 1, .extra_loss = [](nn::Module& m) { return nn::quant_penalty(m); }});
  trainer.fit(loader);
  net->eval();

  a2q::io::save_model("mlp.a2q", *net, a2q::Shape{1, 28, 28}); // the a2q command reads it too
  const a2q::io::LoadedModel model = a2q::io::load_model("mlp.a2q");
  for (const auto& proof : a2q::engine::prove_model(a2q::io::to_integer_model(model)))
    std::cout << proof.name << ": needs " << proof.required_bits << " of " << proof.checked_bits << " bits"
              << (proof.proven() ? ", proven\n" : ", OVERFLOW POSSIBLE\n");
}
