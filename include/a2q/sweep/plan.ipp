#pragma once
/// @file
/// Definitions for plan.hpp (see a2q/core/config.hpp).

#include "a2q/sweep/plan.hpp"

#include "a2q/core/error.hpp"
#include "a2q/io/atomic_file.hpp"
#include "a2q/io/json_file.hpp"
#include "a2q/quant/bounds.hpp"
#include "a2q/quant/l1_budget.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace a2q::sweep {

namespace detail {

inline constexpr int plan_version = 1;

inline int parse_one_int(const std::string& item, const std::string& flag, int min, int max) {
  int v = 0;
  const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
  if (item.empty() || ec != std::errc{} || end != item.data() + item.size())
    throw config_error(flag + ": '" + item + "' is not an integer");
  if (v < min || v > max)
    throw config_error(flag + ": " + item + " is outside [" + std::to_string(min) + ", " +
                       std::to_string(max) + "]");
  return v;
}

inline quant::QuantMethod quant_method(Method m) {
  return m == Method::a2q ? quant::QuantMethod::a2q : quant::QuantMethod::a2q_plus;
}

} // namespace detail

std::string_view to_string(Method m) {
  switch (m) {
  case Method::float_reference:
    return "float";
  case Method::baseline:
    return "baseline";
  case Method::a2q:
    return "a2q";
  case Method::a2q_plus:
    return "a2q+";
  }
  return "?";
}

Method parse_method(std::string_view name) {
  for (const Method m : {Method::float_reference, Method::baseline, Method::a2q, Method::a2q_plus})
    if (name == to_string(m))
      return m;
  throw config_error("unknown sweep method '" + std::string(name) +
                     "' (expected float, baseline, a2q or a2q+)");
}

std::vector<Method> parse_methods(const std::string& list) {
  std::vector<Method> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    const Method m = parse_method(item);
    if (std::find(out.begin(), out.end(), m) != out.end())
      throw config_error("--methods names '" + item + "' twice");
    out.push_back(m);
  }
  if (out.empty())
    throw config_error("--methods is empty (expected e.g. float,baseline,a2q,a2q+)");
  return out;
}

std::vector<int> parse_int_list(const std::string& text, const std::string& flag, int min, int max) {
  std::vector<int> out;
  if (const auto colon = text.find(':'); colon != std::string::npos) {
    const int lo = detail::parse_one_int(text.substr(0, colon), flag, min, max);
    const int hi = detail::parse_one_int(text.substr(colon + 1), flag, min, max);
    if (lo > hi)
      throw config_error(flag + ": the range " + text + " runs backwards (expected LO:HI with LO <= HI)");
    for (int v = lo; v <= hi; ++v)
      out.push_back(v);
    return out;
  }
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ','))
    out.push_back(detail::parse_one_int(item, flag, min, max));
  if (out.empty())
    throw config_error(flag + " is empty (expected LO:HI, a list A,B,C or one value)");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::optional<int> baseline_bits(std::span<const ConstrainedLayer> layers, int P, int max_bits,
                                 int min_bits) {
  for (int b = max_bits; b >= min_bits; --b) {
    const bool fits = std::all_of(layers.begin(), layers.end(), [&](const ConstrainedLayer& l) {
      return datatype_bound_bits(l.fan_in, b, b, l.input_signed) <= P;
    });
    if (fits)
      return b;
  }
  return std::nullopt;
}

std::filesystem::path model_file(const std::filesystem::path& directory, const Point& p) {
  return directory / "points" / (p.id + ".a2q");
}

std::filesystem::path metrics_file(const std::filesystem::path& directory, const Point& p) {
  return directory / "points" / (p.id + ".json");
}

std::vector<Point> plan(const Spec& spec) {
  const std::vector<ConstrainedLayer>& layers = spec.constrained;
  if (spec.acc_bits.empty())
    throw config_error("the sweep has no accumulator widths (--acc-bits)");
  if (spec.methods.empty())
    throw config_error("the sweep has no methods (--methods)");
  if (spec.bits.empty())
    throw config_error("the sweep has no bit widths (--bits)");
  for (const int b : spec.bits)
    if (b < 2 || b > 8)
      throw config_error("--bits " + std::to_string(b) + " is outside [2, 8]");
  if (layers.empty())
    throw config_error("model '" + spec.model + "' has no layer the accumulator width constrains");
  const std::filesystem::path dir = std::filesystem::absolute(spec.directory);

  std::vector<Point> points;
  const auto add = [&](Method m, int P, int bits, std::string skipped) {
    Point p;
    p.method = m;
    p.acc_bits = P;
    p.weight_bits = p.act_bits = bits;
    p.id = m == Method::float_reference
               ? std::string("float")
               : std::string(to_string(m)) + "-p" + std::to_string(P) +
                     (bits > 0 ? "-w" + std::to_string(bits) + "a" + std::to_string(bits) : std::string());
    p.skipped = std::move(skipped);
    if (p.trained()) {
      p.command = {spec.program, "train", "--model", spec.model, "--quant", std::string(to_string(m))};
      if (m != Method::float_reference)
        p.command.insert(p.command.end(), {"--acc-bits", std::to_string(P), "--weight-bits",
                                           std::to_string(bits), "--act-bits", std::to_string(bits)});
      p.command.insert(p.command.end(), spec.train_args.begin(), spec.train_args.end());
      p.command.insert(p.command.end(), {"--quiet", "-o", model_file(dir, p).string(), "--metrics",
                                         metrics_file(dir, p).string()});
    }
    points.push_back(std::move(p));
  };

  if (std::find(spec.methods.begin(), spec.methods.end(), Method::float_reference) != spec.methods.end())
    add(Method::float_reference, 0, 0, "");
  for (const int P : spec.acc_bits)
    for (const Method m : spec.methods) {
      if (m == Method::float_reference)
        continue;
      if (m == Method::baseline) {
        const std::optional<int> b = baseline_bits(layers, P, 8, 2);
        add(m, P, b.value_or(0),
            b ? ""
              : "no M = N >= 2 puts every constrained layer's data-type bound within P = " +
                    std::to_string(P));
        continue;
      }
      for (const int b : spec.bits) {
        std::string skipped;
        for (const ConstrainedLayer& l : layers) {
          const double budget = quant::l1_budget(detail::quant_method(m), P, b, l.input_signed);
          if (budget < 1.0) {
            skipped = "P = " + std::to_string(P) + " leaves layer " + l.name + " an L1 budget of " +
                      std::to_string(budget) + " for " + std::to_string(b) + "-bit inputs";
            break;
          }
        }
        add(m, P, b, std::move(skipped));
      }
    }
  return points;
}

