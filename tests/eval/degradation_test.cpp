#include "eval/degradation.h"

#include <cmath>

#include <gtest/gtest.h>

using namespace edgerag;

TEST(Degradation, StudentTAgainstClosedForms) {
  // df = 1 (Cauchy): p = 1 - 2 atan(|t|) / pi; df = 2: p = 1 - |t| / sqrt(t^2 + 2).
  EXPECT_NEAR(student_t_two_sided_p(1.0, 1), 0.5, 1e-12);
  EXPECT_NEAR(student_t_two_sided_p(3.0, 1), 1 - 2 * std::atan(3.0) / M_PI, 1e-12);
  EXPECT_NEAR(student_t_two_sided_p(2.0, 2), 1 - 2 / std::sqrt(6.0), 1e-12);
  EXPECT_NEAR(student_t_two_sided_p(-0.5, 2), 1 - 0.5 / std::sqrt(2.25), 1e-12);
  EXPECT_NEAR(student_t_two_sided_p(1.959964, 1e6), 0.05, 1e-5);  // the normal limit
  EXPECT_EQ(student_t_two_sided_p(0, 3), 1.0);
}

TEST(Degradation, FitCliffAndSignificanceByHand) {
  // F1 0.8, 0.6, 0.3, 0.2 at 512..4096: x = 0.512, 1.024, 2.048, 4.096 (mean 1.92),
  // deviations -1.408, -0.896, 0.128, 2.176 and 0.325, 0.125, -0.175, -0.275 about the means
  // 1.92 and 0.475: Sxx = 7.53664, Sxy = -1.1904, Syy = 0.2275.
  const Degradation d = context_degradation({{2048, 0.3}, {512, 0.8}, {4096, 0.2}, {1024, 0.6}, {0, 0.9}});
  EXPECT_EQ(d.n, 4);
  EXPECT_NEAR(d.slope_per_1k, -1.1904 / 7.53664, 1e-9);
  EXPECT_NEAR(d.intercept, 0.475 + 1.1904 / 7.53664 * 1.92, 1e-9);
  // SSE = Syy - slope * Sxy.
  const double sse = 0.2275 - 1.1904 * 1.1904 / 7.53664;
  EXPECT_NEAR(d.r2, 1 - sse / 0.2275, 1e-9);
  const double t = (-1.1904 / 7.53664) / std::sqrt(sse / 2 / 7.53664);
  EXPECT_NEAR(d.t, t, 1e-9);
  EXPECT_NEAR(d.p_value, 1 - std::fabs(t) / std::sqrt(t * t + 2), 1e-9);  // df = 2
  EXPECT_EQ(d.cliff_tokens, 2048);  // 0.3 < 0.8 / 2
}

TEST(Degradation, DegenerateInputs) {
  EXPECT_EQ(context_degradation({{512, 0.5}}).n, 1);
  EXPECT_EQ(context_degradation({{512, 0.5}}).slope_per_1k, 0.0);
  const Degradation flat = context_degradation({{512, 0.5}, {1024, 0.5}, {2048, 0.5}});
  EXPECT_EQ(flat.slope_per_1k, 0.0);
  EXPECT_EQ(flat.r2, 1.0);
  EXPECT_EQ(flat.p_value, 1.0);
  EXPECT_EQ(flat.cliff_tokens, 0);
  EXPECT_EQ(context_degradation({{512, 0.0}, {1024, 0.0}}).cliff_tokens, 0);  // nothing to fall from
}
