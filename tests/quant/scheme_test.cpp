#include "quant/scheme.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "quant/rtn.h"
#include "tensor/edgerag_types.h"
#include "util/error.h"

using namespace edgerag;
using namespace edgerag::quant;

namespace {
const DType kTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::ER_NF4,
                        DType::ER_Q4_G64, DType::ER_Q4_G128, DType::ER_Q3_G32, DType::ER_Q3_G64,
                        DType::ER_Q3_G128, DType::ER_Q2_G32, DType::ER_Q2_G64, DType::ER_Q2_G128};
}

// Packing arbitrary codes and parameters must decode to exactly d * level(q) + m.
TEST(Scheme, PackMatchesDequantize) {
  std::mt19937 rng(3);
  const int64_t n = 256;
  for (DType t : kTypes) {
    for (bool asym : {false, true}) {
      const Scheme s = Scheme::of(t, asym);
      std::vector<uint8_t> codes(n);
      std::vector<GroupParams> params(n / s.group);
      for (auto& q : codes) q = static_cast<uint8_t>(rng() % (s.qmax() + 1));
      for (auto& p : params)
        p = s.stored({std::uniform_real_distribution<float>(-0.5f, 0.5f)(rng),
                      std::uniform_real_distribution<float>(-2.f, 2.f)(rng)});
      std::vector<uint8_t> packed(row_size(t, n));
      s.pack(codes.data(), params.data(), n, packed.data());
      std::vector<float> out(n);
      dequantize_row(t, packed.data(), out.data(), n);
      for (int64_t i = 0; i < n; ++i)
        ASSERT_FLOAT_EQ(out[i], s.value(codes[i], params[i / s.group])) << s.describe() << " at " << i;
    }
  }
}

// Bilevel statistics: raw group fits get their block's step, are coded to 3-bit
// scale and zero, and pack/dequantize to exactly d * q + m; RTN through the
// scheme is the reference quantizer's error within 1%.
TEST(Scheme, BilevelPackMatchesDequantizeAndReference) {
  std::mt19937 rng(4);
  std::normal_distribution<float> nd(0, 1);
  const int64_t n = 256;
  const Scheme s = Scheme::of(DType::ER_Q3_G16_BL);
  ASSERT_TRUE(s.bilevel());
  EXPECT_EQ(s.group, 16);
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = nd(rng) * (i < 64 ? 0.1f : 1.0f);  // one block 10x smaller
  std::vector<GroupParams> params(n / s.group);
  for (int64_t g = 0; g < n / s.group; ++g) params[g] = s.fit(&x[g * s.group], s.group);
  s.share_steps(params.data(), n / s.group);
  std::vector<uint8_t> codes(n);
  for (int64_t g = 0; g < n / s.group; ++g) {
    params[g] = s.stored(params[g]);
    EXPECT_EQ(params[g].step, params[g / 4 * 4].step);
    EXPECT_LE(params[g].d, 8 * params[g].step * (1 + 1e-6f));  // scale code in [0, 8)
  }
  for (auto& q : codes) q = static_cast<uint8_t>(rng() % 8);
  std::vector<uint8_t> packed(row_size(s.type, n));
  EXPECT_EQ(packed.size(), 4u * 29);
  s.pack(codes.data(), params.data(), n, packed.data());
  std::vector<float> out(n);
  dequantize_row(s.type, packed.data(), out.data(), n);
  for (int64_t i = 0; i < n; ++i) ASSERT_FLOAT_EQ(out[i], s.value(codes[i], params[i / s.group])) << i;
  const QuantizedTensor rtn = quantize_rtn(s, x.data(), 1, n, nullptr);
  std::vector<uint8_t> ref(row_size(s.type, n));
  quantize_row(s.type, x.data(), ref.data(), n);
  std::vector<float> a = rtn.dequantize(), b(n);
  dequantize_row(s.type, ref.data(), b.data(), n);
  double ea = 0, eb = 0;
  for (int64_t i = 0; i < n; ++i) ea += (a[i] - x[i]) * (a[i] - x[i]), eb += (b[i] - x[i]) * (b[i] - x[i]);
  EXPECT_NEAR(ea, eb, 0.01 * eb);
  EXPECT_THROW(s.stored({1.0f, 0.0f}), Error);  // no step: a method without block statistics
}

