#include "eval/degradation.h"

#include <algorithm>
#include <cmath>

namespace edgerag {
namespace {

// Continued fraction of the incomplete beta function (modified Lentz), converging for x < (a + 1) / (a + b + 2).
double beta_cf(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  d = 1 / (std::fabs(d) < kTiny ? kTiny : d);
  double h = d;
  for (int m = 1; m <= 300; ++m) {
    for (int pass = 0; pass < 2; ++pass) {
      const double num = pass == 0 ? m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
                                   : -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
      d = 1 + num * d;
      d = 1 / (std::fabs(d) < kTiny ? kTiny : d);
      c = 1 + num / c;
      if (std::fabs(c) < kTiny) c = kTiny;
      h *= d * c;
      if (pass == 1 && std::fabs(d * c - 1) < 1e-15) return h;
    }
  }
  return h;
}

// Regularized incomplete beta I_x(a, b).
double inc_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front =
      std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * beta_cf(a, b, x) / a;
  return 1 - front * beta_cf(b, a, 1 - x) / b;
}

}  // namespace

double student_t_two_sided_p(double t, double df) {
  if (!(df > 0)) return 1;
  if (std::isinf(t)) return 0;
  return inc_beta(df / 2, 0.5, df / (df + t * t));
}

Degradation context_degradation(std::vector<std::pair<int, double>> points) {
  std::erase_if(points, [](const auto& p) { return p.first <= 0; });
  std::sort(points.begin(), points.end());
  Degradation d;
  d.n = static_cast<int>(points.size());
  if (d.n < 2) return d;
  double sx = 0, sy = 0;
  for (const auto& [k, y] : points) sx += k / 1000.0, sy += y;
  const double mx = sx / d.n, my = sy / d.n;
  double sxx = 0, sxy = 0, syy = 0;
  for (const auto& [k, y] : points) {
    const double dx = k / 1000.0 - mx, dy = y - my;
    sxx += dx * dx, sxy += dx * dy, syy += dy * dy;
  }
  if (sxx == 0) return d;
  d.slope_per_1k = sxy / sxx;
  d.intercept = my - d.slope_per_1k * mx;
  const double sse = std::max(0.0, syy - d.slope_per_1k * sxy);
  d.r2 = syy > 0 ? 1 - sse / syy : 1;  // a flat score is fitted exactly
  if (d.n >= 3) {
    const double se = std::sqrt(sse / (d.n - 2) / sxx);
    d.t = se > 0 ? d.slope_per_1k / se : (d.slope_per_1k == 0 ? 0 : INFINITY);
    d.p_value = student_t_two_sided_p(d.t, d.n - 2);
  }
  const double first = points.front().second;
  for (const auto& [k, y] : points)
    if (first > 0 && y < first / 2) {
      d.cliff_tokens = k;
      break;
    }
  return d;
}

}  // namespace edgerag
