#include "quant/awq.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "util/error.h"

namespace edgerag::quant {

double output_error(const float* w, const float* w_hat, int64_t rows, int64_t cols, const std::vector<double>& gram) {
  EDGERAG_CHECK(static_cast<int64_t>(gram.size()) == cols * cols, "output_error: Gram matrix is not {} x {}", cols,
                cols);
  double total = 0;
  std::vector<double> d(cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) d[c] = static_cast<double>(w[r * cols + c]) - w_hat[r * cols + c];
    for (int64_t i = 0; i < cols; ++i) {
      if (d[i] == 0) continue;
      double gi = 0;
      for (int64_t j = 0; j < cols; ++j) gi += gram[i * cols + j] * d[j];
      total += d[i] * gi;
    }
  }
  return total;
}

namespace {

// Mean over rows of |w| relative to the largest |w| of its quantization group.
std::vector<double> weight_absmean(const std::vector<AwqWeight>& weights, int64_t cols) {
  std::vector<double> m(cols, 0.0);
  int64_t total_rows = 0;
  for (const auto& a : weights) {
    const int g = a.scheme.group;
    for (int64_t r = 0; r < a.rows; ++r) {
      const float* row = a.w + r * cols;
      for (int64_t c0 = 0; c0 < cols; c0 += g) {
        float amax = 0;
        for (int k = 0; k < g; ++k) amax = std::max(amax, std::fabs(row[c0 + k]));
        if (amax > 0)
          for (int k = 0; k < g; ++k) m[c0 + k] += std::fabs(row[c0 + k]) / amax;
      }
    }
    total_rows += a.rows;
  }
  for (auto& v : m) v /= std::max<int64_t>(total_rows, 1);
  return m;
}

}  // namespace

AwqResult awq_quantize(const std::vector<AwqWeight>& weights, int64_t cols, const std::vector<double>& gram,
                       const std::vector<float>& x_absmean, const AwqOptions& opt, ThreadPool* pool) {
  EDGERAG_CHECK(!weights.empty() && static_cast<int64_t>(x_absmean.size()) == cols,
                "AWQ: need weights and a mean |x| per input channel");
  const std::vector<double> w_mean = weight_absmean(weights, cols);
  AwqResult best;
  best.error = std::numeric_limits<double>::infinity();
  std::vector<float> scaled, back;
  for (int step = -1; step < opt.grid; ++step) {
    const double a = step < 0 ? 0.0 : static_cast<double>(step) / opt.grid;
    std::vector<float> s(cols, 1.0f);
    if (step >= 0) {
      double lo = std::numeric_limits<double>::infinity(), hi = 0;
      std::vector<double> raw(cols);
      for (int64_t c = 0; c < cols; ++c) {
        raw[c] = std::pow(std::max<double>(x_absmean[c], 1e-8), a) / (std::pow(w_mean[c], 1 - a) + 1e-4);
        raw[c] = std::max(raw[c], 1e-4);
        lo = std::min(lo, raw[c]);
        hi = std::max(hi, raw[c]);
      }
      const double norm = std::sqrt(lo * hi);  // centre the scales around 1
      for (int64_t c = 0; c < cols; ++c) s[c] = static_cast<float>(raw[c] / norm);
    }
    AwqResult cand;
    cand.scales = s;
    cand.alpha = step < 0 ? -1.0f : static_cast<float>(a);
    for (const auto& wt : weights) {
      scaled.assign(wt.w, wt.w + wt.rows * cols);
      for (int64_t r = 0; r < wt.rows; ++r)
        for (int64_t c = 0; c < cols; ++c) scaled[r * cols + c] *= s[c];
      cand.quantized.push_back(quantize_rtn(wt.scheme, scaled.data(), wt.rows, cols, pool));
      back = cand.quantized.back().dequantize();
      for (int64_t r = 0; r < wt.rows; ++r)
        for (int64_t c = 0; c < cols; ++c) back[r * cols + c] /= s[c];
      cand.error += output_error(wt.w, back.data(), wt.rows, cols, gram);
    }
    if (cand.error < best.error) best = std::move(cand);
  }
  return best;
}

}  // namespace edgerag::quant
