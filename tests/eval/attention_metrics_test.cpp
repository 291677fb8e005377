#include "eval/attention_metrics.h"

#include <gtest/gtest.h>

#include <numeric>

#include "test_paths.h"
#include "util/error.h"

using namespace edgerag;

TEST(AttentionMetrics, SharesAndRankByHand) {
  // 2 layers x 1 head over 6 positions; passages [1,3) and [3,5).
  std::vector<std::vector<std::vector<float>>> w = {{{0.1f, 0.2f, 0.2f, 0.1f, 0.1f, 0.3f}},
                                                    {{0.0f, 0.1f, 0.1f, 0.4f, 0.3f, 0.1f}}};
  const auto r = passage_attention(w, {{1, 3}, {3, 5}}, 0);
  EXPECT_NEAR(r.share[0], (0.4 + 0.2) / 2, 1e-6);
  EXPECT_NEAR(r.share[1], (0.2 + 0.7) / 2, 1e-6);
  EXPECT_EQ(r.gold_rank, 2);
  // Shares 0.3 and 0.45: |0.3 - 0.45| x 2 ordered pairs / (2 x 2 x 0.75) = 0.1.
  EXPECT_NEAR(r.gini, 0.1, 1e-6);
  EXPECT_THROW(passage_attention(w, {{1, 3}}, 1), Error);
}

TEST(AttentionMetrics, GiniByHand) {
  // 0.5, 0.25, 0.25: the four ordered pairs with the 0.5 differ by 0.25 -> 1.0 / (2 x 3 x 1) = 1/6.
  EXPECT_NEAR(gini_coefficient({0.5, 0.25, 0.25}), 1.0 / 6, 1e-12);
  EXPECT_NEAR(gini_coefficient({1, 0}), 0.5, 1e-12);    // all on one of two: (n - 1) / n
  EXPECT_EQ(gini_coefficient({0.2, 0.2, 0.2}), 0.0);
  EXPECT_EQ(gini_coefficient({0.7}), 0.0);
  EXPECT_EQ(gini_coefficient({0, 0}), 0.0);
}

TEST(AttentionMetrics, TraceOnTheEngine) {
  auto model = Model::load(test::model_path("stories260K.gguf"));
  std::vector<int32_t> prompt(40);
  std::iota(prompt.begin(), prompt.end(), 30);
  prompt[0] = 1;
  const std::vector<TokenSpan> passages = {{1, 15}, {15, 30}, {30, 40}};
  const AttentionTrace t = trace_attention(*model, prompt, passages, 1, 3, nullptr);
  ASSERT_EQ(t.gold_share.size(), 4u);
  // The passages plus BOS cover every position: shares are probabilities that sum below 1.
  const double total = t.at_prompt_end.share[0] + t.at_prompt_end.share[1] + t.at_prompt_end.share[2];
  EXPECT_GT(total, 0.0);
  EXPECT_LE(total, 1.0 + 1e-5);
  EXPECT_GE(t.at_prompt_end.gold_rank, 1);
  EXPECT_LE(t.at_prompt_end.gold_rank, 3);
  EXPECT_DOUBLE_EQ(t.drift, t.gold_share.back() - t.gold_share.front());
}
