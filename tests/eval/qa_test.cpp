#include "eval/qa.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_paths.h"
#include "util/error.h"

using namespace edgerag;

TEST(Qa, SquadNormalizationAndScores) {
  EXPECT_EQ(squad_normalize("  The  Eiffel-Tower, in PARIS! "), "eiffeltower in paris");
  EXPECT_EQ(squad_normalize("an apple a day"), "apple day");
  EXPECT_EQ(exact_match("the Denver Broncos", {"Denver Broncos", "Broncos"}), 1.0);
  EXPECT_EQ(exact_match("Denver", {"Denver Broncos"}), 0.0);
  // "denver broncos won" vs "denver broncos": precision 2/3, recall 1 -> F1 0.8.
  EXPECT_NEAR(f1_score("Denver Broncos won", {"Denver Broncos"}), 0.8, 1e-12);
  EXPECT_NEAR(f1_score("Broncos", {"Carolina Panthers", "the Broncos"}), 1.0, 1e-12);
  EXPECT_EQ(f1_score("", {"x"}), 0.0);
  EXPECT_EQ(f1_score("the", {"a"}), 1.0);  // both normalize to empty
}

TEST(Qa, LoadsSquadAndRgb) {
  const auto squad = load_qa(test::data_path("squad/cs224n-dev-v2.0.json"));
  EXPECT_EQ(squad.size(), 6078u - 3168u);  // answerable questions only
  EXPECT_FALSE(squad[0].gold_passage.empty());
  EXPECT_FALSE(squad[0].distractors.empty());
  EXPECT_NE(squad[0].gold_passage.find(squad[0].answers[0]), std::string::npos);
  const auto rgb = load_qa(test::data_path("rgb/en_fact.json"), 10);
  ASSERT_EQ(rgb.size(), 10u);
  EXPECT_EQ(rgb[0].question, "Super Bowl 2021 location");
  EXPECT_FALSE(rgb[0].answers.empty());
  EXPECT_THROW(load_qa("/nonexistent.json"), Error);
}

TEST(Qa, EvaluatesWithPaddingAndSkipsWhatDoesNotFit) {
  auto model = Model::load(test::model_path("stories260K.gguf"));
  auto items = load_qa(test::data_path("squad/cs224n-dev-v2.0.json"), 3);
  QaOptions opt;
  opt.context_tokens = {256, 100000};
  opt.max_new_tokens = 4;
  opt.attention = true;
  const QaResult r = eval_qa(*model, items, opt, nullptr);
  ASSERT_EQ(r.scores.size(), 2u);
  EXPECT_EQ(r.scores[0].n + r.scores[0].skipped, 3);
  EXPECT_EQ(r.scores[1].skipped, 3);  // beyond stories260K's 512-token context
  EXPECT_GE(r.scores[0].f1, r.scores[0].em);
  EXPECT_GT(r.scores[0].gold_attention_share, 0.0);
  EXPECT_LT(r.scores[0].gold_attention_share, 1.0);
  EXPECT_GE(r.scores[0].gold_rank, 1.0);
  // Precision@1 is a share of the answered items; the median rank is a rank or the
  // mean of two; the Gini coefficient of shares over n passages is below 1.
  const double top1 = r.scores[0].gold_precision_at_1 * r.scores[0].n;
  EXPECT_NEAR(top1, std::round(top1), 1e-9);
  EXPECT_LE(top1, r.scores[0].n);
  EXPECT_GE(r.scores[0].gold_rank_median, 1.0);
  EXPECT_NEAR(2 * r.scores[0].gold_rank_median, std::round(2 * r.scores[0].gold_rank_median), 1e-12);
  EXPECT_GE(r.scores[0].attention_gini, 0.0);
  EXPECT_LT(r.scores[0].attention_gini, 1.0);
  // stories260K answers nothing: every answer is wrong, so the wrong-answer drift is the mean drift.
  EXPECT_EQ(r.scores[0].n_correct, 0);
  EXPECT_NEAR(r.scores[0].drift_wrong, r.scores[0].attention_drift, 1e-12);
  opt.mode = "closed";
  EXPECT_EQ(eval_qa(*model, items, opt, nullptr).scores.at(0).n, 3);
}
