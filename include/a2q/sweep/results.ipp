#pragma once
/// @file
/// Definitions for results.hpp (see a2q/core/config.hpp).

#include "a2q/sweep/results.hpp"

#include "a2q/engine/verify.hpp"
#include "a2q/engine/weight_compression.hpp"
#include "a2q/hardware/lut_estimate.hpp"
#include "a2q/io/atomic_file.hpp"
#include "a2q/io/json_file.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace a2q::sweep {

namespace detail {

inline std::string csv_number(double v, int decimals) {
  if (!std::isfinite(v))
    return "";
  std::array<char, 64> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%.*f", decimals, v);
  return buffer.data();
}

/// The metric as plotted and written: accuracy in percent, PSNR in dB.
inline double shown(const Plan& plan, double metric) {
  return plan.spec.metric == Metric::accuracy ? 100.0 * metric : metric;
}

/// One colour and marker per method in every plot.
inline int method_style(Method m) {
  switch (m) {
  case Method::none:
    return 6; // black
  case Method::baseline:
    return 1;
  case Method::a2q:
    return 2;
  case Method::a2q_plus:
    return 0;
  case Method::a2q_split:
    return 3;
  }
  return 7;
}

inline std::string method_label(Method m) {
  switch (m) {
  case Method::none:
    return "float (reference)";
  case Method::baseline:
    return "baseline (M = N shrunk to fit P)";
  case Method::a2q:
    return "A2Q";
  case Method::a2q_plus:
    return "A2Q+";
  case Method::a2q_split:
    return "A2Q-split";
  }
  return "?";
}

} // namespace detail

WeightSummary summarize_weights(std::span<const nn::IntegerLayer* const> layers,
                                std::span<const std::string> names) {
  WeightSummary s;
  for (const nn::IntegerLayer* layer : layers) {
    if (!names.empty() && std::find(names.begin(), names.end(), layer->name) == names.end())
      continue;
    const engine::CompressedSize size = engine::estimate_compressed_size(*layer);
    s.weights += size.weights;
    s.zeros += size.weights - size.nonzeros;
    s.dense_bits += size.dense_bits;
    s.coded_bits += size.total_bits();
  }
  return s;
}

PointResult summarize_point(const Point& point, const engine::IntegerModel& model,
                            std::span<const ConstrainedLayer> constrained) {
  PointResult r;
  r.point = point;
  const std::vector<engine::LayerProof> proofs = engine::prove_model(model);
  r.proven =
      std::all_of(proofs.begin(), proofs.end(), [](const engine::LayerProof& p) { return p.proven(); });
  const std::vector<const nn::IntegerLayer*> layers = model.layers();
  std::vector<std::string> names;
  for (const ConstrainedLayer& l : constrained)
    names.push_back(l.name);
  r.hidden = summarize_weights(layers, names);
  r.model = summarize_weights(layers);
  for (const hardware::MvauLuts& l : hardware::network_luts(layers))
    r.luts += l.total;
  for (const hardware::MvauLuts& l : hardware::network_luts(layers, 1, 1, 32))
    r.luts_p32 += l.total;
  return r;
}

std::vector<std::pair<int, std::size_t>> pareto_front(std::span<const PointResult> results, Method method,
                                                      std::span<const int> acc_bits) {
  std::vector<int> widths(acc_bits.begin(), acc_bits.end());
  std::sort(widths.begin(), widths.end());
  std::vector<std::pair<int, std::size_t>> front;
  for (const int P : widths) {
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < results.size(); ++i) {
      const PointResult& r = results[i];
      if (r.point.method != method || !r.point.trained() || !r.proven || !std::isfinite(r.metric) ||
          r.point.acc_bits > P)
        continue;
      if (!best || r.metric > results[*best].metric)
        best = i;
    }
    if (best)
      front.emplace_back(P, *best);
  }
  return front;
}

