// io::import_onnx (see a2q/onnx/onnx_import.hpp): translates each node of a checked ONNX graph
// (onnx_graph.hpp) into a step of a module chain (onnx_chain.hpp), folds constant arithmetic on the
// way, and builds the network from the resulting architecture description.

#include "a2q/onnx/onnx_import.hpp"

#include "onnx_chain.hpp"
#include "onnx_graph.hpp"

#include <a2q/io/architecture.hpp>
#include <a2q/nn/quant_layer.hpp>
#include <a2q/quant/bounds.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <set>
#include <sstream>

namespace a2q::io::detail {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* supported_ops =
    "Gemm, MatMul, Conv, Relu, MaxPool, AveragePool, GlobalAveragePool, BatchNormalization, Flatten, "
    "Reshape (to [batch, -1]), DepthToSpace (CRD), Add (residual or bias), Pad (zeros, before Conv or "
    "AveragePool), Constant, "
    "Identity, Dropout, QONNX Quant / IntQuant, and on constants Shape, Gather, Unsqueeze, Squeeze, Concat, "
    "Cast, Reshape, Transpose, Mul, Div, Add, Sub";

bool is_quant_domain(const std::string& d) {
  return d == "qonnx.custom_op.general" || d == "finn.custom_op.general" || d == "onnx.brevitas";
}

bool is_default_domain(const std::string& d) {
  return d.empty() || d == "ai.onnx";
}

/// The integer grid of a Quant node.
struct QuantGrid {
  int bits = 8;
  bool is_signed = true;
  bool narrow = false;
  std::string rounding = "ROUND";

  double lo() const { return is_signed ? -std::ldexp(1.0, bits - 1) + (narrow ? 1 : 0) : 0.0; }
  double hi() const {
    return is_signed ? std::ldexp(1.0, bits - 1) - 1 : std::ldexp(1.0, bits) - 1 - (narrow ? 1 : 0);
  }
};

/// A constant after a Quant node: its integers and the per-element scale they are multiplied by.
struct QuantizedConstant {
  std::vector<std::int64_t> dims;
  std::vector<std::int64_t> ints;
  std::vector<double> scale; ///< per element (broadcast)
  QuantGrid grid;
};

/// Index into a tensor of `from` dims broadcast (numpy rules) to `to` dims, for each flat index of `to`.
std::vector<std::size_t> broadcast_index(const std::vector<std::int64_t>& from,
                                         const std::vector<std::int64_t>& to, const std::string& what) {
  if (from.size() > to.size())
    throw io_error(what + ": cannot broadcast rank " + std::to_string(from.size()) + " to rank " +
                   std::to_string(to.size()));
  const std::size_t offset = to.size() - from.size();
  for (std::size_t i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[offset + i])
      throw io_error(what + ": shapes do not broadcast");
  std::int64_t n = 1;
  for (auto d : to)
    n *= d;
  std::vector<std::size_t> out(static_cast<std::size_t>(n));
  std::vector<std::int64_t> idx(to.size(), 0);
  for (std::int64_t flat = 0; flat < n; ++flat) {
    std::size_t src = 0;
    for (std::size_t i = 0; i < from.size(); ++i)
      src = src * static_cast<std::size_t>(from[i]) +
            static_cast<std::size_t>(from[i] == 1 ? 0 : idx[offset + i]);
    out[static_cast<std::size_t>(flat)] = src;
    for (std::size_t i = to.size(); i-- > 0;) {
      if (++idx[i] < to[i])
        break;
      idx[i] = 0;
    }
  }
  return out;
}

std::string join_numbers(const std::vector<float>& v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::ostringstream s;
    s.precision(9);
    s << v[i];
    if (i > 0)
      out += ',';
    out += s.str();
  }
  return out;
}

std::vector<float> parse_numbers(const std::string& text, const std::string& what) {
  std::vector<float> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      std::size_t used = 0;
      const float v = std::stof(item, &used);
      if (used != item.size() || !std::isfinite(v))
        throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      throw io_error(what + " holds '" + item + "', which is not a number");
    }
  }
  return out;
}

class Importer {
public:
  Importer(const OnnxGraph& graph, const OnnxImportOptions& options)
      : g_(graph), who_(graph.who()), options_(options), consts_(graph.constants()) {
    for (const auto& p : g_.model().metadata_props())
      meta_[p.key()] = p.value();
  }

  ImportedModel run() {
    read_input();
    for (const onnx::NodeProto* n : g_.nodes())
      translate(*n);
    return finish();
  }

private:
  // ----------------------------------------------------------------------------------- messages

  [[noreturn]] void refuse(const onnx::NodeProto& n, const std::string& why) const {
    throw io_error(who_ + ": " + OnnxGraph::describe(n) + ": " + why);
  }

  std::int64_t int_attr(const onnx::NodeProto& n, const char* name,
                        std::optional<std::int64_t> fallback) const {
    return int_attribute(n, name, fallback, who_);
  }

  // ------------------------------------------------------------------------------------- inputs

  bool is_constant(const std::string& name) const { return name.empty() || consts_.count(name) > 0; }

  const Value& data(const onnx::NodeProto& n, int i) const {
    if (i >= n.input_size())
      refuse(n, "has no input " + std::to_string(i));
    const auto it = values_.find(n.input(i));
    if (it == values_.end())
      refuse(n, "input '" + n.input(i) + "' must be computed from the graph input (it is a constant)");
    return it->second;
  }

  const OnnxConstant& constant(const onnx::NodeProto& n, int i, const char* what) const {
    if (i >= n.input_size() || n.input(i).empty())
      refuse(n, std::string("has no ") + what);
    const auto it = consts_.find(n.input(i));
    if (it == consts_.end())
      refuse(n, std::string("its ") + what + " ('" + n.input(i) + "') must be a constant");
    return it->second;
  }

  const OnnxConstant* optional_constant(const onnx::NodeProto& n, int i, const char* what) const {
    if (i >= n.input_size() || n.input(i).empty())
      return nullptr;
    return &constant(n, i, what);
  }

  void set_value(const onnx::NodeProto& n, Value v) {
    if (n.output_size() < 1)
      refuse(n, "has no output");
    values_[n.output(0)] = std::move(v);
  }

  void set_constant(const onnx::NodeProto& n, OnnxConstant c) {
    if (n.output_size() < 1)
      refuse(n, "has no output");
    consts_[n.output(0)] = std::move(c);
  }

  /// Only the first output of `n` may be read (e.g. not Dropout's mask or BatchNormalization's statistics).
  void only_first_output(const onnx::NodeProto& n) const {
    for (int i = 1; i < n.output_size(); ++i)
      if (!n.output(i).empty() && g_.readers(n.output(i)) > 0)
        refuse(n, "output " + std::to_string(i) + " ('" + n.output(i) +
                      "') is read, which inference does not "
                      "compute");
  }

  // --------------------------------------------------------------------------------- graph input

