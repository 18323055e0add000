#pragma once
/// @file
/// engine::Accumulator: a P-bit two's-complement accumulator register (P in [2, 64]) simulated exactly,
/// with a policy for what happens when a partial sum leaves [-2^(P-1), 2^(P-1) - 1]; and
/// engine::TiledAccumulator, the multi-stage (AXE, spec §6) variant: an inner P_I-bit register per tile
/// of T products whose results are summed in an outer P_O-bit register.
///
/// Every sum is formed in 128 bits before it is checked or reduced, so there is no signed-overflow
/// undefined behaviour at any width, P = 64 included.

#include "a2q/core/error.hpp"
#include "a2q/quant/bounds.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace a2q::engine {

/// What an accumulator does when a partial sum leaves its P-bit range.
enum class OverflowPolicy {
  check,    ///< throw accumulator_overflow (an overflow_error) naming the context, value and range
  saturate, ///< clamp to the range and continue from the clamped value (saturating hardware)
  wrap,     ///< reduce modulo 2^P to two's complement, exactly as P-bit hardware does
  count,    ///< like wrap (so results match hardware), and count the events
};

/// Name of a policy: "check", "saturate", "wrap" or "count".
constexpr const char* to_string(OverflowPolicy policy) {
  switch (policy) {
  case OverflowPolicy::check:
    return "check";
  case OverflowPolicy::saturate:
    return "saturate";
  case OverflowPolicy::wrap:
    return "wrap";
  case OverflowPolicy::count:
    return "count";
  }
  return "unknown";
}

/// Where an accumulation happens, for overflow messages. Set by the caller (a kernel); -1 means
/// "not applicable". The strings are views: the caller keeps them alive while the accumulator uses them.
struct OverflowContext {
  std::string_view layer{};   ///< layer name, e.g. "fc2"
  std::int64_t channel = -1;  ///< output channel
  std::int64_t sample = -1;   ///< sample (batch row); for conv the output position is in `position`
  std::int64_t position = -1; ///< flat output position (conv: oy * W_out + ox)
  std::int64_t tile = -1;     ///< tile index for a multi-stage accumulator
  std::string_view stage{};   ///< "inner" / "outer" for a multi-stage accumulator, empty otherwise
};

/// The overflow_error thrown by OverflowPolicy::check, with the details as fields.
class accumulator_overflow : public overflow_error {
public:
  accumulator_overflow(const std::string& what, const OverflowContext& context, std::int64_t partial_sum,
                       detail::int128 value, int bits)
      : overflow_error(what), layer_(context.layer), channel_(context.channel), sample_(context.sample),
        position_(context.position), tile_(context.tile), partial_sum_(partial_sum), value_(value),
        bits_(bits) {}

  const std::string& layer() const { return layer_; }
  std::int64_t channel() const { return channel_; }
  std::int64_t sample() const { return sample_; }
  std::int64_t position() const { return position_; }
  std::int64_t tile() const { return tile_; }
  /// Index of the offending partial sum: i means "after adding product i" (0-based, counted since the
  /// last reset; within the tile for an inner stage, the tile index for an outer stage); -1 is the
  /// start value given to reset().
  std::int64_t partial_sum() const { return partial_sum_; }
  /// The exact (unreduced) partial sum that left the range.
  detail::int128 value() const { return value_; }
  /// Accumulator width P.
  int bits() const { return bits_; }

private:
  std::string layer_;
  std::int64_t channel_;
  std::int64_t sample_;
  std::int64_t position_;
  std::int64_t tile_;
  std::int64_t partial_sum_;
  detail::int128 value_;
  int bits_;
};

/// A P-bit two's-complement accumulator. The register value always lies in [min(), max()]; every add
/// forms the exact sum register + product in 128 bits, and if that partial sum is outside the range the
/// policy decides (see OverflowPolicy). Alongside the register, the exact mathematical sum (start plus
/// every product, never reduced) is tracked so that callers can tell whether the final value was
/// affected by overflow.
///
/// Partial sums are checked after every add, not only at the end: a sequence that leaves the range
/// transiently and comes back is still an overflow (wrapping hardware would be right by luck, a
/// saturating one would not).
class Accumulator {
public:
  /// @param bits accumulator width P in [2, 64] (config_error otherwise)
  /// @param policy what to do when a partial sum leaves the range
  /// @param context where the accumulation happens, for messages (see set_context)
  Accumulator(int bits, OverflowPolicy policy, OverflowContext context = {})
      : bits_(bits), policy_(policy), context_(context) {
    if (bits < 2 || bits > 64)
      throw config_error("Accumulator: width P = " + std::to_string(bits) + " is outside [2, 64]");
    min_ = static_cast<std::int64_t>(-(detail::int128{1} << (bits - 1)));
    max_ = static_cast<std::int64_t>((detail::int128{1} << (bits - 1)) - 1);
  }

