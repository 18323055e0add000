#pragma once
/// @file
/// Definitions for variable.hpp (see a2q/core/config.hpp).

#include "a2q/autograd/variable.hpp"

#include "a2q/autograd/profiler.hpp"
#include "a2q/core/assert.hpp"
#include "a2q/core/eigen_view.hpp"
#include "a2q/core/error.hpp"

#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace a2q {

void Var::backward() const {
  if (value().numel() != 1)
    throw shape_error("backward() needs a scalar, got shape " + shape().to_string() +
                      "; use backward(gradient) for other shapes");
  backward(Tensor<float>(shape(), 1.0f));
}

void Var::backward(const Tensor<float>& gradient) const {
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
  as_vector(node_->grad_buffer()) += as_vector(gradient);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    detail::Node& n = **it;
    if (!n.backward)
      continue;
    if (n.has_grad()) {
      if (OpProfiler* profiler = detail::active_profiler()) {
        const auto start = profiler->begin_backward();
        n.backward(n);
        profiler->end_backward(n.op, start);
      } else {
        n.backward(n);
      }
    }
    // This node's work is done: free its gradient and its edges now, not at the end of the step.
    n.grad = Tensor<float>();
    n.backward = nullptr;
    n.inputs.clear();
    n.released = true;
  }
}

std::vector<std::shared_ptr<detail::Node>> Var::topological_order(const std::shared_ptr<detail::Node>& root) {
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

namespace detail {

Var make_result(Tensor<float> value, std::initializer_list<Var> inputs, const char* op,
                std::function<void(Node&)> backward) {
  if (OpProfiler* profiler = active_profiler())
    profiler->record_forward(op);
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

void accumulate_grad(Node& self, std::size_t index, Tensor<float> delta) {
  Node& in = *self.inputs[index];
  if (!in.requires_grad)
    return;
  A2Q_ASSERT(delta.numel() == in.value.numel());
  if (!in.has_grad()) {
    in.grad = std::move(delta);
    in.grad.reshape(in.value.shape());
  } else {
    as_vector(in.grad) += as_vector(delta);
  }
}

} // namespace detail

} // namespace a2q
