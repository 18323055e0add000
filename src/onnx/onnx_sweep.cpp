// io::sweep_accumulators (see a2q/onnx/onnx_audit.hpp): a small reference interpreter for quantized ONNX
// graphs. The quantized layers the audit found run on their integers through an engine::Accumulator of
// the chosen width and policy; every other op runs in double precision on the batch.

#include "onnx_audit_programs.hpp"
#include "onnx_graph.hpp"

#include <a2q/engine/accumulator.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace a2q::io::detail {
namespace {

/// A tensor of the run: dimensions (batch first on the data path) and values.
struct Array {
  std::vector<std::int64_t> dims;
  std::vector<double> v;
  std::int64_t numel() const { return static_cast<std::int64_t>(v.size()); }
};

Array from_constant(const OnnxConstant& c) {
  return Array{c.dims, c.values};
}

std::int64_t product(const std::vector<std::int64_t>& d, std::size_t from = 0) {
  std::int64_t p = 1;
  for (std::size_t i = from; i < d.size(); ++i)
    p *= d[i];
  return p;
}

struct LayerStats {
  std::int64_t events = 0, affected = 0;
};

class Runner {
public:
  Runner(const OnnxGraph& g, const std::map<std::string, LayerProgram>& programs, int P,
         engine::OverflowPolicy policy)
      : g_(g), who_(g.who()), programs_(programs), P_(P), policy_(policy) {}

  /// The graph's output for one batch.
  Array run(Array input, LayerStats& stats) {
    stats_ = &stats;
    values_.clear();
    values_[g_.data_inputs().front()->name()] = std::move(input);
    for (const onnx::NodeProto* n : g_.nodes())
      if (!(n->op_type() == "Constant" && (n->domain().empty() || n->domain() == "ai.onnx")))
        values_[n->output(0)] = execute(*n);
    return get(g_.graph().output(0).name());
  }

private:
  [[noreturn]] void refuse(const onnx::NodeProto& n, const std::string& why) const {
    throw io_error(who_ + ": " + OnnxGraph::describe(n) + ": the accumulator sweep cannot run it: " + why);
  }

  const Array& get(const std::string& name) {
    if (const auto it = values_.find(name); it != values_.end())
      return it->second;
    const OnnxConstant* c = g_.constant(name);
    if (c == nullptr)
      throw io_error(who_ + ": tensor '" + name + "' has no value in the sweep");
    return values_[name] = from_constant(*c);
  }

  const Array* input(const onnx::NodeProto& n, int i) {
    if (i >= n.input_size() || n.input(i).empty())
      return nullptr;
    return &get(n.input(i));
  }

  static double scalar(const Array* a, double fallback) { return a == nullptr ? fallback : a->v.at(0); }

  // ------------------------------------------------------------------------------------- dispatch

