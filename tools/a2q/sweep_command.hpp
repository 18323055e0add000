#pragma once
// a2q sweep: the A2Q paper's experiment. Trains a model at each accumulator width with each method (float
// reference, the bit-shrinking data-type-bound baseline, A2Q, A2Q+), proves every point, counts its
// overflows on the test set in the integer engine, and writes DIR/sweep.csv, DIR/sweep.json and SVG plots
// of each method's Pareto front (a2q/sweep/). --plan only writes the jobs (DIR/jobs.txt, one a2q train
// command per line) for GNU parallel or a job array; --collect DIR gathers what they wrote.

#include "data_source.hpp"
#include "model_commands.hpp"
#include "train_command.hpp"

#include <a2q/engine/verify.hpp>
#include <a2q/io/model_io.hpp>
#include <a2q/nn/quant_model.hpp>
#include <a2q/sweep/plan.hpp>
#include <a2q/sweep/results.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace a2q_cli {

struct SweepCommand {
  std::string model = "mlp";
  std::string acc_bits = "10:16";
  std::string methods = "float,baseline,a2q,a2q+";
  std::string bits = "8";
  std::string out;
  bool plan_only = false;
  bool init_from_float = false;
  std::string collect;
  std::string program;
  /// a2q train's flags, passed to every job as given (only those given)
  std::map<std::string, std::string> train_options;
  bool selected = false;

  /// The a2q train flags a sweep forwards: data, schedule and model-size flags.
  static constexpr std::array<const char*, 13> forwarded = {
      "--data", "--epochs",  "--batch",       "--lr",         "--optimizer", "--schedule", "--weight-decay",
      "--seed", "--threads", "--train-limit", "--test-limit", "--width",     "--penalty"};

  void add_to(CLI::App& app) {
    auto* cmd = app.add_subcommand(
        "sweep", "Accuracy-vs-accumulator Pareto sweep: train, prove and plot every method at every P");
    cmd->add_option("--model", model, "Recipe to sweep (as a2q train --model)")->capture_default_str();
    cmd->add_option("--acc-bits", acc_bits, "Accumulator widths P of the hidden layers: LO:HI or A,B,C")
        ->capture_default_str();
    cmd->add_option("--methods", methods, "Methods, comma-separated: float, baseline, a2q, a2q+, a2q-split")
        ->capture_default_str();
    cmd->add_option("--bits", bits, "M = N bit widths A2Q and A2Q+ try at each P: LO:HI or A,B,C (2..8)")
        ->capture_default_str();
    cmd->add_option("-o,--out", out, "Directory of the sweep (plan, jobs, points, results)");
    cmd->add_flag("--plan", plan_only,
                  "Only write DIR/plan.json and DIR/jobs.txt (one a2q train command per point); run the jobs "
                  "anywhere, then a2q sweep --collect DIR");
    cmd->add_option("--collect", collect,
                    "Gather the points the jobs of DIR/jobs.txt wrote into the results");
    cmd->add_flag(
        "--init-from-float", init_from_float,
        "Start every quantized point from the float point's weights (the paper's protocol); the float "
        "job, jobs.txt's first line, must then finish before the others start");
    cmd->add_option("--program", program, "How jobs.txt calls a2q (default: this program's absolute path)");
    for (const char* flag : forwarded)
      cmd->add_option(flag, train_options[flag], std::string("As a2q train ") + flag);
    cmd->callback([this] { selected = true; });
  }