// The generic RTN path reproduces the reference quantizers of the standard types.
TEST(Scheme, RtnMatchesReferenceQuantizers) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0, 1);
  const int64_t n = 512;
  std::vector<float> x(n);
  for (auto& v : x) v = nd(rng);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::ER_NF4, DType::ER_Q3_G64}) {
    const Scheme s = Scheme::of(t, true);
    std::vector<uint8_t> codes(n);
    std::vector<GroupParams> params(n / s.group);
    for (int64_t g = 0; g < n / s.group; ++g) {
      params[g] = s.stored(s.fit(&x[g * s.group], s.group));
      for (int i = 0; i < s.group; ++i) codes[g * s.group + i] = s.code(x[g * s.group + i], params[g]);
    }
    std::vector<uint8_t> mine(row_size(t, n)), ref(row_size(t, n));
    s.pack(codes.data(), params.data(), n, mine.data());
    quantize_row(t, x.data(), ref.data(), n);
    std::vector<float> a(n), b(n);
    dequantize_row(t, mine.data(), a.data(), n);
    dequantize_row(t, ref.data(), b.data(), n);
    double ea = 0, eb = 0;
    for (int64_t i = 0; i < n; ++i) ea += (a[i] - x[i]) * (a[i] - x[i]), eb += (b[i] - x[i]) * (b[i] - x[i]);
    // Same method; ours rounds the scale to fp16 before coding, so it may be marginally better.
    EXPECT_LE(ea, eb * 1.01 + 1e-9) << dtype_name(t);
    EXPECT_GE(ea, eb * 0.9) << dtype_name(t);
  }
}

TEST(EdgeragTypes, ReferenceQuantizersBoundTheError) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0, 1);
  const int64_t n = 1024;
  std::vector<float> x(n), y(n);
  for (auto& v : x) v = nd(rng);
  // Max error of round-to-nearest is half a step of (max - min) / qmax; the data spans ~7 sigma.
  struct Case { DType t; float rms_max; };
  for (Case c : {Case{DType::ER_NF4, 0.12f}, Case{DType::ER_NF4_DQ, 0.13f}, Case{DType::ER_Q4_G64, 0.12f},
                 Case{DType::ER_Q4_G128, 0.13f}, Case{DType::ER_Q3_G32, 0.21f}, Case{DType::ER_Q3_G64, 0.24f},
                 Case{DType::ER_Q3_G128, 0.27f}, Case{DType::ER_Q2_G32, 0.45f}, Case{DType::ER_Q2_G64, 0.52f},
                 Case{DType::ER_Q2_G128, 0.58f}, Case{DType::ER_Q3_G16_BL, 0.2f}}) {
    std::vector<uint8_t> q(row_size(c.t, n));
    quantize_row(c.t, x.data(), q.data(), n);
    dequantize_row(c.t, q.data(), y.data(), n);
    double se = 0, amax = 0;
    for (int64_t i = 0; i < n; ++i) se += (x[i] - y[i]) * (x[i] - y[i]), amax = std::max<double>(amax, std::fabs(x[i] - y[i]));
    EXPECT_LT(std::sqrt(se / n), c.rms_max) << dtype_name(c.t);
    DType back;
    ASSERT_TRUE(dtype_from_name(dtype_name(c.t), &back));
    EXPECT_EQ(back, c.t);
  }
}

