// io::export_qonnx (see a2q/onnx/qonnx_export.hpp): walks the model's modules in order and writes one
// ONNX node (or a Quant node and its layer) per module, with ONNX's own protobuf classes.

#include "a2q/onnx/qonnx_export.hpp"

#include <a2q/io/atomic_file.hpp>
#include <a2q/nn/activation.hpp>
#include <a2q/nn/batch_norm.hpp>
#include <a2q/nn/conv2d.hpp>
#include <a2q/nn/linear.hpp>
#include <a2q/nn/pooling.hpp>
#include <a2q/nn/quant_conv2d.hpp>
#include <a2q/nn/quant_linear.hpp>
#include <a2q/nn/sequential.hpp>
#include <a2q/version.hpp>

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <map>

namespace a2q::io {
namespace {

constexpr const char* qonnx_domain = "qonnx.custom_op.general";

class QonnxWriter {
public:
  explicit QonnxWriter(const LoadedModel& m) : m_(m) {
    for (const auto& l : m.file.integer_layers)
      layers_[l.name] = &l;
  }

  std::string run() {
    auto* g = model_.mutable_graph();
    g->set_name("a2q");
    model_.set_ir_version(8);
    model_.set_producer_name("a2q");
    model_.set_producer_version(A2Q_VERSION_STRING);
    auto* opset = model_.add_opset_import();
    opset->set_domain(""); // first: FINN runs standard ops with opset_import[0]
    opset->set_version(13);
    auto* custom = model_.add_opset_import();
    custom->set_domain(qonnx_domain);
    custom->set_version(1);

    if (layers_.empty())
      throw config_error("QONNX export needs a quantized model (this one has no quantized layers)");
    shape_ = m_.input;
    current_ = "input";
    add_io(g->add_input(), current_, shape_);
    const auto* seq = dynamic_cast<const nn::Sequential*>(m_.model.get());
    if (seq == nullptr)
      throw config_error("QONNX export needs an nn::Sequential network");
    sequence(*seq, "");
    // the last tensor is the output: rename by an Identity-free route (the output takes its name)
    add_io(g->add_output(), current_, shape_);
    for (auto it = g->mutable_value_info()->begin(); it != g->mutable_value_info()->end(); ++it)
      if (it->name() == current_) {
        g->mutable_value_info()->erase(it);
        break;
      }
    model_metadata();
    std::string bytes;
    if (!model_.SerializeToString(&bytes))
      throw internal_error("QONNX export: the model does not serialise");
    return bytes;
  }

private:
  // ----------------------------------------------------------------------------------- helpers

  /// A float tensor's type: one sample's shape behind a batch dimension of 1 (FINN reads symbolic
  /// dimensions as 0), or, for a weight (`batched` false), the shape as it is.
  static void set_shape(onnx::ValueInfoProto* v, const std::string& name, const Shape& shape,
                        bool batched = true) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    auto* s = t->mutable_shape();
    if (batched)
      s->add_dim()->set_dim_value(1);
    for (const auto d : shape)
      s->add_dim()->set_dim_value(d);
  }

  void add_io(onnx::ValueInfoProto* v, const std::string& name, const Shape& sample) {
    set_shape(v, name, sample);
  }

  std::string initializer(const std::string& name, const std::vector<std::int64_t>& dims,
                          const std::vector<float>& values) {
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (auto d : dims)
      t->add_dims(d);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
    return name;
  }

  std::string scalar(const std::string& name, float v) { return initializer(name, {}, {v}); }

  /// Adds a node with one output. The data path continues from it unless `advance` is false, which marks
  /// a node on a weight (its output has no batch dimension).
  onnx::NodeProto* node(const std::string& op, const std::string& name, std::vector<std::string> inputs,
                        const Shape& out_shape, const char* domain = "", bool advance = true) {
    auto* n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(name);
    n->set_domain(domain);
    for (auto& i : inputs)
      n->add_input(i);
    const std::string out = name + "_out";
    n->add_output(out);
    set_shape(model_.mutable_graph()->add_value_info(), out, out_shape, advance);
    if (advance) {
      current_ = out;
      shape_ = out_shape;
    }
    return n;
  }

  static void attr(onnx::NodeProto* n, const char* name, std::int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto* n, const char* name, const std::vector<std::int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (auto x : v)
      a->add_ints(x);
  }
  static void attr(onnx::NodeProto* n, const char* name, const std::string& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
  }
  static void attr_float(onnx::NodeProto* n, const char* name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }

  /// A Quant node on `x` (its output keeps x's shape); `advance` as for node().
  std::string quant(const std::string& name, const std::string& x, const std::string& scale, int bits,
                    bool is_signed, bool narrow, const Shape& shape, bool advance) {
    auto* n =
        node("Quant", name,
             {x, scale, scalar(name + ".zeropt", 0.0f), scalar(name + ".bitwidth", static_cast<float>(bits))},
             shape, qonnx_domain, advance);
    attr(n, "signed", std::int64_t{is_signed});
    attr(n, "narrow", std::int64_t{narrow});
    attr(n, "rounding_mode", std::string("ROUND"));
    return n->output(0);
  }

