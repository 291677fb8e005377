// Numeric comparisons shared by the model tests.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace edgerag::test {

// Largest |a[i] - b[i]| over n elements.
inline float max_abs_diff(const float* a, const float* b, int64_t n) {
  float d = 0;
  for (int64_t i = 0; i < n; ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

}  // namespace edgerag::test
