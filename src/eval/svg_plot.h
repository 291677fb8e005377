// Plots of the study as self-contained SVG (hand-written markup: no plotting
// library, no fonts or scripts loaded): one or more named series of (x, y)
// points on linear or log2 x axes, drawn as lines or as labelled points.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace edgerag {

struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // non-finite points are left out
};

struct PlotOptions {
  std::string title, x_label, y_label;
  bool log2_x = false;     // x > 0 only (batch sizes, context lengths)
  bool lines = true;       // false: points labelled with the series name (one point per series)
  int width = 720, height = 440;
};

// The chart; the plot area maps [min, max] of the finite data (padded by 5%) onto
// the frame, y growing upwards.
std::string svg_plot(const std::vector<PlotSeries>& series, const PlotOptions& opt);

// Where a data value lands in the plot area: [lo, hi] onto [a, b] (a point in the
// middle when lo == hi). Exposed for the test.
double svg_scale(double v, double lo, double hi, double a, double b);

}  // namespace edgerag
