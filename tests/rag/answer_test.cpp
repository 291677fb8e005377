// End to end: a generated corpus is ingested into a temporary index, then
// answered extractively and with stories260K as the LLM (its answers are
// nonsense; the pipeline, budgets, citation bookkeeping and timings are what
// is checked).
#include "rag/answer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "format/gguf.h"
#include "model/hparams.h"
#include "tokenizer/tokenizer.h"
#include "rag/index.h"
#include "runtime/chunk_kv_store.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

class AnswerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    auto idx = Index::open(*dir_ / "idx", {.writable = true});
    IngestOptions opt;
    opt.chunk.max_tokens = 40;  // several chunks per document
    opt.chunk.min_tokens = 8;
    std::vector<TextDocument> docs = {
        {"ops.txt", "Operations",
         "The Zorblax engine stores pages in a ring buffer. Each page holds 4096 bytes. Pages are written by a "
         "single writer thread. Checkpoints run every 30 seconds. A checkpoint copies dirty pages back to the main "
         "file. Readers never block writers during a checkpoint."},
        {"journal.txt", "Journal",
         "The journal is deleted after every commit in rollback mode. In write-ahead mode the journal is kept and "
         "reused. Compression uses the Quibble codec. The codec was chosen for its speed on small pages."},
        {"story.txt", "A story",
         "Lily and Tim went to the park. They played with a red ball and laughed all day. The sun was warm. "
         "At night they slept in a small house by the sea."},
    };
    auto rep = idx->ingest_texts(docs, opt);
    ASSERT_EQ(rep.failed, 0u);
    ASSERT_GE(rep.chunks_written, 3u);
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::string index_dir() { return *dir_ / "idx"; }
  static test::TempDir* dir_;
};
test::TempDir* AnswerTest::dir_ = nullptr;

TEST_F(AnswerTest, ExtractiveAnswerCitesTheRightChunk) {
  auto engine = AnswerEngine::open({.index_dir = index_dir()});
  EXPECT_FALSE(engine->has_llm());
  EXPECT_FALSE(engine->has_embedder());
  AnswerConfig cfg;
  cfg.extract_sentences = 1;
  Answer a = engine->answer("How often do checkpoints run?", cfg);
  EXPECT_EQ(a.mode, "extractive");
  // The best-ranked chunk is supplied as [1] and holds the answer sentence.
  ASSERT_EQ(a.citations.size(), 1u);
  const Citation& c = a.citations[0];
  EXPECT_EQ(a.text, "Checkpoints run every 30 seconds. [1]");
  EXPECT_EQ(c.n, 1);
  EXPECT_EQ(c.chunk.chunk_id, a.context.at(0).chunk_id);
  EXPECT_EQ(c.chunk.provenance.path, "ops.txt");
  EXPECT_NE(c.chunk.text.find("Checkpoints run every 30 seconds."), std::string::npos);
  EXPECT_EQ(a.removed_citations, 0);
  EXPECT_GT(a.timings.search, 0.0);
  EXPECT_GT(a.timings.extract, 0.0);
  EXPECT_EQ(a.timings.prefill, 0.0);
  EXPECT_GE(a.timings.total, a.timings.search + a.timings.extract);

  a = engine->answer("Which codec does compression use?", cfg);
  ASSERT_EQ(a.citations.size(), 1u);
  EXPECT_EQ(a.citations[0].chunk.provenance.path, "journal.txt");
  EXPECT_NE(a.text.find("Compression uses the Quibble codec."), std::string::npos) << a.text;
}

TEST_F(AnswerTest, EmbedderOnAnIndexWithoutVectorsFallsBackToBm25) {
  auto engine = AnswerEngine::open({.index_dir = index_dir(), .embed = test::model_path("synth-bert-embed.gguf")});
  EXPECT_TRUE(engine->has_embedder());
  Answer a = engine->answer("How often do checkpoints run?", AnswerConfig{});
  EXPECT_EQ(a.mode, "extractive");
  EXPECT_EQ(a.timings.embed, 0.0);  // no query embedding for retrieval
  EXPECT_GT(a.timings.extract, 0.0);
  // BM25 ranks the two checkpoint chunks of ops.txt first; three extracted
  // sentences, each marked with the number of the chunk it came from.
  EXPECT_EQ(a.text,
            "Checkpoints run every 30 seconds. [1] Readers never block writers during a checkpoint. [2] "
            "A checkpoint copies dirty pages back to the main file. [1]");
  ASSERT_EQ(a.context.size(), 2u);
  ASSERT_EQ(a.citations.size(), 2u);
  EXPECT_EQ(a.citations[0].n, 1);
  EXPECT_EQ(a.citations[0].chunk.chunk_id, a.context[0].chunk_id);
  EXPECT_NE(a.citations[0].chunk.text.find("Checkpoints run every 30 seconds."), std::string::npos);
  EXPECT_EQ(a.citations[1].n, 2);
  EXPECT_EQ(a.citations[1].chunk.chunk_id, a.context[1].chunk_id);
  EXPECT_NE(a.citations[1].chunk.text.find("Readers never block writers"), std::string::npos);
  EXPECT_EQ(a.removed_citations, 0);
}

