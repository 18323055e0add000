// io::audit_onnx (see a2q/onnx/onnx_audit.hpp): one pass over the checked graph (onnx_graph.hpp) that
// follows integer ranges along the data path and weights through their dequantizers, and bounds every
// quantized layer it meets.

#include "a2q/onnx/onnx_audit.hpp"

#include "onnx_audit_programs.hpp"
#include "onnx_graph.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <optional>
#include <set>

namespace a2q::io::detail {
namespace {

using T = onnx::TensorProto;

/// Bits of a two's-complement integer holding [lo, hi] (unsigned bits when lo >= 0).
int bits_for(std::int64_t lo, std::int64_t hi, bool& is_signed) {
  is_signed = lo < 0;
  int bits = 1;
  if (is_signed) {
    while (-(std::int64_t{1} << (bits - 1)) > lo || (std::int64_t{1} << (bits - 1)) - 1 < hi)
      ++bits;
  } else {
    while ((std::int64_t{1} << bits) - 1 < hi)
      ++bits;
  }
  return bits;
}

/// The element type of an integer tensor: its range and width.
struct IntType {
  std::int64_t lo = 0, hi = 0;
  int bits = 0;
};

std::optional<IntType> int_type(int data_type) {
  switch (data_type) {
  case T::UINT8:
    return IntType{0, 255, 8};
  case T::INT8:
    return IntType{-128, 127, 8};
  case T::UINT16:
    return IntType{0, 65535, 16};
  case T::INT16:
    return IntType{-32768, 32767, 16};
  case T::INT32:
    return IntType{INT32_MIN, INT32_MAX, 32};
  default:
    return std::nullopt;
  }
}

/// The integers on the data path that a layer reading this tensor multiplies (input minus zero point).
struct IntRange {
  std::int64_t lo = 0, hi = 0;
  double scale = 0.0; ///< 0 when unknown (integer graph inputs)
  std::string from;
};

/// An integer-typed tensor (the output of QuantizeLinear or a QLinear op, or an integer graph input).
struct QTensor {
  IntType type;
  std::int64_t zero_point = 0;
  double scale = 0.0;
  std::string from;
};

/// A constant's values, decoded or read in place (int8 / uint8 initializers are not copied).
struct Stored {
  std::vector<std::int64_t> dims;
  std::int64_t count = 0;
  int data_type = 0;
  const OnnxConstant* decoded = nullptr;
  std::optional<ByteTensor> bytes;
  double operator[](std::size_t i) const { return bytes ? (*bytes)[i] : decoded->values[i]; }
};

/// A constant weight or bias as the integers it stands for: element i is values[i] - zero_point(i).
struct IntConstant {
  Stored values;
  std::vector<double> zero_point; ///< one value, or one per index along `axis`
  std::vector<double> scale;      ///< likewise (empty: unknown)
  int axis = 0;
  int bits = 0;
  std::string form;
  std::string from;

  std::int64_t axis_index(std::size_t i) const {
    const auto& d = values.dims;
    std::int64_t stride = 1;
    for (std::size_t a = static_cast<std::size_t>(axis) + 1; a < d.size(); ++a)
      stride *= d[a];
    return (static_cast<std::int64_t>(i) / stride) % d[static_cast<std::size_t>(axis)];
  }
  double at(std::size_t i) const {
    if (zero_point.size() == 1) // one zero point (usually 0): no index arithmetic
      return values[i] - zero_point[0];
    return values[i] - zero_point[static_cast<std::size_t>(axis_index(i))];
  }
  double scale_at(std::int64_t index_along_axis) const {
    if (scale.empty())
      return 0.0;
    return scale.size() == 1 ? scale[0] : scale[static_cast<std::size_t>(index_along_axis)];
  }
};

class Auditor {
public:
  Auditor(const OnnxGraph& g, std::map<std::string, LayerProgram>* programs)
      : g_(g), who_(g.who()), programs_(programs) {}

  AuditReport run() {
    if (!g_.data_inputs().empty()) {
      const auto& t = g_.data_inputs().front()->type().tensor_type();
      for (int i = 1; i < t.shape().dim_size(); ++i)
        report_.input_dims.push_back(t.shape().dim(i).dim_value());
      report_.integer_input = int_type(t.elem_type()).has_value();
    }
    for (const auto* in : g_.data_inputs()) {
      const auto& t = in->type().tensor_type();
      if (const auto type = int_type(t.elem_type()))
        qtensors_[in->name()] = QTensor{*type, 0, 0.0, "graph input '" + in->name() + "'"};
    }
    for (const onnx::NodeProto* n : g_.nodes())
      visit(*n);
    if (report_.layers.empty())
      throw io_error(who_ + ": no quantized Conv, Gemm or MatMul layer found (the audit reads QONNX Quant, "
                            "QuantizeLinear/DequantizeLinear, QLinearConv/QLinearMatMul and "
                            "ConvInteger/MatMulInteger graphs)");
    report_.model = who_;
    return std::move(report_);
  }

private:
  [[noreturn]] void refuse(const onnx::NodeProto& n, const std::string& why) const {
    throw io_error(who_ + ": " + OnnxGraph::describe(n) + ": " + why);
  }

