// `eval adaptive` on a small SciFact subset with stories260K and the synthetic
// BERT embedder: the report has every stage with consistent figures (the
// quality side needs real models; the machinery is what is checked), and the
// threshold search on hand-made gains.
#include "eval/adaptive_eval.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_paths.h"

namespace edgerag::eval {
namespace {

TEST(AdaptiveEval, BestThresholdMaximizesTheGain) {
  // Runs for difficulty >= t: t = 0.6 takes +0.3 and +0.2, leaving out the -0.4 at 0.5.
  EXPECT_DOUBLE_EQ(best_threshold({0.2, 0.5, 0.6, 0.9}, {0.1, -0.4, 0.3, 0.2}), 0.6);
  EXPECT_GT(best_threshold({0.2, 0.5}, {-0.1, -0.2}), 1.0);  // never
  EXPECT_GT(best_threshold({0.2, 0.5}, {0.0, 0.0}), 1.0);    // no gain: never (the higher threshold)
  EXPECT_DOUBLE_EQ(best_threshold({0.2, 0.5}, {0.1, 0.2}), 0.2);  // always
}

TEST(AdaptiveEval, ReportOnASciFactSubset) {
  AdaptiveEvalOptions o;
  o.beir_dir = test::shared_dir() + "/data/scifact";
  o.llm = test::model_path("stories260K.gguf");
  o.small_llm = test::model_path("stories260K-q8_0-ffndown_f16.gguf");
  o.embed = test::model_path("synth-bert-embed.gguf");
  o.limit = 4;
  o.corpus_limit = 40;
  o.answer_tokens = 4;
  o.threads = 1;
  o.tdp_watts = 15;
  o.config.adaptive.hyde_max_tokens = 16;
  const nlohmann::json j = run_adaptive_eval(o);
  EXPECT_EQ(j["dataset"], "scifact");
  EXPECT_EQ(j["queries"], 4);
  EXPECT_GE(j["corpus_documents"].get<int>(), 40);
  EXPECT_LE(j["corpus_documents"].get<int>(), 40 + 4 * 10);
  ASSERT_EQ(j["per_query"].size(), 4u);
  const auto& s = j["stages"];
  for (const char* stage : {"hyde", "context", "route", "cache"}) ASSERT_TRUE(s.contains(stage)) << stage;
  for (const char* k : {"ndcg_at_10_off", "ndcg_at_10_on", "ndcg_at_10_gain", "recall_at_k_off", "recall_at_k_on",
                        "extra_ms_per_query", "helped_share", "hurt_share", "auto_threshold", "extra_joules_per_query"})
    EXPECT_TRUE(s["hyde"].contains(k)) << k;
  const auto& h = s["hyde"];
  EXPECT_NEAR(h["ndcg_at_10_gain"].get<double>(), h["ndcg_at_10_on"].get<double>() - h["ndcg_at_10_off"].get<double>(),
              1e-12);
  EXPECT_GT(h["extra_ms_per_query"].get<double>(), 0.0);  // a generation and an embedding more
  EXPECT_LE(h["helped_share"].get<double>() + h["hurt_share"].get<double>(), 1.0);
  // Per-query figures average to the stage's.
  double off = 0, on = 0;
  for (const auto& q : j["per_query"]) {
    off += q["ndcg_at_10"].get<double>();
    on += q["hyde"]["ndcg_at_10"].get<double>();
    EXPECT_GE(q["difficulty"].get<double>(), 0.0);
    EXPECT_LE(q["difficulty"].get<double>(), 1.0);
  }
  EXPECT_NEAR(off / 4, h["ndcg_at_10_off"].get<double>(), 1e-12);
  EXPECT_NEAR(on / 4, h["ndcg_at_10_on"].get<double>(), 1e-12);
  // Trimming never improves recall of what is supplied; full context equals the HyDE-off run.
  EXPECT_LE(s["context"]["recall_at_k_on"].get<double>(), s["context"]["recall_at_k_off"].get<double>());
  EXPECT_DOUBLE_EQ(s["context"]["recall_at_k_off"].get<double>(), h["recall_at_k_off"].get<double>());
  EXPECT_EQ(s["context"]["supplied_chunks_on"], 7);
  EXPECT_GT(s["route"]["answer_ms_large"].get<double>(), 0.0);
  EXPECT_GT(s["route"]["answer_ms_small"].get<double>(), 0.0);
  EXPECT_EQ(s["cache"]["entries"], 4);
  EXPECT_LT(s["cache"]["answer_ms_hit"].get<double>(), s["cache"]["answer_ms_miss"].get<double>());
}

}  // namespace
}  // namespace edgerag::eval
