// Helpers shared by the tensor tests.
#pragma once
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tensor/ops.h"

namespace edgerag::test {

inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& f : v) f = dist(rng);
  return v;
}

// sum_c |W[r, c] * X[t, c]| at [t * rows + r]: the scale of float rounding
// differences between matmul kernels that sum in different orders.
inline std::vector<double> abs_product_sums(const Matrix& w, const std::vector<float>& x, int64_t nt) {
  std::vector<double> mag(static_cast<size_t>(nt * w.rows));
  std::vector<float> deq(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    get_row(w, r, deq.data());
    for (int64_t k = 0; k < nt; ++k) {
      double a = 0;
      for (int64_t c = 0; c < w.cols; ++c) a += std::fabs(deq[c] * x[k * w.cols + c]);
      mag[k * w.rows + r] = a;
    }
  }
  return mag;
}

}  // namespace edgerag::test