  const OnnxConstant* constant(const onnx::NodeProto& n, int i) const {
    if (i >= n.input_size() || n.input(i).empty())
      return nullptr;
    const auto local = folded_.find(n.input(i));
    if (local != folded_.end())
      return &local->second;
    try { // constants are decoded when first read: name the node that reads a malformed one
      return g_.constant(n.input(i));
    } catch (const io_error& e) {
      const std::string what = e.what();
      refuse(n,
             what.substr(what.rfind(": tensor '") == std::string::npos ? 0 : what.rfind(": tensor '") + 2));
    }
  }

  bool constant_input(const onnx::NodeProto& n, int i) const {
    return i < n.input_size() && !n.input(i).empty() &&
           (folded_.count(n.input(i)) > 0 || g_.initializer(n.input(i)) != nullptr ||
            g_.constant(n.input(i)) != nullptr);
  }

  const OnnxConstant& required_constant(const onnx::NodeProto& n, int i, const char* what) const {
    const OnnxConstant* c = constant(n, i);
    if (c == nullptr)
      refuse(n, std::string("its ") + what + " must be a constant");
    return *c;
  }

  /// Input i of `n` as a stored constant, int8 / uint8 initializers read in place.
  Stored stored(const onnx::NodeProto& n, int i, const char* what) const {
    Stored s;
    if (i < n.input_size() && !folded_.count(n.input(i)))
      if (const auto bytes = byte_tensor(g_.initializer(n.input(i)))) {
        const onnx::TensorProto& t = *g_.initializer(n.input(i));
        s.dims.assign(t.dims().begin(), t.dims().end());
        s.count = static_cast<std::int64_t>(t.raw_data().size());
        s.data_type = t.data_type();
        s.bytes = bytes;
        return s;
      }
    const OnnxConstant& c = required_constant(n, i, what);
    s.dims = c.dims;
    s.count = c.numel();
    s.data_type = c.data_type;
    s.decoded = &c;
    return s;
  }

  static Stored stored(const OnnxConstant& c) {
    Stored s;
    s.dims = c.dims;
    s.count = c.numel();
    s.data_type = c.data_type;
    s.decoded = &c;
    return s;
  }

  static bool is_quant(const onnx::NodeProto& n) {
    return (n.op_type() == "Quant" || n.op_type() == "IntQuant") &&
           (n.domain() == "qonnx.custom_op.general" || n.domain() == "finn.custom_op.general" ||
            n.domain() == "onnx.brevitas");
  }

  // ---------------------------------------------------------------------------------- dispatch

  void visit(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    if (is_quant(n))
      return quant(n);
    if (op == "QuantizeLinear")
      return quantize_linear(n);
    if (op == "DequantizeLinear")
      return dequantize_linear(n);
    if (op == "Conv" || op == "Gemm" || op == "MatMul")
      return float_layer(n);
    if (op == "QLinearConv" || op == "QLinearMatMul")
      return qlinear_layer(n);
    if (op == "ConvInteger" || op == "MatMulInteger")
      return integer_layer(n);
    pass_through(n);
  }

  /// Ops that move the integers without changing the grid keep the range (ReLU clips it at 0).
  void pass_through(const onnx::NodeProto& n) {
    static const std::set<std::string> moves{"MaxPool", "Flatten",   "Reshape",   "Identity",    "Dropout",
                                             "Squeeze", "Unsqueeze", "Transpose", "DepthToSpace"};
    const std::string& op = n.op_type();
    if (n.input_size() == 0 || n.output_size() == 0)
      return;
    // QOperator graphs pool and reshape the integer tensors themselves
    if (const auto q = qtensors_.find(n.input(0)); q != qtensors_.end() && moves.count(op))
      qtensors_[n.output(0)] = q->second;
    const auto it = ranges_.find(n.input(0));
    if (it == ranges_.end())
      return;
    IntRange r = it->second;
    if (op == "Relu") {
      r.lo = std::max<std::int64_t>(r.lo, 0);
      r.hi = std::max<std::int64_t>(r.hi, 0);
    } else if (op == "Pad") {
      r.lo = std::min<std::int64_t>(r.lo, 0); // zero padding adds the integer 0
      r.hi = std::max<std::int64_t>(r.hi, 0);
    } else if (!moves.count(op)) {
      // a float op: the integers end here; remember it, so that a layer behind it is refused clearly
      float_ops_[n.output(0)] = OnnxGraph::describe(n) + " after " + r.from;
      return;
    }
    ranges_[n.output(0)] = r;
    if (const auto f = float_ops_.find(n.input(0)); f != float_ops_.end())
      float_ops_[n.output(0)] = f->second;
  }

