#pragma once
/// @file
/// Definitions for svg_plot.hpp (see a2q/core/config.hpp).

#include "a2q/report/svg_plot.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace a2q::report {

namespace detail {

inline std::string number(double v, int decimals) {
  std::array<char, 64> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%.*f", decimals, v);
  std::string s = buffer.data();
  return s == "-0" ? "0" : s;
}

/// Pixel coordinates with one decimal: enough for any screen, short files.
inline std::string px(double v) {
  return number(v, 1);
}

inline std::string escape_xml(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&apos;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

/// Decimals that print every tick of this step exactly (step 0.5: one, step 20: none).
inline int tick_decimals(double step) {
  return std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
}

// Okabe & Ito's palette: told apart with every common colour-vision deficiency.
inline constexpr std::array<const char*, 8> palette = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                                       "#E69F00", "#56B4E9", "#000000", "#F0E442"};

/// A marker of shape `index` centred at (x, y): circle, square, triangle, diamond, then again.
inline std::string marker(int index, double x, double y, const char* colour) {
  const double r = 4.5;
  const std::string fill = std::string(" fill=\"") + colour + "\" stroke=\"white\" stroke-width=\"1\"/>";
  switch (index % 4) {
  case 0:
    return "<circle cx=\"" + px(x) + "\" cy=\"" + px(y) + "\" r=\"" + px(r) + "\"" + fill;
  case 1:
    return "<rect x=\"" + px(x - r) + "\" y=\"" + px(y - r) + "\" width=\"" + px(2 * r) + "\" height=\"" +
           px(2 * r) + "\"" + fill;
  case 2:
    return "<polygon points=\"" + px(x) + "," + px(y - 1.2 * r) + " " + px(x + 1.1 * r) + "," +
           px(y + 0.8 * r) + " " + px(x - 1.1 * r) + "," + px(y + 0.8 * r) + "\"" + fill;
  default:
    return "<polygon points=\"" + px(x) + "," + px(y - 1.3 * r) + " " + px(x + 1.3 * r) + "," + px(y) + " " +
           px(x) + "," + px(y + 1.3 * r) + " " + px(x - 1.3 * r) + "," + px(y) + "\"" + fill;
  }
}

} // namespace detail

