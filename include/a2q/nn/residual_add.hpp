#pragma once
/// @file
/// nn::ResidualAdd: y = body(x) + shortcut(x), with any two branches (the shortcut empty for the
/// identity). The general residual connection an imported graph has; nn::ResidualBlock is ResNet's
/// fixed basic block.

#include "a2q/core/config.hpp"
#include "a2q/nn/sequential.hpp"

#include <memory>

namespace a2q::nn {

class ResidualAdd : public Module {
public:
  /// @param shortcut null or empty for the identity
  A2Q_DECL ResidualAdd(std::unique_ptr<Sequential> body, std::unique_ptr<Sequential> shortcut);

  A2Q_DECL Var forward(const Var& x) override;
  std::string type_name() const override { return "ResidualAdd"; }

  Sequential& body() { return *body_; }
  const Sequential& body() const { return *body_; }
  const Sequential& shortcut() const { return *shortcut_; }
  bool identity_shortcut() const { return shortcut_->size() == 0; }

private:
  std::unique_ptr<Sequential> body_;
  std::unique_ptr<Sequential> shortcut_;
};

} // namespace a2q::nn

#if A2Q_HEADER_ONLY
#include "a2q/nn/residual_add.ipp"
#endif