  // -------------------------------------------------------------------------------- quantizers

  /// QONNX Quant: the grid [qmin, qmax] (signed, narrow, bit width) minus the zero point.
  void quant(const onnx::NodeProto& n) {
    if (n.input_size() != 4)
      refuse(n, "a Quant node takes 4 inputs (x, scale, zeropt, bitwidth)");
    const OnnxConstant& bits = required_constant(n, 3, "bit width");
    if (!bits.scalar_like() || bits.values[0] != std::round(bits.values[0]) || bits.values[0] < 1 ||
        bits.values[0] > 32)
      refuse(n, "the bit width must be one integer in [1, 32], is " +
                    (bits.values.empty() ? std::string("empty") : std::to_string(bits.values[0])));
    const int b = static_cast<int>(bits.values[0]);
    const bool is_signed = int_attribute(n, "signed", 1, who_) != 0;
    const bool narrow = int_attribute(n, "narrow", 0, who_) != 0;
    const OnnxConstant& zp = required_constant(n, 2, "zero point");
    const OnnxConstant& scale = required_constant(n, 1, "scale");
    for (double z : zp.values) {
      if (z != std::round(z))
        refuse(n, "its zero point is not an integer");
      if (std::abs(z) > 0x1p32) // also infinite: the grid minus it must stay an exact int64
        refuse(n, "its zero point " + std::to_string(z) + " is outside [-2^32, 2^32]");
    }
    const std::int64_t qmin = b == 1 && is_signed ? -1
                              : is_signed         ? -(std::int64_t{1} << (b - 1)) + (narrow ? 1 : 0)
                                                  : 0;
    const std::int64_t qmax = b == 1 && is_signed ? 1
                              : is_signed         ? (std::int64_t{1} << (b - 1)) - 1
                                                  : (std::int64_t{1} << b) - 1 - (narrow ? 1 : 0);
    if (const OnnxConstant* x = constant(n, 0)) { // a weight or a bias
      IntConstant w;
      // the integers the node computes (clamp, then round half to even, as QONNX's ROUND)
      auto& q = folded_[n.output(0) + "#int"];
      q.dims = x->dims;
      q.integer = true;
      const std::size_t ns = scale.values.size(), nz = zp.values.size();
      if ((ns != 1 && ns != x->values.size() && !broadcasts_along_first(scale, *x)) ||
          (nz != 1 && nz != x->values.size() && !broadcasts_along_first(zp, *x)))
        refuse(n, "its scale or zero point does not broadcast to the weight's shape");
      const std::int64_t per = x->dims.empty() ? 1 : static_cast<std::int64_t>(x->values.size()) / x->dims[0];
      for (std::size_t i = 0; i < x->values.size(); ++i) {
        const std::size_t c =
            static_cast<std::size_t>(static_cast<std::int64_t>(i) / std::max<std::int64_t>(per, 1));
        const double s = ns == 1                  ? scale.values[0]
                         : ns == x->values.size() ? scale.values[i]
                                                  : scale.values[c];
        const double z = nz == 1 ? zp.values[0] : nz == x->values.size() ? zp.values[i] : zp.values[c];
        if (!(s > 0.0))
          refuse(n, "a scale is not positive");
        const double v = std::nearbyint(
            std::clamp(static_cast<double>(static_cast<float>(x->values[i]) / static_cast<float>(s)) + z,
                       static_cast<double>(qmin), static_cast<double>(qmax)));
        q.values.push_back(v - z);
      }
      w.values = stored(q);
      w.zero_point = {0.0};
      w.scale = ns == 1 || ns == static_cast<std::size_t>(x->dims.empty() ? 1 : x->dims[0])
                    ? scale.values
                    : std::vector<double>{};
      w.axis = 0;
      w.bits = b;
      w.form = "qonnx";
      w.from = OnnxGraph::describe(n);
      weights_[n.output(0)] = std::move(w);
      return;
    }
    if (!zp.scalar_like() || !scale.scalar_like())
      refuse(n, "an activation quantizer needs one scale and one zero point for the tensor");
    ranges_[n.output(0)] =
        IntRange{qmin - static_cast<std::int64_t>(zp.values[0]),
                 qmax - static_cast<std::int64_t>(zp.values[0]), scale.values[0], OnnxGraph::describe(n)};
  }