  void read_input() {
    const auto& inputs = g_.data_inputs();
    if (inputs.size() != 1)
      throw io_error(who_ + ": the graph takes " + std::to_string(inputs.size()) +
                     " data inputs (the importer takes networks with one)");
    const auto& in = *inputs.front();
    if (!in.type().has_tensor_type() || in.type().tensor_type().elem_type() != onnx::TensorProto::FLOAT)
      throw io_error(who_ + ": graph input '" + in.name() + "' is not a float32 tensor");
    if (!in.type().tensor_type().has_shape())
      throw io_error(who_ + ": graph input '" + in.name() + "' has no shape");
    const auto& dims = in.type().tensor_type().shape().dim();
    if (dims.size() < 2 || dims.size() > 4)
      throw io_error(who_ + ": graph input '" + in.name() + "' has rank " + std::to_string(dims.size()) +
                     " (expected [batch, features] or [batch, channels, height, width])");
    std::vector<std::int64_t> sample;
    for (int i = 1; i < dims.size(); ++i) {
      if (!dims[i].has_dim_value() || dims[i].dim_value() < 1 || dims[i].dim_value() > (1 << 20))
        throw io_error(who_ + ": graph input '" + in.name() + "': dimension " + std::to_string(i) +
                       " is not a fixed size (only the batch dimension may vary)");
      sample.push_back(dims[i].dim_value());
    }
    input_ = Shape(std::span<const std::int64_t>(sample));
    values_[in.name()] = Value{nullptr, input_};
  }

  // ----------------------------------------------------------------------------------- dispatch

  void translate(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    if (is_default_domain(n.domain()) && op == "Constant")
      return; // decoded with the initializers
    if (is_quant_domain(n.domain()) && (op == "Quant" || op == "IntQuant"))
      return quant(n);
    if (!is_default_domain(n.domain()))
      refuse(n,
             "operators of domain '" + n.domain() + "' are not supported (supported: " + supported_ops + ")");
    const bool all_constant =
        std::all_of(n.input().begin(), n.input().end(), [&](const std::string& i) { return is_constant(i); });
    if (all_constant && n.input_size() > 0)
      return fold(n);
    if (op == "Shape")
      return shape_of(n);
    if (op == "Conv")
      return conv(n);
    if (op == "Gemm")
      return gemm(n);
    if (op == "MatMul")
      return matmul(n);
    if (op == "Add")
      return add(n);
    if (op == "Relu")
      return append(n, data(n, 0), {{"type", "ReLU"}}, data(n, 0).shape, "relu");
    if (op == "MaxPool" || op == "AveragePool")
      return pool(n);
    if (op == "GlobalAveragePool")
      return global_pool(n);
    if (op == "BatchNormalization")
      return batch_norm(n);
    if (op == "Flatten")
      return flatten(n);
    if (op == "Reshape")
      return reshape(n);
    if (op == "Pad")
      return pad(n);
    if (op == "DepthToSpace")
      return depth_to_space(n);
    if (op == "Identity" || op == "Dropout")
      return pass_through(n);
    refuse(n, "not supported (supported: " + std::string(supported_ops) + ")");
  }

  void append(const onnx::NodeProto& n, const Value& in, json node, const Shape& out,
              const std::string& fallback_name) {
    Step s;
    s.name = preferred_name(n, fallback_name);
    s.onnx = OnnxGraph::describe(n);
    s.node = std::move(node);
    s.shape = out;
    set_value(n, {extend(in, std::move(s)), out});
  }

  /// The node's name as a module name: torch's "/features/features.0/Conv" becomes "features_0" (its
  /// last scope; Sequential names made unique where scopes repeat).
  std::string preferred_name(const onnx::NodeProto& n, const std::string& fallback) const {
    std::string onnx_name = n.name();
    const std::string suffix = "/" + n.op_type();
    if (onnx_name.size() >= suffix.size() && onnx_name.ends_with(suffix))
      onnx_name.resize(onnx_name.size() - suffix.size());
    if (const auto slash = onnx_name.rfind('/'); slash != std::string::npos)
      onnx_name = onnx_name.substr(slash + 1);
    std::string name = module_name(onnx_name);
    if (name.empty() || name.size() > 48)
      return fallback;
    // a Sequential's index alone ("/0/Gemm") names the kind of layer too: "fc_0"
    return std::isdigit(static_cast<unsigned char>(name.front())) ? fallback + "_" + name : name;
  }

  // -------------------------------------------------------------------------------- constant folding

  void fold(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    const OnnxConstant& a = constant(n, 0, "input");
    OnnxConstant out;
    if (op == "Identity" || op == "Dropout") {
      only_first_output(n);
      out = a;
    } else if (op == "Cast") {
      const std::int64_t to = int_attr(n, "to", {});
      out = a;
      out.integer = to != onnx::TensorProto::FLOAT && to != onnx::TensorProto::DOUBLE &&
                    to != onnx::TensorProto::FLOAT16;
      if (out.integer)
        for (double& v : out.values)
          v = std::trunc(v);
    } else if (op == "Shape") {
      out = shape_constant(n, a.dims);
    } else if (op == "Reshape") {
      out = a;
      out.dims = reshaped(n, a.dims, constant(n, 1, "shape"));
    } else if (op == "Unsqueeze" || op == "Squeeze") {
      std::vector<std::int64_t> axes = ints_attribute(n, "axes", who_);
      if (const auto* c = optional_constant(n, 1, "axes"))
        for (double v : c->values)
          axes.push_back(static_cast<std::int64_t>(v));
      out = a;
      out.dims = op == "Unsqueeze" ? unsqueezed(n, a.dims, axes) : squeezed(n, a.dims, axes);
    } else if (op == "Concat") {
      out.integer = a.integer;
      for (int i = 0; i < n.input_size(); ++i) {
        const OnnxConstant& c = constant(n, i, "input");
        if (c.dims.size() != 1)
          refuse(n, "constant Concat is supported for 1-D tensors only");
        out.values.insert(out.values.end(), c.values.begin(), c.values.end());
      }
      out.dims = {static_cast<std::int64_t>(out.values.size())};
    } else if (op == "Gather") {
      const OnnxConstant& idx = constant(n, 1, "indices");
      if (int_attr(n, "axis", 0) != 0 || a.dims.size() != 1)
        refuse(n, "constant Gather is supported on 1-D tensors along axis 0 only");
      out.integer = a.integer;
      for (double v : idx.values) {
        auto i = static_cast<std::int64_t>(v);
        if (i < 0)
          i += a.numel();
        if (i < 0 || i >= a.numel())
          refuse(n, "index " + std::to_string(static_cast<std::int64_t>(v)) + " is out of range");
        out.values.push_back(a.values[static_cast<std::size_t>(i)]);
      }
      out.dims = idx.dims;
    } else if (op == "Transpose") {
      out = transposed(n, a);
    } else if (op == "Mul" || op == "Div" || op == "Add" || op == "Sub") {
      out = elementwise(n, a, constant(n, 1, "second input"));
    } else {
      refuse(n, "not supported on constants (supported: " + std::string(supported_ops) + ")");
    }
    set_constant(n, std::move(out));
  }