TEST(AnswerHybrid, IndexWithVectorsIsSearchedDenseAndLexicalWithReranking) {
  test::TempDir dir;
  const std::string embed = test::model_path("synth-bert-embed.gguf");
  {
    auto idx = Index::open(dir / "idx", {.writable = true});
    idx->set_embedder(load_embedder(embed));
    auto rep = idx->ingest_texts({{"a.txt", "A", "Checkpoints run every 30 seconds. Pages hold 4096 bytes."},
                                  {"b.txt", "B", "The journal is kept in write-ahead mode."}},
                                 IngestOptions{});
    ASSERT_EQ(rep.failed, 0u);
  }
  // The embedder recorded in the index is loaded without being named.
  auto engine = AnswerEngine::open({.index_dir = dir / "idx", .rerank = test::model_path("synth-bert-rerank.gguf")});
  EXPECT_TRUE(engine->has_embedder());
  EXPECT_TRUE(engine->has_reranker());
  AnswerConfig cfg;
  cfg.rerank = RerankMode::On;
  Answer a = engine->answer("How often do checkpoints run?", cfg);
  EXPECT_GT(a.timings.embed, 0.0);
  EXPECT_TRUE(a.reranked);
  EXPECT_GT(a.timings.rerank, 0.0);
  ASSERT_EQ(a.context.size(), 2u);
  // The reranked context: a.txt (the answer) as [1], b.txt as [2].
  EXPECT_EQ(a.text, "Checkpoints run every 30 seconds. [1] The journal is kept in write-ahead mode. [2] "
                    "Pages hold 4096 bytes. [1]");
  ASSERT_EQ(a.citations.size(), 2u);
  EXPECT_EQ(a.citations[0].n, 1);
  EXPECT_EQ(a.citations[0].chunk.provenance.path, "a.txt");
  EXPECT_EQ(a.citations[1].n, 2);
  EXPECT_EQ(a.citations[1].chunk.provenance.path, "b.txt");
  EXPECT_EQ(a.removed_citations, 0);
  cfg.rerank = RerankMode::Off;
  cfg.hybrid = false;
  a = engine->answer("How often do checkpoints run?", cfg);
  EXPECT_FALSE(a.reranked);
  EXPECT_EQ(a.timings.embed, 0.0);
  EXPECT_EQ(a.timings.rerank, 0.0);
}

TEST_F(AnswerTest, JsonHasTheDocumentedFields) {
  auto engine = AnswerEngine::open({.index_dir = index_dir()});
  Answer a = engine->answer("How often do checkpoints run?", AnswerConfig{});
  nlohmann::json j = to_json(a);
  EXPECT_EQ(j["answer"], a.text);
  EXPECT_EQ(j["mode"], "extractive");
  EXPECT_EQ(j["removed_citations"], 0);
  ASSERT_FALSE(j["citations"].empty());
  for (const char* k : {"n", "chunk_id", "file", "page", "rows", "headings", "byte_start", "byte_end", "text"})
    EXPECT_TRUE(j["citations"][0].contains(k)) << k;
  EXPECT_TRUE(j["citations"][0]["page"].is_null());
  for (const char* k : {"embed", "search", "rerank", "prompt", "prefill", "decode", "extract", "total"})
    EXPECT_TRUE(j["timings_ms"].contains(k)) << k;
  for (const char* k : {"prompt", "context", "answer"}) EXPECT_TRUE(j["tokens"].contains(k)) << k;
}