  static bool broadcasts_along_first(const OnnxConstant& s, const OnnxConstant& x) {
    if (x.dims.empty() || s.numel() != x.dims[0])
      return false;
    // shapes like (OC,1,1,1) or (OC,1): every dimension after the first is 1
    return !s.dims.empty() && s.dims[0] == x.dims[0] &&
           std::all_of(s.dims.begin() + 1, s.dims.end(), [](std::int64_t d) { return d == 1; }) &&
           s.dims.size() == x.dims.size();
  }

  /// The zero point's type (uint8 when absent) and value(s).
  std::pair<IntType, const OnnxConstant*> zero_point_of(const onnx::NodeProto& n, int i) const {
    const OnnxConstant* zp = constant(n, i);
    if (zp == nullptr)
      return {IntType{0, 255, 8}, nullptr};
    const auto type = int_type(zp->data_type);
    if (!type || type->bits > 16)
      refuse(n, "its zero point has element type " + std::to_string(zp->data_type) +
                    " (a quantized tensor is uint8, int8, uint16 or int16)");
    return {*type, zp};
  }

  void quantize_linear(const onnx::NodeProto& n) {
    const auto [type, zp] = zero_point_of(n, 2);
    const OnnxConstant& scale = required_constant(n, 1, "scale");
    if (constant(n, 0) != nullptr)
      return quantize_constant(n, type, zp, scale);
    if (!scale.scalar_like() || (zp != nullptr && !zp->scalar_like()))
      refuse(n, "per-axis quantization of activations is not supported (one scale and zero point)");
    qtensors_[n.output(0)] = QTensor{type, zp ? static_cast<std::int64_t>(zp->values[0]) : 0, scale.values[0],
                                     OnnxGraph::describe(n)};
  }

  /// QuantizeLinear of a constant weight: the stored integers, saturated (round half to even).
  void quantize_constant(const onnx::NodeProto& n, const IntType& type, const OnnxConstant* zp,
                         const OnnxConstant& scale) {
    const OnnxConstant& x = required_constant(n, 0, "input");
    OnnxConstant& q = folded_[n.output(0)];
    q = x;
    q.integer = true;
    q.data_type = type.bits == 8 ? (type.lo < 0 ? T::INT8 : T::UINT8) : (type.lo < 0 ? T::INT16 : T::UINT16);
    int axis = static_cast<int>(int_attribute(n, "axis", 1, who_));
    check_axis(n, x.dims, scale, axis, "scale");
    if (zp != nullptr) {
      int zaxis = axis;
      check_axis(n, x.dims, *zp, zaxis, "zero point");
    }
    const IntConstant view{stored(x), {0.0}, scale.values, axis, 0, "", ""};
    for (std::size_t i = 0; i < x.values.size(); ++i) {
      const std::int64_t a = scale.values.size() == 1 ? 0 : view.axis_index(i);
      const double s = scale.values[static_cast<std::size_t>(a)];
      const double z =
          zp == nullptr ? 0.0 : zp->values[zp->values.size() == 1 ? 0 : static_cast<std::size_t>(a)];
      q.values[i] = std::clamp(std::nearbyint(x.values[i] / s) + z, static_cast<double>(type.lo),
                               static_cast<double>(type.hi));
    }
  }

  void check_axis(const onnx::NodeProto& n, const std::vector<std::int64_t>& dims,
                  const OnnxConstant& per_axis, int& axis, const char* what) const {
    const auto rank = static_cast<int>(dims.size());
    if (per_axis.scalar_like())
      return;
    if (axis < 0)
      axis += rank;
    if (axis < 0 || axis >= rank)
      refuse(n, "axis " + std::to_string(axis) + " is outside the rank of its input");
    if (per_axis.numel() != dims[static_cast<std::size_t>(axis)])
      refuse(n, std::string("its ") + what + " has " + std::to_string(per_axis.numel()) + " values for " +
                    std::to_string(dims[static_cast<std::size_t>(axis)]) + " entries along axis " +
                    std::to_string(axis));
  }

