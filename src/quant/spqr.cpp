#include "quant/spqr.h"

#include <algorithm>

#include "tensor/sparse.h"
#include "util/error.h"

namespace edgerag::quant {

SpqrTensor quantize_spqr(const Scheme& s, const float* w, int64_t rows, int64_t cols, const std::vector<double>& hessian,
                         const GptqOptions& gptq, const SpqrOptions& opt, ThreadPool* pool) {
  EDGERAG_CHECK(opt.outlier_share >= 0 && opt.outlier_share <= 0.5, "spqr: outlier share {} is not in [0, 0.5]",
                opt.outlier_share);
  std::vector<float> sensitivity, residual;
  quantize_gptq(s, w, rows, cols, hessian, gptq, pool, {nullptr, nullptr, &sensitivity});
  const auto k = static_cast<int64_t>(opt.outlier_share * static_cast<double>(rows * cols));
  std::vector<uint8_t> mask(rows * cols, 0);
  if (k > 0) {
    std::vector<float> sorted = sensitivity;
    std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<>());
    const float threshold = sorted[k - 1];
    int64_t taken = 0;  // ties at the threshold: stop at k
    for (int64_t i = 0; i < rows * cols && taken < k; ++i)
      if (sensitivity[i] >= threshold && sensitivity[i] > 0) mask[i] = 1, ++taken;
  }
  SpqrTensor out;
  out.dense = quantize_gptq(s, w, rows, cols, hessian, gptq, pool,
                            {&mask, &residual, nullptr});
  out.outliers = csr_encode(residual.data(), rows, cols);
  out.n_outliers = CsrOutliers::view(DType::I8, out.outliers.data(), out.outliers.size(), rows, cols).nnz();
  return out;
}

}  // namespace edgerag::quant
