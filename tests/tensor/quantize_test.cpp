// Reference quantizers: round-trip error bounds on Gaussian data (bits-per-weight
// ordering) and all-zero rows.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/fp16.h"

namespace edgerag {
namespace {

double roundtrip_rel_rmse(DType t, const std::vector<float>& x) {
  std::vector<uint8_t> q(row_size(t, static_cast<int64_t>(x.size())));
  std::vector<float> y(x.size());
  quantize_row(t, x.data(), q.data(), static_cast<int64_t>(x.size()));
  dequantize_row(t, q.data(), y.data(), static_cast<int64_t>(x.size()));
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) err += (y[i] - x[i]) * (y[i] - x[i]), ref += x[i] * x[i];
  return std::sqrt(err / ref);
}

TEST(Quantize, RoundTripErrorBounds) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(256 * 16);
  for (auto& v : x) v = d(rng);
  // Bounds ~1.25x the values observed for N(0,1) data.
  const struct { DType t; double bound; } cases[] = {
      {DType::F16, 3e-4},   {DType::BF16, 2.2e-3}, {DType::Q8_0, 0.0068}, {DType::Q6_K, 0.0225},
      {DType::Q5_1, 0.047}, {DType::Q5_K, 0.045},  {DType::Q5_0, 0.054},  {DType::Q4_K, 0.09},
      {DType::Q4_1, 0.098}, {DType::Q4_0, 0.11},
  };
  for (const auto& c : cases) {
    const double e = roundtrip_rel_rmse(c.t, x);
    EXPECT_LT(e, c.bound) << dtype_name(c.t);
    EXPECT_GT(e, c.bound / 10) << dtype_name(c.t) << " suspiciously exact";
  }
  // More bits, less error; K-quants beat the 32-block formats of the same width.
  EXPECT_LT(roundtrip_rel_rmse(DType::Q6_K, x), roundtrip_rel_rmse(DType::Q5_K, x));
  EXPECT_LT(roundtrip_rel_rmse(DType::Q5_K, x), roundtrip_rel_rmse(DType::Q4_K, x));
  EXPECT_LT(roundtrip_rel_rmse(DType::Q5_K, x), roundtrip_rel_rmse(DType::Q5_1, x));
  EXPECT_LT(roundtrip_rel_rmse(DType::Q4_K, x), roundtrip_rel_rmse(DType::Q4_1, x));
}

TEST(Quantize, ZeroRowsStayZero) {
  const std::vector<float> x(512, 0.0f);
  for (DType t : {DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_0, DType::Q4_0}) {
    std::vector<uint8_t> q(row_size(t, 512));
    std::vector<float> y(512, 1.0f);
    quantize_row(t, x.data(), q.data(), 512);
    dequantize_row(t, q.data(), y.data(), 512);
    for (float v : y) ASSERT_EQ(v, 0.0f) << dtype_name(t);
  }
}

}  // namespace
}  // namespace edgerag