  Array execute(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    if ((op == "Conv" || op == "Gemm" || op == "MatMul" || op == "QLinearConv" || op == "QLinearMatMul" ||
         op == "ConvInteger" || op == "MatMulInteger") &&
        programs_.count(n.name().empty() ? n.output(0) : n.name()))
      return quantized_layer(n, programs_.at(n.name().empty() ? n.output(0) : n.name()));
    if (op == "Quant" || op == "IntQuant")
      return qonnx_quant(n);
    if (op == "QuantizeLinear")
      return quantize_linear(n);
    if (op == "DequantizeLinear")
      return dequantize_linear(n);
    if (op == "Conv")
      return float_conv(n);
    if (op == "Gemm" || op == "MatMul")
      return float_matmul(n);
    if (op == "Relu")
      return map(*input(n, 0), [](double x) { return std::max(x, 0.0); });
    if (op == "Clip") {
      const double lo = input(n, 1) ? input(n, 1)->v.at(0) : float_attribute(n, "min", -1e300, who_);
      const double hi = input(n, 2) ? input(n, 2)->v.at(0) : float_attribute(n, "max", 1e300, who_);
      return map(*input(n, 0), [=](double x) { return std::clamp(x, lo, hi); });
    }
    if (op == "Identity" || op == "Dropout")
      return *input(n, 0);
    if (op == "Cast") {
      const std::int64_t to = int_attribute(n, "to", {}, who_);
      const bool to_int = to != onnx::TensorProto::FLOAT && to != onnx::TensorProto::DOUBLE;
      return map(*input(n, 0), [=](double x) {
        return to_int ? std::trunc(x) : static_cast<double>(static_cast<float>(x));
      });
    }
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div")
      return elementwise(n);
    if (op == "MaxPool" || op == "AveragePool")
      return pool(n);
    if (op == "GlobalAveragePool")
      return global_pool(n);
    if (op == "Flatten" || op == "Reshape" || op == "Squeeze" || op == "Unsqueeze")
      return reshape(n);
    if (op == "Shape") {
      const Array& x = *input(n, 0);
      Array s{{static_cast<std::int64_t>(x.dims.size())}, {}};
      for (auto d : x.dims)
        s.v.push_back(static_cast<double>(d));
      return s;
    }
    if (op == "Gather" && input(n, 0)->dims.size() == 1) {
      const Array& x = *input(n, 0);
      const Array& idx = *input(n, 1);
      Array out{idx.dims, {}};
      for (double i : idx.v)
        out.v.push_back(x.v.at(static_cast<std::size_t>(i < 0 ? i + static_cast<double>(x.v.size()) : i)));
      return out;
    }
    if (op == "Concat" && input(n, 0)->dims.size() <= 1) {
      Array out{{0}, {}};
      for (int i = 0; i < n.input_size(); ++i)
        out.v.insert(out.v.end(), input(n, i)->v.begin(), input(n, i)->v.end());
      out.dims = {static_cast<std::int64_t>(out.v.size())};
      return out;
    }
    if (op == "Pad")
      return pad(n);
    if (op == "BatchNormalization")
      return batch_norm(n);
    if (op == "Softmax")
      return *input(n, 0); // argmax is unchanged
    refuse(n, "the op is not supported by the sweep (the static audit above does not depend on it)");
  }

  template <class F>
  static Array map(const Array& a, F f) {
    Array out = a;
    for (double& x : out.v)
      x = f(x);
    return out;
  }

  Array elementwise(const onnx::NodeProto& n) {
    const Array& a = *input(n, 0);
    const Array& b = *input(n, 1);
    std::vector<std::int64_t> dims(std::max(a.dims.size(), b.dims.size()), 1);
    const auto align = [&](const Array& x) {
      std::vector<std::int64_t> d(dims.size(), 1);
      std::copy(x.dims.begin(), x.dims.end(),
                d.begin() + static_cast<std::ptrdiff_t>(dims.size() - x.dims.size()));
      return d;
    };
    const auto da = align(a), db = align(b);
    for (std::size_t i = 0; i < dims.size(); ++i) {
      if (da[i] != db[i] && da[i] != 1 && db[i] != 1)
        refuse(n, "the shapes do not broadcast");
      dims[i] = std::max(da[i], db[i]);
    }
    Array out{dims, std::vector<double>(static_cast<std::size_t>(product(dims)))};
    std::vector<std::int64_t> idx(dims.size(), 0);
    const std::string& op = n.op_type();
    for (std::size_t flat = 0; flat < out.v.size(); ++flat) {
      std::int64_t ia = 0, ib = 0;
      for (std::size_t i = 0; i < dims.size(); ++i) {
        ia = ia * da[i] + (da[i] == 1 ? 0 : idx[i]);
        ib = ib * db[i] + (db[i] == 1 ? 0 : idx[i]);
      }
      const double x = a.v[static_cast<std::size_t>(ia)], y = b.v[static_cast<std::size_t>(ib)];
      out.v[flat] = op == "Add" ? x + y : op == "Sub" ? x - y : op == "Mul" ? x * y : x / y;
      for (std::size_t i = dims.size(); i-- > 0;) {
        if (++idx[i] < dims[i])
          break;
        idx[i] = 0;
      }
    }
    return out;
  }

  // ----------------------------------------------------------------------------------- quantizers

