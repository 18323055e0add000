#pragma once
/// @file
/// a2q::quant::IntFormat: the integer grid a quantizer maps onto (bit width, signedness, narrow range).

#include "a2q/core/error.hpp"
#include "a2q/quant/bounds.hpp"

#include <cstdint>
#include <string>

namespace a2q::quant {

/// An integer format for weights or activations.
///
/// - signed, full range:   [-2^(b-1), 2^(b-1) - 1], b in [2, 16]
/// - signed, narrow range: [-(2^(b-1) - 1), 2^(b-1) - 1] (symmetric; what A2Q's weights use)
/// - unsigned:             [0, 2^b - 1], b in [1, 16]
///
/// Narrow range is rejected for unsigned formats: it exists to make a signed grid symmetric, and an
/// unsigned grid has nothing to balance. One-bit signed formats are rejected too: their grid [-1, 0]
/// has qmax = 0, so no positive value is representable and scale statistics divide by zero.
///
/// The default-constructed format (bits = 0) is invalid on purpose: pick one explicitly, e.g.
/// IntFormat::unsigned_bits(8) or IntFormat{4, true, true}.
struct IntFormat {
  int bits = 0;              ///< bit width b
  bool is_signed = true;     ///< two's-complement grid when true, [0, 2^b - 1] otherwise
  bool narrow_range = false; ///< drop -2^(b-1) from a signed grid

  /// Largest bit width accepted (for either signedness).
  static constexpr int max_bits = 16;

  /// Signed b-bit format, optionally narrow (symmetric).
  static constexpr IntFormat signed_bits(int b, bool narrow = false) {
    IntFormat f{b, true, narrow};
    f.validate();
    return f;
  }

  /// Unsigned b-bit format [0, 2^b - 1].
  static constexpr IntFormat unsigned_bits(int b) {
    IntFormat f{b, false, false};
    f.validate();
    return f;
  }

  /// Throws config_error (naming the values) unless bits is in [2, 16] (signed) or [1, 16] (unsigned)
  /// and narrow_range is only used with signed formats.
  constexpr void validate() const {
    const int min_bits = is_signed ? 2 : 1;
    if (bits < min_bits || bits > max_bits)
      throw config_error("IntFormat: " + std::string(is_signed ? "signed" : "unsigned") + " formats need " +
                         std::to_string(min_bits) + ".." + std::to_string(max_bits) + " bits, got " +
                         std::to_string(bits));
    if (narrow_range && !is_signed)
      throw config_error("IntFormat: narrow range applies to signed formats only (got unsigned " +
                         std::to_string(bits) + "-bit with narrow_range = true)");
  }

  /// Lowest integer of the grid. @throws config_error if the format is invalid
  constexpr std::int64_t qmin() const {
    validate();
    if (!is_signed)
      return 0;
    const std::int64_t half = std::int64_t{1} << (bits - 1);
    return narrow_range ? -(half - 1) : -half;
  }

  /// Highest integer of the grid. @throws config_error if the format is invalid
  constexpr std::int64_t qmax() const {
    validate();
    return is_signed ? (std::int64_t{1} << (bits - 1)) - 1 : (std::int64_t{1} << bits) - 1;
  }

  /// Number of grid points, qmax - qmin + 1.
  constexpr std::int64_t levels() const { return qmax() - qmin() + 1; }

  /// The grid as an InputRange, for the accumulator bounds (quant/bounds.hpp).
  constexpr InputRange range() const { return {qmin(), qmax()}; }

  /// "int8", "int4n" (narrow), "uint8"; an invalid format prints as e.g. "uint0".
  std::string to_string() const {
    return (is_signed ? "int" : "uint") + std::to_string(bits) + (narrow_range ? "n" : "");
  }

  friend constexpr bool operator==(const IntFormat&, const IntFormat&) = default;
};

} // namespace a2q::quant
