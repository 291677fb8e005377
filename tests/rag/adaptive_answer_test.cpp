// The adaptive stages inside the answer pipeline, on a small hybrid index
// (the test bag-of-words embedder) with hand-written generations where the
// count of LLM calls matters, and stories260K where a real model runs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "format/gguf.h"
#include "rag/answer.h"
#include "rag/answer_cache.h"
#include "rag/index.h"
#include "test_embedder.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace edgerag::rag {
namespace {

const std::vector<TextDocument> kDocs = {
    {"ops.txt", "Operations",
     "The Zorblax engine stores pages in a ring buffer. Each page holds 4096 bytes. Checkpoints run every 30 "
     "seconds. A checkpoint copies dirty pages back to the main file."},
    {"journal.txt", "Journal",
     "The journal is deleted after every commit in rollback mode. Compression uses the Quibble codec."},
    {"story.txt", "A story", "Lily and Tim went to the park. They played with a red ball and laughed all day."},
    {"garden.txt", "Garden", "Tomatoes need sun and water. The garden gate is painted green."},
};

class AdaptiveAnswerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    embedder_ = std::make_shared<test::HashEmbedder>();
    auto idx = Index::open(dir_ / "idx", {.writable = true});
    idx->set_embedder(embedder_);
    ASSERT_EQ(idx->ingest_texts(kDocs, {}).failed, 0u);
    tok_ = Tokenizer::from_gguf(*GgufFile::open(test::model_path("stories260K.gguf")));
  }
  std::unique_ptr<AnswerEngine> engine(std::shared_ptr<AnswerCache> cache = {}) {
    return AnswerEngine::open({.index_dir = dir_ / "idx", .embedder = embedder_, .cache = std::move(cache)});
  }
  // A prompt target whose "LLM" writes `text` and counts its calls.
  PromptTarget fake_llm(ChatFormat chat, std::string text, int* calls) {
    PromptTarget t = PromptTarget::of(*tok_, chat, 2048);
    t.generate = [text, calls](const LlmPrompt&, const GenerationParams&) {
      ++*calls;
      GeneratedText g;
      g.text = text;
      g.stop_reason = "eog";
      return g;
    };
    return t;
  }

  test::TempDir dir_;
  std::shared_ptr<test::HashEmbedder> embedder_;
  std::unique_ptr<Tokenizer> tok_;
};

// HyDE costs exactly one generation and one embedding more, and its list is
// fused with the BM25 and dense lists by reciprocal rank.
TEST_F(AdaptiveAnswerTest, HydeAddsOneGenerationOneEmbeddingAndAFusedList) {
  auto e = engine();
  int calls = 0;
  const PromptTarget llm = fake_llm(ChatFormat::Plain, " Lily Tim park red ball laughed", &calls);
  AnswerConfig cfg;
  const std::string q = "Which engine stores pages?";

  int before = embedder_->calls;
  PreparedAnswer off = e->prepare(q, cfg, &llm);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(embedder_->calls - before, 1);  // the question
  EXPECT_TRUE(off.answer.hyde_passage.empty());

  cfg.adaptive.hyde = StageMode::On;
  before = embedder_->calls;
  PreparedAnswer on = e->prepare(q, cfg, &llm);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(embedder_->calls - before, 2);  // the question, once, and the passage
  EXPECT_EQ(on.answer.hyde_passage, "Lily Tim park red ball laughed");
  EXPECT_GT(on.answer.timings.hyde, 0.0);
  const AdaptiveStep& st = on.answer.adaptive.at(1);
  EXPECT_EQ(st.stage, "hyde");
  EXPECT_EQ(st.decision, "on");
  EXPECT_DOUBLE_EQ(st.ms, on.answer.timings.hyde);
  EXPECT_GT(st.joules, 0.0);

  // The passage is about the story: its list ranks story.txt first, and every
  // fused score is the sum of 1 / (60 + rank) over the lists holding the chunk.
  bool story_first_in_hyde = false;
  for (const SearchHit& h : on.answer.context) {
    const StageScores& s = h.scores;
    double rrf = 0;
    for (auto r : {s.bm25_rank, s.dense_rank, s.hyde_rank})
      if (r) rrf += 1.0 / (60.0 + static_cast<double>(*r));
    ASSERT_TRUE(s.fused);
    EXPECT_NEAR(*s.fused, rrf, 1e-12);
    story_first_in_hyde |= s.hyde_rank == size_t{1} && h.provenance.path == "story.txt";
  }
  EXPECT_TRUE(story_first_in_hyde);
  bool story_in_off = false;
  for (const SearchHit& h : off.answer.context) story_in_off |= h.provenance.path == "story.txt" && h.scores.bm25_rank;
  EXPECT_FALSE(story_in_off);
}

