#pragma once
/// @file
/// Definitions for c_header.hpp (see a2q/core/config.hpp).

#include "a2q/io/c_header.hpp"

#include "a2q/core/error.hpp"
#include "a2q/engine/integer_model.hpp"
#include "a2q/engine/verify.hpp"
#include "a2q/io/atomic_file.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

namespace a2q::io::detail {

/// The generic C functions, with {P} standing for the prefix.
inline constexpr const char* c_header_functions = R"C(
static inline int64_t {P}_floor_shift(int64_t t, int point) {
  /* floor(t / 2^point) without relying on the sign behaviour of >> */
  return t >= 0 ? (t >> point) : -(((-t) - 1) >> point) - 1;
}

static inline int32_t {P}_round_clamp(int64_t t, int point, int32_t lo, int32_t hi) {
  int64_t q = {P}_floor_shift(t, point);
  if (point > 0) {
    const int64_t rest = t - q * ((int64_t)1 << point);
    const int64_t half = (int64_t)1 << (point - 1);
    if (rest > half || (rest == half && (q & 1) != 0))
      ++q;
  }
  return q < lo ? lo : q > hi ? hi : (int32_t)q;
}

static inline void {P}_requantize(const int64_t* a, const int64_t* b, int64_t channels, int64_t plane,
                           const int64_t* m1, const int64_t* m2, const int64_t* offset, const int8_t* point,
                           int32_t lo, int32_t hi, int32_t* out) {
  int64_t c, i;
  for (c = 0; c < channels; ++c)
    for (i = 0; i < plane; ++i) {
      const int64_t k = c * plane + i;
      int64_t t = a[k] * m1[c] + offset[c];
      if (b)
        t += b[k] * m2[c];
      out[k] = {P}_round_clamp(t, point[c], lo, hi);
    }
}

static inline void {P}_widen(const int32_t* q, int64_t n, int64_t* out) {
  int64_t i;
  for (i = 0; i < n; ++i)
    out[i] = q[i];
}

static inline void {P}_relu(const int32_t* x, int64_t n, int32_t* out) {
  int64_t i;
  for (i = 0; i < n; ++i)
    out[i] = x[i] > 0 ? x[i] : 0;
}

static inline void {P}_copy(const int32_t* x, int64_t n, int32_t* out) {
  int64_t i;
  for (i = 0; i < n; ++i)
    out[i] = x[i];
}

static inline void {P}_max_pool(const int32_t* x, int64_t C, int64_t H, int64_t W, int k, int s, int p, int64_t Ho,
                         int64_t Wo, int32_t* out) {
  int64_t c, oy, ox;
  int ky, kx;
  for (c = 0; c < C; ++c)
    for (oy = 0; oy < Ho; ++oy)
      for (ox = 0; ox < Wo; ++ox) {
        int32_t best = INT32_MIN;
        for (ky = 0; ky < k; ++ky)
          for (kx = 0; kx < k; ++kx) {
            const int64_t iy = oy * s - p + ky, ix = ox * s - p + kx;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W && x[(c * H + iy) * W + ix] > best)
              best = x[(c * H + iy) * W + ix];
          }
        out[(c * Ho + oy) * Wo + ox] = best;
      }
}

static inline void {P}_sum_pool(const int32_t* x, int64_t C, int64_t H, int64_t W, int kh, int kw, int s, int p,
                         int64_t Ho, int64_t Wo, int64_t* out) {
  int64_t c, oy, ox;
  int ky, kx;
  for (c = 0; c < C; ++c)
    for (oy = 0; oy < Ho; ++oy)
      for (ox = 0; ox < Wo; ++ox) {
        int64_t sum = 0;
        for (ky = 0; ky < kh; ++ky)
          for (kx = 0; kx < kw; ++kx) {
            const int64_t iy = oy * s - p + ky, ix = ox * s - p + kx;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W)
              sum += x[(c * H + iy) * W + ix];
          }
        out[(c * Ho + oy) * Wo + ox] = sum;
      }
}

static inline void {P}_dequantize(const int64_t* v, int64_t channels, int64_t plane, const double* scale,
                           const double* offset, float* out) {
  int64_t c, i;
  for (c = 0; c < channels; ++c)
    for (i = 0; i < plane; ++i)
      out[c * plane + i] = (float)((double)v[c * plane + i] * scale[c] + offset[c]);
}

