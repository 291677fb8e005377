// int8 codes: the encoding's error bound and the distance against a scalar
// float reference.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "rag/int8_codes.h"

namespace edgerag::rag {
namespace {

std::vector<float> unit_vector(std::mt19937& rng, size_t dim) {
  std::normal_distribution<float> n;
  std::vector<float> v(dim);
  double s = 0;
  for (float& x : v) {
    x = n(rng);
    s += static_cast<double>(x) * x;
  }
  for (float& x : v) x = static_cast<float>(x / std::sqrt(s));
  return v;
}

TEST(Int8Codes, DotMatchesFloatWithinTheQuantizationBound) {
  std::mt19937 rng(7);
  const size_t dim = 384;
  ASSERT_EQ(int8_code_bytes(dim), 4 + dim);
  std::vector<unsigned char> a(int8_code_bytes(dim)), b(int8_code_bytes(dim));
  for (int trial = 0; trial < 50; ++trial) {
    auto x = unit_vector(rng, dim), y = unit_vector(rng, dim);
    int8_encode(x.data(), dim, a.data());
    int8_encode(y.data(), dim, b.data());
    double exact = 0, ax = 0, ay = 0;
    for (size_t i = 0; i < dim; ++i) {
      exact += static_cast<double>(x[i]) * y[i];
      ax = std::max(ax, std::fabs(static_cast<double>(x[i])));
      ay = std::max(ay, std::fabs(static_cast<double>(y[i])));
    }
    // Each code is off by at most half a step (scale / 2 = amax / 254), so with
    // |x| = |y| = 1, Cauchy-Schwarz bounds the error by
    // sqrt(dim) (ax + ay) / 254 + dim (ax / 254)(ay / 254).
    const double d = static_cast<double>(dim);
    const double bound = std::sqrt(d) * (ax + ay) / 254 + d * (ax / 254) * (ay / 254);
    const float q = int8_dot(a.data(), b.data(), dim);
    EXPECT_NEAR(q, exact, bound);
    EXPECT_NEAR(int8_distance(a.data(), b.data(), &dim), 1 - q, 1e-6);
  }
}

TEST(Int8Codes, EncodesExtremesAndZero) {
  const float v[4] = {1.0f, -0.5f, 0.25f, -1.0f};
  std::vector<unsigned char> c(int8_code_bytes(4));
  int8_encode(v, 4, c.data());
  const auto* codes = reinterpret_cast<const int8_t*>(c.data() + 4);
  EXPECT_EQ(codes[0], 127);
  EXPECT_EQ(codes[1], -64);  // -63.5 rounds away from zero
  EXPECT_EQ(codes[2], 32);   // 31.75
  EXPECT_EQ(codes[3], -127);
  EXPECT_NEAR(int8_dot(c.data(), c.data(), 4), 1 + 0.25 + 0.0625 + 1, 0.02);
  const float zero[3] = {0, 0, 0};
  int8_encode(zero, 3, c.data());
  EXPECT_EQ(int8_dot(c.data(), c.data(), 3), 0.0f);
}

}  // namespace
}  // namespace edgerag::rag