  Array qonnx_quant(const onnx::NodeProto& n) {
    const Array& x = *input(n, 0);
    const Array& s = *input(n, 1);
    const Array& z = *input(n, 2);
    const int b = static_cast<int>(input(n, 3)->v.at(0));
    const bool sgn = int_attribute(n, "signed", 1, who_) != 0,
               narrow = int_attribute(n, "narrow", 0, who_) != 0;
    const double lo = sgn ? -std::ldexp(1.0, b - 1) + (narrow ? 1 : 0) : 0.0;
    const double hi = sgn ? std::ldexp(1.0, b - 1) - 1 : std::ldexp(1.0, b) - 1 - (narrow ? 1 : 0);
    if (s.v.size() != 1 || z.v.size() != 1)
      return per_channel_quant(n, x, s, z, lo, hi);
    Array out = x;
    for (double& v : out.v)
      v = (std::nearbyint(std::clamp(
               static_cast<double>(static_cast<float>(v) / static_cast<float>(s.v[0])) + z.v[0], lo, hi)) -
           z.v[0]) *
          s.v[0];
    return out;
  }

  /// A Quant with per-channel (axis 0) scale: only weights, whose values the quantized layers do not read.
  Array per_channel_quant(const onnx::NodeProto&, const Array& x, const Array& s, const Array& z, double lo,
                          double hi) {
    Array out = x;
    const std::int64_t per = x.dims.empty() ? 1 : x.numel() / x.dims[0];
    for (std::size_t i = 0; i < out.v.size(); ++i) {
      const auto c = static_cast<std::size_t>(static_cast<std::int64_t>(i) / per);
      const double sc = s.v.size() == 1 ? s.v[0] : s.v[c], zc = z.v.size() == 1 ? z.v[0] : z.v[c];
      out.v[i] = (std::nearbyint(std::clamp(out.v[i] / sc + zc, lo, hi)) - zc) * sc;
    }
    return out;
  }

  static std::pair<double, double> type_range(const Array* zp_holder, const OnnxConstant* zp) {
    (void)zp_holder;
    if (zp == nullptr || zp->data_type == onnx::TensorProto::UINT8)
      return {0, 255};
    if (zp->data_type == onnx::TensorProto::INT8)
      return {-128, 127};
    if (zp->data_type == onnx::TensorProto::UINT16)
      return {0, 65535};
    return {-32768, 32767};
  }

  Array quantize_linear(const onnx::NodeProto& n) {
    const Array& x = *input(n, 0);
    const double s = input(n, 1)->v.at(0);
    const OnnxConstant* zc = n.input_size() > 2 && !n.input(2).empty() ? g_.constant(n.input(2)) : nullptr;
    const double z = zc ? zc->values.at(0) : 0.0;
    const auto range = type_range(nullptr, zc);
    if (input(n, 1)->v.size() != 1)
      return x; // a per-axis weight quantizer: the layers use the audit's integers
    const double lo = range.first, hi = range.second;
    return map(x, [=](double v) { return std::clamp(std::nearbyint(v / s) + z, lo, hi); });
  }

  Array dequantize_linear(const onnx::NodeProto& n) {
    const Array& q = *input(n, 0);
    const Array& s = *input(n, 1);
    const Array* z = input(n, 2);
    if (s.v.size() == 1 && (z == nullptr || z->v.size() == 1)) {
      const double sc = s.v[0], zc = scalar(z, 0.0);
      return map(q, [=](double v) { return (v - zc) * sc; });
    }
    // per-axis: a weight or a bias
    std::int64_t axis = int_attribute(n, "axis", 1, who_);
    if (axis < 0)
      axis += static_cast<std::int64_t>(q.dims.size());
    const std::int64_t inner = product(q.dims, static_cast<std::size_t>(axis) + 1);
    const std::int64_t extent = q.dims.at(static_cast<std::size_t>(axis));
    Array out = q;
    for (std::size_t i = 0; i < out.v.size(); ++i) {
      const auto a = static_cast<std::size_t>((static_cast<std::int64_t>(i) / inner) % extent);
      out.v[i] = (out.v[i] - (z == nullptr       ? 0.0
                              : z->v.size() == 1 ? z->v[0]
                                                 : z->v[a])) *
                 (s.v.size() == 1 ? s.v[0] : s.v[a]);
    }
    return out;
  }

  // --------------------------------------------------------------------------------------- layers