TEST(EdgeragTypes, Q3BilevelBlockByHand) {
  // D = 0.5 (fp16 0x3800); groups (s, z) = (0, 0), (7, 7), (3, 4), (1, 2): stats bits
  // 000000 | 111111 << 6 | 100011 << 12 | 010001 << 18 = 0x463FC0 -> C0 3F 46;
  // codes q = i % 8. w = 0.5 (s + 1)(q - z).
  uint8_t codes[QK_BL];
  for (int i = 0; i < QK_BL; ++i) codes[i] = static_cast<uint8_t>(i % 8);
  const int sc[4] = {0, 7, 3, 1}, z[4] = {0, 7, 4, 2};
  BlockQ3Bl b;
  q3bl_pack(codes, 0x3800, sc, z, &b);
  EXPECT_EQ(b.stats[0], 0xC0);
  EXPECT_EQ(b.stats[1], 0x3F);
  EXPECT_EQ(b.stats[2], 0x46);
  EXPECT_EQ(b.qs[0], 0x88);  // codes 0, 1, 2 (bits 0-2, 3-5, 6-8): 0b10'001'000
  float y[QK_BL];
  dequantize_row(DType::ER_Q3_G16_BL, &b, y, QK_BL);
  for (int i = 0; i < QK_BL; ++i) {
    const int j = i / 16;
    ASSERT_EQ(y[i], 0.5f * static_cast<float>((sc[j] + 1) * (i % 8 - z[j]))) << i;
  }
  EXPECT_EQ(y[16], -28.0f);  // 0.5 * 8 * (0 - 7)
  EXPECT_EQ(row_size(DType::ER_Q3_G16_BL, 128), 58u);
  DType t;
  ASSERT_TRUE(dtype_from_name("er_q3_g16_bl", &t));
  EXPECT_EQ(static_cast<uint32_t>(t), 74u);
}

TEST(EdgeragTypes, NF4NearestAndDoubleQuantizedScales) {
  for (int i = 0; i < 16; ++i) EXPECT_EQ(nf4_nearest(kNF4Levels[i]), i);
  EXPECT_EQ(nf4_nearest(-5.f), 0);
  EXPECT_EQ(nf4_nearest(5.f), 15);
  EXPECT_EQ(nf4_nearest(0.03f), 7);
  EXPECT_EQ(nf4_nearest(0.05f), 8);
  // A block whose groups differ 100x in magnitude: the 8-bit scale codes keep each group's absmax.
  std::vector<float> x(QK_NF4_DQ), y(QK_NF4_DQ);
  for (int i = 0; i < QK_NF4_DQ; ++i) x[i] = (i % 7 - 3) * (i < 64 ? 1.0f : 0.01f * (1 + i / 64));
  BlockNF4DQ b;
  quantize_row(DType::ER_NF4_DQ, x.data(), &b, QK_NF4_DQ);
  dequantize_row(DType::ER_NF4_DQ, &b, y.data(), QK_NF4_DQ);
  EXPECT_NEAR(y[6], 3.0f, 3.0f / 255);  // the largest weight of group 0 lies on level +1
  for (int i = 0; i < QK_NF4_DQ; ++i) EXPECT_NEAR(x[i], y[i], 0.2f * std::fabs(x[i]) + 0.02f) << i;
  EXPECT_EQ(row_size(DType::ER_NF4_DQ, 512), 2 * sizeof(BlockNF4DQ));
}

TEST(Scheme, StorageTypeChoice) {
  EXPECT_EQ(storage_type(8, 32, false), DType::Q8_0);
  EXPECT_EQ(storage_type(4, 32, false), DType::Q4_0);
  EXPECT_EQ(storage_type(4, 32, true), DType::Q4_1);
  EXPECT_EQ(storage_type(5, 32, true), DType::Q5_1);
  EXPECT_EQ(storage_type(4, 128, true), DType::ER_Q4_G128);
  EXPECT_EQ(storage_type(3, 64, true), DType::ER_Q3_G64);
  EXPECT_EQ(storage_type(3, 16, false), DType::ER_Q3_G16_BL);
  EXPECT_THROW(storage_type(4, 16, true), Error);
  EXPECT_EQ(storage_type(2, 32, false), DType::ER_Q2_G32);
  EXPECT_EQ(storage_type(4, 64, false, true), DType::ER_NF4);
  EXPECT_EQ(storage_type(4, 64, false, true, true), DType::ER_NF4_DQ);
  EXPECT_THROW(storage_type(6, 32, true), Error);
  EXPECT_THROW(storage_type(3, 48, true), Error);
}
