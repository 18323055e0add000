#pragma once
/// @file
/// Definitions for model_conversion.hpp (see a2q/core/config.hpp).

#include "a2q/engine/model_conversion.hpp"

#include "a2q/engine/integer_model.hpp"
#include "a2q/models/quant_zoo.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <span>
#include <string>
#include <vector>

namespace a2q::detail {

/// Builds the program while tracking what the current value is and what it means.
class IntegerModelBuilder {
public:
  /// @param sample_shape the shape of one input sample, e.g. [1, 28, 28]
  /// @param stored integer layers to use instead of the ones derived from the model (same names and
  ///   shapes), e.g. those a model file was verified with; empty: derive them
  IntegerModelBuilder(Shape sample_shape, std::span<const nn::IntegerLayer> stored)
      : shape_(std::move(sample_shape)), stored_(stored) {}

  void module(const std::string& name, const nn::Module& m) {
    if (const auto* act = dynamic_cast<const nn::ActQuant*>(&m))
      quantize(name, *act);
    else if (const auto* layer = dynamic_cast<const nn::QuantLayer*>(&m))
      quant_layer(name, *layer);
    else if (const auto* bn = dynamic_cast<const nn::BatchNorm2d*>(&m))
      batch_norm(name, *bn);
    else if (dynamic_cast<const nn::ReLU*>(&m) != nullptr)
      relu(name);
    else if (const auto* pool = dynamic_cast<const nn::MaxPool2d*>(&m))
      max_pool(name, *pool);
    else if (const auto* avg = dynamic_cast<const nn::AvgPool2d*>(&m))
      sum_pool(name, engine::SumPoolOp{
                         .kernel = avg->kernel(), .stride = avg->stride(), .padding = avg->padding()});
    else if (dynamic_cast<const nn::GlobalAvgPool2d*>(&m) != nullptr)
      sum_pool(name, engine::SumPoolOp{.kernel = 0, .stride = 1, .padding = 0});
    else if (dynamic_cast<const nn::Flatten*>(&m) != nullptr)
      flatten(name);
    else if (const auto* shuffle = dynamic_cast<const nn::PixelShuffle*>(&m))
      pixel_shuffle(name, shuffle->factor());
    else if (dynamic_cast<const nn::Dropout*>(&m) != nullptr)
      return; // the identity at inference
    else if (const auto* block = dynamic_cast<const models::QuantResidualBlock*>(&m))
      residual_block(name, *block);
    else
      throw config_error("convert_to_integer: module '" + name + "' (" + m.type_name() +
                         ") has no integer equivalent");
  }

  engine::IntegerModel finish() {
    if (current_.kind == Kind::real && !output_dequantized_)
      throw config_error("convert_to_integer: the model has no quantized layer");
    if (current_.relu)
      throw config_error("convert_to_integer: a ReLU ends the model after its last layer; the integer "
                         "engine folds ReLU into a following activation quantizer");
    if (current_.kind != Kind::real || !output_dequantized_) {
      engine::DequantizeOp op{.scale = current_.a, .offset = current_.b};
      emit("output", op, {current_.slot}, Kind::real);
    }
    return engine::IntegerModel(std::move(steps_), slots_, current_.slot);
  }

private:
  using Kind = engine::IntegerValue::Kind;

  struct Current {
    int slot = 0;
    Kind kind = Kind::real;
    const nn::ActQuant* producer = nullptr; ///< quantized: the quantizer whose grid this is
    float scale = 1.0f;                     ///< quantized: the grid's scale
    quant::IntFormat format;                ///< quantized: the grid
    std::vector<double> a, b;               ///< accumulator (and quantized): value = a_c · v + b_c
    bool relu = false;                      ///< accumulator: a ReLU waits for the next requantization
  };

  int emit(const std::string& name, engine::IntegerOp op, std::vector<int> inputs, Kind kind) {
    const int out = slots_++;
    steps_.push_back({name, std::move(op), std::move(inputs), out, shape_});
    current_.slot = out;
    current_.kind = kind;
    return out;
  }

  std::int64_t channels() const { return shape_.rank() == 0 ? 0 : shape_[0]; }

  void require(bool ok, const std::string& name, const std::string& why) const {
    if (!ok)
      throw config_error("convert_to_integer: module '" + name + "': " + why);
  }

  /// Sets the affine meaning of a quantized current value: real = scale · q.
  void quantized_meaning(const nn::ActQuant& act) {
    current_.producer = &act;
    current_.scale = act.scale();
    current_.format = act.format();
    current_.a.assign(static_cast<std::size_t>(channels()), static_cast<double>(act.scale()));
    current_.b.assign(static_cast<std::size_t>(channels()), 0.0);
    current_.relu = false;
  }

