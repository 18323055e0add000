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

} // namespace detail

std::vector<Method> parse_methods(const std::string& list) {
  std::vector<Method> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    Method m = Method::none;
    try {
      m = quant::parse_quant_method(item);
    } catch (const config_error& e) {
      throw config_error(std::string("--methods: ") + e.what());
    }
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

std::filesystem::path float_checkpoint(const std::filesystem::path& directory) {
  return directory / "points" / "float.ckpt";
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
  const bool has_float =
      std::find(spec.methods.begin(), spec.methods.end(), Method::none) != spec.methods.end();
  if (spec.init_from_float && !has_float)
    throw config_error("--init-from-float starts every point from the float model: add float to --methods");
  const std::filesystem::path dir = std::filesystem::absolute(spec.directory);

  std::vector<Point> points;
  const auto add = [&](Method m, int P, int bits, std::string skipped) {
    Point p;
    p.method = m;
    p.acc_bits = P;
    p.weight_bits = p.act_bits = bits;
    p.id = m == Method::none
               ? std::string("float")
               : std::string(to_string(m)) + "-p" + std::to_string(P) +
                     (bits > 0 ? "-w" + std::to_string(bits) + "a" + std::to_string(bits) : std::string());
    p.skipped = std::move(skipped);
    if (p.trained()) {
      p.command = {spec.program, "train", "--model", spec.model, "--quant", std::string(to_string(m))};
      if (m != Method::none)
        p.command.insert(p.command.end(), {"--acc-bits", std::to_string(P), "--weight-bits",
                                           std::to_string(bits), "--act-bits", std::to_string(bits)});
      p.command.insert(p.command.end(), spec.train_args.begin(), spec.train_args.end());
      if (spec.init_from_float)
        p.command.insert(p.command.end(), {m == Method::none ? "--checkpoint" : "--init-from",
                                           float_checkpoint(dir).string()});
      p.command.insert(p.command.end(), {"--quiet", "-o", model_file(dir, p).string(), "--metrics",
                                         metrics_file(dir, p).string()});
    }
    points.push_back(std::move(p));
  };

  if (has_float)
    add(Method::none, 0, 0, "");
  for (const int P : spec.acc_bits)
    for (const Method m : spec.methods) {
      if (m == Method::none)
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
          const double budget = quant::l1_budget(m, P, b, l.input_signed);
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
  doc["init_from_float"] = spec.init_from_float;
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
  std::stringstream text;
  text << file.rdbuf();
  return parse_plan(text.str(), directory, path.string());
}

Plan parse_plan(std::string_view text, const std::filesystem::path& directory, const std::string& source) {
  using json = nlohmann::json;
  const auto fail = [&](const std::string& what) -> io_error { return io_error(source + ": " + what); };
  const auto member = [&](const json& node, const char* key) -> const json& {
    if (!node.is_object() || !node.contains(key))
      throw fail(std::string("not a sweep plan: '") + key + "' is missing");
    return node.at(key);
  };
  const auto integer = [&](const json& node, const char* key, int lo, int hi) {
    const json& v = member(node, key);
    if (!v.is_number_integer() || v.get<std::int64_t>() < lo || v.get<std::int64_t>() > hi)
      throw fail(std::string("'") + key + "' must be an integer in [" + std::to_string(lo) + ", " +
                 std::to_string(hi) + "]");
    return static_cast<int>(v.get<std::int64_t>());
  };
  const auto text_of = [&](const json& node, const char* key) {
    const json& v = member(node, key);
    if (!v.is_string())
      throw fail(std::string("'") + key + "' must be a string");
    return v.get<std::string>();
  };
  const auto array = [&](const json& node, const char* key) -> const json& {
    const json& v = member(node, key);
    if (!v.is_array())
      throw fail(std::string("'") + key + "' must be an array");
    return v;
  };
  const auto ints = [&](const json& node, const char* key, int lo, int hi) {
    std::vector<int> out;
    for (const json& v : array(node, key)) {
      if (!v.is_number_integer() || v.get<std::int64_t>() < lo || v.get<std::int64_t>() > hi)
        throw fail(std::string("'") + key + "' must hold integers in [" + std::to_string(lo) + ", " +
                   std::to_string(hi) + "]");
      out.push_back(static_cast<int>(v.get<std::int64_t>()));
    }
    return out;
  };
  const auto strings = [&](const json& node, const char* key) {
    std::vector<std::string> out;
    for (const json& v : array(node, key)) {
      if (!v.is_string())
        throw fail(std::string("'") + key + "' must hold strings");
      out.push_back(v.get<std::string>());
    }
    return out;
  };

  const json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded())
    throw fail("not a sweep plan (not JSON)");
  if (integer(doc, "a2q_sweep_plan", 0, 1 << 20) != detail::plan_version)
    throw fail("unsupported plan version " + member(doc, "a2q_sweep_plan").dump());
  Plan plan;
  try {
    plan.spec.model = text_of(doc, "model");
    plan.spec.acc_bits = ints(doc, "acc_bits", 2, 64);
    for (const std::string& m : strings(doc, "methods"))
      plan.spec.methods.push_back(quant::parse_quant_method(m));
    plan.spec.bits = ints(doc, "bits", 2, 8);
    plan.spec.train_args = strings(doc, "train_args");
    plan.spec.program = text_of(doc, "program");
    plan.spec.directory = directory;
    const std::string metric = text_of(doc, "metric");
    if (metric != "accuracy" && metric != "psnr")
      throw fail("unknown metric '" + metric + "' (expected accuracy or psnr)");
    plan.spec.metric = metric == "psnr" ? Metric::psnr : Metric::accuracy;
    if (doc.contains("init_from_float")) {
      if (!doc.at("init_from_float").is_boolean())
        throw fail("'init_from_float' must be true or false");
      plan.spec.init_from_float = doc.at("init_from_float").get<bool>();
    }
    for (const json& l : array(doc, "constrained_layers")) {
      const json& fan_in = member(l, "fan_in");
      const json& is_signed = member(l, "input_signed");
      if (!fan_in.is_number_integer() || fan_in.get<std::int64_t>() < 1 || !is_signed.is_boolean())
        throw fail("a constrained layer needs a positive integer 'fan_in' and a boolean 'input_signed'");
      plan.spec.constrained.push_back(
          {text_of(l, "name"), fan_in.get<std::int64_t>(), is_signed.get<bool>()});
    }
    for (const json& item : array(doc, "points")) {
      Point p;
      p.id = text_of(item, "id");
      if (p.id.empty() || p.id.size() > 128 || p.id.find('/') != std::string::npos ||
          p.id.find('\0') != std::string::npos || p.id.find("..") != std::string::npos)
        throw fail("point id '" + p.id.substr(0, 60) + "' is not a plain file name");
      p.method = quant::parse_quant_method(text_of(item, "method"));
      p.acc_bits = integer(item, "acc_bits", 0, 64);
      p.weight_bits = integer(item, "weight_bits", 0, 16);
      p.act_bits = integer(item, "act_bits", 0, 16);
      p.skipped = text_of(item, "skipped");
      p.command = strings(item, "command");
      plan.points.push_back(std::move(p));
    }
  } catch (const config_error& e) {
    throw fail(e.what());
  }
  return plan;
}

} // namespace a2q::sweep