  void dequantize_linear(const onnx::NodeProto& n) {
    const OnnxConstant& scale = required_constant(n, 1, "scale");
    const OnnxConstant* zp = constant(n, 2);
    if (constant_input(n, 0)) { // a weight or a bias stored as integers
      const Stored q = stored(n, 0, "input");
      const auto type = int_type(q.data_type);
      if (!type)
        refuse(n,
               "dequantizes a constant of element type " + std::to_string(q.data_type) + " (not an integer)");
      int axis = static_cast<int>(int_attribute(n, "axis", 1, who_));
      check_axis(n, q.dims, scale, axis, "scale");
      if (zp != nullptr) {
        int zaxis = axis;
        check_axis(n, q.dims, *zp, zaxis, "zero point");
        if (zp->data_type != q.data_type)
          refuse(n, "its zero point's element type differs from its input's");
      }
      IntConstant w;
      w.values = q;
      w.zero_point = zp ? zp->values : std::vector<double>{0.0};
      w.scale = scale.values;
      w.axis = scale.scalar_like() && (zp == nullptr || zp->scalar_like()) ? 0 : axis;
      w.bits = type->bits;
      w.form = "qdq";
      w.from = OnnxGraph::describe(n);
      weights_[n.output(0)] = std::move(w);
      return;
    }
    const auto it = qtensors_.find(n.input(0));
    if (it == qtensors_.end())
      return; // not an integer tensor we know
    const QTensor& q = it->second;
    if (!scale.scalar_like() || (zp != nullptr && !zp->scalar_like()))
      refuse(n, "per-axis dequantization of activations is not supported (one scale and zero point)");
    // the integers the graph multiplies are q minus this node's zero point
    const std::int64_t z = zp ? static_cast<std::int64_t>(zp->values[0]) : 0;
    ranges_[n.output(0)] = IntRange{q.type.lo - z, q.type.hi - z, scale.values[0], q.from};
  }

  // ------------------------------------------------------------------------------------ layers

  /// A float Conv / Gemm / MatMul between dequantizers (QDQ) or behind QONNX Quant nodes.
  void float_layer(const onnx::NodeProto& n) {
    const auto w_it = n.input_size() > 1 ? weights_.find(n.input(1)) : weights_.end();
    const auto x_it = ranges_.find(n.input(0));
    if (w_it == weights_.end() && x_it == ranges_.end())
      return; // a float layer of a partly quantized model
    if (w_it == weights_.end())
      refuse(n, "its input is quantized (" + x_it->second.from +
                    ") but its weight is not an integer tensor behind a DequantizeLinear or Quant node");
    if (x_it == ranges_.end()) {
      const auto f = float_ops_.find(n.input(0));
      refuse(n, "its weights are quantized but its input is not an integer tensor: " +
                    (f != float_ops_.end()
                         ? "the float op " + f->second + " lies between the quantizer and the layer"
                         : std::string("no quantizer reaches it")));
    }
    const IntConstant& w = w_it->second;
    const IntRange& x = x_it->second;
    Layout layout = layout_of(n, w.values);
    AuditLayer layer = start_layer(n, w.form, layout, x.lo, x.hi, x.from);
    // the bias: integers behind a dequantizer or Quant, or a float bias at the accumulator's scale
    std::vector<std::int64_t> bias;
    if (n.op_type() != "MatMul" && n.input_size() > 2 && !n.input(2).empty()) {
      if (const auto b = weights_.find(n.input(2)); b != weights_.end()) {
        bias = integer_bias(n, b->second, layout.out);
      } else if (const OnnxConstant* fb = constant(n, 2)) {
        bias = float_bias(n, *fb, layout.out, x.scale, w);
      }
    }
    if (n.op_type() == "Gemm" && float_attribute(n, "beta", 1.0, who_) != 1.0 && !bias.empty())
      refuse(n, "beta other than 1 scales the bias, which the audit does not model");
    if (n.op_type() == "Gemm" && float_attribute(n, "alpha", 1.0, who_) != 1.0)
      refuse(n, "alpha other than 1 scales the product, which the audit does not model");
    pending_ = LayerProgram{};
    set_kernel(w.values.dims);
    pending_.input_scale = x.scale;
    if (w.scale.size() == 1 || static_cast<std::int64_t>(w.scale.size()) == layout.out)
      pending_.weight_scale.assign(w.scale.begin(), w.scale.end());
    finish_layer(
        std::move(layer), layout, [&](std::size_t i) { return w.at(i); }, w_bits(w), bias);
  }

