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

AwqObjective linear_output_objective(const std::vector<AwqWeight>& weights, int64_t cols,
                                     const std::vector<double>& gram) {
  return [weights, cols, &gram](const std::vector<std::vector<float>>& w_hat) {
    double e = 0;
    for (size_t i = 0; i < weights.size(); ++i)
      e += output_error(weights[i].w, w_hat[i].data(), weights[i].rows, cols, gram);
    return e;
  };
}

namespace {

// s = mean|x|^a / sqrt(max * min): centred around 1 so neither the weights nor
// the folded producer drift in magnitude.
std::vector<float> scales_for(const std::vector<float>& x_absmean, double a) {
  const int64_t cols = static_cast<int64_t>(x_absmean.size());
  std::vector<double> raw(cols);
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (int64_t c = 0; c < cols; ++c) {
    raw[c] = std::max(std::pow(std::max<double>(x_absmean[c], 1e-8), a), 1e-4);
    lo = std::min(lo, raw[c]);
    hi = std::max(hi, raw[c]);
  }
  const double norm = std::sqrt(lo * hi);
  std::vector<float> s(cols);
  for (int64_t c = 0; c < cols; ++c) s[c] = a == 0 ? 1.0f : static_cast<float>(raw[c] / norm);
  return s;
}

}  // namespace

AwqResult awq_quantize(const std::vector<AwqWeight>& weights, int64_t cols, const std::vector<float>& x_absmean,
                       const AwqObjective& objective, const AwqOptions& opt, ThreadPool* pool) {
  EDGERAG_CHECK(!weights.empty() && static_cast<int64_t>(x_absmean.size()) == cols,
                "AWQ: need weights and a mean |x| per input channel");
  EDGERAG_CHECK(opt.grid >= 1, "AWQ: the exponent grid needs at least one point (got {})", opt.grid);
  AwqResult best;
  best.error = std::numeric_limits<double>::infinity();
  std::vector<float> scaled;
  for (int step = 0; step < opt.grid; ++step) {
    const double a = static_cast<double>(step) / opt.grid;
    AwqResult cand;
    cand.scales = scales_for(x_absmean, a);
    cand.alpha = static_cast<float>(a);
    std::vector<std::vector<float>> w_hat;
    for (const auto& wt : weights) {
      scaled.assign(wt.w, wt.w + wt.rows * cols);
      for (int64_t r = 0; r < wt.rows; ++r)
        for (int64_t c = 0; c < cols; ++c) scaled[r * cols + c] *= cand.scales[c];
      cand.quantized.push_back(quantize_rtn(wt.scheme, scaled.data(), wt.rows, cols, pool));
      w_hat.push_back(cand.quantized.back().dequantize());
      for (int64_t r = 0; r < wt.rows; ++r)
        for (int64_t c = 0; c < cols; ++c) w_hat.back()[r * cols + c] /= cand.scales[c];
    }
    cand.error = objective(w_hat);
    if (step == 0) best.rtn_error = cand.error;
    if (cand.error < best.error) {
      cand.rtn_error = best.rtn_error;
      best = std::move(cand);
    }
  }
  return best;
}

}  // namespace edgerag::quant
