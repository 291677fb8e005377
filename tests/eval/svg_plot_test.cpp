#include "eval/svg_plot.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace edgerag;

TEST(SvgPlot, ScaleMapsTheRangeOntoTheFrame) {
  EXPECT_DOUBLE_EQ(svg_scale(0, 0, 10, 100, 200), 100);
  EXPECT_DOUBLE_EQ(svg_scale(10, 0, 10, 100, 200), 200);
  EXPECT_DOUBLE_EQ(svg_scale(2.5, 0, 10, 400, 0), 300);  // y grows upwards: the frame is reversed
  EXPECT_DOUBLE_EQ(svg_scale(7, 7, 7, 100, 200), 150);   // one value: the middle
}

TEST(SvgPlot, PointsLandWhereTheScaleSays) {
  // Two points; the range is padded by 5% each side: x in [0.5, 9.5] on log2 axes is
  // log2 1 = 0 .. log2 8 = 3 -> [-0.15, 3.15] onto [70, 720 - 170 = 550].
  PlotOptions o;
  o.title = "a < b & c";
  o.log2_x = true;
  const std::string svg = svg_plot({{"s1", {{1, 10}, {8, 20}, {-1, 5}, {4, NAN}}}}, o);
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("a &lt; b &amp; c"), std::string::npos);
  // x = 1: 70 + 0.15 / 3.3 x 480 = 91.8; y = 10: 390 - 0.5 / 11 x 350 = 374.1 (frame 40..390).
  EXPECT_NE(svg.find("<polyline points=\"91.8,374.1 528.2,55.9\""), std::string::npos);
  // Non-finite and (on a log axis) non-positive points are left out.
  EXPECT_EQ(svg.find("s1: -1"), std::string::npos);
  EXPECT_EQ(svg.find("s1: 4,"), std::string::npos);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
}

TEST(SvgPlot, NoDataSaysSo) {
  const std::string svg = svg_plot({{"empty", {}}}, {});
  EXPECT_NE(svg.find(">no data<"), std::string::npos);
}