  int bits() const { return bits_; }
  OverflowPolicy policy() const { return policy_; }
  /// Lowest representable value, -2^(P-1).
  std::int64_t min() const { return min_; }
  /// Highest representable value, 2^(P-1) - 1.
  std::int64_t max() const { return max_; }

  /// Sets the context named in overflow messages (keeps the counters and the value).
  void set_context(const OverflowContext& context) { context_ = context; }
  const OverflowContext& context() const { return context_; }

  /// Starts a new sum at `start` (e.g. a bias in accumulator units) and clears the counters. The start
  /// value itself goes through the policy (partial-sum index -1) if it does not fit.
  void reset(std::int64_t start = 0) {
    value_ = 0;
    exact_ = start;
    adds_ = 0;
    events_ = 0;
    value_ = settle(start, -1);
  }

  /// Adds one product (any std::int64_t) and applies the policy to the new partial sum.
  void add(std::int64_t product) {
    exact_ += product;
    const detail::int128 sum = static_cast<detail::int128>(value_) + product; // |sum| <= 2^64: exact
    value_ = settle(sum, adds_);
    ++adds_;
  }

  /// The register value, in [min(), max()].
  std::int64_t value() const { return value_; }
  /// Number of products added since the last reset.
  std::int64_t partial_sums() const { return adds_; }
  /// Number of partial sums (the start included) that left the range since the last reset: one per
  /// wrap or clamp. Always 0 under check (the first one throws).
  std::int64_t overflow_events() const { return events_; }
  /// The exact sum of the start and every product since the last reset, never reduced.
  detail::int128 exact_sum() const { return exact_; }
  /// True when the register value differs from the exact sum, i.e. overflow changed the result.
  /// (A wrapping accumulator can overflow transiently and still end right: events > 0, not affected.)
  bool final_affected() const { return static_cast<detail::int128>(value_) != exact_; }

  /// sum reduced modulo 2^bits to two's complement (bits in [2, 64]; |sum| < 2^126).
  static std::int64_t wrap_to(detail::int128 sum, int bits) {
    const detail::uint128 modulus = detail::uint128{1} << bits;
    const detail::uint128 low = static_cast<detail::uint128>(sum) & (modulus - 1); // sum mod 2^bits
    const bool negative = ((low >> (bits - 1)) & 1) != 0;
    const detail::int128 result =
        negative ? static_cast<detail::int128>(low) - static_cast<detail::int128>(modulus)
                 : static_cast<detail::int128>(low);
    return static_cast<std::int64_t>(result);
  }

private:
  std::int64_t settle(detail::int128 sum, std::int64_t index) {
    if (sum >= min_ && sum <= max_)
      return static_cast<std::int64_t>(sum);
    switch (policy_) {
    case OverflowPolicy::check:
      throw_overflow(sum, index);
    case OverflowPolicy::saturate:
      ++events_;
      return sum < min_ ? min_ : max_;
    case OverflowPolicy::wrap:
    case OverflowPolicy::count:
      ++events_;
      return wrap_to(sum, bits_);
    }
    return static_cast<std::int64_t>(sum); // unreachable: every policy is handled above
  }

  [[noreturn]] void throw_overflow(detail::int128 sum, std::int64_t index) const {
    std::string where;
    const auto part = [&where](const std::string& s) { where += (where.empty() ? "" : ", ") + s; };
    if (!context_.layer.empty())
      part("layer " + std::string(context_.layer));
    if (context_.channel >= 0)
      part("output channel " + std::to_string(context_.channel));
    if (context_.sample >= 0)
      part("sample " + std::to_string(context_.sample));
    if (context_.position >= 0)
      part("position " + std::to_string(context_.position));
    if (context_.tile >= 0)
      part("tile " + std::to_string(context_.tile));
    if (!context_.stage.empty())
      part(std::string(context_.stage) + " stage");
    part(index < 0 ? std::string("start value") : "partial sum " + std::to_string(index));
    throw accumulator_overflow("accumulator overflow (" + where + "): value " + detail::to_string(sum) +
                                   " is outside [" + std::to_string(min_) + ", " + std::to_string(max_) +
                                   "] of a P = " + std::to_string(bits_) + "-bit accumulator",
                               context_, index, sum, bits_);
  }