TEST_F(AnswerTest, GenerativeWithStories260K) {
  const std::string llm = test::model_path("stories260K.gguf");
  auto engine = AnswerEngine::open({.index_dir = index_dir(), .llm = llm, .n_threads = 1});
  ASSERT_TRUE(engine->has_llm());
  AnswerConfig cfg;
  cfg.max_answer_tokens = 24;
  std::string streamed;
  Answer a = engine->answer("How often do checkpoints run?", cfg, [&](std::string_view piece) {
    streamed += piece;
    return true;
  });
  EXPECT_EQ(a.mode, "generative");
  EXPECT_FALSE(a.context.empty());
  EXPECT_LE(a.context.size(), 8u);
  // The checkpoint chunk was retrieved first and supplied as [1].
  EXPECT_EQ(a.context[0].provenance.path, "ops.txt");
  EXPECT_GT(a.tokens.prompt, a.tokens.context);
  EXPECT_GT(a.tokens.context, 0);
  EXPECT_GE(a.tokens.answer, 1);
  EXPECT_LE(a.tokens.answer, cfg.max_answer_tokens);
  // Greedy stories260K does not end a story within 24 tokens.
  EXPECT_EQ(a.stop_reason, "length");
  EXPECT_GT(a.timings.prompt, 0.0);
  EXPECT_GT(a.timings.prefill, 0.0);
  EXPECT_GT(a.timings.decode, 0.0);
  EXPECT_GE(a.timings.total, a.timings.search + a.timings.prompt + a.timings.prefill + a.timings.decode);
  // A story model writes no [n] markers: nothing cited, nothing removed, and the
  // final text is the streamed text (leading space trimmed).
  EXPECT_TRUE(a.citations.empty());
  EXPECT_EQ(a.removed_citations, 0);
  EXPECT_EQ(streamed.substr(streamed.find_first_not_of(' ')), a.text);
}

// Speculation changes how tokens are verified, not which: a greedy answer with
// prompt lookup is the answer without it, and the drafts are counted. A local
// model answers through one scheduler and one KV pool whatever the options:
// with exact chunk KV reuse too the answer stays the same, and a second engine
// on the same chunk store (a later `ask --kv-store DIR`) takes the chunks' KV from it.
// (stories260K has F32 weights, whose logits move by a few ULP with the batch's
// shape; with an F32 KV cache this question's answers stay equal, with F16 they need not.)
TEST_F(AnswerTest, GreedyLookupSpeculationGivesTheSameAnswer) {
  const std::string llm = test::model_path("stories260K.gguf");
  AnswerConfig cfg;
  cfg.max_answer_tokens = 24;
  cfg.temperature = 0.0f;
  const std::string q = "How often do checkpoints run?";
  AnswerModels m{.index_dir = index_dir(), .llm = llm, .n_threads = 1, .kv_type = DType::F32};
  Answer plain = AnswerEngine::open(m)->answer(q, cfg);
  m.spec = parse_speculative("lookup", 4);
  Answer spec = AnswerEngine::open(m)->answer(q, cfg);
  EXPECT_EQ(spec.text, plain.text);
  EXPECT_EQ(spec.tokens.answer, plain.tokens.answer);
  EXPECT_EQ(spec.stop_reason, plain.stop_reason);
  EXPECT_EQ(plain.tokens.drafted, 0);
  EXPECT_GT(spec.tokens.drafted, 0);
  EXPECT_LE(spec.tokens.accepted, spec.tokens.drafted);
  const auto j = to_json(spec);
  EXPECT_EQ(j["tokens"]["drafted"], spec.tokens.drafted);
  EXPECT_DOUBLE_EQ(j["tokens"]["acceptance_rate"].get<double>(),
                   double(spec.tokens.accepted) / spec.tokens.drafted);

  m.kv_store = std::make_shared<ChunkKvStore>(ChunkKvStoreOptions{});
  cfg.kv_reuse.mode = KvReuse::ChunksExact;
  const Answer first = AnswerEngine::open(m)->answer(q, cfg);
  const Answer again = AnswerEngine::open(m)->answer(q, cfg);
  for (const Answer* a : {&first, &again}) {
    EXPECT_EQ(a->text, plain.text);
    EXPECT_EQ(a->tokens.answer, plain.tokens.answer);
    EXPECT_GT(a->tokens.drafted, 0);
  }
  EXPECT_GT(first.kv_reuse.chunk_misses, 0);
  EXPECT_EQ(first.kv_reuse.chunk_hits, 0);
  EXPECT_EQ(again.kv_reuse.chunk_hits, first.kv_reuse.chunk_misses);
  EXPECT_GT(again.kv_reuse.reused_tokens, 0);
}

