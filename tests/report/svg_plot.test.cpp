// Tests for a2q/report/svg_plot.hpp. That the SVG renders (rsvg-convert) and is well-formed XML (xmllint)
// is checked by CTest on the sweep's real plots (tools/CMakeLists.txt); here: ticks, scaling and escaping.

#include "a2q/report/svg_plot.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

using a2q::report::LinePlot;
using a2q::report::nice_ticks;
using a2q::report::PlotSeries;
using a2q::report::render_svg;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

} // namespace

TEST_CASE("ticks cover the range at a 1, 2 or 5 step", "[report][plot]") {
  for (const auto& [lo, hi] : std::vector<std::pair<double, double>>{
           {10, 16}, {0.3, 0.97}, {-3.5, 12.25}, {1200, 91000}, {88.1, 89.4}, {5, 5}}) {
    const std::vector<double> t = nice_ticks(lo, hi, 6);
    REQUIRE(t.size() >= 2);
    CHECK(t.front() <= lo);
    CHECK(t.back() >= hi);
    CHECK(t.size() <= 13);
    const double step = t[1] - t[0];
    const double mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
    CHECK((std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 || std::abs(mantissa - 5) < 1e-9));
    for (std::size_t i = 1; i < t.size(); ++i)
      CHECK(t[i] - t[i - 1] == Approx(step));
  }
  const std::vector<double> bits = nice_ticks(10, 16, 7, true);
  for (const double b : bits)
    CHECK(b == std::round(b));
  CHECK(bits.front() == 10);
  CHECK(bits.back() == 16);
}

TEST_CASE("a plot has its title, labels, ticks, legend and one polyline per series", "[report][plot]") {
  LinePlot plot{.title = "accuracy <vs> P & \"more\"",
                .x_label = "accumulator width P (bits)",
                .y_label = "test accuracy (%)",
                .series = {{.name = "A2Q+", .points = {{10, 80.5}, {12, 88.0}, {16, 89.1}}},
                           {.name = "baseline", .points = {{13, 70.0}, {16, 85.0}}},
                           {.name = "float", .points = {{10, 89.3}, {16, 89.3}}, .dashed = true}},
                .integer_x = true};
  const std::string svg = render_svg(plot);
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(svg.find("accuracy &lt;vs&gt; P &amp; &quot;more&quot;") != std::string::npos);
  CHECK(svg.find("<") != std::string::npos);
  CHECK(svg.find("accumulator width P (bits)") != std::string::npos);
  CHECK(svg.find("rotate(-90)") != std::string::npos); // the y label
  CHECK(count(svg, "<polyline") == 3);
  CHECK(count(svg, "stroke-dasharray") == 2); // the dashed line and its legend entry
  for (const char* tick : {">10<", ">12<", ">16<"})
    CHECK(svg.find(tick) != std::string::npos);
  CHECK(svg.find(">A2Q+<") != std::string::npos);
  CHECK(svg.find(">baseline<") != std::string::npos);
  CHECK(count(svg, "<svg") == 1);
  CHECK(count(svg, "</svg>") == 1);
  CHECK(svg.find("nan") == std::string::npos);
}

TEST_CASE("points map into the plot area, highest value on top", "[report][plot]") {
  const LinePlot plot{.title = "t",
                      .x_label = "x",
                      .y_label = "y",
                      .series = {{.name = "s", .points = {{0, 0}, {1, 10}}}},
                      .width = 800,
                      .height = 480};
  const std::string svg = render_svg(plot);
  const auto at = svg.find("<polyline points=\"");
  REQUIRE(at != std::string::npos);
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  REQUIRE(std::sscanf(svg.c_str() + at + 18, "%lf,%lf %lf,%lf", &x0, &y0, &x1, &y1) == 4);
  CHECK(x0 < x1);
  CHECK(y0 > y1); // SVG's y grows downwards
  for (const double v : {x0, x1})
    CHECK((v > 0 && v < 800));
  for (const double v : {y0, y1})
    CHECK((v > 0 && v < 480));
}

TEST_CASE("a plot without data says so, and skips non-finite points", "[report][plot]") {
  LinePlot plot{.title = "empty", .x_label = "x", .y_label = "y", .series = {{.name = "none", .points = {}}}};
  CHECK(render_svg(plot).find("no data") != std::string::npos);
  plot.series[0].points = {{1, NAN}, {2, 3}, {INFINITY, 4}, {3, 5}};
  const std::string svg = render_svg(plot);
  CHECK(svg.find("no data") == std::string::npos);
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
  CHECK(count(svg, "<circle") == 3); // two points and the legend's marker
}
