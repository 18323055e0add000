#pragma once
/// @file
/// Quantization bypass: while a QuantizationBypass guard lives on a thread, a quantization-aware model
/// computes without rounding on that thread: fake quantizers (activations, baseline weights) return
/// clip(x, s·qmin, s·qmax), biases keep their float value, and A2Q/A2Q+ weights are s·clip(g'·v'/‖v'‖₁)
/// (with the clamped norm g', so the accumulator constraint still shapes them). The ranges stay because
/// the clipping is part of the function the model learned; what changes is the rounding alone, and
/// `a2q eval` reports the result as the model's float accuracy.
///
/// For evaluation only: results computed under the guard carry no gradient, so the quantizers refuse to
/// run bypassed while gradients are recorded (use NoGradGuard too).

namespace a2q::detail {
inline bool& quantization_bypass_flag() {
  thread_local bool bypassed = false;
  return bypassed;
}
} // namespace a2q::detail

namespace a2q::quant {

/// True while a QuantizationBypass guard lives on this thread.
inline bool quantization_bypassed() {
  return a2q::detail::quantization_bypass_flag();
}

/// Turns every quantizer of this thread into the identity for its lifetime; restores the previous state.
class QuantizationBypass {
public:
  QuantizationBypass() : previous_(a2q::detail::quantization_bypass_flag()) {
    a2q::detail::quantization_bypass_flag() = true;
  }
  ~QuantizationBypass() { a2q::detail::quantization_bypass_flag() = previous_; }
  QuantizationBypass(const QuantizationBypass&) = delete;
  QuantizationBypass& operator=(const QuantizationBypass&) = delete;

private:
  bool previous_;
};

} // namespace a2q::quant
