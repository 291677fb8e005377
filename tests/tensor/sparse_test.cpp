// The SpQR outlier product (tensor/sparse.h) against a product worked out in
// double from the dense matrix it encodes, over odd shapes; and the checks that
// keep a hostile side tensor from indexing out of bounds.
#include <gtest/gtest.h>

#include <cmath>
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
  for (const Case& k : {Case{1, 1, 1, 1.0}, Case{7, 3, 5, 0.3}, Case{33, 17, 2, 0.1}, Case{5, 129, 3, 0.0},
                        Case{300, 257, 9, 0.05}, Case{2, 65536, 1, 0.0001}}) {
    std::vector<float> dense(k.rows * k.cols, 0.0f), x(k.tokens * k.cols), y0(k.tokens * k.rows);
    for (auto& v : dense)
      if (u(rng) < k.density) v = fp16_to_fp32(fp32_to_fp16(nd(rng)));  // fp16-exact: the encoding is lossless
    for (auto& v : x) v = nd(rng);
    for (auto& v : y0) v = nd(rng);
    const std::vector<int32_t> enc = csr_encode(dense.data(), k.rows, k.cols);
    const CsrOutliers s = CsrOutliers::view(enc.data(), static_cast<int64_t>(enc.size()), k.rows, k.cols);
    std::vector<float> fast = y0, ref = y0;
    csr_matmul_add(s, x.data(), k.tokens, fast.data(), &pool);
    csr_matmul_add_ref(s, x.data(), k.tokens, ref.data());
    for (int64_t t = 0; t < k.tokens; ++t)
      for (int64_t r = 0; r < k.rows; ++r) {
        double want = y0[t * k.rows + r];
        for (int64_t c = 0; c < k.cols; ++c) want += static_cast<double>(dense[r * k.cols + c]) * x[t * k.cols + c];
        EXPECT_NEAR(ref[t * k.rows + r], want, 1e-5 * (1 + std::abs(want))) << k.rows << "x" << k.cols;
        EXPECT_NEAR(fast[t * k.rows + r], want, 1e-4 * (1 + std::abs(want))) << k.rows << "x" << k.cols;
      }
  }
}

TEST(CsrOutliers, EncodesRowsAndColumns) {
  // 2 x 3: [[0, 1.5, 0], [-2, 0, 0.25]] -> offsets 0 1 3, entries (1, 1.5) (0, -2) (2, 0.25).
  const std::vector<float> dense{0, 1.5f, 0, -2, 0, 0.25f};
  const std::vector<int32_t> enc = csr_encode(dense.data(), 2, 3);
  ASSERT_EQ(enc.size(), 6u);
  EXPECT_EQ(enc[0], 0);
  EXPECT_EQ(enc[1], 1);
  EXPECT_EQ(enc[2], 3);
  EXPECT_EQ(static_cast<uint32_t>(enc[3]), (1u << 16) | fp32_to_fp16(1.5f));
  EXPECT_EQ(static_cast<uint32_t>(enc[4]), (0u << 16) | fp32_to_fp16(-2.0f));
  EXPECT_EQ(static_cast<uint32_t>(enc[5]), (2u << 16) | fp32_to_fp16(0.25f));
  std::vector<float> wide(65537, 1.0f);
  EXPECT_THROW(csr_encode(wide.data(), 1, 65537), Error);
}

TEST(CsrOutliers, RejectsHostileSideTensors) {
  const int32_t one_entry_col5 = static_cast<int32_t>((5u << 16) | fp32_to_fp16(1.0f));
  const std::vector<int32_t> too_short{0};                      // 2 rows need 3 offsets
  const std::vector<int32_t> bad_total{0, 1, 2, one_entry_col5};  // says 2 entries, holds 1
  const std::vector<int32_t> decreasing{0, 2, 1, one_entry_col5};
  const std::vector<int32_t> bad_start{1, 1, 1, one_entry_col5};
  const std::vector<int32_t> good{0, 1, 1, one_entry_col5};
  EXPECT_THROW(CsrOutliers::view(too_short.data(), 1, 2, 8), Error);
  EXPECT_THROW(CsrOutliers::view(bad_total.data(), 4, 2, 8), Error);
  EXPECT_THROW(CsrOutliers::view(decreasing.data(), 4, 2, 8), Error);
  EXPECT_THROW(CsrOutliers::view(bad_start.data(), 4, 2, 8), Error);
  EXPECT_THROW(CsrOutliers::view(good.data(), 4, 2, 5), Error);  // column 5 of 5
  EXPECT_EQ(CsrOutliers::view(good.data(), 4, 2, 6).nnz(), 1);
}