TEST_F(AdaptiveAnswerTest, HydeAutoFollowsTheThreshold) {
  auto e = engine();
  int calls = 0;
  const PromptTarget llm = fake_llm(ChatFormat::Plain, "Pages are stored in a ring buffer.", &calls);
  AnswerConfig cfg;
  cfg.adaptive.hyde = StageMode::Auto;
  const std::string q = "Why does the Zorblax engine use a ring buffer?";
  cfg.adaptive.hyde_threshold = 0;
  PreparedAnswer p = e->prepare(q, cfg, &llm);
  EXPECT_EQ(calls, 1);
  cfg.adaptive.hyde_threshold = p.answer.signals.difficulty;  // difficulty >= threshold: on
  p = e->prepare(q, cfg, &llm);
  EXPECT_EQ(calls, 2);
  cfg.adaptive.hyde_threshold = std::nextafter(p.answer.signals.difficulty, 2.0);
  p = e->prepare(q, cfg, &llm);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(p.answer.adaptive.at(1).decision, "off");
}

// Each class of question goes to the configured model: the prompt is
// assembled in that model's chat format and the answer says which it was.
TEST_F(AdaptiveAnswerTest, RoutingSendsEachQuestionClassToItsModel) {
  auto e = engine();
  int calls = 0;
  const PromptTarget small = fake_llm(ChatFormat::Plain, "", &calls);
  const PromptTarget large = fake_llm(ChatFormat::ChatML, "", &calls);
  AnswerConfig cfg;
  cfg.adaptive.route = "auto";
  cfg.adaptive.route_threshold = 0.4;
  const LlmTargets both{.large = &large, .small = &small};
  struct Case {
    const char* question;
    const char* model;
  };
  for (const Case& c : {Case{"What codec does compression use?", "small"},
                        Case{"How often do checkpoints run?", "small"},
                        Case{"Why is the journal deleted after every commit?", "large"},
                        Case{"How does a checkpoint copy dirty pages?", "large"},
                        Case{"Compare the rollback journal and the ring buffer", "large"}}) {
    PreparedAnswer p = e->prepare(c.question, cfg, both);
    EXPECT_EQ(p.answer.model, c.model) << c.question << " difficulty " << p.answer.signals.difficulty;
    EXPECT_EQ(p.prompt.find("<|im_start|>") != std::string::npos, std::string(c.model) == "large") << c.question;
    EXPECT_EQ(p.answer.adaptive.at(0).stage, "route");
    EXPECT_EQ(p.answer.adaptive.at(0).decision, c.model);
  }
  cfg.adaptive.route = "large";
  EXPECT_EQ(e->prepare("What codec does compression use?", cfg, both).answer.model, "large");
  cfg.adaptive.route = "small";
  EXPECT_EQ(e->prepare("Why is the journal deleted?", cfg, both).answer.model, "small");
  EXPECT_EQ(e->prepare("Why is the journal deleted?", cfg, &large).answer.model, "large");  // no small model
  EXPECT_EQ(calls, 0);  // routing itself generates nothing
}

TEST_F(AdaptiveAnswerTest, ContextAutoTrimsEasyQuestions) {
  auto e = engine();
  AnswerConfig cfg;
  cfg.max_chunks = 3;
  cfg.adaptive.context = StageMode::Auto;
  cfg.adaptive.context_threshold = 1;  // every question counts as easy
  cfg.adaptive.easy_chunks = 1;
  Answer a = e->answer("Which codec does compression use?", cfg);
  EXPECT_EQ(a.context.size(), 1u);
  EXPECT_EQ(a.adaptive.back().decision, "trimmed");
  cfg.adaptive.context_threshold = 0;  // none does
  a = e->answer("Which codec does compression use?", cfg);
  EXPECT_EQ(a.context.size(), 3u);
  EXPECT_EQ(a.adaptive.back().decision, "full");
}

