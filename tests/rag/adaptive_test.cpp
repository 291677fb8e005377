// The adaptive stages' pieces against hand-computed expectations: question
// forms, the difficulty formula, threshold decisions, the confidence formula,
// the answer cache's matching and bounds, and the [adaptive] settings.
#include "rag/adaptive.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "rag/answer_cache.h"
#include "rag/confidence.h"
#include "rag/query_signals.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

SearchHit hit(double score, std::optional<double> bm25, std::optional<double> dense = std::nullopt) {
  SearchHit h;
  h.score = score;
  h.scores.bm25 = bm25;
  h.scores.dense = dense;
  return h;
}

TEST(QuestionForm, FromTheWording) {
  EXPECT_EQ(question_form("What is WAL mode?"), QuestionForm::Factoid);
  EXPECT_EQ(question_form("How many pages fit in a block?"), QuestionForm::Factoid);
  EXPECT_EQ(question_form("How often do checkpoints run?"), QuestionForm::Factoid);
  EXPECT_EQ(question_form("Why are readers never blocked?"), QuestionForm::Why);
  EXPECT_EQ(question_form("How does the checkpoint copy pages?"), QuestionForm::How);
  EXPECT_EQ(question_form("Compare rollback and WAL journals"), QuestionForm::Compare);
  EXPECT_EQ(question_form("What is the difference between a page and a block?"), QuestionForm::Compare);
  EXPECT_EQ(question_form("What is a page? What is a block?"), QuestionForm::MultiPart);
  EXPECT_EQ(question_form("Who wrote the codec and when was it chosen?"), QuestionForm::MultiPart);
}

TEST(QuerySignals, DifficultyFollowsTheDocumentedFormula) {
  SearchResponse r;
  r.agreement = 0.6;
  r.hits = {hit(0.04, 6.0), hit(0.03, 2.0), hit(0.01, std::nullopt)};
  // "checkpoints", "copy", "dirty", "pages" are the content words.
  QuerySignals s = query_signals("Why does a checkpoint copy dirty pages?", r);
  EXPECT_EQ(s.form, QuestionForm::Why);
  EXPECT_EQ(s.terms, 4);
  EXPECT_DOUBLE_EQ(s.margin, 0.25);
  EXPECT_DOUBLE_EQ(s.specificity, 1.5);
  const double expected = 0.35 * 1 + 0.25 * (1 - 0.6) + 0.20 * (1 - 0.25 / 0.5) + 0.10 * 0 + 0.10 * (1 - 1.5 / 4);
  EXPECT_NEAR(s.difficulty, expected, 1e-12);

  // A factoid, BM25 only (agreement counts as 0.5), one clear winner.
  r.agreement = -1;
  r.hits = {hit(12.0, 12.0), hit(3.0, 3.0)};
  s = query_signals("What codec does compression use?", r);  // codec, compression
  EXPECT_EQ(s.form, QuestionForm::Factoid);
  EXPECT_DOUBLE_EQ(s.margin, 0.75);
  EXPECT_NEAR(s.difficulty, 0.25 * 0.5 + 0 + 0 + 0, 1e-12);
  EXPECT_TRUE(to_json(s)["agreement"].is_null());
}