std::vector<std::pair<std::string, report::LinePlot>> sweep_plots(const Plan& plan,
                                                                  std::span<const PointResult> results) {
  const bool psnr = plan.spec.metric == Metric::psnr;
  const std::string metric_label = psnr ? "PSNR (dB)" : "test accuracy (%)";
  const std::string p_label = "accumulator width P of the hidden layers (bits)";
  const std::string model = plan.spec.model;
  report::LinePlot metric_plot{.title = model + ": " + (psnr ? "PSNR" : "accuracy") + " vs accumulator width",
                               .x_label = p_label,
                               .y_label = metric_label,
                               .series = {},
                               .integer_x = true};
  report::LinePlot sparsity_plot{.title = model + ": weight sparsity of the hidden layers",
                                 .x_label = p_label,
                                 .y_label = "zero weights (%)",
                                 .series = {},
                                 .integer_x = true};
  report::LinePlot compression_plot{.title = model + ": estimated compression of the hidden layers",
                                    .x_label = p_label,
                                    .y_label = "dense int-M size / entropy-coded size (x)",
                                    .series = {},
                                    .integer_x = true};
  report::LinePlot lut_plot{.title = model + ": " + (psnr ? "PSNR" : "accuracy") + " vs FPGA LUTs",
                            .x_label = "estimated LUTs, FINN MVAU model (thousands)",
                            .y_label = metric_label,
                            .series = {}};
  std::vector<int> widths = plan.spec.acc_bits;
  std::sort(widths.begin(), widths.end());
  for (const Method m : plan.spec.methods) {
    if (m == Method::none) {
      for (const PointResult& r : results)
        if (r.point.method == m && std::isfinite(r.metric) && !widths.empty()) {
          const double y = detail::shown(plan, r.metric);
          metric_plot.series.push_back({.name = "float (32-bit float)",
                                        .points = {{widths.front(), y}, {widths.back(), y}},
                                        .dashed = true,
                                        .style = detail::method_style(m)});
          lut_plot.series.push_back({.name = "float (32-bit float)",
                                     .points = {},
                                     .dashed = true,
                                     .style = detail::method_style(m)});
        }
      continue;
    }
    const auto front = pareto_front(results, m, widths);
    report::PlotSeries metric_series{
        .name = detail::method_label(m), .points = {}, .dashed = false, .style = detail::method_style(m)};
    report::PlotSeries sparsity_series = metric_series, compression_series = metric_series,
                       lut_series = metric_series;
    for (const auto& [P, i] : front) {
      const PointResult& r = results[i];
      metric_series.points.emplace_back(P, detail::shown(plan, r.metric));
      sparsity_series.points.emplace_back(P, 100.0 * r.hidden.sparsity());
      compression_series.points.emplace_back(P, r.hidden.compression());
    }
    // Against LUTs the front is over every proven point, whatever its P and bits: the best accuracy for
    // at most so many LUTs.
    std::vector<std::pair<double, double>> candidates;
    for (const PointResult& r : results)
      if (r.point.method == m && r.point.trained() && r.proven && std::isfinite(r.metric))
        candidates.emplace_back(r.luts / 1000.0, detail::shown(plan, r.metric));
    std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
      return a.first < b.first || (a.first == b.first && a.second > b.second);
    });
    for (const auto& c : candidates)
      if (lut_series.points.empty() || c.second > lut_series.points.back().second)
        lut_series.points.push_back(c);
    metric_plot.series.push_back(std::move(metric_series));
    sparsity_plot.series.push_back(std::move(sparsity_series));
    compression_plot.series.push_back(std::move(compression_series));
    lut_plot.series.push_back(std::move(lut_series));
  }
  // The float level across the LUT plot's range, once the fronts have set it.
  for (report::PlotSeries& s : lut_plot.series)
    if (s.dashed) {
      double lo = INFINITY, hi = -INFINITY;
      for (const report::PlotSeries& t : lut_plot.series)
        for (const auto& [x, y] : t.points)
          lo = std::min(lo, x), hi = std::max(hi, x);
      for (const PointResult& r : results)
        if (r.point.method == Method::none && std::isfinite(r.metric) && std::isfinite(lo))
          s.points = {{lo, detail::shown(plan, r.metric)}, {hi, detail::shown(plan, r.metric)}};
    }
  return {{psnr ? "psnr_vs_acc_bits.svg" : "accuracy_vs_acc_bits.svg", std::move(metric_plot)},
          {"sparsity_vs_acc_bits.svg", std::move(sparsity_plot)},
          {"compression_vs_acc_bits.svg", std::move(compression_plot)},
          {psnr ? "psnr_vs_luts.svg" : "accuracy_vs_luts.svg", std::move(lut_plot)}};
}