  /// QLinearConv (x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B) and QLinearMatMul (a, a_scale,
  /// a_zp, b, b_scale, b_zp, y_scale, y_zp).
  void qlinear_layer(const onnx::NodeProto& n) {
    const bool conv = n.op_type() == "QLinearConv";
    if (n.input_size() < 8)
      refuse(n, "needs 8 inputs");
    const auto x_it = qtensors_.find(n.input(0));
    if (x_it == qtensors_.end())
      refuse(n, "its input is not an integer tensor (QuantizeLinear or another QLinear op must produce it)");
    const auto [x_type, x_zp] = zero_point_of(n, 2);
    const std::int64_t xz = x_zp ? static_cast<std::int64_t>(x_zp->values[0]) : 0;
    if (x_zp && !x_zp->scalar_like())
      refuse(n, "its input zero point must be one value");
    const Stored w = stored(n, 3, "weight");
    const auto w_type = int_type(w.data_type);
    if (!w_type || w_type->bits > 16)
      refuse(n, "its weight must be an 8- or 16-bit integer tensor");
    const OnnxConstant& w_scale = required_constant(n, 4, "weight scale");
    const OnnxConstant* w_zp = constant(n, 5);
    Layout layout = layout_of(n, w);
    check_per_channel(n, w_scale, layout, "weight scale");
    if (w_zp)
      check_per_channel(n, *w_zp, layout, "weight zero point");
    const QTensor& x = x_it->second;
    AuditLayer layer = start_layer(n, "qlinear", layout, x.type.lo - xz, x.type.hi - xz, x.from);
    const auto [y_type, y_zp] = zero_point_of(n, 7);
    pending_ = LayerProgram{};
    set_kernel(w.dims);
    pending_.input_zero_point = xz;
    pending_.input_scale = required_constant(n, 1, "input scale").values.at(0);
    pending_.weight_scale = w_scale.values;
    pending_.output_scale = required_constant(n, 6, "output scale").values.at(0);
    pending_.output_zero_point = y_zp ? static_cast<std::int64_t>(y_zp->values[0]) : 0;
    pending_.output_lo = y_type.lo;
    pending_.output_hi = y_type.hi;
    std::vector<std::int64_t> bias;
    if (conv && n.input_size() > 8 && !n.input(8).empty()) {
      const OnnxConstant& b = required_constant(n, 8, "bias");
      if (b.data_type != T::INT32 || b.numel() != layout.out)
        refuse(n, "its bias must be int32 with one value per output channel");
      bias.assign(b.values.begin(), b.values.end());
    }
    finish_layer(
        std::move(layer), layout, [&](std::size_t i) { return w[i] - channel_value(w_zp, layout, i); },
        w_type->bits + (nonzero(w_zp) ? 1 : 0), bias);
    qtensors_[n.output(0)] =
        QTensor{y_type, y_zp ? static_cast<std::int64_t>(y_zp->values[0]) : 0,
                required_constant(n, 6, "output scale").values[0], OnnxGraph::describe(n)};
  }

  /// ConvInteger (x, w, x_zero_point, w_zero_point) and MatMulInteger (A, B, a_zero_point, b_zero_point).
  void integer_layer(const onnx::NodeProto& n) {
    const auto x_it = qtensors_.find(n.input(0));
    if (x_it == qtensors_.end())
      refuse(n, "its input is not an integer tensor (QuantizeLinear or an integer graph input)");
    const Stored w = stored(n, 1, "weight");
    const auto w_type = int_type(w.data_type);
    if (!w_type || w_type->bits > 16)
      refuse(n, "its weight must be an 8- or 16-bit integer tensor");
    const OnnxConstant* x_zp = constant(n, 2);
    if (x_zp && !x_zp->scalar_like())
      refuse(n, "its input zero point must be one value");
    const std::int64_t xz = x_zp ? static_cast<std::int64_t>(x_zp->values[0]) : 0;
    const OnnxConstant* w_zp = constant(n, 3);
    Layout layout = layout_of(n, w);
    if (w_zp)
      check_per_channel(n, *w_zp, layout, "weight zero point");
    const QTensor& x = x_it->second;
    AuditLayer layer = start_layer(n, "integer", layout, x.type.lo - xz, x.type.hi - xz, x.from);
    pending_ = LayerProgram{};
    set_kernel(w.dims);
    pending_.input_zero_point = xz;
    finish_layer(std::move(layer), layout,
                 [&](std::size_t i) { return w[i] - channel_value(w_zp, layout, i); },
                 w_type->bits + (nonzero(w_zp) ? 1 : 0), {});
  }

  // ------------------------------------------------------------------------------------ helpers

  /// Where a weight tensor keeps its output channels: element i belongs to channel (i / inner) % out
  /// when channels are the first axis (Conv, Gemm transB), or i % out when they are the last (MatMul).
  struct Layout {
    std::int64_t out = 0;
    std::int64_t K = 0;
    bool channels_first = true;
    int channel_axis = 0;
    std::int64_t channel_of(std::size_t i) const {
      const auto j = static_cast<std::int64_t>(i);
      return channels_first ? j / K : j % out;
    }
  };

