/// @file
/// Prints, for common layer shapes, the data-type accumulator bound and the A2Q / A2Q+ L1 limits at a few
/// target accumulator widths, with the average |q| per weight each limit leaves. With a 16-bit accumulator
/// and 8-bit operands that budget is a fraction of one integer step per weight, which is why A2Q-trained
/// layers end up mostly zeros.
///
///   bounds_table                          # default shapes, W8A8 unsigned
///   bounds_table --K 576 --P 14 --P 16 --N 4 --M 4 --signed

#include "a2q/quant/bounds.hpp"

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

namespace {

struct Options {
  std::vector<std::int64_t> lengths{784, 256, 576, 1152, 2304, 4608};
  int input_bits = 8;
  int weight_bits = 8;
  std::vector<int> accumulator_bits{12, 14, 16, 20, 24, 32};
  bool input_signed = false;
};

void print_table(const Options& o) {
  const int largest_weight = (1 << (o.weight_bits - 1)) - 1;
  fmt::print("Accumulator bounds for {}-bit {} inputs and {}-bit weights (largest |q| = {})\n", o.input_bits,
             o.input_signed ? "signed" : "unsigned", o.weight_bits, largest_weight);
  fmt::print(
      "  P_dtype: width no K-long dot product can overflow, whatever the weights\n"
      "  T: A2Q limit on ||q||_1 for a P-bit accumulator; Z: A2Q+ limit (each sign's sum <= Z/2)\n"
      "  T/K, Z/K: average |q| per weight the limit allows; '*' marks P >= P_dtype (no constraint)\n\n");
  fmt::print("{:>8} {:>8} {:>4} {:>16} {:>12} {:>16} {:>12}\n", "K", "P_dtype", "P", "T", "T/K", "Z", "Z/K");

  for (const std::int64_t K : o.lengths) {
    const int p_dtype = a2q::datatype_bound_bits(K, o.input_bits, o.weight_bits, o.input_signed);
    bool first = true;
    for (const int P : o.accumulator_bits) {
      const double t = a2q::a2q_l1_limit(P, o.input_bits, o.input_signed);
      const double z = a2q::a2q_plus_l1_limit(P, o.input_bits);
      const auto k = static_cast<double>(K);
      fmt::print("{:>8} {:>8} {:>3}{} {:>16.3f} {:>12.4f} {:>16.3f} {:>12.4f}\n",
                 first ? fmt::format("{}", K) : "", first ? fmt::format("{}", p_dtype) : "", P,
                 P >= p_dtype ? '*' : ' ', t, t / k, z, z / k);
      first = false;
    }
  }
}

} // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Data-type accumulator bound and A2Q / A2Q+ L1 limits for common layer shapes"};
  app.add_option("--K", o.lengths, "dot-product lengths (repeatable)")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::numeric_limits<std::int64_t>::max()));
  app.add_option("--N", o.input_bits, "activation (input) bits")
      ->capture_default_str()
      ->check(CLI::Range(1, 32));
  app.add_option("--M", o.weight_bits, "weight bits")->capture_default_str()->check(CLI::Range(1, 32));
  app.add_option("--P", o.accumulator_bits, "target accumulator widths (repeatable)")
      ->capture_default_str()
      ->check(CLI::Range(2, 64));
  app.add_flag("--signed", o.input_signed, "signed inputs (default unsigned, e.g. after ReLU)");
  CLI11_PARSE(app, argc, argv);

  try {
    print_table(o);
  } catch (const a2q::error& e) {
    fmt::print(stderr, "bounds_table: {}\n", e.what());
    return 1;
  }
  return 0;
}
