// a2q::compiled: the Pareto sweep's plan and results, and the SVG plots they draw (see a2q/core/config.hpp).

#include "a2q/report/svg_plot.ipp"
#include "a2q/sweep/plan.ipp"
#include "a2q/sweep/results.ipp"
