#pragma once
// The part of an ONNX model the importer reads, checked: the protobuf parsed with ONNX's own classes,
// constants (initializers and Constant nodes) decoded with their sizes checked, the nodes in an order
// where each runs after its inputs (a cycle or an input nobody produces is refused), and attribute
// accessors whose errors name the node.

#include <a2q/core/error.hpp>

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace a2q::io::detail {

/// A constant tensor, its values widened to double (float32 and integer tensors alike; int64 values
/// above 2^53 are refused where they would lose precision).
struct OnnxConstant {
  std::vector<std::int64_t> dims;
  std::vector<double> values;
  bool integer = false; ///< an integer element type (shape arithmetic), else floating point
  int data_type = 0;    ///< the TensorProto element type it was stored as (0: made by folding)

  std::int64_t numel() const { return static_cast<std::int64_t>(values.size()); }
  bool scalar_like() const { return values.size() == 1; }
};

/// Checks a TensorProto's type, dimensions and payload size without decoding it.
/// @throws io_error as decode_tensor does
void check_tensor(const onnx::TensorProto& t, const std::string& who);

/// An int8 / uint8 initializer's values in place (raw_data), or nothing if it is stored otherwise.
struct ByteTensor {
  const char* data = nullptr;
  bool is_signed = false;
  double operator[](std::size_t i) const {
    return is_signed ? static_cast<double>(static_cast<std::int8_t>(data[i]))
                     : static_cast<double>(static_cast<unsigned char>(data[i]));
  }
};
std::optional<ByteTensor> byte_tensor(const onnx::TensorProto* t);

/// Decodes a TensorProto (float, double, float16 are refused except float/double; int8..int64, bool).
/// @throws io_error naming `who` and the tensor: unsupported element type, external data, or a
///         payload whose size does not match its dimensions
OnnxConstant decode_tensor(const onnx::TensorProto& t, const std::string& who);

/// The elements a set of dimensions holds, refusing negative dimensions and more than 2^28 elements.
std::int64_t checked_numel(const std::vector<std::int64_t>& dims, const std::string& what);

class OnnxGraph {
public:
  /// Parses `bytes` as an ONNX ModelProto.
  /// @param who the file name every error starts with
  OnnxGraph(std::string_view bytes, std::string who);

  const onnx::ModelProto& model() const { return model_; }
  const onnx::GraphProto& graph() const { return model_.graph(); }
  const std::string& who() const { return who_; }

  /// The nodes, each after the producers of its inputs.
  const std::vector<const onnx::NodeProto*>& nodes() const { return order_; }

  /// Initializers and Constant-node outputs by tensor name, all decoded.
  const std::map<std::string, OnnxConstant>& constants() const;

  /// One constant, decoded on first use (an initializer's payload is checked against its dimensions when
  /// the graph is read, its values when they are decoded); null if `name` is not a constant.
  const OnnxConstant* constant(const std::string& name) const;

  /// The initializer `name` as stored (null if it is not one), for reading large integer weights in place.
  const onnx::TensorProto* initializer(const std::string& name) const;

  /// The graph inputs that are not initializers (the data the network takes).
  const std::vector<const onnx::ValueInfoProto*>& data_inputs() const { return data_inputs_; }

  /// How many nodes read tensor `name` (graph outputs count as a reader).
  int readers(const std::string& name) const;

  /// The opset of the default domain (0 if none is imported).
  std::int64_t opset() const { return opset_; }

  /// "node 'name' (OpType)" for messages.
  static std::string describe(const onnx::NodeProto& n);

private:
  void check_opsets();
  void decode_constants();
  void sort_nodes();
  bool is_constant(const std::string& name) const;

  onnx::ModelProto model_;
  std::string who_;
  std::vector<const onnx::NodeProto*> order_;
  std::map<std::string, const onnx::TensorProto*> initializers_;
  mutable std::map<std::string, OnnxConstant> constants_; ///< decoded so far (Constant nodes at once)
  std::vector<const onnx::ValueInfoProto*> data_inputs_;
  std::map<std::string, int> readers_;
  std::int64_t opset_ = 0;
};

/// The bytes of a file, read once.
/// @throws io_error if it cannot be opened or read
std::string read_file(const std::filesystem::path& path);

/// Attribute accessors: `fallback` when absent; the wrong type is an io_error naming the node.
const onnx::AttributeProto* find_attribute(const onnx::NodeProto& n, std::string_view name);
std::int64_t int_attribute(const onnx::NodeProto& n, std::string_view name,
                           std::optional<std::int64_t> fallback, const std::string& who);
double float_attribute(const onnx::NodeProto& n, std::string_view name, std::optional<double> fallback,
                       const std::string& who);
std::string string_attribute(const onnx::NodeProto& n, std::string_view name,
                             std::optional<std::string> fallback, const std::string& who);
std::vector<std::int64_t> ints_attribute(const onnx::NodeProto& n, std::string_view name,
                                         const std::string& who);

} // namespace a2q::io::detail