  struct ConvShape {
    std::int64_t N = 1, C = 0, H = 0, W = 0, OC = 0, groups = 1, kh = 1, kw = 1, stride_h = 1, stride_w = 1;
    std::int64_t pad_t = 0, pad_l = 0, pad_b = 0, pad_r = 0, OH = 0, OW = 0;
  };

  ConvShape conv_shape(const onnx::NodeProto& n, const Array& x, std::int64_t OC, std::int64_t kh,
                       std::int64_t kw) const {
    if (x.dims.size() != 4)
      refuse(n, "needs a 4-D input");
    ConvShape s;
    s.N = x.dims[0];
    s.C = x.dims[1];
    s.H = x.dims[2];
    s.W = x.dims[3];
    s.OC = OC;
    s.kh = kh;
    s.kw = kw;
    s.groups = int_attribute(n, "group", 1, who_);
    const auto strides = ints_attribute(n, "strides", who_);
    if (!strides.empty()) {
      s.stride_h = strides.at(0);
      s.stride_w = strides.at(1);
    }
    const auto pads = ints_attribute(n, "pads", who_);
    if (!pads.empty()) {
      s.pad_t = pads.at(0);
      s.pad_l = pads.at(1);
      s.pad_b = pads.at(2);
      s.pad_r = pads.at(3);
    }
    for (auto d : ints_attribute(n, "dilations", who_))
      if (d != 1)
        refuse(n, "dilations other than 1");
    if (string_attribute(n, "auto_pad", std::string("NOTSET"), who_) != "NOTSET" &&
        string_attribute(n, "auto_pad", std::string("NOTSET"), who_) != "VALID")
      refuse(n, "auto_pad other than NOTSET or VALID");
    s.OH = (s.H + s.pad_t + s.pad_b - kh) / s.stride_h + 1;
    s.OW = (s.W + s.pad_l + s.pad_r - kw) / s.stride_w + 1;
    return s;
  }

  /// Calls f(n, oc, output index, taps) for every output, where taps lists the input index under each
  /// weight position k (-1 for padding). The taps of a window are shared by the channels of its group.
  template <class F>
  static void for_each_output(const ConvShape& s, F f) {
    const std::int64_t cin_g = s.C / s.groups, oc_g = s.OC / s.groups;
    std::vector<std::int64_t> taps(static_cast<std::size_t>(cin_g * s.kh * s.kw));
    for (std::int64_t n = 0; n < s.N; ++n)
      for (std::int64_t g = 0; g < s.groups; ++g)
        for (std::int64_t oy = 0; oy < s.OH; ++oy)
          for (std::int64_t ox = 0; ox < s.OW; ++ox) {
            std::size_t k = 0;
            for (std::int64_t ic = 0; ic < cin_g; ++ic)
              for (std::int64_t ky = 0; ky < s.kh; ++ky)
                for (std::int64_t kx = 0; kx < s.kw; ++kx) {
                  const std::int64_t y = oy * s.stride_h - s.pad_t + ky, x = ox * s.stride_w - s.pad_l + kx;
                  taps[k++] = y < 0 || y >= s.H || x < 0 || x >= s.W
                                  ? -1
                                  : ((n * s.C + g * cin_g + ic) * s.H + y) * s.W + x;
                }
            for (std::int64_t oc = g * oc_g; oc < (g + 1) * oc_g; ++oc)
              f(n, oc, ((n * s.OC + oc) * s.OH + oy) * s.OW + ox, taps);
          }
  }

  /// The integers a quantized layer multiplies, from its input tensor.
  std::vector<std::int64_t> input_integers(const onnx::NodeProto& n, const Array& x,
                                           const LayerProgram& p) const {
    std::vector<std::int64_t> q(x.v.size());
    const bool dequantized = p.form == "qonnx" || p.form == "qdq";
    for (std::size_t i = 0; i < q.size(); ++i) {
      const double v = dequantized && p.input_scale != 0.0 ? x.v[i] / p.input_scale : x.v[i];
      const double r = std::nearbyint(v);
      if (std::abs(v - r) > 1e-3 * std::max(1.0, std::abs(r)))
        refuse(n, "its input is not on the quantizer's integer grid (a float op changed it)");
      q[i] = static_cast<std::int64_t>(r) - (dequantized ? 0 : p.input_zero_point);
    }
    return q;
  }