void write_results(const Plan& plan, std::span<const PointResult> results) {
  const bool psnr = plan.spec.metric == Metric::psnr;
  std::vector<std::size_t> on_front;
  for (const Method m : plan.spec.methods)
    for (const auto& [P, i] : pareto_front(results, m, plan.spec.acc_bits))
      if (results[i].point.acc_bits == P) // a point leads the front at its own P
        on_front.push_back(i);
  double float_metric = NAN;
  for (const PointResult& r : results)
    if (r.point.method == Method::none)
      float_metric = r.metric;

  io::write_file_atomically(plan.spec.directory / "sweep.csv", [&](std::ostream& out) {
    out << "method,acc_bits,weight_bits,act_bits," << (psnr ? "psnr_db" : "accuracy_pct")
        << ",of_float,proven,overflow_events,sparsity_pct,compression,model_compression,dense_kib,coded_kib,"
           "luts,luts_p32,on_front,epoch_seconds,id,skipped\n";
    for (std::size_t i = 0; i < results.size(); ++i) {
      const PointResult& r = results[i];
      const Point& p = r.point;
      const bool is_float = p.method == Method::none;
      const bool has_ints = p.trained() && !is_float;
      const double of_float = psnr ? r.metric - float_metric : r.metric / float_metric;
      out << to_string(p.method) << ',' << (is_float ? "" : std::to_string(p.acc_bits)) << ','
          << (p.weight_bits > 0 ? std::to_string(p.weight_bits) : "") << ','
          << (p.act_bits > 0 ? std::to_string(p.act_bits) : "") << ','
          << detail::csv_number(detail::shown(plan, r.metric), 3) << ','
          << (is_float ? "" : detail::csv_number(psnr ? of_float : 100.0 * of_float, 3)) << ','
          << (has_ints ? (r.proven ? "1" : "0") : "") << ','
          << (r.overflow_events >= 0 ? std::to_string(r.overflow_events) : "") << ','
          << (has_ints ? detail::csv_number(100.0 * r.hidden.sparsity(), 2) : "") << ','
          << (has_ints ? detail::csv_number(r.hidden.compression(), 2) : "") << ','
          << (has_ints ? detail::csv_number(r.model.compression(), 2) : "") << ','
          << (has_ints ? detail::csv_number(static_cast<double>(r.model.dense_bits) / 8192.0, 2) : "") << ','
          << (has_ints ? detail::csv_number(r.model.coded_bits / 8192.0, 2) : "") << ','
          << (has_ints ? detail::csv_number(r.luts, 0) : "") << ','
          << (has_ints ? detail::csv_number(r.luts_p32, 0) : "") << ','
          << (std::find(on_front.begin(), on_front.end(), i) != on_front.end() ? "1" : "0") << ','
          << (p.trained() ? detail::csv_number(r.epoch_seconds, 3) : "") << ',' << p.id << ',' << '"'
          << p.skipped << "\"\n";
    }
  });

  nlohmann::ordered_json doc;
  doc["a2q_sweep"] = 1;
  doc["model"] = plan.spec.model;
  doc["metric"] = psnr ? "psnr_db" : "accuracy";
  doc["compression_model"] = engine::compression_model;
  doc["front_rule"] = "a method's front at P: its best proven point with an accumulator of at most P bits";
  nlohmann::ordered_json points = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < results.size(); ++i) {
    const PointResult& r = results[i];
    nlohmann::ordered_json item = {{"id", r.point.id},
                                   {"method", std::string(to_string(r.point.method))},
                                   {"acc_bits", r.point.acc_bits},
                                   {"weight_bits", r.point.weight_bits},
                                   {"act_bits", r.point.act_bits},
                                   {"skipped", r.point.skipped}};
    if (r.point.trained()) {
      item[psnr ? "psnr_db" : "accuracy"] = r.metric;
      item["epoch_seconds"] = r.epoch_seconds;
      if (r.point.method != Method::none) {
        item["proven"] = r.proven;
        item["overflow_events"] = r.overflow_events;
        item["hidden"] = {{"weights", r.hidden.weights},
                          {"sparsity", r.hidden.sparsity()},
                          {"dense_bits", r.hidden.dense_bits},
                          {"coded_bits", r.hidden.coded_bits},
                          {"compression", r.hidden.compression()}};
        item["model"] = {{"weights", r.model.weights},
                         {"sparsity", r.model.sparsity()},
                         {"dense_bits", r.model.dense_bits},
                         {"coded_bits", r.model.coded_bits},
                         {"compression", r.model.compression()}};
        item["luts"] = r.luts;
        item["luts_p32"] = r.luts_p32;
      }
      item["on_front"] = std::find(on_front.begin(), on_front.end(), i) != on_front.end();
    }
    points.push_back(std::move(item));
  }
  doc["points"] = std::move(points);
  nlohmann::ordered_json fronts = nlohmann::ordered_json::object();
  for (const Method m : plan.spec.methods) {
    if (m == Method::none)
      continue;
    nlohmann::ordered_json front = nlohmann::ordered_json::array();
    for (const auto& [P, i] : pareto_front(results, m, plan.spec.acc_bits))
      front.push_back(
          {{"acc_bits", P}, {"id", results[i].point.id}, {psnr ? "psnr_db" : "accuracy", results[i].metric}});
    fronts[std::string(to_string(m))] = std::move(front);
  }
  doc["fronts"] = std::move(fronts);
  io::save_json(plan.spec.directory / "sweep.json", doc);

  for (const auto& [name, plot] : sweep_plots(plan, results)) {
    const std::string svg = report::render_svg(plot);
    io::write_file_atomically(plan.spec.directory / name, [&](std::ostream& out) { out << svg; });
  }
}

} // namespace a2q::sweep