  int run() {
    if (!collect.empty()) {
      if (plan_only || !out.empty())
        throw a2q::config_error("--collect DIR reads the plan in DIR: --plan and -o do not apply");
      return collect_results(a2q::sweep::read_plan(collect));
    }
    if (out.empty())
      throw a2q::config_error("a2q sweep needs -o DIR (or --collect DIR)");
    a2q::sweep::Spec spec;
    spec.model = model;
    spec.acc_bits = a2q::sweep::parse_int_list(acc_bits, "--acc-bits", 2, 32);
    spec.methods = a2q::sweep::parse_methods(methods);
    spec.bits = a2q::sweep::parse_int_list(bits, "--bits", 2, 8);
    spec.directory = out;
    spec.init_from_float = init_from_float;
    spec.program = program.empty() ? self_path() : program;
    for (const char* flag : forwarded)
      if (const std::string& v = train_options.at(flag); !v.empty())
        spec.train_args.insert(spec.train_args.end(), {flag, v});
    spec.constrained = constrained_layers(spec);
    spec.metric = model == "espcn" ? a2q::sweep::Metric::psnr : a2q::sweep::Metric::accuracy;
    const std::vector<a2q::sweep::Point> points = a2q::sweep::plan(spec);
    for (const auto& p : points) // every job's command line is checked before anything trains
      if (p.trained())
        parse_train(p.command);
    a2q::sweep::write_plan(spec, points);
    std::size_t jobs = 0;
    for (const auto& p : points) {
      jobs += p.trained();
      if (!p.trained())
        fmt::print("skipped {}: {}\n", p.id, p.skipped);
      else if (p.method == a2q::sweep::Method::baseline)
        fmt::print("baseline at P = {}: M = N = {} (the largest whose data-type bound fits)\n", p.acc_bits,
                   p.weight_bits);
    }
    fmt::print("planned {} jobs: {}\n", jobs, (std::filesystem::path(out) / "jobs.txt").string());
    if (plan_only) {
      if (init_from_float)
        fmt::print(
            "run them, the float job first, e.g. head -n 1 {0}/jobs.txt | sh && tail -n +2 {0}/jobs.txt | "
            "parallel -j 2, then: a2q sweep --collect {0}\n",
            out);
      else
        fmt::print("run them, e.g. parallel -j 2 < {0}/jobs.txt, then: a2q sweep --collect {0}\n", out);
      return 0;
    }
    std::size_t done = 0;
    for (const auto& p : points) {
      if (!p.trained())
        continue;
      fmt::print("[{}/{}] {}\n", ++done, jobs, p.id);
      std::fflush(stdout);
      TrainCommand train = parse_train(p.command);
      if (const int code = train.run(a2q::sweep::shell_line(p.command)); code != 0)
        return code;
    }
    return collect_results(a2q::sweep::read_plan(out));
  }

  /// The running program, so that jobs.txt works without a2q on the PATH.
  static std::string self_path() {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::string("a2q") : self.string();
  }

  /// A job's command parsed exactly as a2q train parses it.
  static TrainCommand parse_train(const std::vector<std::string>& command) {
    CLI::App app{"a2q"};
    TrainCommand train;
    train.add_to(app);
    app.require_subcommand(1);
    std::vector<std::string> args(command.rbegin(), command.rend() - 1); // CLI11 takes them reversed
    try {
      app.parse(args);
    } catch (const CLI::ParseError& e) {
      throw a2q::config_error(std::string("a2q train refuses the sweep's flags: ") + e.what());
    }
    return train;
  }

  /// The layers the recipe's policy constrains to P (built with A2Q to find them).
  std::vector<a2q::sweep::ConstrainedLayer> constrained_layers(const a2q::sweep::Spec& spec) const {
    std::vector<std::string> command = {"a2q", "train",      "--model", spec.model, "--quant",
                                        "a2q", "--acc-bits", "32",      "-o",       "unused.a2q"};
    command.insert(command.end(), spec.train_args.begin(), spec.train_args.end());
    const a2q::models::ModelRecipe recipe = parse_train(command).make_recipe();
    a2q::Rng rng(0);
    const auto net = recipe.build(rng);
    std::vector<a2q::sweep::ConstrainedLayer> layers;
    for (const a2q::nn::IntegerLayer& l : a2q::nn::integer_layers(*net))
      if (a2q::quant::is_accumulator_aware(l.method))
        layers.push_back({l.name, l.fan_in, l.input_signed});
    return layers;
  }

  static std::string arg_after(const std::vector<std::string>& args, const std::string& flag) {
    for (std::size_t i = 0; i + 1 < args.size(); ++i)
      if (args[i] == flag)
        return args[i + 1];
    return "";
  }