/* Sub-pixel upscaling of the output: [C*r*r, H, W] -> [C, H*r, W*r], PyTorch's order. */
static inline void {P}_pixel_shuffle(const float* in, int64_t C, int64_t H, int64_t W, int64_t r, float* out) {
  int64_t c, i, j, h, w;
  for (c = 0; c < C; ++c)
    for (i = 0; i < r; ++i)
      for (j = 0; j < r; ++j)
        for (h = 0; h < H; ++h)
          for (w = 0; w < W; ++w)
            out[(c * H * r + h * r + i) * W * r + w * r + j] = in[((c * r + i) * r + j) * H * W + h * W + w];
}
)C";

/// Dense and convolution kernels for one weight type {T} (suffix {S}).
inline constexpr const char* c_header_layer_functions = R"C(
static inline void {P}_linear_{S}(const int32_t* x, int64_t K, int64_t C, const {T}* w, const int64_t* start,
                           int64_t* out) {
  int64_t c, k;
  for (c = 0; c < C; ++c) {
    int64_t acc = start ? start[c] : 0;
    for (k = 0; k < K; ++k)
      acc += (int64_t)w[c * K + k] * x[k];
    out[c] = acc;
  }
}

static inline void {P}_conv2d_{S}(const int32_t* x, int64_t Cin, int64_t H, int64_t W, const {T}* w, int64_t Cout,
                           int kh, int kw, int s, int p, int64_t groups, const int64_t* start, int64_t Ho,
                           int64_t Wo, int64_t* out) {
  const int64_t cin_g = Cin / groups, cout_g = Cout / groups;
  int64_t co, oy, ox, ci;
  int ky, kx;
  for (co = 0; co < Cout; ++co) {
    const int64_t first = (co / cout_g) * cin_g;
    const {T}* wc = w + co * cin_g * kh * kw;
    for (oy = 0; oy < Ho; ++oy)
      for (ox = 0; ox < Wo; ++ox) {
        int64_t acc = start ? start[co] : 0;
        for (ci = 0; ci < cin_g; ++ci)
          for (ky = 0; ky < kh; ++ky)
            for (kx = 0; kx < kw; ++kx) {
              const int64_t iy = oy * s - p + ky, ix = ox * s - p + kx;
              if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                acc += (int64_t)wc[(ci * kh + ky) * kw + kx] * x[((first + ci) * H + iy) * W + ix];
            }
        out[(co * Ho + oy) * Wo + ox] = acc;
      }
  }
}
)C";

inline std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

/// A C identifier made from a name ("block1_1.conv2" -> "block1_1_conv2").
inline std::string c_identifier(const std::string& name) {
  std::string out;
  for (const char ch : name)
    out += (std::isalnum(static_cast<unsigned char>(ch)) != 0) ? ch : '_';
  return out;
}

inline std::string c_double(double v) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.17g", v);
  return buffer;
}

inline std::string c_float(float v) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%af", static_cast<double>(v)); // hexadecimal: exact
  return buffer;
}

/// Writes `static const TYPE NAME[n] = {...};` with `per_line` values per line.
template <class Values, class Format>
void c_array(std::ostream& out, const std::string& type, const std::string& name, const Values& values,
             Format format, int per_line = 16) {
  const auto count = static_cast<std::size_t>(std::distance(std::begin(values), std::end(values)));
  out << "static const " << type << " " << name << "[" << std::max<std::size_t>(count, 1) << "] = {";
  std::size_t i = 0;
  for (const auto& v : values) {
    out << (i % static_cast<std::size_t>(per_line) == 0 ? "\n  " : " ") << format(v) << ",";
    ++i;
  }
  if (count == 0)
    out << "0";
  out << "\n};\n";
}

inline std::string c_int64(std::int64_t v) {
  // INT64_MIN has no literal of its own.
  return v == std::numeric_limits<std::int64_t>::min() ? "INT64_MIN" : "INT64_C(" + std::to_string(v) + ")";
}

