#include "rag/prompt.h"

#include <gtest/gtest.h>

#include "format/gguf.h"
#include "rag/chunker.h"
#include "runtime/chat_template.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

// Token counts come from a real tokenizer (stories260K, SentencePiece BPE).
class PromptTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gguf_ = GgufFile::open(test::model_path("stories260K.gguf")).release();
    tok_ = Tokenizer::from_gguf(*gguf_).release();
  }
  static void TearDownTestSuite() {
    delete tok_;
    delete gguf_;
  }
  static size_t count(std::string_view s) { return tok_->encode(s, true, false).size(); }

  PromptEncoder counter = [](const std::vector<PromptPart>& parts) { return tok_->encode_parts(parts, true); };
  ChatRenderer render = [](const std::string& sys, const std::string& user) {
    return std::vector<PromptPart>{{"System: " + sys + "\nUser: " + user + "\nAssistant:"}};
  };
  std::string rendered(const std::string& sys, const std::string& user) const { return prompt_text(render(sys, user)); }

  static SearchHit hit(int64_t id, const std::string& text, const std::string& path = "doc.txt") {
    SearchHit h;
    h.chunk_id = id;
    h.text = text;
    h.provenance.path = "/data/" + path;
    return h;
  }

  static GgufFile* gguf_;
  static Tokenizer* tok_;
};
GgufFile* PromptTest::gguf_ = nullptr;
Tokenizer* PromptTest::tok_ = nullptr;

const std::string kLong =
    "The cat sat on the mat. The dog ran in the park. A bird sang a song. The sun was warm and bright. "
    "Tim and Lily played with a red ball. They laughed all day long.";

TEST_F(PromptTest, EverythingFitsInRankOrder) {
  std::vector<SearchHit> hits = {hit(7, "Lily has a red ball."), hit(3, "Tim likes the park.", "b.md"),
                                 hit(9, "The sun is warm.")};
  auto p = assemble_prompt(hits, "Who has a ball?", "Answer.", {8, 3000}, render, counter);
  ASSERT_EQ(p.chunks.size(), 3u);
  EXPECT_EQ(p.chunks[0].chunk_id, 7);
  EXPECT_EQ(p.chunks[1].chunk_id, 3);
  EXPECT_EQ(p.chunks[2].chunk_id, 9);
  EXPECT_EQ(p.n_dropped, 0);
  EXPECT_EQ(p.n_truncated, 0);
  EXPECT_EQ(p.user_message,
            "Context:\n\n[1] doc.txt\nLily has a red ball.\n\n[2] b.md\nTim likes the park.\n\n"
            "[3] doc.txt\nThe sun is warm.\n\nQuestion: Who has a ball?");
  EXPECT_EQ(p.text, rendered("Answer.", p.user_message));
  EXPECT_EQ(p.n_tokens, static_cast<int>(count(p.text)));
  const int bare = static_cast<int>(count(rendered("Answer.", format_user_message({}, "Who has a ball?"))));
  EXPECT_EQ(p.n_context_tokens, p.n_tokens - bare);
  EXPECT_GT(p.n_context_tokens, 0);
}

TEST_F(PromptTest, MaxChunksDuplicatesAndEmptyTexts) {
  std::vector<SearchHit> hits = {hit(1, "One."), hit(1, "One."), hit(2, ""), hit(3, "Three."), hit(4, "Four."),
                                 hit(5, "Five.")};
  auto p = assemble_prompt(hits, "q?", "s", {2, 3000}, render, counter);
  ASSERT_EQ(p.chunks.size(), 2u);
  EXPECT_EQ(p.chunks[0].chunk_id, 1);
  EXPECT_EQ(p.chunks[1].chunk_id, 3);
  EXPECT_EQ(p.n_dropped, 3);  // chunks 2 (empty), 4 and 5
}

TEST_F(PromptTest, CutsTheFirstChunkThatDoesNotFitAtASentenceBoundary) {
  std::vector<SearchHit> hits = {hit(1, "Lily has a red ball."), hit(2, kLong), hit(3, "Never reached.")};
  const std::string q = "What did Tim do?";
  // Budget: chunk 1 whole plus the first three sentences of chunk 2, exactly.
  auto sentences = split_sentences(kLong);
  ASSERT_EQ(sentences.size(), 6u);
  std::vector<SearchHit> expect = {hits[0], hits[1]};
  expect[1].text = kLong.substr(0, sentences[2].second);
  const int budget = static_cast<int>(count(rendered("s", format_user_message(expect, q))));

  auto p = assemble_prompt(hits, q, "s", {8, budget}, render, counter);
  ASSERT_EQ(p.chunks.size(), 2u);
  EXPECT_EQ(p.chunks[1].text, "The cat sat on the mat. The dog ran in the park. A bird sang a song.");
  EXPECT_EQ(p.n_truncated, 1);
  EXPECT_EQ(p.n_dropped, 1);
  EXPECT_EQ(p.n_tokens, budget);
  // One token less and the third sentence no longer fits.
  p = assemble_prompt(hits, q, "s", {8, budget - 1}, render, counter);
  ASSERT_EQ(p.chunks.size(), 2u);
  EXPECT_EQ(p.chunks[1].text, "The cat sat on the mat. The dog ran in the park.");
  EXPECT_LE(p.n_tokens, budget - 1);
}