TEST(AdaptiveDecisions, FollowTheThresholds) {
  AdaptiveConfig c;
  QuerySignals s;
  s.difficulty = 0.5;
  c.hyde = StageMode::Auto;
  c.hyde_threshold = 0.5;
  EXPECT_TRUE(decide_hyde(c, s, true).on);
  EXPECT_FALSE(decide_hyde(c, s, false).on);  // no LLM or no dense vectors
  c.hyde_threshold = 0.51;
  EXPECT_FALSE(decide_hyde(c, s, true).on);
  c.hyde = StageMode::On;
  EXPECT_TRUE(decide_hyde(c, s, true).on);
  c.hyde = StageMode::Off;
  EXPECT_FALSE(decide_hyde(c, s, true).on);

  c.route = "auto";
  c.route_threshold = 0.5;
  EXPECT_FALSE(decide_route(c, s, true).on);  // 0.5 is not below 0.5: large
  c.route_threshold = 0.51;
  EXPECT_TRUE(decide_route(c, s, true).on);
  EXPECT_FALSE(decide_route(c, s, false).on);  // no small model
  c.route = "large";
  EXPECT_FALSE(decide_route(c, s, true).on);
  c.route = "small";
  s.difficulty = 0.99;
  EXPECT_TRUE(decide_route(c, s, true).on);

  c.context = StageMode::Auto;
  c.context_threshold = 0.35;
  s.difficulty = 0.3;
  EXPECT_TRUE(decide_context(c, s).on);
  s.difficulty = 0.35;
  EXPECT_FALSE(decide_context(c, s).on);
  EXPECT_EQ(easy_context_chunks(c, 15), 10);  // the seed's 15 -> 10
  EXPECT_EQ(easy_context_chunks(c, 1), 1);
  c.easy_chunks = 4;
  EXPECT_EQ(easy_context_chunks(c, 15), 4);
  EXPECT_EQ(easy_context_chunks(c, 3), 3);

  c.watts = 20;
  AdaptiveStep st = adaptive_step(c, "hyde", "on", "why", 500);
  EXPECT_DOUBLE_EQ(st.joules, 0.7 * 20 * 0.5);
}

TEST(AdaptiveDecisions, RouteModels) {
  RouteModels r = parse_route_models("small=a.gguf,large=b.gguf");
  EXPECT_EQ(r.small, "a.gguf");
  EXPECT_EQ(r.large, "b.gguf");
  r = parse_route_models("large=x");
  EXPECT_EQ(r.small, "");
  EXPECT_EQ(r.large, "x");
  EXPECT_THROW(parse_route_models("tiny=a"), Error);
  EXPECT_THROW(parse_route_models("small="), Error);
  EXPECT_THROW(parse_route_models("small=a,"), Error);
}

TEST(Confidence, CoverageAndFormula) {
  EXPECT_DOUBLE_EQ(citation_coverage("Checkpoints run every 30 seconds. [1]", 2), 1.0);
  EXPECT_DOUBLE_EQ(citation_coverage("A is true [1]. B is false. C [3].", 2), 1.0 / 3);  // [3] names no chunk
  EXPECT_DOUBLE_EQ(citation_coverage("", 2), 0.0);
  EXPECT_DOUBLE_EQ(citation_coverage("First [2]\nSecond [1]", 2), 1.0);

  QuerySignals s;
  s.margin = 0.4;
  s.agreement = 0.8;
  std::vector<SearchHit> ctx = {hit(1, 5.0, 0.6)};
  ConfidenceParts c = answer_confidence("It runs. [1] It stops.", ctx, s);
  EXPECT_DOUBLE_EQ(c.evidence, (0.6 + 0.5) / 2);
  EXPECT_DOUBLE_EQ(c.coverage, 0.5);
  EXPECT_NEAR(c.confidence, 0.35 * 0.55 + 0.15 * 0.4 + 0.15 * 0.8 + 0.35 * 0.5, 1e-12);
  c = answer_confidence("It runs. [1] It stops.", ctx, s, 0.9);
  EXPECT_NEAR(c.confidence, (0.35 * 0.55 + 0.15 * 0.4 + 0.15 * 0.8 + 0.35 * 0.5 + 0.25 * 0.9) / 1.25, 1e-12);
  s.agreement = -1;  // not hybrid
  c = answer_confidence("x", {}, s);
  EXPECT_DOUBLE_EQ(c.agreement, 0.5);
  EXPECT_DOUBLE_EQ(c.evidence, 0);
}

Answer answer_with(const std::string& text, size_t context_bytes) {
  Answer a;
  a.text = text;
  SearchHit h;
  h.text.assign(context_bytes, 'x');
  a.context.push_back(h);
  return a;
}