// Citation bookkeeping of a generated answer, with a hand-written generation:
// markers are kept as written when they name supplied chunks, removed otherwise,
// and each cited number maps to the chunk supplied under it, in order of first mention.
TEST_F(AnswerTest, GeneratedMarkersMapToTheSuppliedChunks) {
  const std::string llm = test::model_path("stories260K.gguf");
  auto engine = AnswerEngine::open({.index_dir = index_dir(), .llm = llm, .n_threads = 1});
  auto tok = Tokenizer::from_gguf(*GgufFile::open(llm));
  const PromptTarget target = PromptTarget::of(*tok, ChatFormat::Plain, 512);
  AnswerConfig cfg;
  cfg.max_answer_tokens = 16;  // leaves room in stories260K's 512-token context for two chunks
  PreparedAnswer p = engine->prepare("How often do checkpoints run?", cfg, &target);
  ASSERT_TRUE(p.generative());
  ASSERT_GE(p.answer.context.size(), 2u);
  const int64_t first = p.answer.context[0].chunk_id, second = p.answer.context[1].chunk_id;
  GeneratedText g;
  g.text = "Every 30 seconds [2]. Readers never block [1, 2]. Pages [9] hold 4096 bytes [2-1].";
  g.stop_reason = "eog";
  g.n_answer = 20;
  const Answer a = finish_answer(std::move(p), g);
  EXPECT_EQ(a.stop_reason, "eog");
  ASSERT_EQ(a.citations.size(), 2u);
  EXPECT_EQ(a.citations[0].n, 2);
  EXPECT_EQ(a.citations[0].chunk.chunk_id, second);
  EXPECT_EQ(a.citations[1].n, 1);
  EXPECT_EQ(a.citations[1].chunk.chunk_id, first);
  // [9] names no supplied chunk and [2-1] is a reversed range: both go, with the space before them.
  EXPECT_EQ(a.removed_citations, 2);
  EXPECT_EQ(a.text, "Every 30 seconds [2]. Readers never block [1, 2]. Pages hold 4096 bytes.");
}

TEST_F(AnswerTest, PromptBudgetIsRespected) {
  const std::string llm = test::model_path("stories260K.gguf");
  auto engine = AnswerEngine::open({.index_dir = index_dir(), .llm = llm, .n_threads = 1});
  AnswerConfig cfg;
  cfg.max_answer_tokens = 4;
  Answer wide = engine->answer("What did Lily and Tim play with?", cfg);
  cfg.max_prompt_tokens = wide.tokens.prompt - 1;  // one token less than everything needed
  Answer tight = engine->answer("What did Lily and Tim play with?", cfg);
  EXPECT_LE(tight.tokens.prompt, cfg.max_prompt_tokens);
  EXPECT_LT(tight.tokens.context, wide.tokens.context);
  cfg.max_chunks = 1;
  cfg.max_prompt_tokens = 3000;
  Answer one = engine->answer("What did Lily and Tim play with?", cfg);
  EXPECT_EQ(one.context.size(), 1u);
  EXPECT_EQ(one.context[0].chunk_id, wide.context[0].chunk_id);
  // The context window bounds the budget too: prompt + answer must fit.
  auto f = GgufFile::open(llm);
  cfg.max_answer_tokens = read_hparams(*f).n_ctx_train;
  EXPECT_THROW(engine->answer("What did Lily and Tim play with?", cfg), Error);
}

TEST_F(AnswerTest, QueryBoundsAndDeadline) {
  auto engine = AnswerEngine::open({.index_dir = index_dir()});
  auto gguf = GgufFile::open(test::model_path("stories260K.gguf"));
  auto tok = Tokenizer::from_gguf(*gguf);
  const PromptTarget target = PromptTarget::of(*tok, ChatFormat::Plain, 2048);
  const std::string q = "How often do checkpoints run?";
  const size_t q_tokens = tok->encode(q, true, false).size();
  // Bytes, then tokens (with BOS), both before retrieval.
  EXPECT_THROW(engine->prepare(q, {}, &target, {.max_question_bytes = q.size() - 1}), Error);
  EXPECT_THROW(engine->prepare(q, {}, &target, {.max_question_tokens = static_cast<int>(q_tokens) - 1}), Error);
  EXPECT_TRUE(engine->prepare(q, {}, &target, {.max_question_tokens = static_cast<int>(q_tokens)}).generative());
  // A deadline already past stops the search.
  const auto past = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  EXPECT_THROW(engine->prepare(q, {}, &target, {.deadline = past}), DeadlineExceeded);
  EXPECT_THROW(engine->prepare(q, {}, nullptr, {.deadline = past}), DeadlineExceeded);
}

TEST_F(AnswerTest, BadInputsAreErrors) {
  EXPECT_THROW(AnswerEngine::open({.index_dir = *dir_ / "no-such-index"}), Error);
  EXPECT_THROW(AnswerEngine::open({.index_dir = index_dir(), .llm = *dir_ / "missing.gguf"}), Error);
  auto engine = AnswerEngine::open({.index_dir = index_dir()});
  EXPECT_THROW(engine->answer("  \n", AnswerConfig{}), Error);
  AnswerConfig bad;
  bad.max_chunks = 0;
  EXPECT_THROW(engine->answer("checkpoints", bad), Error);
}

}  // namespace
}  // namespace edgerag::rag