  /// One output: the bias plus the products, exactly when the layer cannot overflow P, else through the
  /// register.
  std::int64_t accumulate(const LayerProgram& p, std::int64_t oc, const std::vector<std::int64_t>& taps,
                          const std::vector<std::int64_t>& x, engine::Accumulator& acc) {
    const std::int32_t* w = p.weights.data() + oc * p.K;
    const std::int64_t bias = p.bias.empty() ? 0 : p.bias[static_cast<std::size_t>(oc)];
    if (p.needed_bits_with_bias <= P_) {
      std::int64_t sum = bias;
      for (std::size_t k = 0; k < taps.size(); ++k)
        if (taps[k] >= 0)
          sum += static_cast<std::int64_t>(w[k]) * x[static_cast<std::size_t>(taps[k])];
      return sum;
    }
    acc.reset(bias);
    for (std::size_t k = 0; k < taps.size(); ++k)
      acc.add(taps[k] >= 0 ? static_cast<std::int64_t>(w[k]) * x[static_cast<std::size_t>(taps[k])] : 0);
    stats_->events += acc.overflow_events();
    stats_->affected += acc.final_affected() ? 1 : 0;
    return acc.value();
  }

  /// The graph's value of an accumulator result.
  static double output_value(const LayerProgram& p, std::int64_t oc, std::int64_t acc) {
    const double sw = p.weight_scale.empty()
                          ? 1.0
                          : p.weight_scale[p.weight_scale.size() == 1 ? 0 : static_cast<std::size_t>(oc)];
    if (p.form == "qlinear")
      return std::clamp(std::nearbyint(static_cast<double>(acc) * p.input_scale * sw / p.output_scale) +
                            static_cast<double>(p.output_zero_point),
                        static_cast<double>(p.output_lo), static_cast<double>(p.output_hi));
    if (p.form == "integer")
      return static_cast<double>(acc);
    return static_cast<double>(acc) * (p.input_scale == 0.0 ? 1.0 : p.input_scale) * sw;
  }