  void quantize(const std::string& name, const nn::ActQuant& act) {
    require(act.fixed() || act.calibrated() || act.observed_batches() > 0, name,
            "the activation quantizer was never calibrated (train or load the model first)");
    require(!output_dequantized_, name, "nothing can be quantized after a pixel shuffle of the output");
    if (current_.kind == Kind::real) {
      require(!current_.relu, name, "a ReLU before the input quantizer is not supported");
      emit(name, engine::QuantizeInput{.options = act.fake_quant_options(), .scale = act.scale()},
           {current_.slot}, Kind::quantized);
      quantized_meaning(act);
      return;
    }
    require(act.options().rounding == quant::RoundingMode::nearest_even, name,
            "the integer engine requantizes with round-half-to-even; this quantizer rounds " +
                std::string(quant::to_string(act.options().rounding)));
    require(shape_.rank() >= 1, name, "no channel dimension to requantize");
    const quant::IntFormat& f = act.format();
    const double s = act.scale();
    const std::int64_t lo = current_.relu ? std::max<std::int64_t>(f.qmin(), 0) : f.qmin();
    engine::RequantizeOp op{.channels = {}, .format = f, .scale = act.scale(), .relu = current_.relu};
    for (std::size_t c = 0; c < current_.a.size(); ++c) {
      const double factor = current_.a[c] / s;
      op.channels.emplace_back(std::span<const double>(&factor, 1), current_.b[c] / s, lo, f.qmax());
    }
    emit(name, std::move(op), {current_.slot}, Kind::quantized);
    quantized_meaning(act);
  }

  void quant_layer(const std::string& name, const nn::QuantLayer& layer) {
    require(current_.kind == Kind::quantized && current_.producer == &layer.input_quantizer(), name,
            "its input must come straight from its own input quantizer (the ActQuant given at construction)");
    engine::LayerOp op;
    op.layer = layer.integer_layer(name);
    if (!stored_.empty()) {
      const auto it = std::find_if(stored_.begin(), stored_.end(),
                                   [&](const nn::IntegerLayer& l) { return l.name == name; });
      require(it != stored_.end() && it->kind == op.layer.kind &&
                  it->weights.shape() == op.layer.weights.shape(),
              name, "no stored integer layer of this name, kind and shape");
      op.layer = *it;
    }
    const nn::IntegerLayer& ints = op.layer;
    if (const auto* conv = dynamic_cast<const nn::QuantConv2d*>(&layer)) {
      const Shape& ws = layer.weight_quant.shape();
      op.kernel_h = ws[2];
      op.kernel_w = ws[3];
      const Conv2dOptions& o = conv->options();
      op.geometry = {.stride_h = o.stride,
                     .stride_w = o.stride,
                     .pad_h = o.padding,
                     .pad_w = o.padding,
                     .groups = o.groups};
      require(shape_.rank() == 3 && shape_[0] == ws[1] * o.groups, name,
              "expects " + std::to_string(ws[1] * o.groups) + " input channels, the input is " +
                  shape_.to_string() + " per sample");
      const std::int64_t H = (shape_[1] + 2 * o.padding - ws[2]) / o.stride + 1;
      const std::int64_t W = (shape_[2] + 2 * o.padding - ws[3]) / o.stride + 1;
      require(H >= 1 && W >= 1, name, "the kernel does not fit the input " + shape_.to_string());
      shape_ = Shape{ws[0], H, W};
    } else {
      require(shape_.rank() == 1 && shape_[0] == ints.fan_in, name,
              "expects " + std::to_string(ints.fan_in) + " input features, the input is " +
                  shape_.to_string() + " per sample");
      shape_ = Shape{ints.out_channels};
    }
    std::vector<double> a(static_cast<std::size_t>(ints.out_channels));
    std::vector<double> b(a.size(), 0.0);
    for (std::size_t c = 0; c < a.size(); ++c) {
      a[c] = static_cast<double>(ints.weight_scale[c]) * static_cast<double>(ints.input_scale);
      if (layer.bias.defined() && !ints.bias_in_accumulator)
        b[c] = layer.bias.value()[static_cast<std::int64_t>(c)];
    }
    engine::pack_fast_kernels(op);
    emit(name, std::move(op), {current_.slot}, Kind::accumulator);
    current_.a = std::move(a);
    current_.b = std::move(b);
    current_.producer = nullptr;
    current_.relu = false;
  }

