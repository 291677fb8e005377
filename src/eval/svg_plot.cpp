#include "eval/svg_plot.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace edgerag {
namespace {

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

// Distinct colours for up to 10 series, then repeated.
constexpr const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

}  // namespace

double svg_scale(double v, double lo, double hi, double a, double b) {
  return hi > lo ? a + (v - lo) / (hi - lo) * (b - a) : (a + b) / 2;
}

std::string svg_plot(const std::vector<PlotSeries>& series, const PlotOptions& opt) {
  const double left = 70, right = 170, top = 40, bottom = 50;  // margins: axis labels, legend
  const double x0 = left, x1 = opt.width - right, y0 = opt.height - bottom, y1 = top;
  auto tx = [&](double x) { return opt.log2_x ? std::log2(x) : x; };
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  auto usable = [&](const std::pair<double, double>& p) {
    return std::isfinite(p.first) && std::isfinite(p.second) && (!opt.log2_x || p.first > 0);
  };
  for (const auto& s : series)
    for (const auto& p : s.points)
      if (usable(p)) {
        xmin = std::min(xmin, tx(p.first)), xmax = std::max(xmax, tx(p.first));
        ymin = std::min(ymin, p.second), ymax = std::max(ymax, p.second);
      }
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{3}</text>\n",
      opt.width, opt.height, (x0 + x1) / 2, escape(opt.title));
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", x0, y1,
                     x1 - x0, y0 - y1);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", (x0 + x1) / 2, opt.height - 12,
                     escape(opt.x_label));
  svg += fmt::format("<text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                     (y0 + y1) / 2, escape(opt.y_label));
  if (!(xmin <= xmax)) return svg + fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text>\n</svg>\n",
                                                (x0 + x1) / 2, (y0 + y1) / 2);
  const double px = (xmax - xmin) * 0.05, py = (ymax - ymin) * 0.05;
  xmin -= px, xmax += px, ymin -= py, ymax += py;
  auto sx = [&](double x) { return svg_scale(tx(x), xmin, xmax, x0, x1); };
  auto sy = [&](double y) { return svg_scale(y, ymin, ymax, y0, y1); };
  // Five ticks per axis at the ends and quarters of the padded range.
  for (int i = 0; i <= 4; ++i) {
    const double xv = xmin + (xmax - xmin) * i / 4, yv = ymin + (ymax - ymin) * i / 4;
    const double x = svg_scale(xv, xmin, xmax, x0, x1), y = svg_scale(yv, ymin, ymax, y0, y1);
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#ddd\"/>"
                       "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4:.4g}</text>\n",
                       x, y1, y0, y0 + 16, opt.log2_x ? std::exp2(xv) : xv);
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#ddd\"/>"
                       "<text x=\"{3}\" y=\"{1:.1f}\" text-anchor=\"end\" dy=\"4\">{4:.4g}</text>\n",
                       x0, y, x1, x0 - 6, yv);
  }
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const char* colour = kColours[k % std::size(kColours)];
    std::string path;
    for (const auto& p : s.points) {
      if (!usable(p)) continue;
      path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "" : " ", sx(p.first), sy(p.second));
      svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\"><title>{}: {:.6g}, {:.6g}</title></circle>\n",
                         sx(p.first), sy(p.second), colour, escape(s.name), p.first, p.second);
      if (!opt.lines)
        svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" dx=\"6\" dy=\"-6\" fill=\"{}\">{}</text>\n", sx(p.first),
                           sy(p.second), colour, escape(s.name));
    }
    if (opt.lines && !path.empty())
      svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>\n", path, colour);
    if (opt.lines)
      svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" stroke-width=\"2\"/>"
                         "<text x=\"{4}\" y=\"{1}\" dy=\"4\">{5}</text>\n",
                         x1 + 12, y1 + 8 + 18 * k, x1 + 32, colour, x1 + 38, escape(s.name));
  }
  return svg + "</svg>\n";
}

}  // namespace edgerag
