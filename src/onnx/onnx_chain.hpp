#pragma once
// How the importer turns a graph into a2q's module tree. Every data tensor of the graph is the end of a
// chain of steps (one module each) that starts at the graph input; a node extends the chain of its
// input. An Add of two data tensors joins two chains: from the step where they fork, one branch becomes
// the body and the other the shortcut of an nn::ResidualAdd. The chain that ends at the graph output is
// then written as an architecture description (io/architecture.hpp) plus the parameters by name, and
// built with build_architecture, so an imported network is checked like every other description.

#include <a2q/core/shape.hpp>
#include <a2q/core/tensor.hpp>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace a2q::io::detail {

struct Step;
using StepPtr = std::shared_ptr<const Step>;

/// One module of the imported network.
struct Step {
  StepPtr parent;              ///< the step before; null at the graph input
  int depth = 0;               ///< steps since the graph input
  std::string name;            ///< preferred module name (made unique within its Sequential when written)
  std::string onnx;            ///< the node it comes from, for messages
  nlohmann::ordered_json node; ///< {"type": ..., its keys} without "name"; "input" is filled when written
  std::vector<std::pair<std::string, Tensor<float>>> params; ///< parameters by name within the module
  Shape shape;                                               ///< one sample's shape after this step
  const Step* input_quant = nullptr;   ///< quantized layers: the ActQuant step that feeds them
  int pad = 0;                         ///< a zero Pad not yet merged into the Conv / AveragePool after it
  std::vector<StepPtr> body, shortcut; ///< ResidualAdd: the two branches, in order
  std::vector<std::int32_t> integers;  ///< quantized layers: the integer weights the file holds

  std::string type() const { return node.value("type", std::string()); }
};

/// A data tensor: the end of a chain (null: the graph input itself) and one sample's shape.
struct Value {
  StepPtr end;
  Shape shape;
};

/// Appends a step after `v`.
StepPtr extend(const Value& v, Step step);

/// The steps after `from` (exclusive, null: the graph input) up to `end`, in order.
std::vector<StepPtr> chain_between(const Step* from, const StepPtr& end);

/// The step where the chains of `a` and `b` fork (null: the graph input).
StepPtr fork_point(const StepPtr& a, const StepPtr& b);

/// The description of the chain ending at `end` as a Sequential, and its parameters by full name.
struct WrittenNetwork {
  nlohmann::ordered_json network;
  std::vector<std::pair<std::string, Tensor<float>>> params;
  std::vector<std::pair<std::string, std::vector<std::int32_t>>> integers; ///< by quantized layer path
};
WrittenNetwork write_network(const StepPtr& end, const std::string& who);

/// A module name made of [A-Za-z0-9_] from an ONNX name ("/layer1/conv/Conv" -> "layer1_conv_Conv").
std::string module_name(const std::string& onnx_name);

} // namespace a2q::io::detail
