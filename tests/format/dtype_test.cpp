#include "tensor/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tensor/fp16.h"

using namespace edgerag;

TEST(DType, Fp16RoundTrip) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    uint16_t b = static_cast<uint16_t>(h);
    float f = fp16_to_fp32(b);
    if (std::isnan(f)) continue;
    EXPECT_EQ(fp32_to_fp16(f), b) << h;
  }
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(fp16_to_fp32(0xc000), -2.0f);
  EXPECT_EQ(bf16_to_fp32(fp32_to_bf16(1.5f)), 1.5f);
}

TEST(DType, QuantizeDequantizeError) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0, 1);
  std::vector<float> x(512), y(512);
  for (auto& v : x) v = nd(rng);
  struct Case { DType t; float tol; };
  for (Case c : {Case{DType::F16, 2e-3f}, Case{DType::BF16, 2e-2f}, Case{DType::Q8_0, 0.02f}, Case{DType::Q4_0, 0.35f},
                 Case{DType::Q4_1, 0.3f}, Case{DType::Q5_0, 0.18f}, Case{DType::Q5_1, 0.15f}}) {
    std::vector<uint8_t> q(row_size(c.t, 512));
    quantize_row(c.t, x.data(), q.data(), 512);
    dequantize_row(c.t, q.data(), y.data(), 512);
    for (int i = 0; i < 512; ++i) ASSERT_NEAR(x[i], y[i], c.tol) << dtype_name(c.t) << " at " << i;
  }
}

TEST(DType, KQuantLayouts) {
  // A hand-built Q6_K block: all quants 33 (-> +1), scales 2, d = 0.5 -> every value 1.0.
  BlockQ6_K b{};
  for (auto& v : b.ql) v = 0x11;
  for (auto& v : b.qh) v = 0xAA;  // high bits 2 -> 0x20 | 1 = 33
  for (auto& v : b.scales) v = 2;
  b.d = fp32_to_fp16(0.5f);
  std::vector<float> y(256);
  dequantize_row(DType::Q6_K, &b, y.data(), 256);
  for (float v : y) ASSERT_FLOAT_EQ(v, 1.0f);
  // Q4_K: scale index j<4 uses low 6 bits; d=1, dmin=0, nibble 3 -> 3 * sc.
  BlockQ4_K k{};
  k.d = fp32_to_fp16(1.0f);
  k.dmin = fp32_to_fp16(0.0f);
  for (int j = 0; j < 4; ++j) k.scales[j] = static_cast<uint8_t>(j + 1);
  for (int j = 8; j < 12; ++j) k.scales[j] = static_cast<uint8_t>(j - 3);  // sub-blocks 4..7 -> 5..8
  for (auto& v : k.qs) v = 0x33;
  dequantize_row(DType::Q4_K, &k, y.data(), 256);
  for (int i = 0; i < 256; ++i) ASSERT_FLOAT_EQ(y[i], 3.0f * (i / 32 + 1)) << i;
}

TEST(DType, Names) {
  DType t;
  ASSERT_TRUE(dtype_from_name("q4_k", &t));
  EXPECT_EQ(t, DType::Q4_K);
  EXPECT_FALSE(dtype_from_name("q9_9", &t));
  EXPECT_STREQ(dtype_name(static_cast<DType>(999)), "unknown");
}
