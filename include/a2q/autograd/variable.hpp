#pragma once
/// @file
/// Reverse-mode automatic differentiation at tensor granularity (define-by-run).
///
/// Every operation on a2q::Var computes its value at once and, when an input needs a gradient,
/// records a node that knows its inputs and how to push its output gradient back to them. The graph
/// is owned through shared pointers from the result to its inputs only, so it is freed as soon as the
/// last Var referring to it goes away: nothing leaks from one training step into the next.
/// `backward()` orders the graph topologically and runs each node's backward function once.

#include "a2q/core/assert.hpp"
#include "a2q/core/config.hpp"
#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace a2q {

namespace detail {

/// One value in the graph. Leaves (parameters, inputs) have no backward function.
struct Node {
  Tensor<float> value;
  Tensor<float> grad; ///< empty until a gradient arrives
  bool requires_grad = false;
  const char* op = "leaf";
  bool released = false; ///< set once backward() has consumed this node's edges
  std::vector<std::shared_ptr<Node>> inputs;
  /// Reads this node's grad and accumulates into the inputs' grads. Takes the node by reference so
  /// the closure never owns its own node (no reference cycle).
  std::function<void(Node&)> backward;

  bool has_grad() const { return grad.numel() == value.numel() && grad.shape() == value.shape(); }

  /// The gradient buffer, zero-filled on first use.
  Tensor<float>& grad_buffer() {
    if (!has_grad())
      grad = Tensor<float>(value.shape());
    return grad;
  }
};

/// Whether operations record the graph on this thread (see NoGradGuard).
inline bool& grad_mode_flag() {
  thread_local bool enabled = true;
  return enabled;
}

} // namespace detail

/// True while operations record gradients on this thread.
inline bool grad_enabled() {
  return detail::grad_mode_flag();
}

/// Turns graph recording off for its lifetime (evaluation, optimizer updates); restores it after.
class NoGradGuard {
public:
  NoGradGuard() : previous_(detail::grad_mode_flag()) { detail::grad_mode_flag() = false; }
  ~NoGradGuard() { detail::grad_mode_flag() = previous_; }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
  bool previous_;
};

/// A tensor that takes part in automatic differentiation. A Var is a handle: copies share the node,
/// so a module, its optimizer and the graph all see the same parameter.
class Var {
public:
  /// An undefined Var (no node).
  Var() = default;
  /// A leaf holding `value`; parameters pass requires_grad = true.
  explicit Var(Tensor<float> value, bool requires_grad = false) : node_(std::make_shared<detail::Node>()) {
    node_->value = std::move(value);
    node_->requires_grad = requires_grad;
  }

  bool defined() const { return node_ != nullptr; }
  const Tensor<float>& value() const { return checked().value; }
  /// Mutable value, for optimizers and initialisers; do not change a value the graph still needs.
  Tensor<float>& value() { return checked().value; }
  const Shape& shape() const { return value().shape(); }
  bool requires_grad() const { return checked().requires_grad; }
  /// Whether a gradient has been accumulated since the last zero_grad().
  bool has_grad() const { return checked().has_grad(); }
  /// The accumulated gradient (empty tensor when none has arrived).
  const Tensor<float>& grad() const { return checked().grad; }
  Tensor<float>& grad() { return checked().grad; }
  /// Drops the accumulated gradient.
  void zero_grad() { checked().grad = Tensor<float>(); }
  /// Name of the operation that produced this Var ("leaf" for leaves).
  const char* op() const { return checked().op; }

  /// Back-propagates from this Var, which must hold one element (a loss), with seed gradient 1.
  A2Q_DECL void backward() const;

  /// Back-propagates `gradient` (same shape as the value). Intermediate gradients and the graph
  /// behind this Var are released afterwards; leaf gradients accumulate.
  A2Q_DECL void backward(const Tensor<float>& gradient) const;

  /// The underlying node, for operation implementations.
  const std::shared_ptr<detail::Node>& node() const { return node_; }

private:
  detail::Node& checked() const {
    if (!node_)
      throw config_error("use of an undefined a2q::Var");
    return *node_;
  }

  // Iterative post-order DFS so that deep graphs cannot overflow the call stack.
  A2Q_DECL static std::vector<std::shared_ptr<detail::Node>>
  topological_order(const std::shared_ptr<detail::Node>& root);

  std::shared_ptr<detail::Node> node_;
};

namespace detail {

/// Builds an operation's result. The graph edge and backward function are recorded only when grad
/// mode is on and some input requires a gradient; otherwise the result is a plain constant.
/// @param backward called as backward(Node& self); self.grad holds the output gradient.
A2Q_DECL Var make_result(Tensor<float> value, std::initializer_list<Var> inputs, const char* op,
                         std::function<void(Node&)> backward);

/// Adds `delta` into input `index`'s gradient if that input wants one.
/// The first gradient to arrive is moved in, later ones are added.
A2Q_DECL void accumulate_grad(Node& self, std::size_t index, Tensor<float> delta);

/// Input `index` of a node under construction (for backward closures).
inline Node& input(Node& self, std::size_t index) {
  return *self.inputs[index];
}

} // namespace detail

} // namespace a2q

#if A2Q_HEADER_ONLY
#include "a2q/autograd/variable.ipp"
#endif
