#include "quant/hqq.h"

#include <cmath>
#include <limits>
#include <vector>

namespace edgerag::quant {
namespace {

// Generalized soft-thresholding: argmin_e |e|^p + beta/2 (e - x)^2, approximated
// as in the HQQ reference: sign(x) * max(|x| - |x|^(p-1) / beta, 0).
float shrink_lp(float x, float beta, float p) {
  const float a = std::fabs(x);
  if (a == 0) return 0;
  return std::copysign(std::max(a - std::pow(a, p - 1) / beta, 0.0f), x);
}

double mean_abs_error(const Scheme& s, const float* w, int n, GroupParams p) {
  double e = 0;
  for (int i = 0; i < n; ++i) e += std::fabs(w[i] - s.value(s.code(w[i], p), p));
  return e / n;
}

}  // namespace

GroupParams hqq_fit(const Scheme& s, const float* w, int n, const HqqOptions& opt) {
  GroupParams p = s.fit(w, n);
  GroupParams best = s.stored(p);
  double best_err = mean_abs_error(s, w, n, best);
  if (p.d == 0) return best;
  std::vector<float> target(n), level(n);
  float beta = opt.beta;
  for (int it = 0; it < opt.iters; ++it) {
    // The part of the error the lp loss treats as outliers is left unexplained;
    // the parameters then fit the rest in the least-squares sense.
    for (int i = 0; i < n; ++i) {
      const uint8_t q = s.code(w[i], p);
      level[i] = s.level(q);
      target[i] = w[i] - shrink_lp(w[i] - s.value(q, p), beta, opt.lp);
    }
    if (s.asymmetric) {
      double sum = 0;  // offset with the scale fixed: mean of target - d * level
      for (int i = 0; i < n; ++i) sum += target[i] - p.d * level[i];
      p.m = static_cast<float>(sum / n);
    } else {
      double num = 0, den = 0;  // scale with the offset tied to it: w = d * (level - zero)
      for (int i = 0; i < n; ++i) {
        const double a = level[i] - s.zero;
        num += a * target[i];
        den += a * a;
      }
      if (den > 0 && num != 0) p.d = static_cast<float>(num / den);
      p.m = -s.zero * p.d;
    }
    beta *= opt.kappa;
    const GroupParams st = s.stored(p);
    const double err = mean_abs_error(s, w, n, st);
    if (!(err < best_err)) break;
    best_err = err;
    best = st;
  }
  return best;
}

QuantizedTensor quantize_hqq(const Scheme& s, const float* w, int64_t rows, int64_t cols, const HqqOptions& opt,
                             ThreadPool* pool) {
  return quantize_grouped(s, w, rows, cols, [&](const float* x, int n) { return hqq_fit(s, x, n, opt); }, pool);
}

}  // namespace edgerag::quant
