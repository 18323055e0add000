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
#include "a2q/core/error.hpp"
#include "a2q/core/tensor.hpp"

#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
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
  void backward() const {
    if (value().numel() != 1)
      throw shape_error("backward() needs a scalar, got shape " + shape().to_string() +
                        "; use backward(gradient) for other shapes");
    backward(Tensor<float>(shape(), 1.0f));
  }

  /// Back-propagates `gradient` (same shape as the value). Intermediate gradients and the graph
  /// behind this Var are released afterwards; leaf gradients accumulate.
  void backward(const Tensor<float>& gradient) const {
    if (gradient.shape() != shape())
      throw shape_error("backward gradient shape " + gradient.shape().to_string() + " does not match " +
                        shape().to_string());
    if (!requires_grad())
      throw config_error("backward() on a Var that does not require a gradient (no parameter reaches it)");
    if (node_->released)
      throw config_error(std::string("backward() through the graph of '") + op() +
                         "' a second time: the graph is freed by the first backward()");
    // Owning pointers: clearing a node's edges below must not free nodes still waiting in the order.
    const std::vector<std::shared_ptr<detail::Node>> order = topological_order(node_);
    node_->grad_buffer().vector() += gradient.vector();
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      detail::Node& n = **it;
      if (!n.backward)
        continue;
      if (n.has_grad())
        n.backward(n);
      // This node's work is done: free its gradient and its edges now, not at the end of the step.
      n.grad = Tensor<float>();
      n.backward = nullptr;
      n.inputs.clear();
      n.released = true;
    }
  }

  /// The underlying node, for operation implementations.
  const std::shared_ptr<detail::Node>& node() const { return node_; }

private:
  detail::Node& checked() const {
    if (!node_)
      throw config_error("use of an undefined a2q::Var");
    return *node_;
  }

  // Iterative post-order DFS so that deep graphs cannot overflow the call stack.
  static std::vector<std::shared_ptr<detail::Node>>
  topological_order(const std::shared_ptr<detail::Node>& root) {
    std::vector<std::shared_ptr<detail::Node>> order;
    std::unordered_set<detail::Node*> visited;
    std::vector<std::pair<std::shared_ptr<detail::Node>, std::size_t>> stack{{root, 0}};
    visited.insert(root.get());
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next < node->inputs.size()) {
        const std::shared_ptr<detail::Node>& child = node->inputs[next++];
        if (child->requires_grad && visited.insert(child.get()).second)
          stack.emplace_back(child, 0);
      } else {
        order.push_back(std::move(node));
        stack.pop_back();
      }
    }
    return order;
  }

  std::shared_ptr<detail::Node> node_;
};

namespace detail {

/// Builds an operation's result. The graph edge and backward function are recorded only when grad
/// mode is on and some input requires a gradient; otherwise the result is a plain constant.
/// @param backward called as backward(Node& self); self.grad holds the output gradient.
inline Var make_result(Tensor<float> value, std::initializer_list<Var> inputs, const char* op,
                       std::function<void(Node&)> backward) {
  bool needs_grad = false;
  if (grad_enabled())
    for (const Var& in : inputs)
      needs_grad = needs_grad || in.requires_grad();
  Var out(std::move(value), needs_grad);
  if (needs_grad) {
    Node& n = *out.node();
    n.op = op;
    for (const Var& in : inputs)
      n.inputs.push_back(in.node());
    n.backward = std::move(backward);
  }
  return out;
}

/// Adds `delta` into input `index`'s gradient if that input wants one.
/// The first gradient to arrive is moved in, later ones are added.
inline void accumulate_grad(Node& self, std::size_t index, Tensor<float> delta) {
  Node& in = *self.inputs[index];
  if (!in.requires_grad)
    return;
  A2Q_ASSERT(delta.numel() == in.value.numel());
  if (!in.has_grad()) {
    in.grad = std::move(delta);
    in.grad.reshape(in.value.shape());
  } else {
    in.grad.vector() += delta.vector();
  }
}

/// Input `index` of a node under construction (for backward closures).
inline Node& input(Node& self, std::size_t index) {
  return *self.inputs[index];
}

} // namespace detail

} // namespace a2q