  Layout layout_of(const onnx::NodeProto& n, const Stored& w) const {
    const std::string& op = n.op_type();
    Layout l;
    if (op == "Conv" || op == "QLinearConv" || op == "ConvInteger") {
      if (w.dims.size() < 3)
        refuse(n, "needs a weight of rank 3 or more");
      l.out = w.dims[0];
      l.K = w.count / std::max<std::int64_t>(l.out, 1);
      return l;
    }
    if (w.dims.size() != 2)
      refuse(n, "needs a 2-D weight");
    const bool trans_b = op == "Gemm" && int_attribute(n, "transB", 0, who_) != 0;
    if (op == "Gemm" && int_attribute(n, "transA", 0, who_) != 0)
      refuse(n, "transA = 1 is not supported");
    l.channels_first = trans_b;
    l.channel_axis = trans_b ? 0 : 1;
    l.out = trans_b ? w.dims[0] : w.dims[1];
    l.K = trans_b ? w.dims[1] : w.dims[0];
    return l;
  }

  void check_per_channel(const onnx::NodeProto& n, const OnnxConstant& c, const Layout& l,
                         const char* what) const {
    if (!c.scalar_like() && c.numel() != l.out)
      refuse(n, std::string("its ") + what + " has " + std::to_string(c.numel()) + " values for " +
                    std::to_string(l.out) + " output channels");
  }

  void set_kernel(const std::vector<std::int64_t>& weight_dims) {
    if (weight_dims.size() == 4) {
      pending_.kernel_h = weight_dims[2];
      pending_.kernel_w = weight_dims[3];
    }
  }

  static bool nonzero(const OnnxConstant* zp) {
    return zp != nullptr &&
           std::any_of(zp->values.begin(), zp->values.end(), [](double z) { return z != 0.0; });
  }

  static double channel_value(const OnnxConstant* c, const Layout& l, std::size_t i) {
    if (c == nullptr)
      return 0.0;
    return c->scalar_like() ? c->values[0] : c->values[static_cast<std::size_t>(l.channel_of(i))];
  }

  /// The bits of the integers a weight stands for: its storage type, or more when a zero point widens them.
  static int w_bits(const IntConstant& w) {
    const bool nonzero_zp =
        std::any_of(w.zero_point.begin(), w.zero_point.end(), [](double z) { return z != 0.0; });
    return nonzero_zp ? w.bits + 1 : w.bits;
  }

  std::vector<std::int64_t> integer_bias(const onnx::NodeProto& n, const IntConstant& b,
                                         std::int64_t out) const {
    if (b.values.count != out && b.values.count != 1)
      refuse(n, "its bias has " + std::to_string(b.values.count) + " values for " + std::to_string(out) +
                    " output channels");
    std::vector<std::int64_t> bias(static_cast<std::size_t>(out));
    for (std::int64_t c = 0; c < out; ++c)
      bias[static_cast<std::size_t>(c)] =
          static_cast<std::int64_t>(b.at(static_cast<std::size_t>(b.values.count == 1 ? 0 : c)));
    return bias;
  }

  /// A float bias, added in accumulator units s_x · s_w: the integer the hardware adds is its rounding.
  std::vector<std::int64_t> float_bias(const onnx::NodeProto& n, const OnnxConstant& b, std::int64_t out,
                                       double x_scale, const IntConstant& w) const {
    if (b.numel() != out && b.numel() != 1)
      refuse(n, "its bias has " + std::to_string(b.numel()) + " values for " + std::to_string(out) +
                    " output channels");
    if (x_scale == 0.0 || w.scale.empty() ||
        (w.scale.size() != 1 && static_cast<std::int64_t>(w.scale.size()) != out))
      refuse(
          n,
          "has a float bias, but the input or weight scale that converts it to accumulator units is unknown");
    std::vector<std::int64_t> bias(static_cast<std::size_t>(out));
    for (std::int64_t c = 0; c < out; ++c) {
      const double s = x_scale * (w.scale.size() == 1 ? w.scale[0] : w.scale[static_cast<std::size_t>(c)]);
      const double v = b.values[static_cast<std::size_t>(b.numel() == 1 ? 0 : c)] / s;
      if (std::abs(v) > 9e15)
        refuse(n, "its bias in accumulator units does not fit 54 bits");
      bias[static_cast<std::size_t>(c)] = static_cast<std::int64_t>(std::nearbyint(v));
    }
    return bias;
  }

  AuditLayer start_layer(const onnx::NodeProto& n, const std::string& form, const Layout& l, std::int64_t lo,
                         std::int64_t hi, const std::string& from) const {
    if (l.out < 1 || l.K < 1)
      refuse(n, "has an empty weight");
    AuditLayer a;
    a.node = n.name().empty() ? n.output(0) : n.name();
    a.op = n.op_type();
    a.form = form;
    a.out_channels = l.out;
    a.K = l.K;
    a.input = InputRange{lo, hi};
    a.input_from = from;
    a.input_bits = bits_for(lo, hi, a.input_signed);
    return a;
  }

