#include "eval/correlation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "util/error.h"

namespace edgerag {
namespace {

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    for (size_t k = i; k <= j; ++k) r[idx[k]] = (i + j) / 2.0 + 1;  // average rank of the tie
    i = j + 1;
  }
  return r;
}

}  // namespace

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  EDGERAG_CHECK(x.size() == y.size(), "pearson: {} and {} values", x.size(), y.size());
  const size_t n = x.size();
  if (n < 2) return 0;
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n, my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  EDGERAG_CHECK(x.size() == y.size(), "spearman: {} and {} values", x.size(), y.size());
  return pearson(ranks(x), ranks(y));
}

}  // namespace edgerag
