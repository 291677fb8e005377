// The SpQR outlier side tensor (tensor/sparse.h): its product against one worked
// out in double from the dense matrix it encodes, over odd shapes; its bytes and
// value rounding against hand-written ones; and the checks that keep a hostile
// side tensor from indexing out of bounds.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "tensor/fp16.h"
#include "tensor/sparse.h"
#include "util/error.h"

using namespace edgerag;

namespace {

struct Case {
  int64_t rows, cols, tokens;
  double density;
};

}  // namespace

TEST(CsrOutliers, MatchesDenseProductOverOddShapes) {
  ThreadPool pool(2);
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  // Widths 1 (no column bits), 3, 17, 64 (one segment), 129 and 257 (a partial last
  // segment of 128 columns), 65536 (512 segments); format 3 and the older format 2.
  for (const int format : {3, 2})
    for (const Case& k : {Case{1, 1, 1, 1.0}, Case{7, 3, 5, 0.3}, Case{33, 17, 2, 0.1}, Case{5, 129, 3, 0.0},
                          Case{9, 64, 4, 0.5}, Case{300, 257, 9, 0.05}, Case{3, 129, 2, 1.0},
                          Case{20, 100, 70, 0.1}, Case{2, 65536, 1, 0.0001}}) {  // 70 tokens: three tiles of the kernel
      const int bits = outlier_column_bits(k.cols);
      std::vector<float> dense(k.rows * k.cols, 0.0f), x(k.tokens * k.cols), y0(k.tokens * k.rows);
      for (auto& v : dense)  // stored exactly: the encoding is lossless
        if (u(rng) < k.density) v = round_outlier_value(nd(rng), format == 2 ? bits : 0);
      for (auto& v : x) v = nd(rng);
      for (auto& v : y0) v = nd(rng);
      const std::vector<uint8_t> enc = csr_encode(dense.data(), k.rows, k.cols, format);
      const CsrOutliers s = CsrOutliers::view(DType::I8, enc.data(), enc.size(), k.rows, k.cols);
      int64_t nonzero = 0;
      for (float v : dense) nonzero += v != 0;
      EXPECT_EQ(s.nnz(), nonzero);
      EXPECT_EQ(static_cast<int64_t>(enc.size()),
                4 + (format == 2 ? 2 : 3) * nonzero + k.rows * ((k.cols + (1 << bits) - 1) >> bits));
      std::vector<float> fast = y0, ref = y0;
      csr_matmul_add(s, x.data(), k.tokens, fast.data(), &pool);
      csr_matmul_add_ref(s, x.data(), k.tokens, ref.data());
      for (int64_t t = 0; t < k.tokens; ++t)
        for (int64_t r = 0; r < k.rows; ++r) {
          double want = y0[t * k.rows + r];
          for (int64_t c = 0; c < k.cols; ++c) want += static_cast<double>(dense[r * k.cols + c]) * x[t * k.cols + c];
          EXPECT_NEAR(ref[t * k.rows + r], want, 1e-5 * (1 + std::abs(want))) << k.rows << "x" << k.cols << " f" << format;
          EXPECT_NEAR(fast[t * k.rows + r], want, 1e-4 * (1 + std::abs(want))) << k.rows << "x" << k.cols << " f" << format;
        }
    }
}

TEST(CsrOutliers, RoundsValuesToTheStoredPrecision) {
  EXPECT_EQ(outlier_column_bits(1), 0);
  EXPECT_EQ(outlier_column_bits(3), 2);
  EXPECT_EQ(outlier_column_bits(64), 6);
  EXPECT_EQ(outlier_column_bits(65), 7);
  EXPECT_EQ(outlier_column_bits(4096), 7);
  // 6 column bits leave E5M4: steps of 1/16 in [1, 2), 1/8 in [2, 4).
  EXPECT_EQ(round_outlier_value(1.04f, 6), 1.0625f);
  EXPECT_EQ(round_outlier_value(1.02f, 6), 1.0f);
  EXPECT_EQ(round_outlier_value(-3.3f, 6), -3.25f);
  EXPECT_EQ(round_outlier_value(1.97f, 6), 2.0f);  // carries into the exponent
  EXPECT_EQ(round_outlier_value(65504.0f, 7), 61440.0f);  // never rounds up to infinity
  EXPECT_EQ(round_outlier_value(0.1f, 0), fp16_to_fp32(fp32_to_fp16(0.1f)));
}