  // ----------------------------------------------------------------------------------- modules

  void sequence(const nn::Sequential& seq, const std::string& prefix) {
    for (const auto& [name, child] : seq.named_children())
      module(*child, prefix.empty() ? name : prefix + "." + name);
  }

  void module(const nn::Module& m, const std::string& path) {
    if (const auto* s = dynamic_cast<const nn::Sequential*>(&m))
      return sequence(*s, path);
    if (const auto* a = dynamic_cast<const nn::ActQuant*>(&m)) {
      const auto& f = a->format();
      const std::string in = current_;
      const Shape shape = shape_;
      quant(path, in, scalar(path + ".scale", a->scale()), f.bits, f.is_signed, f.narrow_range, shape, true);
      return;
    }
    if (const auto* q = dynamic_cast<const nn::QuantLayer*>(&m))
      return quant_layer(*q, path);
    if (dynamic_cast<const nn::ReLU*>(&m) != nullptr) {
      node("Relu", path, {current_}, shape_);
      return;
    }
    if (dynamic_cast<const nn::Dropout*>(&m) != nullptr)
      return; // inference
    if (dynamic_cast<const nn::Flatten*>(&m) != nullptr) {
      auto* n = node("Flatten", path, {current_}, Shape{shape_.numel()});
      attr(n, "axis", std::int64_t{1});
      return;
    }
    if (dynamic_cast<const nn::GlobalAvgPool2d*>(&m) != nullptr) {
      const std::int64_t C = shape_[0];
      node("GlobalAveragePool", path, {current_}, Shape{C, 1, 1});
      auto* f = node("Flatten", path + ".flatten", {current_}, Shape{C});
      attr(f, "axis", std::int64_t{1});
      return;
    }
    if (const auto* p = dynamic_cast<const nn::MaxPool2d*>(&m))
      return pool("MaxPool", path, p->kernel(), p->stride(), p->padding());
    if (const auto* p = dynamic_cast<const nn::PixelShuffle*>(&m)) { // CRD: PyTorch's channel order
      const std::int64_t r = p->factor();
      auto* n =
          node("DepthToSpace", path, {current_}, Shape{shape_[0] / (r * r), shape_[1] * r, shape_[2] * r});
      attr(n, "blocksize", r);
      attr(n, "mode", std::string("CRD"));
      return;
    }
    if (const auto* p = dynamic_cast<const nn::AvgPool2d*>(&m))
      return pool("AveragePool", path, p->kernel(), p->stride(), p->padding());
    if (const auto* b = dynamic_cast<const nn::BatchNorm2d*>(&m)) {
      const auto vec = [](const Tensor<float>& t) {
        return std::vector<float>(t.data(), t.data() + t.numel());
      };
      const std::int64_t C = b->gamma.shape()[0];
      auto* n = node("BatchNormalization", path,
                     {current_, initializer(path + ".weight", {C}, vec(b->gamma.value())),
                      initializer(path + ".bias", {C}, vec(b->beta.value())),
                      initializer(path + ".running_mean", {C}, vec(b->running_mean)),
                      initializer(path + ".running_var", {C}, vec(b->running_var))},
                     shape_);
      attr_float(n, "epsilon", b->eps());
      return;
    }
    throw config_error("QONNX export: module '" + path + "' (" + m.type_name() +
                       ") is not supported (supported: Sequential, ActQuant, QuantLinear, QuantConv2d, ReLU, "
                       "Dropout, Flatten, MaxPool2d, AvgPool2d, GlobalAvgPool2d, BatchNorm2d, PixelShuffle)");
  }

  void pool(const char* op, const std::string& path, int k, int stride, int pad) {
    const Shape out{shape_[0], (shape_[1] + 2 * pad - k) / stride + 1,
                    (shape_[2] + 2 * pad - k) / stride + 1};
    auto* n = node(op, path, {current_}, out);
    attr(n, "kernel_shape", std::vector<std::int64_t>{k, k});
    attr(n, "strides", std::vector<std::int64_t>{stride, stride});
    attr(n, "pads", std::vector<std::int64_t>{pad, pad, pad, pad});
    if (std::string(op) == "AveragePool")
      attr(n, "count_include_pad", std::int64_t{1});
  }