  OnnxConstant shape_constant(const onnx::NodeProto& n, const std::vector<std::int64_t>& dims) const {
    OnnxConstant out;
    out.integer = true;
    const auto rank = static_cast<std::int64_t>(dims.size());
    std::int64_t start = int_attr(n, "start", 0), end = int_attr(n, "end", rank);
    start = std::clamp(start < 0 ? start + rank : start, std::int64_t{0}, rank);
    end = std::clamp(end < 0 ? end + rank : end, std::int64_t{0}, rank);
    for (std::int64_t i = start; i < end; ++i)
      out.values.push_back(static_cast<double>(dims[static_cast<std::size_t>(i)]));
    out.dims = {static_cast<std::int64_t>(out.values.size())};
    return out;
  }

  /// Shape(x) of the data path: the batch dimension reads as 1, which Reshape's flatten check expects.
  void shape_of(const onnx::NodeProto& n) {
    const Value& v = data(n, 0);
    std::vector<std::int64_t> dims{1};
    dims.insert(dims.end(), v.shape.begin(), v.shape.end());
    set_constant(n, shape_constant(n, dims));
  }

  std::vector<std::int64_t> reshaped(const onnx::NodeProto& n, const std::vector<std::int64_t>& dims,
                                     const OnnxConstant& shape) const {
    std::int64_t total = 1;
    for (auto d : dims)
      total *= d;
    std::vector<std::int64_t> out;
    int infer = -1;
    std::int64_t known = 1;
    for (std::size_t i = 0; i < shape.values.size(); ++i) {
      auto d = static_cast<std::int64_t>(shape.values[i]);
      if (d == 0 && int_attr(n, "allowzero", 0) == 0) {
        if (i >= dims.size())
          refuse(n, "shape entry 0 copies a dimension the input does not have");
        d = dims[i];
      }
      if (d == -1) {
        if (infer >= 0)
          refuse(n, "the shape has two -1 entries");
        infer = static_cast<int>(i);
        d = 1;
      } else if (d < 0) {
        refuse(n, "the shape has a negative entry");
      }
      known *= std::max<std::int64_t>(d, 1);
      out.push_back(d);
    }
    if (infer >= 0) {
      if (known == 0 || total % known != 0)
        refuse(n, "the shape does not fit the input's elements");
      out[static_cast<std::size_t>(infer)] = total / known;
    }
    std::int64_t check = 1;
    for (auto d : out)
      check *= d;
    if (check != total)
      refuse(n, "the shape holds " + std::to_string(check) + " elements, the input " + std::to_string(total));
    return out;
  }

  std::vector<std::int64_t> unsqueezed(const onnx::NodeProto& n, std::vector<std::int64_t> dims,
                                       std::vector<std::int64_t> axes) const {
    const auto rank = static_cast<std::int64_t>(dims.size() + axes.size());
    for (auto& a : axes)
      a = a < 0 ? a + rank : a;
    std::sort(axes.begin(), axes.end());
    for (auto a : axes) {
      if (a < 0 || a > static_cast<std::int64_t>(dims.size()))
        refuse(n, "axis out of range");
      dims.insert(dims.begin() + a, 1);
    }
    return dims;
  }

  std::vector<std::int64_t> squeezed(const onnx::NodeProto& n, const std::vector<std::int64_t>& dims,
                                     std::vector<std::int64_t> axes) const {
    const auto rank = static_cast<std::int64_t>(dims.size());
    for (auto& a : axes) {
      a = a < 0 ? a + rank : a;
      if (a < 0 || a >= rank || dims[static_cast<std::size_t>(a)] != 1)
        refuse(n, "cannot squeeze a dimension that is not 1");
    }
    std::vector<std::int64_t> out;
    for (std::int64_t i = 0; i < rank; ++i) {
      const bool drop = axes.empty() ? dims[static_cast<std::size_t>(i)] == 1
                                     : std::find(axes.begin(), axes.end(), i) != axes.end();
      if (!drop)
        out.push_back(dims[static_cast<std::size_t>(i)]);
    }
    return out;
  }