  int bits_;
  OverflowPolicy policy_;
  OverflowContext context_;
  std::int64_t min_ = 0;
  std::int64_t max_ = 0;
  std::int64_t value_ = 0;
  detail::int128 exact_ = 0;
  std::int64_t adds_ = 0;
  std::int64_t events_ = 0;
};

/// Multi-stage accumulation (spec §6): products go into an inner P_I-bit register; after every
/// tile_size products the inner value is added to an outer P_O-bit register (which starts at the bias)
/// and the inner register restarts at 0. finish() flushes a last, partial tile. Both registers use the
/// same policy. Matches the model of tiled_accumulator_bits (quant/bounds.hpp): tiles are consecutive
/// runs of tile_size products in index order.
class TiledAccumulator {
public:
  /// @param inner_bits P_I in [2, 64]
  /// @param outer_bits P_O in [2, 64]
  /// @param tile_size products per tile, >= 1
  TiledAccumulator(int inner_bits, int outer_bits, std::int64_t tile_size, OverflowPolicy policy,
                   OverflowContext context = {})
      : inner_(inner_bits, policy), outer_(outer_bits, policy), tile_size_(tile_size) {
    if (tile_size < 1)
      throw config_error("TiledAccumulator: tile_size = " + std::to_string(tile_size) + " is not positive");
    set_context(context);
  }

  /// Sets the context for messages; the stage ("inner"/"outer") and tile index are filled in here.
  void set_context(const OverflowContext& context) {
    context_ = context;
    context_.stage = "outer";
    context_.tile = -1;
    outer_.set_context(context_);
    update_inner_context();
  }

  /// Starts a new dot product: the outer register at `start`, the inner one at 0, counters cleared.
  void reset(std::int64_t start = 0) {
    tile_ = 0;
    in_tile_ = 0;
    inner_events_ = 0;
    exact_ = start;
    update_inner_context();
    inner_.reset(0);
    outer_.reset(start);
  }

  /// Adds one product to the inner register; a full tile is flushed into the outer register.
  void add(std::int64_t product) {
    exact_ += product;
    inner_.add(product);
    if (++in_tile_ == tile_size_)
      flush();
  }

  /// Flushes a pending partial tile and returns the outer value (the dot product).
  std::int64_t finish() {
    if (in_tile_ > 0)
      flush();
    return outer_.value();
  }

  /// The outer register value (call finish() first to include a partial tile).
  std::int64_t value() const { return outer_.value(); }
  /// Overflow events of both stages since reset (one per wrap or clamp).
  std::int64_t overflow_events() const {
    return inner_events_ + inner_.overflow_events() + outer_.overflow_events();
  }
  /// True when the final outer value differs from the exact sum (call after finish()).
  bool final_affected() const { return static_cast<detail::int128>(outer_.value()) != exact_; }
  detail::int128 exact_sum() const { return exact_; }
  std::int64_t tile_size() const { return tile_size_; }
  const Accumulator& inner() const { return inner_; }
  const Accumulator& outer() const { return outer_; }

private:
  void flush() {
    outer_.add(inner_.value()); // the outer partial-sum index is the tile index
    inner_events_ += inner_.overflow_events();
    ++tile_;
    in_tile_ = 0;
    update_inner_context();
    inner_.reset(0);
  }

  void update_inner_context() {
    OverflowContext c = context_;
    c.stage = "inner";
    c.tile = tile_;
    inner_.set_context(c);
  }

  Accumulator inner_;
  Accumulator outer_;
  std::int64_t tile_size_;
  OverflowContext context_{};
  std::int64_t tile_ = 0;
  std::int64_t in_tile_ = 0;
  std::int64_t inner_events_ = 0;
  detail::int128 exact_ = 0;
};

} // namespace a2q::engine