  void batch_norm(const std::string& name, const nn::BatchNorm2d& bn) {
    require(current_.kind != Kind::real && !current_.relu, name,
            "batch norm must follow a quantized layer directly (it is folded into its requantization)");
    require(static_cast<std::int64_t>(current_.a.size()) == bn.gamma.value().numel(), name,
            "has " + std::to_string(bn.gamma.value().numel()) + " channels, its input " +
                std::to_string(current_.a.size()));
    if (current_.kind == Kind::quantized)
      current_.kind = Kind::accumulator; // a quantized value is read as a_c · q + b_c as well
    for (std::size_t c = 0; c < current_.a.size(); ++c) {
      const auto i = static_cast<std::int64_t>(c);
      const double g = bn.gamma.value()[i] / std::sqrt(static_cast<double>(bn.running_var[i]) + bn.eps());
      current_.a[c] *= g;
      current_.b[c] = current_.b[c] * g + bn.beta.value()[i] - static_cast<double>(bn.running_mean[i]) * g;
    }
    current_.producer = nullptr;
  }

  void relu(const std::string& name) {
    require(current_.kind != Kind::real, name, "a ReLU on the float input is not supported");
    if (current_.kind == Kind::accumulator) {
      current_.relu = true;
      return;
    }
    const nn::ActQuant* producer = current_.producer;
    std::vector<double> a = current_.a, b = current_.b;
    emit(name, engine::ReluOp{}, {current_.slot}, Kind::quantized);
    current_.producer = producer;
    current_.a = std::move(a);
    current_.b = std::move(b);
  }

  void max_pool(const std::string& name, const nn::MaxPool2d& pool) {
    require(current_.kind == Kind::quantized && shape_.rank() == 3, name,
            "max pooling needs a quantized [C, H, W] input (put it after an activation quantizer)");
    const engine::MaxPoolOp op{.kernel = pool.kernel(), .stride = pool.stride(), .padding = pool.padding()};
    pooled_shape(name, op.kernel, op.stride, op.padding);
    keep_meaning([&] { emit(name, op, {current_.slot}, Kind::quantized); });
  }

  void sum_pool(const std::string& name, const engine::SumPoolOp& op) {
    require(current_.kind == Kind::quantized && shape_.rank() == 3, name,
            "average pooling needs a quantized [C, H, W] input (put it after an activation quantizer)");
    const double window = op.kernel == 0 ? static_cast<double>(shape_[1] * shape_[2])
                                         : static_cast<double>(op.kernel) * op.kernel;
    if (op.kernel == 0)
      shape_ = Shape{shape_[0]}; // like global_avg_pool2d: [N, C]
    else
      pooled_shape(name, op.kernel, op.stride, op.padding);
    std::vector<double> a = current_.a, b = current_.b;
    for (std::size_t c = 0; c < a.size(); ++c) {
      a[c] /= window;
      require(b[c] == 0.0, name, "internal: a quantized value with an offset"); // grids have no offset
    }
    emit(name, op, {current_.slot}, Kind::accumulator);
    current_.a = std::move(a);
    current_.b = std::move(b);
    current_.producer = nullptr;
  }

  void flatten(const std::string& name) {
    if (shape_.rank() <= 1)
      return;
    const std::int64_t features = shape_.numel();
    const std::int64_t plane = features / shape_[0];
    if (current_.kind != Kind::real) {
      require(current_.kind == Kind::quantized || plane == 1, name,
              "cannot flatten a per-channel accumulator value with spatial size; requantize it first");
      // Each flattened feature keeps its channel's meaning (uniform for a quantized grid).
      std::vector<double> a, b;
      for (std::size_t c = 0; c < current_.a.size(); ++c)
        for (std::int64_t p = 0; p < plane; ++p) {
          a.push_back(current_.a[c]);
          b.push_back(current_.b[c]);
        }
      current_.a = std::move(a);
      current_.b = std::move(b);
    }
    shape_ = Shape{features};
    keep_meaning([&] { emit(name, engine::FlattenOp{}, {current_.slot}, current_.kind); });
  }

