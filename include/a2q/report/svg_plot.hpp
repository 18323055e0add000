#pragma once
/// @file
/// report::LinePlot and render_svg: line plots written as standalone SVG 1.1 (axes with ticks, axis labels
/// with units, grid, a legend, one marker shape per series), for the Pareto sweeps' figures.
///
/// Written here because no Debian package fits a header-only C++ library: libplplot-dev and libplot-dev
/// (GNU plotutils) are compiled C libraries, libgnuplot-iostream-dev drives a gnuplot process, and
/// libqcustomplot-dev / libkf5plotting-dev need Qt. A plot is a few hundred lines of text.

#include "a2q/core/config.hpp"

#include <string>
#include <utility>
#include <vector>

namespace a2q::report {

/// One line of a plot: its points in drawing order (non-finite coordinates are skipped).
struct PlotSeries {
  std::string name; ///< the legend entry
  std::vector<std::pair<double, double>> points;
  bool dashed = false; ///< e.g. a reference level
  int style = -1;      ///< colour and marker: the same style in every plot; -1: the series' position
};

struct LinePlot {
  std::string title;
  std::string x_label; ///< with its unit, e.g. "accumulator width P (bits)"
  std::string y_label;
  std::vector<PlotSeries> series;
  bool integer_x = false; ///< ticks only at whole numbers (bit widths)
  int width = 800;        ///< pixels, legend included
  int height = 480;
};

/// Tick positions covering [lo, hi] at a 1, 2 or 5 x 10^k step, about `target` of them; the first is <= lo
/// and the last >= hi. lo == hi gets a unit-wide range around it.
A2Q_DECL std::vector<double> nice_ticks(double lo, double hi, int target = 6, bool integer = false);

/// The plot as a complete SVG document (UTF-8, with its XML declaration).
A2Q_DECL std::string render_svg(const LinePlot& plot);

} // namespace a2q::report

#if A2Q_HEADER_ONLY
#include "a2q/report/svg_plot.ipp"
#endif