  /// One trained point in the integer engine: the proof, its test-set metric with every accumulator
  /// counted, and the weights' sparsity, compression and LUTs.
  static a2q::sweep::PointResult evaluate(const a2q::sweep::Plan& plan, const a2q::sweep::Point& p) {
    const std::filesystem::path file = a2q::sweep::model_file(plan.spec.directory, p);
    const a2q::io::LoadedModel m = a2q::io::load_model(file);
    const std::string limit_text = arg_after(plan.spec.train_args, "--test-limit");
    std::int64_t limit = 0;
    if (!limit_text.empty()) {
      const auto [end, ec] = std::from_chars(limit_text.data(), limit_text.data() + limit_text.size(), limit);
      if (ec != std::errc{} || end != limit_text.data() + limit_text.size() || limit < 0)
        throw a2q::io_error((plan.spec.directory / "plan.json").string() + ": --test-limit '" + limit_text +
                            "' is not a non-negative integer");
    }
    const std::string data = arg_after(plan.spec.train_args, "--data");
    const auto test = load_split(
        data.empty() ? m.file.find_metadata("data").value_or(a2q::data::default_fashion_mnist_dir) : data,
        m.input, a2q::data::Split::test, limit, upscale_of(m.file));
    a2q::data::DataLoaderOptions o{.batch_size = test.size(), .shuffle = false};
    o.normalization = normalization_for(m.input, m.file);
    const a2q::data::Batch batch = a2q::data::DataLoader(test, o).batch(0);

    a2q::sweep::PointResult r;
    r.point = p;
    const bool psnr = batch.targets.numel() > 0;
    const auto score = [&](const a2q::Tensor<float>& outputs) {
      if (psnr)
        return mean_psnr(outputs, batch);
      std::int64_t correct = 0;
      for (std::int64_t i = 0; i < batch.size(); ++i)
        correct += a2q::engine::predicted_class(outputs, i) == batch.labels[static_cast<std::size_t>(i)];
      return static_cast<double>(correct) / static_cast<double>(batch.size());
    };
    if (!m.quantized()) {
      r.metric = score(forward_in_chunks(*m.model, batch.images));
    } else {
      const a2q::engine::IntegerModel ints = a2q::io::to_integer_model(m);
      r = a2q::sweep::summarize_point(p, ints, plan.spec.constrained);
      const IntegerRun run =
          run_integer(ints, batch.images, a2q::engine::OverflowPolicy::count, std::nullopt);
      r.metric = score(run.outputs);
      r.overflow_events = run.events();
    }
    std::ifstream metrics(a2q::sweep::metrics_file(plan.spec.directory, p));
    if (metrics) {
      const auto doc = nlohmann::json::parse(metrics, nullptr, false);
      if (doc.is_object() && doc.contains("epoch_seconds") && doc["epoch_seconds"].is_number())
        r.epoch_seconds = doc["epoch_seconds"].get<double>();
    }
    return r;
  }

  static int collect_results(const a2q::sweep::Plan& plan) {
    std::vector<std::string> missing;
    for (const auto& p : plan.points)
      if (p.trained() && !std::filesystem::exists(a2q::sweep::model_file(plan.spec.directory, p)))
        missing.push_back(p.id);
    if (!missing.empty()) {
      std::string list;
      for (const auto& id : missing) {
        if (!list.empty())
          list += ", ";
        list += id;
      }
      throw a2q::config_error(std::to_string(missing.size()) +
                              " of the sweep's jobs have not written their model (" + list + "): run " +
                              (plan.spec.directory / "jobs.txt").string() + " first");
    }
    std::vector<a2q::sweep::PointResult> results;
    const bool psnr = plan.spec.metric == a2q::sweep::Metric::psnr;
    fmt::print("{:<22}{:>4}{:>6}{:>11}{:>8}{:>10}{:>10}{:>12}{:>10}\n", "point", "P", "M=N",
               psnr ? "PSNR dB" : "accuracy", "proven", "overflows", "sparsity", "compression", "LUTs");
    for (const auto& p : plan.points) {
      if (!p.trained()) {
        a2q::sweep::PointResult r;
        r.point = p;
        results.push_back(r);
        continue;
      }
      results.push_back(evaluate(plan, p));
      const auto& r = results.back();
      const bool ints = p.method != a2q::sweep::Method::none;
      const std::string metric = fmt::format("{:.2f}{}", psnr ? r.metric : 100.0 * r.metric, psnr ? "" : "%");
      if (!ints) {
        fmt::print("{:<22}{:>4}{:>6}{:>11}\n", p.id, "", "", metric);
        continue;
      }
      fmt::print("{:<22}{:>4}{:>6}{:>11}{:>8}{:>10}{:>9.1f}%{:>11.1f}x{:>10.0f}\n", p.id, p.acc_bits,
                 p.weight_bits, metric, r.proven ? "yes" : "NO", r.overflow_events,
                 100.0 * r.hidden.sparsity(), r.hidden.compression(), r.luts);
    }
    a2q::sweep::write_results(plan, results);
    bool all_proven = true;
    for (const auto& r : results)
      if (r.point.trained() && r.point.method != a2q::sweep::Method::none && !r.proven)
        all_proven = false;
    fmt::print("wrote {0}/sweep.csv, {0}/sweep.json and the plots {0}/*.svg\n", plan.spec.directory.string());
    if (!all_proven)
      fmt::print("NOT every point is proven: see the proven column of sweep.csv\n");
    return all_proven ? 0 : 4;
  }
};

} // namespace a2q_cli