  Array quantized_layer(const onnx::NodeProto& n, const LayerProgram& p) {
    const Array& x = *input(n, 0);
    const std::vector<std::int64_t> xi = input_integers(n, x, p);
    engine::Accumulator acc(P_, policy_);
    const std::string& op = n.op_type();
    if (op == "Conv" || op == "QLinearConv" || op == "ConvInteger") {
      const std::int64_t kh = p.kernel_h, kw = p.kernel_w;
      const ConvShape s = conv_shape(n, x, p.out, kh, kw);
      Array out{{s.N, s.OC, s.OH, s.OW},
                std::vector<double>(static_cast<std::size_t>(s.N * s.OC * s.OH * s.OW))};
      for_each_output(
          s, [&](std::int64_t, std::int64_t oc, std::int64_t o, const std::vector<std::int64_t>& taps) {
            out.v[static_cast<std::size_t>(o)] = output_value(p, oc, accumulate(p, oc, taps, xi, acc));
          });
      return out;
    }
    // a matrix product: rows of the input times the layer's channels
    const std::int64_t rows = x.numel() / p.K;
    if (rows * p.K != x.numel())
      refuse(n, "its input does not hold rows of " + std::to_string(p.K) + " values");
    std::vector<std::int64_t> taps(static_cast<std::size_t>(p.K));
    Array out{{rows, p.out}, std::vector<double>(static_cast<std::size_t>(rows * p.out))};
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t k = 0; k < p.K; ++k)
        taps[static_cast<std::size_t>(k)] = r * p.K + k;
      for (std::int64_t oc = 0; oc < p.out; ++oc)
        out.v[static_cast<std::size_t>(r * p.out + oc)] =
            output_value(p, oc, accumulate(p, oc, taps, xi, acc));
    }
    return out;
  }

  Array float_conv(const onnx::NodeProto& n) {
    const Array& x = *input(n, 0);
    const Array& w = *input(n, 1);
    const Array* b = input(n, 2);
    if (w.dims.size() != 4)
      refuse(n, "needs a 4-D weight");
    const ConvShape s = conv_shape(n, x, w.dims[0], w.dims[2], w.dims[3]);
    Array out{{s.N, s.OC, s.OH, s.OW},
              std::vector<double>(static_cast<std::size_t>(s.N * s.OC * s.OH * s.OW))};
    const std::int64_t K = w.numel() / s.OC;
    for_each_output(
        s, [&](std::int64_t, std::int64_t oc, std::int64_t o, const std::vector<std::int64_t>& taps) {
          double sum = b ? b->v[static_cast<std::size_t>(oc)] : 0.0;
          for (std::size_t k = 0; k < taps.size(); ++k)
            if (taps[k] >= 0)
              sum += w.v[static_cast<std::size_t>(oc * K) + k] * x.v[static_cast<std::size_t>(taps[k])];
          out.v[static_cast<std::size_t>(o)] = sum;
        });
    return out;
  }

  Array float_matmul(const onnx::NodeProto& n) {
    const Array& a = *input(n, 0);
    const Array& w = *input(n, 1);
    const Array* c = input(n, 2);
    const bool gemm = n.op_type() == "Gemm";
    const bool tb = gemm && int_attribute(n, "transB", 0, who_) != 0;
    if (w.dims.size() != 2)
      refuse(n, "needs a 2-D weight");
    const std::int64_t K = tb ? w.dims[1] : w.dims[0], N = tb ? w.dims[0] : w.dims[1];
    const std::int64_t rows = a.numel() / K;
    const double alpha = gemm ? float_attribute(n, "alpha", 1.0, who_) : 1.0;
    const double beta = gemm ? float_attribute(n, "beta", 1.0, who_) : 1.0;
    Array out{{rows, N}, std::vector<double>(static_cast<std::size_t>(rows * N))};
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t o = 0; o < N; ++o) {
        double sum = 0.0;
        for (std::int64_t k = 0; k < K; ++k)
          sum += a.v[static_cast<std::size_t>(r * K + k)] *
                 w.v[static_cast<std::size_t>(tb ? o * K + k : k * N + o)];
        const double bias = c ? c->v[static_cast<std::size_t>(c->v.size() == 1 ? 0 : o)] : 0.0;
        out.v[static_cast<std::size_t>(r * N + o)] = alpha * sum + beta * bias;
      }
    return out;
  }

  // ------------------------------------------------------------------------------------- shapes

  Array pool(const onnx::NodeProto& n) {
    const Array& x = *input(n, 0);
    const auto ks = ints_attribute(n, "kernel_shape", who_);
    if (ks.size() != 2 || int_attribute(n, "ceil_mode", 0, who_) != 0)
      refuse(n, "needs a 2-D kernel and ceil_mode 0");
    ConvShape s = conv_shape(n, x, x.dims.at(1), ks[0], ks[1]);
    s.groups = s.C; // one channel per window
    const bool average = n.op_type() == "AveragePool";
    const bool include_pad = int_attribute(n, "count_include_pad", 0, who_) != 0;
    Array out{{s.N, s.C, s.OH, s.OW}, std::vector<double>(static_cast<std::size_t>(s.N * s.C * s.OH * s.OW))};
    for_each_output(s,
                    [&](std::int64_t, std::int64_t, std::int64_t o, const std::vector<std::int64_t>& taps) {
                      double acc = average ? 0.0 : -std::numeric_limits<double>::infinity();
                      std::int64_t count = 0;
                      for (const std::int64_t t : taps) {
                        if (t < 0) {
                          count += include_pad ? 1 : 0;
                          continue;
                        }
                        acc = average ? acc + x.v[static_cast<std::size_t>(t)]
                                      : std::max(acc, x.v[static_cast<std::size_t>(t)]);
                        ++count;
                      }
                      out.v[static_cast<std::size_t>(o)] = average ? acc / static_cast<double>(count) : acc;
                    });
    return out;
  }

  Array global_pool(const onnx::NodeProto& n) {
    const Array& x = *input(n, 0);
    if (x.dims.size() != 4)
      refuse(n, "needs a 4-D input");
    const std::int64_t NC = x.dims[0] * x.dims[1], HW = x.dims[2] * x.dims[3];
    Array out{{x.dims[0], x.dims[1], 1, 1}, std::vector<double>(static_cast<std::size_t>(NC))};
    for (std::int64_t i = 0; i < NC; ++i) {
      double s = 0.0;
      for (std::int64_t j = 0; j < HW; ++j)
        s += x.v[static_cast<std::size_t>(i * HW + j)];
      out.v[static_cast<std::size_t>(i)] = s / static_cast<double>(HW);
    }
    return out;
  }

  Array reshape(const onnx::NodeProto& n) {
    Array out = *input(n, 0);
    const std::string& op = n.op_type();
    if (op == "Flatten") {
      std::int64_t axis = int_attribute(n, "axis", 1, who_);
      if (axis < 0)
        axis += static_cast<std::int64_t>(out.dims.size());
      const std::int64_t outer =
          product(std::vector<std::int64_t>(out.dims.begin(), out.dims.begin() + axis));
      out.dims = {outer, out.numel() / std::max<std::int64_t>(outer, 1)};
      return out;
    }
    if (op == "Reshape") {
      const Array& shape = *input(n, 1);
      std::vector<std::int64_t> dims;
      std::int64_t known = 1;
      int infer = -1;
      for (std::size_t i = 0; i < shape.v.size(); ++i) {
        auto d = static_cast<std::int64_t>(shape.v[i]);
        if (d == 0)
          d = out.dims.at(i);
        if (d == -1)
          infer = static_cast<int>(i);
        else
          known *= d;
        dims.push_back(d);
      }
      if (infer >= 0)
        dims[static_cast<std::size_t>(infer)] = out.numel() / std::max<std::int64_t>(known, 1);
      if (product(dims) != out.numel())
        refuse(n, "the shape does not fit");
      out.dims = dims;
      return out;
    }
    // Squeeze / Unsqueeze: keep the batch first and the other dimensions' product
    std::vector<std::int64_t> axes = ints_attribute(n, "axes", who_);
    if (const Array* a = input(n, 1))
      for (double v : a->v)
        axes.push_back(static_cast<std::int64_t>(v));
    if (op == "Unsqueeze") {
      std::sort(axes.begin(), axes.end());
      for (auto a : axes)
        out.dims.insert(out.dims.begin() + (a < 0 ? a + static_cast<std::int64_t>(out.dims.size()) + 1 : a),
                        1);
    } else {
      std::vector<std::int64_t> dims;
      for (std::size_t i = 0; i < out.dims.size(); ++i) {
        const bool listed = std::find(axes.begin(), axes.end(), static_cast<std::int64_t>(i)) != axes.end();
        if (!(out.dims[i] == 1 && (axes.empty() || listed)))
          dims.push_back(out.dims[i]);
      }
      out.dims = dims;
    }
    return out;
  }

  Array pad(const onnx::NodeProto& n) {
    const Array& x = *input(n, 0);
    std::vector<std::int64_t> pads = ints_attribute(n, "pads", who_);
    if (const Array* p = input(n, 1))
      for (double v : p->v)
        pads.push_back(static_cast<std::int64_t>(v));
    const double value = scalar(input(n, 2), 0.0);
    if (x.dims.size() != 4 || pads.size() != 8 || pads[0] || pads[1] || pads[4] || pads[5] ||
        string_attribute(n, "mode", std::string("constant"), who_) != "constant")
      refuse(n, "only constant padding of a 4-D tensor's spatial dimensions");
    const std::int64_t H = x.dims[2] + pads[2] + pads[6], W = x.dims[3] + pads[3] + pads[7];
    Array out{{x.dims[0], x.dims[1], H, W},
              std::vector<double>(static_cast<std::size_t>(x.dims[0] * x.dims[1] * H * W), value)};
    for (std::int64_t nc = 0; nc < x.dims[0] * x.dims[1]; ++nc)
      for (std::int64_t y = 0; y < x.dims[2]; ++y)
        for (std::int64_t xx = 0; xx < x.dims[3]; ++xx)
          out.v[static_cast<std::size_t>((nc * H + y + pads[2]) * W + xx + pads[3])] =
              x.v[static_cast<std::size_t>((nc * x.dims[2] + y) * x.dims[3] + xx)];
    return out;
  }

  Array batch_norm(const onnx::NodeProto& n) {
    Array out = *input(n, 0);
    const Array &g = *input(n, 1), &b = *input(n, 2), &m = *input(n, 3), &v = *input(n, 4);
    const double eps = float_attribute(n, "epsilon", 1e-5, who_);
    const std::int64_t C = out.dims.at(1), inner = product(out.dims, 2);
    for (std::size_t i = 0; i < out.v.size(); ++i) {
      const auto c = static_cast<std::size_t>((static_cast<std::int64_t>(i) / inner) % C);
      out.v[i] = (out.v[i] - m.v[c]) / std::sqrt(v.v[c] + eps) * g.v[c] + b.v[c];
    }
    return out;
  }

  const OnnxGraph& g_;
  std::string who_;
  const std::map<std::string, LayerProgram>& programs_;
  int P_;
  engine::OverflowPolicy policy_;
  std::map<std::string, Array> values_;
  LayerStats* stats_ = nullptr;
};

