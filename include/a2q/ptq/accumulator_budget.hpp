#pragma once
/// @file
/// ptq::AccumulatorBudget: what is left of one output channel's accumulator while its integer weights are
/// chosen one at a time (the strict local constraint of AXE). It keeps the sums of the positive weights
/// (A) and of the magnitudes of the negative ones (B) chosen so far, and says how large the next weight
/// may be in either direction so that the exact worst case of spec §3 (inputs in [lo, hi], lo <= 0 <= hi)
///
///     start + hi·A + |lo|·B <= 2^(P-1) - 1,     start - (|lo|·A + hi·B) >= -2^(P-1)
///
/// still holds. Every prefix of the dot product then fits too (each prefix has smaller A and B), so a
/// channel built through this budget cannot overflow for any input, by construction. With unsigned inputs
/// the rule is A2Q+'s sign split (A, B <= Z/2, no bias); it is looser than A2Q's ‖q‖₁ <= T and never
/// looser than the exact bound the verifier checks.
///
/// Multi-stage accumulation (spec §6): with tiles of `tile` consecutive weights summed in an inner P_i-bit
/// register, the same rule holds per tile at P_i (from zero) and over the whole sum at the outer width
/// (from the bias).

#include "a2q/core/error.hpp"
#include "a2q/quant/bounds.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

namespace a2q::ptq {

/// The registers one output channel's dot product must fit.
struct AccumulatorSpec {
  InputRange input{0, 255}; ///< integer input range, lo <= 0 <= hi
  int bits = 32;            ///< P, or the outer width P_o with tiles
  std::int64_t start = 0;   ///< the value the (outer) register starts at: the bias when it is in it
  std::int64_t tile = 0;    ///< weights per inner register; 0: no tiles
  int inner_bits = 0;       ///< P_i (with tiles)

  /// @throws config_error for an input range not containing 0, widths outside [2, 64], a start that does
  ///         not fit the register, or a tile without an inner width (or an inner width without tiles)
  void validate() const {
    if (input.lo > 0 || input.hi < 0 || input.lo == input.hi)
      throw config_error("accumulator budget: the input range [" + std::to_string(input.lo) + ", " +
                         std::to_string(input.hi) + "] must contain 0 and another value");
    if (bits < 2 || bits > 64)
      throw config_error("accumulator budget: P = " + std::to_string(bits) + " is outside [2, 64]");
    if (tile < 0 || (tile > 0) != (inner_bits > 0))
      throw config_error("accumulator budget: a tile size (" + std::to_string(tile) +
                         ") and an inner width (" + std::to_string(inner_bits) + ") go together");
    if (tile > 0 && (inner_bits < 2 || inner_bits > bits))
      throw config_error("accumulator budget: the inner width P_i = " + std::to_string(inner_bits) +
                         " must be in [2, P_o = " + std::to_string(bits) + "]");
    const detail::int128 half = detail::int128{1} << (bits - 1);
    if (start >= half || start < -half)
      throw config_error("accumulator budget: the start value " + std::to_string(start) + " does not fit a " +
                         std::to_string(bits) + "-bit register");
  }
};

/// The remaining budget of one output channel, updated weight by weight in index order.
class AccumulatorBudget {
public:
  /// @param spec must be valid (AccumulatorSpec::validate)
  explicit AccumulatorBudget(const AccumulatorSpec& spec) : spec_(spec) {}

  /// The largest positive weight the element at `index` (the next one) may take.
  std::int64_t max_positive(std::int64_t index) const { return room(index, true); }
  /// The largest magnitude a negative weight at `index` may take.
  std::int64_t max_negative(std::int64_t index) const { return room(index, false); }

  /// q clipped into [-max_negative, max_positive]: toward zero, so the rounding never grows a weight past
  /// what is left.
  std::int64_t clip(std::int64_t index, std::int64_t q) const {
    return q >= 0 ? std::min(q, max_positive(index)) : -std::min(-q, max_negative(index));
  }

  /// Records weight q at `index`; indices must come in increasing order (tiles are consecutive).
  /// @throws internal_error if q exceeds what was left (a caller that did not clip)
  void take(std::int64_t index, std::int64_t q) {
    enter(index);
    if ((q > 0 && q > max_positive(index)) || (q < 0 && -q > max_negative(index)))
      throw internal_error("accumulator budget: weight " + std::to_string(q) + " at " +
                           std::to_string(index) + " exceeds what is left");
    (q > 0 ? total_pos_ : total_neg_) += q > 0 ? q : -q;
    (q > 0 ? tile_pos_ : tile_neg_) += q > 0 ? q : -q;
  }

private:
  using int128 = detail::int128;

  // Starts a new tile's sums when `index` begins one.
  void enter(std::int64_t index) {
    if (spec_.tile > 0 && index / spec_.tile != tile_) {
      tile_ = index / spec_.tile;
      tile_pos_ = tile_neg_ = 0;
    }
  }

  // How much more one sign may take in a register of `bits` bits starting at `start` with sums (A, B).
  static int128 register_room(int bits, std::int64_t start, InputRange x, int128 A, int128 B, bool positive) {
    const int128 hi = x.hi;
    const int128 lo = -static_cast<int128>(x.lo);
    const int128 up = (int128{1} << (bits - 1)) - 1 - start; // room above: start + hi·A + lo·B <= up
    const int128 down = (int128{1} << (bits - 1)) + start;   // room below: lo·A + hi·B <= down
    const int128 up_left = up - hi * A - lo * B;
    const int128 down_left = down - lo * A - hi * B;
    if (up_left < 0 || down_left < 0)
      return 0;
    // A positive weight raises the maximum by hi per unit and lowers the minimum by lo; a negative one the
    // other way round. A factor of 0 (unsigned inputs) leaves that side unconstrained.
    const int128 up_factor = positive ? hi : lo;
    const int128 down_factor = positive ? lo : hi;
    int128 room = int128{INT64_MAX};
    if (up_factor > 0)
      room = std::min(room, up_left / up_factor);
    if (down_factor > 0)
      room = std::min(room, down_left / down_factor);
    return room;
  }

  std::int64_t room(std::int64_t index, bool positive) const {
    const bool same_tile = spec_.tile > 0 && index / spec_.tile == tile_;
    int128 r = register_room(spec_.bits, spec_.start, spec_.input, total_pos_, total_neg_, positive);
    if (spec_.tile > 0)
      r = std::min(r, register_room(spec_.inner_bits, 0, spec_.input, same_tile ? tile_pos_ : 0,
                                    same_tile ? tile_neg_ : 0, positive));
    return static_cast<std::int64_t>(std::min<int128>(r, INT64_MAX));
  }

  AccumulatorSpec spec_;
  int128 total_pos_ = 0;
  int128 total_neg_ = 0;
  std::int64_t tile_ = -1;
  int128 tile_pos_ = 0;
  int128 tile_neg_ = 0;
};

} // namespace a2q::ptq
