// Reciprocal rank fusion and retriever agreement, hand-computed.
#include <gtest/gtest.h>

#include "rag/fusion.h"

namespace edgerag::rag {
namespace {

TEST(Fusion, ReciprocalRankFusionHandComputed) {
  // k = 60: doc 7 is 1st and 3rd -> 1/61 + 1/63; doc 3 is 2nd and 1st -> 1/62 + 1/61.
  auto f = reciprocal_rank_fusion({{7, 3, 9}, {3, 5, 7}}, 60);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].first, 3);
  EXPECT_DOUBLE_EQ(f[0].second, 1.0 / 62 + 1.0 / 61);
  EXPECT_EQ(f[1].first, 7);
  EXPECT_DOUBLE_EQ(f[1].second, 1.0 / 61 + 1.0 / 63);
  // 5 (2nd in one list) beats 9 (3rd in one list).
  EXPECT_EQ(f[2].first, 5);
  EXPECT_DOUBLE_EQ(f[2].second, 1.0 / 62);
  EXPECT_EQ(f[3].first, 9);
}

TEST(Fusion, TiesBreakBySmallerIdAndKMatters) {
  auto f = reciprocal_rank_fusion({{4}, {2}}, 1);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].first, 2);
  EXPECT_DOUBLE_EQ(f[0].second, 0.5);
  EXPECT_TRUE(reciprocal_rank_fusion({}, 60).empty());
}

TEST(Fusion, TopOverlap) {
  EXPECT_DOUBLE_EQ(top_overlap({1, 2, 3, 4}, {4, 3, 9, 8}, 2), 0.0);
  EXPECT_DOUBLE_EQ(top_overlap({1, 2, 3, 4}, {2, 1, 9, 8}, 2), 1.0);
  EXPECT_DOUBLE_EQ(top_overlap({1, 2, 3}, {3, 7, 1}, 3), 2.0 / 3);
  EXPECT_DOUBLE_EQ(top_overlap({}, {1}, 3), 0.0);
}

}  // namespace
}  // namespace edgerag::rag
