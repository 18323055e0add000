#pragma once
/// @file
/// engine::IntegerModel: a trained network as an integer-only program (see integer_ops.hpp for the
/// ops). Built by engine::convert_to_integer (model_conversion.hpp); run with forward(), which takes
/// the float input the float model takes and returns its logits, every layer computed in integers
/// through a P-bit accumulator of the chosen policy.
///
/// Kernels: every layer has a reference kernel (plain loops, every partial sum through an
/// engine::Accumulator). When the static proof shows that a layer cannot overflow its P-bit
/// accumulator at all (required P <= P, exact worst case), every policy gives the exact sum, and the
/// engine may use a fast kernel instead; otherwise, and whenever ExecutionOptions::kernel is
/// `reference`, the reference kernel applies the policy to every partial sum.

#include "a2q/core/config.hpp"
#include "a2q/engine/integer_ops.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace a2q::engine {

/// Which kernel computes a layer's dot products.
enum class KernelChoice {
  automatic, ///< a fast kernel when the layer is proven overflow-free at P (sparse when the layer is
             ///< sparse enough for its lanes, see sparse_threshold; dense otherwise; grouped
             ///< convolutions have one, conv2d_grouped, under every choice but reference), else the reference
  reference, ///< always the reference loops (the policy sees every partial sum)
  dense,     ///< the dense fast kernel where the layer is proven overflow-free at P, else the reference
  sparse,    ///< the sparse fast kernel where the layer is proven overflow-free at P, else the reference
};

/// Weight sparsity from which `automatic` prefers the sparse kernel, by the lanes it accumulates in: on
/// 256x256 layers the int16 lanes overtake the dense kernel at about 50% zeros and the int32 lanes at
/// about 82% (bench/run_int.sh measures the ratios); each threshold keeps a margin above.
inline constexpr double sparse_threshold_int16_lanes = 0.6;

inline constexpr double sparse_threshold_int32_lanes = 0.85;

/// The threshold for packed sparse weights `w`.
A2Q_DECL double sparse_threshold(const PackedSparseWeights& w);

struct ExecutionOptions {
  OverflowPolicy policy = OverflowPolicy::check;
  std::optional<int> accumulator_bits; ///< overrides every layer's own P
  KernelChoice kernel = KernelChoice::automatic;
  LayerOverflowStats* stats = nullptr; ///< per-layer overflow counters (added to), optional
};

class IntegerModel {
public:
  IntegerModel() = default;
  IntegerModel(std::vector<IntegerStep> steps, int slots, int output)
      : steps_(std::move(steps)), slots_(slots), output_(output) {}

  /// The logits for a float input batch (the same input the float model takes).
  A2Q_DECL Tensor<float> forward(const Tensor<float>& x, const ExecutionOptions& options = {}) const;

  /// The quantized layers, in program order.
  A2Q_DECL std::vector<const nn::IntegerLayer*> layers() const;

  const std::vector<IntegerStep>& steps() const { return steps_; }
  int slots() const { return slots_; }
  int output_slot() const { return output_; }

  /// Whether layer `op` cannot overflow a P-bit accumulator (its outer one, and the inner ones of a tiled
  /// layer) for any input (exact worst case).
  static bool proven_safe(const LayerOp& op, int P) {
    return (op.required_bits > 0 ? op.required_bits : op.layer.required_bits()) <= P &&
           (op.required_inner_bits > 0 ? op.required_inner_bits : op.layer.required_inner_bits()) <=
               op.layer.inner_bits;
  }

private:
  A2Q_DECL static const IntegerValue& input(const IntegerStep& step, const std::vector<IntegerValue>& values,
                                            std::size_t i, IntegerValue::Kind kind);

  A2Q_DECL static IntegerValue quantized(Tensor<std::int32_t> q);
  A2Q_DECL static IntegerValue accumulator(Tensor<std::int64_t> acc);

  A2Q_DECL static Tensor<std::int64_t> widen(const Tensor<std::int32_t>& q);

  /// v's integers as int64: its accumulator itself, or its quantized values widened into `storage`
  /// (a reference, so that an accumulator is not copied).
  A2Q_DECL static const Tensor<std::int64_t>& as_int64(const IntegerValue& v, Tensor<std::int64_t>& storage);

  /// Whether step `step` is the last to read a slot (its value can then be moved instead of copied).
  struct LastUse {
    const std::vector<std::size_t>& last_reader; ///< per slot, the last step that reads it
    std::size_t step;
    int output; ///< the model's output slot, never released
    bool operator()(int slot) const {
      return last_reader.at(static_cast<std::size_t>(slot)) == step && slot != output;
    }
  };

  /// Input `i` of `step`, to be modified: moved out of `values` if no later step reads it, else copied.
  A2Q_DECL static IntegerValue take(const IntegerStep& step, std::vector<IntegerValue>& values, std::size_t i,
                                    IntegerValue::Kind kind, const LastUse& last_use);

  A2Q_DECL static IntegerValue run(const IntegerStep& step, std::vector<IntegerValue>& values,
                                   const LastUse& last_use, const ExecutionOptions& options);

  A2Q_DECL static Tensor<std::int64_t> run_layer(const LayerOp& op, const Tensor<std::int32_t>& x,
                                                 const ExecutionOptions& options);

  /// Counts the outputs of a layer that cannot overflow (no events) in `stats`.
  A2Q_DECL static void record_exact(OverflowStats& stats, const Tensor<std::int64_t>& acc,
                                    std::int64_t channels);

  std::vector<IntegerStep> steps_;
  int slots_ = 1;
  int output_ = 0;
};

} // namespace a2q::engine

#if A2Q_HEADER_ONLY
#include "a2q/engine/integer_model.ipp"
#endif