  OnnxConstant transposed(const onnx::NodeProto& n, const OnnxConstant& a) const {
    const std::size_t rank = a.dims.size();
    std::vector<std::int64_t> perm = ints_attribute(n, "perm", who_);
    if (perm.empty())
      for (std::size_t i = 0; i < rank; ++i)
        perm.push_back(static_cast<std::int64_t>(rank - 1 - i));
    std::vector<std::int64_t> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < sorted.size(); ++i)
      if (sorted.size() != rank || sorted[i] != static_cast<std::int64_t>(i))
        refuse(n, "'perm' is not a permutation of the input's axes");
    OnnxConstant out = a;
    for (std::size_t i = 0; i < rank; ++i)
      out.dims[i] = a.dims[static_cast<std::size_t>(perm[i])];
    std::vector<std::int64_t> in_stride(rank, 1);
    for (std::size_t i = rank; i-- > 1;)
      in_stride[i - 1] = in_stride[i] * a.dims[i];
    std::vector<std::int64_t> idx(rank, 0);
    for (std::size_t flat = 0; flat < out.values.size(); ++flat) {
      std::int64_t src = 0;
      for (std::size_t i = 0; i < rank; ++i)
        src += idx[i] * in_stride[static_cast<std::size_t>(perm[i])];
      out.values[flat] = a.values[static_cast<std::size_t>(src)];
      for (std::size_t i = rank; i-- > 0;) {
        if (++idx[i] < out.dims[i])
          break;
        idx[i] = 0;
      }
    }
    return out;
  }

  OnnxConstant elementwise(const onnx::NodeProto& n, const OnnxConstant& a, const OnnxConstant& b) const {
    const bool a_big = a.numel() >= b.numel();
    const OnnxConstant& big = a_big ? a : b;
    const auto ia = broadcast_index(a.dims, big.dims, who_ + ": " + OnnxGraph::describe(n));
    const auto ib = broadcast_index(b.dims, big.dims, who_ + ": " + OnnxGraph::describe(n));
    OnnxConstant out;
    out.dims = big.dims;
    out.integer = a.integer && b.integer;
    out.values.resize(ia.size());
    const std::string& op = n.op_type();
    for (std::size_t i = 0; i < ia.size(); ++i) {
      const double x = a.values[ia[i]], y = b.values[ib[i]];
      double r = op == "Mul" ? x * y : op == "Add" ? x + y : op == "Sub" ? x - y : 0.0;
      if (op == "Div") {
        if (y == 0.0)
          refuse(n, "divides by zero");
        r = out.integer ? std::trunc(x / y) : x / y;
      }
      out.values[i] = r;
    }
    return out;
  }

  // ----------------------------------------------------------------------------------- QONNX Quant

  QuantGrid grid_of(const onnx::NodeProto& n) const {
    if (n.input_size() != 4)
      refuse(n, "a Quant node takes 4 inputs (x, scale, zeropt, bitwidth)");
    QuantGrid q;
    const OnnxConstant& bits = constant(n, 3, "bit width");
    if (!bits.scalar_like() || bits.values[0] != std::round(bits.values[0]) || bits.values[0] < 2 ||
        bits.values[0] > 32)
      refuse(n, "the bit width must be one integer in [2, 32]");
    q.bits = static_cast<int>(bits.values[0]);
    for (double z : constant(n, 2, "zero point").values)
      if (z != 0.0)
        refuse(n, "a nonzero zero point is not supported (a2q quantizes symmetrically)");
    q.is_signed = int_attr(n, "signed", 1) != 0;
    q.narrow = int_attr(n, "narrow", 0) != 0;
    q.rounding = string_attribute(n, "rounding_mode", std::string("ROUND"), who_);
    std::transform(q.rounding.begin(), q.rounding.end(), q.rounding.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    static const std::set<std::string> modes{"ROUND", "HALF_EVEN", "ROUND_TO_ZERO", "DOWN",     "UP",
                                             "FLOOR", "CEIL",      "HALF_UP",       "HALF_DOWN"};
    if (!modes.count(q.rounding))
      refuse(n,
             "rounding_mode '" + q.rounding +
                 "' (supported: ROUND, HALF_EVEN, ROUND_TO_ZERO, DOWN, UP, FLOOR, CEIL, HALF_UP, HALF_DOWN)");
    return q;
  }

  /// QONNX's rounding modes (qonnx/custom_op/general/intquant.py resolve_rounding_mode).
  static double round_with(double v, const std::string& mode) {
    if (mode == "ROUND" || mode == "HALF_EVEN")
      return std::nearbyint(v); // half to even, as numpy.round
    if (mode == "ROUND_TO_ZERO" || mode == "DOWN")
      return std::trunc(v);
    if (mode == "UP")
      return v < 0 ? std::floor(v) : std::ceil(v);
    if (mode == "HALF_UP")
      return std::floor(v + 0.5);
    if (mode == "HALF_DOWN")
      return std::ceil(v - 0.5);
    return mode == "FLOOR" ? std::floor(v) : std::ceil(v);
  }

  void quant(const onnx::NodeProto& n) {
    const QuantGrid grid = grid_of(n);
    const OnnxConstant& scale = constant(n, 1, "scale");
    for (double s : scale.values)
      if (!(s > 0.0) || !std::isfinite(s))
        refuse(n, "every scale must be positive and finite");
    quantized_ = true;
    if (is_constant(n.input(0)))
      return quantize_constant(n, grid, scale);
    // Activations: one scale, nearest-even rounding, as nn::ActQuant and the integer engine run them.
    if (!scale.scalar_like())
      refuse(n, "an activation Quant needs one scale for the whole tensor (per-channel activation scales are "
                "not supported)");
    if (grid.bits > 16)
      refuse(n, "activations of more than 16 bits are not supported");
    if (grid.rounding != "ROUND" && grid.rounding != "HALF_EVEN")
      refuse(n,
             "activation rounding '" + grid.rounding + "' is not supported (ROUND, i.e. half to even, only)");
    if (!grid.is_signed && grid.narrow)
      refuse(n, "unsigned narrow-range activations are not supported");
    const Value& in = data(n, 0);
    json node = {{"type", "ActQuant"}, {"bits", grid.bits}, {"signed", grid.is_signed}};
    if (grid.is_signed)
      node["narrow"] = grid.narrow;
    node["rounding"] = "nearest_even";
    node["fixed_scale"] = static_cast<double>(static_cast<float>(scale.values[0]));
    append(n, in, std::move(node), in.shape, "act_quant");
  }

  void quantize_constant(const onnx::NodeProto& n, const QuantGrid& grid, const OnnxConstant& scale) {
    const OnnxConstant& x = constant(n, 0, "input");
    const auto si = broadcast_index(scale.dims, x.dims, who_ + ": " + OnnxGraph::describe(n) + ": scale");
    QuantizedConstant q;
    q.dims = x.dims;
    q.grid = grid;
    OnnxConstant value;
    value.dims = x.dims;
    for (std::size_t i = 0; i < x.values.size(); ++i) {
      // float32 arithmetic, as the QONNX reference executes the node
      const float s = static_cast<float>(scale.values[si[i]]);
      // QONNX clamps to the grid's range, then rounds
      const double r = round_with(
          std::clamp(static_cast<double>(static_cast<float>(x.values[i]) / s), grid.lo(), grid.hi()),
          grid.rounding);
      q.ints.push_back(static_cast<std::int64_t>(r));
      q.scale.push_back(s);
      value.values.push_back(r * static_cast<double>(s));
    }
    qconsts_[n.output(0)] = std::move(q);
    set_constant(n, std::move(value));
  }

  // ------------------------------------------------------------------------------------ layers

  /// The ActQuant that feeds a quantized layer reading `v` (through max pooling and flattening only).
  const Step* input_quantizer(const onnx::NodeProto& n, const Value& v) const {
    const Step* s = v.end.get();
    while (s != nullptr && (s->type() == "MaxPool2d" || s->type() == "Flatten"))
      s = s->parent.get();
    if (s == nullptr || s->type() != "ActQuant")
      refuse(n, "its weights are quantized, so its input must come from a Quant node (through MaxPool or "
                "Flatten only); found " +
                    (s == nullptr ? std::string("the float graph input") : s->onnx));
    return s;
  }

  /// The quantized form of a weight input, if it passed through a Quant node.
  const QuantizedConstant* quantized_weight(const onnx::NodeProto& n, int i) const {
    const auto it = qconsts_.find(n.input(i));
    return it == qconsts_.end() ? nullptr : &it->second;
  }

  /// The settings and integers of a quantized layer with weights `q` laid out [out, fan_in] (after any
  /// transposition, given as `order`: element j of the layer's weights is q.ints[order[j]]).
  void make_quantized(const onnx::NodeProto& n, Step& s, const QuantizedConstant& q, std::int64_t out,
                      const std::vector<std::size_t>& order, const Value& in, const Shape& weight_shape) {
    if (q.grid.bits > 16 || !q.grid.is_signed)
      refuse(n, "quantized weights must be signed with at most 16 bits");
    const std::int64_t fan_in = static_cast<std::int64_t>(order.size()) / out;
    std::vector<std::int32_t> ints(order.size());
    std::vector<float> scales(static_cast<std::size_t>(out));
    Tensor<float> w(weight_shape);
    const double qmin = -(std::ldexp(1.0, q.grid.bits - 1) - 1);
    for (std::int64_t c = 0; c < out; ++c) {
      const double sc = q.scale[order[static_cast<std::size_t>(c * fan_in)]];
      scales[static_cast<std::size_t>(c)] = static_cast<float>(sc);
      for (std::int64_t k = 0; k < fan_in; ++k) {
        const std::size_t j = static_cast<std::size_t>(c * fan_in + k);
        if (q.scale[order[j]] != sc)
          refuse(n, "its weight scale differs within output channel " + std::to_string(c) +
                        " (a2q takes one scale per output channel or per tensor)");
        if (static_cast<double>(q.ints[order[j]]) < qmin)
          refuse(n, "weight " + std::to_string(q.ints[order[j]]) + " in channel " + std::to_string(c) +
                        " lies outside the narrow range a2q's weights use (±" +
                        std::to_string(static_cast<std::int64_t>(-qmin)) + ")");
        ints[j] = static_cast<std::int32_t>(q.ints[order[j]]);
        w[static_cast<std::int64_t>(j)] = static_cast<float>(ints[j]) * static_cast<float>(sc);
      }
    }
    const Step* quantizer = input_quantizer(n, in);
    const int in_bits = quantizer->node["bits"].get<int>();
    const bool in_signed = quantizer->node["signed"].get<bool>();
    const InputRange range = InputRange::of_bits(in_bits, in_signed);
    int needed = 2;
    for (std::int64_t c = 0; c < out; ++c)
      needed = std::max(
          needed, required_accumulator_bits(std::span<const std::int32_t>(ints.data() + c * fan_in,
                                                                          static_cast<std::size_t>(fan_in)),
                                            range));
    int P = needed;
    if (const auto it = meta_.find("a2q.layer." + n.name() + ".accumulator_bits"); it != meta_.end()) {
      try {
        P = std::stoi(it->second);
      } catch (const std::exception&) {
        refuse(n, "metadata a2q.layer." + n.name() + ".accumulator_bits is not a number");
      }
      if (P < 2 || P > 64)
        refuse(n, "metadata a2q.layer." + n.name() + ".accumulator_bits is outside [2, 64]");
    }
    s.input_quant = quantizer;
    s.integers = std::move(ints);
    s.node["input_bits"] = in_bits;
    s.node["input_signed"] = in_signed;
    s.node["quant"] = {{"method", "baseline"},
                       {"weight_bits", q.grid.bits},
                       {"acc_bits", P},
                       {"per_channel", true},
                       {"rounding", "nearest_even"}};
    Tensor<float> log2_scale(Shape{out});
    for (std::int64_t c = 0; c < out; ++c)
      log2_scale[c] = std::log2(scales[static_cast<std::size_t>(c)]);
    s.params.emplace_back("weight_quant.weight", std::move(w));
    s.params.emplace_back("weight_quant.log2_scale", std::move(log2_scale));
  }

  Tensor<float> float_tensor(const OnnxConstant& c, const Shape& shape, double factor = 1.0) const {
    Tensor<float> t(shape);
    for (std::int64_t i = 0; i < t.numel(); ++i)
      t[i] = static_cast<float>(c.values[static_cast<std::size_t>(i)] * factor);
    return t;
  }

  /// The bias of a layer with `out` channels (a vector, or broadcast from one value).
  Tensor<float> bias_tensor(const onnx::NodeProto& n, const OnnxConstant& b, std::int64_t out,
                            double factor) const {
    Tensor<float> t(Shape{out});
    if (b.numel() != out && b.numel() != 1)
      refuse(n,
             "its bias has " + std::to_string(b.numel()) + " values for " + std::to_string(out) + " outputs");
    for (std::int64_t c = 0; c < out; ++c)
      t[c] = static_cast<float>(b.values[static_cast<std::size_t>(b.numel() == 1 ? 0 : c)] * factor);
    return t;
  }

  struct Window {
    std::int64_t kh = 1, kw = 1;
    int stride = 1, padding = 0;
  };

  /// Kernel, strides, pads and dilations of a Conv or pool, as a2q's square-stride symmetric-pad form.
  Window window(const onnx::NodeProto& n, std::optional<std::pair<std::int64_t, std::int64_t>> kernel) const {
    Window w;
    const std::string auto_pad = string_attribute(n, "auto_pad", std::string("NOTSET"), who_);
    if (auto_pad != "NOTSET" && auto_pad != "VALID")
      refuse(n, "auto_pad '" + auto_pad + "' is not supported (NOTSET or VALID)");
    auto ks = ints_attribute(n, "kernel_shape", who_);
    if (kernel) {
      if (!ks.empty() && (ks.size() != 2 || ks[0] != kernel->first || ks[1] != kernel->second))
        refuse(n, "kernel_shape does not match its weights");
      w.kh = kernel->first;
      w.kw = kernel->second;
    } else {
      if (ks.size() != 2 || ks[0] != ks[1] || ks[0] < 1 || ks[0] > 64)
        refuse(n, "needs a square 2-D kernel_shape of at most 64 (supported by a2q's pooling)");
      w.kh = w.kw = ks[0];
    }
    const auto strides = ints_attribute(n, "strides", who_);
    if (!strides.empty() &&
        (strides.size() != 2 || strides[0] != strides[1] || strides[0] < 1 || strides[0] > 64))
      refuse(n, "strides must be equal in both dimensions (and in [1, 64])");
    w.stride = strides.empty() ? 1 : static_cast<int>(strides[0]);
    const auto pads = ints_attribute(n, "pads", who_);
    if (!pads.empty()) {
      if (pads.size() != 4 || std::any_of(pads.begin(), pads.end(), [&](auto p) { return p != pads[0]; }) ||
          pads[0] < 0 || pads[0] > 64)
        refuse(n, "pads must be equal on all four sides (a2q pads symmetrically)");
      w.padding = static_cast<int>(pads[0]);
    }
    for (auto d : ints_attribute(n, "dilations", who_))
      if (d != 1)
        refuse(n, "dilations other than 1 are not supported");
    return w;
  }

  /// The input of a Conv or AveragePool with a zero Pad right before it merged in (returns the extra
  /// padding).
  std::pair<Value, int> merge_pad(const onnx::NodeProto& n, const Value& v) const {
    if (!v.end || v.end->pad == 0)
      return {v, 0};
    if (g_.readers(n.input(0)) != 1)
      refuse(n, "its padded input is read elsewhere too, so the Pad cannot become its padding");
    const StepPtr& before = v.end->parent;
    return {Value{before, before ? before->shape : input_}, v.end->pad};
  }

  static std::int64_t out_size(std::int64_t in, std::int64_t k, int stride, int pad) {
    const std::int64_t span = in + 2 * pad - k;
    return span < 0 ? 0 : span / stride + 1;
  }

  void conv(const onnx::NodeProto& n) {
    auto [in, extra_pad] = merge_pad(n, data(n, 0));
    if (in.shape.rank() != 3)
      refuse(n, "needs an input of shape [channels, height, width], got " + in.shape.to_string());
    const OnnxConstant& wc = constant(n, 1, "weight");
    if (wc.dims.size() != 4)
      refuse(n, "needs a 4-D weight (2-D convolution)");
    const std::int64_t out = wc.dims[0], cin_g = wc.dims[1], kh = wc.dims[2], kw = wc.dims[3];
    const std::int64_t groups = int_attr(n, "group", 1);
    Window win = window(n, std::make_pair(kh, kw));
    win.padding += extra_pad;
    if (groups < 1 || out % groups != 0 || cin_g * groups != in.shape[0])
      refuse(n, "its weight " + Shape(std::span<const std::int64_t>(wc.dims)).to_string() + " with group " +
                    std::to_string(groups) + " does not fit an input of " + std::to_string(in.shape[0]) +
                    " channels");
    if (kh > 64 || kw > 64 || win.padding > 64)
      refuse(n, "kernels and padding above 64 are not supported");
    const Shape out_shape{out, out_size(in.shape[1], kh, win.stride, win.padding),
                          out_size(in.shape[2], kw, win.stride, win.padding)};
    if (out_shape[1] < 1 || out_shape[2] < 1)
      refuse(n, "its output would be empty for an input of " + in.shape.to_string());
    const QuantizedConstant* q = quantized_weight(n, 1);
    const OnnxConstant* b = layer_bias(optional_constant(n, 2, "bias"), q != nullptr);
    Step s;
    s.name = preferred_name(n, "conv");
    s.onnx = OnnxGraph::describe(n);
    s.shape = out_shape;
    s.node = {{"type", q ? "QuantConv2d" : "Conv2d"}, {"in", in.shape[0]}, {"out", out}};
    s.node["kernel"] = kh == kw ? json(kh) : json::array({kh, kw});
    s.node["stride"] = win.stride;
    s.node["padding"] = win.padding;
    s.node["groups"] = groups;
    s.node["bias"] = b != nullptr;
    const Shape wshape{out, cin_g, kh, kw};
    if (q) {
      std::vector<std::size_t> order(static_cast<std::size_t>(wshape.numel()));
      std::iota(order.begin(), order.end(), std::size_t{0});
      make_quantized(n, s, *q, out, order, in, wshape);
    } else {
      s.params.emplace_back("weight", float_tensor(wc, wshape));
    }
    if (b)
      s.params.emplace_back("bias", bias_tensor(n, *b, out, 1.0));
    set_value(n, {extend(in, std::move(s)), out_shape});
  }

  /// A fully connected layer y = alpha · x W' + beta · c from weights `wc` of shape [K, N] (transposed:
  /// [N, K]).
  void linear(const onnx::NodeProto& n, const OnnxConstant& wc, const QuantizedConstant* q, bool transposed,
              double alpha, const OnnxConstant* bias, double beta) {
    const Value& in = data(n, 0);
    if (in.shape.rank() != 1)
      refuse(n, "needs a flat input of shape [features], got " + in.shape.to_string() +
                    " (a Flatten must come before it)");
    if (wc.dims.size() != 2)
      refuse(n, "needs a 2-D constant weight");
    const std::int64_t K = transposed ? wc.dims[1] : wc.dims[0];
    const std::int64_t N = transposed ? wc.dims[0] : wc.dims[1];
    if (K != in.shape[0])
      refuse(n, "its weight takes " + std::to_string(K) + " inputs, but its input has " +
                    std::to_string(in.shape[0]));
    // element j = (o, k) of the [N, K] layer weight comes from this index of the stored weight
    std::vector<std::size_t> order(static_cast<std::size_t>(N * K));
    for (std::int64_t o = 0; o < N; ++o)
      for (std::int64_t k = 0; k < K; ++k)
        order[static_cast<std::size_t>(o * K + k)] =
            static_cast<std::size_t>(transposed ? o * K + k : k * N + o);
    Step s;
    s.name = preferred_name(n, "fc");
    s.onnx = OnnxGraph::describe(n);
    s.shape = Shape{N};
    s.node = {{"type", q ? "QuantLinear" : "Linear"}, {"in", K}, {"out", N}, {"bias", bias != nullptr}};
    if (q) {
      if (alpha != 1.0)
        refuse(n, "alpha must be 1 when the weights are quantized");
      make_quantized(n, s, *q, N, order, in, Shape{N, K});
    } else {
      Tensor<float> w(Shape{N, K});
      for (std::size_t j = 0; j < order.size(); ++j)
        w[static_cast<std::int64_t>(j)] = static_cast<float>(wc.values[order[j]] * alpha);
      s.params.emplace_back("weight", std::move(w));
    }
    if (bias)
      s.params.emplace_back("bias", bias_tensor(n, *bias, N, beta));
    set_value(n, {extend(in, std::move(s)), Shape{N}});
  }

  void gemm(const onnx::NodeProto& n) {
    if (int_attr(n, "transA", 0) != 0)
      refuse(n, "transA = 1 is not supported");
    const QuantizedConstant* q = quantized_weight(n, 1);
    linear(n, constant(n, 1, "weight"), q, int_attr(n, "transB", 0) != 0,
           float_attribute(n, "alpha", 1.0, who_), layer_bias(optional_constant(n, 2, "bias"), q != nullptr),
           float_attribute(n, "beta", 1.0, who_));
  }

  /// A quantized layer's all-zero bias is no bias (QONNX writers give every Gemm one, as FINN needs).
  static const OnnxConstant* layer_bias(const OnnxConstant* b, bool quantized) {
    if (b != nullptr && quantized &&
        std::all_of(b->values.begin(), b->values.end(), [](double v) { return v == 0.0; }))
      return nullptr;
    return b;
  }

  void matmul(const onnx::NodeProto& n) {
    linear(n, constant(n, 1, "weight"), quantized_weight(n, 1), false, 1.0, nullptr, 1.0);
  }

  void add(const onnx::NodeProto& n) {
    if (n.input_size() != 2)
      refuse(n, "needs two inputs");
    const bool c0 = is_constant(n.input(0)), c1 = is_constant(n.input(1));
    if (c0 || c1)
      return add_bias(n, data(n, c0 ? 1 : 0), consts_.at(n.input(c0 ? 0 : 1)), n.input(c0 ? 1 : 0));
    const Value& a = data(n, 0);
    const Value& b = data(n, 1);
    if (a.shape != b.shape)
      refuse(n, "adds tensors of shapes " + a.shape.to_string() + " and " + b.shape.to_string());
    const StepPtr fork = fork_point(a.end, b.end);
    std::vector<StepPtr> first = chain_between(fork.get(), a.end), second = chain_between(fork.get(), b.end);
    if (first.size() < second.size())
      std::swap(first, second);
    if (first.empty())
      refuse(n, "adds a tensor to itself");
    Step s;
    s.name = preferred_name(n, "residual");
    s.onnx = OnnxGraph::describe(n);
    s.node = {{"type", "ResidualAdd"}};
    s.shape = a.shape;
    s.body = std::move(first);
    s.shortcut = std::move(second);
    set_value(n, {extend(Value{fork, fork ? fork->shape : input_}, std::move(s)), a.shape});
  }

  /// x + c after a layer without bias: the layer's bias (torch writes MatMul + Add for a Linear on
  /// inputs of rank > 2).
  void add_bias(const onnx::NodeProto& n, const Value& v, const OnnxConstant& c, const std::string& tensor) {
    const Step* layer = v.end.get();
    const std::string type = layer ? layer->type() : "";
    const bool biasless_layer =
        (type == "Linear" || type == "Conv2d" || type == "QuantLinear" || type == "QuantConv2d") &&
        !layer->node.value("bias", true);
    if (!biasless_layer || g_.readers(tensor) != 1)
      refuse(n,
             "adds a constant, which is supported only as the bias of the Gemm, MatMul or Conv right before "
             "it");
    const std::int64_t out = layer->shape[0];
    const std::int64_t inner = layer->shape.numel() / out;
    if (c.numel() != out && c.numel() != 1)
      refuse(n, "adds a constant of " + std::to_string(c.numel()) + " values to " + std::to_string(out) +
                    " channels");
    // the constant must broadcast per channel: [out], [1, out] after a Linear; [out, 1, 1] after a Conv
    if (inner > 1 && c.numel() == out && (c.dims.size() < 3 || c.dims[c.dims.size() - 3] != out))
      refuse(n, "adds a constant that is not one value per channel");
    Step s = *layer;
    s.node["bias"] = true;
    s.params.emplace_back("bias", bias_tensor(n, c, out, 1.0));
    set_value(n, {std::make_shared<const Step>(std::move(s)), v.shape});
  }

  void pool(const onnx::NodeProto& n) {
    only_first_output(n);
    const bool average = n.op_type() == "AveragePool";
    auto [in, extra_pad] = average ? merge_pad(n, data(n, 0)) : std::make_pair(data(n, 0), 0);
    if (in.shape.rank() != 3)
      refuse(n, "needs an input of shape [channels, height, width], got " + in.shape.to_string());
    if (int_attr(n, "ceil_mode", 0) != 0)
      refuse(n, "ceil_mode = 1 is not supported");
    if (!average && int_attr(n, "storage_order", 0) != 0)
      refuse(n, "storage_order = 1 is not supported");
    Window w = window(n, std::nullopt);
    if (average && w.padding > 0 && int_attr(n, "count_include_pad", 0) == 0)
      refuse(n, "padding with count_include_pad = 0 is not supported (a2q's average counts the padding)");
    w.padding += extra_pad;
    if (w.padding > w.kh / 2)
      refuse(n, "padding " + std::to_string(w.padding) + " exceeds half the kernel (" + std::to_string(w.kh) +
                    ")");
    const Shape out{in.shape[0], out_size(in.shape[1], w.kh, w.stride, w.padding),
                    out_size(in.shape[2], w.kw, w.stride, w.padding)};
    if (out[1] < 1 || out[2] < 1)
      refuse(n, "its output would be empty for an input of " + in.shape.to_string());
    append(n, in,
           {{"type", average ? "AvgPool2d" : "MaxPool2d"},
            {"kernel", w.kh},
            {"stride", w.stride},
            {"padding", w.padding}},
           out, average ? "avg_pool" : "max_pool");
  }

  void global_pool(const onnx::NodeProto& n) {
    const Value& in = data(n, 0);
    if (in.shape.rank() != 3)
      refuse(n, "needs an input of shape [channels, height, width], got " + in.shape.to_string());
    // a2q's global pool gives [channels]: what ONNX's [channels, 1, 1] becomes after the usual Flatten
    append(n, in, {{"type", "GlobalAvgPool2d"}}, Shape{in.shape[0]}, "global_pool");
  }

  void batch_norm(const onnx::NodeProto& n) {
    only_first_output(n);
    if (int_attr(n, "training_mode", 0) != 0)
      refuse(n, "training_mode = 1 (inference graphs only)");
    const Value& in = data(n, 0);
    if (in.shape.rank() != 3)
      refuse(n, "needs an input of shape [channels, height, width], got " + in.shape.to_string() +
                    " (BatchNorm1d is not supported)");
    const std::int64_t C = in.shape[0];
    const char* names[] = {"scale", "bias", "mean", "variance"};
    const char* params[] = {"weight", "bias", "running_mean", "running_var"};
    Step s;
    s.name = preferred_name(n, "bn");
    s.onnx = OnnxGraph::describe(n);
    s.shape = in.shape;
    const double eps = float_attribute(n, "epsilon", 1e-5, who_);
    if (!(eps > 0.0))
      refuse(n, "epsilon must be positive");
    s.node = {{"type", "BatchNorm2d"}, {"channels", C}, {"eps", eps}};
    for (int i = 0; i < 4; ++i) {
      const OnnxConstant& c = constant(n, i + 1, names[i]);
      if (c.numel() != C)
        refuse(n, std::string("its ") + names[i] + " has " + std::to_string(c.numel()) + " values for " +
                      std::to_string(C) + " channels");
      if (i == 3 && std::any_of(c.values.begin(), c.values.end(), [](double v) { return v < 0.0; }))
        refuse(n, "its variance has a negative value");
      s.params.emplace_back(params[i], float_tensor(c, Shape{C}));
    }
    set_value(n, {extend(in, std::move(s)), in.shape});
  }

  void flatten(const onnx::NodeProto& n) {
    const Value& in = data(n, 0);
    const std::int64_t axis = int_attr(n, "axis", 1);
    if (axis != 1 && axis != -in.shape.rank())
      refuse(n, "axis " + std::to_string(axis) + " is not supported (axis 1: one vector per sample)");
    append(n, in, {{"type", "Flatten"}}, Shape{in.shape.numel()}, "flatten");
  }

  void reshape(const onnx::NodeProto& n) {
    const Value& in = data(n, 0);
    std::vector<std::int64_t> dims{1};
    dims.insert(dims.end(), in.shape.begin(), in.shape.end());
    const std::vector<std::int64_t> out = reshaped(n, dims, constant(n, 1, "shape"));
    if (out == dims)
      return set_value(n, in);
    if (out.size() != 2 || out[0] != 1)
      refuse(n, "reshapes " + in.shape.to_string() + " per sample to " +
                    Shape(std::span<const std::int64_t>(out)).to_string() +
                    " (only the flatten kind, [batch, -1], is supported)");
    append(n, in, {{"type", "Flatten"}}, Shape{in.shape.numel()}, "flatten");
  }

  void pad(const onnx::NodeProto& n) {
    const Value& in = data(n, 0);
    if (string_attribute(n, "mode", std::string("constant"), who_) != "constant")
      refuse(n, "only constant (zero) padding is supported");
    std::vector<std::int64_t> pads = ints_attribute(n, "pads", who_);
    if (const auto* c = optional_constant(n, 1, "pads"))
      for (double v : c->values)
        pads.push_back(static_cast<std::int64_t>(v));
    if (const auto* v = optional_constant(n, 2, "constant value"))
      if (std::any_of(v->values.begin(), v->values.end(), [](double x) { return x != 0.0; }))
        refuse(n, "only zero padding is supported");
    if (n.input_size() > 3 && !n.input(3).empty())
      refuse(n, "the axes input is not supported");
    if (in.shape.rank() != 3 || pads.size() != 8 || pads[0] || pads[1] || pads[4] || pads[5] ||
        pads[2] != pads[3] || pads[2] != pads[6] || pads[2] != pads[7] || pads[2] < 0 || pads[2] > 64)
      refuse(n, "only the same zero padding on all four sides of an image is supported");
    if (pads[2] == 0)
      return set_value(n, in);
    const auto p = static_cast<int>(pads[2]);
    Step s;
    s.name = "pad";
    s.onnx = OnnxGraph::describe(n);
    s.node = {{"type", "Pad"}};
    s.pad = p;
    s.shape = Shape{in.shape[0], in.shape[1] + 2 * p, in.shape[2] + 2 * p};
    set_value(n, {extend(in, std::move(s)), s.shape});
  }

  /// DepthToSpace in CRD mode is PyTorch's pixel_shuffle (what torch.onnx writes for it): output
  /// channel c, row y·r + i, column x·r + j reads input channel c·r² + i·r + j at (y, x).
  void depth_to_space(const onnx::NodeProto& n) {
    const Value& in = data(n, 0);
    if (in.shape.rank() != 3)
      refuse(n, "needs an input of shape [channels, height, width], got " + in.shape.to_string());
    const std::int64_t r = int_attr(n, "blocksize", std::nullopt);
    if (r < 1 || r > 64)
      refuse(n, "blocksize " + std::to_string(r) + " is outside [1, 64]");
    const std::string mode = string_attribute(n, "mode", std::string("DCR"), who_);
    if (mode != "CRD")
      refuse(n, "mode '" + mode +
                    "' is not supported (only CRD, PyTorch's pixel_shuffle; DCR, the default, orders the "
                    "input channels block-first)");
    if (in.shape[0] % (r * r) != 0)
      refuse(n, "its " + std::to_string(in.shape[0]) +
                    " input channels are not a multiple of blocksize * blocksize = " + std::to_string(r * r));
    append(n, in, {{"type", "PixelShuffle"}, {"factor", r}},
           Shape{in.shape[0] / (r * r), in.shape[1] * r, in.shape[2] * r}, "pixel_shuffle");
  }

  void pass_through(const onnx::NodeProto& n) {
    only_first_output(n);
    if (n.op_type() == "Dropout" && n.input_size() > 2 && !n.input(2).empty()) {
      const OnnxConstant& training = constant(n, 2, "training_mode");
      if (!training.values.empty() && training.values[0] != 0.0)
        refuse(n, "training_mode is true (inference graphs only)");
    }
    set_value(n, data(n, 0));
  }

  // ----------------------------------------------------------------------------------- the result

  ImportedModel finish() {
    const auto& outputs = g_.graph().output();
    if (outputs.size() != 1)
      throw io_error(who_ + ": the graph has " + std::to_string(outputs.size()) +
                     " outputs (the importer takes networks with one)");
    const auto it = values_.find(outputs[0].name());
    if (it == values_.end())
      throw io_error(who_ + ": graph output '" + outputs[0].name() + "' does not depend on the input");
    if (!it->second.end)
      throw io_error(who_ + ": the graph output is its input (no layers)");
    WrittenNetwork written = write_network(it->second.end, who_);
    json doc = {{"a2q_architecture", architecture_version},
                {"input", std::vector<std::int64_t>(input_.begin(), input_.end())},
                {"network", std::move(written.network)}};
    Rng rng(0);
    Architecture built;
    try {
      built = build_architecture(doc.dump(), rng, nullptr, /*check_shapes=*/true);
    } catch (const error& e) {
      throw io_error(who_ + ": the imported network does not build: " + e.what());
    }
    nn::NamedTensors state = built.network->state_dict();
    for (auto& [name, value] : written.params) {
      const std::string& wanted = name; // clang 14 cannot capture a structured binding
      const auto at =
          std::find_if(state.begin(), state.end(), [&](const auto& e) { return e.first == wanted; });
      if (at == state.end() || at->second.shape() != value.shape())
        throw internal_error(who_ + ": the imported parameter '" + name + "' has no place in the network");
      at->second = std::move(value);
    }
    built.network->load_state_dict(state);
    built.network->eval();
    check_integers(*built.network, written.integers);

    ImportedModel m;
    m.input = built.input;
    m.model = std::move(built.network);
    m.quantized = quantized_;
    const auto& model = g_.model();
    m.metadata.emplace_back("source", quantized_ ? "qonnx" : "onnx");
    m.metadata.emplace_back("onnx_producer",
                            model.producer_name() +
                                (model.producer_version().empty() ? "" : " " + model.producer_version()));
    m.metadata.emplace_back("onnx_opset", std::to_string(g_.opset()));
    const auto [mean, stddev] = normalization();
    m.metadata.emplace_back(input_mean_key, join_numbers(mean));
    m.metadata.emplace_back(input_std_key, join_numbers(stddev));
    return m;
  }

  /// The normalisation: the options', else the one an a2q-written file records, else none.
  std::pair<std::vector<float>, std::vector<float>> normalization() const {
    const std::int64_t C = input_.rank() == 3 ? input_[0] : 1;
    std::vector<float> mean = options_.mean, stddev = options_.stddev;
    if (mean.empty() && stddev.empty() && meta_.count("a2q.input_mean") && meta_.count("a2q.input_std")) {
      mean = parse_numbers(meta_.at("a2q.input_mean"), who_ + ": metadata a2q.input_mean");
      stddev = parse_numbers(meta_.at("a2q.input_std"), who_ + ": metadata a2q.input_std");
    }
    if (mean.empty() && stddev.empty()) {
      mean.assign(static_cast<std::size_t>(C), 0.0f);
      stddev.assign(static_cast<std::size_t>(C), 1.0f);
    }
    if (static_cast<std::int64_t>(mean.size()) != C || static_cast<std::int64_t>(stddev.size()) != C)
      throw io_error(who_ +
                     ": the input normalisation needs one mean and one standard deviation per input "
                     "channel (" +
                     std::to_string(C) + "), got " + std::to_string(mean.size()) + " and " +
                     std::to_string(stddev.size()));
    for (float s : stddev)
      if (!(s > 0.0f))
        throw io_error(who_ + ": a standard deviation of the input normalisation is not positive");
    return {mean, stddev};
  }

  /// The quantized layers built from the file hold exactly its integer weights.
  void check_integers(const nn::Module& model,
                      const std::vector<std::pair<std::string, std::vector<std::int32_t>>>& expected) const {
    std::map<std::string, const nn::QuantLayer*> layers;
    model.visit("", [&](const std::string& prefix, const nn::Module& m) {
      if (const auto* q = dynamic_cast<const nn::QuantLayer*>(&m))
        layers[prefix.substr(0, prefix.size() - 1)] = q;
    });
    for (const auto& [path, ints] : expected) {
      const auto it = layers.find(path);
      if (it == layers.end())
        throw internal_error(who_ + ": imported layer '" + path + "' is missing");
      const Tensor<std::int32_t> got = it->second->weight_quant.integers();
      if (got.numel() != static_cast<std::int64_t>(ints.size()) ||
          !std::equal(ints.begin(), ints.end(), got.data()))
        throw internal_error(who_ + ": layer '" + path + "' does not reproduce the file's integer weights");
    }
  }

  const OnnxGraph& g_;
  std::string who_;
  OnnxImportOptions options_;
  std::map<std::string, OnnxConstant> consts_;
  std::map<std::string, Value> values_;
  std::map<std::string, QuantizedConstant> qconsts_;
  std::map<std::string, std::string> meta_;
  Shape input_;
  bool quantized_ = false;
};

} // namespace
} // namespace a2q::io::detail

namespace a2q::io {

ImportedModel import_onnx_bytes(std::string_view bytes, const std::string& who,
                                const OnnxImportOptions& options) {
  const detail::OnnxGraph graph(bytes, who);
  return detail::Importer(graph, options).run();
}

ImportedModel import_onnx(const std::filesystem::path& path, const OnnxImportOptions& options) {
  ImportedModel m = import_onnx_bytes(detail::read_file(path), path.string(), options);
  m.metadata.insert(m.metadata.begin(), {"onnx_file", path.filename().string()});
  return m;
}

} // namespace a2q::io