TEST_F(PromptTest, ChunkWhoseFirstSentenceDoesNotFitIsDropped) {
  std::vector<SearchHit> hits = {hit(1, "Lily has a red ball."), hit(2, kLong)};
  const int budget = static_cast<int>(count(rendered("s", format_user_message({hits[0]}, "q?")))) + 3;
  auto p = assemble_prompt(hits, "q?", "s", {8, budget}, render, counter);
  ASSERT_EQ(p.chunks.size(), 1u);
  EXPECT_EQ(p.n_truncated, 0);
  EXPECT_EQ(p.n_dropped, 1);
  EXPECT_LE(p.n_tokens, budget);
}

TEST_F(PromptTest, QuestionOverBudgetIsAnError) {
  EXPECT_THROW(assemble_prompt({hit(1, "x")}, kLong, "s", {8, 10}, render, counter), Error);
}

// Chunk KV reuse needs each chunk's tokens in the prompt: found in order, the
// same ids whichever chunks come before; short chunks get no span.
TEST_F(PromptTest, LocatesTheChunksTokenSpans) {
  const std::vector<SearchHit> hits = {hit(1, "Lily has a red ball and she plays with it every day."),
                                       hit(2, "Tim likes the big park near the river."), hit(3, "Hi.")};
  auto p = assemble_prompt(hits, "Who has a ball?", "Answer.", {8, 3000}, render, counter);
  const auto spans = locate_chunks(p.ids, p.chunks, *tok_);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_LT(spans[0].end, spans[1].begin);
  // SentencePiece: the first word's token differs after a newline ("Tim", not " Tim"), so it is left out.
  EXPECT_EQ(tok_->decode({p.ids.begin() + spans[1].begin, p.ids.begin() + spans[1].end}),
            "likes the big park near the river.");
  auto q = assemble_prompt({hits[1], hits[0]}, "Who has a ball?", "Answer.", {8, 3000}, render, counter);
  const auto qs = locate_chunks(q.ids, q.chunks, *tok_);
  ASSERT_EQ(qs.size(), 2u);
  EXPECT_TRUE(std::equal(q.ids.begin() + qs[0].begin, q.ids.begin() + qs[0].end, p.ids.begin() + spans[1].begin,
                         p.ids.begin() + spans[1].end));
}

// With isolate_chunks every chunk's span is exactly its own tokenization (the
// first word's token included), wherever it lands; without, the ids are the
// whole rendered text's (prefix mode's prompt does not change).
TEST_F(PromptTest, IsolatedChunksAreTheirOwnTokenization) {
  const std::vector<SearchHit> hits = {hit(1, "Lily has a red ball and she plays with it every day."),
                                       hit(2, "Tim likes the big park near the river."), hit(3, "Hi.")};
  const auto plain = assemble_prompt(hits, "Who has a ball?", "Answer.", {8, 3000}, render, counter);
  EXPECT_EQ(plain.ids, counter(render("Answer.", format_user_message(plain.chunks, "Who has a ball?"))));
  for (const auto& order : {hits, std::vector<SearchHit>{hits[2], hits[1], hits[0]}}) {
    const auto p = assemble_prompt(order, "Who has a ball?", "Answer.", {8, 3000}, render, counter, true);
    EXPECT_EQ(p.text, prompt_text(render("Answer.", format_user_message(p.chunks, "Who has a ball?"))));
    const auto spans = locate_chunks(p.ids, p.chunks, *tok_);
    ASSERT_EQ(spans.size(), 2u);
    size_t k = 0;
    for (const auto& c : p.chunks) {
      if (c.text == "Hi.") continue;
      EXPECT_EQ(std::vector<int32_t>(p.ids.begin() + spans[k].begin, p.ids.begin() + spans[k].end),
                tok_->encode(c.text, false, false))
          << c.text;
      ++k;
    }
  }
  // A template that does not carry the block as it is: nothing isolated.
  std::vector<PromptPart> parts{{"System: x\nUser: Context", false}};
  isolate_chunk_parts(parts, hits);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_FALSE(parts[0].isolated);
}

TEST(SourceLabel, ShowsPageRowsAndSection) {
  Provenance p;
  p.path = "/docs/manual.pdf";
  p.page = 3;
  p.headings = "Setup > Install";
  EXPECT_EQ(source_label(p), "manual.pdf, p. 3: Setup > Install");
  Provenance t;
  t.path = "/d/table.csv";
  t.row_begin = 10;
  t.row_end = 20;
  t.title = "Prices";
  EXPECT_EQ(source_label(t), "table.csv, rows 10-20: Prices");
}

}  // namespace
}  // namespace edgerag::rag