// A repeated (normalized) question returns the identical answer, marked cached;
// an ingest into the collection invalidates it; requests that do not opt in
// never see the cache.
TEST_F(AdaptiveAnswerTest, CacheReturnsIdenticalAnswersUntilAnIngest) {
  auto cache = std::make_shared<AnswerCache>();
  auto e = engine(cache);
  AnswerConfig cfg;
  cfg.adaptive.cache = true;
  Answer first = e->answer("How often do checkpoints run?", cfg);
  EXPECT_FALSE(first.cached);
  EXPECT_EQ(first.adaptive.at(0).decision, "miss");
  EXPECT_EQ(cache->size(), 1u);
  Answer again = e->answer("how often do CHECKPOINTS run", cfg);
  EXPECT_TRUE(again.cached);
  EXPECT_EQ(again.text, first.text);
  ASSERT_EQ(again.citations.size(), first.citations.size());
  for (size_t i = 0; i < first.citations.size(); ++i) {
    EXPECT_EQ(again.citations[i].n, first.citations[i].n);
    EXPECT_EQ(again.citations[i].chunk.chunk_id, first.citations[i].chunk.chunk_id);
  }
  EXPECT_EQ(nlohmann::json(to_json(again))["citations"], nlohmann::json(to_json(first))["citations"]);
  ASSERT_EQ(again.adaptive.size(), 1u);
  EXPECT_EQ(again.adaptive[0].decision, "hit");

  AnswerConfig plain;  // no opt-in
  EXPECT_FALSE(e->answer("How often do checkpoints run?", plain).cached);

  {
    auto writer = Index::open(dir_ / "idx", {.writable = true});
    writer->set_embedder(embedder_);
    writer->ingest_texts({{"new.txt", "New", "Checkpoints now run every 10 seconds."}}, {});
  }
  Answer after = e->answer("How often do checkpoints run?", cfg);
  EXPECT_FALSE(after.cached);
  EXPECT_EQ(after.adaptive.at(0).decision, "miss");
  EXPECT_TRUE(e->answer("How often do checkpoints run?", cfg).cached);
  // A delete in another collection leaves this one's answers alone; in its own it invalidates.
  {
    auto writer = Index::open(dir_ / "idx", {.writable = true});
    writer->set_embedder(embedder_);
    IngestOptions other;
    other.collection = "other";
    writer->ingest_texts({{"other.txt", "Other", "Unrelated."}}, other);
  }
  QueryBounds only_default{.collections = {"default"}};
  (void)e->prepare("How often do checkpoints run?", cfg, nullptr, only_default);
  EXPECT_TRUE(e->prepare("How often do checkpoints run?", cfg, nullptr, only_default).answer.cached);
  {
    auto writer = Index::open(dir_ / "idx", {.writable = true});
    EXPECT_TRUE(writer->remove("default", "new.txt"));
  }
  EXPECT_FALSE(e->prepare("How often do checkpoints run?", cfg, nullptr, only_default).answer.cached);
}

TEST_F(AdaptiveAnswerTest, AbstainsBelowMinConfidence) {
  auto e = engine();
  AnswerConfig cfg;
  cfg.adaptive.min_confidence = 1;
  Answer a = e->answer("How often do checkpoints run?", cfg);
  EXPECT_TRUE(a.abstained);
  EXPECT_EQ(a.text, kAbstainText);
  EXPECT_TRUE(a.citations.empty());
  EXPECT_EQ(a.adaptive.back().decision, "abstained");
  cfg.adaptive.min_confidence = 0.01;
  a = e->answer("How often do checkpoints run?", cfg);
  EXPECT_FALSE(a.abstained);
  EXPECT_GT(a.confidence.confidence, 0.01);
  EXPECT_DOUBLE_EQ(a.confidence.coverage, 1.0);  // extractive sentences all carry their [n]
}

// With a real model: stories260K writes the HyDE passage and answers; the
// second model answers the questions routed to it; ask --json's fields are there.
TEST_F(AdaptiveAnswerTest, Stories260KEndToEnd) {
  auto e = AnswerEngine::open({.index_dir = dir_ / "idx",
                               .llm = test::model_path("stories260K.gguf"),
                               .llm_small = test::model_path("stories260K-q8_0-ffndown_f16.gguf"),
                               .n_threads = 1,
                               .embedder = embedder_});
  AnswerConfig cfg;
  cfg.max_answer_tokens = 8;
  cfg.adaptive.hyde = StageMode::On;
  cfg.adaptive.hyde_max_tokens = 12;
  cfg.adaptive.route = "small";
  const int before = embedder_->calls;
  Answer a = e->answer("Where did Lily and Tim go?", cfg);
  EXPECT_EQ(embedder_->calls - before, 2);
  EXPECT_EQ(a.model, "small");
  EXPECT_FALSE(a.hyde_passage.empty());
  EXPECT_GT(a.tokens.answer, 0);
  const nlohmann::json j = to_json(a);
  EXPECT_EQ(j["model"], "small");
  EXPECT_EQ(j["adaptive"][1]["stage"], "hyde");
  EXPECT_EQ(j["adaptive"][1]["decision"], "on");
  EXPECT_GT(j["adaptive"][1]["ms"].get<double>(), 0.0);
  EXPECT_GT(j["timings_ms"]["hyde"].get<double>(), 0.0);
  for (const char* k : {"confidence", "evidence", "margin", "agreement", "coverage"})
    EXPECT_TRUE(j["confidence"].contains(k)) << k;
  EXPECT_TRUE(j["signals"].contains("difficulty"));
  // The answer tokens' probability is measured and enters the confidence.
  ASSERT_TRUE(a.confidence.token_p.has_value());
  EXPECT_GT(*a.confidence.token_p, 0.0);
  EXPECT_LE(*a.confidence.token_p, 1.0);
  EXPECT_EQ(j["confidence"]["token_p"].get<double>(), *a.confidence.token_p);
  EXPECT_DOUBLE_EQ(a.confidence.confidence,
                   answer_confidence(a.text, a.context, a.signals, a.confidence.token_p).confidence);
  EXPECT_NE(a.confidence.confidence, answer_confidence(a.text, a.context, a.signals).confidence);
  cfg.adaptive.route = "large";
  const Answer large = e->answer("Where did Lily and Tim go?", cfg);
  EXPECT_EQ(large.model, "large");
  EXPECT_TRUE(large.confidence.token_p.has_value());
}

}  // namespace
}  // namespace edgerag::rag
