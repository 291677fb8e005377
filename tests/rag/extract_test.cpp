#include "rag/extract.h"

#include <gtest/gtest.h>

namespace edgerag::rag {
namespace {

TEST(QuestionTerms, ContentWordsOnly) {
  EXPECT_EQ(question_terms("How do I attach another database?"), (std::vector<std::string>{"attach", "another", "database"}));
  EXPECT_EQ(question_terms("What does the VACUUM command do?"), (std::vector<std::string>{"vacuum", "command"}));
  EXPECT_EQ(question_terms("What is it?"), (std::vector<std::string>{"what"}));  // nothing else left
}

SearchHit chunk(int64_t id, const std::string& text) {
  SearchHit h;
  h.chunk_id = id;
  h.text = text;
  return h;
}

// A small generated corpus: each chunk states facts about a made-up system;
// exactly one sentence answers each question.
std::vector<SearchHit> corpus() {
  return {
      chunk(11, "The Zorblax engine stores pages in a ring buffer. Each page holds 4096 bytes. "
                "Pages are written by a single writer thread."),
      chunk(12, "Checkpoints run every 30 seconds. A checkpoint copies dirty pages back to the main file. "
                "Readers never block writers during a checkpoint."),
      chunk(13, "The journal is deleted after every commit in rollback mode. "
                "In write-ahead mode the journal is kept and reused. Compression uses the Quibble codec."),
  };
}

TEST(BestSentences, FindsTheAnsweringSentenceAndItsChunk) {
  auto hits = corpus();
  auto best = best_sentences(hits, "How often do checkpoints run?", {.max_sentences = 1});
  ASSERT_EQ(best.size(), 1u);
  EXPECT_EQ(best[0].text, "Checkpoints run every 30 seconds.");
  EXPECT_EQ(best[0].chunk, 2);
  EXPECT_EQ(hits[1].text.substr(best[0].begin, best[0].end - best[0].begin), best[0].text);

  best = best_sentences(hits, "Which codec is used for compression?", {.max_sentences = 2});
  ASSERT_FALSE(best.empty());
  EXPECT_EQ(best[0].text, "Compression uses the Quibble codec.");
  EXPECT_EQ(best[0].chunk, 3);

  best = best_sentences(hits, "what size is a page", {.max_sentences = 3});
  ASSERT_FALSE(best.empty());
  EXPECT_EQ(best[0].text, "Each page holds 4096 bytes.");  // stemming: "pages" / "page"
  EXPECT_EQ(best[0].chunk, 1);
  for (size_t i = 1; i < best.size(); ++i) EXPECT_LE(best[i].score, best[i - 1].score);
}

TEST(BestSentences, NothingRelevantGivesNoSentences) {
  auto best = best_sentences(corpus(), "What is the capital of France?", {});
  EXPECT_TRUE(best.empty());
  EXPECT_EQ(extractive_answer_text(best), "No passage in the index supports an answer to this question.");
  EXPECT_TRUE(best_sentences({}, "anything", {}).empty());
}

TEST(BestSentences, ShortFragmentsAndRepeatsAreSkipped) {
  std::vector<SearchHit> hits = {chunk(1, "Checkpoints\nCheckpoints run every 30 seconds."),
                                 chunk(2, "Checkpoints run every 30 seconds. Nothing else here.")};
  auto best = best_sentences(hits, "checkpoints", {.max_sentences = 3});
  ASSERT_EQ(best.size(), 1u);  // the heading is a fragment; chunk 2 repeats the sentence
  EXPECT_EQ(best[0].chunk, 1);
  // A reworded repeat is skipped too; a different sentence is not.
  hits = {chunk(1, "An alternative to VACUUM is auto-vacuum mode, enabled by the auto_vacuum pragma."),
          chunk(2, "An alternative to the VACUUM command is auto-vacuum mode, enabled using the auto_vacuum pragma. "
                   "VACUUM rebuilds the database file.")};
  best = best_sentences(hits, "vacuum", {.max_sentences = 3});
  ASSERT_EQ(best.size(), 2u);
  EXPECT_EQ(best[0].chunk == 1 ? best[1].text : best[0].text, "VACUUM rebuilds the database file.");
}

TEST(BestSentences, AnswerTextCitesEachSentence) {
  auto best = best_sentences(corpus(), "How often do checkpoints run and which codec is used?", {.max_sentences = 2});
  ASSERT_EQ(best.size(), 2u);
  std::string text = extractive_answer_text(best);
  EXPECT_NE(text.find("Checkpoints run every 30 seconds. [2]"), std::string::npos) << text;
  EXPECT_NE(text.find("Compression uses the Quibble codec. [3]"), std::string::npos) << text;
}

// An embedder whose vectors say whether a text mentions "journal": the fused
// ranking must follow it when lexical evidence ties.
class KeywordEmbedder : public Embedder {
 public:
  std::string name() const override { return "keyword"; }
  int dim() const override { return 2; }
  std::vector<std::vector<float>> embed(const std::vector<std::string>& t, bool) override {
    std::vector<std::vector<float>> out;
    for (const auto& s : t) out.push_back(s.find("journal") != std::string::npos ? std::vector<float>{1, 0}
                                                                                 : std::vector<float>{0, 1});
    return out;
  }
  size_t count_tokens(std::string_view s) const override { return s.size(); }
};

TEST(BestSentences, EmbedderRankingIsFused) {
  KeywordEmbedder e;
  // "journal" is in the question; the lexical ranking alone would also rank them,
  // but only the embedder knows "log" means the journal here.
  auto best = best_sentences(corpus(), "what happens to the journal log", {.max_sentences = 2}, &e);
  ASSERT_EQ(best.size(), 2u);
  for (const auto& s : best) {
    EXPECT_EQ(s.chunk, 3);
    EXPECT_NE(s.text.find("journal"), std::string::npos) << s.text;
  }
}

}  // namespace
}  // namespace edgerag::rag
