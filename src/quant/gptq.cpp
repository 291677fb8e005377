#include "quant/gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tensor/sparse.h"
#include "util/error.h"

namespace edgerag::quant {
namespace {

// In-place lower Cholesky factor of the n x n matrix a; false if not positive definite.
bool cholesky(std::vector<double>& a, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int64_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0)) return false;
    d = std::sqrt(d);
    a[j * n + j] = d;
    for (int64_t i = j + 1; i < n; ++i) {
      double v = a[i * n + j];
      for (int64_t k = 0; k < j; ++k) v -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = v / d;
    }
    for (int64_t k = j + 1; k < n; ++k) a[j * n + k] = 0;
  }
  return true;
}

// Upper Cholesky factor U of H^-1 (H^-1 = U^T U), the form GPTQ's updates use.
bool inverse_cholesky_upper(const std::vector<double>& h, int64_t n, std::vector<double>& u) {
  std::vector<double> l = h;
  if (!cholesky(l, n)) return false;
  // L^-1 (lower triangular) by forward substitution, then H^-1 = L^-T L^-1.
  std::vector<double> li(n * n, 0.0);
  for (int64_t c = 0; c < n; ++c) {
    li[c * n + c] = 1.0 / l[c * n + c];
    for (int64_t i = c + 1; i < n; ++i) {
      double v = 0;
      for (int64_t k = c; k < i; ++k) v -= l[i * n + k] * li[k * n + c];
      li[i * n + c] = v / l[i * n + i];
    }
  }
  std::vector<double> hinv(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      double v = 0;
      for (int64_t k = i; k < n; ++k) v += li[k * n + i] * li[k * n + j];
      hinv[i * n + j] = hinv[j * n + i] = v;
    }
  if (!cholesky(hinv, n)) return false;
  u.assign(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j) u[j * n + i] = hinv[i * n + j];
  return true;
}

}  // namespace

QuantizedTensor quantize_gptq(const Scheme& s, const float* w, int64_t rows, int64_t cols,
                              const std::vector<double>& hessian, const GptqOptions& opt, ThreadPool* pool,
                              const GptqOutliers& outliers) {
  const int64_t block = s.bilevel() ? s.block : s.group;
  EDGERAG_CHECK(cols % block == 0, "{} columns are not a multiple of {}'s block of {}", cols, dtype_name(s.type), block);
  EDGERAG_CHECK(static_cast<int64_t>(hessian.size()) == cols * cols, "GPTQ: Hessian has {} entries, expected {}",
                hessian.size(), cols * cols);
  const int64_t n = cols, groups = cols / s.group;
  // Columns never activated carry no information: their weights are set to zero.
  std::vector<bool> dead(n);
  for (int64_t i = 0; i < n; ++i) dead[i] = !(hessian[i * n + i] > 0);
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  if (opt.act_order)
    std::stable_sort(perm.begin(), perm.end(),
                     [&](int64_t a, int64_t b) { return hessian[a * n + a] > hessian[b * n + b]; });
  std::vector<double> h(n * n);
  double mean_diag = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) h[i * n + j] = hessian[perm[i] * n + perm[j]];
  for (int64_t i = 0; i < n; ++i) {
    if (dead[perm[i]]) h[i * n + i] = 1;
    mean_diag += h[i * n + i] / n;
  }
  std::vector<double> u;
  double damp = opt.damp * mean_diag;
  for (int attempt = 0;; ++attempt) {
    std::vector<double> hd = h;
    for (int64_t i = 0; i < n; ++i) hd[i * n + i] += damp;
    if (inverse_cholesky_upper(hd, n, u)) break;
    EDGERAG_CHECK(attempt < 6, "GPTQ: the Hessian stays singular after damping");
    damp = std::max(damp * 10, 1e-8);  // numerically not positive definite: damp harder
  }

  if (outliers.residual) outliers.residual->assign(rows * cols, 0.0f);
  if (outliers.sensitivity) outliers.sensitivity->assign(rows * cols, 0.0f);

  QuantizedTensor q{s.type, rows, cols, {}};
  const size_t rb = row_size(s.type, cols);
  q.data.resize(rb * rows);
  auto run = [&](int, size_t begin, size_t end) {
    std::vector<double> x(n);
    std::vector<float> tmp(s.group);
    std::vector<uint8_t> codes(n);
    std::vector<GroupParams> params(groups);
    for (size_t r = begin; r < end; ++r) {
      const float* row = w + r * cols;
      const uint8_t* is_outlier = outliers.mask ? outliers.mask->data() + r * cols : nullptr;
      // Group parameters fitted to the group's non-outlier weights (all if every one is an outlier).
      auto fit = [&](int64_t c0, auto value_at) {
        int m = 0;
        for (int k = 0; k < s.group; ++k)
          if (!is_outlier || !is_outlier[c0 + k]) tmp[m++] = value_at(c0 + k);
        if (m == 0)
          for (int k = 0; k < s.group; ++k) tmp[m++] = value_at(c0 + k);
        return s.fit(tmp.data(), m);
      };
      for (int64_t i = 0; i < n; ++i) x[i] = dead[perm[i]] ? 0.0 : row[perm[i]];
      const auto original = [&](int64_t c) { return row[c]; };
      if (opt.act_order) {
        for (int64_t g = 0; g < groups; ++g) params[g] = fit(g * s.group, original);
        s.share_steps(params.data(), groups);
        for (auto& p : params) p = s.stored(p);
      }
      // Bilevel types: a block's step comes from its groups fitted to the weights as
      // GPTQ has updated them when the block starts; each group's scale and zero are
      // then fitted when it starts and coded under that step, so the error spread
      // is that of the stored statistics.
      for (int64_t i = 0; i < n; ++i) {
        const int64_t c = perm[i], g = c / s.group;
        const auto updated = [&](int64_t cc) { return static_cast<float>(x[i + cc - c]); };
        if (!opt.act_order && c % block == 0 && s.bilevel()) {
          for (int64_t j = g; j < g + block / s.group; ++j) params[j] = fit(j * s.group, updated);
          s.share_steps(&params[g], block / s.group);
        }
        if (!opt.act_order && c % s.group == 0) {
          GroupParams p = fit(c, updated);
          p.step = params[g].step;
          params[g] = s.stored(p);
        }
        const uint8_t code = codes[c] = s.code(static_cast<float>(x[i]), params[g]);
        double e = x[i] - s.value(code, params[g]);
        if (outliers.sensitivity) (*outliers.sensitivity)[r * cols + c] = static_cast<float>(e * e / (u[i * n + i] * u[i * n + i]));
        if (is_outlier && is_outlier[c]) {
          const float kept = round_outlier_value(static_cast<float>(e), 0);  // fp16, as stored
          if (outliers.residual) (*outliers.residual)[r * cols + c] = kept;
          e -= kept;
        }
        const double err = e / u[i * n + i];
        const double* ui = &u[i * n];
        for (int64_t j = i + 1; j < n; ++j) x[j] -= err * ui[j];
      }
      s.pack(codes.data(), params.data(), cols, q.data.data() + r * rb);
    }
  };
  if (pool) pool->parallel_for(rows, run);
  else run(0, 0, rows);
  return q;
}

}  // namespace edgerag::quant