TEST(AnswerCache, ExactAfterNormalizingThenBySimilarity) {
  EXPECT_EQ(AnswerCache::normalize("  What is WAL-mode?? "), "what is wal mode");
  AnswerCache cache;
  cache.put("s1", AnswerCache::normalize("What is WAL?"), {1, 0}, answer_with("wal", 10));
  auto a = cache.find("s1", AnswerCache::normalize("what is  wal"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->text, "wal");
  EXPECT_FALSE(cache.find("s2", "what is wal"));  // other collections / version / settings
  EXPECT_FALSE(cache.find("s1", "what is a page"));
  // Near-duplicates by cosine only when asked for.
  const std::vector<float> near = {0.8f, 0.6f};
  EXPECT_FALSE(cache.find("s1", "explain wal", near, 0));
  EXPECT_FALSE(cache.find("s1", "explain wal", near, 0.9));
  ASSERT_TRUE(cache.find("s1", "explain wal", near, 0.8));
}

TEST(AnswerCache, BoundedByEntriesAndBytes) {
  AnswerCache by_count(2, 1 << 20);
  by_count.put("s", "a", {}, answer_with("A", 10));
  by_count.put("s", "b", {}, answer_with("B", 10));
  ASSERT_TRUE(by_count.find("s", "a"));  // now the most recently used
  by_count.put("s", "c", {}, answer_with("C", 10));
  EXPECT_EQ(by_count.size(), 2u);
  EXPECT_TRUE(by_count.find("s", "a"));
  EXPECT_FALSE(by_count.find("s", "b"));  // least recently used went first
  EXPECT_TRUE(by_count.find("s", "c"));

  AnswerCache by_bytes(100, 3000);
  by_bytes.put("s", "a", {}, answer_with("A", 1200));
  by_bytes.put("s", "b", {}, answer_with("B", 1200));
  EXPECT_EQ(by_bytes.size(), 1u);
  EXPECT_LE(by_bytes.bytes(), 3000u);
  by_bytes.put("s", "huge", {}, answer_with("H", 5000));  // larger than the whole cache: not kept
  EXPECT_FALSE(by_bytes.find("s", "huge"));
  EXPECT_TRUE(by_bytes.find("s", "b"));
}

TEST(AdaptiveConfig, TomlJsonAndValidation) {
  AnswerConfig c;
  apply_toml(c, "[adaptive]\nhyde = \"auto\"\nhyde_threshold = 0.4\nroute = \"small\"\ncontext = \"auto\"\n"
                "easy_chunks = 5\nmin_confidence = 0.3\ncache = true\ncache_similarity = 0.95\nwatts = 28\n");
  EXPECT_EQ(c.adaptive.hyde, StageMode::Auto);
  EXPECT_DOUBLE_EQ(c.adaptive.hyde_threshold, 0.4);
  EXPECT_EQ(c.adaptive.route, "small");
  EXPECT_EQ(c.adaptive.context, StageMode::Auto);
  EXPECT_EQ(c.adaptive.easy_chunks, 5);
  EXPECT_TRUE(c.adaptive.cache);
  AnswerConfig round;
  apply_json(round, to_json(c));
  EXPECT_EQ(to_json(round), to_json(c));
  EXPECT_NE(test::error_of([] {
              AnswerConfig x;
              apply_json(x, nlohmann::json::parse(R"({"adaptive": {"hyde": "sometimes"}})"));
            }).find("adaptive.hyde"),
            std::string::npos);
  EXPECT_THROW(apply_json(c, nlohmann::json::parse(R"({"adaptive": {"route": "medium"}})")), Error);
  EXPECT_THROW(apply_json(c, nlohmann::json::parse(R"({"adaptive": {"min_confidence": 1.5}})")), Error);
  EXPECT_THROW(apply_json(c, nlohmann::json::parse(R"({"adaptive": {"hyde_max_tokens": 0}})")), Error);
  EXPECT_THROW(apply_json(c, nlohmann::json::parse(R"({"adaptive": {"nope": 1}})")), Error);
}

}  // namespace
}  // namespace edgerag::rag