std::vector<double> nice_ticks(double lo, double hi, int target, bool integer) {
  if (!std::isfinite(lo) || !std::isfinite(hi))
    return {0.0, 1.0};
  if (lo > hi)
    std::swap(lo, hi);
  if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
    lo -= integer ? 1.0 : std::max(0.5, 0.05 * std::abs(lo));
    hi += integer ? 1.0 : std::max(0.5, 0.05 * std::abs(hi));
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10.0 * magnitude;
  for (const double m : {1.0, 2.0, 5.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  if (integer)
    step = std::max(1.0, std::round(step));
  std::vector<double> ticks;
  const double first = std::floor(lo / step + 1e-9) * step;
  for (double t = first; ticks.empty() || ticks.back() < hi - 1e-9 * step; t += step)
    ticks.push_back(std::abs(t) < 1e-12 * step ? 0.0 : t);
  return ticks;
}

std::string render_svg(const LinePlot& plot) {
  using detail::escape_xml;
  using detail::px;
  const double W = plot.width, H = plot.height;
  // The legend sits in the right margin, as wide as its longest name (DejaVu Sans at 13 px: ~7.6 px a
  // character).
  std::size_t longest = 0;
  for (const PlotSeries& s : plot.series)
    longest = std::max(longest, s.name.size());
  const double left = 78, right = 66 + 7.6 * static_cast<double>(longest), top = 46, bottom = 62;
  const double plot_w = std::max(40.0, W - left - right), plot_h = std::max(40.0, H - top - bottom);

  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  for (const PlotSeries& s : plot.series)
    for (const auto& [x, y] : s.points)
      if (std::isfinite(x) && std::isfinite(y)) {
        x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x);
        y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
      }
  const bool empty = !std::isfinite(x_lo);
  if (empty)
    x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
  const std::vector<double> xt = nice_ticks(x_lo, x_hi, 7, plot.integer_x);
  const std::vector<double> yt = nice_ticks(y_lo, y_hi, 6, false);
  const double x0 = xt.front(), x1 = xt.back(), y0 = yt.front(), y1 = yt.back();
  const auto sx = [&](double x) { return left + (x - x0) / (x1 - x0) * plot_w; };
  const auto sy = [&](double y) { return top + plot_h - (y - y0) / (y1 - y0) * plot_h; };
  const int x_decimals = xt.size() > 1 ? detail::tick_decimals(xt[1] - xt[0]) : 0;
  const int y_decimals = yt.size() > 1 ? detail::tick_decimals(yt[1] - yt[0]) : 0;

  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + px(W) + "\" height=\"" +
         px(H) + "\" viewBox=\"0 0 " + px(W) + " " + px(H) +
         "\" font-family=\"DejaVu Sans, Arial, sans-serif\"" + " font-size=\"13\">\n";
  svg += "<title>" + escape_xml(plot.title) + "</title>\n";
  svg += "<rect x=\"0\" y=\"0\" width=\"" + px(W) + "\" height=\"" + px(H) + "\" fill=\"white\"/>\n";
  svg += "<text x=\"" + px(left + plot_w / 2) +
         "\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" "
         "font-weight=\"bold\">" +
         escape_xml(plot.title) + "</text>\n";

  // Grid and ticks.
  svg += "<g stroke=\"#dddddd\" stroke-width=\"1\">\n";
  for (const double t : xt)
    svg += "<line x1=\"" + px(sx(t)) + "\" y1=\"" + px(top) + "\" x2=\"" + px(sx(t)) + "\" y2=\"" +
           px(top + plot_h) + "\"/>\n";
  for (const double t : yt)
    svg += "<line x1=\"" + px(left) + "\" y1=\"" + px(sy(t)) + "\" x2=\"" + px(left + plot_w) + "\" y2=\"" +
           px(sy(t)) + "\"/>\n";
  svg += "</g>\n<g stroke=\"black\" stroke-width=\"1\">\n";
  svg += "<rect x=\"" + px(left) + "\" y=\"" + px(top) + "\" width=\"" + px(plot_w) + "\" height=\"" +
         px(plot_h) + "\" fill=\"none\"/>\n";
  for (const double t : xt)
    svg += "<line x1=\"" + px(sx(t)) + "\" y1=\"" + px(top + plot_h) + "\" x2=\"" + px(sx(t)) + "\" y2=\"" +
           px(top + plot_h + 5) + "\"/>\n";
  for (const double t : yt)
    svg += "<line x1=\"" + px(left - 5) + "\" y1=\"" + px(sy(t)) + "\" x2=\"" + px(left) + "\" y2=\"" +
           px(sy(t)) + "\"/>\n";
  svg += "</g>\n<g fill=\"black\">\n";
  for (const double t : xt)
    svg += "<text x=\"" + px(sx(t)) + "\" y=\"" + px(top + plot_h + 20) + "\" text-anchor=\"middle\">" +
           detail::number(t, x_decimals) + "</text>\n";
  for (const double t : yt)
    svg += "<text x=\"" + px(left - 9) + "\" y=\"" + px(sy(t) + 4.5) + "\" text-anchor=\"end\">" +
           detail::number(t, y_decimals) + "</text>\n";
  svg += "<text x=\"" + px(left + plot_w / 2) + "\" y=\"" + px(H - 16) + "\" text-anchor=\"middle\">" +
         escape_xml(plot.x_label) + "</text>\n";
  svg += "<text transform=\"translate(20," + px(top + plot_h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + escape_xml(plot.y_label) + "</text>\n";
  if (empty)
    svg += "<text x=\"" + px(left + plot_w / 2) + "\" y=\"" + px(top + plot_h / 2) +
           "\" text-anchor=\"middle\" fill=\"#777777\">no data</text>\n";
  svg += "</g>\n";

  // Series, then the legend.
  int index = 0;
  std::string legend;
  double legend_y = top + 14;
  for (const PlotSeries& s : plot.series) {
    const int style = s.style >= 0 ? s.style : index;
    const char* colour = detail::palette[static_cast<std::size_t>(style) % detail::palette.size()];
    const std::string dash = s.dashed ? " stroke-dasharray=\"6,4\"" : "";
    std::string line;
    std::string markers;
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y))
        continue;
      if (!line.empty())
        line += ' ';
      line += px(sx(x)) + "," + px(sy(y));
      if (!s.dashed)
        markers += detail::marker(style, sx(x), sy(y), colour) + "\n";
    }
    svg += "<g>\n";
    if (!line.empty())
      svg += "<polyline points=\"" + line + "\" fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"2\"" +
             dash + "/>\n";
    svg += markers + "</g>\n";
    const double lx = left + plot_w + 16;
    legend += "<line x1=\"" + px(lx) + "\" y1=\"" + px(legend_y) + "\" x2=\"" + px(lx + 28) + "\" y2=\"" +
              px(legend_y) + "\" stroke=\"" + colour + "\" stroke-width=\"2\"" + dash + "/>\n";
    if (!s.dashed)
      legend += detail::marker(style, lx + 14, legend_y, colour) + "\n";
    legend += "<text x=\"" + px(lx + 36) + "\" y=\"" + px(legend_y + 4.5) + "\">" + escape_xml(s.name) +
              "</text>\n";
    legend_y += 22;
    ++index;
  }
  svg += "<g>\n" + legend + "</g>\n</svg>\n";
  return svg;
}

} // namespace a2q::report