std::int64_t argmax_row(const Array& y, std::int64_t r) {
  const std::int64_t cols = y.numel() / y.dims.at(0);
  std::int64_t best = 0;
  for (std::int64_t c = 1; c < cols; ++c)
    if (y.v[static_cast<std::size_t>(r * cols + c)] > y.v[static_cast<std::size_t>(r * cols + best)])
      best = c;
  return best;
}

} // namespace
} // namespace a2q::io::detail

namespace a2q::io {

AccumulatorSweep sweep_accumulators(const std::filesystem::path& model, const Tensor<float>& images,
                                    std::span<const std::int32_t> labels, std::span<const int> widths,
                                    std::span<const engine::OverflowPolicy> policies) {
  const std::string text = detail::read_file(model);
  const detail::OnnxGraph graph(text, model.string());
  std::map<std::string, detail::LayerProgram> programs;
  const AuditReport report = detail::audit_graph(graph, &programs);
  if (graph.data_inputs().size() != 1 || graph.graph().output_size() != 1)
    throw io_error(model.string() + ": the sweep runs graphs with one input and one output");
  const auto samples = static_cast<std::int64_t>(labels.size());
  if (images.rank() < 2 || images.dim(0) != samples)
    throw config_error("sweep_accumulators: " + std::to_string(samples) + " labels for images of shape " +
                       images.shape().to_string());

  // the graph's input: the images as they are, or pixel integers for an integer input
  detail::Array input;
  input.dims.assign(images.shape().begin(), images.shape().end());
  input.v.assign(images.begin(), images.end());
  if (report.integer_input)
    for (double& v : input.v)
      v = std::nearbyint(v * 255.0);

  const auto accuracy_at = [&](int P, engine::OverflowPolicy policy, SweepPoint* point) {
    detail::LayerStats stats;
    detail::Runner runner(graph, programs, P, policy);
    const detail::Array y = runner.run(input, stats);
    if (y.dims.empty() || y.dims[0] != samples)
      throw io_error(model.string() + ": the graph's output does not have one row per image");
    std::int64_t correct = 0;
    for (std::int64_t r = 0; r < samples; ++r)
      correct += detail::argmax_row(y, r) == labels[static_cast<std::size_t>(r)];
    if (point != nullptr) {
      point->overflow_events = stats.events;
      point->affected_outputs = stats.affected;
    }
    return static_cast<double>(correct) / static_cast<double>(std::max<std::int64_t>(samples, 1));
  };

  AccumulatorSweep sweep;
  sweep.samples = samples;
  sweep.exact_accuracy = accuracy_at(64, engine::OverflowPolicy::wrap, nullptr);
  int proven_from = 2; // from this width on, no layer can overflow: every run is the exact one
  for (const auto& l : report.layers)
    proven_from = std::max(proven_from, l.needed_bits_with_bias);
  for (const int P : widths)
    for (const auto policy : policies) {
      SweepPoint point;
      point.accumulator_bits = P;
      point.policy = policy;
      point.accuracy = P >= proven_from ? sweep.exact_accuracy : accuracy_at(P, policy, &point);
      sweep.points.push_back(point);
    }
  return sweep;
}

} // namespace a2q::io
