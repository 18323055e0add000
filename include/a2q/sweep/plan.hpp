#pragma once
/// @file
/// sweep::plan: the points of an accuracy-vs-accumulator (Pareto) sweep, one `a2q train` command each.
///
/// For each accumulator width P of the hidden layers and each method:
/// - float: one point, the reference;
/// - A2Q and A2Q+: one point per M = N in the bit list (a W4A4 layer has a far larger L1 budget at
///   P = 12 than a W8A8 one), skipped where the budget is below one unit (every weight would be zero);
/// - the data-type-bound baseline: the largest M = N <= 8 whose data-type bound fits P in every
///   constrained layer (spec §1), so the baseline is safe by construction, as in the A2Q paper's
///   comparison; skipped, with the reason, when not even M = N = 2 fits.
/// The points are independent jobs: write_plan puts them in DIR/jobs.txt (one shell command per line, for
/// GNU parallel, xargs -P or a Slurm job array) and DIR/plan.json, which read_plan reads back to collect.

#include "a2q/core/config.hpp"
#include "a2q/quant/method.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace a2q::sweep {

/// A sweep's methods are `a2q train --quant`'s: none (the float reference), baseline, a2q, a2q+, a2q-split.
using Method = quant::QuantMethod;

/// What the sweep's models are scored by: test accuracy (classifiers) or PSNR (super-resolution).
enum class Metric { accuracy, psnr };

/// Comma-separated methods, e.g. "float,baseline,a2q,a2q+" (no duplicates).
A2Q_DECL std::vector<Method> parse_methods(const std::string& list);

/// Integers as "LO:HI" (inclusive), "A,B,C" or one value; each in [min, max].
/// @throws config_error naming `flag`
A2Q_DECL std::vector<int> parse_int_list(const std::string& text, const std::string& flag, int min, int max);

/// A layer whose accumulator the sweep constrains: its dot-product length and its input's sign.
struct ConstrainedLayer {
  std::string name;
  std::int64_t fan_in = 0;
  bool input_signed = false;
};

/// The bit-shrinking baseline at P: the largest b in [min_bits, max_bits] such that M = N = b puts every
/// constrained layer's data-type bound within P; nullopt when none does.
A2Q_DECL std::optional<int> baseline_bits(std::span<const ConstrainedLayer> layers, int P, int max_bits = 8,
                                          int min_bits = 2);

/// What to sweep. `train_args` go to every job unchanged (epochs, seed, data, limits, schedule, ...).
struct Spec {
  std::string model;           ///< an `a2q train --model` recipe name
  std::vector<int> acc_bits;   ///< P of the hidden layers
  std::vector<Method> methods; ///< in the order given
  std::vector<int> bits{8};    ///< M = N tried by A2Q and A2Q+
  std::vector<std::string> train_args;
  std::string program = "a2q";               ///< how jobs.txt calls the a2q command
  std::filesystem::path directory;           ///< DIR: plan, jobs, points and results
  std::vector<ConstrainedLayer> constrained; ///< the layers P constrains (the recipe's hidden layers)
  /// The paper's protocol: the float point trains first and writes a checkpoint; every quantized point
  /// starts from it (A2Q/A2Q+ with their initialisation from float weights) instead of from scratch. Its
  /// job is then the first line of jobs.txt and must finish before the others start.
  Metric metric = Metric::accuracy;
  bool init_from_float = false;
};

/// One trained model of the sweep.
struct Point {
  std::string id; ///< e.g. "a2q+-p14-w4a4"; its files are DIR/points/<id>.a2q and .json
  Method method = Method::none;
  int acc_bits = 0; ///< 0 for float
  int weight_bits = 0;
  int act_bits = 0;
  std::string skipped;              ///< non-empty: not trained, and why
  std::vector<std::string> command; ///< the a2q train command, program first (empty when skipped)

  bool trained() const { return skipped.empty(); }
};

/// The float point's checkpoint, which the quantized points start from with Spec::init_from_float.
A2Q_DECL std::filesystem::path float_checkpoint(const std::filesystem::path& directory);

/// The model file and metrics file of a point.
A2Q_DECL std::filesystem::path model_file(const std::filesystem::path& directory, const Point& p);
A2Q_DECL std::filesystem::path metrics_file(const std::filesystem::path& directory, const Point& p);

/// The sweep's points: float first, then per P the methods in the spec's order. The constrained layers'
/// fan-in and input sign decide the baseline's bits and which A2Q points have a budget.
/// @throws config_error for an empty P list, method list or layer list, bits outside [2, 8], or
///   init_from_float without the float method
A2Q_DECL std::vector<Point> plan(const Spec& spec);

/// One argument quoted for a POSIX shell where it needs it ("a b" -> 'a b').
A2Q_DECL std::string shell_quote(const std::string& arg);

/// The command as one shell line.
A2Q_DECL std::string shell_line(const std::vector<std::string>& command);

/// Writes DIR/plan.json and DIR/jobs.txt (atomically) and creates DIR/points.
A2Q_DECL void write_plan(const Spec& spec, const std::vector<Point>& points);

struct Plan {
  Spec spec;
  std::vector<Point> points;
};

/// Reads DIR/plan.json back.
/// @throws io_error naming the file and what is wrong with it
A2Q_DECL Plan read_plan(const std::filesystem::path& directory);

/// Parses a plan's text (what read_plan reads); `directory` becomes the plan's DIR, `source` names it in
/// errors. Every value is type- and range-checked: a plan may come from another machine.
/// @throws io_error naming `source` and what is wrong
A2Q_DECL Plan parse_plan(std::string_view text, const std::filesystem::path& directory,
                         const std::string& source);

} // namespace a2q::sweep

#if A2Q_HEADER_ONLY
#include "a2q/sweep/plan.ipp"
#endif