std::string shell_quote(const std::string& arg) {
  const bool plain = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("-_./:=+,@%").find(c) != std::string_view::npos;
  });
  if (plain)
    return arg;
  std::string out = "'";
  for (const char c : arg)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string shell_line(const std::vector<std::string>& command) {
  std::string line;
  for (const std::string& arg : command) {
    if (!line.empty())
      line += ' ';
    line += shell_quote(arg);
  }
  return line;
}

void write_plan(const Spec& spec, const std::vector<Point>& points) {
  const std::filesystem::path dir = spec.directory;
  std::filesystem::create_directories(dir / "points");
  nlohmann::ordered_json doc;
  doc["a2q_sweep_plan"] = detail::plan_version;
  doc["model"] = spec.model;
  doc["acc_bits"] = spec.acc_bits;
  nlohmann::ordered_json methods = nlohmann::ordered_json::array();
  for (const Method m : spec.methods)
    methods.push_back(std::string(to_string(m)));
  doc["methods"] = methods;
  doc["bits"] = spec.bits;
  doc["train_args"] = spec.train_args;
  doc["program"] = spec.program;
  doc["metric"] = spec.metric == Metric::psnr ? "psnr" : "accuracy";
  nlohmann::ordered_json constrained = nlohmann::ordered_json::array();
  for (const ConstrainedLayer& l : spec.constrained)
    constrained.push_back({{"name", l.name}, {"fan_in", l.fan_in}, {"input_signed", l.input_signed}});
  doc["constrained_layers"] = constrained;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const Point& p : points)
    list.push_back({{"id", p.id},
                    {"method", std::string(to_string(p.method))},
                    {"acc_bits", p.acc_bits},
                    {"weight_bits", p.weight_bits},
                    {"act_bits", p.act_bits},
                    {"skipped", p.skipped},
                    {"command", p.command}});
  doc["points"] = list;
  io::save_json(dir / "plan.json", doc);
  io::write_file_atomically(dir / "jobs.txt", [&](std::ostream& out) {
    for (const Point& p : points)
      if (p.trained())
        out << shell_line(p.command) << "\n";
  });
}

Plan read_plan(const std::filesystem::path& directory) {
  const std::filesystem::path path = directory / "plan.json";
  std::ifstream file(path, std::ios::binary);
  if (!file)
    throw io_error(path.string() + ": cannot be read (write it with a2q sweep --plan)");
  Plan plan;
  try {
    const nlohmann::json doc = nlohmann::json::parse(file);
    if (doc.at("a2q_sweep_plan").get<int>() != detail::plan_version)
      throw io_error(path.string() + ": unsupported plan version " + doc.at("a2q_sweep_plan").dump());
    plan.spec.model = doc.at("model").get<std::string>();
    plan.spec.acc_bits = doc.at("acc_bits").get<std::vector<int>>();
    for (const auto& m : doc.at("methods"))
      plan.spec.methods.push_back(parse_method(m.get<std::string>()));
    plan.spec.bits = doc.at("bits").get<std::vector<int>>();
    plan.spec.train_args = doc.at("train_args").get<std::vector<std::string>>();
    plan.spec.program = doc.at("program").get<std::string>();
    plan.spec.directory = directory;
    const std::string metric = doc.at("metric").get<std::string>();
    if (metric != "accuracy" && metric != "psnr")
      throw io_error(path.string() + ": unknown metric '" + metric + "' (expected accuracy or psnr)");
    plan.spec.metric = metric == "psnr" ? Metric::psnr : Metric::accuracy;
    for (const auto& l : doc.at("constrained_layers"))
      plan.spec.constrained.push_back({l.at("name").get<std::string>(), l.at("fan_in").get<std::int64_t>(),
                                       l.at("input_signed").get<bool>()});
    for (const auto& item : doc.at("points")) {
      Point p;
      p.id = item.at("id").get<std::string>();
      if (p.id.empty() || p.id.find('/') != std::string::npos || p.id.find("..") != std::string::npos)
        throw io_error(path.string() + ": point id '" + p.id + "' is not a plain file name");
      p.method = parse_method(item.at("method").get<std::string>());
      p.acc_bits = item.at("acc_bits").get<int>();
      p.weight_bits = item.at("weight_bits").get<int>();
      p.act_bits = item.at("act_bits").get<int>();
      p.skipped = item.at("skipped").get<std::string>();
      p.command = item.at("command").get<std::vector<std::string>>();
      plan.points.push_back(std::move(p));
    }
  } catch (const nlohmann::json::exception& e) {
    throw io_error(path.string() + ": not a sweep plan (" + e.what() + ")");
  } catch (const config_error& e) {
    throw io_error(path.string() + ": " + e.what());
  }
  return plan;
}

} // namespace a2q::sweep
