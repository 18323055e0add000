#pragma once
// Builds ONNX graphs for the tests with ONNX's own classes: one float input (batch dimension symbolic),
// typed initializers, nodes with attributes.

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace a2q_test {

class OnnxGraphBuilder {
public:
  explicit OnnxGraphBuilder(const std::vector<std::int64_t>& sample_dims, std::int64_t opset = 13) {
    auto* o = model_.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    model_.set_ir_version(8);
    auto* in = model_.mutable_graph()->add_input();
    in->set_name("x");
    auto* t = in->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    t->mutable_shape()->add_dim()->set_dim_param("batch");
    for (auto d : sample_dims)
      t->mutable_shape()->add_dim()->set_dim_value(d);
  }

  /// An initializer of element type `type` (a TensorProto::DataType) holding `values`.
  void tensor(const std::string& name, int type, const std::vector<std::int64_t>& dims,
              const std::vector<double>& values) {
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    for (auto d : dims)
      t->add_dims(d);
    for (double v : values) {
      if (type == onnx::TensorProto::FLOAT)
        t->add_float_data(static_cast<float>(v));
      else if (type == onnx::TensorProto::INT64)
        t->add_int64_data(static_cast<std::int64_t>(v));
      else
        t->add_int32_data(static_cast<std::int32_t>(v));
    }
  }

  void initializer(const std::string& name, const std::vector<std::int64_t>& dims,
                   const std::vector<float>& v) {
    tensor(name, onnx::TensorProto::FLOAT, dims, std::vector<double>(v.begin(), v.end()));
  }

  void int_initializer(const std::string& name, const std::vector<std::int64_t>& v) {
    tensor(name, onnx::TensorProto::INT64, {static_cast<std::int64_t>(v.size())},
           std::vector<double>(v.begin(), v.end()));
  }

  onnx::NodeProto& node(const std::string& op, const std::string& name,
                        const std::vector<std::string>& inputs, const std::string& output,
                        const std::string& domain = "") {
    auto* n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(name);
    n->set_domain(domain);
    for (const auto& i : inputs)
      n->add_input(i);
    n->add_output(output);
    return *n;
  }

  static void attr(onnx::NodeProto& n, const std::string& name, std::int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto& n, const std::string& name, const std::vector<std::int64_t>& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (auto x : v)
      a->add_ints(x);
  }
  static void attr(onnx::NodeProto& n, const std::string& name, const std::string& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
  }

  void output(const std::string& name) { model_.mutable_graph()->add_output()->set_name(name); }

  void custom_domain(const std::string& domain) {
    auto* o = model_.add_opset_import();
    o->set_domain(domain);
    o->set_version(1);
  }

  onnx::ModelProto& proto() { return model_; }

  std::string bytes() const {
    std::string b;
    model_.SerializeToString(&b);
    return b;
  }

private:
  onnx::ModelProto model_;
};

} // namespace a2q_test