TEST(CsrOutliers, EncodesCountsAndEntries) {
  // Format 3, 2 x 3 (2 column bits, one segment): [[0, 1.5, 0], [-2, 0, 0.25]] ->
  // header 3 2 0 0, full fp16 values 0x3E00, 0xC000, 0x3400, columns 1 0 2, counts 1 2;
  // 1.0009765625 (1 + 2^-10) keeps its last mantissa bit.
  const std::vector<float> dense3{0, 1.5f, 0, -2, 0, 0.25f};
  EXPECT_EQ(csr_encode(dense3.data(), 2, 3),
            (std::vector<uint8_t>{3, 2, 0, 0, 0x00, 0x3E, 0x00, 0xC0, 0x00, 0x34, 1, 0, 2, 1, 2}));
  std::vector<float> fine(300, 0.0f);
  fine[130] = 1.0009765625f;  // 7 column bits, segments 128, 128, 44: column 2 of segment 1
  EXPECT_EQ(csr_encode(fine.data(), 1, 300), (std::vector<uint8_t>{3, 7, 0, 0, 0x01, 0x3C, 2, 0, 1, 0}));
  // Format 2, 2 x 3 (2 column bits, one segment): [[0, 1.5, 0], [-2, 0, 0.25]] -> header 2 2 0 0,
  // entries 0x3E00|1, 0xC000|0, 0x3400|2 (little-endian), counts 1 2.
  const std::vector<float> dense{0, 1.5f, 0, -2, 0, 0.25f};
  EXPECT_EQ(csr_encode(dense.data(), 2, 3, 2),
            (std::vector<uint8_t>{2, 2, 0, 0, 0x01, 0x3E, 0x00, 0xC0, 0x02, 0x34, 1, 2}));
  // 1 x 300 (7 column bits, segments of 128, 128, 44): columns 5, 130, 299 -> in-segment 5, 2, 43.
  std::vector<float> wide(300, 0.0f);
  wide[5] = wide[130] = wide[299] = 1.0f;
  EXPECT_EQ(csr_encode(wide.data(), 1, 300, 2),
            (std::vector<uint8_t>{2, 7, 0, 0, 0x05, 0x3C, 0x02, 0x3C, 0x2B, 0x3C, 1, 1, 1}));
  const std::vector<float> not_finite{std::numeric_limits<float>::infinity()};
  EXPECT_THROW(csr_encode(not_finite.data(), 1, 1), Error);
}