  void quant_layer(const nn::QuantLayer& q, const std::string& path) {
    const auto it = layers_.find(path);
    if (it == layers_.end())
      throw config_error("QONNX export: the file holds no integer layer '" + path + "'");
    const nn::IntegerLayer& L = *it->second;
    const std::int64_t OC = L.out_channels;
    const Shape wshape = q.weight_quant.shape();
    // pre-quantized weights, integer x scale, laid out as the layer's weight
    std::vector<float> w(static_cast<std::size_t>(wshape.numel()));
    for (std::int64_t c = 0; c < OC; ++c)
      for (std::int64_t k = 0; k < L.fan_in; ++k)
        w[static_cast<std::size_t>(c * L.fan_in + k)] =
            static_cast<float>(L.weights[c * L.fan_in + k]) * L.weight_scale[static_cast<std::size_t>(c)];
    const auto* conv = dynamic_cast<const nn::QuantConv2d*>(&q);
    std::vector<std::int64_t> wdims(wshape.begin(), wshape.end());
    std::vector<std::int64_t> sdims{OC, 1};
    if (conv)
      sdims = {OC, 1, 1, 1};
    const std::string wq = quant(path + ".weight_quant", initializer(path + ".weight", wdims, w),
                                 initializer(path + ".weight_scale", sdims, L.weight_scale), L.weight_bits,
                                 true, true, Shape(std::span<const std::int64_t>(wdims)), false);
    // the bias the engine adds: the float bias after accumulation, or the integer one in accumulator units
    std::vector<float> bias(static_cast<std::size_t>(OC), 0.0f);
    if (L.bias_in_accumulator && L.bias)
      for (std::int64_t c = 0; c < OC; ++c)
        bias[static_cast<std::size_t>(c)] =
            static_cast<float>(static_cast<double>((*L.bias)[static_cast<std::size_t>(c)]) *
                               L.weight_scale[static_cast<std::size_t>(c)] * L.input_scale);
    else if (q.bias.defined())
      std::copy(q.bias.value().data(), q.bias.value().data() + OC, bias.begin());
    // a Conv without bias gets none; a Gemm always has one (FINN reads its third input unconditionally)
    const bool has_bias = q.bias.defined() || (L.bias_in_accumulator && L.bias);
    std::vector<std::string> inputs{current_, wq};
    if (has_bias || !conv)
      inputs.push_back(initializer(path + ".bias", {OC}, bias));
    if (conv) {
      const auto& o = conv->options();
      const std::int64_t kh = wshape[2], kw = wshape[3];
      const Shape out{OC, (shape_[1] + 2 * o.padding - kh) / o.stride + 1,
                      (shape_[2] + 2 * o.padding - kw) / o.stride + 1};
      auto* n = node("Conv", path, inputs, out);
      attr(n, "kernel_shape", std::vector<std::int64_t>{kh, kw});
      attr(n, "strides", std::vector<std::int64_t>{o.stride, o.stride});
      attr(n, "pads", std::vector<std::int64_t>{o.padding, o.padding, o.padding, o.padding});
      attr(n, "group", std::int64_t{o.groups});
      attr(n, "dilations", std::vector<std::int64_t>{1, 1});
    } else {
      auto* n = node("Gemm", path, inputs, Shape{OC});
      attr(n, "transB", std::int64_t{1});
    }
    layer_metadata(L, path);
  }

  // ---------------------------------------------------------------------------------- metadata

  void meta(const std::string& key, const std::string& value) {
    auto* p = model_.add_metadata_props();
    p->set_key(key);
    p->set_value(value);
  }

  void layer_metadata(const nn::IntegerLayer& L, const std::string& path) {
    const int required = L.required_bits();
    const std::string k = "a2q.layer." + path + ".";
    meta(k + "accumulator_bits", std::to_string(L.accumulator_bits));
    meta(k + "required_bits", std::to_string(required));
    if (L.tiled()) { // multi-stage accumulation: QONNX has no op for it, so the metadata carries it
      meta(k + "tile", std::to_string(L.tile));
      meta(k + "inner_bits", std::to_string(L.inner_bits));
      meta(k + "required_inner_bits", std::to_string(L.required_inner_bits()));
    }
    meta(k + "proven", L.fits() ? "true" : "false");
    meta(k + "method", std::string(quant::to_string(L.method)));
    meta(k + "weight_bits", std::to_string(L.weight_bits));
    meta(k + "input_bits", std::to_string(L.input_bits));
    meta(k + "input_signed", L.input_signed ? "true" : "false");
    max_p_ = std::max(max_p_, L.accumulator_bits);
    verified_ = verified_ && L.fits();
  }

  void model_metadata() {
    meta("a2q.accumulator_bits", std::to_string(max_p_));
    meta("a2q.verified", verified_ ? "true" : "false");
    if (const auto mean = m_.file.find_metadata(input_mean_key))
      meta("a2q.input_mean", *mean);
    if (const auto stddev = m_.file.find_metadata(input_std_key))
      meta("a2q.input_std", *stddev);
  }

  const LoadedModel& m_;
  std::map<std::string, const nn::IntegerLayer*> layers_;
  onnx::ModelProto model_;
  std::string current_;
  Shape shape_;
  int max_p_ = 0;
  bool verified_ = true;
};

} // namespace

std::string qonnx_bytes(const LoadedModel& model) {
  return QonnxWriter(model).run();
}

void export_qonnx(const std::filesystem::path& path, const LoadedModel& model) {
  const std::string bytes = qonnx_bytes(model);
  write_file_atomically(
      path, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

} // namespace a2q::io