  /// Sub-pixel upscaling. An accumulator's channels have different factors, which a shuffle would mix:
  /// it is dequantized first (only the model's output may be: nothing quantized follows).
  void pixel_shuffle(const std::string& name, std::int64_t r) {
    require(shape_.rank() == 3 && shape_[0] % (r * r) == 0, name,
            "pixel shuffle by " + std::to_string(r) + " needs [C, H, W] with C divisible by " +
                std::to_string(r * r) + ", got " + shape_.to_string());
    require(current_.kind != Kind::real || output_dequantized_, name,
            "a pixel shuffle needs a quantized layer before it");
    if (current_.kind == Kind::accumulator) {
      require(!current_.relu, name, "a ReLU before a pixel shuffle at the output is not supported");
      emit(name + ".dequantize", engine::DequantizeOp{.scale = current_.a, .offset = current_.b},
           {current_.slot}, Kind::real);
      output_dequantized_ = true;
    }
    shape_ = Shape{shape_[0] / (r * r), shape_[1] * r, shape_[2] * r};
    if (current_.kind == Kind::quantized) { // one grid: every channel has the same factor
      current_.a.resize(static_cast<std::size_t>(shape_[0]));
      current_.b.resize(static_cast<std::size_t>(shape_[0]));
    }
    keep_meaning([&] { emit(name, engine::PixelShuffleOp{.factor = r}, {current_.slot}, current_.kind); });
  }

  void residual_block(const std::string& name, const models::QuantResidualBlock& block) {
    require(current_.kind == Kind::quantized, name, "a residual block needs a quantized input");
    const Current input = current_;
    const Shape input_shape = shape_;
    module(name + ".conv1", block.conv1);
    module(name + ".bn1", block.bn1);
    relu(name + ".relu1");
    module(name + ".act1", block.act1);
    module(name + ".conv2", block.conv2);
    module(name + ".bn2", block.bn2);
    const Current main = current_;
    const Shape main_shape = shape_;
    current_ = input;
    shape_ = input_shape;
    if (block.shortcut_conv) {
      module(name + ".shortcut_conv", *block.shortcut_conv);
      module(name + ".shortcut_bn", *block.shortcut_bn);
    }
    const Current skip = current_;
    require(shape_ == main_shape, name,
            "the branches have shapes " + main_shape.to_string() + " and " + shape_.to_string());
    const nn::ActQuant& out = block.output;
    require(out.options().rounding == quant::RoundingMode::nearest_even, name,
            "the output quantizer must round half to even");
    const quant::IntFormat& f = out.format();
    const double s = out.scale();
    engine::RequantizeOp op{.channels = {}, .format = f, .scale = out.scale(), .relu = true};
    for (std::size_t c = 0; c < main.a.size(); ++c) {
      const std::array<double, 2> factors{main.a[c] / s, skip.a[c] / s};
      op.channels.emplace_back(factors, (main.b[c] + skip.b[c]) / s, std::max<std::int64_t>(f.qmin(), 0),
                               f.qmax());
    }
    emit(name + ".add", std::move(op), {main.slot, skip.slot}, Kind::quantized);
    quantized_meaning(out);
  }

  void pooled_shape(const std::string& name, int kernel, int stride, int padding) {
    require(kernel >= 1 && stride >= 1 && shape_[1] + 2 * padding >= kernel &&
                shape_[2] + 2 * padding >= kernel,
            name, "the window does not fit the input " + shape_.to_string());
    shape_ = Shape{shape_[0], (shape_[1] + 2 * padding - kernel) / stride + 1,
                   (shape_[2] + 2 * padding - kernel) / stride + 1};
  }

  /// Runs `emit_step` and keeps the current value's meaning (ops that do not change the grid).
  template <class F>
  void keep_meaning(F emit_step) {
    Current saved = current_;
    emit_step();
    saved.slot = current_.slot;
    saved.kind = current_.kind;
    current_ = std::move(saved);
  }

  Shape shape_;
  std::span<const nn::IntegerLayer> stored_;
  Current current_;
  std::vector<engine::IntegerStep> steps_;
  int slots_ = 1;                   // slot 0 is the input
  bool output_dequantized_ = false; // the output was dequantized early (a pixel shuffle follows it)
};

} // namespace a2q::detail

namespace a2q::engine {

IntegerModel convert_to_integer(const nn::Module& model, const Shape& sample_shape,
                                std::span<const nn::IntegerLayer> stored) {
  const auto* sequential = dynamic_cast<const nn::Sequential*>(&model);
  if (sequential == nullptr)
    throw config_error("convert_to_integer: the model (" + model.type_name() + ") is not an nn::Sequential");
  a2q::detail::IntegerModelBuilder builder(sample_shape, stored);
  for (const auto& [name, child] : sequential->named_children())
    builder.module(name, *child);
  return builder.finish();
}

} // namespace a2q::engine