TEST(CsrOutliers, RejectsHostileSideTensors) {
  // 2 x 8 (3 column bits, one segment per row): row 0 has column 5 = 1.0.
  const std::vector<uint8_t> good{2, 3, 0, 0, 0x05, 0x3C, 1, 0};
  EXPECT_EQ(CsrOutliers::view(DType::I8, good.data(), good.size(), 2, 8).nnz(), 1);
  auto bad = [&](std::vector<uint8_t> t, int64_t cols = 8) {
    EXPECT_THROW(CsrOutliers::view(DType::I8, t.data(), t.size(), 2, cols), Error);
  };
  bad({2, 3, 0});                              // shorter than its header
  bad({1, 3, 0, 0, 0x05, 0x3C, 1, 0});         // unknown format
  bad({4, 3, 0, 0, 0x05, 0x3C, 1, 0});         // unknown format
  bad({2, 8, 0, 0, 0x05, 0x3C, 1, 0});         // column bits above 7
  bad({2, 3, 1, 0, 0x05, 0x3C, 1, 0});         // reserved byte set
  bad({2, 3, 0, 0, 0x05, 0x3C, 1});            // counts cut short (odd entry bytes)
  bad({2, 3, 0, 0, 0x05, 0x3C, 2, 0});         // counts say 2 entries, 1 stored
  bad({2, 3, 0, 0, 0x05, 0x3C, 0x06, 0x3C, 1, 0});  // 2 stored, counts cover 1
  bad({2, 3, 0, 0, 0x05, 0x3C, 1, 0}, 5);      // column 5 of a 5-wide row
  bad({2, 3, 0, 0, 0x05, 0x3C, 0x04, 0x3C, 2, 0});  // columns out of order in a segment
  bad({2, 3, 0, 0, 0x05, 0x3C, 0x05, 0x3C, 2, 0});  // the same column twice
  bad({2, 3, 0, 0, 0x05, 0x7C, 1, 0});         // infinite value
  bad({2, 0, 0, 0, 0x00, 0x3C, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});  // 2 entries in a 1-column segment
  // Format 3, 2 x 8: row 0 has column 5 = 1.0 (value 0x3C00, column byte 5).
  const std::vector<uint8_t> good3{3, 3, 0, 0, 0x00, 0x3C, 5, 1, 0};
  const CsrOutliers g3 = CsrOutliers::view(DType::I8, good3.data(), good3.size(), 2, 8);
  ASSERT_EQ(g3.nnz(), 1);
  EXPECT_EQ(g3.columns[0], 5);
  bad({3, 8, 0, 0, 0x00, 0x3C, 5, 1, 0});      // column bits above 7
  bad({3, 3, 0, 1, 0x00, 0x3C, 5, 1, 0});      // reserved byte set
  bad({3, 3, 0, 0, 0x00, 0x3C, 5, 1});         // counts cut short (entries not whole)
  bad({3, 3, 0, 0, 0x00, 0x3C, 5, 2, 0});      // counts say 2 entries, 1 stored
  bad({3, 3, 0, 0, 0x00, 0x3C, 0x00, 0x3C, 5, 6, 1, 0});  // 2 stored, counts cover 1
  bad({3, 3, 0, 0, 0x00, 0x3C, 8, 1, 0});      // column byte past the 8-column segment
  bad({3, 3, 0, 0, 0x00, 0x3C, 5, 1, 0}, 5);   // column 5 of a 5-wide row
  bad({3, 3, 0, 0, 0x00, 0x3C, 0x00, 0x3C, 5, 4, 2, 0});  // columns out of order in a segment
  bad({3, 3, 0, 0, 0x00, 0x3C, 0x00, 0x3C, 5, 5, 2, 0});  // the same column twice
  bad({3, 3, 0, 0, 0x00, 0x7E, 5, 1, 0});      // NaN value
  bad({3, 3, 0, 0, 0x00, 0xFC, 5, 1, 0});      // -infinity
  std::vector<uint8_t> crowded{3, 0, 0, 0, 0x00, 0x3C, 0x00, 0x3C, 0, 0, 2};  // 2 x 8, 1-column segments:
  crowded.resize(crowded.size() + 15, 0);                                     // 2 entries in the first
  bad(crowded);
  std::vector<uint8_t> too_wide(4 + 2 * 513, 0);  // 2 x 65537: no 16-bit column for the decoded form
  too_wide[0] = 2, too_wide[1] = 7;
  EXPECT_THROW(CsrOutliers::view(DType::I8, too_wide.data(), too_wide.size(), 2, 65537), Error);
  const std::vector<int32_t> format1{0, 1, 1, static_cast<int32_t>((5u << 16) | 0x3C00)};
  try {
    CsrOutliers::view(DType::I32, format1.data(), format1.size() * 4, 2, 8, "m.gguf: tensor 'w.outliers'");
    ADD_FAILURE() << "format 1 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.gguf: tensor 'w.outliers': SpQR outliers in format 1"), std::string::npos)
        << e.what();
  }
}