inline std::int64_t shape_numel(const Shape& s) {
  return s.rank() == 0 ? 1 : s.numel();
}

/// Channels and per-channel plane of a per-sample shape [C, ...].
inline std::pair<std::int64_t, std::int64_t> channels_and_plane(const Shape& s) {
  const std::int64_t C = s.rank() == 0 ? 1 : s[0];
  return {C, shape_numel(s) / std::max<std::int64_t>(C, 1)};
}

} // namespace a2q::io::detail

namespace a2q::io {

void write_c_header(std::ostream& out, const engine::IntegerModel& model, const std::string& prefix) {
  using namespace a2q::io::detail;
  if (prefix.empty() || std::isdigit(static_cast<unsigned char>(prefix[0])) != 0 ||
      c_identifier(prefix) != prefix)
    throw config_error("write_c_header: '" + prefix + "' is not a C identifier");
  // The header states that every layer was proven; the proof is made here, from the integers it writes.
  engine::require_proven(model, "write_c_header");
  const std::string P = prefix;
  std::string guard = P;
  std::transform(guard.begin(), guard.end(), guard.begin(), [](unsigned char c) { return std::toupper(c); });

  const auto& steps = model.steps();
  // The program may flatten the float input before quantizing it; nothing else may come first.
  const auto first_quantize = std::find_if(steps.begin(), steps.end(), [](const engine::IntegerStep& s) {
    return !std::holds_alternative<engine::FlattenOp>(s.op);
  });
  if (first_quantize == steps.end() || !std::holds_alternative<engine::QuantizeInput>(first_quantize->op))
    throw config_error("write_c_header: the program does not start by quantizing its input");
  const auto& input_op = std::get<engine::QuantizeInput>(first_quantize->op);
  if (input_op.options.rounding != quant::RoundingMode::nearest_even)
    throw config_error("write_c_header: the input quantizer must round half to even");
  const Shape input_shape = first_quantize->shape;
  const Shape output_shape = steps.back().shape;

  // Largest |value| each slot can hold, to prove the int64 requantization cannot overflow.
  std::vector<std::int64_t> bound(static_cast<std::size_t>(model.slots()), 0);
  int max_required = 1;
  std::ostringstream data, program;
  bool types_used[3] = {false, false, false}; // int8, int16, int32 weights
  bool wide_used[2] = {false, false};         // int64 copies of quantized requantization inputs
  std::vector<Shape> slot_shape(static_cast<std::size_t>(model.slots()));
  std::vector<bool> slot_is_sum(static_cast<std::size_t>(model.slots()), false); // int64 sums, not int32 q
  const auto last = [&](const engine::IntegerStep& step) { return &step == &steps.back(); };
  for (const engine::IntegerStep& step : steps) {
    if (&step < &*first_quantize)
      continue; // a flatten of the float input: the C input is flat already
    slot_shape[static_cast<std::size_t>(step.output)] = step.shape;
    slot_is_sum[static_cast<std::size_t>(step.output)] =
        std::holds_alternative<engine::LayerOp>(step.op) ||
        std::holds_alternative<engine::SumPoolOp>(step.op) ||
        (std::holds_alternative<engine::FlattenOp>(step.op) &&
         slot_is_sum[static_cast<std::size_t>(step.inputs.at(0))]);
    const std::string id = P + "_" + c_identifier(step.name);
    const auto in = [&](std::size_t i) { return step.inputs.at(i); };
    const auto slot = [&](int s) { return P + "_v" + std::to_string(s); };
    const auto input_bound = [&](std::size_t i) { return bound[static_cast<std::size_t>(in(i))]; };
    std::int64_t& out_bound = bound[static_cast<std::size_t>(step.output)];
    const std::int64_t n_out = shape_numel(step.shape);
    if (std::holds_alternative<engine::QuantizeInput>(step.op)) {
      const quant::IntFormat& f = input_op.options.format;
      out_bound = std::max(std::abs(f.qmin()), std::abs(f.qmax()));
      program << "  " << P << "_copy(input_q, " << n_out << ", " << slot(step.output) << ");\n";
    } else if (const auto* op = std::get_if<engine::LayerOp>(&step.op)) {
      const nn::IntegerLayer& l = op->layer;
      max_required = std::max(max_required, l.required_bits());
      const InputRange range = l.input_range();
      for (std::int64_t c = 0; c < l.out_channels; ++c) {
        const AccumulatorRange r = worst_case_accumulator(l.channel(c), range, l.accumulator_start(c));
        out_bound =
            std::max({out_bound, r.hi, r.lo == std::numeric_limits<std::int64_t>::min() ? r.lo + 1 : -r.lo});
      }
      const auto [lo, hi] = std::minmax_element(l.weights.begin(), l.weights.end());
      const int type = (*lo >= -128 && *hi <= 127) ? 0 : (*lo >= -32768 && *hi <= 32767) ? 1 : 2;
      types_used[type] = true;
      const char* ctype[3] = {"int8_t", "int16_t", "int32_t"};
      const char* suffix[3] = {"i8", "i16", "i32"};
      c_array(data, ctype[type], id + "_weights", l.weights,
              [](std::int32_t v) { return std::to_string(v); });
      const bool has_start = l.bias_in_accumulator && l.bias.has_value();
      if (has_start)
        c_array(data, "int64_t", id + "_start", *l.bias, c_int64, 8);
      const std::string start = has_start ? id + "_start" : "0";
      const Shape& in_shape = slot_shape[static_cast<std::size_t>(in(0))];
      if (l.kind == "conv2d")
        program << "  " << P << "_conv2d_" << suffix[type] << "(" << slot(in(0)) << ", " << in_shape[0]
                << ", " << in_shape[1] << ", " << in_shape[2] << ", " << id << "_weights, " << l.out_channels
                << ", " << op->kernel_h << ", " << op->kernel_w << ", " << op->geometry.stride_h << ", "
                << op->geometry.pad_h << ", " << op->geometry.groups << ", " << start << ", " << step.shape[1]
                << ", " << step.shape[2] << ", " << slot(step.output) << ");\n";
      else
        program << "  " << P << "_linear_" << suffix[type] << "(" << slot(in(0)) << ", " << l.fan_in << ", "
                << l.out_channels << ", " << id << "_weights, " << start << ", " << slot(step.output)
                << ");\n";
      if (op->geometry.stride_h != op->geometry.stride_w || op->geometry.pad_h != op->geometry.pad_w)
        throw config_error("write_c_header: layer " + l.name + " has different strides or paddings per axis");
    } else if (const auto* requant = std::get_if<engine::RequantizeOp>(&step.op)) {
      const bool two = step.inputs.size() == 2;
      std::vector<std::int64_t> m1, m2, offsets;
      std::vector<int> points;
      for (const engine::Requantizer& r : requant->channels) {
        m1.push_back(r.multipliers()[0]);
        m2.push_back(two ? r.multipliers()[1] : 0);
        points.push_back(r.point());
        // |a·m1| + |b·m2| + |offset| must stay below 2^62 for every channel.
        const auto mag = [](std::int64_t v) { return static_cast<a2q::detail::int128>(v < 0 ? -v : v); };
        const a2q::detail::int128 worst = mag(input_bound(0)) * mag(m1.back()) +
                                          (two ? mag(input_bound(1)) * mag(m2.back()) : 0) +
                                          (r.offset() < 0 ? -r.offset() : r.offset());
        if (worst >= (a2q::detail::int128{1} << 62) || r.point() > 62)
          throw config_error("write_c_header: requantization '" + step.name +
                             "' needs more than 64-bit intermediates; the header cannot compute it exactly");
        offsets.push_back(static_cast<std::int64_t>(r.offset()));
      }
      c_array(data, "int64_t", id + "_m1", m1, c_int64, 6);
      if (two)
        c_array(data, "int64_t", id + "_m2", m2, c_int64, 6);
      c_array(data, "int64_t", id + "_offset", offsets, c_int64, 6);
      c_array(data, "int8_t", id + "_point", points, [](int v) { return std::to_string(v); });
      const auto [C, plane] = channels_and_plane(step.shape);
      const auto widened = [&](std::size_t i) {
        // A quantized input (an identity shortcut) is widened to int64 first.
        const int s = in(i);
        if (slot_is_sum[static_cast<std::size_t>(s)])
          return slot(s);
        wide_used[i] = true;
        program << "  " << P << "_widen(" << slot(s) << ", " << n_out << ", " << P << "_wide" << i << ");\n";
        return P + "_wide" + std::to_string(i);
      };
      const std::string a = widened(0);
      const std::string b = two ? widened(1) : "0";
      program << "  " << P << "_requantize(" << a << ", " << b << ", " << C << ", " << plane << ", " << id
              << "_m1, " << (two ? id + "_m2" : "0") << ", " << id << "_offset, " << id << "_point, "
              << requant->channels.front().lo() << ", " << requant->channels.front().hi() << ", "
              << slot(step.output) << ");\n";
      out_bound =
          std::max(std::abs(requant->channels.front().lo()), std::abs(requant->channels.front().hi()));
    } else if (std::holds_alternative<engine::ReluOp>(step.op)) {
      out_bound = input_bound(0);
      program << "  " << P << "_relu(" << slot(in(0)) << ", " << n_out << ", " << slot(step.output) << ");\n";
    } else if (const auto* max_pool = std::get_if<engine::MaxPoolOp>(&step.op)) {
      out_bound = input_bound(0);
      const Shape& s = slot_shape[static_cast<std::size_t>(in(0))];
      program << "  " << P << "_max_pool(" << slot(in(0)) << ", " << s[0] << ", " << s[1] << ", " << s[2]
              << ", " << max_pool->kernel << ", " << max_pool->stride << ", " << max_pool->padding << ", "
              << step.shape[1] << ", " << step.shape[2] << ", " << slot(step.output) << ");\n";
    } else if (const auto* sum_pool = std::get_if<engine::SumPoolOp>(&step.op)) {
      const Shape& s = slot_shape[static_cast<std::size_t>(in(0))];
      const bool global = sum_pool->kernel == 0;
      const std::int64_t kh = global ? s[1] : sum_pool->kernel, kw = global ? s[2] : sum_pool->kernel;
      out_bound = input_bound(0) * kh * kw;
      program << "  " << P << "_sum_pool(" << slot(in(0)) << ", " << s[0] << ", " << s[1] << ", " << s[2]
              << ", " << kh << ", " << kw << ", " << (global ? 1 : sum_pool->stride) << ", "
              << (global ? 0 : sum_pool->padding) << ", " << (global ? 1 : step.shape[1]) << ", "
              << (global ? 1 : step.shape[2]) << ", " << slot(step.output) << ");\n";
    } else if (std::holds_alternative<engine::FlattenOp>(step.op)) {
      out_bound = input_bound(0);
      program << "  /* " << step.name << ": flatten (same memory order) */\n";
    } else if (const auto* dequant = std::get_if<engine::DequantizeOp>(&step.op)) {
      c_array(data, "double", id + "_scale", dequant->scale, c_double, 4);
      c_array(data, "double", id + "_offset", dequant->offset, c_double, 4);
      const auto [C, plane] = channels_and_plane(step.shape);
      program << "  " << P << "_dequantize(" << slot(in(0)) << ", " << C << ", " << plane << ", " << id
              << "_scale, " << id << "_offset, " << (last(step) ? "logits" : slot(step.output)) << ");\n";
    } else if (const auto* shuffle = std::get_if<engine::PixelShuffleOp>(&step.op)) {
      const auto producer = std::find_if(steps.begin(), steps.end(),
                                         [&](const engine::IntegerStep& s) { return s.output == in(0); });
      if (producer == steps.end() || !std::holds_alternative<engine::DequantizeOp>(producer->op))
        throw config_error("write_c_header: '" + step.name +
                           "' shuffles a value that is not the dequantized output; the header covers a pixel "
                           "shuffle of the output only");
      const Shape& s = slot_shape[static_cast<std::size_t>(in(0))];
      program << "  " << P << "_pixel_shuffle(" << slot(in(0)) << ", " << step.shape[0] << ", " << s[1]
              << ", " << s[2] << ", " << shuffle->factor << ", "
              << (last(step) ? "logits" : slot(step.output)) << ");\n";
    }
  }

  // Value buffers: int32 for quantized values, int64 for sums. A flatten shares its input's buffer.
  std::ostringstream buffers;
  std::int64_t widest = 1;
  for (const engine::IntegerStep& step : steps) {
    if (&step < &*first_quantize)
      continue;
    const std::int64_t n = shape_numel(step.shape);
    widest = std::max(widest, n);
    const bool sums = slot_is_sum[static_cast<std::size_t>(step.output)];
    if (std::holds_alternative<engine::DequantizeOp>(step.op) ||
        std::holds_alternative<engine::PixelShuffleOp>(step.op)) { // float values: the output, or on its way
      if (!last(step))
        buffers << "static float " << P << "_v" << step.output << "[" << n << "];\n";
      continue;
    }
    if (std::holds_alternative<engine::FlattenOp>(step.op)) {
      buffers << "#define " << P << "_v" << step.output << " " << P << "_v" << step.inputs.at(0) << "\n";
      continue;
    }
    buffers << "static " << (sums ? "int64_t " : "int32_t ") << P << "_v" << step.output << "[" << n
            << "];\n";
  }
  for (int i = 0; i < 2; ++i)
    if (wide_used[i])
      buffers << "static int64_t " << P << "_wide" << i << "[" << widest << "];\n";

  out << "/* Generated by a2q: integer inference of a trained accumulator-aware model.\n"
      << " * Every layer was proven not to overflow its accumulator; the widest needs " << max_required
      << "-bit registers.\n"
      << " * Sums are formed in int64_t here, which is exact. Not reentrant (static buffers). */\n"
      << "#ifndef " << guard << "_H\n#define " << guard << "_H\n\n#include <math.h>\n#include <stdint.h>\n\n"
      << "#define " << guard << "_INPUT_SIZE " << shape_numel(input_shape) << "\n"
      << "#define " << guard << "_OUTPUT_SIZE " << shape_numel(output_shape) << "\n"
      << "#define " << guard << "_MAX_ACC_BITS " << max_required << "\n"
      << "#define " << guard << "_INPUT_SCALE " << c_float(input_op.scale) << "\n"
      << "#define " << guard << "_INPUT_QMIN " << input_op.options.format.qmin() << "\n"
      << "#define " << guard << "_INPUT_QMAX " << input_op.options.format.qmax() << "\n";
  out << replace_all(c_header_functions, "{P}", P);
  const char* ctype[3] = {"int8_t", "int16_t", "int32_t"};
  const char* suffix[3] = {"i8", "i16", "i32"};
  for (int t = 0; t < 3; ++t)
    if (types_used[t])
      out << replace_all(replace_all(replace_all(c_header_layer_functions, "{P}", P), "{T}", ctype[t]), "{S}",
                         suffix[t]);
  out << "\n" << data.str() << "\n" << buffers.str() << "\n";
  out << "/* Logits for one input already on the input grid (" << guard << "_INPUT_SIZE values). */\n"
      << "static inline void " << P << "_predict_q(const int32_t* input_q, float* logits) {\n"
      << program.str() << "}\n\n";
  out << "/* Quantizes one float input like training did (round half to even), then predicts. */\n"
      << "static inline void " << P << "_predict(const float* input, float* logits) {\n"
      << "  static int32_t q[" << guard << "_INPUT_SIZE];\n  int64_t i;\n"
      << "  for (i = 0; i < " << guard << "_INPUT_SIZE; ++i) {\n"
      << "    float v = nearbyintf(input[i] / " << guard << "_INPUT_SCALE);\n"
      << "    if (v != v)\n      v = 0.0f; /* NaN has no integer: the engine rejects it, here it reads as 0 "
         "*/\n"
      << "    q[i] = v < " << guard << "_INPUT_QMIN ? " << guard << "_INPUT_QMIN : v > " << guard
      << "_INPUT_QMAX ? " << guard << "_INPUT_QMAX : (int32_t)v;\n  }\n"
      << "  " << P << "_predict_q(q, logits);\n}\n\n#endif /* " << guard << "_H */\n";
}

void save_c_header(const std::filesystem::path& path, const engine::IntegerModel& model,
                   const std::string& prefix) {
  write_file_atomically(path, [&](std::ostream& out) { write_c_header(out, model, prefix); });
}

} // namespace a2q::io