  /// Sign-split sums per channel from the weights as they are stored (no copy), then the exact bounds.
  template <class Weight>
  void finish_layer(AuditLayer a, const Layout& l, Weight weight, int storage_bits,
                    const std::vector<std::int64_t>& bias) {
    const auto out = static_cast<std::size_t>(l.out);
    std::vector<std::int64_t> pos(out, 0), neg(out, 0);
    std::int64_t wmin = 0, wmax = 0;
    const std::size_t n = static_cast<std::size_t>(l.out * l.K);
    // element i belongs to channel i / K (channels first) or i % out (channels last): walk it in order
    std::size_t channel = 0, position = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto v = static_cast<std::int64_t>(weight(i));
      pos[channel] += std::max<std::int64_t>(v, 0); // branch-free: weights have random signs
      neg[channel] += std::max<std::int64_t>(-v, 0);
      wmin = std::min(wmin, v);
      wmax = std::max(wmax, v);
      if (l.channels_first) {
        if (++position == static_cast<std::size_t>(l.K)) {
          position = 0;
          ++channel;
        }
      } else if (++channel == out) {
        channel = 0;
      }
    }
    // the data-type bound takes M-bit signed weights: unsigned weights of M bits need M + 1
    bool w_signed = true;
    a.weight_bits = std::max(storage_bits, bits_for(std::min<std::int64_t>(wmin, -1), wmax, w_signed));
    a.has_bias = !bias.empty();
    a.datatype_bits =
        datatype_bound_bits(a.K, std::min(a.input_bits, 32), std::min(a.weight_bits, 32), a.input_signed);
    using a2q::detail::int128;
    const auto wide_bits = [](int128 lo, int128 hi) { return a2q::detail::range_bits({lo, hi}); };
    if (programs_ != nullptr) {
      LayerProgram& p = (*programs_)[a.node];
      p = std::move(pending_);
      p.form = a.form;
      p.out = l.out;
      p.K = l.K;
      p.weights.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        const auto j = static_cast<std::int64_t>(i);
        const std::int64_t c = l.channel_of(i), k = l.channels_first ? j % l.K : j / l.out;
        p.weights[static_cast<std::size_t>(c * l.K + k)] = static_cast<std::int32_t>(weight(i));
      }
      p.bias = bias;
    }
    for (std::size_t c = 0; c < out; ++c) {
      const int128 P = pos[c], N = neg[c], lo = a.input.lo, hi = a.input.hi;
      const int128 max = P * hi - N * lo, min = P * lo - N * hi;
      const std::int64_t b = bias.empty() ? 0 : bias[c];
      AuditChannel ch;
      ch.channel = static_cast<std::int64_t>(c);
      if (max > INT64_MAX || min < INT64_MIN)
        throw io_error(who_ + ": layer '" + a.node + "': channel " + std::to_string(c) +
                       "'s worst case does not fit 64 bits");
      ch.range = AccumulatorRange{static_cast<std::int64_t>(min), static_cast<std::int64_t>(max)};
      ch.bias = b;
      ch.needed_bits = wide_bits(min, max);
      ch.needed_bits_with_bias = wide_bits(min + b, max + b);
      a.needed_bits = std::max(a.needed_bits, ch.needed_bits);
      if (ch.needed_bits_with_bias > a.needed_bits_with_bias) {
        a.needed_bits_with_bias = ch.needed_bits_with_bias;
        a.worst_channel = ch.channel;
      }
      a.channels.push_back(ch);
    }
    if (programs_ != nullptr)
      (*programs_)[a.node].needed_bits_with_bias = a.needed_bits_with_bias;
    report_.layers.push_back(std::move(a));
  }

  const OnnxGraph& g_;
  std::string who_;
  std::map<std::string, LayerProgram>* programs_;
  LayerProgram pending_; ///< the program of the layer being finished (scales and zero points)
  std::map<std::string, OnnxConstant> folded_;
  std::map<std::string, IntRange> ranges_;
  std::map<std::string, QTensor> qtensors_;
  std::map<std::string, IntConstant> weights_;
  std::map<std::string, std::string> float_ops_;
  AuditReport report_;
};

} // namespace

AuditReport audit_graph(const OnnxGraph& graph, std::map<std::string, LayerProgram>* programs) {
  return Auditor(graph, programs).run();
}

} // namespace a2q::io::detail

namespace a2q::io {

AuditReport audit_onnx_bytes(std::string_view bytes, const std::string& who) {
  const detail::OnnxGraph graph(bytes, who);
  return detail::audit_graph(graph, nullptr);
}

AuditReport audit_onnx(const std::filesystem::path& path) {
  return audit_onnx_bytes(detail::read_file(path), path.string());
}

} // namespace a2q::io
